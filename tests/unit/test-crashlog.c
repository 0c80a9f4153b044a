/* SPDX-License-Identifier: MIT */
/*
 * test-crashlog.c - the crash event log: what the preload's writer formats, the reader gives
 * back field for field, and nothing the reader is handed can crash it.
 *
 * The log is written by the process under test, which may be killed in the middle of an
 * append or run out of disk, so the reader's contract is: every record it returns lies wholly
 * inside the file and obeys its op's rules, and anything else is -EBADMSG naming the byte
 * offset. These tests check that on every truncation of a valid log, every single-bit flip of
 * it, and random garbage (run them under ASan: `make asan`), plus the writer's refusals and
 * the canonical relative paths the recorder will feed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "crashlog.h"
#include "err.h"

/* A log under construction in memory, as the preload would append it. */
struct buf {
    unsigned char *p;
    size_t len, cap;
    size_t ends[64]; /* where each record ends */
    size_t nrec;
};

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_header(struct buf *b)
{
    unsigned char h[FL_CRASHLOG_HEADER_SIZE];
    assert_int_equal(fl_crashlog_format_header(h, sizeof(h)), FL_CRASHLOG_HEADER_SIZE);
    buf_append(b, h, sizeof(h));
}

static void buf_event(struct buf *b, const struct fl_crash_event *ev)
{
    unsigned char rec[8192];
    size_t n = fl_crashlog_format(rec, sizeof(rec), ev);
    assert_true(n > 0);
    assert_int_equal(n, fl_crashlog_record_size(ev));
    buf_append(b, rec, n);
    b->ends[b->nrec++] = b->len;
}

static struct fl_crash_event ev_path(uint16_t op, const char *path)
{
    return (struct fl_crash_event){.op = op, .pid = 42, .path = path,
                                   .path_len = (uint32_t)strlen(path)};
}

