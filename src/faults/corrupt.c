/* SPDX-License-Identifier: MIT */
/*
 * faults/corrupt.c - the `corrupt` kind: damage a file the ways SD cards, power cuts and
 * careless operators do, after saving every byte and every piece of metadata it will change.
 *
 * Why a kind of its own: programs that keep state in files (JSON settings, SQLite schedules)
 * must be tried against damaged state, and the damage must be exactly undoable, or nobody will
 * run the experiment on a machine they care about.
 *
 * Params (one JSON object, the same from `faultline corrupt` flags or an experiment step):
 *   {"path": absolute path, "mode": see corrupt_modes[], "seed": N,
 *    optional "keep", "size", "offset", "range" (size strings or integers), "count", "page",
 *    "frame" (integers), "hex", "part", "table" (strings)}
 * An option that does not apply to the mode is refused, so a typo cannot pass silently.
 *
 * Protocol (fault.h): prepare validates everything against the file as it is now, decides
 * the plan ("detail": bytes to keep, the byte range, the SQLite page...) and copies every
 * file it will touch into ctx->backup_dir (content, then mode, owner, atime/mtime in ns,
 * inode, or the fact that the file did not exist), fsync'd. apply follows the plan in place
 * (no rename: a device damages the file it has, not a new one) and fsyncs. revert writes the
 * saved bytes back into the same inode when the path is still a regular file, recreates it
 * otherwise, removes files that did not exist, and puts back owner, mode and times.
 *
 * Invariants:
 *  (1) Nothing is harmed before every backup is on disk (fsync of each copy and the directory).
 *  (2) A missing backup copy means a revert already finished (backups are removed only after
 *      a successful revert), so revert skips it: restoring twice is harmless.
 *  (3) revert never removes anything it did not create: a directory in place of the file is
 *      removed only if empty, a symlink or device in place of the file is an error.
 *  (4) ctime cannot be set from user space; it is the one thing a restore changes.
 * The SQLite-aware modes live in corrupt_sqlite.c; they add files to touch and a plan.
 *
 * Divisions: modes and params; I/O helpers; backup and restore of one file; the generic
 * content modes (bitflip, zero, valid-then-corrupt); prepare (validate, plan, save); apply,
 * revert and describe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corrupt.h"
#include "fault.h"
#include "prng.h"
#include "units.h"

/* Biggest file (sum of files) faultline backs up: a backup doubles the space taken, and a
 * corruption experiment on a multi-gigabyte file is better done on a copy. */
#define CORRUPT_BACKUP_CAP (UINT64_C(1) << 30)
#define CORRUPT_MAX_COUNT 65536        /* bit flips, damaged values or lines */
#define CORRUPT_MAX_HEX 4096           /* bytes of --hex */
#define CORRUPT_MAX_TARGETS (1u << 20) /* values or lines valid-then-corrupt chooses among */
#define CORRUPT_DEFAULT_APPEND 4096    /* one torn block at the end */

enum {
    OPT_KEEP = 1 << 0,
    OPT_SIZE = 1 << 1,
    OPT_COUNT = 1 << 2,
    OPT_RANGE = 1 << 3,
    OPT_OFFSET = 1 << 4,
    OPT_HEX = 1 << 5,
    OPT_PART = 1 << 6,
    OPT_TABLE = 1 << 7,
    OPT_PAGE = 1 << 8,
    OPT_FRAME = 1 << 9,
};

static const struct {
    unsigned bit;    /* OPT_* */
    const char *key; /* the params key, and the flag without its -- */
} corrupt_opts[] = {
    {OPT_KEEP, "keep"},     {OPT_SIZE, "size"},   {OPT_COUNT, "count"}, {OPT_RANGE, "range"},
    {OPT_OFFSET, "offset"}, {OPT_HEX, "hex"},     {OPT_PART, "part"},   {OPT_TABLE, "table"},
    {OPT_PAGE, "page"},     {OPT_FRAME, "frame"},
};

enum corrupt_class { CLASS_CONTENT, CLASS_ACCESS, CLASS_SQLITE };

static const struct corrupt_mode {
    const char *name;       /* --mode */
    enum corrupt_class cls; /* which apply path and which planner */
    unsigned opts;          /* OPT_* that apply */
} corrupt_modes[] = {
    {"truncate", CLASS_CONTENT, OPT_KEEP},
    {"empty", CLASS_CONTENT, 0},
    {"garbage", CLASS_CONTENT, OPT_SIZE},
    {"bitflip", CLASS_CONTENT, OPT_COUNT | OPT_RANGE},
    {"zero", CLASS_CONTENT, OPT_RANGE},
    {"overwrite", CLASS_CONTENT, OPT_OFFSET | OPT_HEX},
    {"append-garbage", CLASS_CONTENT, OPT_SIZE},
    {"valid-then-corrupt", CLASS_CONTENT, OPT_COUNT},
    {"sqlite-header", CLASS_SQLITE, OPT_PART},
    {"sqlite-page", CLASS_SQLITE, OPT_TABLE | OPT_PAGE},
    {"sqlite-wal", CLASS_SQLITE, OPT_PART | OPT_FRAME},
    {"sqlite-journal", CLASS_SQLITE, OPT_TABLE | OPT_PAGE},
    {"readonly", CLASS_ACCESS, 0},
    {"unreadable", CLASS_ACCESS, 0},
    {"delete", CLASS_ACCESS, 0},
    {"replace-with-dir", CLASS_ACCESS, 0},
};

