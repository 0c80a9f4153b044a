/* SPDX-License-Identifier: MIT */
/*
 * crash-state.c - what building one crash state costs (`faultline crash`'s inner loop, minus
 * the user's check). Run by bench/crash_state.sh; see bench/README.md.
 *
 *   crash-state DIR [ROUNDS]
 *
 * In a scratch directory under DIR it makes a 1 MiB trial directory of four files (a 512 KiB
 * "database", a 256 KiB log, a 192 KiB state file, a 64 KiB config), then a log of what a
 * typical program does to it: page overwrites of the database with an fsync, appends to the
 * log, the state file replaced through a temp file and a rename, and an acknowledgement on
 * stdout. At the last cut it enumerates the states (posix) and materialises every one of them
 * ROUNDS times into a fresh directory, timing the materialisation alone, then the removal of
 * the state directory, then the symbolic part alone (fl_crashfs_digest builds the same tree
 * without writing it). It prints the minimum and the median in ms per state.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crashfs.h"
#include "crashlog.h"
#include "err.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
    fprintf(stderr, "crash-state: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void put_file(const char *dir, const char *name, size_t size, unsigned char fill)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die(path);
    unsigned char buf[4096];
    for (size_t off = 0; off < size; off += sizeof(buf)) {
        memset(buf, fill + (unsigned char)(off / 4096), sizeof(buf));
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            die(path);
    }
    close(fd);
}

struct logbuf {
    unsigned char *p;
    size_t len, cap;
};

static void emit(struct logbuf *b, struct fl_crash_event *ev)
{
    size_t need = fl_crashlog_record_size(ev);
    if (!need) {
        fprintf(stderr, "crash-state: bad event: %s\n", fl_crashlog_event_problem(ev));
        exit(1);
    }
    if (b->len + need > b->cap) {
        b->cap = (b->len + need) * 2;
        if (!(b->p = realloc(b->p, b->cap)))
            die("realloc");
    }
    b->len += fl_crashlog_format(b->p + b->len, b->cap - b->len, ev);
}

static struct fl_crash_event on(uint16_t op, const char *path)
{
    return (struct fl_crash_event){.op = op, .pid = 1, .path = path,
                                   .path_len = (uint32_t)strlen(path)};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    printf("  %-28s min %.3f  median %.3f ms/state  (%zu samples)\n", what, v[0], v[n / 2], n);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: crash-state DIR [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 50;
    if (rounds < 1)
        rounds = 1;
    char root[512], snap[600], out[600];
    snprintf(root, sizeof(root), "%s/crash-state-XXXXXX", argv[1]);
    if (!mkdtemp(root))
        die(root);
    snprintf(snap, sizeof(snap), "%s/snap", root);
    if (mkdir(snap, 0755) < 0)
        die(snap);
    put_file(snap, "db", 512 << 10, 'a');
    put_file(snap, "log", 256 << 10, 'l');
    put_file(snap, "state.json", 192 << 10, 's');
    put_file(snap, "config", 64 << 10, 'c');

    static unsigned char page[192 << 10];
    memset(page, 'N', sizeof(page));
    struct logbuf b = {0};
    unsigned char hdr[FL_CRASHLOG_HEADER_SIZE];
    fl_crashlog_format_header(hdr, sizeof(hdr));
    b.cap = 1 << 20;
    b.p = malloc(b.cap);
    memcpy(b.p, hdr, sizeof(hdr));
    b.len = sizeof(hdr);
    struct fl_crash_event ev = on(FL_CRASH_OPEN, "db");
    emit(&b, &ev);
    for (int i = 0; i < 8; i++) {
        ev = on(FL_CRASH_WRITE, "db");
        ev.offset = (uint64_t)i * 64 * 1024;
        ev.length = 4096;
        ev.data = page;
        emit(&b, &ev);
    }
    ev = on(FL_CRASH_FDATASYNC, "db");
    emit(&b, &ev);
    ev = on(FL_CRASH_OPEN, "log");
    emit(&b, &ev);
    for (int i = 0; i < 16; i++) {
        ev = on(FL_CRASH_WRITE, "log");
        ev.offset = (256u << 10) + (uint64_t)i * 4096;
        ev.length = 4096;
        ev.data = page;
        emit(&b, &ev);
        if (i % 4 == 3) {
            ev = on(FL_CRASH_FSYNC, "log");
            emit(&b, &ev);
        }
    }
    ev = on(FL_CRASH_OPEN, "state.json.tmp");
    ev.flags = FL_CRASH_OPEN_CREATED;
    ev.arg = 0644;
    emit(&b, &ev);
    ev = on(FL_CRASH_WRITE, "state.json.tmp");
    ev.length = sizeof(page);
    ev.data = page;
    emit(&b, &ev);
    ev = on(FL_CRASH_RENAME, "state.json.tmp");
    ev.path2 = "state.json";
    ev.path2_len = 10;
    emit(&b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_MARK, .length = 8};
    emit(&b, &ev);

    struct fl_crashlog log;
    struct fl_crashfs *fs;
    struct fl_err err = {{0}};
    if (fl_crashlog_from_buffer(&log, b.p, b.len, &err) < 0 ||
        fl_crashfs_open(&fs, snap, &log, FL_CRASH_MODEL_POSIX, NULL, &err) < 0) {
        fprintf(stderr, "crash-state: %s\n", err.msg);
        return 1;
    }
    struct fl_crash_states *set;
    size_t cut = fl_crashfs_event_count(fs);
    if (fl_crashfs_states(fs, cut, &set, &err) < 0) {
        fprintf(stderr, "crash-state: %s\n", err.msg);
        return 1;
    }
    size_t nstates = fl_crash_states_count(set), n = nstates * (size_t)rounds, k = 0;
    double *build = calloc(n, sizeof(double)), *rm = calloc(n, sizeof(double)),
           *symbolic = calloc(n, sizeof(double));
    unsigned seq = 0;
    /* one untimed round first: the page cache and the allocator warm up */
    for (int r = -1; r < rounds; r++)
        for (size_t i = 0; i < nstates; i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            snprintf(out, sizeof(out), "%s/s%u", root, seq++);
            if (mkdir(out, 0700) < 0)
                die(out);
            double t0 = now_ms();
            if (fl_crashfs_materialize(fs, st, out, &err) < 0) {
                fprintf(stderr, "crash-state: %s\n", err.msg);
                return 1;
            }
            double t1 = now_ms();
            rmtree(out);
            double t2 = now_ms();
            uint64_t d;
            fl_crashfs_digest(fs, st, &d);
            double t3 = now_ms();
            if (r >= 0) {
                build[k] = t1 - t0;
                rm[k] = t2 - t1;
                symbolic[k++] = t3 - t2;
            }
        }
    printf("crash-state: %s, 1 MiB trial directory (4 files), %zu events, %zu states at the "
           "last cut, %d rounds\n", argv[1], cut, nstates, rounds);
    report("materialise", build, k);
    report("remove the state directory", rm, k);
    report("symbolic build only", symbolic, k);
    fl_crash_states_free(set);
    fl_crashfs_free(fs);
    free(build);
    free(rm);
    free(symbolic);
    free(b.p);
    rmtree(root);
    return 0;
}
