/* SPDX-License-Identifier: MIT */
/*
 * preload-loop.c - a tight loop over one libc call, for bench/preload.
 *
 *   preload-loop pread|write|malloc ITERATIONS
 *
 * Times ITERATIONS calls with clock_gettime(CLOCK_MONOTONIC) and prints the loop's name and
 * the nanoseconds per call, e.g. "pread 73.4".
 *
 *   pread   pread(fd, buf, 64, 0) on a small temporary file made here ($TMPDIR or /tmp),
 *           removed at exit. The file is in the page cache: this is the syscall plus libc.
 *   write   write(fd, buf, 64) on a file descriptor opened on /dev/null.
 *   malloc  p = malloc(64); sink = p; free(p); one malloc/free pair counts as one call.
 *           The pointer goes through a volatile sink so the pair cannot be dropped.
 *
 * The program links nothing of faultline's: it is run as is, under the preload, and under
 * libfiu's fiu-run. It is built with -fno-builtin so the compiler calls the real functions
 * (no malloc/free elision). Before timing, a warm-up runs the call a few thousand times so
 * that lazy binding, a preload's symbol lookup and its per-fd cache are out of the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64
#define WARMUP 5000

static void *volatile sink;
static volatile ssize_t rsink;
static char tmp_path[4096];

static void cleanup(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

static int die(const char *what)
{
    fprintf(stderr, "preload-loop: %s: %s\n", what, strerror(errno));
    return 1;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int open_tmp(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(tmp_path, sizeof tmp_path, "%s/preload-loop.XXXXXX", dir);
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        tmp_path[0] = '\0';
        return -1;
    }
    atexit(cleanup);
    char block[4096];
    memset(block, 'x', sizeof block);
    if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
        return -1;
    return fd;
}

static void loop_pread(int fd, long n)
{
    char buf[PAYLOAD];
    for (long i = 0; i < n; i++)
        rsink = pread(fd, buf, sizeof buf, 0);
}

static void loop_write(int fd, long n)
{
    static const char buf[PAYLOAD];
    for (long i = 0; i < n; i++)
        rsink = write(fd, buf, sizeof buf);
}

static void loop_malloc(long n)
{
    for (long i = 0; i < n; i++) {
        void *p = malloc(PAYLOAD);
        sink = p;
        free(p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: preload-loop pread|write|malloc ITERATIONS\n");
        return 2;
    }
    char *end;
    errno = 0;
    long n = strtol(argv[2], &end, 10);
    if (errno || *end || n <= 0) {
        fprintf(stderr, "preload-loop: bad ITERATIONS: %s\n", argv[2]);
        return 2;
    }

    enum { PREAD, WRITE, MALLOC } which;
    int fd = -1;
    if (strcmp(argv[1], "pread") == 0) {
        which = PREAD;
        if ((fd = open_tmp()) < 0)
            return die("temporary file");
        char probe[PAYLOAD];
        if (pread(fd, probe, sizeof probe, 0) != PAYLOAD)
            return die("pread");
    } else if (strcmp(argv[1], "write") == 0) {
        which = WRITE;
        if ((fd = open("/dev/null", O_WRONLY)) < 0)
            return die("/dev/null");
    } else if (strcmp(argv[1], "malloc") == 0) {
        which = MALLOC;
    } else {
        fprintf(stderr, "preload-loop: unknown loop %s (pread, write or malloc)\n", argv[1]);
        return 2;
    }

    double t0 = 0, t1 = 0;
    switch (which) {
    case PREAD:
        loop_pread(fd, WARMUP);
        t0 = now_ns();
        loop_pread(fd, n);
        t1 = now_ns();
        break;
    case WRITE:
        loop_write(fd, WARMUP);
        t0 = now_ns();
        loop_write(fd, n);
        t1 = now_ns();
        break;
    case MALLOC:
        loop_malloc(WARMUP);
        t0 = now_ns();
        loop_malloc(n);
        t1 = now_ns();
        break;
    }
    if (fd >= 0)
        close(fd);
    printf("%s %.2f\n", argv[1], (t1 - t0) / (double)n);
    return 0;
}
