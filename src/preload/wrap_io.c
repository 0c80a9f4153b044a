/* SPDX-License-Identifier: MIT */
/*
 * wrap_io.c - wrappers for fd calls: open, read, write, sync, metadata, and send/recv.
 *
 * Each wrapper: the fast path (no candidate rule -> the real call), then the subject filter,
 * then the effect. Effects are realistic: a short write really writes its part, a torn write
 * writes its part and then fails, a failed close still closes the fd, a dropped write or sync
 * reports success and does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"

/* Declarations glibc only gives under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *alen);

#define FL_IOV_MAX 64

/* ---- shared effect logic ------------------------------------------------------------------ */

/* How a read- or write-like call proceeds once a rule fired. */
enum fl_act { FL_ACT_FAIL, FL_ACT_CALL, FL_ACT_RETURN };

struct fl_plan {
    enum fl_act act;
    size_t len;       /* FL_ACT_CALL: how many bytes to pass on */
    ssize_t ret;      /* FL_ACT_RETURN: what to report */
    bool torn;        /* after the call, fail with the rule's errno */
    bool corrupt;     /* after the call, flip bits in what was read */
};

static struct fl_plan fl_plan_for(const struct fl_hit *h, size_t n)
{
    unsigned e = h->r->effects;
    if (e & FL_EFF_SHORT)
        return (struct fl_plan){FL_ACT_CALL, fl_short_len(h->r, n), 0, false, false};
    if (e & FL_EFF_TORN) {
        size_t t = h->r->torn_bytes < n ? (size_t)h->r->torn_bytes : n;
        return (struct fl_plan){FL_ACT_CALL, t, 0, true, false};
    }
    if (e & FL_EFF_DROP)
        return (struct fl_plan){FL_ACT_RETURN, 0, (ssize_t)n, false, false};
    if (e & FL_EFF_CORRUPT)
        return (struct fl_plan){FL_ACT_CALL, n, 0, false, true};
    if (e & FL_EFF_EOF)
        return (struct fl_plan){FL_ACT_RETURN, 0, 0, false, false};
    return (struct fl_plan){FL_ACT_FAIL, 0, -1, false, false};
}

/* A dropped write() still moves the file offset, as a write the kernel accepted and the device
 * then lost: the next write lands after it, leaving a gap, not in its place. */
static void fl_drop_advance(int op, int fd, ssize_t n)
{
    if ((op == FL_OP_write || op == FL_OP_writev) && n > 0) {
        int saved = errno;
        (void)lseek(fd, (off_t)n, SEEK_CUR);
        errno = saved;
    }
}

/* Finish a call made under a plan: corrupt what was read, or turn a torn write into a fail. */
static ssize_t fl_finish(const struct fl_hit *h, const struct fl_plan *p, ssize_t got, void *buf)
{
    if (got < 0)
        return got;
    if (p->corrupt && buf)
        fl_flip_bits(h, buf, (size_t)got);
    if (p->torn)
        return fl_fail(h);
    return got;
}

/* Shorten an iovec array to len bytes (into out, at most FL_IOV_MAX entries). */
static int fl_iov_cut(const struct iovec *iov, int cnt, size_t len, struct iovec *out)
{
    int k = 0;
    for (int i = 0; i < cnt && k < FL_IOV_MAX && len; i++) {
        out[k] = iov[i];
        if (out[k].iov_len > len)
            out[k].iov_len = len;
        len -= out[k].iov_len;
        k++;
    }
    if (k == 0) {
        out[0].iov_base = cnt > 0 ? iov[0].iov_base : NULL;
        out[0].iov_len = 0;
        k = 1;
    }
    return k;
}

static size_t fl_iov_total(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++)
        t += iov[i].iov_len;
    return t;
}

/* ---- open --------------------------------------------------------------------------------- */

static FL_COLD int fl_open_common_slow(uint64_t cand, int dirfd, const char *path)
{
    struct fl_hit h;
    if (!fl_fire(fl_by_path(cand, dirfd, path), &h))
        return 0;
    return fl_fail(&h);
}

static FL_INLINE int fl_open_common(int op, int dirfd, const char *path, int fd_if_real,
                                     bool *handled)
{
    *handled = false;
    uint64_t cand = fl_cand(op);
    if (FL_LIKELY(!cand))
        return 0;
    (void)fd_if_real;
    int rc = fl_open_common_slow(cand, dirfd, path);
    *handled = rc < 0;
    return rc;
}

#define FL_OPEN_MODE(flags)                                                                       \
    mode_t mode = 0;                                                                              \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                                                      \
        va_list ap;                                                                               \
        va_start(ap, flags);                                                                      \
        mode = (mode_t)va_arg(ap, int);                                                           \
        va_end(ap);                                                                               \
    }

