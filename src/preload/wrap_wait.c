/* SPDX-License-Identifier: MIT */
/*
 * wrap_wait.c - poll, ppoll, select, pselect and epoll, for the `silent` effect only.
 *
 * A peer that never answers is not a receive that blocks: a careful program waits for it
 * with poll or epoll and a timeout, then gives up. So while a silent rule holds an fd, these
 * calls never report it readable (nor hung up, nor in error; a connect that is never answered
 * is not writable either) and return at their own timeout when nothing else is ready.
 *
 * How: the held fds are taken out of the request (their read interest cleared, or the whole
 * entry disabled), the real call waits in slices of at most FL_WAIT_SLICE_NS so that a rule
 * switched off mid-wait lets the fd through again, and what comes back for a held fd is
 * masked. epoll keeps its interest list in the kernel, so epoll_ctl is watched to map each
 * event's data back to its fd (only while the block holds a silent rule).
 * With no silent rule switched on, every wrapper is the real call after two loads.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload.h"

#define FL_WAIT_SLICE_NS (50 * INT64_C(1000000))
#define FL_WAIT_HELD_MAX 64 /* held fds per call; more are left alone */
#define FL_EP_MAX 4096      /* epoll registrations remembered */
#define FL_NO_DEADLINE INT64_MAX

static void *real_ppoll, *real_pselect, *real_epoll_ctl, *real_epoll_pwait, *real_poll,
    *real_select, *real_epoll_wait, *real_epoll_pwait2;

typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
typedef int (*pselect_fn)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                          const sigset_t *);
typedef int (*epoll_pwait_fn)(int, struct epoll_event *, int, int, const sigset_t *);

static bool fl_silence_on(void)
{
    const struct fl_ctl *c = fl_ctl_active;
    return c && FL_UNLIKELY(fl_silent_rules) && !fl_guard &&
           (fl_silent_rules &
            atomic_load_explicit(&((struct fl_ctl *)c)->enabled, memory_order_relaxed));
}

static int64_t fl_mono_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t fl_deadline(int64_t timeout_ns)
{
    return timeout_ns < 0 ? FL_NO_DEADLINE : fl_mono_ns() + timeout_ns;
}

/* The next slice to wait: at most FL_WAIT_SLICE_NS, never past the deadline, never < 0. */
static int64_t fl_slice(int64_t deadline)
{
    if (deadline == FL_NO_DEADLINE)
        return FL_WAIT_SLICE_NS;
    int64_t left = deadline - fl_mono_ns();
    return left <= 0 ? 0 : left < FL_WAIT_SLICE_NS ? left : FL_WAIT_SLICE_NS;
}

/* Time left before the deadline: -1 for none, else >= 0. */
static int64_t fl_left(int64_t deadline)
{
    if (deadline == FL_NO_DEADLINE)
        return -1;
    int64_t left = deadline - fl_mono_ns();
    return left < 0 ? 0 : left;
}

