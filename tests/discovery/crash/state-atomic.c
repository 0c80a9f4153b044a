/* SPDX-License-Identifier: MIT */
/* state-atomic: saves a counter N times into state.json ({"count": I}) through a temporary
 * file, printing "saved I" once save I returned. The state file is named relative to the
 * working directory. Usage: state-atomic STATE_FILE N
 * FIXED: write the temporary file, fsync it, rename it over the state, fsync the directory:
 * every crash state holds a whole count, at least the last one acknowledged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int save(const char *path, long count)
{
    char buf[64], tmp[4096];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", count);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, buf, (size_t)len) < 0 || fsync(fd) < 0) {
        close(fd);
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        return -1;
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return -1;
    int r = fsync(dfd);
    close(dfd);
    if (r < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    for (long i = 1; i <= n; i++) {
        if (save(argv[1], i) < 0) {
            perror(argv[1]);
            return 1;
        }
        printf("saved %ld\n", i);
        fflush(stdout);
    }
    return 0;
}
