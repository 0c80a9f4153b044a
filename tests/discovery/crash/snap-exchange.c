/* SPDX-License-Identifier: MIT */
/* snap-exchange: saves a counter N times as a snapshot directory snap/ holding two files, a
 * and b, each {"count": I}. Each save builds snap.new/ beside it, swaps the two directories in
 * one step (renameat2 RENAME_EXCHANGE) and removes the old one, printing "saved I" once save I
 * returned. Usage: snap-exchange N [--fixed]
 * BUG: nothing is fsynced: not the new files, not snap.new/, not the parent after the swap; a
 * power loss can leave snap/ with empty files, or bring back the previous snapshot.
 * FIXED (--fixed): fsync a and b, then snap.new/, swap, then fsync the parent directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fixed;

static int sync_path(const char *path, int flags)
{
    if (!fixed)
        return 0;
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int put(const char *path, long count)
{
    char buf[64];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", count);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, buf, (size_t)len) != len || (fixed && fsync(fd) < 0)) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int save(long count)
{
    if (mkdir("snap.new", 0755) < 0 && errno != EEXIST)
        return -1;
    if (put("snap.new/a", count) < 0 || put("snap.new/b", count) < 0 ||
        sync_path("snap.new", O_RDONLY | O_DIRECTORY) < 0)
        return -1;
    if (renameat2(AT_FDCWD, "snap.new", AT_FDCWD, "snap", RENAME_EXCHANGE) < 0 ||
        sync_path(".", O_RDONLY | O_DIRECTORY) < 0)
        return -1;
    /* the old snapshot is now snap.new */
    if (unlink("snap.new/a") < 0 || unlink("snap.new/b") < 0 || rmdir("snap.new") < 0)
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
    long n = strtol(argv[1], NULL, 10);
    for (long i = 1; i <= n; i++) {
        if (save(i) < 0) {
            perror("snap");
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
