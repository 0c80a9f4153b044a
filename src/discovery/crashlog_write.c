/* SPDX-License-Identifier: MIT */
/*
 * crashlog_write.c - the writer half of the crash event log (see crashlog.h): formatting one
 * record into a caller's buffer, the per-op rules both halves share, and canonical relative
 * paths.
 *
 * The preload compiles this file in, so it uses libc only and never allocates: no malloc, no
 * stdio, no fl_err. Everything here is async-signal-safe and reentrant.
 */
#include "crashlog.h"

#include <errno.h>
#include <string.h>

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

size_t fl_crashlog_format_header(void *buf, size_t cap)
{
    if (cap < FL_CRASHLOG_HEADER_SIZE)
        return 0;
    unsigned char *p = buf;
    memset(p, 0, FL_CRASHLOG_HEADER_SIZE);
    memcpy(p, FL_CRASHLOG_MAGIC, 8);
    put32(p + 8, FL_CRASHLOG_VERSION);
    put32(p + 12, FL_CRASHLOG_HEADER_SIZE);
    put32(p + 16, FL_CRASHLOG_RECORD_HEADER_SIZE);
    put32(p + 20, FL_CRASHLOG_PAGE_SIZE);
    return FL_CRASHLOG_HEADER_SIZE;
}

bool fl_crashlog_path_ok(const char *p, size_t len)
{
    if (!p || len == 0 || len > FL_CRASHLOG_PATH_MAX)
        return false;
    if (len == 1 && p[0] == '.')
        return true;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] == '\0')
            return false;
        if (i < len && p[i] != '/')
            continue;
        size_t n = i - start;
        /* empty (leading, trailing or doubled slash), "." and ".." components are not canonical:
         * ".." could also climb out of the directory a state is built in */
        if (n == 0 || (n == 1 && p[start] == '.') ||
            (n == 2 && p[start] == '.' && p[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

static bool has_subject(const struct fl_crash_event *ev)
{
    return ev->path_len > 0 || ev->dev != 0 || ev->ino != 0;
}

static bool is_root(const char *p, uint32_t len)
{
    return len == 1 && p[0] == '.';
}

/* Whether [offset, offset + length) stays within what off_t can address. */
static bool range_ok(uint64_t offset, uint64_t length)
{
    const uint64_t max = (uint64_t)INT64_MAX;
    return offset <= max && length <= max - offset;
}

const char *fl_crashlog_event_problem(const struct fl_crash_event *ev)
{
    if (ev->op == 0 || ev->op >= FL_CRASH_OP_END)
        return "unknown op";
    if (ev->path_len > FL_CRASHLOG_PATH_MAX || ev->path2_len > FL_CRASHLOG_PATH_MAX)
        return "path longer than the log allows";
    if (ev->path_len && !fl_crashlog_path_ok(ev->path, ev->path_len))
        return "path is not canonical and relative to the trial directory";
    if (ev->path2_len && !fl_crashlog_path_ok(ev->path2, ev->path2_len))
        return "second path is not canonical and relative to the trial directory";
    bool two_paths = ev->op == FL_CRASH_RENAME || ev->op == FL_CRASH_LINK;
    if (!two_paths && ev->path2_len)
        return "second path on an op that takes one";
    bool carries_data = ev->op == FL_CRASH_WRITE || ev->op == FL_CRASH_MSYNC;
    if (carries_data && ev->length > FL_CRASHLOG_DATA_MAX)
        return "data longer than one record allows";
    if (carries_data && (ev->flags & ~FL_CRASH_DATA_OMITTED))
        return "unknown write flags";
    if (ev->flags && !carries_data && ev->op != FL_CRASH_OPEN && ev->op != FL_CRASH_RENAME)
        return "flags on an op that has none";

    switch ((enum fl_crash_op)ev->op) {
    case FL_CRASH_OPEN:
        if (!ev->path_len)
            return "open without a path";
        if (ev->flags & ~(FL_CRASH_OPEN_CREATED | FL_CRASH_OPEN_TRUNCATED))
            return "unknown open flags";
        if (ev->arg & ~07777u)
            return "open mode beyond 07777";
        break;
    case FL_CRASH_WRITE:
    case FL_CRASH_MSYNC:
    case FL_CRASH_SYNC_FILE_RANGE:
    case FL_CRASH_FALLOCATE:
        if (!has_subject(ev))
            return "no file identity and no path";
        if (!range_ok(ev->offset, ev->length))
            return "offset + length beyond the largest file offset";
        break;
    case FL_CRASH_TRUNCATE:
        if (!has_subject(ev))
            return "no file identity and no path";
        if (ev->length > (uint64_t)INT64_MAX)
            return "truncate size beyond the largest file offset";
        break;
    case FL_CRASH_FSYNC:
    case FL_CRASH_FDATASYNC:
    case FL_CRASH_CLOSE:
        if (!has_subject(ev))
            return "no file identity and no path";
        break;
    case FL_CRASH_RENAME:
        if (ev->flags & ~(FL_CRASH_RENAME_NOREPLACE | FL_CRASH_RENAME_EXCHANGE))
            return "unknown rename flags";
        if ((ev->flags & FL_CRASH_RENAME_NOREPLACE) && (ev->flags & FL_CRASH_RENAME_EXCHANGE))
            return "rename with both NOREPLACE and EXCHANGE";
        __attribute__((fallthrough));
    case FL_CRASH_LINK:
        if (!ev->path_len || !ev->path2_len)
            return "rename/link needs two paths";
        if (is_root(ev->path, ev->path_len) || is_root(ev->path2, ev->path2_len))
            return "rename/link of the trial directory itself";
        break;
    case FL_CRASH_UNLINK:
    case FL_CRASH_MKDIR:
    case FL_CRASH_RMDIR:
        if (!ev->path_len)
            return "no path";
        if (is_root(ev->path, ev->path_len))
            return "the trial directory itself";
        if (ev->op == FL_CRASH_MKDIR && (ev->arg & ~07777u))
            return "mkdir mode beyond 07777";
        break;
    case FL_CRASH_DIRFSYNC:
        if (!ev->path_len)
            return "directory fsync without a path";
        break;
    case FL_CRASH_SYNC:
    case FL_CRASH_MARK:
        if (ev->path_len)
            return "a path on an op that has none";
        break;
    case FL_CRASH_UNTRACKED:
    case FL_CRASH_OP_END:
        break;
    }
    return NULL;
}

static uint64_t data_len(const struct fl_crash_event *ev)
{
    bool carries_data = ev->op == FL_CRASH_WRITE || ev->op == FL_CRASH_MSYNC;
    return carries_data && !(ev->flags & FL_CRASH_DATA_OMITTED) ? ev->length : 0;
}

size_t fl_crashlog_record_size(const struct fl_crash_event *ev)
{
    if (fl_crashlog_event_problem(ev))
        return 0;
    return FL_CRASHLOG_RECORD_HEADER_SIZE + (size_t)ev->path_len + ev->path2_len +
           (size_t)data_len(ev);
}

size_t fl_crashlog_format_head(void *buf, size_t cap, const struct fl_crash_event *ev)
{
    size_t total = fl_crashlog_record_size(ev);
    size_t head = FL_CRASHLOG_RECORD_HEADER_SIZE + (size_t)ev->path_len + ev->path2_len;
    if (!total || cap < head)
        return 0;
    unsigned char *p = buf;
    put32(p + 0, (uint32_t)total);
    put16(p + 4, ev->op);
    put16(p + 6, ev->flags);
    put32(p + 8, ev->pid);
    put32(p + 12, ev->path_len);
    put32(p + 16, ev->path2_len);
    put32(p + 20, ev->arg);
    put64(p + 24, ev->dev);
    put64(p + 32, ev->ino);
    put64(p + 40, ev->offset);
    put64(p + 48, ev->length);
    p += FL_CRASHLOG_RECORD_HEADER_SIZE;
    if (ev->path_len)
        memcpy(p, ev->path, ev->path_len);
    if (ev->path2_len)
        memcpy(p + ev->path_len, ev->path2, ev->path2_len);
    return head;
}

size_t fl_crashlog_format(void *buf, size_t cap, const struct fl_crash_event *ev)
{
    size_t total = fl_crashlog_record_size(ev);
    if (!total || cap < total)
        return 0;
    size_t head = fl_crashlog_format_head(buf, cap, ev);
    if (!head)
        return 0;
    size_t n = total - head;
    if (n) {
        if (!ev->data)
            return 0;
        memcpy((unsigned char *)buf + head, ev->data, n);
    }
    return total;
}

/* Normalise the absolute path in into out ("" stands for "/"): components "" and "." dropped,
 * ".." removes the previous one. Returns the length, or -ENAMETOOLONG. */
static int normalise(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - c);
        if (len == 0 || (len == 1 && c[0] == '.'))
            continue;
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the slash before the removed component */
            continue;
        }
        if (n + 1 + len + 1 > cap)
            return -ENAMETOOLONG;
        out[n++] = '/';
        memcpy(out + n, c, len);
        n += len;
    }
    if (n + 1 > cap)
        return -ENAMETOOLONG;
    out[n] = '\0';
    return (int)n;
}

int fl_crashlog_relpath(const char *root, const char *path, char *out, size_t cap)
{
    if (!root || !path || root[0] != '/' || path[0] != '/' || cap < 2)
        return -EINVAL;
    int n = normalise(path, out, cap);
    if (n < 0)
        return n;
    /* root is compared as given, minus trailing slashes: the caller canonicalised it once
     * (realpath) rather than on every call */
    size_t rlen = strlen(root);
    while (rlen > 0 && root[rlen - 1] == '/')
        rlen--;
    if ((size_t)n < rlen || memcmp(out, root, rlen) != 0 ||
        (out[rlen] != '\0' && out[rlen] != '/'))
        return -EXDEV;
    const char *rest = out + rlen;
    if (*rest == '/')
        rest++;
    if (*rest == '\0') {
        out[0] = '.';
        out[1] = '\0';
        return 1;
    }
    size_t len = strlen(rest);
    memmove(out, rest, len + 1);
    return (int)len;
}