#define FL_OPEN_BODY(op, dirfd, path, realcall)                                                   \
    FL_POST_GUARD;                                                                                \
    bool handled;                                                                                 \
    int rc = fl_open_common(FL_OP_##op, dirfd, path, -1, &handled);                               \
    if (handled)                                                                                  \
        return rc;                                                                                \
    int fd = realcall;                                                                            \
    if (fd >= 0)                                                                                  \
        fl_fd_forget(fd);                                                                         \
    return fd;

FL_EXPORT int open(const char *path, int flags, ...)
{
    FL_OPEN_MODE(flags)
    FL_OPEN_BODY(open, AT_FDCWD, path, FL_REAL(open)(path, flags, mode))
}
FL_EXPORT int open64(const char *path, int flags, ...)
{
    FL_OPEN_MODE(flags)
    FL_OPEN_BODY(open64, AT_FDCWD, path, FL_REAL(open64)(path, flags, mode))
}
FL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    FL_OPEN_MODE(flags)
    FL_OPEN_BODY(openat, dirfd, path, FL_REAL(openat)(dirfd, path, flags, mode))
}
FL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    FL_OPEN_MODE(flags)
    FL_OPEN_BODY(openat64, dirfd, path, FL_REAL(openat64)(dirfd, path, flags, mode))
}
FL_EXPORT int creat(const char *path, mode_t mode)
{
    FL_OPEN_BODY(creat, AT_FDCWD, path, FL_REAL(creat)(path, mode))
}
FL_EXPORT int creat64(const char *path, mode_t mode)
{
    FL_OPEN_BODY(creat64, AT_FDCWD, path, FL_REAL(creat64)(path, mode))
}
FL_EXPORT int __open_2(const char *path, int flags)
{
    FL_OPEN_BODY(__open_2, AT_FDCWD, path, FL_REAL(__open_2)(path, flags))
}
FL_EXPORT int __open64_2(const char *path, int flags)
{
    FL_OPEN_BODY(__open64_2, AT_FDCWD, path, FL_REAL(__open64_2)(path, flags))
}
FL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    FL_OPEN_BODY(__openat_2, dirfd, path, FL_REAL(__openat_2)(dirfd, path, flags))
}
FL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    FL_OPEN_BODY(__openat64_2, dirfd, path, FL_REAL(__openat64_2)(dirfd, path, flags))
}

/* ---- read ---------------------------------------------------------------------------------- */

/*
 * Wrappers are split in two so that the common case costs almost nothing: FL_WRAPPER defines
 * the exported function, whose whole body is "no candidate rule -> tail-call the real
 * function", and declares sym_slow (cold, out of line) for the rest, whose body follows the
 * macro. Keeping the slow path's locals out of the wrapper keeps its stack frame away too
 * (bench/RESULTS.md: an extra frame around a syscall costs about 6 ns).
 */

