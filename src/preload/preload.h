/* SPDX-License-Identifier: MIT */
/*
 * preload.h - internals shared by the preload's files (hidden; links only libc).
 *
 * Hot path of every wrapper, in order, cheapest first:
 *   1. no control block mapped                      -> real call   (one load)
 *   2. no rule names this call, or none is enabled   -> real call   (two more loads)
 *   3. re-entered from faultline's own code          -> real call   (a TLS read)
 *   4. subject filter: rules that depend on the fd are kept only if the fd's cached mask
 *      says they match (the mask is computed once per fd, not per call)
 *   5. fl_fire: count, after/nth/count/prob, waits; returns the rule whose effect applies
 * Nothing here takes a lock, so a fork in any thread at any moment is safe, and nothing here
 * allocates, so the malloc wrappers can use it.
 *
 * Past step 2, the call is described in fl_call (TLS) for what comes after: fl_cand stores
 * the call and its site (the wrapper's return address), the subject filters store what the
 * call is on. site= rules (fl_site_rules) and the observer (FL_CTL_OBSERVE_BIT, observe.c)
 * read it in fl_fire_slow. fl_cand is always inlined, and so is every helper that calls it,
 * so that its return address is the program's call site, never a place in the preload.
 */
#ifndef FL_PRELOAD_H
#define FL_PRELOAD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "ctlblock.h"
#include "ops.h"

#define FL_EXPORT __attribute__((visibility("default")))
#define FL_LIKELY(x) __builtin_expect(!!(x), 1)
#define FL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FL_TLS __thread __attribute__((tls_model("initial-exec")))
#define FL_COLD __attribute__((noinline, cold))
/* For fl_cand and the helpers that call it: __builtin_return_address(0) must be taken in the
 * exported wrapper's frame. */
#define FL_INLINE inline __attribute__((always_inline))

extern struct fl_ctl *fl_ctl_active;          /* NULL: inject nothing */
extern FL_TLS int fl_guard;                   /* >0: inside faultline's own code */
extern FL_TLS int fl_no_eintr;                /* >0: a wait may not end in EINTR (malloc, clock) */
/* Block every signal glibc lets us block, keeping the old mask. A wait made of many slices runs
 * with signals blocked and lets them in only inside each slice (ppoll/pselect/epoll_pwait with
 * the old mask), so a handler that runs ends the wait with EINTR as a real one would. */
void fl_block_signals(sigset_t *old);
extern FL_TLS int fl_nosignal;                /* the current send asked for MSG_NOSIGNAL */
extern FL_TLS int fl_recv_flags;              /* the current receive's flags (MSG_DONTWAIT) */
extern FL_TLS int fl_post_signal;             /* a signal=...@after rule fired: send it on return */
extern void *fl_real[FL_OP_COUNT];            /* the next definition of each wrapped call */

void *fl_resolve(int op);
/* The next definition of a symbol that is not in FL_OPS (free, dup2, ...). */
void *fl_resolve_extra(const char *name, void **slot);

