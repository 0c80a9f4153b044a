/* SPDX-License-Identifier: MIT */
/*
 * crashlog.c - the reader half of the crash event log (see crashlog.h): map the file, check
 * the header, and walk the records checking every length against what is left of the file
 * before trusting it. The log comes from a process we were testing, possibly killed mid-append
 * or out of disk, so nothing in it is believed until checked, and every refusal names the
 * byte offset of the record at fault.
 */
#include "crashlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int check_header(struct fl_crashlog *log, struct fl_err *err)
{
    const unsigned char *p = log->base;
    if (log->size < FL_CRASHLOG_HEADER_SIZE)
        return fl_err_set(err, EBADMSG, "offset 0: the log is %zu bytes, shorter than its header",
                          log->size);
    if (memcmp(p, FL_CRASHLOG_MAGIC, 8) != 0)
        return fl_err_set(err, EBADMSG, "offset 0: not a faultline crash log (bad magic)");
    uint32_t version = get32(p + 8);
    if (version != FL_CRASHLOG_VERSION)
        return fl_err_set(err, EBADMSG, "offset 8: log version %" PRIu32 ", this build reads %u",
                          version, FL_CRASHLOG_VERSION);
    if (get32(p + 12) != FL_CRASHLOG_HEADER_SIZE || get32(p + 16) != FL_CRASHLOG_RECORD_HEADER_SIZE)
        return fl_err_set(err, EBADMSG, "offset 12: unexpected header sizes %" PRIu32 "/%" PRIu32,
                          get32(p + 12), get32(p + 16));
    uint32_t page = get32(p + 20);
    /* tearing happens at this granularity: a power of two between a sector and 1 MiB */
    if (page < 512 || page > (1u << 20) || (page & (page - 1)))
        return fl_err_set(err, EBADMSG, "offset 20: page size %" PRIu32 " is not a power of two "
                          "between 512 and 1 MiB", page);
    log->version = version;
    log->page_size = page;
    return 0;
}

int fl_crashlog_from_buffer(struct fl_crashlog *log, const void *buf, size_t len,
                            struct fl_err *err)
{
    memset(log, 0, sizeof(*log));
    log->base = buf;
    log->size = len;
    if (!buf && len)
        return fl_err_set(err, EINVAL, "no buffer");
    return check_header(log, err);
}