#define FL_WITH_CAND(...) (uint64_t cand, __VA_ARGS__)
#define FL_PASS_CAND(...) (cand, __VA_ARGS__)
#define FL_WRAPPER(ret, sym, params, args)                                                        \
    static FL_COLD ret sym##_slow FL_WITH_CAND params;                                            \
    FL_EXPORT ret sym params                                                                      \
    {                                                                                             \
        uint64_t cand = fl_cand(FL_OP_##sym);                                                     \
        if (FL_LIKELY(!cand))                                                                     \
            return FL_REAL(sym) args;                                                             \
        FL_POST_GUARD;                                                                            \
        return sym##_slow FL_PASS_CAND args;                                                      \
    }                                                                                             \
    static FL_COLD ret sym##_slow FL_WITH_CAND params

/* The same for calls on an fd: rules that cannot match this fd (the per-fd cache says so)
 * are dropped before leaving the fast path. */
#define FL_WRAPPER_FD(ret, sym, params, args, fd)                                                 \
    static FL_COLD ret sym##_slow FL_WITH_CAND params;                                            \
    FL_EXPORT ret sym params                                                                      \
    {                                                                                             \
        uint64_t cand = fl_cand(FL_OP_##sym);                                                     \
        if (FL_LIKELY(!cand) || FL_LIKELY(!(cand = fl_by_fd(cand, fd))))                          \
            return FL_REAL(sym) args;                                                             \
        FL_POST_GUARD;                                                                            \
        return sym##_slow FL_PASS_CAND args;                                                      \
    }                                                                                             \
    static FL_COLD ret sym##_slow FL_WITH_CAND params

/* A read-like call: `call` is the real call with the length given by the plan. */
#define FL_READ_BODY(op, fd, buf, n, call_with_len)                                               \
    FL_POST_GUARD;                                                                                \
    uint64_t cand = fl_cand(FL_OP_##op);                                                          \
    if (FL_LIKELY(!cand)) {                                                                       \
        size_t len_ = (n);                                                                        \
        return call_with_len;                                                                     \
    }                                                                                             \
    FL_READ_SLOW(op, fd, buf, n, call_with_len)

#define FL_READ_SLOW(op, fd, buf, n, call_with_len)                                               \
    struct fl_hit h;                                                                              \
    if (!fl_fire(fl_by_fd(cand, fd), &h)) {                                                       \
        size_t len_ = (n);                                                                        \
        return call_with_len;                                                                     \
    }                                                                                             \
    if (h.r->effects & FL_EFF_SILENT) { /* receives only: the rule parser sees to it */         \
        if (fl_silent_recv(fd, h.idx) < 0)                                                        \
            return -1;                                                                            \
        size_t len_ = (n);                                                                        \
        return call_with_len;                                                                     \
    }                                                                                             \
    struct fl_plan p = fl_plan_for(&h, n);                                                        \
    if (p.act == FL_ACT_FAIL)                                                                     \
        return fl_fail(&h);                                                                       \
    if (h.r->effects & FL_EFF_EOF)                                                                \
        fl_mark_eof(fd, h.idx);                                                                   \
    if (p.act == FL_ACT_RETURN) {                                                                 \
        fl_drop_advance(FL_OP_##op, fd, p.ret);                                                   \
        return p.ret;                                                                             \
    }                                                                                             \
    size_t len_ = p.len;                                                                          \
    ssize_t got = call_with_len;                                                                  \
    return fl_finish(&h, &p, got, buf);

FL_WRAPPER_FD(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n), fd)
{
    FL_SILENT_PRECHECK(fd, 0);
    FL_READ_SLOW(read, fd, buf, n, FL_REAL(read)(fd, buf, len_))
}
FL_WRAPPER_FD(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off), fd)
{
    FL_READ_SLOW(pread, fd, buf, n, FL_REAL(pread)(fd, buf, len_, off))
}
FL_WRAPPER_FD(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off), fd)
{
    FL_READ_SLOW(pread64, fd, buf, n, FL_REAL(pread64)(fd, buf, len_, off))
}
FL_WRAPPER_FD(ssize_t, __read_chk, (int fd, void *buf, size_t n, size_t buflen),
              (fd, buf, n, buflen), fd)
{
    FL_SILENT_PRECHECK(fd, 0);
    FL_READ_SLOW(__read_chk, fd, buf, n, FL_REAL(__read_chk)(fd, buf, len_, buflen))
}
FL_WRAPPER_FD(ssize_t, __pread_chk, (int fd, void *buf, size_t n, off_t off, size_t buflen),
              (fd, buf, n, off, buflen), fd)
{
    FL_READ_SLOW(__pread_chk, fd, buf, n, FL_REAL(__pread_chk)(fd, buf, len_, off, buflen))
}
FL_WRAPPER_FD(ssize_t, __pread64_chk, (int fd, void *buf, size_t n, off64_t off, size_t buflen),
              (fd, buf, n, off, buflen), fd)
{
    FL_READ_SLOW(__pread64_chk, fd, buf, n, FL_REAL(__pread64_chk)(fd, buf, len_, off, buflen))
}
FL_WRAPPER_FD(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags), fd)
{
    FL_SILENT_PRECHECK(fd, flags);
    FL_READ_SLOW(recv, fd, buf, n, FL_REAL(recv)(fd, buf, len_, flags))
}
FL_WRAPPER_FD(ssize_t, recvfrom,
              (int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen),
              (fd, buf, n, flags, addr, alen), fd)
{
    FL_SILENT_PRECHECK(fd, flags);
    FL_READ_SLOW(recvfrom, fd, buf, n, FL_REAL(recvfrom)(fd, buf, len_, flags, addr, alen))
}
FL_WRAPPER_FD(ssize_t, __recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags),
              (fd, buf, n, buflen, flags), fd)
{
    FL_SILENT_PRECHECK(fd, flags);
    FL_READ_SLOW(__recv_chk, fd, buf, n, FL_REAL(__recv_chk)(fd, buf, len_, buflen, flags))
}
FL_WRAPPER_FD(ssize_t, __recvfrom_chk,
              (int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
               socklen_t *alen),
              (fd, buf, n, buflen, flags, addr, alen), fd)
{
    FL_SILENT_PRECHECK(fd, flags);
    FL_READ_SLOW(__recvfrom_chk, fd, buf, n,
                 FL_REAL(__recvfrom_chk)(fd, buf, len_, buflen, flags, addr, alen))
}