static struct timespec fl_ts(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

/* What poll must not report for a held fd: everything that says the peer spoke (data, end
 * of stream, an error); for a connect never answered, writability too. */
static short fl_hidden_events(unsigned state)
{
    if (state & FL_SILENT_CONNECTING)
        return (short)~0;
    return (short)(POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP | POLLHUP | POLLERR);
}

/* ---- poll ---------------------------------------------------------------------------------- */

struct fl_held {
    nfds_t index;
    int fd;
    short events, hidden;
};

static int fl_poll_held(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *mask)
{
    ppoll_fn real = (ppoll_fn)fl_resolve_extra("ppoll", &real_ppoll);
    int64_t deadline = fl_deadline(timeout_ns);
    for (;;) {
        struct fl_held held[FL_WAIT_HELD_MAX];
        int nheld = 0;
        fl_guard++;
        for (nfds_t i = 0; i < n && nheld < FL_WAIT_HELD_MAX; i++) {
            unsigned st = fds[i].fd >= 0 ? fl_silent_state(fds[i].fd) : 0;
            if (!st)
                continue;
            short hidden = fl_hidden_events(st);
            held[nheld++] = (struct fl_held){i, fds[i].fd, fds[i].events, hidden};
            if (fds[i].events & ~hidden)
                fds[i].events &= (short)~hidden;
            else
                fds[i].fd = ~fds[i].fd; /* a negative fd is skipped by the kernel */
        }
        fl_guard--;
        if (nheld == 0) {
            /* nothing held (any more): the rest of the wait is the real one */
            int64_t left = fl_left(deadline);
            struct timespec ts = fl_ts(left < 0 ? 0 : left);
            return real(fds, n, left < 0 ? NULL : &ts, mask);
        }
        struct timespec ts = fl_ts(fl_slice(deadline));
        int r = real(fds, n, &ts, mask);
        int saved = errno;
        for (int k = 0; k < nheld; k++) {
            struct pollfd *p = &fds[held[k].index];
            p->fd = held[k].fd;
            p->events = held[k].events;
            p->revents &= (short)~held[k].hidden;
        }
        if (r < 0) {
            errno = saved;
            return r;
        }
        int ready = 0;
        for (nfds_t i = 0; i < n; i++)
            ready += fds[i].revents != 0;
        if (ready > 0 || fl_slice(deadline) == 0)
            return ready;
    }
}

/* The held waits run in slices with signals blocked; each slice lets in the mask the wait would
 * have had (the caller's, or the one it was made with), so no handler runs between slices. */
static int fl_poll_silent(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *mask)
{
    sigset_t old;
    fl_block_signals(&old);
    int r = fl_poll_held(fds, n, timeout_ns, mask ? mask : &old);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

FL_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    if (FL_LIKELY(!fl_silence_on()))
        return ((int (*)(struct pollfd *, nfds_t, int))fl_resolve_extra("poll", &real_poll))(
            fds, n, timeout_ms);
    return fl_poll_silent(fds, n, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000, NULL);
}

FL_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
                    const sigset_t *mask)
{
    if (FL_LIKELY(!fl_silence_on()))
        return ((ppoll_fn)fl_resolve_extra("ppoll", &real_ppoll))(fds, n, tmo, mask);
    int64_t ns = tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1;
    return fl_poll_silent(fds, n, ns, mask);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *mask,
                size_t fdslen);
FL_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout_ms, size_t fdslen)
{
    (void)fdslen;
    return poll(fds, n, timeout_ms);
}
FL_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
                          const sigset_t *mask, size_t fdslen)
{
    (void)fdslen;
    return ppoll(fds, n, tmo, mask);
}

/* ---- select -------------------------------------------------------------------------------- */

static int fl_count_bits(int nfds, const fd_set *s)
{
    int k = 0;
    for (int fd = 0; s && fd < nfds; fd++)
        k += FD_ISSET(fd, s) != 0;
    return k;
}

static int fl_select_held(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t timeout_ns,
                          const sigset_t *mask, int64_t *left_ns)
{
    pselect_fn real = (pselect_fn)fl_resolve_extra("pselect", &real_pselect);
    int64_t deadline = fl_deadline(timeout_ns);
    fd_set r0, w0, e0;
    if (rd)
        r0 = *rd;
    if (wr)
        w0 = *wr;
    if (ex)
        e0 = *ex;
    for (;;) {
        fd_set r1, w1, e1;
        if (rd)
            r1 = r0;
        if (wr)
            w1 = w0;
        if (ex)
            e1 = e0;
        int nheld = 0;
        fl_guard++;
        for (int fd = 0; fd < nfds; fd++) {
            bool asked = (rd && FD_ISSET(fd, &r0)) || (wr && FD_ISSET(fd, &w0)) ||
                         (ex && FD_ISSET(fd, &e0));
            unsigned st = asked ? fl_silent_state(fd) : 0;
            if (!st)
                continue;
            nheld++;
            if (rd)
                FD_CLR(fd, &r1);
            if (ex)
                FD_CLR(fd, &e1);
            if (wr && (st & FL_SILENT_CONNECTING))
                FD_CLR(fd, &w1);
        }
        fl_guard--;
        int64_t slice = nheld ? fl_slice(deadline) : fl_left(deadline);
        struct timespec ts = fl_ts(slice < 0 ? 0 : slice);
        int r = real(nfds, rd ? &r1 : NULL, wr ? &w1 : NULL, ex ? &e1 : NULL,
                     slice < 0 ? NULL : &ts, mask);
        if (r < 0)
            return r;
        if (r > 0 || !nheld || fl_slice(deadline) == 0) {
            if (rd)
                *rd = r1;
            if (wr)
                *wr = w1;
            if (ex)
                *ex = e1;
            if (left_ns)
                *left_ns = fl_left(deadline) < 0 ? 0 : fl_left(deadline);
            return fl_count_bits(nfds, rd ? &r1 : NULL) + fl_count_bits(nfds, wr ? &w1 : NULL) +
                   fl_count_bits(nfds, ex ? &e1 : NULL);
        }
    }
}