#define MODE_LIST                                                                              \
    "truncate, empty, garbage, bitflip, zero, overwrite, append-garbage, valid-then-corrupt, " \
    "sqlite-header, sqlite-page, sqlite-wal, sqlite-journal, readonly, unreadable, delete, "   \
    "replace-with-dir"

static const struct corrupt_mode *find_mode(const char *name)
{
    for (size_t i = 0; name && i < sizeof(corrupt_modes) / sizeof(corrupt_modes[0]); i++)
        if (!strcmp(corrupt_modes[i].name, name))
            return &corrupt_modes[i];
    return NULL;
}

static uint64_t param_seed(const json_t *params)
{
    return (uint64_t)json_integer_value(json_object_get(params, "seed"));
}

/* A size option given as an integer or a size string ("4KiB", "40%" where allowed). Returns
 * 1 if present, 0 if absent, -errno (with err naming --key) if malformed. */
static int param_size(const json_t *params, const char *key, bool allow_percent, uint64_t *v,
                      bool *is_percent, struct fl_err *err)
{
    json_t *j = json_object_get(params, key);
    if (is_percent)
        *is_percent = false;
    if (!j)
        return 0;
    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *v = (uint64_t)json_integer_value(j);
        return 1;
    }
    struct fl_err e = {""};
    if (!json_is_string(j) || fl_parse_size(json_string_value(j), allow_percent, v, is_percent,
                                            &e) < 0)
        return fl_err_set(err, EINVAL, "--%s: %s", key,
                          e.msg[0] ? e.msg : "expected a size like 512 or 4KiB");
    return 1;
}

/* "START:END" with sizes, END exclusive; either side may be empty (0 and the file's end). */
static int parse_range(const json_t *params, uint64_t fsize, uint64_t *start, uint64_t *end,
                       struct fl_err *err)
{
    *start = 0;
    *end = fsize;
    const char *s = json_string_value(json_object_get(params, "range"));
    if (!json_object_get(params, "range"))
        return 0;
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon)
        return fl_err_set(err, EINVAL, "--range: '%s' is not a range (expected START:END in "
                                       "bytes, like 0:4KiB or 100:)", s ? s : "");
    char a[64], b[64];
    struct fl_err e = {""};
    snprintf(a, sizeof(a), "%.*s", (int)(colon - s), s);
    snprintf(b, sizeof(b), "%s", colon + 1);
    if ((a[0] && fl_parse_size(a, false, start, NULL, &e) < 0) ||
        (b[0] && fl_parse_size(b, false, end, NULL, &e) < 0))
        return fl_err_set(err, EINVAL, "--range: %s", e.msg);
    if (*start >= *end)
        return fl_err_set(err, EINVAL, "--range %s: START must be below END", s);
    if (*end > fsize)
        return fl_err_set(err, ERANGE, "--range %s: outside the file (%" PRIu64 " bytes)", s,
                          fsize);
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* --hex DEADBEEF (an optional 0x, spaces ignored) into bytes; returns the count or -errno. */
static int parse_hex(const char *s, unsigned char *out, size_t cap, struct fl_err *err)
{
    if (!s)
        return fl_err_set(err, EINVAL, "--hex: needed with --mode overwrite (the bytes to "
                                       "write, like DEADBEEF)");
    const char *p = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? s + 2 : s;
    size_t n = 0;
    int hi = -1;
    for (; *p; p++) {
        if (*p == ' ')
            continue;
        int v = hex_value(*p);
        if (v < 0)
            return fl_err_set(err, EINVAL, "--hex: '%s' is not hexadecimal (expected pairs of "
                                           "0-9a-f, like DEADBEEF)", s);
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n >= cap)
            return fl_err_set(err, EINVAL, "--hex: more than %zu bytes", cap);
        out[n++] = (unsigned char)(hi << 4 | v);
        hi = -1;
    }
    if (hi >= 0 || n == 0)
        return fl_err_set(err, EINVAL, "--hex: '%s' is not whole bytes (expected an even number "
                                       "of hex digits, like DEADBEEF)", s);
    return (int)n;
}

/* ---- I/O helpers --------------------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Reads up to n bytes at off; returns how many (short only at end of file) or -errno. */
static ssize_t pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Copy size bytes from in to out, both from offset 0. */
static int copy_fd(int in, int out, uint64_t size)
{
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t off = 0; off < size && rc == 0;) {
        size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        ssize_t r = pread_all(in, buf, want, off);
        if (r < 0)
            rc = (int)r;
        else if ((size_t)r != want)
            rc = -EIO; /* the source shrank under us */
        else
            rc = pwrite_all(out, buf, want, off);
        off += want;
    }
    free(buf);
    return rc;
}

static int fsync_parent(const char *path)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static struct timespec ns_ts(int64_t ns)
{
    struct timespec t = {ns / 1000000000, ns % 1000000000};
    return t;
}

/* ---- backup and restore of one file ----------------------------------------------------- */

/* Record path's metadata in files[] and copy its bytes to backup_dir/file<idx>. */
int fl_corrupt_open_quietly(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    return fd;
}

