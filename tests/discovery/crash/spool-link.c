/* SPDX-License-Identifier: MIT */
/* spool-link: delivers N messages the maildir way: message I is written to spool/msg-I,
 * fsynced, hard-linked into out/msg-I (another directory) and unlinked from spool/, and
 * "saved I" is printed once delivery I returned. Usage: spool-link N [--fixed]
 * BUG: out/ is never fsynced after the link: the new name may not be durable when "saved I"
 * is printed, and a power loss loses an acknowledged message.
 * FIXED (--fixed): fsync out/ after each link (and the top directory once spool/ and out/
 * are made). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fixed;

static int sync_dir(const char *path)
{
    if (!fixed)
        return 0;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int deliver(long i)
{
    char spool[64], out[64], body[64];
    snprintf(spool, sizeof(spool), "spool/msg-%ld", i);
    snprintf(out, sizeof(out), "out/msg-%ld", i);
    int len = snprintf(body, sizeof(body), "message %ld\n", i);
    int fd = open(spool, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, body, (size_t)len) != len || fsync(fd) < 0) {
        close(fd);
        return -1;
    }
    if (close(fd) < 0 || link(spool, out) < 0 || sync_dir("out") < 0 || unlink(spool) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--fixed"))) {
        fprintf(stderr, "usage: %s N [--fixed]\n", argv[0]);
        return 2;
    }
    fixed = argc == 3;
    if ((mkdir("spool", 0755) < 0 && errno != EEXIST) ||
        (mkdir("out", 0755) < 0 && errno != EEXIST) || sync_dir(".") < 0) {
        perror("mkdir");
        return 1;
    }
    long n = strtol(argv[1], NULL, 10);
    for (long i = 1; i <= n; i++) {
        if (deliver(i) < 0) {
            perror("deliver");
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