/* One record of every op, with every field used somewhere. */
static void sample_log(struct buf *b)
{
    buf_header(b);
    struct fl_crash_event ev = ev_path(FL_CRASH_OPEN, "dir/state.json");
    ev.flags = FL_CRASH_OPEN_CREATED | FL_CRASH_OPEN_TRUNCATED;
    ev.arg = 0644;
    ev.dev = 0x801;
    ev.ino = 1234567;
    buf_event(b, &ev);
    ev = ev_path(FL_CRASH_WRITE, "dir/state.json");
    ev.dev = 0x801;
    ev.ino = 1234567;
    ev.offset = 4096;
    ev.length = 11;
    ev.data = "hello world";
    buf_event(b, &ev);
    ev = ev_path(FL_CRASH_TRUNCATE, "dir/state.json");
    ev.length = 3;
    buf_event(b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_FALLOCATE, .dev = 1, .ino = 2, .offset = 0,
                                 .length = 8192, .arg = 0x3};
    buf_event(b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_FSYNC, .dev = 1, .ino = 2};
    buf_event(b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_FDATASYNC, .dev = 1, .ino = 2};
    buf_event(b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_SYNC_FILE_RANGE, .dev = 1, .ino = 2,
                                 .offset = 10, .length = 20};
    buf_event(b, &ev);
    ev = (struct fl_crash_event){.op = FL_CRASH_MSYNC, .dev = 1, .ino = 2, .offset = 0,
                                 .length = 4, .data = "mmap"};
    buf_event(b, &ev);
    ev = ev_path(FL_CRASH_RENAME, "tmp");
    ev.path2 = "state.json";
    ev.path2_len = 10;
    ev.flags = FL_CRASH_RENAME_NOREPLACE;
    buf_event(b, &ev);
    ev = ev_path(FL_CRASH_LINK, "a");
    ev.path2 = "b/c";
    ev.path2_len = 3;
    buf_event(b, &ev);
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_UNLINK, .path = "a", .path_len = 1});
    ev = ev_path(FL_CRASH_MKDIR, "d");
    ev.arg = 0755;
    buf_event(b, &ev);
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_RMDIR, .path = "d", .path_len = 1});
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_DIRFSYNC, .path = ".", .path_len = 1});
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_SYNC});
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_MARK, .length = 17});
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_CLOSE, .dev = 1, .ino = 2});
    buf_event(b, &(struct fl_crash_event){.op = FL_CRASH_UNTRACKED, .arg = FL_CRASH_UNTRACKED_MMAP,
                                          .path = "db", .path_len = 2});
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct buf b = {0};
    sample_log(&b);
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_from_buffer(&log, b.p, b.len, &err), 0);
    assert_int_equal(log.page_size, FL_CRASHLOG_PAGE_SIZE);
    size_t pos = 0, n = 0;
    struct fl_crash_event ev;
    int rc;
    uint16_t ops[64];
    while ((rc = fl_crashlog_next(&log, &pos, &ev, &err)) == 1) {
        assert_true(n < b.nrec);
        assert_int_equal(pos, b.ends[n]);
        ops[n++] = ev.op;
        if (ev.op == FL_CRASH_OPEN) {
            assert_int_equal(ev.flags, FL_CRASH_OPEN_CREATED | FL_CRASH_OPEN_TRUNCATED);
            assert_int_equal(ev.arg, 0644);
            assert_int_equal(ev.dev, 0x801);
            assert_int_equal(ev.ino, 1234567);
            assert_int_equal(ev.pid, 42);
            assert_int_equal(ev.log_offset, FL_CRASHLOG_HEADER_SIZE);
            assert_memory_equal(ev.path, "dir/state.json", ev.path_len);
        }
        if (ev.op == FL_CRASH_WRITE) {
            assert_int_equal(ev.offset, 4096);
            assert_int_equal(ev.length, 11);
            assert_memory_equal(ev.data, "hello world", 11);
        }
        if (ev.op == FL_CRASH_RENAME) {
            assert_memory_equal(ev.path, "tmp", 3);
            assert_int_equal(ev.path2_len, 10);
            assert_memory_equal(ev.path2, "state.json", 10);
            assert_int_equal(ev.flags, FL_CRASH_RENAME_NOREPLACE);
        }
        if (ev.op == FL_CRASH_MARK)
            assert_int_equal(ev.length, 17);
        char line[256];
        assert_true(fl_crash_event_format(&ev, line, sizeof(line)) > 0);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, b.nrec);
    for (int op = 1; op < FL_CRASH_OP_END; op++) {
        bool seen = false;
        for (size_t i = 0; i < n; i++)
            seen |= ops[i] == op;
        assert_true(seen);
        assert_non_null(fl_crash_op_name((unsigned)op));
    }
    free(b.p);
}

/* writev(head, data) writes the same bytes as one formatted record */
static void test_head_plus_data_is_the_record(void **state)
{
    (void)state;
    char data[5000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)('a' + i % 26);
    struct fl_crash_event ev = ev_path(FL_CRASH_WRITE, "log");
    ev.length = sizeof(data);
    ev.data = data;
    unsigned char whole[8192], head[512];
    size_t n = fl_crashlog_format(whole, sizeof(whole), &ev);
    size_t h = fl_crashlog_format_head(head, sizeof(head), &ev);
    assert_int_equal(n, h + sizeof(data));
    assert_memory_equal(whole, head, h);
    assert_memory_equal(whole + h, data, sizeof(data));
    /* a buffer too small is a refusal, not an overflow */
    assert_int_equal(fl_crashlog_format(whole, n - 1, &ev), 0);
    assert_int_equal(fl_crashlog_format_head(head, h - 1, &ev), 0);
}

/* The audit's WRITE records say where and how much, not what: they round-trip with no data,
 * and any other flag on a write is refused. */
