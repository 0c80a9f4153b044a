/* SPDX-License-Identifier: MIT */
/*
 * test-crashfs.c - crash states under the posix and ext4-ordered models, checked the way
 * `faultline crash` will use them: for every cut and every state, build the state in a
 * directory and run a real check that parses the file the writer maintains.
 *
 * The writers are not simulated: a small recorder in this file performs each call for real in
 * a trial directory and appends the record the preload would write (identity from fstat,
 * offsets resolved as for write() and O_APPEND), so every test first proves that replaying the
 * log reproduces the trial directory byte for byte (fl_crashfs_verify). Then:
 *   - in-place rewrite (open O_TRUNC, write, maybe fsync): empty or torn states, flagged
 *     in-place-rewrite;
 *   - temp + write + rename without fsync: flagged rename-without-fsync (posix), safe on ext4
 *     when the rename replaces a file (auto_da_alloc), not when it creates the name;
 *   - temp + write + fsync + rename, no directory fsync: the old content comes back, flagged
 *     missing-dir-fsync when stdout had acknowledged the new one;
 *   - temp + write + fsync + rename + fsync(dir): no failing state under either model;
 *   - an append-only log: no fsynced record is ever lost; without fsync, unsynced-append;
 * and the guards against a vacuous "nothing found": the check rejects bad files, and the
 * explorer does produce states that differ from the final directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "crashfs.h"
#include "crashlog.h"
#include "err.h"

/* --- the recorder ------------------------------------------------------------------------ */

#define MAX_FDS 64

struct fixture {
    char root[64], snap[96], trial[96], states[96];
    int trial_fd;
    unsigned char *log;
    size_t log_len, log_cap;
    char out[4096]; /* what the "program" printed */
    size_t out_len;
    struct {
        char path[256];
        bool append;
    } fds[MAX_FDS];
    struct fl_crashlog cl;
    struct fl_crashfs *fs;
    unsigned state_seq;
};

static void log_bytes(struct fixture *f, const void *p, size_t n)
{
    if (f->log_len + n > f->log_cap) {
        f->log_cap = (f->log_len + n) * 2;
        f->log = realloc(f->log, f->log_cap);
        assert_non_null(f->log);
    }
    memcpy(f->log + f->log_len, p, n);
    f->log_len += n;
}

static void log_event(struct fixture *f, struct fl_crash_event *ev)
{
    ev->pid = (uint32_t)getpid();
    static unsigned char rec[1 << 16];
    size_t n = fl_crashlog_format(rec, sizeof(rec), ev);
    assert_true(n > 0);
    log_bytes(f, rec, n);
}

static void set_path(struct fl_crash_event *ev, const char *p)
{
    ev->path = p;
    ev->path_len = (uint32_t)strlen(p);
}

static void identity(int fd, struct fl_crash_event *ev)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    ev->dev = st.st_dev;
    ev->ino = st.st_ino;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || fl_test_mkdtemp(f->root, sizeof(f->root), "crashfs") < 0)
        return -1;
    snprintf(f->snap, sizeof(f->snap), "%s/snap", f->root);
    snprintf(f->trial, sizeof(f->trial), "%s/trial", f->root);
    snprintf(f->states, sizeof(f->states), "%s/states", f->root);
    if (mkdir(f->snap, 0755) || mkdir(f->trial, 0755) || mkdir(f->states, 0755))
        return -1;
    f->trial_fd = open(f->trial, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    unsigned char h[FL_CRASHLOG_HEADER_SIZE];
    fl_crashlog_format_header(h, sizeof(h));
    log_bytes(f, h, sizeof(h));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fl_crashfs_free(f->fs);
    close(f->trial_fd);
    fl_test_rmtree(f->root);
    free(f->log);
    free(f);
    return 0;
}

/* The same file in the snapshot and in the trial directory: what existed before the run. */
static void seed(struct fixture *f, const char *name, const char *content, size_t len)
{
    const char *dirs[] = {f->snap, f->trial};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, len), (ssize_t)len);
        close(fd);
    }
}

static int rec_open(struct fixture *f, const char *rel, int flags, mode_t mode)
{
    struct stat st;
    bool existed = fstatat(f->trial_fd, rel, &st, 0) == 0;
    int fd = openat(f->trial_fd, rel, flags | O_CLOEXEC, mode);
    assert_true(fd >= 0 && fd < MAX_FDS);
    snprintf(f->fds[fd].path, sizeof(f->fds[fd].path), "%s", rel);
    f->fds[fd].append = flags & O_APPEND;
    struct fl_crash_event ev = {.op = FL_CRASH_OPEN};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    assert_int_equal(fstat(fd, &st), 0);
    ev.arg = st.st_mode & 07777;
    if (!existed && (flags & O_CREAT))
        ev.flags |= FL_CRASH_OPEN_CREATED;
    else if (flags & O_TRUNC)
        ev.flags |= FL_CRASH_OPEN_TRUNCATED;
    log_event(f, &ev);
    return fd;
}

/* write(): the offset is where the file position was (plain) or the end it appended at. */
static void rec_write(struct fixture *f, int fd, const void *p, size_t n)
{
    off_t before = lseek(fd, 0, SEEK_CUR);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    off_t after = lseek(fd, 0, SEEK_CUR);
    struct fl_crash_event ev = {.op = FL_CRASH_WRITE, .length = n, .data = p};
    ev.offset = (uint64_t)(f->fds[fd].append ? after - (off_t)n : before);
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    log_event(f, &ev);
}