static int fl_select_silent(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t timeout_ns,
                            const sigset_t *mask, int64_t *left_ns)
{
    sigset_t old;
    fl_block_signals(&old);
    int r = fl_select_held(nfds, rd, wr, ex, timeout_ns, mask ? mask : &old, left_ns);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

FL_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    if (FL_LIKELY(!fl_silence_on()) || nfds > FD_SETSIZE || nfds < 0)
        return ((int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *))fl_resolve_extra(
            "select", &real_select))(nfds, rd, wr, ex, tv);
    int64_t left = 0;
    int r = fl_select_silent(nfds, rd, wr, ex,
                             tv ? (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000 : -1,
                             NULL, &left);
    if (tv && r >= 0) {
        /* Linux's select leaves the time not slept in the timeout */
        tv->tv_sec = (time_t)(left / 1000000000);
        tv->tv_usec = (suseconds_t)(left % 1000000000 / 1000);
    }
    return r;
}

FL_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
                      const sigset_t *mask)
{
    if (FL_LIKELY(!fl_silence_on()) || nfds > FD_SETSIZE || nfds < 0)
        return ((pselect_fn)fl_resolve_extra("pselect", &real_pselect))(nfds, rd, wr, ex, tmo,
                                                                        mask);
    return fl_select_silent(nfds, rd, wr, ex,
                            tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1, mask,
                            NULL);
}

/* ---- epoll --------------------------------------------------------------------------------- */

struct fl_ep_entry {
    _Atomic int epfd_plus1; /* 0: free */
    _Atomic int fd;
    _Atomic uint64_t data;
};
static struct fl_ep_entry fl_ep[FL_EP_MAX];
static _Atomic int fl_ep_used; /* entries [0, used) have ever been taken */

static struct fl_ep_entry *fl_ep_find(int epfd, int fd)
{
    int used = atomic_load_explicit(&fl_ep_used, memory_order_acquire);
    for (int i = 0; i < used; i++)
        if (atomic_load_explicit(&fl_ep[i].epfd_plus1, memory_order_relaxed) == epfd + 1 &&
            atomic_load_explicit(&fl_ep[i].fd, memory_order_relaxed) == fd)
            return &fl_ep[i];
    return NULL;
}

static void fl_ep_remember(int epfd, int fd, uint64_t data)
{
    struct fl_ep_entry *e = fl_ep_find(epfd, fd);
    if (!e) {
        int used = atomic_load_explicit(&fl_ep_used, memory_order_acquire);
        for (int i = 0; i < used && !e; i++) {
            int zero = 0;
            if (atomic_compare_exchange_strong(&fl_ep[i].epfd_plus1, &zero, epfd + 1))
                e = &fl_ep[i];
        }
        if (!e) {
            int i = atomic_fetch_add(&fl_ep_used, 1);
            if (i >= FL_EP_MAX) {
                atomic_fetch_sub(&fl_ep_used, 1);
                return; /* past the cap: this fd's events are left as they are */
            }
            atomic_store(&fl_ep[i].epfd_plus1, epfd + 1);
            e = &fl_ep[i];
        }
    }
    atomic_store_explicit(&e->fd, fd, memory_order_relaxed);
    atomic_store_explicit(&e->data, data, memory_order_relaxed);
}

FL_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int r = ((int (*)(int, int, int, struct epoll_event *))fl_resolve_extra(
        "epoll_ctl", &real_epoll_ctl))(epfd, op, fd, ev);
    if (FL_LIKELY(!fl_silent_rules) || !fl_ctl_active || r != 0)
        return r;
    if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && ev) {
        fl_ep_remember(epfd, fd, ev->data.u64);
    } else if (op == EPOLL_CTL_DEL) {
        struct fl_ep_entry *e = fl_ep_find(epfd, fd);
        if (e)
            atomic_store(&e->epfd_plus1, 0);
    }
    return r;
}

