/* SPDX-License-Identifier: MIT */
/*
 * wrap_misc.c - wrappers for connect/accept, DNS, memory and the clock.
 *
 * The memory wrappers carry the start-up hazard: dlsym may allocate while the real malloc is
 * being looked up, so until it is known, allocations come from the bootstrap arena in
 * preload.c, and free() ignores pointers into it.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "preload.h"


/* ---- sockets ------------------------------------------------------------------------------- */

FL_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_connect);
    struct fl_hit h;
    if (FL_UNLIKELY(cand)) {
        if (FL_UNLIKELY(fl_silent_rules) && fl_silent_connect_pending(fd)) {
            errno = EALREADY;
            return -1;
        }
        if (fl_fire(fl_by_addr(cand, addr, len), &h)) {
            if (!(h.r->effects & FL_EFF_SILENT))
                return fl_fail(&h);
            if (fl_silent_connect(fd, h.idx) < 0)
                return -1;
            /* the rule went off while the SYN waited: the connect goes on for real */
        }
    }
    int rc = FL_REAL(connect)(fd, addr, len);
    fl_fd_forget(fd); /* its peer changed */
    return rc;
}

FL_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_accept);
    struct fl_hit h;
    if (FL_UNLIKELY(cand) && fl_fire(fl_by_fd(cand, fd), &h))
        return fl_fail(&h);
    int r = FL_REAL(accept)(fd, addr, len);
    fl_fd_forget(r);
    return r;
}

FL_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_accept4);
    struct fl_hit h;
    if (FL_UNLIKELY(cand) && fl_fire(fl_by_fd(cand, fd), &h))
        return fl_fail(&h);
    int r = FL_REAL(accept4)(fd, addr, len, flags);
    fl_fd_forget(r);
    return r;
}

/* ---- DNS ----------------------------------------------------------------------------------- */

FL_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_getaddrinfo);
    struct fl_hit h;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_host(cand, node), &h))
        return FL_REAL(getaddrinfo)(node, service, hints, res);
    if (h.r->eai == EAI_SYSTEM)
        errno = h.r->err;
    return h.r->eai;
}

FL_EXPORT struct hostent *gethostbyname(const char *name)
{
    FL_POST_GUARD;
    uint64_t cand = fl_cand(FL_OP_gethostbyname);
    struct fl_hit h;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_host(cand, name), &h))
        return FL_REAL(gethostbyname)(name);
    switch (h.r->eai) {
    case EAI_AGAIN:
        h_errno = TRY_AGAIN;
        break;
    case EAI_NONAME:
    case EAI_NODATA:
        h_errno = HOST_NOT_FOUND;
        break;
    default:
        h_errno = NO_RECOVERY;
    }
    return NULL;
}

/* ---- memory -------------------------------------------------------------------------------- */

static void *real_free;

/* The real allocator, or NULL while dlsym itself is running. */
#define FL_REAL_ALLOC(sym)                                                                        \
    __typeof__(&sym) r_ = (__typeof__(&sym))fl_real[FL_OP_##sym];                                 \
    if (FL_UNLIKELY(!r_)) {                                                                       \
        if (fl_boot_active())                                                                     \
            r_ = NULL;                                                                            \
        else                                                                                      \
            r_ = (__typeof__(&sym))fl_resolve(FL_OP_##sym);                                       \
    }

static FL_COLD bool fl_mem_fails_slow(uint64_t cand)
{
    struct fl_hit h;
    fl_no_eintr++;
    bool fired = fl_fire(cand, &h);
    fl_no_eintr--;
    if (!fired)
        return false;
    errno = h.r->err;
    return true;
}

static FL_INLINE bool fl_mem_fails(int op)
{
    uint64_t cand = fl_cand(op);
    return FL_UNLIKELY(cand != 0) && fl_mem_fails_slow(cand);
}

FL_EXPORT void *malloc(size_t n)
{
    FL_REAL_ALLOC(malloc)
    if (FL_UNLIKELY(!r_))
        return fl_boot_alloc(n);
    if (FL_UNLIKELY(fl_mem_fails(FL_OP_malloc)))
        return NULL;
    return r_(n);
}

FL_EXPORT void *calloc(size_t n, size_t size)
{
    FL_REAL_ALLOC(calloc)
    if (FL_UNLIKELY(!r_)) {
        if (size && n > SIZE_MAX / size)
            return NULL;
        return fl_boot_alloc(n * size); /* the arena is zeroed and never reused */
    }
    if (FL_UNLIKELY(fl_mem_fails(FL_OP_calloc)))
        return NULL;
    return r_(n, size);
}

FL_EXPORT void *realloc(void *p, size_t n)
{
    FL_REAL_ALLOC(realloc)
    if (FL_UNLIKELY(p && fl_boot_owns(p))) {
        void *q = malloc(n);
        if (q) {
            size_t old = fl_boot_size(p);
            memcpy(q, p, old < n ? old : n);
        }
        return q;
    }
    if (FL_UNLIKELY(!r_)) {
        return fl_boot_alloc(n);
    }
    if (FL_UNLIKELY(fl_mem_fails(FL_OP_realloc)))
        return NULL;
    return r_(p, n);
}

FL_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    if (FL_UNLIKELY(fl_mem_fails(FL_OP_reallocarray)))
        return NULL;
    return realloc(p, n * size);
}

FL_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    FL_REAL_ALLOC(posix_memalign)
    if (FL_UNLIKELY(!r_))
        return ENOMEM;
    uint64_t cand = fl_cand(FL_OP_posix_memalign);
    struct fl_hit h;
    if (FL_UNLIKELY(cand)) {
        fl_no_eintr++;
        bool fired = fl_fire(cand, &h);
        fl_no_eintr--;
        if (fired)
            return h.r->err;
    }
    return r_(out, align, n);
}