static void rec_pwrite(struct fixture *f, int fd, const void *p, size_t n, off_t off)
{
    assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
    struct fl_crash_event ev = {.op = FL_CRASH_WRITE, .length = n, .data = p,
                                .offset = (uint64_t)off};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    log_event(f, &ev);
}

static void rec_fd_op(struct fixture *f, int fd, uint16_t op)
{
    struct fl_crash_event ev = {.op = op};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    if (op == FL_CRASH_FSYNC)
        assert_int_equal(fsync(fd), 0);
    else if (op == FL_CRASH_FDATASYNC)
        assert_int_equal(fdatasync(fd), 0);
    log_event(f, &ev);
    if (op == FL_CRASH_CLOSE)
        close(fd);
}

static void rec_ftruncate(struct fixture *f, int fd, off_t size)
{
    assert_int_equal(ftruncate(fd, size), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_TRUNCATE, .length = (uint64_t)size};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    log_event(f, &ev);
}

static void rec_fallocate(struct fixture *f, int fd, int mode, off_t off, off_t len)
{
    assert_int_equal(fallocate(fd, mode, off, len), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_FALLOCATE, .offset = (uint64_t)off,
                                .length = (uint64_t)len, .arg = (uint32_t)mode};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    log_event(f, &ev);
}

static void rec_rename(struct fixture *f, const char *from, const char *to)
{
    assert_int_equal(renameat(f->trial_fd, from, f->trial_fd, to), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_RENAME};
    set_path(&ev, from);
    ev.path2 = to;
    ev.path2_len = (uint32_t)strlen(to);
    log_event(f, &ev);
}

static void rec_link(struct fixture *f, const char *from, const char *to)
{
    assert_int_equal(linkat(f->trial_fd, from, f->trial_fd, to, 0), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_LINK};
    set_path(&ev, from);
    ev.path2 = to;
    ev.path2_len = (uint32_t)strlen(to);
    log_event(f, &ev);
}

static void rec_unlink(struct fixture *f, const char *rel)
{
    assert_int_equal(unlinkat(f->trial_fd, rel, 0), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_UNLINK};
    set_path(&ev, rel);
    log_event(f, &ev);
}

static void rec_mkdir(struct fixture *f, const char *rel)
{
    assert_int_equal(mkdirat(f->trial_fd, rel, 0755), 0);
    struct stat st;
    assert_int_equal(fstatat(f->trial_fd, rel, &st, 0), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_MKDIR, .arg = st.st_mode & 07777,
                                .dev = st.st_dev, .ino = st.st_ino};
    set_path(&ev, rel);
    log_event(f, &ev);
}

static void rec_rmdir(struct fixture *f, const char *rel)
{
    assert_int_equal(unlinkat(f->trial_fd, rel, AT_REMOVEDIR), 0);
    struct fl_crash_event ev = {.op = FL_CRASH_RMDIR};
    set_path(&ev, rel);
    log_event(f, &ev);
}

static void rec_fsync_dir(struct fixture *f, const char *rel)
{
    int fd = openat(f->trial_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    struct fl_crash_event ev = {.op = FL_CRASH_DIRFSYNC};
    set_path(&ev, rel);
    log_event(f, &ev);
}

/* The program prints (and so acknowledges) something. */
static void rec_print(struct fixture *f, const char *text)
{
    size_t n = strlen(text);
    assert_true(f->out_len + n < sizeof(f->out));
    memcpy(f->out + f->out_len, text, n);
    f->out_len += n;
    log_event(f, &(struct fl_crash_event){.op = FL_CRASH_MARK, .length = f->out_len});
}

/* Stop recording: open the log and the explorer under a model, and prove the log replays to
 * exactly what the trial directory holds. */
static void finish(struct fixture *f, enum fl_crash_model model)
{
    struct fl_err err = {{0}};
    fl_crashfs_free(f->fs);
    f->fs = NULL;
    assert_int_equal(fl_crashlog_from_buffer(&f->cl, f->log, f->log_len, &err), 0);
    int rc = fl_crashfs_open(&f->fs, f->snap, &f->cl, model, NULL, &err);
    if (rc)
        fail_msg("fl_crashfs_open: %s", err.msg);
    rc = fl_crashfs_verify(f->fs, f->trial, &err);
    if (rc)
        fail_msg("verify: %s", err.msg);
}

/* --- the checks -------------------------------------------------------------------------- */

#define PAD 6000 /* so the state file spans two pages and a write of it can tear */

static char *state_json(int version)
{
    char *pad = malloc(PAD + 1);
    assert_non_null(pad);
    memset(pad, 'x', PAD);
    pad[PAD] = '\0';
    char *s = NULL;
    assert_true(asprintf(&s, "{\"version\": %d, \"pad\": \"%s\"}\n", version, pad) > 0);
    free(pad);
    return s;
}

/* The highest N in "saved N" lines among what the program had printed. */
static long acknowledged(const char *out, size_t len, const char *word)
{
    long best = 0;
    char buf[4096];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, out);
    size_t wl = strlen(word);
    for (char *p = buf; (p = strstr(p, word)); p += wl) {
        long v = strtol(p + wl, NULL, 10);
        if (v > best)
            best = v;
    }
    return best;
}

struct check_ctx {
    const char *file;
    bool honour_ack; /* fail a state older than what stdout acknowledged */
};

