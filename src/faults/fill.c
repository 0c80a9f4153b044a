/* SPDX-License-Identifier: MIT */
/*
 * faults/fill.c - fill the filesystem holding a directory with a balloon file, so writes there
 * fail with ENOSPC, as they do on a full SD card or a log partition nobody rotated.
 *
 * Params: {"dir": "/abs/dir", "leave": "10MiB" | bytes} or {"dir", "until": "99%"}.
 * The balloon is DIR/.faultline-balloon-<journal id>: recognisable by anyone who finds it, and
 * unique, so its path goes into the undo record before it exists and revert removes exactly
 * that file (created O_EXCL, so a file faultline did not make is never adopted). A balloon
 * left half-written by a SIGKILL mid-fill is removed the same way by `faultline recover`.
 *
 * How much to write. "Free" depends on who is asking: ext2/3/4 keep reserved blocks (5% by
 * default) that only root (CAP_SYS_RESOURCE) may use. Running as root, faultline can and does
 * eat into them, so the free space it aims at is f_bfree: --leave 10MiB then means 10MiB left
 * for every writer, root included (non-root writers may see less, or nothing, while the
 * reserve exceeds 10MiB; the report says so). Without root the reserve is out of reach, so it
 * aims at f_bavail, which is what every unprivileged writer sees. tmpfs has no reserve.
 *
 * The fill loop re-reads statvfs before every step and allocates only the difference, so
 * metadata the filesystem spends on the balloon, and space other processes take or give back
 * meanwhile, are accounted for; ENOSPC from the filesystem ends the fill cleanly (that is the
 * goal, reached a little early). fallocate(2) is used where it works (ext4, xfs, btrfs,
 * tmpfs): it reserves blocks at once without writing them. Where it is not supported (ext2,
 * vfat, NFSv3) zero-filled 1MiB chunks are written instead. The file is fsync'd either way,
 * so the space is really taken, not just promised by delayed allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fault.h"
#include "units.h"

#define FILL_PREFIX ".faultline-balloon-"
#define FILL_CHUNK_MAX (UINT64_C(1) << 30)    /* one fallocate step at most */
#define FILL_WRITE_CHUNK (1u << 20)           /* write fallback: zero-filled chunk */

/* What "free" means for this process (see the header): root aims at f_bfree. */
struct fill_space {
    uint64_t capacity;   /* bytes this writer could ever use on the filesystem */
    uint64_t free;       /* bytes this writer may still use */
    uint64_t reserved;   /* blocks kept for root (0 on tmpfs), in bytes */
    uint64_t avail;      /* f_bavail in bytes: what an unprivileged writer may use */
    uint64_t unit;       /* the fragment size: allocations are counted in these */
};

/* Where apply puts its report (written bytes, method, free after) for the CLI: a borrowed
 * object the caller registers, or NULL. The one piece of state this kind keeps, because
 * fault.h gives apply no channel for a result. */


static bool fill_as_root(void) { return geteuid() == 0; }

static int fill_measure(const char *dir, struct fill_space *sp, struct fl_err *err)
{
    struct statvfs v;
    if (statvfs(dir, &v) < 0)
        return fl_err_set(err, errno, "%s: statvfs: %s", dir, strerror(errno));
    uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
    uint64_t blocks = (uint64_t)v.f_blocks * unit, bfree = (uint64_t)v.f_bfree * unit;
    uint64_t bavail = (uint64_t)v.f_bavail * unit;
    sp->reserved = bfree > bavail ? bfree - bavail : 0;
    sp->avail = bavail;
    sp->unit = unit ? unit : 4096;
    if (fill_as_root()) {
        sp->capacity = blocks;
        sp->free = bfree;
    } else {
        /* as df counts it: what is used plus what this user may still use */
        sp->capacity = blocks - sp->reserved;
        sp->free = bavail;
    }
    return 0;
}