/* iovec reads and writes: the plan's length cuts the vector. */
#define FL_IOV_SLOW(op, fd, iov, cnt, call_with_iov)                                              \
    struct fl_hit h;                                                                              \
    if (!fl_fire(fl_by_fd(cand, fd), &h)) {                                                       \
        const struct iovec *v_ = iov;                                                             \
        int c_ = cnt;                                                                             \
        return call_with_iov;                                                                     \
    }                                                                                             \
    if (h.r->effects & FL_EFF_SILENT) {                                                           \
        if (fl_silent_recv(fd, h.idx) < 0)                                                        \
            return -1;                                                                            \
        const struct iovec *v_ = iov;                                                             \
        int c_ = cnt;                                                                             \
        return call_with_iov;                                                                     \
    }                                                                                             \
    size_t total = fl_iov_total(iov, cnt);                                                        \
    struct fl_plan p = fl_plan_for(&h, total);                                                    \
    if (p.act == FL_ACT_FAIL)                                                                     \
        return fl_fail(&h);                                                                       \
    if (h.r->effects & FL_EFF_EOF)                                                                \
        fl_mark_eof(fd, h.idx);                                                                   \
    if (p.act == FL_ACT_RETURN) {                                                                 \
        fl_drop_advance(FL_OP_##op, fd, p.ret);                                                   \
        return p.ret;                                                                             \
    }                                                                                             \
    struct iovec cut[FL_IOV_MAX];                                                                 \
    const struct iovec *v_ = iov;                                                                 \
    int c_ = cnt;                                                                                 \
    if (p.len < total) {                                                                          \
        c_ = fl_iov_cut(iov, cnt, p.len, cut);                                                    \
        v_ = cut;                                                                                 \
    }                                                                                             \
    ssize_t got = call_with_iov;                                                                  \
    if (got > 0 && p.corrupt)                                                                     \
        fl_flip_iov(&h, v_, c_, (size_t)got);                                                     \
    p.corrupt = false;                                                                            \
    return fl_finish(&h, &p, got, NULL);

FL_WRAPPER_FD(ssize_t, readv, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt), fd)
{
    FL_SILENT_PRECHECK(fd, 0);
    FL_IOV_SLOW(readv, fd, iov, cnt, FL_REAL(readv)(fd, v_, c_))
}
FL_WRAPPER_FD(ssize_t, preadv, (int fd, const struct iovec *iov, int cnt, off_t off),
              (fd, iov, cnt, off), fd)
{
    FL_IOV_SLOW(preadv, fd, iov, cnt, FL_REAL(preadv)(fd, v_, c_, off))
}
FL_WRAPPER_FD(ssize_t, preadv64, (int fd, const struct iovec *iov, int cnt, off64_t off),
              (fd, iov, cnt, off), fd)
{
    FL_IOV_SLOW(preadv64, fd, iov, cnt, FL_REAL(preadv64)(fd, v_, c_, off))
}
FL_WRAPPER_FD(ssize_t, preadv2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags),
              (fd, iov, cnt, off, flags), fd)
{
    FL_IOV_SLOW(preadv2, fd, iov, cnt, FL_REAL(preadv2)(fd, v_, c_, off, flags))
}
FL_WRAPPER_FD(ssize_t, preadv64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags),
              (fd, iov, cnt, off, flags), fd)
{
    FL_IOV_SLOW(preadv64v2, fd, iov, cnt, FL_REAL(preadv64v2)(fd, v_, c_, off, flags))
}
FL_WRAPPER_FD(ssize_t, writev, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt), fd)
{
    FL_IOV_SLOW(writev, fd, iov, cnt, FL_REAL(writev)(fd, v_, c_))
}
FL_WRAPPER_FD(ssize_t, pwritev, (int fd, const struct iovec *iov, int cnt, off_t off),
              (fd, iov, cnt, off), fd)
{
    FL_IOV_SLOW(pwritev, fd, iov, cnt, FL_REAL(pwritev)(fd, v_, c_, off))
}
FL_WRAPPER_FD(ssize_t, pwritev64, (int fd, const struct iovec *iov, int cnt, off64_t off),
              (fd, iov, cnt, off), fd)
{
    FL_IOV_SLOW(pwritev64, fd, iov, cnt, FL_REAL(pwritev64)(fd, v_, c_, off))
}
FL_WRAPPER_FD(ssize_t, pwritev2, (int fd, const struct iovec *iov, int cnt, off_t off, int flags),
              (fd, iov, cnt, off, flags), fd)
{
    FL_IOV_SLOW(pwritev2, fd, iov, cnt, FL_REAL(pwritev2)(fd, v_, c_, off, flags))
}
FL_WRAPPER_FD(ssize_t, pwritev64v2, (int fd, const struct iovec *iov, int cnt, off64_t off, int flags),
              (fd, iov, cnt, off, flags), fd)
{
    FL_IOV_SLOW(pwritev64v2, fd, iov, cnt, FL_REAL(pwritev64v2)(fd, v_, c_, off, flags))
}

static ssize_t fl_msg_call(bool recv, int fd, struct msghdr *msg, int flags)
{
    return recv ? FL_REAL(recvmsg)(fd, msg, flags) : FL_REAL(sendmsg)(fd, msg, flags);
}

