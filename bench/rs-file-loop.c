/* SPDX-License-Identifier: MIT */
/* rs-file-loop MODE N FILE: N saves of 4 KiB into FILE, by MODE: "plain" (open O_TRUNC,
 * write, close: what most code does), "plain-fsync" (the same plus an fsync: durable data,
 * still torn by a crash mid-write) or "replace" (rs_file_replace with a backup: never torn).
 * Prints the mean microseconds per save. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <resilience/file.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    long n = strtol(argv[2], NULL, 10);
    char buf[4096];
    memset(buf, 'x', sizeof(buf));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        buf[0] = (char)('a' + i % 26);
        if (!strcmp(argv[1], "replace")) {
            struct rs_err err;
            if (rs_file_replace(argv[3], buf, sizeof(buf), 0, RS_FILE_KEEP_BACKUP, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        } else {
            int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
                (!strcmp(argv[1], "plain-fsync") && fsync(fd) < 0) || close(fd) < 0)
                return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3;
    printf("%.1f\n", us / (double)n);
    return 0;
}
