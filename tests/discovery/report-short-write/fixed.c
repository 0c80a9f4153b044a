/* SPDX-License-Identifier: MIT */
/* report: writes a table of N squares ("i i*i" per line) to OUT_FILE in one buffer and prints
 * "wrote N lines" once it is written. Usage: report OUT_FILE N
 * FIXED: write_out() loops until the whole buffer is written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_out(int fd, const char *buf, size_t len)
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

int main(int argc, char **argv)
{
    static char buf[1 << 16];
    size_t len = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: report OUT_FILE N\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (n < 1 || n > 1000) {
        fprintf(stderr, "report: N must be 1..1000\n");
        return 2;
    }
    for (long i = 1; i <= n; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%ld %ld\n", i, i * i);

    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "report: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (write_out(fd, buf, len) < 0 || close(fd) < 0) {
        fprintf(stderr, "report: writing %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("wrote %ld lines\n", n);
    return 0;
}