static void test_a_write_may_omit_its_data(void **state)
{
    (void)state;
    struct buf b = {0};
    buf_header(&b);
    struct fl_crash_event w = {.op = FL_CRASH_WRITE, .dev = 1, .ino = 2, .offset = 8192,
                               .length = 4096, .flags = FL_CRASH_DATA_OMITTED};
    assert_null(fl_crashlog_event_problem(&w));
    assert_int_equal(fl_crashlog_record_size(&w), FL_CRASHLOG_RECORD_HEADER_SIZE);
    buf_event(&b, &w);
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_from_buffer(&log, b.p, b.len, &err), 0);
    size_t pos = 0;
    struct fl_crash_event ev;
    assert_int_equal(fl_crashlog_next(&log, &pos, &ev, &err), 1);
    assert_int_equal(ev.op, FL_CRASH_WRITE);
    assert_int_equal(ev.flags, FL_CRASH_DATA_OMITTED);
    assert_int_equal(ev.length, 4096);
    assert_int_equal(ev.offset, 8192);
    assert_int_equal(pos, b.len);
    assert_int_equal(fl_crashlog_next(&log, &pos, &ev, &err), 0);
    w.flags = 0x2;
    assert_non_null(fl_crashlog_event_problem(&w));
    free(b.p);
}

static void test_writer_refuses_what_the_reader_would(void **state)
{
    (void)state;
    const char *bad_paths[] = {"/etc/passwd", "../up", "a/../b", "a//b", "a/", "./a", "a/.",
                               ""};
    unsigned char rec[8192];
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(*bad_paths); i++) {
        struct fl_crash_event ev = ev_path(FL_CRASH_UNLINK, bad_paths[i]);
        if (!ev.path_len)
            ev.path_len = 0; /* empty: unlink without a path */
        assert_int_equal(fl_crashlog_format(rec, sizeof(rec), &ev), 0);
        assert_non_null(fl_crashlog_event_problem(&ev));
    }
    struct fl_crash_event nul = {.op = FL_CRASH_UNLINK, .path = "a\0b", .path_len = 3};
    assert_int_equal(fl_crashlog_format(rec, sizeof(rec), &nul), 0);
    struct fl_crash_event cases[] = {
        {.op = 0, .path = "a", .path_len = 1},
        {.op = FL_CRASH_OP_END, .path = "a", .path_len = 1},
        {.op = FL_CRASH_WRITE},                             /* no identity, no path */
        {.op = FL_CRASH_FSYNC, .flags = 1, .ino = 3},       /* flags on an op without */
        {.op = FL_CRASH_OPEN, .path = "a", .path_len = 1, .flags = 0x80},
        {.op = FL_CRASH_RENAME, .path = "a", .path_len = 1}, /* one path */
        {.op = FL_CRASH_RENAME, .path = "a", .path_len = 1, .path2 = "b", .path2_len = 1,
         .flags = FL_CRASH_RENAME_EXCHANGE | FL_CRASH_RENAME_NOREPLACE},
        {.op = FL_CRASH_RENAME, .path = ".", .path_len = 1, .path2 = "b", .path2_len = 1},
        {.op = FL_CRASH_SYNC, .path = "a", .path_len = 1},
        {.op = FL_CRASH_UNLINK, .path = "a", .path_len = 1, .path2 = "b", .path2_len = 1},
        {.op = FL_CRASH_WRITE, .ino = 1, .offset = (uint64_t)INT64_MAX, .length = 2,
         .data = "ab"},
        {.op = FL_CRASH_WRITE, .ino = 1, .length = FL_CRASHLOG_DATA_MAX + 1ull},
        {.op = FL_CRASH_MKDIR, .path = "d", .path_len = 1, .arg = 010000},
        {.op = FL_CRASH_DIRFSYNC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_non_null(fl_crashlog_event_problem(&cases[i]));
        assert_int_equal(fl_crashlog_record_size(&cases[i]), 0);
    }
    /* data promised but no pointer */
    struct fl_crash_event nodata = {.op = FL_CRASH_WRITE, .ino = 1, .length = 4};
    assert_int_equal(fl_crashlog_format(rec, sizeof(rec), &nodata), 0);
}

/* Every prefix of a valid log: whole records read back, a partial one is an error at its
 * offset, and nothing past the prefix is touched (the buffer is exactly the prefix, so ASan
 * catches any read beyond it). */