/* The application's recovery check: the state file exists, parses, has its full padding,
 * and (if asked) is at least as new as what was acknowledged. */
static bool check_state_file(const char *dir, const char *out, size_t out_len, void *vctx,
                             char *why, size_t why_len)
{
    const struct check_ctx *ctx = vctx;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, ctx->file);
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        snprintf(why, why_len, "unreadable: %s", jerr.text);
        return false;
    }
    json_t *v = json_object_get(doc, "version"), *pad = json_object_get(doc, "pad");
    bool ok = json_is_integer(v) && json_is_string(pad) && json_string_length(pad) == PAD;
    if (!ok)
        snprintf(why, why_len, "malformed");
    long ack = ctx->honour_ack ? acknowledged(out, out_len, "saved ") : 0;
    if (ok && json_integer_value(v) < ack) {
        snprintf(why, why_len, "version %lld older than the acknowledged %ld",
                 (long long)json_integer_value(v), ack);
        ok = false;
    }
    json_decref(doc);
    return ok;
}

#define REC_LEN 1500

static void record_line(char *buf, int i)
{
    /* "rec 0007 <payload> <sum>\n", REC_LEN bytes in all */
    int n = snprintf(buf, REC_LEN, "rec %04d ", i);
    unsigned sum = 0;
    for (int k = n; k < REC_LEN - 10; k++) {
        buf[k] = (char)('a' + (i + k) % 26);
        sum += (unsigned char)buf[k];
    }
    snprintf(buf + REC_LEN - 10, 11, " %08x\n", sum);
    buf[REC_LEN - 1] = '\n';
}

/* An append-only log's recovery: every complete line is a valid record, in order; a partial
 * last line is what a crash mid-append leaves and is dropped; and at least as many records as
 * stdout acknowledged ("logged N") must be there. */
static bool check_append_log(const char *dir, const char *out, size_t out_len, void *vctx,
                             char *why, size_t why_len)
{
    (void)vctx;
    char path[512];
    snprintf(path, sizeof(path), "%s/log.txt", dir);
    FILE *fp = fopen(path, "re");
    long ack = acknowledged(out, out_len, "logged ");
    if (!fp) {
        snprintf(why, why_len, "log.txt missing");
        return ack == 0;
    }
    char line[REC_LEN + 2], want[REC_LEN + 1];
    int good = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), fp)) {
        size_t n = strlen(line);
        if (n && line[n - 1] != '\n')
            break; /* a torn tail */
        record_line(want, good);
        if (n != REC_LEN || memcmp(line, want, REC_LEN) != 0) {
            snprintf(why, why_len, "record %d is damaged", good);
            ok = false;
            break;
        }
        good++;
    }
    fclose(fp);
    if (ok && good < ack) {
        snprintf(why, why_len, "%d records, %ld acknowledged", good, ack);
        ok = false;
    }
    return ok;
}

typedef bool (*check_fn)(const char *dir, const char *out, size_t out_len, void *ctx,
                         char *why, size_t why_len);

/* --- exploring --------------------------------------------------------------------------- */

struct failure {
    size_t cut;
    char label[192];
    enum fl_crash_pattern pattern;
    char why[160];
    char explain[2048];
};

struct outcome {
    size_t states, failures, lossy, capped;
    size_t by_pattern[5];
    struct failure f[32];
    size_t nf;
};

static void dump(const struct outcome *o);