int fl_crashlog_open(struct fl_crashlog *log, const char *path, struct fl_err *err)
{
    memset(log, 0, sizeof(*log));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fl_err_set(err, e, "%s: fstat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fl_err_set(err, EINVAL, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < FL_CRASHLOG_HEADER_SIZE) {
        close(fd);
        return fl_err_set(err, EBADMSG, "%s: offset 0: the log is %jd bytes, shorter than its "
                          "header", path, (intmax_t)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return fl_err_set(err, EFBIG, "%s: too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    /* MAP_PRIVATE + PROT_READ: a recorder still appending cannot change what we already
     * checked, except the tail beyond st_size, which we never look at */
    void *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (base == MAP_FAILED)
        return fl_err_set(err, e, "%s: mmap: %s", path, strerror(e));
    log->base = base;
    log->size = size;
    log->mapped = size;
    int rc = check_header(log, err);
    if (rc < 0) {
        fl_err_prefix(err, "%s", path);
        fl_crashlog_close(log);
    }
    return rc;
}

void fl_crashlog_close(struct fl_crashlog *log)
{
    if (log->mapped)
        munmap((void *)log->base, log->mapped);
    memset(log, 0, sizeof(*log));
}

int fl_crashlog_next(const struct fl_crashlog *log, size_t *pos, struct fl_crash_event *ev,
                     struct fl_err *err)
{
    size_t at = *pos < FL_CRASHLOG_HEADER_SIZE ? FL_CRASHLOG_HEADER_SIZE : *pos;
    if (at >= log->size) {
        *pos = at;
        return 0;
    }
    size_t left = log->size - at;
    const unsigned char *p = log->base + at;
    if (left < FL_CRASHLOG_RECORD_HEADER_SIZE)
        return fl_err_set(err, EBADMSG, "offset %zu: truncated record: %zu bytes left, a record "
                          "header is %u", at, left, FL_CRASHLOG_RECORD_HEADER_SIZE);
    uint32_t size = get32(p);
    if (size < FL_CRASHLOG_RECORD_HEADER_SIZE || size > FL_CRASHLOG_RECORD_MAX)
        return fl_err_set(err, EBADMSG, "offset %zu: record size %" PRIu32 " out of range",
                          at, size);
    if (size > left)
        return fl_err_set(err, EBADMSG, "offset %zu: truncated record: size %" PRIu32 ", %zu "
                          "bytes left in the log", at, size, left);
    memset(ev, 0, sizeof(*ev));
    ev->op = get16(p + 4);
    ev->flags = get16(p + 6);
    ev->pid = get32(p + 8);
    ev->path_len = get32(p + 12);
    ev->path2_len = get32(p + 16);
    ev->arg = get32(p + 20);
    ev->dev = get64(p + 24);
    ev->ino = get64(p + 32);
    ev->offset = get64(p + 40);
    ev->length = get64(p + 48);
    ev->log_offset = at;
    /* the path lengths are checked against the record before they are used as pointers */
    uint64_t paths = (uint64_t)ev->path_len + ev->path2_len;
    uint64_t body = size - FL_CRASHLOG_RECORD_HEADER_SIZE;
    if (paths > body)
        return fl_err_set(err, EBADMSG, "offset %zu: path lengths %" PRIu32 "+%" PRIu32 " exceed "
                          "the record (%" PRIu64 " bytes after the header)", at, ev->path_len,
                          ev->path2_len, body);
    const unsigned char *q = p + FL_CRASHLOG_RECORD_HEADER_SIZE;
    ev->path = ev->path_len ? (const char *)q : NULL;
    ev->path2 = ev->path2_len ? (const char *)q + ev->path_len : NULL;
    uint64_t data = body - paths;
    bool carries_data = (ev->op == FL_CRASH_WRITE || ev->op == FL_CRASH_MSYNC) &&
                        !(ev->flags & FL_CRASH_DATA_OMITTED);
    if (carries_data ? data != ev->length : data != 0)
        return fl_err_set(err, EBADMSG, "offset %zu: %s record carries %" PRIu64 " data bytes, "
                          "expected %" PRIu64, at, fl_crash_op_name(ev->op) ?: "unknown", data,
                          carries_data ? ev->length : 0);
    ev->data = data ? q + paths : NULL;
    const char *why = fl_crashlog_event_problem(ev);
    if (why)
        return fl_err_set(err, EBADMSG, "offset %zu: %s record: %s", at,
                          fl_crash_op_name(ev->op) ?: "unknown", why);
    *pos = at + size;
    return 1;
}

const char *fl_crash_op_name(unsigned op)
{
    switch (op) {
#define FL_CRASH_OP_NAME(name, value, text)                                                       \
    case value:                                                                                   \
        return text;
        FL_CRASH_OPS(FL_CRASH_OP_NAME)
#undef FL_CRASH_OP_NAME
    }
    return NULL;
}

int fl_crash_event_format(const struct fl_crash_event *ev, char *buf, size_t len)
{
    const char *name = fl_crash_op_name(ev->op) ?: "?";
    int p = (int)ev->path_len, p2 = (int)ev->path2_len;
    const char *path = ev->path ?: "", *path2 = ev->path2 ?: "";
    /* a file known by identity only (written after it was unlinked): say so, not "" */
    char unnamed[64];
    if (p == 0 && ev->op != FL_CRASH_MARK && ev->op != FL_CRASH_SYNC) {
        p = snprintf(unnamed, sizeof(unnamed), "<unlinked file, inode %" PRIu64 ">", ev->ino);
        path = unnamed;
    }
    switch ((enum fl_crash_op)ev->op) {
    case FL_CRASH_OPEN:
        return snprintf(buf, len, "open(\"%.*s\"%s%s)", p, path,
                        ev->flags & FL_CRASH_OPEN_CREATED ? ", O_CREAT" : "",
                        ev->flags & FL_CRASH_OPEN_TRUNCATED ? ", O_TRUNC" : "");
    case FL_CRASH_WRITE:
    case FL_CRASH_MSYNC:
        return snprintf(buf, len, "%s(\"%.*s\", %" PRIu64 " bytes at %" PRIu64 ")", name, p,
                        path, ev->length, ev->offset);
    case FL_CRASH_TRUNCATE:
        return snprintf(buf, len, "truncate(\"%.*s\", %" PRIu64 ")", p, path, ev->length);
    case FL_CRASH_FALLOCATE:
    case FL_CRASH_SYNC_FILE_RANGE:
        return snprintf(buf, len, "%s(\"%.*s\", %" PRIu64 "+%" PRIu64 ")", name, p, path,
                        ev->offset, ev->length);
    case FL_CRASH_RENAME:
    case FL_CRASH_LINK:
        return snprintf(buf, len, "%s(\"%.*s\", \"%.*s\")%s", name, p, path, p2, path2,
                        ev->flags & FL_CRASH_RENAME_EXCHANGE   ? " [RENAME_EXCHANGE]"
                        : ev->flags & FL_CRASH_RENAME_NOREPLACE ? " [RENAME_NOREPLACE]"
                                                                : "");
    case FL_CRASH_MARK:
        return snprintf(buf, len, "[stdout: %" PRIu64 " bytes printed so far]", ev->length);
    case FL_CRASH_SYNC:
        return snprintf(buf, len, "sync()");
    case FL_CRASH_DIRFSYNC:
        return snprintf(buf, len, "fsync(directory \"%.*s\")", p, path);
    case FL_CRASH_UNTRACKED:
        return snprintf(buf, len, "[untracked (reason %" PRIu32 ") on \"%.*s\"]", ev->arg, p,
                        path);
    case FL_CRASH_FSYNC:
    case FL_CRASH_FDATASYNC:
    case FL_CRASH_UNLINK:
    case FL_CRASH_MKDIR:
    case FL_CRASH_RMDIR:
    case FL_CRASH_CLOSE:
    case FL_CRASH_OP_END:
        break;
    }
    if (path == unnamed)
        return snprintf(buf, len, "%s(%.*s)", name, p, path);
    return snprintf(buf, len, "%s(\"%.*s\")", name, p, path);
}