static int save_file(const struct fl_fault_ctx *ctx, const char *path, size_t idx, json_t *files,
                     struct fl_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT)
            return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
        if (json_array_append_new(files, json_pack("{s:s, s:b}", "path", path, "existed", 0)) < 0)
            return fl_err_set(err, ENOMEM, "out of memory");
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return fl_err_set(err, EINVAL, "%s: not a regular file (faultline saves and damages "
                                       "regular files only)", path);
    int in = fl_corrupt_open_quietly(path); /* saving must not change what it saves */
    if (in < 0)
        return fl_err_set(err, errno, "%s: cannot read it to save a backup: %s", path,
                          strerror(errno));
    if (fstat(in, &st) < 0) {
        int e = errno;
        close(in);
        return fl_err_set(err, e, "%s: %s", path, strerror(e));
    }
    char name[32], bpath[4300];
    snprintf(name, sizeof(name), "file%zu", idx);
    snprintf(bpath, sizeof(bpath), "%s/%s", ctx->backup_dir, name);
    int out = open(bpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return fl_err_set(err, e, "%s: cannot create backup: %s", bpath, strerror(e));
    }
    int rc = copy_fd(in, out, (uint64_t)st.st_size);
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    close(out);
    close(in);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: cannot save a backup to %s: %s", path, bpath,
                          strerror(-rc));
    json_t *f = json_pack("{s:s, s:b, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:I}", "path", path,
                         "existed", 1, "backup", name, "mode", (int)(st.st_mode & 07777), "uid",
                         (int)st.st_uid, "gid", (int)st.st_gid, "size", (json_int_t)st.st_size,
                         "atime_ns", (json_int_t)ts_ns(st.st_atim), "mtime_ns",
                         (json_int_t)ts_ns(st.st_mtim), "ino", (json_int_t)st.st_ino);
    if (!f || json_array_append_new(files, f) < 0)
        return fl_err_set(err, ENOMEM, "%s: cannot record its metadata", path);
    return 0;
}

static int restore_file(const struct fl_fault_ctx *ctx, const json_t *f, struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    if (!path)
        return fl_err_set(err, EINVAL, "corrupt: undo record without a path");
    struct stat st;
    bool have = lstat(path, &st) == 0;
    if (!have && errno != ENOENT)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (!json_is_true(json_object_get(f, "existed"))) {
        /* it did not exist before: a file we (or SQLite, from our journal) made goes */
        if (!have)
            return 0;
        if (!S_ISREG(st.st_mode))
            return fl_err_set(err, EEXIST, "%s: did not exist before, and is now not a regular "
                                           "file; not touching it", path);
        if (unlink(path) < 0 && errno != ENOENT)
            return fl_err_set(err, errno, "%s: cannot remove: %s", path, strerror(errno));
        fsync_parent(path);
        return 0;
    }
    char bpath[4300];
    snprintf(bpath, sizeof(bpath), "%s/%s", ctx->backup_dir,
             json_string_value(json_object_get(f, "backup")));
    int in = open(bpath, O_RDONLY | O_CLOEXEC);
    if (in < 0 && errno == ENOENT)
        return 0; /* invariant (2): an earlier revert finished and removed the backups */
    if (in < 0)
        return fl_err_set(err, errno, "%s: cannot read backup %s: %s", path, bpath,
                          strerror(errno));
    int rc = 0, fd = -1;
    if (have && S_ISDIR(st.st_mode)) {
        /* replace-with-dir made it; anything put inside since is not ours to delete */
        if (rmdir(path) < 0) {
            rc = errno == ENOTEMPTY || errno == EEXIST
                     ? fl_err_set(err, ENOTEMPTY, "%s: the directory in place of the file is "
                                                  "not empty; move its contents away, then "
                                                  "restore again", path)
                     : fl_err_set(err, errno, "%s: cannot remove directory: %s", path,
                                  strerror(errno));
            goto out;
        }
        have = false;
    } else if (have && !S_ISREG(st.st_mode)) {
        rc = fl_err_set(err, EEXIST, "%s: is no longer a regular file (a symlink or device is "
                                     "there); not touching it: remove it, then restore again",
                        path);
        goto out;
    }
    if (have) {
        fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && chmod(path, S_IRUSR | S_IWUSR) == 0)
            fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC); /* readonly/unreadable */
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        rc = fl_err_set(err, errno, "%s: cannot open to restore: %s", path, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
    uid_t uid = (uid_t)json_integer_value(json_object_get(f, "uid"));
    gid_t gid = (gid_t)json_integer_value(json_object_get(f, "gid"));
    struct timespec times[2] = {
        ns_ts(json_integer_value(json_object_get(f, "atime_ns"))),
        ns_ts(json_integer_value(json_object_get(f, "mtime_ns"))),
    };
    struct stat now;
    const char *step = "write";
    rc = copy_fd(in, fd, size);
    if (rc == 0 && (step = "truncate", ftruncate(fd, (off_t)size) < 0))
        rc = -errno;
    /* owner before mode: chown clears set-id bits that the mode then puts back */
    if (rc == 0 && fstat(fd, &now) == 0 && (now.st_uid != uid || now.st_gid != gid) &&
        (step = "chown", fchown(fd, uid, gid) < 0))
        rc = -errno;
    if (rc == 0 && (step = "chmod", fchmod(fd, (mode_t)json_integer_value(
                                                   json_object_get(f, "mode"))) < 0))
        rc = -errno;
    if (rc == 0 && (step = "fsync", fsync(fd) < 0))
        rc = -errno;
    /* times last: every write above moves mtime */
    if (rc == 0 && (step = "set times", futimens(fd, times) < 0))
        rc = -errno;
    if (rc < 0)
        fl_err_set(err, -rc, "%s: cannot restore (%s): %s", path, step, strerror(-rc));
    close(fd);
    if (rc == 0 && !have)
        fsync_parent(path);
out:
    close(in);
    return rc;
}

