/* SPDX-License-Identifier: MIT */
/* log-fsync: appends N records ("record I\n") to an existing log, printing "ack I" once
 * record I was appended. Usage: log-fsync LOG N
 * FIXED: each record is fsynced before it is acknowledged: every crash state holds every
 * record acknowledged (and maybe a part of the next one). */
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s LOG N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    int fd = open(argv[1], O_WRONLY | O_APPEND);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    for (long i = 1; i <= n; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof(buf), "record %ld\n", i);
        if (write_all(fd, buf, (size_t)len) < 0 || fsync(fd) < 0) {
            perror(argv[1]);
            return 1;
        }
        printf("ack %ld\n", i);
        fflush(stdout);
    }
    return close(fd) < 0;
}