/* cand comes from the exported wrapper: fl_cand must run in its frame (its call site). */
static FL_COLD ssize_t fl_msg_wrap(uint64_t cand, bool recv, int fd, struct msghdr *msg,
                                   int flags)
{
    FL_POST_GUARD;
    struct fl_hit h;
    if (recv)
        FL_SILENT_PRECHECK(fd, flags);
    if (!fl_fire(fl_by_fd(cand, fd), &h))
        return fl_msg_call(recv, fd, msg, flags);
    if (h.r->effects & FL_EFF_SILENT) {
        if (fl_silent_recv(fd, h.idx) < 0)
            return -1;
        return fl_msg_call(recv, fd, msg, flags);
    }
    fl_nosignal = (flags & MSG_NOSIGNAL) != 0;
    size_t total = fl_iov_total(msg->msg_iov, (int)msg->msg_iovlen);
    struct fl_plan p = fl_plan_for(&h, total);
    if (p.act == FL_ACT_FAIL)
        return fl_fail(&h);
    if (recv && (h.r->effects & FL_EFF_EOF))
        fl_mark_eof(fd, h.idx);
    if (p.act == FL_ACT_RETURN)
        return p.ret;
    struct iovec cut[FL_IOV_MAX];
    struct msghdr m = *msg;
    if (p.len < total) {
        m.msg_iovlen = (size_t)fl_iov_cut(msg->msg_iov, (int)msg->msg_iovlen, p.len, cut);
        m.msg_iov = cut;
    }
    ssize_t got = fl_msg_call(recv, fd, &m, flags);
    msg->msg_flags = m.msg_flags;
    msg->msg_controllen = m.msg_controllen;
    msg->msg_namelen = m.msg_namelen;
    if (got > 0 && p.corrupt)
        fl_flip_iov(&h, m.msg_iov, (int)m.msg_iovlen, (size_t)got);
    p.corrupt = false;
    return fl_finish(&h, &p, got, NULL);
}

FL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    uint64_t cand = fl_cand(FL_OP_recvmsg);
    if (FL_LIKELY(!cand))
        return FL_REAL(recvmsg)(fd, msg, flags);
    return fl_msg_wrap(cand, true, fd, msg, flags);
}
FL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    uint64_t cand = fl_cand(FL_OP_sendmsg);
    if (FL_LIKELY(!cand))
        return FL_REAL(sendmsg)(fd, msg, flags);
    return fl_msg_wrap(cand, false, fd, (struct msghdr *)msg, flags);
}

/* ---- write --------------------------------------------------------------------------------- */

FL_WRAPPER_FD(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n), fd)
{
    FL_READ_SLOW(write, fd, NULL, n, FL_REAL(write)(fd, buf, len_))
}
FL_WRAPPER_FD(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off),
              (fd, buf, n, off), fd)
{
    FL_READ_SLOW(pwrite, fd, NULL, n, FL_REAL(pwrite)(fd, buf, len_, off))
}
FL_WRAPPER_FD(ssize_t, pwrite64, (int fd, const void *buf, size_t n, off64_t off),
              (fd, buf, n, off), fd)
{
    FL_READ_SLOW(pwrite64, fd, NULL, n, FL_REAL(pwrite64)(fd, buf, len_, off))
}
FL_WRAPPER_FD(ssize_t, send, (int fd, const void *buf, size_t n, int flags),
              (fd, buf, n, flags), fd)
{
    fl_nosignal = (flags & MSG_NOSIGNAL) != 0;
    FL_READ_SLOW(send, fd, NULL, n, FL_REAL(send)(fd, buf, len_, flags))
}
FL_WRAPPER_FD(ssize_t, sendto,
              (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t alen),
              (fd, buf, n, flags, addr, alen), fd)
{
    fl_nosignal = (flags & MSG_NOSIGNAL) != 0;
    FL_READ_SLOW(sendto, fd, NULL, n, FL_REAL(sendto)(fd, buf, len_, flags, addr, alen))
}
/* Calls that copy between two fds: the read side (rules on io.read, matched on the source fd)
 * is tried first, then the write side (io.write, the destination fd). */
#define FL_COPY_IN_SIDE(op_in, fd_in, n, call_with_len)                                           \
    {                                                                                             \
        uint64_t cin = fl_cand(FL_OP_##op_in);                                                    \
        struct fl_hit hin;                                                                        \
        if (FL_UNLIKELY(cin) && fl_fire(fl_by_fd(cin, fd_in), &hin)) {                            \
            struct fl_plan pin = fl_plan_for(&hin, n);                                            \
            if (pin.act == FL_ACT_RETURN) /* eof: the source is at its end */                   \
                return pin.ret;                                                                   \
            if (pin.act != FL_ACT_CALL)                                                           \
                return fl_fail(&hin);                                                             \
            size_t len_ = pin.len;                                                                \
            return call_with_len;                                                                 \
        }                                                                                         \
    }

FL_EXPORT ssize_t copy_file_range(int in, off64_t *off_in, int out, off64_t *off_out, size_t n,
                                  unsigned flags)
{
    FL_COPY_IN_SIDE(copy_file_range__in, in, n,
                    FL_REAL(copy_file_range)(in, off_in, out, off_out, len_, flags))
    FL_READ_BODY(copy_file_range, out, NULL, n,
                 FL_REAL(copy_file_range)(in, off_in, out, off_out, len_, flags))
}
FL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    FL_COPY_IN_SIDE(sendfile__in, in, n, FL_REAL(sendfile)(out, in, off, len_))
    FL_READ_BODY(sendfile, out, NULL, n, FL_REAL(sendfile)(out, in, off, len_))
}
FL_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
    FL_COPY_IN_SIDE(sendfile64__in, in, n, FL_REAL(sendfile64)(out, in, off, len_))
    FL_READ_BODY(sendfile64, out, NULL, n, FL_REAL(sendfile64)(out, in, off, len_))
}
FL_EXPORT ssize_t splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t n,
                         unsigned flags)
{
    FL_COPY_IN_SIDE(splice__in, in, n, FL_REAL(splice)(in, off_in, out, off_out, len_, flags))
    FL_READ_BODY(splice, out, NULL, n, FL_REAL(splice)(in, off_in, out, off_out, len_, flags))
}

