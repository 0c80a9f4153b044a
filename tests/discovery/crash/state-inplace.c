/* SPDX-License-Identifier: MIT */
/* state-inplace: saves a counter N times into state.json ({"count": I}), printing "saved I"
 * once save I returned. Usage: state-inplace STATE_FILE N
 * BUG: the state is rewritten in place (open O_TRUNC, write, fsync): a power loss between the
 * truncate and the fsync leaves it empty or holding neither the old count nor the new one. */
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
    char buf[64];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", count);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, buf, (size_t)len) < 0 || fsync(fd) < 0) {
        close(fd);
        return -1;
    }
    return close(fd);
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