/* The bytes to leave free, from params; 0 or -errno with err. */
static int fill_target(const json_t *params, const struct fill_space *sp, uint64_t *leave,
                       struct fl_err *err)
{
    json_t *jl = json_object_get(params, "leave"), *ju = json_object_get(params, "until");
    if (!jl == !ju)
        return fl_err_set(err, EINVAL, "fill: give exactly one of --leave SIZE or --until "
                                       "PERCENT");
    char have[32], cap[32], want[32];
    fl_format_size(sp->free, have, sizeof(have));
    fl_format_size(sp->capacity, cap, sizeof(cap));
    if (jl) {
        uint64_t v = 0;
        if (json_is_integer(jl) && json_integer_value(jl) >= 0) {
            v = (uint64_t)json_integer_value(jl);
        } else if (!json_is_string(jl) ||
                   fl_parse_size(json_string_value(jl), false, &v, NULL, err) < 0) {
            if (!json_is_string(jl))
                fl_err_set(err, EINVAL, "'leave' must be a size like 10MiB");
            fl_err_prefix(err, "fill: --leave");
            return -EINVAL;
        }
        fl_format_size(v, want, sizeof(want));
        if (v > sp->capacity)
            return fl_err_set(err, EFBIG, "fill: --leave %s is more than the whole filesystem "
                                          "(%s)", want, cap);
        if (sp->free <= v)
            return fl_err_set(err, ERANGE, "fill: only %s is free already, not more than "
                                           "--leave %s: nothing to fill", have, want);
        *leave = v;
        return 0;
    }
    uint64_t ppm;
    bool pct = false;
    if (!json_is_string(ju) || fl_parse_size(json_string_value(ju), true, &ppm, &pct, err) < 0 ||
        !pct) {
        if (!pct || !json_is_string(ju))
            fl_err_set(err, EINVAL, "expected a share of the filesystem like 99%%");
        fl_err_prefix(err, "fill: --until");
        return -EINVAL;
    }
    if (ppm == 0)
        return fl_err_set(err, EINVAL, "fill: --until must be above 0%%");
    uint64_t used = sp->capacity - sp->free;
    uint64_t leave_v = (uint64_t)((__uint128_t)sp->capacity * (1000000 - ppm) / 1000000);
    if (sp->free <= leave_v) {
        double now = sp->capacity ? 100.0 * (double)used / (double)sp->capacity : 100.0;
        return fl_err_set(err, ERANGE, "fill: the filesystem is %.1f%% used already, not below "
                                       "--until %s: nothing to fill", now,
                          json_string_value(ju));
    }
    *leave = leave_v;
    return 0;
}

static int fill_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                        struct fl_err *err)
{
    const char *dir = json_string_value(json_object_get(params, "dir"));
    if (!dir || dir[0] != '/')
        return fl_err_set(err, EINVAL, "fill: 'dir' must be an absolute path");
    struct stat st;
    if (stat(dir, &st) < 0)
        return fl_err_set(err, errno, "fill: %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fl_err_set(err, ENOTDIR, "fill: %s is not a directory (give the directory "
                                        "whose filesystem to fill)", dir);
    if (access(dir, W_OK) < 0)
        return fl_err_set(err, errno, "fill: %s: cannot create the balloon there: %s", dir,
                          strerror(errno));
    struct fill_space sp;
    int rc = fill_measure(dir, &sp, err);
    if (rc < 0)
        return rc;
    if (sp.capacity == 0)
        return fl_err_set(err, ENOTSUP, "fill: %s: the filesystem reports no size (ramfs, "
                                        "procfs?): it cannot be filled", dir);
    uint64_t leave = 0;
    if ((rc = fill_target(params, &sp, &leave, err)) < 0)
        return rc;
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s%s" FILL_PREFIX "%s", dir,
                         dir[strlen(dir) - 1] == '/' ? "" : "/", ctx->id) >= sizeof(path))
        return fl_err_set(err, ENAMETOOLONG, "fill: %s: path too long", dir);
    *undo = json_pack("{s:s, s:I}", "balloon", path, "leave", (json_int_t)leave);
    return *undo ? 0 : fl_err_set(err, ENOMEM, "out of memory");
}

/* A stop signal is pending (hold blocks them during apply): stop filling early, the hold
 * reverts at once anyway. */
static bool fill_interrupted(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) ||
                                         sigismember(&pending, SIGTERM) ||
                                         sigismember(&pending, SIGHUP));
}

/* Write zero-filled chunks at off until want more bytes are written or ENOSPC. */
static int fill_write(int fd, uint64_t *off, uint64_t want, struct fl_err *err)
{
    static const char zero[FILL_WRITE_CHUNK];
    uint64_t end = *off + want;
    while (*off < end && !fill_interrupted()) {
        size_t n = end - *off < sizeof(zero) ? (size_t)(end - *off) : sizeof(zero);
        ssize_t w = pwrite(fd, zero, n, (off_t)*off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == ENOSPC || errno == EDQUOT))
            return 1; /* full: the goal, reached a little early */
        if (w < 0)
            return fl_err_set(err, errno, "fill: write: %s", strerror(errno));
        *off += (uint64_t)w;
    }
    return 0;
}