static int revert_files(const struct fl_fault_ctx *ctx, const json_t *undo, struct fl_err *err)
{
    json_t *files = json_object_get(undo, "files");
    size_t i;
    json_t *f;
    int first = 0;
    struct fl_err e = {""};
    /* every file is tried, so one that cannot be restored does not keep the others broken */
    json_array_foreach(files, i, f) {
        int rc = restore_file(ctx, f, &e);
        if (rc < 0 && first == 0) {
            first = rc;
            if (err)
                *err = e;
        }
    }
    return first;
}

/* ---- the generic content modes ---------------------------------------------------------- */

static uint64_t detail_u64(const json_t *detail, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(detail, key));
}

static void random_bytes(struct fl_prng *p, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = fl_prng_next(p);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            buf[i + k] = (unsigned char)(r >> (8 * k));
    }
}

/* Write n seeded random bytes from off. */
static int write_garbage(int fd, struct fl_prng *p, uint64_t off, uint64_t n)
{
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    while (n > 0 && rc == 0) {
        size_t k = n < CHUNK ? (size_t)n : CHUNK;
        random_bytes(p, buf, k);
        rc = pwrite_all(fd, buf, k, off);
        off += k;
        n -= k;
    }
    free(buf);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* count distinct bit positions in [0, nbits), drawn in a fixed order from p, sorted. */
static uint64_t *pick_bits(struct fl_prng *p, uint64_t nbits, size_t count)
{
    uint64_t *pos = malloc(count * sizeof(*pos));
    if (!pos)
        return NULL;
    size_t n = 0;
    while (n < count) {
        while (n < count)
            pos[n++] = fl_prng_below(p, nbits);
        qsort(pos, n, sizeof(*pos), cmp_u64);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || pos[u - 1] != pos[i])
                pos[u++] = pos[i];
        n = u; /* a flipped-twice bit would be no flip at all: draw again */
    }
    return pos;
}

static int apply_bitflip(int fd, struct fl_prng *p, const json_t *detail)
{
    uint64_t start = detail_u64(detail, "start"), end = detail_u64(detail, "end");
    size_t count = (size_t)detail_u64(detail, "count");
    uint64_t *pos = pick_bits(p, (end - start) * 8, count);
    if (!pos)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        uint64_t off = start + pos[i] / 8;
        unsigned char b;
        ssize_t r = pread_all(fd, &b, 1, off);
        if (r != 1) {
            rc = r < 0 ? (int)r : -EIO;
            break;
        }
        b ^= (unsigned char)(1u << (pos[i] % 8));
        rc = pwrite_all(fd, &b, 1, off);
    }
    free(pos);
    return rc;
}

static int apply_zero(int fd, const json_t *detail)
{
    uint64_t off = detail_u64(detail, "start"), end = detail_u64(detail, "end");
    static const unsigned char zeros[1 << 14];
    int rc = 0;
    while (off < end && rc == 0) {
        size_t k = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        rc = pwrite_all(fd, zeros, k, off);
        off += k;
    }
    return rc;
}

/*
 * valid-then-corrupt. For a JSON document, change one character of `count` scalar values
 * (not keys) so that the file still parses: a digit becomes another digit (never a leading
 * zero), a letter another letter of the same case. The structure is intact, the data is
 * wrong: what a schema check or range check must catch, and what a "does it parse?" check
 * misses. For any other file, replace up to 4 bytes in the middle of `count` lines with
 * random bytes other than newline, so the line count stays and the damage sits mid-record.
 */
/* Collect the scalar values of a JSON text that are data, not keys: the inside of each
 * string value and each number, as (start, length); the character to change is drawn
 * within the chosen value. */
