/* SPDX-License-Identifier: MIT */
/* raw-syscall: saves the count COUNT into state.json ({"count": COUNT}) like state-inplace,
 * but writes the bytes with syscall(SYS_write, ...), which no preloaded wrapper sees.
 * Usage: raw-syscall STATE_FILE COUNT
 * For faultline crash's tests: the recorder misses the write, the replay of its log differs
 * from what the run left, and the run must be refused (exit 3), never judged. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s STATE_FILE COUNT\n", argv[0]);
        return 2;
    }
    char buf[64];
    int len = snprintf(buf, sizeof(buf), "{\"count\": %ld}\n", strtol(argv[2], NULL, 10));
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || syscall(SYS_write, fd, buf, (size_t)len) != len || fsync(fd) < 0) {
        perror(argv[1]);
        return 1;
    }
    close(fd);
    printf("saved %ld\n", strtol(argv[2], NULL, 10));
    return 0;
}