FL_EXPORT void *aligned_alloc(size_t align, size_t n)
{
    FL_REAL_ALLOC(aligned_alloc)
    if (FL_UNLIKELY(!r_))
        return NULL;
    if (FL_UNLIKELY(fl_mem_fails(FL_OP_aligned_alloc)))
        return NULL;
    return r_(align, n);
}

FL_EXPORT void free(void *p)
{
    if (FL_UNLIKELY(fl_boot_owns(p)))
        return;
    void (*r)(void *) = (void (*)(void *))__atomic_load_n(&real_free, __ATOMIC_ACQUIRE);
    if (FL_UNLIKELY(!r)) {
        if (fl_boot_active())
            return; /* leak rather than recurse during start-up */
        r = (void (*)(void *))fl_resolve_extra("free", &real_free);
        if (!r)
            return;
    }
    r(p);
}

/* ---- clock --------------------------------------------------------------------------------- */

static FL_INLINE bool fl_time_hit(int op, struct fl_hit *h)
{
    uint64_t cand = fl_cand(op);
    if (FL_LIKELY(!cand))
        return false;
    fl_no_eintr++;
    bool fired = fl_fire(cand, h);
    fl_no_eintr--;
    return fired && (h->r->effects & FL_EFF_OFFSET);
}

FL_EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int rc = FL_REAL(clock_gettime)(clk, ts);
    struct fl_hit h;
    if (rc != 0 || !ts || (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE))
        return rc;
    if (FL_LIKELY(!fl_time_hit(FL_OP_clock_gettime, &h)))
        return rc;
    int64_t ns = (int64_t)ts->tv_nsec + h.r->offset_ns % 1000000000;
    ts->tv_sec += (time_t)(h.r->offset_ns / 1000000000) + (time_t)(ns / 1000000000);
    ns %= 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        ts->tv_sec--;
    }
    ts->tv_nsec = (long)ns;
    return rc;
}

FL_EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    int rc = FL_REAL(gettimeofday)(tv, tz);
    struct fl_hit h;
    if (rc != 0 || !tv || FL_LIKELY(!fl_time_hit(FL_OP_gettimeofday, &h)))
        return rc;
    int64_t us = (int64_t)tv->tv_usec + (h.r->offset_ns / 1000) % 1000000;
    tv->tv_sec += (time_t)(h.r->offset_ns / 1000000000) + (time_t)(us / 1000000);
    us %= 1000000;
    if (us < 0) {
        us += 1000000;
        tv->tv_sec--;
    }
    tv->tv_usec = (suseconds_t)us;
    return rc;
}

FL_EXPORT time_t time(time_t *out)
{
    time_t t = FL_REAL(time)(NULL);
    struct fl_hit h;
    if (t != (time_t)-1 && FL_UNLIKELY(fl_time_hit(FL_OP_time, &h)))
        t += (time_t)(h.r->offset_ns / 1000000000);
    if (out)
        *out = t;
    return t;
}