/* Whether two directories hold the same names, kinds and bytes. */
static bool same_tree(const char *a, const char *b)
{
    DIR *da = opendir(a);
    if (!da)
        return false;
    size_t na = 0, nb = 0;
    bool same = true;
    struct dirent *de;
    while (same && (de = readdir(da))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        na++;
        char pa[512], pb[512];
        snprintf(pa, sizeof(pa), "%s/%s", a, de->d_name);
        snprintf(pb, sizeof(pb), "%s/%s", b, de->d_name);
        struct stat sa, sb;
        if (lstat(pa, &sa) || lstat(pb, &sb) || (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
            same = false;
        } else if (S_ISDIR(sa.st_mode)) {
            same = same_tree(pa, pb);
        } else if (S_ISREG(sa.st_mode)) {
            same = sa.st_size == sb.st_size;
            FILE *fa = fopen(pa, "re"), *fb = fopen(pb, "re");
            int ca = 0, cb = 0;
            while (same && fa && fb && (ca = fgetc(fa)) != EOF) {
                cb = fgetc(fb);
                same = ca == cb;
            }
            if (fa)
                fclose(fa);
            if (fb)
                fclose(fb);
        }
    }
    closedir(da);
    DIR *db = opendir(b);
    if (!db)
        return false;
    while ((de = readdir(db)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            nb++;
    closedir(db);
    return same && na == nb;
}

static void state_dir(struct fixture *f, char *buf, size_t len)
{
    snprintf(buf, len, "%s/s%05u", f->states, f->state_seq++);
    assert_int_equal(mkdir(buf, 0700), 0);
}

/* Every state at every cut: build it, run the check, classify and explain the failures. */
static void explore(struct fixture *f, check_fn check, void *ctx, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    struct fl_err err = {{0}};
    size_t n = fl_crashfs_event_count(f->fs);
    for (size_t cut = 0; cut <= n; cut++) {
        struct fl_crash_states *set;
        if (fl_crashfs_states(f->fs, cut, &set, &err))
            fail_msg("states at %zu: %s", cut, err.msg);
        assert_true(fl_crash_states_count(set) >= 1);
        o->capped += fl_crash_states_skipped(set);
        for (size_t i = 0; i < fl_crash_states_count(set); i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            assert_int_equal(fl_crash_state_cut(st), cut);
            char dir[160], why[160] = "";
            state_dir(f, dir, sizeof(dir));
            if (fl_crashfs_materialize(f->fs, st, dir, &err))
                fail_msg("materialize %s at %zu: %s", fl_crash_state_label(st), cut, err.msg);
            o->states++;
            if (!same_tree(dir, f->trial))
                o->lossy++;
            bool ok = check(dir, f->out, (size_t)fl_crash_state_stdout_bytes(st), ctx, why,
                            sizeof(why));
            if (!ok) {
                enum fl_crash_pattern p = fl_crashfs_classify(f->fs, st);
                o->failures++;
                o->by_pattern[p]++;
                if (o->nf < sizeof(o->f) / sizeof(*o->f)) {
                    struct failure *fl = &o->f[o->nf++];
                    fl->cut = cut;
                    fl->pattern = p;
                    snprintf(fl->label, sizeof(fl->label), "%s", fl_crash_state_label(st));
                    snprintf(fl->why, sizeof(fl->why), "%s", why);
                    assert_true(fl_crashfs_explain(f->fs, st, fl->explain,
                                                   sizeof(fl->explain)) > 0);
                }
            }
            fl_test_rmtree(dir);
        }
        fl_crash_states_free(set);
    }
    /* CRASHFS_DUMP=1 build/tests/test-crashfs: every failing state with its explanation */
    if (getenv("CRASHFS_DUMP"))
        dump(o);
}

static void dump(const struct outcome *o)
{
    for (size_t i = 0; i < o->nf; i++)
        fprintf(stderr, "  cut %zu %s [%s] %s: %s\n", o->f[i].cut, o->f[i].label,
                fl_crash_pattern_name(o->f[i].pattern), o->f[i].why, o->f[i].explain);
}

static bool explained(const struct outcome *o, enum fl_crash_pattern p, const char *text)
{
    for (size_t i = 0; i < o->nf; i++)
        if (o->f[i].pattern == p && strstr(o->f[i].explain, text))
            return true;
    return false;
}

static const enum fl_crash_model models[] = {FL_CRASH_MODEL_POSIX, FL_CRASH_MODEL_EXT4_ORDERED};

/* --- the writers ------------------------------------------------------------------------- */

static void in_place_rewrite(struct fixture *f, bool with_fsync)
{
    char *v1 = state_json(1), *v2 = state_json(2);
    seed(f, "state.json", v1, strlen(v1));
    int fd = rec_open(f, "state.json", O_WRONLY | O_TRUNC, 0);
    rec_write(f, fd, v2, strlen(v2));
    if (with_fsync)
        rec_fd_op(f, fd, FL_CRASH_FSYNC);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    free(v1);
    free(v2);
}

static void fresh(void **state)
{
    teardown(state);
    assert_int_equal(setup(state), 0);
}

static void test_in_place_rewrite(void **state)
{
    for (int sync = 0; sync < 2; sync++)
        for (size_t m = 0; m < 2; m++) {
            fresh(state);
            struct fixture *f = *state;
            in_place_rewrite(f, sync);
            finish(f, models[m]);
            struct outcome o;
            struct check_ctx ctx = {"state.json", false};
            explore(f, check_state_file, &ctx, &o);
            if (!o.by_pattern[FL_CRASH_PATTERN_IN_PLACE_REWRITE])
                dump(&o);
            assert_true(o.failures > 0);
            assert_true(o.by_pattern[FL_CRASH_PATTERN_IN_PLACE_REWRITE] > 0);
            assert_int_equal(o.failures, o.by_pattern[FL_CRASH_PATTERN_IN_PLACE_REWRITE]);
            assert_true(explained(&o, FL_CRASH_PATTERN_IN_PLACE_REWRITE,
                                  "state.json was truncated by open(O_TRUNC) and its new data "
                                  "was never fsynced: power loss leaves it empty (in-place "
                                  "rewrite)") ||
                        explained(&o, FL_CRASH_PATTERN_IN_PLACE_REWRITE, "even with every call"));
        }
}

/* tmp written (fsync or not), renamed over state.json (which exists, or not), dir fsync or
 * not, "saved 2" printed at the end. */
static void temp_rename(struct fixture *f, bool fsync_tmp, bool target_exists, bool fsync_dir)
{
    char *v1 = state_json(1), *v2 = state_json(2);
    if (target_exists)
        seed(f, "state.json", v1, strlen(v1));
    int fd = rec_open(f, "state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    rec_write(f, fd, v2, strlen(v2));
    if (fsync_tmp)
        rec_fd_op(f, fd, FL_CRASH_FSYNC);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    rec_rename(f, "state.json.tmp", "state.json");
    if (fsync_dir)
        rec_fsync_dir(f, ".");
    rec_print(f, "saved 2\n");
    free(v1);
    free(v2);
}

static void test_rename_without_fsync(void **state)
{
    /* posix: the rename can reach the disk before tmp's data */
    fresh(state);
    struct fixture *f = *state;
    temp_rename(f, false, true, false);
    finish(f, FL_CRASH_MODEL_POSIX);
    struct outcome o;
    struct check_ctx ctx = {"state.json", false};
    explore(f, check_state_file, &ctx, &o);
    if (!o.by_pattern[FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC])
        dump(&o);
    assert_true(o.by_pattern[FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC] > 0);
    assert_true(explained(&o, FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC,
                          "rename(state.json.tmp, state.json) reached the disk but "
                          "state.json.tmp's data was not fsynced before it: state.json is empty "
                          "(rename without fsync of the new file)"));
}

static void test_rename_after_fsync_without_dir_fsync(void **state)
{
    for (size_t m = 0; m < 2; m++) {
        fresh(state);
        struct fixture *f = *state;
        temp_rename(f, true, true, false);
        finish(f, models[m]);
        struct outcome o;
        /* without the acknowledgement the old content is a valid state ... */
        struct check_ctx lax = {"state.json", false};
        explore(f, check_state_file, &lax, &o);
        if (o.failures)
            dump(&o);
        assert_int_equal(o.failures, 0);
        /* ... but stdout said "saved 2" and the old one came back */
        struct check_ctx strict = {"state.json", true};
        explore(f, check_state_file, &strict, &o);
        if (!o.by_pattern[FL_CRASH_PATTERN_MISSING_DIR_FSYNC])
            dump(&o);
        assert_true(o.failures > 0);
        assert_int_equal(o.failures, o.by_pattern[FL_CRASH_PATTERN_MISSING_DIR_FSYNC]);
        const char *want = models[m] == FL_CRASH_MODEL_POSIX
                               ? "the rename of state.json.tmp to state.json was not followed by "
                                 "an fsync of the directory: after power loss the old state.json "
                                 "is back (missing directory fsync)"
                               : "the rename of state.json.tmp to state.json was never committed";
        assert_true(explained(&o, FL_CRASH_PATTERN_MISSING_DIR_FSYNC, want));
    }
}

static void test_correct_protocol_never_fails(void **state)
{
    for (size_t m = 0; m < 2; m++) {
        fresh(state);
        struct fixture *f = *state;
        temp_rename(f, true, true, true);
        finish(f, models[m]);
        struct outcome o;
        struct check_ctx ctx = {"state.json", true};
        explore(f, check_state_file, &ctx, &o);
        if (o.failures)
            dump(&o);
        assert_int_equal(o.failures, 0);
        /* not vacuous: states were built at every cut, and some lose what they may lose */
        assert_true(o.states > fl_crashfs_event_count(f->fs));
        assert_true(o.lossy > 0);
        /* in particular, between the rename and the directory fsync, the rename may be lost:
         * that state exists and shows the old file (and passes, since nothing said "saved") */
        size_t n = fl_crashfs_event_count(f->fs), rename_at = n;
        for (size_t i = 0; i < n; i++)
            if (fl_crashfs_event(f->fs, i)->op == FL_CRASH_RENAME)
                rename_at = i;
        struct fl_crash_states *set;
        struct fl_err err = {{0}};
        assert_int_equal(fl_crashfs_states(f->fs, rename_at + 1, &set, &err), 0);
        bool old_back = false;
        for (size_t i = 0; i < fl_crash_states_count(set); i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            if (!fl_crash_state_lost(st, rename_at))
                continue;
            char dir[160], path[200];
            state_dir(f, dir, sizeof(dir));
            assert_int_equal(fl_crashfs_materialize(f->fs, st, dir, &err), 0);
            snprintf(path, sizeof(path), "%s/state.json", dir);
            json_t *doc = json_load_file(path, 0, NULL);
            old_back |= doc && json_integer_value(json_object_get(doc, "version")) == 1;
            json_decref(doc);
            fl_test_rmtree(dir);
        }
        fl_crash_states_free(set);
        assert_true(old_back);
    }
}

static void append_log(struct fixture *f, bool fsync_each, bool create)
{
    if (!create)
        seed(f, "log.txt", "", 0);
    int fd = rec_open(f, "log.txt", O_WRONLY | O_APPEND | (create ? O_CREAT : 0), 0644);
    char line[REC_LEN + 1], msg[32];
    for (int i = 0; i < 6; i++) {
        record_line(line, i);
        rec_write(f, fd, line, REC_LEN);
        if (fsync_each)
            rec_fd_op(f, fd, FL_CRASH_FDATASYNC);
        snprintf(msg, sizeof(msg), "logged %d\n", i + 1);
        rec_print(f, msg);
    }
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
}

static void test_append_log(void **state)
{
    for (size_t m = 0; m < 2; m++) {
        /* fsync after each record: no state ever loses an acknowledged (fsynced) record */
        fresh(state);
        struct fixture *f = *state;
        append_log(f, true, false);
        finish(f, models[m]);
        struct outcome o;
        explore(f, check_append_log, NULL, &o);
        if (o.failures)
            dump(&o);
        assert_int_equal(o.failures, 0);
        assert_true(o.lossy > 0); /* the unsynced tail does get lost, before each fsync */
        /* without: acknowledged records get lost */
        fresh(state);
        f = *state;
        append_log(f, false, false);
        finish(f, models[m]);
        explore(f, check_append_log, NULL, &o);
        if (!o.by_pattern[FL_CRASH_PATTERN_UNSYNCED_APPEND])
            dump(&o);
        assert_true(o.failures > 0);
        assert_int_equal(o.failures, o.by_pattern[FL_CRASH_PATTERN_UNSYNCED_APPEND]);
        assert_true(explained(&o, FL_CRASH_PATTERN_UNSYNCED_APPEND, "(unsynced append)"));
    }
}

/* Where the models must differ, and why (see crashfs.h). */
static void test_models_differ(void **state)
{
    struct outcome o;
    struct check_ctx ctx = {"state.json", false};
    /* 1. rename over an existing file without fsync: ext4's auto_da_alloc flushes the data
     *    before the rename commits, POSIX promises nothing */
    fresh(state);
    struct fixture *f = *state;
    temp_rename(f, false, true, false);
    finish(f, FL_CRASH_MODEL_EXT4_ORDERED);
    explore(f, check_state_file, &ctx, &o);
    if (o.failures)
        dump(&o);
    assert_int_equal(o.failures, 0);
    assert_true(o.lossy > 0);
    finish(f, FL_CRASH_MODEL_POSIX);
    explore(f, check_state_file, &ctx, &o);
    assert_true(o.by_pattern[FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC] > 0);

    /* 2. the same when the name is new: no file is replaced, so no flush, even on ext4 */
    fresh(state);
    f = *state;
    temp_rename(f, false, false, false);
    finish(f, FL_CRASH_MODEL_EXT4_ORDERED);
    struct check_ctx exists = {"state.json", false};
    explore(f, check_state_file, &exists, &o);
    assert_true(o.by_pattern[FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC] > 0);

    /* 3. a log created, then fsynced after each record, its directory never fsynced: on
     *    ext4 the fsync commits the creation too; POSIX lets the name vanish */
    fresh(state);
    f = *state;
    append_log(f, true, true);
    finish(f, FL_CRASH_MODEL_EXT4_ORDERED);
    explore(f, check_append_log, NULL, &o);
    if (o.failures)
        dump(&o);
    assert_int_equal(o.failures, 0);
    finish(f, FL_CRASH_MODEL_POSIX);
    explore(f, check_append_log, NULL, &o);
    assert_true(o.by_pattern[FL_CRASH_PATTERN_MISSING_DIR_FSYNC] > 0);
}

/* The checks themselves must reject what they are there to reject, or "no failure" means
 * nothing. */
static void test_checks_reject_bad_states(void **state)
{
    struct fixture *f = *state;
    char dir[160], path[200], why[160];
    state_dir(f, dir, sizeof(dir));
    struct check_ctx ctx = {"state.json", true};
    assert_false(check_state_file(dir, "", 0, &ctx, why, sizeof(why))); /* missing */
    snprintf(path, sizeof(path), "%s/state.json", dir);
    char *v2 = state_json(2);
    const char *bodies[] = {"", "{\"version\": 2, \"pad\": \"xx", "{\"version\": 2}"};
    for (size_t i = 0; i < 3; i++) {
        FILE *fp = fopen(path, "we");
        fputs(bodies[i], fp);
        fclose(fp);
        assert_false(check_state_file(dir, "", 0, &ctx, why, sizeof(why)));
    }
    FILE *fp = fopen(path, "we");
    fputs(v2, fp);
    fclose(fp);
    assert_true(check_state_file(dir, "saved 2\n", 8, &ctx, why, sizeof(why)));
    assert_false(check_state_file(dir, "saved 3\n", 8, &ctx, why, sizeof(why)));
    free(v2);
    fl_test_rmtree(dir);
}

/* Mutant guard for the explorer: with unsynced writes pending, some state must differ from
 * the directory the program left, and its digest from the none-lost one. */
static void test_lossy_states_exist(void **state)
{
    for (size_t m = 0; m < 2; m++) {
        fresh(state);
        struct fixture *f = *state;
        in_place_rewrite(f, false);
        finish(f, models[m]);
        struct fl_crash_states *set;
        struct fl_err err = {{0}};
        size_t cut = fl_crashfs_event_count(f->fs);
        assert_int_equal(fl_crashfs_states(f->fs, cut, &set, &err), 0);
        size_t differ = 0, loses = 0;
        uint64_t none = 0, d;
        for (size_t i = 0; i < fl_crash_states_count(set); i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            assert_int_equal(fl_crashfs_digest(f->fs, st, &d), 0);
            if (!strcmp(fl_crash_state_label(st), "none-lost"))
                none = d;
            loses += fl_crash_state_loses(st);
            char dir[160];
            state_dir(f, dir, sizeof(dir));
            assert_int_equal(fl_crashfs_materialize(f->fs, st, dir, &err), 0);
            differ += !same_tree(dir, f->trial);
            fl_test_rmtree(dir);
        }
        assert_true(none != 0);
        assert_true(loses >= 2);
        assert_true(differ >= 2);
        size_t distinct = 0;
        for (size_t i = 0; i < fl_crash_states_count(set); i++) {
            assert_int_equal(fl_crashfs_digest(f->fs, fl_crash_states_get(set, i), &d), 0);
            distinct += d != none;
        }
        assert_true(distinct >= 2);
        fl_crash_states_free(set);
    }
}

/* Names, hard links, directories, truncates, holes: the replay of the full log is the trial
 * directory (verify, inside finish), and so is the none-lost state at the end. */
static void test_replay_fidelity(void **state)
{
    fresh(state);
    struct fixture *f = *state;
    seed(f, "old", "0123456789", 10);
    seed(f, "gone", "bye", 3);
    rec_mkdir(f, "d");
    rec_mkdir(f, "d/e");
    int fd = rec_open(f, "d/e/f", O_RDWR | O_CREAT, 0600);
    rec_pwrite(f, fd, "hello", 5, 10000); /* a hole before it */
    rec_ftruncate(f, fd, 12000);
    rec_fallocate(f, fd, 0x3 /* KEEP_SIZE | PUNCH_HOLE */, 0, 4096);
    rec_fallocate(f, fd, 0, 0, 20000); /* grows the size */
    rec_fd_op(f, fd, FL_CRASH_FSYNC);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    rec_link(f, "d/e/f", "d/g");
    fd = rec_open(f, "old", O_RDWR, 0);
    rec_pwrite(f, fd, "AB", 2, 3);
    rec_ftruncate(f, fd, 7);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    rec_unlink(f, "gone");
    rec_mkdir(f, "empty");
    rec_rmdir(f, "empty");
    rec_rename(f, "d/e", "moved");
    rec_fsync_dir(f, "moved");
    log_event(f, &(struct fl_crash_event){.op = FL_CRASH_SYNC});
    for (size_t m = 0; m < 2; m++) {
        finish(f, models[m]);
        size_t n = fl_crashfs_event_count(f->fs);
        struct fl_crash_states *set;
        struct fl_err err = {{0}};
        assert_int_equal(fl_crashfs_states(f->fs, n, &set, &err), 0);
        /* after sync() nothing is pending: one state, the final directory */
        assert_int_equal(fl_crash_states_count(set), 1);
        const struct fl_crash_state *st = fl_crash_states_get(set, 0);
        assert_string_equal(fl_crash_state_label(st), "none-lost");
        char dir[160], why[256] = "";
        state_dir(f, dir, sizeof(dir));
        assert_int_equal(fl_crashfs_materialize(f->fs, st, dir, &err), 0);
        assert_true(same_tree(dir, f->trial));
        struct stat a, b;
        char pa[256], pb[256];
        snprintf(pa, sizeof(pa), "%s/moved/f", dir);
        snprintf(pb, sizeof(pb), "%s/d/g", dir);
        assert_int_equal(stat(pa, &a), 0);
        assert_int_equal(stat(pb, &b), 0);
        assert_true(a.st_ino == b.st_ino); /* still one file with two names */
        assert_int_equal(a.st_mode & 07777, 0600);
        assert_int_equal(fl_crashfs_explain(f->fs, st, why, sizeof(why)) > 0, 1);
        assert_non_null(strstr(why, "nothing was lost"));
        fl_test_rmtree(dir);
        fl_crash_states_free(set);
    }
}

static void test_verify_catches_a_missed_call(void **state)
{
    fresh(state);
    struct fixture *f = *state;
    seed(f, "a", "abc", 3);
    int fd = rec_open(f, "a", O_WRONLY, 0);
    rec_write(f, fd, "X", 1);
    /* a write the recorder never saw */
    assert_int_equal(pwrite(fd, "Y", 1, 2), 1);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_from_buffer(&f->cl, f->log, f->log_len, &err), 0);
    assert_int_equal(fl_crashfs_open(&f->fs, f->snap, &f->cl, FL_CRASH_MODEL_POSIX, NULL, &err),
                     0);
    assert_int_equal(fl_crashfs_verify(f->fs, f->trial, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "a: byte 2 differs"));
    /* and a file created behind its back */
    int extra = openat(f->trial_fd, "stray", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    close(extra);
    fd = openat(f->trial_fd, "a", O_WRONLY | O_CLOEXEC);
    assert_int_equal(pwrite(fd, "c", 1, 2), 1); /* a's bytes agree again */
    close(fd);
    assert_int_equal(fl_crashfs_verify(f->fs, f->trial, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "stray: on disk but not in the replay"));
}

/* An audit's log keeps where and how much was written, not the bytes: no state can be built
 * from it, and saying so beats building states out of zeros. */
static void test_a_write_without_its_data_is_refused(void **state)
{
    fresh(state);
    struct fixture *f = *state;
    seed(f, "a", "abc", 3);
    int fd = rec_open(f, "a", O_WRONLY, 0);
    assert_int_equal(write(fd, "X", 1), 1);
    struct fl_crash_event ev = {.op = FL_CRASH_WRITE, .length = 1,
                                .flags = FL_CRASH_DATA_OMITTED};
    set_path(&ev, f->fds[fd].path);
    identity(fd, &ev);
    log_event(f, &ev);
    rec_fd_op(f, fd, FL_CRASH_CLOSE);
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_from_buffer(&f->cl, f->log, f->log_len, &err), 0);
    assert_int_equal(fl_crashfs_open(&f->fs, f->snap, &f->cl, FL_CRASH_MODEL_POSIX, NULL, &err),
                     -EBADMSG);
    assert_null(f->fs);
    if (!strstr(err.msg, "without its data") || !strstr(err.msg, "event 1"))
        fail_msg("%s", err.msg);
}

static void test_log_that_does_not_fit(void **state)
{
    struct {
        struct fl_crash_event ev;
        int rc;
        const char *msg;
    } cases[] = {
        {{.op = FL_CRASH_RENAME, .path = "nope", .path_len = 4, .path2 = "b", .path2_len = 1},
         -EBADMSG, "does not exist"},
        {{.op = FL_CRASH_OPEN, .path = "missing", .path_len = 7}, -EBADMSG, "does not exist"},
        {{.op = FL_CRASH_WRITE, .dev = 9, .ino = 9, .length = 1, .data = "x"}, -EBADMSG,
         "never opened"},
        {{.op = FL_CRASH_UNTRACKED, .arg = FL_CRASH_UNTRACKED_MMAP}, -ENOTSUP, "cannot log"},
        {{.op = FL_CRASH_UNLINK, .path = "sub/x", .path_len = 5}, -EBADMSG, "directory does not"},
        {{.op = FL_CRASH_FALLOCATE, .path = "here", .path_len = 4, .length = 1, .arg = 0x8},
         -ENOTSUP, "not modelled"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        fresh(state);
        struct fixture *f = *state;
        seed(f, "here", "1", 1);
        log_event(f, &cases[i].ev);
        struct fl_err err = {{0}};
        assert_int_equal(fl_crashlog_from_buffer(&f->cl, f->log, f->log_len, &err), 0);
        assert_int_equal(
            fl_crashfs_open(&f->fs, f->snap, &f->cl, FL_CRASH_MODEL_POSIX, NULL, &err),
            cases[i].rc);
        assert_null(f->fs);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("case %zu: %s", i, err.msg);
        assert_non_null(strstr(err.msg, "event 0 (log offset 32"));
    }
}

static void test_deterministic_and_capped(void **state)
{
    fresh(state);
    struct fixture *f = *state;
    char buf[9000];
    memset(buf, 'q', sizeof(buf));
    for (int i = 0; i < 16; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%02d", i);
        int fd = rec_open(f, name, O_WRONLY | O_CREAT, 0644);
        rec_write(f, fd, buf, sizeof(buf));
        rec_write(f, fd, buf, 100);
        rec_fd_op(f, fd, FL_CRASH_CLOSE);
    }
    struct fl_err err = {{0}};
    assert_int_equal(fl_crashlog_from_buffer(&f->cl, f->log, f->log_len, &err), 0);
    struct fl_crashfs_limits lim;
    fl_crashfs_default_limits(&lim);
    size_t n = 0;
    char labels[2][64][192];
    uint64_t digests[2][64];
    for (int run = 0; run < 2; run++) {
        struct fl_crashfs *fs;
        assert_int_equal(fl_crashfs_open(&fs, f->snap, &f->cl, FL_CRASH_MODEL_POSIX, &lim, &err),
                         0);
        struct fl_crash_states *set;
        assert_int_equal(fl_crashfs_states(fs, fl_crashfs_event_count(fs), &set, &err), 0);
        n = fl_crash_states_count(set);
        /* 16 files, each with a pending create and 2 pending writes: all-lost, none-lost, and
         * per file data-lost, op-lost, torn, op-lost+data-lost and one prefix, 81 distinct
         * candidates (op-lost+data-lost of the first create is all-lost again) */
        assert_int_equal(n, 64);
        assert_true(fl_crash_states_skipped(set) > 0);
        assert_string_equal(fl_crash_state_label(fl_crash_states_get(set, 0)), "all-lost");
        assert_string_equal(fl_crash_state_label(fl_crash_states_get(set, 1)), "none-lost");
        assert_string_equal(fl_crash_state_label(fl_crash_states_get(set, 2)), "data-lost:f00");
        for (size_t i = 0; i < n; i++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, i);
            snprintf(labels[run][i], sizeof(labels[run][i]), "%s", fl_crash_state_label(st));
            assert_int_equal(fl_crashfs_digest(fs, st, &digests[run][i]), 0);
            for (size_t k = 0; k < i; k++)
                assert_string_not_equal(labels[run][k], labels[run][i]);
        }
        fl_crash_states_free(set);
        fl_crashfs_free(fs);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(labels[0][i], labels[1][i]);
        assert_true(digests[0][i] == digests[1][i]);
    }
    /* a smaller cap keeps the most informative states, in the same order */
    lim.max_states = 5;
    struct fl_crashfs *fs;
    assert_int_equal(fl_crashfs_open(&fs, f->snap, &f->cl, FL_CRASH_MODEL_POSIX, &lim, &err), 0);
    struct fl_crash_states *set;
    assert_int_equal(fl_crashfs_states(fs, fl_crashfs_event_count(fs), &set, &err), 0);
    assert_int_equal(fl_crash_states_count(set), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(fl_crash_state_label(fl_crash_states_get(set, i)), labels[0][i]);
    fl_crash_states_free(set);
    fl_crashfs_free(fs);
}

static void test_model_names(void **state)
{
    (void)state;
    enum fl_crash_model m;
    assert_int_equal(fl_crash_model_parse("posix", &m), 0);
    assert_int_equal(m, FL_CRASH_MODEL_POSIX);
    assert_int_equal(fl_crash_model_parse("ext4-ordered", &m), 0);
    assert_int_equal(m, FL_CRASH_MODEL_EXT4_ORDERED);
    assert_int_equal(fl_crash_model_parse("ext4", &m), -EINVAL);
    assert_string_equal(fl_crash_model_name(FL_CRASH_MODEL_EXT4_ORDERED), "ext4-ordered");
    assert_string_equal(fl_crash_pattern_name(FL_CRASH_PATTERN_MISSING_DIR_FSYNC),
                        "missing-dir-fsync");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_names),
        cmocka_unit_test_setup_teardown(test_checks_reject_bad_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_fidelity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_catches_a_missed_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_write_without_its_data_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_that_does_not_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_place_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_without_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_after_fsync_without_dir_fsync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_correct_protocol_never_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_models_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lossy_states_exist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_and_capped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