static size_t json_values(const unsigned char *b, size_t n, size_t *starts, size_t *lens,
                          size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        if (b[i] == '"') {
            size_t s = ++i;
            while (i < n && b[i] != '"')
                i += b[i] == '\\' ? 2 : 1;
            size_t e = i < n ? i : n;
            i++;
            size_t k = i;
            while (k < n && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r'))
                k++;
            if (k < n && b[k] == ':')
                continue; /* a key: renaming it changes structure, not data */
            if (count < cap && e > s) {
                starts[count] = s;
                lens[count++] = e - s;
            }
        } else if (b[i] == '-' || (b[i] >= '0' && b[i] <= '9')) {
            size_t s = i;
            while (i < n && (b[i] == '-' || b[i] == '+' || b[i] == '.' || b[i] == 'e' ||
                             b[i] == 'E' || (b[i] >= '0' && b[i] <= '9')))
                i++;
            if (count < cap) {
                starts[count] = s;
                lens[count++] = i - s;
            }
        } else {
            i++;
        }
    }
    return count;
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

/* Change one character of the value at b[s..s+len) in place; false if it has none usable.
 * Characters right after a backslash are skipped: changing an escape breaks the string. */
static bool damage_value(unsigned char *b, size_t s, size_t len, struct fl_prng *p)
{
    /* a number's letters (1e5) are syntax, not data: only its digits change */
    bool number = s == 0 || b[s - 1] != '"';
    size_t usable[256], nu = 0;
    for (size_t i = 0; i < len && nu < 256; i++) {
        if (b[s + i] == '\\') {
            i += b[s + i + 1] == 'u' ? 5 : 1; /* \uXXXX: its hex digits are syntax too */
            continue;
        }
        if (is_digit(b[s + i]) || (!number && (is_lower(b[s + i]) || is_upper(b[s + i]))))
            usable[nu++] = s + i;
    }
    if (nu == 0)
        return false;
    size_t at = usable[fl_prng_below(p, nu)];
    unsigned char c = b[at];
    if (is_digit(c)) {
        /* a number's first digit followed by more digits must not become 0 ("05" is invalid) */
        bool lead = number && (at == s || b[at - 1] == '-') && at + 1 < s + len &&
                    is_digit(b[at + 1]);
        unsigned lo = lead ? 1 : 0, span = 10 - lo - (c >= '0' + lo ? 1 : 0);
        unsigned d = lo + (unsigned)fl_prng_below(p, span);
        if (d >= (unsigned)(c - '0'))
            d++;
        b[at] = (unsigned char)('0' + d);
    } else {
        unsigned char base = is_lower(c) ? 'a' : 'A';
        unsigned d = (unsigned)fl_prng_below(p, 25);
        if (d >= (unsigned)(c - base))
            d++;
        b[at] = (unsigned char)(base + d);
    }
    return true;
}

static int apply_valid_then_corrupt(int fd, struct fl_prng *p, const json_t *detail)
{
    uint64_t size = detail_u64(detail, "file_size");
    size_t count = (size_t)detail_u64(detail, "count");
    /* at most one target per byte; past 1M targets only the first are candidates */
    size_t cap = size + 1 < CORRUPT_MAX_TARGETS ? (size_t)size + 1 : CORRUPT_MAX_TARGETS, n;
    unsigned char *b = malloc(size + 1);
    size_t *starts = malloc(cap * sizeof(size_t));
    size_t *lens = malloc(cap * sizeof(size_t));
    int rc = 0;
    if (!b || !starts || !lens) {
        rc = -ENOMEM;
        goto out;
    }
    ssize_t r = pread_all(fd, b, size, 0);
    if (r < 0 || (uint64_t)r != size) {
        rc = r < 0 ? (int)r : -EIO;
        goto out;
    }
    unsigned char *orig = malloc(size + 1);
    if (!orig) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(orig, b, size);
    if (json_is_true(json_object_get(detail, "json"))) {
        n = json_values(b, size, starts, lens, cap);
    } else {
        /* lines (split at \n) of at least one byte besides the newline */
        n = 0;
        for (size_t i = 0, s = 0; i <= size && n < cap; i++) {
            if (i == size || b[i] == '\n') {
                if (i > s) {
                    starts[n] = s;
                    lens[n++] = i - s;
                }
                s = i + 1;
            }
        }
    }
    /* choose count distinct targets, in a fixed order from the seed */
    for (size_t done = 0; done < count && n > 0; done++) {
        size_t k = (size_t)fl_prng_below(p, n);
        size_t s = starts[k], len = lens[k];
        starts[k] = starts[n - 1];
        lens[k] = lens[n - 1];
        n--;
        if (json_is_true(json_object_get(detail, "json"))) {
            if (!damage_value(b, s, len, p))
                done--; /* nothing to change in it ("", "-"): pick another */
            continue;
        }
        size_t m = len < 4 ? len : 4, from = s + (len - m) / 2;
        for (size_t i = 0; i < m; i++) {
            unsigned char c;
            do
                c = (unsigned char)fl_prng_below(p, 256);
            while (c == '\n' || c == b[from + i]);
            b[from + i] = c;
        }
    }
    for (size_t i = 0; i < size && rc == 0; i++)
        if (b[i] != orig[i])
            rc = pwrite_all(fd, b + i, 1, i);
    free(orig);
out:
    free(b);
    free(starts);
    free(lens);
    return rc;
}

/* ---- prepare: validate and plan --------------------------------------------------------- */

static int plan_content(const struct corrupt_mode *m, const char *path, const json_t *params,
                        uint64_t fsize, json_t *detail, struct fl_err *err)
{
    uint64_t v = 0, start, end;
    bool pct;
    int rc;
    const char *mode = m->name;
    json_object_set_new(detail, "file_size", json_integer((json_int_t)fsize));
    if (!strcmp(mode, "truncate")) {
        if ((rc = param_size(params, "keep", true, &v, &pct, err)) < 0)
            return rc;
        if (rc == 0) {
            v = 500000; /* half, a torn write's most likely survivor */
            pct = true;
        }
        uint64_t keep = pct ? (uint64_t)((__uint128_t)fsize * v / 1000000) : v;
        if (keep > fsize)
            return fl_err_set(err, ERANGE, "--keep %" PRIu64 ": larger than the file %s (%" PRIu64
                                           " bytes)", v, path, fsize);
        if (keep == fsize)
            return fl_err_set(err, EINVAL, "--keep: keeps all %" PRIu64 " bytes of %s, which "
                                           "would change nothing", fsize, path);
        json_object_set_new(detail, "keep", json_integer((json_int_t)keep));
    } else if (!strcmp(mode, "garbage") || !strcmp(mode, "append-garbage")) {
        if ((rc = param_size(params, "size", false, &v, NULL, err)) < 0)
            return rc;
        if (rc == 0)
            v = !strcmp(mode, "garbage") ? fsize : CORRUPT_DEFAULT_APPEND;
        if (v == 0)
            return fl_err_set(err, EINVAL, "--size: %s", fsize == 0 && rc == 0
                                                           ? "the file is empty; give a size"
                                                           : "expected a size above 0");
        if (v > CORRUPT_BACKUP_CAP)
            return fl_err_set(err, EFBIG, "--size: at most 1GiB");
        json_object_set_new(detail, "size", json_integer((json_int_t)v));
    } else if (!strcmp(mode, "bitflip") || !strcmp(mode, "zero")) {
        if (fsize == 0)
            return fl_err_set(err, EINVAL, "%s: the file is empty; nothing to %s", path,
                              mode[0] == 'b' ? "flip" : "zero");
        if ((rc = parse_range(params, fsize, &start, &end, err)) < 0)
            return rc;
        json_object_set_new(detail, "start", json_integer((json_int_t)start));
        json_object_set_new(detail, "end", json_integer((json_int_t)end));
        if (mode[0] == 'b') {
            json_t *c = json_object_get(params, "count");
            json_int_t n = c ? json_integer_value(c) : 1;
            if ((c && !json_is_integer(c)) || n < 1 || n > CORRUPT_MAX_COUNT)
                return fl_err_set(err, EINVAL, "--count: expected 1 to %d bit flips",
                                  CORRUPT_MAX_COUNT);
            if ((uint64_t)n > (end - start) * 8)
                return fl_err_set(err, EINVAL, "--count %lld: the range holds only %" PRIu64
                                               " bits", (long long)n, (end - start) * 8);
            json_object_set_new(detail, "count", json_integer(n));
        }
    } else if (!strcmp(mode, "overwrite")) {
        unsigned char bytes[CORRUPT_MAX_HEX];
        int n = parse_hex(json_string_value(json_object_get(params, "hex")), bytes,
                          sizeof(bytes), err);
        if (n < 0)
            return n;
        if ((rc = param_size(params, "offset", false, &v, NULL, err)) < 0)
            return rc;
        if (v + (uint64_t)n > fsize)
            return fl_err_set(err, ERANGE, "--offset %" PRIu64 " with %d bytes of --hex: outside "
                                           "the file %s (%" PRIu64 " bytes)", v, n, path, fsize);
        json_object_set_new(detail, "offset", json_integer((json_int_t)v));
    } else if (!strcmp(mode, "empty")) {
        if (fsize == 0)
            return fl_err_set(err, EINVAL, "%s: already empty; nothing to do", path);
    } else if (!strcmp(mode, "valid-then-corrupt")) {
        if (fsize == 0)
            return fl_err_set(err, EINVAL, "%s: the file is empty; nothing to damage", path);
        json_t *c = json_object_get(params, "count");
        json_int_t n = c ? json_integer_value(c) : 1;
        if ((c && !json_is_integer(c)) || n < 1 || n > CORRUPT_MAX_COUNT)
            return fl_err_set(err, EINVAL, "--count: expected 1 to %d values or lines",
                              CORRUPT_MAX_COUNT);
        json_object_set_new(detail, "count", json_integer(n));
        /* the file is read again in apply; here only whether it is JSON, and enough targets */
        int fd = fl_corrupt_open_quietly(path); /* atime is saved after planning */
        unsigned char *b = fd >= 0 ? malloc(fsize) : NULL;
        if (!b) {
            int e = fd < 0 ? errno : ENOMEM;
            if (fd >= 0)
                close(fd);
            return fl_err_set(err, e, "%s: %s", path, strerror(e));
        }
        ssize_t r = pread_all(fd, b, fsize, 0);
        close(fd);
        json_t *doc = r == (ssize_t)fsize ? json_loadb((const char *)b, fsize, 0, NULL) : NULL;
        size_t targets = 0;
        if (doc) {
            size_t *s = malloc(sizeof(size_t) * (size_t)n), *l = malloc(sizeof(size_t) *
                                                                        (size_t)n);
            targets = s && l ? json_values(b, fsize, s, l, (size_t)n) : 0;
            free(s);
            free(l);
        } else {
            for (uint64_t i = 0, st = 0; i <= fsize; i++)
                if (i == fsize || b[i] == '\n') {
                    targets += i > st;
                    st = i + 1;
                }
        }
        free(b);
        json_object_set_new(detail, "json", json_boolean(doc != NULL));
        json_decref(doc);
        if (targets < (size_t)n)
            return fl_err_set(err, EINVAL, "--count %lld: %s has only %zu %s", (long long)n,
                              path, targets, doc ? "values" : "non-empty lines");
    }
    return 0;
}

/* Refuse to damage a file another corruption still holds: its backup is of the original,
 * ours would be of the damage, and restoring them in the wrong order would put the damage
 * back. Entries still preparing (undo null) are matched by their path. */
static int check_not_held(const struct fl_fault_ctx *ctx, const json_t *paths,
                          struct fl_err *err)
{
    struct fl_journal j;
    json_t *entries = NULL;
    if (fl_journal_open(&j, ctx->state_dir, NULL) < 0 || fl_journal_list(&j, &entries, NULL) < 0)
        return 0; /* the journal was just written: if it cannot be read, apply fails anyway */
    int rc = 0;
    size_t i, k, m;
    json_t *e, *p, *f;
    json_array_foreach(entries, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (rc || !id || !strcmp(id, ctx->id) ||
            strcmp(json_string_value(json_object_get(e, "kind")) ?: "", "corrupt"))
            continue;
        json_t *held = json_array();
        json_array_append(held, json_object_get(json_object_get(e, "params"), "path"));
        json_array_foreach(json_object_get(json_object_get(e, "undo"), "files"), k, f)
            json_array_append(held, json_object_get(f, "path"));
        json_array_foreach(paths, k, p) {
            json_array_foreach(held, m, f) {
                if (!rc && json_equal(p, f))
                    rc = fl_err_set(err, EEXIST, "%s: already damaged by %s; restore that "
                                                 "first ('faultline restore %s')",
                                    json_string_value(p), id, id);
            }
        }
        json_decref(held);
    }
    json_decref(entries);
    return rc;
}

static int corrupt_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                           struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const char *mode = json_string_value(json_object_get(params, "mode"));
    if (!path || path[0] != '/')
        return fl_err_set(err, EINVAL, "corrupt: path must be an absolute path to a file");
    const struct corrupt_mode *m = find_mode(mode);
    if (!m)
        return fl_err_set(err, EINVAL, "--mode '%s': unknown mode (expected one of: %s)",
                          mode ? mode : "", MODE_LIST);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)params, key, value) {
        size_t i = 0, n = sizeof(corrupt_opts) / sizeof(corrupt_opts[0]);
        while (i < n && strcmp(corrupt_opts[i].key, key))
            i++;
        if (i < n && !(m->opts & corrupt_opts[i].bit))
            return fl_err_set(err, EINVAL, "--%s does not apply to --mode %s", key, m->name);
        /* an experiment step's typo ("kep: 40%") must not pass as the default */
        if (i == n && strcmp(key, "path") && strcmp(key, "mode") && strcmp(key, "seed"))
            return fl_err_set(err, EINVAL, "corrupt: unknown parameter '%s' (expected path, "
                                           "mode, seed, keep, size, count, range, offset, "
                                           "hex, part, table, page, frame)", key);
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return fl_err_set(err, errno, "%s: %s", path,
                          errno == ENOENT ? "no such file" : strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fl_err_set(err, EISDIR, "%s: is a directory (expected a regular file)", path);
    if (!S_ISREG(st.st_mode))
        return fl_err_set(err, EINVAL, "%s: not a regular file", path);

    json_t *detail = json_object(), *paths = json_array(), *files = json_array();
    *undo = json_pack("{s:o, s:o}", "detail", detail, "files", files);
    if (!*undo || !paths)
        return fl_err_set(err, ENOMEM, "out of memory");
    json_array_append_new(paths, json_string(path));
    int rc = 0;
    if (m->cls == CLASS_CONTENT)
        rc = plan_content(m, path, params, (uint64_t)st.st_size, detail, err);
    else if (m->cls == CLASS_SQLITE)
        rc = fl_corrupt_sqlite_prepare(path, m->name, params, paths, detail, err);
    if (rc == 0)
        rc = check_not_held(ctx, paths, err);
    uint64_t total = 0;
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p) {
        struct stat ps;
        if (rc == 0 && stat(json_string_value(p), &ps) == 0)
            total += (uint64_t)ps.st_size;
    }
    if (rc == 0 && total > CORRUPT_BACKUP_CAP) {
        char sz[32];
        rc = fl_err_set(err, EFBIG, "%s: %s is over the backup cap of 1GiB (faultline saves "
                                    "everything it damages; try a copy of the file)", path,
                        fl_format_size(total, sz, sizeof(sz)));
    }
    if (rc == 0)
        rc = fl_fault_backup_dir(ctx, err);
    json_array_foreach(paths, i, p) {
        if (rc == 0)
            rc = save_file(ctx, json_string_value(p), i, files, err);
    }
    json_decref(paths);
    if (rc == 0) {
        int dfd = open(ctx->backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
            rc = fl_err_set(err, errno, "%s: cannot sync backups: %s", ctx->backup_dir,
                            strerror(errno));
        if (dfd >= 0)
            close(dfd);
    }
    if (rc < 0) {
        json_decref(*undo);
        *undo = NULL;
    }
    return rc;
}

/* ---- apply and revert ------------------------------------------------------------------- */

static int apply_content(const struct corrupt_mode *m, const char *path, const json_t *params,
                         const json_t *detail, struct fl_err *err)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: cannot open for writing: %s", path, strerror(errno));
    struct fl_prng p;
    fl_prng_seed(&p, param_seed(params));
    const char *mode = m->name;
    int rc = 0;
    if (!strcmp(mode, "truncate")) {
        rc = ftruncate(fd, (off_t)detail_u64(detail, "keep")) < 0 ? -errno : 0;
    } else if (!strcmp(mode, "empty")) {
        rc = ftruncate(fd, 0) < 0 ? -errno : 0;
    } else if (!strcmp(mode, "garbage")) {
        uint64_t n = detail_u64(detail, "size");
        rc = write_garbage(fd, &p, 0, n);
        if (rc == 0 && ftruncate(fd, (off_t)n) < 0)
            rc = -errno;
    } else if (!strcmp(mode, "append-garbage")) {
        struct stat st;
        rc = fstat(fd, &st) < 0 ? -errno : write_garbage(fd, &p, (uint64_t)st.st_size,
                                                         detail_u64(detail, "size"));
    } else if (!strcmp(mode, "bitflip")) {
        rc = apply_bitflip(fd, &p, detail);
    } else if (!strcmp(mode, "zero")) {
        rc = apply_zero(fd, detail);
    } else if (!strcmp(mode, "overwrite")) {
        unsigned char bytes[CORRUPT_MAX_HEX];
        int n = parse_hex(json_string_value(json_object_get(params, "hex")), bytes,
                          sizeof(bytes), err);
        rc = n < 0 ? n : pwrite_all(fd, bytes, (size_t)n, detail_u64(detail, "offset"));
    } else if (!strcmp(mode, "valid-then-corrupt")) {
        rc = apply_valid_then_corrupt(fd, &p, detail);
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: %s: %s", path, mode, strerror(-rc));
    return 0;
}

static int apply_access(const struct corrupt_mode *m, const char *path, const json_t *undo,
                        struct fl_err *err)
{
    const json_t *f = json_array_get(json_object_get(undo, "files"), 0);
    mode_t mode = (mode_t)json_integer_value(json_object_get(f, "mode"));
    const char *step = m->name;
    int rc = 0;
    if (!strcmp(m->name, "readonly"))
        rc = chmod(path, mode & ~(mode_t)0222);
    else if (!strcmp(m->name, "unreadable"))
        rc = chmod(path, 0);
    else if (!strcmp(m->name, "delete") || !strcmp(m->name, "replace-with-dir")) {
        rc = unlink(path);
        if (rc == 0 && m->name[0] == 'r')
            rc = mkdir(path, 0755);
        fsync_parent(path);
    }
    return rc < 0 ? fl_err_set(err, errno, "%s: %s: %s", path, step, strerror(errno)) : 0;
}

static int corrupt_revert(const struct fl_fault_ctx *ctx, const json_t *params,
                          const json_t *undo, struct fl_err *err)
{
    return revert_files(ctx, undo, err);
}

static int corrupt_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                         struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    const struct corrupt_mode *m = find_mode(json_string_value(json_object_get(params, "mode")));
    if (!path || !m)
        return fl_err_set(err, EINVAL, "corrupt: params need path and a known mode");
    const json_t *detail = json_object_get(undo, "detail");
    int rc;
    if (m->cls == CLASS_CONTENT)
        rc = apply_content(m, path, params, detail, err);
    else if (m->cls == CLASS_ACCESS)
        rc = apply_access(m, path, undo, err);
    else
        rc = fl_corrupt_sqlite_apply(path, m->name, params, detail, err);
    if (rc < 0) {
        /* the contract: a failed apply leaves nothing behind; the backups are still there */
        struct fl_err ignored;
        revert_files(ctx, undo, &ignored);
    }
    return rc;
}