static void test_every_truncation(void **state)
{
    (void)state;
    struct buf b = {0};
    sample_log(&b);
    for (size_t len = 0; len <= b.len; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, b.p, len);
        struct fl_crashlog log;
        struct fl_err err = {{0}};
        int rc = fl_crashlog_from_buffer(&log, copy, len, &err);
        if (len < FL_CRASHLOG_HEADER_SIZE) {
            assert_int_equal(rc, -EBADMSG);
            assert_non_null(strstr(err.msg, "offset 0"));
            free(copy);
            continue;
        }
        assert_int_equal(rc, 0);
        size_t pos = 0, whole = 0;
        while (whole < b.nrec && b.ends[whole] <= len)
            whole++;
        struct fl_crash_event ev;
        size_t n = 0;
        while ((rc = fl_crashlog_next(&log, &pos, &ev, &err)) == 1)
            n++;
        assert_int_equal(n, whole);
        bool at_boundary = len == FL_CRASHLOG_HEADER_SIZE || (whole && b.ends[whole - 1] == len);
        if (at_boundary) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -EBADMSG);
            size_t start = whole ? b.ends[whole - 1] : FL_CRASHLOG_HEADER_SIZE;
            char want[64];
            snprintf(want, sizeof(want), "offset %zu:", start);
            assert_non_null(strstr(err.msg, want));
            assert_non_null(strstr(err.msg, "truncated"));
        }
        free(copy);
    }
    free(b.p);
}

/* xorshift64*: the same garbage on every run */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Read a whole buffer, checking that whatever comes back lies inside it. */
static int read_all(const unsigned char *p, size_t len, size_t *nread)
{
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    *nread = 0;
    int rc = fl_crashlog_from_buffer(&log, p, len, &err);
    if (rc < 0) {
        assert_int_equal(rc, -EBADMSG);
        assert_non_null(strstr(err.msg, "offset "));
        return rc;
    }
    size_t pos = 0;
    struct fl_crash_event ev;
    while ((rc = fl_crashlog_next(&log, &pos, &ev, &err)) == 1) {
        assert_true(pos <= len);
        assert_true(ev.log_offset >= FL_CRASHLOG_HEADER_SIZE && ev.log_offset < pos);
        const unsigned char *end = p + pos;
        if (ev.path_len)
            assert_true((const unsigned char *)ev.path + ev.path_len <= end);
        if (ev.path2_len)
            assert_true((const unsigned char *)ev.path2 + ev.path2_len <= end);
        if (ev.data)
            assert_true((const unsigned char *)ev.data + ev.length <= end);
        assert_null(fl_crashlog_event_problem(&ev));
        char line[128];
        fl_crash_event_format(&ev, line, sizeof(line));
        (*nread)++;
    }
    if (rc < 0) {
        assert_int_equal(rc, -EBADMSG);
        assert_non_null(strstr(err.msg, "offset "));
    }
    return rc;
}

static void test_every_bit_flip(void **state)
{
    (void)state;
    struct buf b = {0};
    sample_log(&b);
    unsigned char *copy = malloc(b.len);
    assert_non_null(copy);
    size_t refused = 0;
    for (size_t i = 0; i < b.len; i++)
        for (int bitno = 0; bitno < 8; bitno++) {
            memcpy(copy, b.p, b.len);
            copy[i] ^= (unsigned char)(1u << bitno);
            size_t n;
            if (read_all(copy, b.len, &n) < 0)
                refused++;
        }
    /* most flips land in a length, an op, a path or the header and must be noticed */
    assert_true(refused > b.len);
    free(copy);
    free(b.p);
}

static void test_garbage(void **state)
{
    (void)state;
    uint64_t seed = 0x243f6a8885a308d3ull;
    unsigned char hdr[FL_CRASHLOG_HEADER_SIZE];
    fl_crashlog_format_header(hdr, sizeof(hdr));
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rnd(&seed) % 600);
        unsigned char *p = malloc(len + 1);
        assert_non_null(p);
        for (size_t i = 0; i < len; i++)
            p[i] = (unsigned char)rnd(&seed);
        /* mostly behind a valid header, so the record parser is what gets exercised; and
         * small numbers in the length fields, which random bytes rarely produce */
        if (round % 4 && len >= sizeof(hdr))
            memcpy(p, hdr, sizeof(hdr));
        if (round % 3 == 0 && len >= FL_CRASHLOG_HEADER_SIZE + 24) {
            uint32_t size = (uint32_t)(FL_CRASHLOG_RECORD_HEADER_SIZE + rnd(&seed) % 64);
            memcpy(p + FL_CRASHLOG_HEADER_SIZE, &size, 4);
            p[FL_CRASHLOG_HEADER_SIZE + 4] = (unsigned char)(rnd(&seed) % 20);
            p[FL_CRASHLOG_HEADER_SIZE + 5] = 0;
            uint32_t plen = (uint32_t)(rnd(&seed) % 16);
            memcpy(p + FL_CRASHLOG_HEADER_SIZE + 12, &plen, 4);
        }
        size_t n;
        read_all(p, len, &n);
        free(p);
    }
}