/* dprintf family: fail with -1, or drop and report the length that would have been written. */
static FL_INLINE int fl_dprintf_fault(int op, int fd, const char *fmt, va_list ap, bool *handled)
{
    uint64_t cand = fl_cand(op);
    struct fl_hit h;
    *handled = false;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_fd(cand, fd), &h))
        return 0;
    *handled = true;
    if (h.r->effects & FL_EFF_DROP)
        return vsnprintf(NULL, 0, fmt, ap);
    return fl_fail(&h);
}

#define FL_DPRINTF_V(op, fd, fmt, ap, realcall)                                                   \
    FL_POST_GUARD;                                                                                \
    bool handled;                                                                                 \
    va_list aq;                                                                                   \
    va_copy(aq, ap);                                                                              \
    int rc = fl_dprintf_fault(FL_OP_##op, fd, fmt, aq, &handled);                                 \
    va_end(aq);                                                                                   \
    return handled ? rc : realcall;

#define FL_DPRINTF_VARIADIC(op, fd, fmt, realv_call)                                              \
    FL_POST_GUARD;                                                                                \
    va_list ap, aq;                                                                               \
    va_start(ap, fmt);                                                                            \
    va_copy(aq, ap);                                                                              \
    bool handled;                                                                                 \
    int rc = fl_dprintf_fault(FL_OP_##op, fd, fmt, aq, &handled);                                 \
    va_end(aq);                                                                                   \
    if (!handled)                                                                                 \
        rc = realv_call;                                                                          \
    va_end(ap);                                                                                   \
    return rc;

int __dprintf_chk(int fd, int flag, const char *fmt, ...);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);

FL_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
    FL_DPRINTF_V(vdprintf, fd, fmt, ap, FL_REAL(vdprintf)(fd, fmt, ap))
}
FL_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
    FL_DPRINTF_V(__vdprintf_chk, fd, fmt, ap, FL_REAL(__vdprintf_chk)(fd, flag, fmt, ap))
}
FL_EXPORT int dprintf(int fd, const char *fmt, ...)
{
    FL_DPRINTF_VARIADIC(dprintf, fd, fmt, FL_REAL(vdprintf)(fd, fmt, ap))
}
FL_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    FL_DPRINTF_VARIADIC(__dprintf_chk, fd, fmt, FL_REAL(__vdprintf_chk)(fd, flag, fmt, ap))
}

/* ---- sync ---------------------------------------------------------------------------------- */

#define FL_SYNC_SLOW(op, filtered, realcall)                                                      \
    struct fl_hit h;                                                                              \
    if (!fl_fire(filtered, &h))                                                                   \
        return realcall;                                                                          \
    if (h.r->effects & FL_EFF_DROP)                                                               \
        return 0;                                                                                 \
    return fl_fail(&h);

FL_WRAPPER_FD(int, fsync, (int fd), (fd), fd)
{
    FL_SYNC_SLOW(fsync, fl_by_fd(cand, fd), FL_REAL(fsync)(fd))
}
FL_WRAPPER_FD(int, fdatasync, (int fd), (fd), fd)
{
    FL_SYNC_SLOW(fdatasync, fl_by_fd(cand, fd), FL_REAL(fdatasync)(fd))
}
FL_WRAPPER_FD(int, sync_file_range, (int fd, off64_t off, off64_t n, unsigned flags),
              (fd, off, n, flags), fd)
{
    FL_SYNC_SLOW(sync_file_range, fl_by_fd(cand, fd), FL_REAL(sync_file_range)(fd, off, n, flags))
}
FL_WRAPPER_FD(int, syncfs, (int fd), (fd), fd)
{
    FL_SYNC_SLOW(syncfs, fl_by_fd(cand, fd), FL_REAL(syncfs)(fd))
}
FL_WRAPPER(int, msync, (void *addr, size_t len, int flags), (addr, len, flags))
{
    FL_SYNC_SLOW(msync, fl_unselective(cand), FL_REAL(msync)(addr, len, flags))
}

/* ---- metadata ------------------------------------------------------------------------------ */