static void corrupt_describe(const json_t *params, char *buf, size_t len)
{
    const char *mode = json_string_value(json_object_get(params, "mode"));
    const struct corrupt_mode *m = find_mode(mode);
    char opts[400] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof(corrupt_opts) / sizeof(corrupt_opts[0]); i++) {
        json_t *v = json_object_get(params, corrupt_opts[i].key);
        if (!v || n >= sizeof(opts))
            continue;
        if (json_is_string(v))
            n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s %s, ", corrupt_opts[i].key,
                                  json_string_value(v));
        else
            n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s %lld, ", corrupt_opts[i].key,
                                  (long long)json_integer_value(v));
    }
    /* the seed matters only where something is drawn at random */
    if (m && m->cls != CLASS_ACCESS && n < sizeof(opts))
        n += (size_t)snprintf(opts + n, sizeof(opts) - n, "seed %" PRIu64 ", ",
                              param_seed(params));
    if (n >= 2 && n < sizeof(opts))
        opts[n - 2] = '\0';
    snprintf(buf, len, "corrupt %s: %s%s%s%s", json_string_value(json_object_get(params, "path")),
             mode ? mode : "?", opts[0] ? " (" : "", opts, opts[0] ? ")" : "");
}

const struct fl_fault_ops fl_fault_corrupt = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "corrupt",
    .summary = "damage a file or SQLite database in place, saved first (faultline restore)",
    .prepare = corrupt_prepare,
    .apply = corrupt_apply,
    .revert = corrupt_revert,
    .describe = corrupt_describe,
};