#define FL_REAL(sym)                                                                              \
    ((__typeof__(&sym))(FL_LIKELY(fl_real[FL_OP_##sym]) ? fl_real[FL_OP_##sym]                    \
                                                         : fl_resolve(FL_OP_##sym)))

/* What fl_fire_slow knows of the current call beyond its candidates. */
enum fl_subj {
    FL_SUBJ_NONE = 0, /* no filter stored one (malloc, time, msync) */
    FL_SUBJ_FD,       /* fd */
    FL_SUBJ_PATH,     /* dirfd + path */
    FL_SUBJ_ADDR,     /* addr + addrlen (connect) */
    FL_SUBJ_HOST,     /* path: the host name (dns) */
};
struct fl_call {
    void *ret;                     /* the wrapper's return address: the call site */
    int op;                        /* FL_OP_x */
    int subj;                      /* enum fl_subj */
    int fd, dirfd;
    const char *path;              /* the caller's string, valid during the call */
    const struct sockaddr *addr;
    socklen_t addrlen;
};
/* A signal handler that makes wrapped calls between a wrapper's fl_cand and its fl_fire_slow
 * overwrites fl_call: the interrupted call is then taken for the handler's last one. Rare,
 * and never unsafe (the fields stay valid for the handler's call until fl_cand resets them). */
extern FL_TLS struct fl_call fl_call;

/* Rules that apply to op and are on; 0 on the fast path. A call that goes on is described
 * in fl_call; the caller of the wrapper is its site. */
static FL_INLINE uint64_t fl_cand(int op)
{
    struct fl_ctl *c = fl_ctl_active;
    if (FL_LIKELY(!c))
        return 0;
    uint64_t m = c->op_rules[op];
    if (FL_LIKELY(!m))
        return 0;
    m &= atomic_load_explicit(&c->enabled, memory_order_relaxed);
    if (!m || fl_guard)
        return 0;
    fl_call.ret = __builtin_return_address(0);
    fl_call.op = op;
    fl_call.subj = FL_SUBJ_NONE;
    return m;
}

struct fl_hit {
    struct fl_ctl_rule *r;  /* the rule whose effect applies */
    int idx;                /* its index */
    uint64_t n;             /* which of its matching calls this is (1-based) */
};

/* Count the call against each candidate in order; run the waits of those that fire; return
 * true with the first rule whose terminal effect applies. */
bool fl_fire_slow(uint64_t cand, struct fl_hit *hit);
static inline bool fl_fire(uint64_t cand, struct fl_hit *hit)
{
    return cand && fl_fire_slow(cand, hit);
}

/* Subject filters: keep the candidates whose selectors match. */
#define FL_FDTAB_SIZE 65536
#define FL_FD_VALID (UINT64_C(1) << 63)
extern _Atomic uint64_t *fl_fdtab;            /* per-fd mask of matching selective rules */
uint64_t fl_fd_mask_slow(int fd);
/* The mask of selective rules that match fd: cached per fd, computed on first use. */
static inline uint64_t fl_fd_mask(int fd)
{
    if (FL_LIKELY(fl_fdtab != NULL) && (unsigned)fd < FL_FDTAB_SIZE) {
        uint64_t v = atomic_load_explicit(&fl_fdtab[fd], memory_order_relaxed);
        if (FL_LIKELY(v & FL_FD_VALID))
            return v & ~FL_FD_VALID;
    }
    return fl_fd_mask_slow(fd);
}
static inline uint64_t fl_by_fd(uint64_t cand, int fd)
{
    if (FL_UNLIKELY(cand & FL_CTL_OBSERVE_BIT)) {
        fl_call.subj = FL_SUBJ_FD;
        fl_call.fd = fd;
    }
    uint64_t sel = cand & fl_ctl_active->selective;
    if (!sel)
        return cand;
    return (cand & ~sel) | (sel & fl_fd_mask(fd));
}
uint64_t fl_by_path(uint64_t cand, int dirfd, const char *path);
uint64_t fl_by_path2(uint64_t cand, int dirfd1, const char *p1, int dirfd2, const char *p2);
uint64_t fl_by_addr(uint64_t cand, const struct sockaddr *sa, socklen_t len);
uint64_t fl_by_host(uint64_t cand, const char *host);
/* Rules with a path, peer or port selector: a call with no subject (msync) cannot match
 * them, but it does match rules whose only selector is an fd kind (io.* families imply one). */
extern uint64_t fl_subject_rules;
static inline uint64_t fl_unselective(uint64_t cand)
{
    return cand & ~fl_subject_rules;
}

/* Rules with site=: fl_fire_slow drops those whose site is not the call's (before they
 * count the call), so rules without it pay nothing. */
extern uint64_t fl_site_rules;
/* The site hash of a return address (surface.h's fl_surf_site_hash of its module's file name
 * and offset), memoised per thread. */
uint32_t fl_site_of(const void *ret);

/* The observer (observe.c): map $FAULTLINE_SURFACE at start-up; record the current call. */
void fl_observe_init(void);
/* With $FAULTLINE_FATAL_LOG: report where a SIGSEGV, SIGBUS, SIGFPE or SIGILL hit (fatal.c). */
void fl_fatal_init(void);
void fl_observe_call(void);
void fl_observe_fd_forget(int fd);
/* An absolute form of path (relative ones joined to the cwd or dirfd's directory), the one
 * path rules are matched against. Returns path itself or buf. */
const char *fl_abs_path(int dirfd, const char *path, char *buf, size_t len);
unsigned fl_kind_of(mode_t m);
/* The executable's file name ("python3.11"): the main program's module name. */
extern char fl_exe_name[64];

/* The bootstrap arena (allocations made while dlsym runs); free() must skip its blocks. */
extern char fl_boot_arena[];
#define FL_BOOT_ARENA_SIZE (256 * 1024)
static inline bool fl_boot_owns(const void *p)
{
    return (const char *)p >= fl_boot_arena && (const char *)p < fl_boot_arena + FL_BOOT_ARENA_SIZE;
}
void *fl_boot_alloc(size_t n);
size_t fl_boot_size(const void *p);
int fl_boot_active(void);

/* The errno of a stdio failure faultline caused on an fd, reported again by the stream's
 * fflush/fclose (a real failed write leaves its flush and close failing too); 0 = none. */
extern _Atomic unsigned char fl_stdio_failed[FL_FDTAB_SIZE];

/* Forget what is cached about fd (it was closed, reopened or reconnected). */
void fl_fd_forget(int fd);

/* signal=SIG@after: the call goes on as usual, and the signal is sent when it returns. A
 * wrapper declares FL_POST_GUARD in the scope that makes the real call; the cleanup runs
 * after the return value is computed, so the call's effect is done when the signal lands. */
void fl_post_deliver(void);
static inline void fl_post_check(int *unused)
{
    (void)unused;
    if (FL_UNLIKELY(fl_post_signal))
        fl_post_deliver();
}
#define FL_POST_GUARD __attribute__((cleanup(fl_post_check))) int fl_post_guard_ = 0; \
    (void)fl_post_guard_

/* silent: the peer never answers. fl_silent_rules holds the rules with that effect (0: none,
 * and the poll/select/epoll wrappers pass straight through). An fd a silent rule fired on is
 * marked: its value is the rule's index + 1, with FL_SILENT_CONNECTING for a connect that is
 * never answered (never writable either). Marks end with the fd (fl_fd_forget) or the rule. */
#define FL_SILENT_CONNECTING 0x80u
/* eof marks too: an fd whose read an eof rule ended stays at its end (the peer that closed a
 * connection does not reopen it; a new connection is another fd) */
#define FL_STICKY_EOF 0x40u
#define FL_MARK_RULE(v) ((int)((v) & 0x3fu) - 1)
extern uint64_t fl_silent_rules;
extern uint64_t fl_sticky_rules; /* silent and eof rules: the receive wrappers' precheck */
void fl_mark_eof(int fd, int idx);
extern _Atomic unsigned char fl_silent_fd[FL_FDTAB_SIZE];
/* The fd's silence as poll must show it: 0 (not silent), else a mark value. A rule that would
 * fire on the next receive fires at the wait instead and marks the fd: a careful client
 * polls before it reads, and gives up without reading. */
unsigned fl_silent_state(int fd);
/* A receive a silent rule holds (rule index idx): EAGAIN at once when non-blocking, after
 * SO_RCVTIMEO when one is set, else waits until the rule is switched off. Returns 1 when the
 * rule went off and the real call should go on, else -1 with errno set. */
int fl_silent_recv(int fd, int idx);
/* A connect a silent rule holds: EINPROGRESS (non-blocking, or after SO_SNDTIMEO) or
 * ETIMEDOUT after the kernel's SYN retries; 1 when the rule went off meanwhile. */
int fl_silent_connect(int fd, int idx);
bool fl_silent_connect_pending(int fd);
int fl_silent_before_recv(int fd);
/* The receive-side check every receive wrapper makes first (nothing when no silent rule). */
#define FL_SILENT_PRECHECK(fd, flags)                                                             \
    do {                                                                                          \
        fl_recv_flags = (flags);                                                                  \
        if (FL_UNLIKELY(fl_sticky_rules)) {                                                       \
            int held_ = fl_silent_before_recv(fd);                                                \
            if (held_ != 0)                                                                       \
                return held_ < 0 ? -1 : 0;                                                        \
        }                                                                                         \
    } while (0)

/* Effects */
int fl_fail(const struct fl_hit *h);                     /* errno = rule's; returns -1 */
size_t fl_short_len(const struct fl_ctl_rule *r, size_t n);
void fl_flip_bits(const struct fl_hit *h, void *buf, size_t len);
struct iovec;
void fl_flip_iov(const struct fl_hit *h, const struct iovec *iov, int cnt, size_t got);
uint64_t fl_flip_pos(const struct fl_hit *h, uint32_t k, uint64_t nbits);

#endif