FL_EXPORT int close(int fd)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_close);
    struct fl_hit h;
    bool fire = cand && fl_fire(fl_by_fd(cand, fd), &h);
    fl_fd_forget(fd);
    int rc = FL_REAL(close)(fd);
    if (!fire)
        return rc;
    return fl_fail(&h); /* the fd is closed all the same, as the kernel does on EIO */
}

#define FL_PLAIN_SLOW(op, filtered, realcall)                                                     \
    struct fl_hit h;                                                                              \
    if (!fl_fire(filtered, &h))                                                                   \
        return realcall;                                                                          \
    return fl_fail(&h);

FL_WRAPPER_FD(int, ftruncate, (int fd, off_t len), (fd, len), fd)
{
    FL_PLAIN_SLOW(ftruncate, fl_by_fd(cand, fd), FL_REAL(ftruncate)(fd, len))
}
FL_WRAPPER_FD(int, ftruncate64, (int fd, off64_t len), (fd, len), fd)
{
    FL_PLAIN_SLOW(ftruncate64, fl_by_fd(cand, fd), FL_REAL(ftruncate64)(fd, len))
}
FL_WRAPPER_FD(int, fallocate, (int fd, int mode, off_t off, off_t len), (fd, mode, off, len), fd)
{
    FL_PLAIN_SLOW(fallocate, fl_by_fd(cand, fd), FL_REAL(fallocate)(fd, mode, off, len))
}
FL_WRAPPER_FD(int, fallocate64, (int fd, int mode, off64_t off, off64_t len),
              (fd, mode, off, len), fd)
{
    FL_PLAIN_SLOW(fallocate64, fl_by_fd(cand, fd), FL_REAL(fallocate64)(fd, mode, off, len))
}
/* posix_fallocate reports the error as its value, not in errno */
FL_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_posix_fallocate);
    struct fl_hit h;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_fd(cand, fd), &h))
        return FL_REAL(posix_fallocate)(fd, off, len);
    return h.r->err;
}
FL_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_posix_fallocate64);
    struct fl_hit h;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_fd(cand, fd), &h))
        return FL_REAL(posix_fallocate64)(fd, off, len);
    return h.r->err;
}
FL_WRAPPER(int, rename, (const char *a, const char *b), (a, b))
{
    FL_PLAIN_SLOW(rename, fl_by_path2(cand, AT_FDCWD, a, AT_FDCWD, b), FL_REAL(rename)(a, b))
}
FL_WRAPPER(int, renameat, (int da, const char *a, int db, const char *b), (da, a, db, b))
{
    FL_PLAIN_SLOW(renameat, fl_by_path2(cand, da, a, db, b), FL_REAL(renameat)(da, a, db, b))
}
FL_WRAPPER(int, renameat2, (int da, const char *a, int db, const char *b, unsigned flags),
              (da, a, db, b, flags))
{
    FL_PLAIN_SLOW(renameat2, fl_by_path2(cand, da, a, db, b),
                  FL_REAL(renameat2)(da, a, db, b, flags))
}
FL_WRAPPER(int, unlink, (const char *p), (p))
{
    FL_PLAIN_SLOW(unlink, fl_by_path(cand, AT_FDCWD, p), FL_REAL(unlink)(p))
}
FL_WRAPPER(int, unlinkat, (int d, const char *p, int flags), (d, p, flags))
{
    FL_PLAIN_SLOW(unlinkat, fl_by_path(cand, d, p), FL_REAL(unlinkat)(d, p, flags))
}
FL_WRAPPER(int, mkdir, (const char *p, mode_t mode), (p, mode))
{
    FL_PLAIN_SLOW(mkdir, fl_by_path(cand, AT_FDCWD, p), FL_REAL(mkdir)(p, mode))
}
FL_WRAPPER(int, mkdirat, (int d, const char *p, mode_t mode), (d, p, mode))
{
    FL_PLAIN_SLOW(mkdirat, fl_by_path(cand, d, p), FL_REAL(mkdirat)(d, p, mode))
}
FL_WRAPPER(int, rmdir, (const char *p), (p))
{
    FL_PLAIN_SLOW(rmdir, fl_by_path(cand, AT_FDCWD, p), FL_REAL(rmdir)(p))
}
FL_WRAPPER(int, truncate, (const char *p, off_t len), (p, len))
{
    FL_PLAIN_SLOW(truncate, fl_by_path(cand, AT_FDCWD, p), FL_REAL(truncate)(p, len))
}
FL_WRAPPER(int, truncate64, (const char *p, off64_t len), (p, len))
{
    FL_PLAIN_SLOW(truncate64, fl_by_path(cand, AT_FDCWD, p), FL_REAL(truncate64)(p, len))
}

/* ---- locks --------------------------------------------------------------------------------- */

/* Only a request to take a lock is a fault point: an unlock never waits for another holder,
 * and the other fcntl commands are not about locks at all. */
