/* SPDX-License-Identifier: MIT */
#include "resilience/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* The directory part and the name part of path, as an fd on the directory and a pointer into
 * path. A path ending in '/' or naming "." or ".." has no file name. */
static int split(const char *path, int *dirfd, const char **name, struct rs_err *err)
{
    if (!path || !*path)
        return rs_fail(err, -EINVAL, "path: empty (expected a file name)");
    size_t n = strlen(path);
    if (n + 32 >= PATH_MAX)
        return rs_fail(err, -ENAMETOOLONG, "path: %zu bytes (at most %d with its suffixes)", n,
                       PATH_MAX - 32);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return rs_fail(err, -EINVAL, "path: %s names no file", path);
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rs_fail(err, -errno, "%s: cannot open the directory: %s", dir, strerror(errno));
    *dirfd = fd;
    *name = base;
    return 0;
}

static void fresh_name(const char *name, const char *tag, int attempt, char *out, size_t cap)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r ^= (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 20 ^
             (uint64_t)attempt;
    snprintf(out, cap, "%s%s%06llx", name, tag, (unsigned long long)(r & 0xffffff));
}

/* A new file "NAME<tag>XXXXXX" (a name no one holds: O_EXCL), its fd; its name in out. */
static int fresh_file(int dirfd, const char *name, const char *tag, mode_t mode, char *out,
                      size_t cap)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        fresh_name(name, tag, attempt, out, cap);
        int fd = openat(dirfd, out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd < 0 ? -errno : fd;
    }
    return -EEXIST;
}