static int fill_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                      struct fl_err *err)
{
    const char *dir = json_string_value(json_object_get(params, "dir"));
    const char *path = json_string_value(json_object_get(undo, "balloon"));
    uint64_t leave = (uint64_t)json_integer_value(json_object_get(undo, "leave"));
    if (!dir || !path)
        return fl_err_set(err, EINVAL, "fill: params need dir, undo a balloon");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fl_err_set(err, errno, "fill: %s: cannot create balloon: %s", path,
                          strerror(errno));
    struct fill_space sp;
    uint64_t off = 0, reserved = 0;
    const char *method = "fallocate";
    bool full = false;
    int rc = 0;
    /* Each pass allocates what is still free beyond `leave`; a pass that gains nothing (a
     * filesystem that accounts lazily) ends it, so the loop always stops. */
    for (int pass = 0; pass < 64 && !fill_interrupted(); pass++) {
        if ((rc = fill_measure(dir, &sp, err)) < 0)
            goto fail;
        /* f_bfree - f_bavail is the reserve only until f_bavail reaches 0: keep the first */
        if (pass == 0)
            reserved = sp.reserved;
        uint64_t unit = sp.unit, want = sp.free > leave ? sp.free - leave : 0;
        want -= want % unit;
        if (want == 0)
            break;
        uint64_t before = sp.free;
        if (strcmp(method, "fallocate") == 0) {
            uint64_t step = want < FILL_CHUNK_MAX ? want : FILL_CHUNK_MAX;
            while (fallocate(fd, 0, (off_t)off, (off_t)step) < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EOPNOTSUPP || errno == ENOSYS) {
                    method = "write";
                    step = 0;
                    break;
                }
                if (errno != ENOSPC && errno != EDQUOT) {
                    rc = fl_err_set(err, errno, "fill: fallocate %s: %s", path,
                                    strerror(errno));
                    goto fail;
                }
                /* ENOSPC for the whole step (metadata, or someone else wrote): smaller */
                step = step / 2 - step / 2 % unit;
                if (step < unit) {
                    full = true;
                    break;
                }
            }
            off += step;
        }
        if (strcmp(method, "write") == 0) {
            if ((rc = fill_write(fd, &off, want, err)) < 0)
                goto fail;
            full = rc == 1;
            rc = 0;
            if (fsync(fd) < 0 && errno != ENOSPC) {
                rc = fl_err_set(err, errno, "fill: fsync %s: %s", path, strerror(errno));
                goto fail;
            }
        }
        if (full)
            break;
        if (fill_measure(dir, &sp, err) == 0 && sp.free >= before)
            break;
    }
    /* fsync may itself fail with ENOSPC where writes were only reserved: what was written
     * stays, and the filesystem is full, which is the point */
    if (fsync(fd) < 0 && errno != ENOSPC && errno != EINVAL) {
        rc = fl_err_set(err, errno, "fill: fsync %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        st.st_blocks = 0;
    close(fd);
    if (fill_measure(dir, &sp, err) < 0)
        sp.free = sp.avail = 0;
    json_t *report = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b}", "balloon", path, "method", method,
        "written", (json_int_t)((uint64_t)st.st_blocks * 512), "left", (json_int_t)sp.free,
        "left_unprivileged", (json_int_t)sp.avail, "reserved", (json_int_t)reserved, "as_root",
        fill_as_root(), "interrupted", fill_interrupted());
    if (ctx->report && report)
        json_object_update(ctx->report, report);
    json_decref(report);
    return 0;
fail:
    close(fd);
    unlink(path);
    return rc;
}

static int fill_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                       struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(undo, "balloon"));
    const char *base = path ? strrchr(path, '/') : NULL;
    /* only ever a file of our own naming: an undo record edited by hand cannot make
     * revert delete something else */
    if (!base || strncmp(base + 1, FILL_PREFIX, strlen(FILL_PREFIX)) != 0)
        return fl_err_set(err, EINVAL, "fill: undo names no balloon");
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return 0; /* not the file apply creates (O_EXCL regular file): not ours */
    if (unlink(path) < 0 && errno != ENOENT)
        return fl_err_set(err, errno, "%s: cannot remove balloon: %s", path, strerror(errno));
    return 0;
}

static void fill_describe(const json_t *params, char *buf, size_t len)
{
    const char *dir = json_string_value(json_object_get(params, "dir"));
    json_t *jl = json_object_get(params, "leave");
    char size[32];
    if (json_is_integer(jl))
        snprintf(buf, len, "fill %s, leaving %s free", dir ? dir : "?",
                 fl_format_size((uint64_t)json_integer_value(jl), size, sizeof(size)));
    else if (json_is_string(jl))
        snprintf(buf, len, "fill %s, leaving %s free", dir ? dir : "?", json_string_value(jl));
    else
        snprintf(buf, len, "fill %s until %s used", dir ? dir : "?",
                 json_string_value(json_object_get(params, "until")) ?: "?");
}

const struct fl_fault_ops fl_fault_fill = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "fill",
    .summary = "fill a filesystem with a balloon file so writes fail with ENOSPC",
    .prepare = fill_prepare,
    .apply = fill_apply,
    .revert = fill_revert,
    .describe = fill_describe,
};