static bool fl_fcntl_takes_lock(int cmd, void *arg)
{
    if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_OFD_SETLK && cmd != F_OFD_SETLKW)
        return false;
    const struct flock *l = arg;
    return l && l->l_type != F_UNLCK;
}

static FL_COLD int fl_lock_slow(uint64_t cand, int fd)
{
    struct fl_hit h;
    if (!fl_fire(fl_by_fd(cand, fd), &h))
        return 0;
    return fl_fail(&h);
}

#define FL_FCNTL_BODY(sym)                                                                        \
    va_list ap;                                                                                   \
    va_start(ap, cmd);                                                                            \
    void *arg = va_arg(ap, void *); /* as glibc reads it: an int or a pointer, same register */  \
    va_end(ap);                                                                                   \
    uint64_t cand = fl_cand(FL_OP_##sym);                                                         \
    if (FL_LIKELY(!cand) || !fl_fcntl_takes_lock(cmd, arg))                                       \
        return FL_REAL(sym)(fd, cmd, arg);                                                        \
    FL_POST_GUARD;                                                                                \
    if (fl_lock_slow(cand, fd) < 0)                                                               \
        return -1;                                                                                \
    return FL_REAL(sym)(fd, cmd, arg);

int fcntl64(int fd, int cmd, ...);
FL_EXPORT int fcntl(int fd, int cmd, ...) { FL_FCNTL_BODY(fcntl) }
FL_EXPORT int fcntl64(int fd, int cmd, ...) { FL_FCNTL_BODY(fcntl64) }

FL_EXPORT int flock(int fd, int op)
{
    uint64_t cand = fl_cand(FL_OP_flock);
    if (FL_LIKELY(!cand) || (op & LOCK_UN))
        return FL_REAL(flock)(fd, op);
    FL_POST_GUARD;
    if (fl_lock_slow(cand, fd) < 0)
        return -1;
    return FL_REAL(flock)(fd, op);
}

#define FL_LOCKF_BODY(sym)                                                                        \
    uint64_t cand = fl_cand(FL_OP_##sym);                                                         \
    if (FL_LIKELY(!cand) || cmd == F_ULOCK)                                                       \
        return FL_REAL(sym)(fd, cmd, len);                                                        \
    FL_POST_GUARD;                                                                                \
    if (fl_lock_slow(cand, fd) < 0)                                                               \
        return -1;                                                                                \
    return FL_REAL(sym)(fd, cmd, len);

FL_EXPORT int lockf(int fd, int cmd, off_t len) { FL_LOCKF_BODY(lockf) }
FL_EXPORT int lockf64(int fd, int cmd, off64_t len) { FL_LOCKF_BODY(lockf64) }

/* ---- fd bookkeeping (not fault points) ------------------------------------------------------ */

static void *real_dup, *real_dup2, *real_dup3, *real_socket, *real_pipe, *real_pipe2,
    *real_socketpair, *real_close_range;

FL_EXPORT int dup(int fd)
{
    int r = ((int (*)(int))fl_resolve_extra("dup", &real_dup))(fd);
    fl_fd_forget(r);
    return r;
}
FL_EXPORT int dup2(int fd, int nfd)
{
    int r = ((int (*)(int, int))fl_resolve_extra("dup2", &real_dup2))(fd, nfd);
    fl_fd_forget(nfd);
    return r;
}
FL_EXPORT int dup3(int fd, int nfd, int flags)
{
    int r = ((int (*)(int, int, int))fl_resolve_extra("dup3", &real_dup3))(fd, nfd, flags);
    fl_fd_forget(nfd);
    return r;
}
FL_EXPORT int socket(int domain, int type, int proto)
{
    int r = ((int (*)(int, int, int))fl_resolve_extra("socket", &real_socket))(domain, type, proto);
    fl_fd_forget(r);
    return r;
}
FL_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
    int r = ((int (*)(int, int, int, int *))fl_resolve_extra("socketpair", &real_socketpair))(
        domain, type, proto, sv);
    if (r == 0) {
        fl_fd_forget(sv[0]);
        fl_fd_forget(sv[1]);
    }
    return r;
}
FL_EXPORT int pipe(int p[2])
{
    int r = ((int (*)(int *))fl_resolve_extra("pipe", &real_pipe))(p);
    if (r == 0) {
        fl_fd_forget(p[0]);
        fl_fd_forget(p[1]);
    }
    return r;
}
FL_EXPORT int pipe2(int p[2], int flags)
{
    int r = ((int (*)(int *, int))fl_resolve_extra("pipe2", &real_pipe2))(p, flags);
    if (r == 0) {
        fl_fd_forget(p[0]);
        fl_fd_forget(p[1]);
    }
    return r;
}
FL_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    int r = ((int (*)(unsigned, unsigned, int))fl_resolve_extra("close_range", &real_close_range))(
        first, last, flags);
    for (unsigned fd = first; fd <= last && fd < 65536; fd++)
        fl_fd_forget((int)fd);
    return r;
}