static void test_header_checks(void **state)
{
    (void)state;
    unsigned char h[FL_CRASHLOG_HEADER_SIZE];
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    fl_crashlog_format_header(h, sizeof(h));
    h[0] = 'X';
    assert_int_equal(fl_crashlog_from_buffer(&log, h, sizeof(h), &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "magic"));
    fl_crashlog_format_header(h, sizeof(h));
    h[8] = 9;
    assert_int_equal(fl_crashlog_from_buffer(&log, h, sizeof(h), &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "version"));
    fl_crashlog_format_header(h, sizeof(h));
    h[20] = 0x01; /* page size 4097 */
    assert_int_equal(fl_crashlog_from_buffer(&log, h, sizeof(h), &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "page size"));
    /* a header and nothing else: a run that did nothing durable */
    fl_crashlog_format_header(h, sizeof(h));
    assert_int_equal(fl_crashlog_from_buffer(&log, h, sizeof(h), &err), 0);
    size_t pos = 0;
    struct fl_crash_event ev;
    assert_int_equal(fl_crashlog_next(&log, &pos, &ev, &err), 0);
}

static void test_open_file(void **state)
{
    (void)state;
    char dir[64], path[128];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "crashlog"), 0);
    snprintf(path, sizeof(path), "%s/log", dir);
    struct buf b = {0};
    sample_log(&b);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);
    struct fl_crashlog log;
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_open(&log, path, &err), 0);
    size_t pos = 0, n = 0;
    struct fl_crash_event ev;
    while (fl_crashlog_next(&log, &pos, &ev, &err) == 1)
        n++;
    assert_int_equal(n, b.nrec);
    fl_crashlog_close(&log);
    /* not a log: a clean error naming the file and the offset */
    fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_int_equal(write(fd, "{\"not\": \"a log at all, but long enough\"}", 40), 40);
    close(fd);
    assert_int_equal(fl_crashlog_open(&log, path, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "offset 0"));
    assert_int_equal(fl_crashlog_open(&log, dir, &err), -EINVAL);
    free(b.p);
    fl_test_rmtree(dir);
}

static void test_relpath(void **state)
{
    (void)state;
    struct {
        const char *root, *path, *want;
        int rc;
    } cases[] = {
        {"/t/trial", "/t/trial/state.json", "state.json", 10},
        {"/t/trial", "/t/trial", ".", 1},
        {"/t/trial/", "/t/trial//a/./b/", "a/b", 3},
        {"/t/trial", "/t/trial/a/../b", "b", 1},
        {"/t/trial", "/t/trial/../trial/x", "x", 1},
        {"/t/trial", "/t/trialx/y", NULL, -EXDEV},
        {"/t/trial", "/t/other", NULL, -EXDEV},
        {"/t/trial", "/t/trial/..", NULL, -EXDEV},
        {"/", "/etc/hosts", "etc/hosts", 9},
        {"/t/trial", "relative", NULL, -EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char out[64];
        int rc = fl_crashlog_relpath(cases[i].root, cases[i].path, out, sizeof(out));
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].want) {
            assert_string_equal(out, cases[i].want);
            assert_true(fl_crashlog_path_ok(out, strlen(out)));
        }
    }
    char tiny[4];
    assert_int_equal(fl_crashlog_relpath("/t", "/t/abcdef", tiny, sizeof(tiny)), -ENAMETOOLONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_head_plus_data_is_the_record),
        cmocka_unit_test(test_a_write_may_omit_its_data),
        cmocka_unit_test(test_writer_refuses_what_the_reader_would),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_open_file),
        cmocka_unit_test(test_relpath),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