/* The silence of the fd an event came from (by its data), 0 if none or unknown. */
static unsigned fl_ep_event_state(int epfd, uint64_t data)
{
    int used = atomic_load_explicit(&fl_ep_used, memory_order_acquire);
    for (int i = 0; i < used; i++) {
        if (atomic_load_explicit(&fl_ep[i].epfd_plus1, memory_order_relaxed) != epfd + 1 ||
            atomic_load_explicit(&fl_ep[i].data, memory_order_relaxed) != data)
            continue;
        unsigned st = fl_silent_state(atomic_load_explicit(&fl_ep[i].fd, memory_order_relaxed));
        if (st)
            return st;
    }
    return 0;
}

static uint32_t fl_ep_hidden(unsigned state)
{
    if (state & FL_SILENT_CONNECTING)
        return ~UINT32_C(0);
    return EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
}

static int fl_epoll_held(int epfd, struct epoll_event *ev, int max, int64_t timeout_ns,
                         const sigset_t *mask)
{
    epoll_pwait_fn real = (epoll_pwait_fn)fl_resolve_extra("epoll_pwait", &real_epoll_pwait);
    int64_t deadline = fl_deadline(timeout_ns);
    for (;;) {
        int64_t slice = fl_slice(deadline);
        /* epoll counts in ms: round up, so a wait never ends before its deadline */
        int ms = (int)((slice + 999999) / 1000000);
        int r = real(epfd, ev, max, ms, mask);
        if (r < 0)
            return r;
        int kept = 0;
        fl_guard++;
        for (int k = 0; k < r; k++) {
            unsigned st = fl_ep_event_state(epfd, ev[k].data.u64);
            if (st)
                ev[k].events &= ~fl_ep_hidden(st);
            if (ev[k].events)
                ev[kept++] = ev[k];
        }
        fl_guard--;
        if (kept > 0 || fl_slice(deadline) == 0)
            return kept;
        if (r > 0) {
            /* a level-triggered held fd is ready at once each time: do not spin on it */
            int64_t nap = fl_slice(deadline);
            struct timespec ts = fl_ts(nap < 2000000 ? nap : 2000000);
            if (syscall(SYS_ppoll, NULL, 0, &ts, mask, (size_t)(_NSIG / 8)) < 0 && errno == EINTR)
                return -1;
        }
    }
}

static int fl_epoll_silent(int epfd, struct epoll_event *ev, int max, int64_t timeout_ns,
                           const sigset_t *mask)
{
    sigset_t old;
    fl_block_signals(&old);
    int r = fl_epoll_held(epfd, ev, max, timeout_ns, mask ? mask : &old);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

FL_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
    if (FL_LIKELY(!fl_silence_on()))
        return ((int (*)(int, struct epoll_event *, int, int))fl_resolve_extra(
            "epoll_wait", &real_epoll_wait))(epfd, ev, max, timeout_ms);
    return fl_epoll_silent(epfd, ev, max, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000,
                           NULL);
}

FL_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout_ms,
                          const sigset_t *mask)
{
    if (FL_LIKELY(!fl_silence_on()))
        return ((epoll_pwait_fn)fl_resolve_extra("epoll_pwait", &real_epoll_pwait))(
            epfd, ev, max, timeout_ms, mask);
    return fl_epoll_silent(epfd, ev, max, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000,
                           mask);
}

int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
                 const sigset_t *mask);
FL_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
                           const sigset_t *mask)
{
    if (FL_LIKELY(!fl_silence_on()))
        return ((int (*)(int, struct epoll_event *, int, const struct timespec *,
                         const sigset_t *))fl_resolve_extra("epoll_pwait2", &real_epoll_pwait2))(
            epfd, ev, max, tmo, mask);
    return fl_epoll_silent(epfd, ev, max,
                           tmo ? (int64_t)tmo->tv_sec * 1000000000 + tmo->tv_nsec : -1, mask);
}