/* A new hard link "NAME<tag>XXXXXX" to name; 0 or -errno. */
static int fresh_link(int dirfd, const char *name, const char *tag, char *out, size_t cap)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        fresh_name(name, tag, attempt, out, cap);
        if (linkat(dirfd, name, dirfd, out, 0) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rs_file_replace(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                    struct rs_err *err)
{
    rs_ok(err);
    if (!data && len)
        return rs_fail(err, -EINVAL, "data: NULL with a length of %zu", len);
    if (flags & ~(unsigned)RS_FILE_KEEP_BACKUP)
        return rs_fail(err, -EINVAL, "flags: 0x%x has unknown bits (expected RS_FILE_*)", flags);
    if (mode & ~(mode_t)07777)
        return rs_fail(err, -EINVAL, "mode: 0%o is not a permission mode", (unsigned)mode);
    int dirfd;
    const char *name;
    int rc = split(path, &dirfd, &name, err);
    if (rc < 0)
        return rc;
    struct stat old;
    bool existed = fstatat(dirfd, name, &old, 0) == 0;
    mode_t want = existed ? old.st_mode & 07777 : mode ? mode : 0644;
    char tmp[PATH_MAX], bak_tmp[PATH_MAX], bak[PATH_MAX];
    int fd = fresh_file(dirfd, name, ".tmp-", want, tmp, sizeof(tmp));
    if (fd < 0) {
        rc = rs_fail(err, fd, "%s: cannot create a temporary file beside it: %s", path,
                     strerror(-fd));
        goto out;
    }
    /* the umask must not narrow an existing file's mode */
    if (fchmod(fd, want) < 0 || (rc = write_all(fd, data, len)) < 0) {
        rc = rc < 0 ? rc : -errno;
        rs_fail(err, rc, "%s: writing the new content: %s", path, strerror(-rc));
        goto drop_tmp;
    }
    if (fsync(fd) < 0) {
        rc = rs_fail(err, -errno, "%s: fsync of the new content failed (%s): it may not be on "
                     "disk, so the old content is kept", path, strerror(errno));
        goto drop_tmp;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = rs_fail(err, -errno, "%s: closing the new content: %s", path, strerror(errno));
        goto drop_tmp;
    }
    fd = -1;
    if ((flags & RS_FILE_KEEP_BACKUP) && existed) {
        /* the old content gets its second name first, so NAME.bak is never missing */
        snprintf(bak, sizeof(bak), "%s.bak", name);
        int b = fresh_link(dirfd, name, ".bak.tmp-", bak_tmp, sizeof(bak_tmp));
        if (b == 0 && renameat(dirfd, bak_tmp, dirfd, bak) < 0) {
            b = -errno;
            unlinkat(dirfd, bak_tmp, 0);
        }
        if (b < 0) {
            rc = rs_fail(err, b, "%s: cannot keep the old content as %s: %s", path, bak,
                         strerror(-b));
            goto drop_tmp;
        }
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        rc = rs_fail(err, -errno, "%s: cannot rename the new content into place: %s", path,
                     strerror(errno));
        goto drop_tmp;
    }
    if (fsync(dirfd) < 0) {
        rc = rs_fail(err, -errno, "%s: the new content is in place but the directory's fsync "
                     "failed (%s): it may not survive a power cut", path, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
drop_tmp:
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
out:
    close(dirfd);
    return rc;
}

/* Read name (in dirfd) into buf; 0 when it fits and validate accepts it. */
static int load_one(int dirfd, const char *name, rs_validate_fn validate, void *ctx,
                    unsigned char *buf, size_t cap, size_t *len, char *why, size_t why_cap)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(why, why_cap, "%s: %s", name, strerror(e));
        return -e;
    }
    size_t got = 0;
    int rc = 0;
    for (;;) {
        if (got == cap) {
            unsigned char probe;
            ssize_t more = read(fd, &probe, 1);
            if (more > 0) {
                snprintf(why, why_cap, "%s: larger than the %zu bytes it may hold", name, cap);
                rc = -EFBIG;
            }
            break;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(why, why_cap, "%s: reading: %s", name, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (rc == 0 && validate && !validate(buf, got, ctx)) {
        snprintf(why, why_cap, "%s: rejected by the validator (%zu bytes)", name, got);
        rc = -EBADMSG;
    }
    if (rc == 0)
        *len = got;
    return rc;
}

int rs_file_load(const char *path, rs_validate_fn validate, void *ctx, void *buf, size_t cap,
                 size_t *len, enum rs_load_source *source, struct rs_err *why)
{
    rs_ok(why);
    if (!buf && cap)
        return rs_fail(why, -EINVAL, "buf: NULL with a capacity of %zu", cap);
    if (!len || !source)
        return rs_fail(why, -EINVAL, "%s: NULL (expected where to say the result)",
                       !len ? "len" : "source");
    int dirfd;
    const char *name;
    int rc = split(path, &dirfd, &name, why);
    if (rc < 0)
        return rc;
    char bak[PATH_MAX], first[200] = "", second[200] = "";
    snprintf(bak, sizeof(bak), "%s.bak", name);
    *len = 0;
    int e1 = load_one(dirfd, name, validate, ctx, buf, cap, len, first, sizeof(first));
    if (e1 == 0) {
        *source = RS_LOAD_PRIMARY;
    } else if (load_one(dirfd, bak, validate, ctx, buf, cap, len, second, sizeof(second)) == 0) {
        *source = RS_LOAD_BACKUP;
        rs_fail(why, e1, "%s; restored from %s", first, bak);
    } else {
        *len = 0;
        *source = RS_LOAD_DEFAULTS;
        rs_fail(why, e1, "%s; %s; starting from defaults", first, second);
    }
    if (why && *source != RS_LOAD_PRIMARY)
        why->code = e1; /* what was wrong, though the call succeeded */
    close(dirfd);
    return 0;
}

const char *rs_load_source_name(enum rs_load_source source)
{
    switch (source) {
    case RS_LOAD_PRIMARY:
        return "primary";
    case RS_LOAD_BACKUP:
        return "backup";
    case RS_LOAD_DEFAULTS:
        return "defaults";
    }
    return "?";
}
