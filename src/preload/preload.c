/* SPDX-License-Identifier: MIT */
/*
 * preload.c - faultline's LD_PRELOAD library: set-up, real-symbol resolution, rule firing and
 * subject matching. The wrappers themselves are in wrap_*.c. Links only libc.
 *
 * Divisions: globals and start-up | resolving real symbols (and the bootstrap allocator dlsym
 * may need) | firing rules | the per-fd cache | matching paths, addresses and hosts | effects.
 *
 * Invariants:
 *  - no wrapper takes a lock or allocates on its own behalf;
 *  - faultline's own code runs with fl_guard > 0, so calls it makes pass straight through;
 *  - the control block is only read, except the atomic counters and enabled mask.
 */
#include "preload.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "exe_alias.h"
#include "glob.h"
#include "prng.h"

struct fl_ctl *fl_ctl_active;
FL_TLS int fl_guard;
FL_TLS struct fl_call fl_call;
uint64_t fl_site_rules;
char fl_exe_name[64];
FL_TLS int fl_no_eintr;
FL_TLS int fl_nosignal;
FL_TLS int fl_recv_flags;
FL_TLS int fl_post_signal;
_Atomic unsigned char fl_stdio_failed[FL_FDTAB_SIZE];
uint64_t fl_silent_rules;
uint64_t fl_sticky_rules;
static uint64_t fl_silent_recv_rules; /* the silent rules that hold receives (not connect) */
_Atomic unsigned char fl_silent_fd[FL_FDTAB_SIZE];

/* What a call reports when a signal handler ran while a rule made it wait: like a blocking
 * system call, it gives up with EINTR, so signals (^C, alarms) still interrupt the target. */
static struct fl_ctl_rule fl_eintr_rule = {.effects = FL_EFF_ERRNO, .err = EINTR};
void *fl_real[FL_OP_COUNT];

_Atomic uint64_t *fl_fdtab;
uint64_t fl_subject_rules; /* per-fd mask of selective rules that match; 0 = unknown */

/* ---- resolving real symbols ------------------------------------------------------------- */

/* dlsym may allocate (its error state); while it runs, allocations come from this arena and
 * are never freed. Each block is preceded by its size so realloc can copy it out. */
char fl_boot_arena[FL_BOOT_ARENA_SIZE] __attribute__((aligned(16)));
static size_t fl_boot_used;
static int fl_boot_resolving;

void *fl_boot_alloc(size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + 16;
    size_t at = __atomic_fetch_add(&fl_boot_used, need, __ATOMIC_RELAXED);
    if (at + need > FL_BOOT_ARENA_SIZE)
        return NULL;
    *(size_t *)(fl_boot_arena + at) = n;
    return fl_boot_arena + at + 16;
}

size_t fl_boot_size(const void *p) { return *(const size_t *)((const char *)p - 16); }

int fl_boot_active(void) { return __atomic_load_n(&fl_boot_resolving, __ATOMIC_RELAXED); }

void *fl_resolve(int op)
{
    __atomic_add_fetch(&fl_boot_resolving, 1, __ATOMIC_RELAXED);
    void *p = dlsym(RTLD_NEXT, fl_op_table[op].name);
    __atomic_sub_fetch(&fl_boot_resolving, 1, __ATOMIC_RELAXED);
    if (p)
        __atomic_store_n(&fl_real[op], p, __ATOMIC_RELEASE);
    return p;
}

void *fl_resolve_extra(const char *name, void **slot)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (FL_LIKELY(p))
        return p;
    __atomic_add_fetch(&fl_boot_resolving, 1, __ATOMIC_RELAXED);
    p = dlsym(RTLD_NEXT, name);
    __atomic_sub_fetch(&fl_boot_resolving, 1, __ATOMIC_RELAXED);
    __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    return p;
}

/* ---- start-up ---------------------------------------------------------------------------- */

static void fl_detach(void) { __atomic_store_n(&fl_ctl_active, NULL, __ATOMIC_RELEASE); }

/* With --no-follow the target's children must run clean: forked ones detach at once, and
 * exec'd ones never load us, because our entry leaves LD_PRELOAD. */
static void fl_strip_env(void)
{
    Dl_info info;
    unsetenv("FAULTLINE_CTL");
    unsetenv("FAULTLINE_SURFACE");
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !dladdr((void *)fl_strip_env, &info) || !info.dli_fname)
        return;
    char out[4096];
    size_t n = 0;
    const char *p = pre;
    while (*p) {
        size_t len = strcspn(p, ": ");
        if (len && !(len == strlen(info.dli_fname) && !strncmp(p, info.dli_fname, len)) &&
            n + len + 2 < sizeof(out)) {
            if (n)
                out[n++] = ':';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        while (*p == ':' || *p == ' ')
            p++;
    }
    out[n] = '\0';
    if (n)
        setenv("LD_PRELOAD", out, 1);
    else
        unsetenv("LD_PRELOAD");
}

/* faultline never injects into itself (nested `faultline inject` or `faultline ctl`); with
 * --exe, only processes whose executable matches the glob count calls and take faults (the
 * executable the kernel runs, or the symlink to it that started it: for a script, its
 * interpreter). Others stay detached but keep
 * the environment, so a program they exec is judged afresh. */
static bool fl_self_is_excluded(const struct fl_ctl *c)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return c->exe[0] != '\0';
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    size_t bl = strlen(base);
    if (bl >= sizeof(fl_exe_name))
        bl = sizeof(fl_exe_name) - 1;
    memcpy(fl_exe_name, base, bl);
    fl_exe_name[bl] = '\0';
    if (strcmp(base, "faultline") == 0)
        return true;
    if (!c->exe[0])
        return false;
    char glob[FL_EXE_MAX];
    memcpy(glob, c->exe, sizeof(glob));
    glob[sizeof(glob) - 1] = '\0';
    bool slash = strchr(glob, '/') != NULL;
    if (fl_glob_match_path(glob, slash, exe))
        return false;
    const char *alias = fl_exe_alias(); /* started by a symlink's name (exe_alias.h) */
    return !(alias && fl_glob_match_path(glob, slash, alias));
}

__attribute__((constructor(101))) static void fl_init(void)
{
    fl_guard++;
    for (int op = 0; op < FL_OP_COUNT; op++)
        if (!fl_real[op])
            fl_resolve(op);
    const char *path = getenv("FAULTLINE_CTL");
    if (!path || !*path)
        goto out;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        goto out;
    struct stat st;
    struct fl_ctl *c = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == sizeof(struct fl_ctl))
        c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    syscall(SYS_close, fd);
    if (c == MAP_FAILED)
        goto out;
    if (c->magic != FL_CTL_MAGIC || c->version != FL_CTL_VERSION || c->size != sizeof(*c) ||
        c->nrules > FL_RULES_MAX) {
        munmap(c, sizeof(*c));
        goto out;
    }
    if (fl_self_is_excluded(c)) {
        /* faultline itself is counted (the preload did reach it); an --exe outsider is not */
        if (!c->exe[0])
            atomic_fetch_add(&c->attached, 1);
        munmap(c, sizeof(*c));
        goto out;
    }
    atomic_fetch_add(&c->attached, 1);
    void *tab = mmap(NULL, FL_FDTAB_SIZE * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fl_fdtab = tab == MAP_FAILED ? NULL : tab;
    for (unsigned i = 0; i < c->nrules; i++) {
        if (c->rules[i].path[0] || c->rules[i].peer_family || c->rules[i].port)
            fl_subject_rules |= UINT64_C(1) << i;
        if (c->rules[i].site_set)
            fl_site_rules |= UINT64_C(1) << i;
        if (c->rules[i].effects & (FL_EFF_SILENT | FL_EFF_EOF))
            fl_sticky_rules |= UINT64_C(1) << i;
        if (c->rules[i].effects & FL_EFF_SILENT) {
            fl_silent_rules |= UINT64_C(1) << i;
            /* a wait (poll) has no call site of its own: a site= rule is met at the receive */
            for (int op = 0; op < FL_OP_COUNT && !c->rules[i].site_set; op++)
                if ((c->rules[i].ops[op / 64] >> (op % 64) & 1) &&
                    fl_op_table[op].cls == FL_CLS_READ)
                    fl_silent_recv_rules |= UINT64_C(1) << i;
        }
    }
    if (c->flags & FL_CTL_OBSERVE)
        fl_observe_init();
    fl_fatal_init();
    if (c->flags & FL_CTL_NO_FOLLOW) {
        fl_strip_env();
        pthread_atfork(NULL, NULL, fl_detach);
    }
    __atomic_store_n(&fl_ctl_active, c, __ATOMIC_RELEASE);
out:
    fl_guard--;
}

/* ---- firing ------------------------------------------------------------------------------ */

/* A wait that a signal handler must be able to end, as it ends a real blocking call. A loop
 * of short sleeps loses a signal that lands between two of them (the handler runs, the next
 * sleep does not see it, and the call never returns EINTR), so signals stay blocked for the
 * whole wait and are let in only inside each sleep: ppoll swaps the mask atomically, the way
 * pselect was made for. glibc's pthread_sigmask keeps its own internal signals unblocked. */
struct fl_wait {
    sigset_t old;
    bool interruptible;
};

void fl_block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, old);
}

static void fl_wait_begin(struct fl_wait *w)
{
    w->interruptible = !fl_no_eintr;
    if (w->interruptible)
        fl_block_signals(&w->old);
}

/* Sleep ns; true if a signal handler ran (pending ones run at the start of the sleep). */
static bool fl_wait_ns(struct fl_wait *w, int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    if (!w->interruptible) {
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return false;
    }
    /* the raw call: our ppoll wrapper is for the program's own waits */
    return syscall(SYS_ppoll, NULL, 0, &ts, &w->old, (size_t)(_NSIG / 8)) < 0 && errno == EINTR;
}

static void fl_wait_end(struct fl_wait *w)
{
    if (w->interruptible)
        pthread_sigmask(SIG_SETMASK, &w->old, NULL);
}

/* Wait ns; returns true if a signal handler ran and the wait may end in EINTR. */
static bool fl_sleep_ns(int64_t ns)
{
    struct fl_wait w;
    fl_wait_begin(&w);
    bool interrupted = fl_wait_ns(&w, ns);
    fl_wait_end(&w);
    return interrupted;
}

/* Block until the rule is switched off (or the block is reverted), or a signal arrives. */
static bool fl_hang(const struct fl_ctl *c, int idx)
{
    uint64_t bit = UINT64_C(1) << idx;
    struct fl_wait w;
    fl_wait_begin(&w);
    bool interrupted = false;
    while (!interrupted &&
           (atomic_load_explicit(&((struct fl_ctl *)c)->enabled, memory_order_acquire) & bit))
        interrupted = fl_wait_ns(&w, 5 * 1000 * 1000);
    fl_wait_end(&w);
    return interrupted;
}

/* Keep of the site= rules among cand only those whose site is the current call's. */
static uint64_t fl_by_site(const struct fl_ctl *c, uint64_t cand)
{
    uint32_t site = fl_site_of(fl_call.ret);
    uint64_t s = cand & fl_site_rules;
    while (s) {
        int i = __builtin_ctzll(s);
        s &= s - 1;
        if (c->rules[i].site != site)
            cand &= ~(UINT64_C(1) << i);
    }
    return cand;
}

bool fl_fire_slow(uint64_t cand, struct fl_hit *hit)
{
    struct fl_ctl *c = fl_ctl_active;
    if (!cand || !c)
        return false;
    int saved = errno;
    fl_guard++;
    bool fired = false;
    if (cand & FL_CTL_OBSERVE_BIT) {
        /* the observer's bit is no rule: record the call, then go on with the rules */
        cand &= FL_CTL_RULE_BITS;
        fl_observe_call();
    }
    if (FL_UNLIKELY(cand & fl_site_rules))
        cand = fl_by_site(c, cand);
    while (cand) {
        int i = __builtin_ctzll(cand);
        cand &= cand - 1;
        struct fl_ctl_rule *r = &c->rules[i];
        uint64_t n = atomic_fetch_add_explicit(&r->seen, 1, memory_order_relaxed) + 1;
        if (n <= r->after)
            continue;
        if (r->prob != UINT64_MAX && fl_mix3(c->seed, (uint64_t)i, n) >= r->prob)
            continue;
        if (r->count) {
            uint64_t k = atomic_load_explicit(&r->injected, memory_order_relaxed);
            bool got = false;
            while (k < r->count) {
                if (atomic_compare_exchange_weak(&r->injected, &k, k + 1)) {
                    got = true;
                    break;
                }
            }
            if (!got)
                continue;
        } else {
            atomic_fetch_add_explicit(&r->injected, 1, memory_order_relaxed);
        }
        bool interrupted = false;
        if (r->effects & FL_EFF_DELAY)
            interrupted = fl_sleep_ns(r->delay_ns);
        if (r->effects & FL_EFF_HANG)
            interrupted = fl_hang(c, i);
        if ((r->effects & FL_EFF_SIGNAL) && !interrupted) {
            /* process-directed, as a kill from outside: any thread that does not block it takes
             * it; SIGKILL ends the process before the call is made */
            if (r->signal_after)
                fl_post_signal = r->signo;
            else
                kill(getpid(), r->signo);
        }
        if (interrupted) {
            hit->r = &fl_eintr_rule;
            hit->idx = i;
            hit->n = n;
            fired = true;
            break;
        }
        if (r->effects & ~FL_EFF_NONTERMINAL) {
            hit->r = r;
            hit->idx = i;
            hit->n = n;
            fired = true;
            break;
        }
    }
    fl_guard--;
    errno = saved;
    return fired;
}

/* ---- per-fd cache ------------------------------------------------------------------------ */

unsigned fl_kind_of(mode_t m)
{
    if (S_ISREG(m) || S_ISDIR(m) || S_ISBLK(m))
        return FL_KIND_FILE;
    if (S_ISFIFO(m))
        return FL_KIND_PIPE;
    if (S_ISSOCK(m))
        return FL_KIND_SOCKET;
    return FL_KIND_OTHER;
}

static bool fl_addr_matches(const struct fl_ctl_rule *r, const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (r->peer_family) {
        if (sa->sa_family != r->peer_family)
            return false;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)sa;
            if (memcmp(&in->sin_addr, r->peer_addr, 4) != 0)
                return false;
            if (r->peer_port && ntohs(in->sin_port) != r->peer_port)
                return false;
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)sa;
            if (memcmp(&in6->sin6_addr, r->peer_addr, 16) != 0)
                return false;
            if (r->peer_port && ntohs(in6->sin6_port) != r->peer_port)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

static unsigned fl_port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

static uint64_t fl_fd_compute(int fd)
{
    const struct fl_ctl *c = fl_ctl_active;
    uint64_t sel = c->selective, mask = 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return 0;
    unsigned kind = fl_kind_of(st.st_mode);
    char path[PATH_MAX];
    bool have_path = false, have_addrs = false;
    struct sockaddr_storage peer, local;
    bool have_peer = false, have_local = false;
    while (sel) {
        int i = __builtin_ctzll(sel);
        sel &= sel - 1;
        const struct fl_ctl_rule *r = &c->rules[i];
        if (!(r->kinds & kind))
            continue;
        if (r->path[0]) {
            if (!have_path) {
                char link[64];
                int ln = 0;
                for (int v = fd, d = 1000000000, started = 0; d; d /= 10) {
                    int digit = (v / d) % 10;
                    if (digit || started || d == 1) {
                        link[14 + ln++] = (char)('0' + digit);
                        started = 1;
                    }
                }
                memcpy(link, "/proc/self/fd/", 14);
                link[14 + ln] = '\0';
                ssize_t n = readlink(link, path, sizeof(path) - 1);
                if (n <= 0)
                    continue;
                path[n] = '\0';
                if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
                    path[n - 10] = '\0';
                have_path = true;
            }
            if (!fl_glob_match_path(r->path, r->path_has_slash, path))
                continue;
        }
        if (r->peer_family || r->port) {
            if (kind != FL_KIND_SOCKET)
                continue;
            if (!have_addrs) {
                socklen_t l1 = sizeof(peer), l2 = sizeof(local);
                have_peer = getpeername(fd, (struct sockaddr *)&peer, &l1) == 0;
                have_local = getsockname(fd, (struct sockaddr *)&local, &l2) == 0;
                have_addrs = true;
            }
            if (r->peer_family && !(have_peer && fl_addr_matches(r, (struct sockaddr *)&peer)))
                continue;
            if (r->port && !((have_peer && fl_port_of(&peer) == r->port) ||
                             (have_local && fl_port_of(&local) == r->port)))
                continue;
        }
        mask |= UINT64_C(1) << i;
    }
    return mask;
}

uint64_t fl_fd_mask_slow(int fd)
{
    if (fd < 0)
        return 0;
    int saved = errno;
    fl_guard++;
    uint64_t m = fl_fd_compute(fd);
    fl_guard--;
    errno = saved;
    if (fl_fdtab && fd < FL_FDTAB_SIZE)
        atomic_store_explicit(&fl_fdtab[fd], m | FL_FD_VALID, memory_order_relaxed);
    return m;
}

void fl_fd_forget(int fd)
{
    if (fd < 0 || fd >= FL_FDTAB_SIZE)
        return;
    if (fl_fdtab)
        atomic_store_explicit(&fl_fdtab[fd], 0, memory_order_relaxed);
    atomic_store_explicit(&fl_stdio_failed[fd], 0, memory_order_relaxed);
    atomic_store_explicit(&fl_silent_fd[fd], 0, memory_order_relaxed);
    fl_observe_fd_forget(fd);
}

/* ---- paths, addresses, hosts ------------------------------------------------------------- */

/* An absolute form of path, for matching: relative paths are joined to the cwd or to dirfd's
 * directory. No symlinks are resolved (the file may not exist yet). */
const char *fl_abs_path(int dirfd, const char *path, char *buf, size_t len)
{
    if (!path)
        return "";
    if (path[0] == '/')
        return path;
    size_t n;
    if (dirfd == AT_FDCWD) {
        if (!getcwd(buf, len))
            return path;
        n = strlen(buf);
    } else {
        char link[32] = "/proc/self/fd/";
        int k = 14;
        char digits[12];
        int d = 0;
        unsigned v = (unsigned)dirfd;
        do {
            digits[d++] = (char)('0' + v % 10);
            v /= 10;
        } while (v && d < 11);
        while (d)
            link[k++] = digits[--d];
        link[k] = '\0';
        ssize_t r = readlink(link, buf, len - 1);
        if (r <= 0)
            return path;
        n = (size_t)r;
        buf[n] = '\0';
    }
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    size_t pl = strlen(path);
    if (n + 1 + pl + 1 > len)
        return path;
    if (n == 0 || buf[n - 1] != '/')
        buf[n++] = '/';
    memcpy(buf + n, path, pl + 1);
    return buf;
}

static uint64_t fl_path_mask(uint64_t sel, const char *abs)
{
    const struct fl_ctl *c = fl_ctl_active;
    uint64_t mask = 0;
    while (sel) {
        int i = __builtin_ctzll(sel);
        sel &= sel - 1;
        const struct fl_ctl_rule *r = &c->rules[i];
        if (!(r->kinds & FL_KIND_FILE) || r->peer_family || r->port)
            continue;
        if (r->path[0] && !fl_glob_match_path(r->path, r->path_has_slash, abs))
            continue;
        mask |= UINT64_C(1) << i;
    }
    return mask;
}

uint64_t fl_by_path(uint64_t cand, int dirfd, const char *path)
{
    fl_call.subj = FL_SUBJ_PATH;
    fl_call.dirfd = dirfd;
    fl_call.path = path;
    uint64_t sel = cand & fl_ctl_active->selective;
    if (!sel)
        return cand;
    char buf[PATH_MAX];
    fl_guard++;
    uint64_t m = fl_path_mask(sel, fl_abs_path(dirfd, path, buf, sizeof(buf)));
    fl_guard--;
    return (cand & ~sel) | m;
}

uint64_t fl_by_path2(uint64_t cand, int dirfd1, const char *p1, int dirfd2, const char *p2)
{
    /* rename: the destination names the file that matters (the source is often a temp) */
    fl_call.subj = FL_SUBJ_PATH;
    fl_call.dirfd = dirfd2;
    fl_call.path = p2;
    uint64_t sel = cand & fl_ctl_active->selective;
    if (!sel)
        return cand;
    char buf[PATH_MAX];
    fl_guard++;
    uint64_t m = fl_path_mask(sel, fl_abs_path(dirfd1, p1, buf, sizeof(buf)));
    m |= fl_path_mask(sel, fl_abs_path(dirfd2, p2, buf, sizeof(buf)));
    fl_guard--;
    return (cand & ~sel) | m;
}

uint64_t fl_by_addr(uint64_t cand, const struct sockaddr *sa, socklen_t len)
{
    fl_call.subj = FL_SUBJ_ADDR;
    fl_call.addr = sa;
    fl_call.addrlen = len;
    const struct fl_ctl *c = fl_ctl_active;
    uint64_t sel = cand & c->selective, mask = 0;
    if (!sel)
        return cand;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (sa && len > 0)
        memcpy(&ss, sa, len < sizeof(ss) ? len : sizeof(ss));
    uint64_t s = sel;
    while (s) {
        int i = __builtin_ctzll(s);
        s &= s - 1;
        const struct fl_ctl_rule *r = &c->rules[i];
        if (!(r->kinds & FL_KIND_SOCKET) || r->path[0])
            continue;
        if (r->peer_family && !fl_addr_matches(r, (struct sockaddr *)&ss))
            continue;
        if (r->port && fl_port_of(&ss) != r->port)
            continue;
        mask |= UINT64_C(1) << i;
    }
    return (cand & ~sel) | mask;
}

uint64_t fl_by_host(uint64_t cand, const char *host)
{
    fl_call.subj = FL_SUBJ_HOST;
    fl_call.path = host;
    const struct fl_ctl *c = fl_ctl_active;
    /* rules[] is indexed by bit: the observer's bit has no rule, and no host to match */
    uint64_t out = cand & FL_CTL_OBSERVE_BIT;
    cand &= FL_CTL_RULE_BITS;
    while (cand) {
        int i = __builtin_ctzll(cand);
        cand &= cand - 1;
        const struct fl_ctl_rule *r = &c->rules[i];
        if (r->host[0] && !fl_glob_match(r->host, host ? host : ""))
            continue;
        out |= UINT64_C(1) << i;
    }
    return out;
}

/* ---- effects ----------------------------------------------------------------------------- */

int fl_fail(const struct fl_hit *h)
{
    /* the kernel sends SIGPIPE with EPIPE unless the send said MSG_NOSIGNAL */
    if (h->r->err == EPIPE && !fl_nosignal)
        pthread_kill(pthread_self(), SIGPIPE);
    fl_nosignal = 0;
    errno = h->r->err;
    return -1;
}

size_t fl_short_len(const struct fl_ctl_rule *r, size_t n)
{
    if (r->short_is_share) {
        /* a share of a non-empty request is at least one byte: 0 would read as EOF */
        size_t len = (size_t)((__uint128_t)n * r->short_value / 1000000u);
        return len == 0 && n > 0 && r->short_value > 0 ? 1 : len;
    }
    return r->short_value < n ? (size_t)r->short_value : n;
}

uint64_t fl_flip_pos(const struct fl_hit *h, uint32_t k, uint64_t nbits)
{
    uint64_t x = fl_mix3(fl_ctl_active->seed ^ ((uint64_t)h->idx << 56), h->n, k);
    return (uint64_t)(((__uint128_t)x * nbits) >> 64);
}

/* Flip corrupt_bits distinct bits (all of them if the buffer has fewer). */
void fl_flip_bits(const struct fl_hit *h, void *buf, size_t len)
{
    struct iovec v = {buf, len};
    fl_flip_iov(h, &v, 1, len);
}

void fl_flip_iov(const struct fl_hit *h, const struct iovec *iov, int cnt, size_t got)
{
    uint64_t nbits = (uint64_t)got * 8;
    if (!nbits)
        return;
    uint32_t want = h->r->corrupt_bits;
    uint64_t picked[64];
    uint32_t npicked = 0;
    for (uint32_t k = 0, tries = 0; npicked < want && npicked < nbits && tries < want * 4 + 64;
         tries++, k++) {
        uint64_t pos = fl_flip_pos(h, k, nbits);
        bool dup = false;
        for (uint32_t j = 0; j < npicked && j < 64; j++)
            dup |= picked[j] == pos;
        if (dup)
            continue;
        if (npicked < 64)
            picked[npicked] = pos;
        npicked++;
        uint64_t byte = pos / 8;
        for (int i = 0; i < cnt; i++) {
            if (byte < iov[i].iov_len) {
                ((unsigned char *)iov[i].iov_base)[byte] ^= (unsigned char)(1u << (pos % 8));
                break;
            }
            byte -= iov[i].iov_len;
        }
    }
}

void fl_post_deliver(void)
{
    int sig = fl_post_signal, saved = errno;
    fl_post_signal = 0;
    kill(getpid(), sig);
    errno = saved;
}

/* ---- silent peers ------------------------------------------------------------------------- */

/* Would rule i fire on its next matching call? The same tests as fl_fire_slow, without
 * counting: a poll before the receive must see the silence the receive will meet. */
static bool fl_would_fire(const struct fl_ctl *c, int i)
{
    const struct fl_ctl_rule *r = &c->rules[i];
    uint64_t n = atomic_load_explicit(&((struct fl_ctl_rule *)r)->seen, memory_order_relaxed) + 1;
    if (n <= r->after)
        return false;
    if (r->prob != UINT64_MAX && fl_mix3(c->seed, (uint64_t)i, n) >= r->prob)
        return false;
    if (r->count &&
        atomic_load_explicit(&((struct fl_ctl_rule *)r)->injected, memory_order_relaxed) >= r->count)
        return false;
    return true;
}

static bool fl_rule_on(const struct fl_ctl *c, int idx)
{
    return atomic_load_explicit(&((struct fl_ctl *)c)->enabled, memory_order_acquire) >> idx & 1;
}

/* The mark on fd if its rule is still on (a mark whose rule went off is dropped). */
static unsigned fl_silent_mark(const struct fl_ctl *c, int fd)
{
    if (fd < 0 || fd >= FL_FDTAB_SIZE)
        return 0;
    unsigned v = atomic_load_explicit(&fl_silent_fd[fd], memory_order_relaxed);
    if (v && !fl_rule_on(c, FL_MARK_RULE(v))) {
        atomic_store_explicit(&fl_silent_fd[fd], 0, memory_order_relaxed);
        v = 0;
    }
    return v;
}

unsigned fl_silent_state(int fd)
{
    const struct fl_ctl *c = fl_ctl_active;
    if (!c || fd < 0 || fd >= FL_FDTAB_SIZE)
        return 0;
    unsigned v = fl_silent_mark(c, fd);
    if (v & FL_STICKY_EOF)
        return 0; /* at its end: that is readable, as the kernel says */
    if (v)
        return v;
    uint64_t cand = fl_silent_recv_rules &
                    atomic_load_explicit(&((struct fl_ctl *)c)->enabled, memory_order_relaxed);
    if (!cand)
        return 0;
    cand = fl_by_fd(cand, fd);
    while (cand) {
        int i = __builtin_ctzll(cand);
        cand &= cand - 1;
        if (!fl_would_fire(c, i))
            continue;
        /* a wait for the peer's data is where the silence is met: it counts as the rule's
         * call (a client that gives up after the poll never reaches its receive) */
        struct fl_hit h;
        if (fl_fire_slow(UINT64_C(1) << i, &h) && (h.r->effects & FL_EFF_SILENT)) {
            atomic_store_explicit(&fl_silent_fd[fd], (unsigned char)(i + 1),
                                  memory_order_relaxed);
            return (unsigned)i + 1;
        }
    }
    return 0;
}

static bool fl_fd_nonblocking(int fd)
{
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* A socket timeout option in ns; 0 when none is set. */
static int64_t fl_sock_timeout_ns(int fd, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0)
        return 0;
    return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

static int64_t fl_now_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait up to limit_ns (< 0: no limit) while rule idx stays on. Returns 1 if the rule went
 * off, 0 at the limit, -1 (EINTR) if a signal handler ran. */
static int fl_silent_wait(const struct fl_ctl *c, int idx, int64_t limit_ns)
{
    int64_t end = limit_ns >= 0 ? fl_now_ns() + limit_ns : INT64_MAX;
    struct fl_wait w;
    fl_wait_begin(&w);
    int result;
    for (;;) {
        if (!fl_rule_on(c, idx)) {
            result = 1;
            break;
        }
        int64_t left = end - fl_now_ns();
        if (left <= 0) {
            result = 0;
            break;
        }
        if (fl_wait_ns(&w, left < 5000000 ? left : 5000000)) {
            result = -1;
            break;
        }
    }
    fl_wait_end(&w);
    if (result < 0)
        errno = EINTR;
    return result;
}

int fl_silent_recv(int fd, int idx)
{
    const struct fl_ctl *c = fl_ctl_active;
    int saved = errno;
    fl_guard++;
    if (fd >= 0 && fd < FL_FDTAB_SIZE &&
        !(atomic_load_explicit(&fl_silent_fd[fd], memory_order_relaxed) & FL_SILENT_CONNECTING))
        atomic_store_explicit(&fl_silent_fd[fd], (unsigned char)(idx + 1), memory_order_relaxed);
    int rc;
    if ((fl_recv_flags & MSG_DONTWAIT) || fl_fd_nonblocking(fd)) {
        errno = EAGAIN;
        rc = -1;
    } else {
        int64_t limit = fl_sock_timeout_ns(fd, SO_RCVTIMEO);
        int w = fl_silent_wait(c, idx, limit > 0 ? limit : -1);
        if (w == 1) {
            errno = saved;
            rc = 1;
        } else {
            if (w == 0)
                errno = EAGAIN; /* what SO_RCVTIMEO ends in */
            rc = -1;
        }
    }
    fl_recv_flags = 0;
    fl_guard--;
    return rc;
}

/* How long Linux tries a SYN before connect fails with ETIMEDOUT: tcp_syn_retries
 * retransmissions from a 1 s timeout, doubling (127 s at the default 6). */
static int64_t fl_syn_timeout_ns(void)
{
    int retries = 6;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/sys/net/ipv4/tcp_syn_retries",
                          O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[16] = {0};
        if (syscall(SYS_read, fd, buf, sizeof(buf) - 1) > 0 && buf[0] >= '0' && buf[0] <= '9')
            retries = atoi(buf);
        syscall(SYS_close, fd);
    }
    if (retries > 12)
        retries = 12;
    return ((INT64_C(1) << (retries + 1)) - 1) * 1000000000;
}

int fl_silent_connect(int fd, int idx)
{
    const struct fl_ctl *c = fl_ctl_active;
    int saved = errno;
    fl_guard++;
    int rc = -1;
    unsigned char mark = (unsigned char)((idx + 1) | FL_SILENT_CONNECTING);
    if (fl_fd_nonblocking(fd)) {
        errno = EINPROGRESS;
    } else {
        /* with SO_SNDTIMEO a blocking connect gives up with EINPROGRESS and keeps trying in
         * the background; without it, the kernel's SYN retries end in ETIMEDOUT */
        int64_t limit = fl_sock_timeout_ns(fd, SO_SNDTIMEO);
        int w = fl_silent_wait(c, idx, limit > 0 ? limit : fl_syn_timeout_ns());
        if (w == 1) {
            errno = saved;
            rc = 1;
        } else if (w == 0) {
            errno = limit > 0 ? EINPROGRESS : ETIMEDOUT;
            if (limit <= 0)
                mark = 0;
        } else {
            errno = EINTR; /* interrupted: the SYN goes on in the background */
        }
    }
    if (rc < 0 && mark && fd >= 0 && fd < FL_FDTAB_SIZE)
        atomic_store_explicit(&fl_silent_fd[fd], mark, memory_order_relaxed);
    fl_guard--;
    return rc;
}

/* A connect on an fd whose silent connect is still pending: EALREADY, as the kernel says. */
bool fl_silent_connect_pending(int fd)
{
    const struct fl_ctl *c = fl_ctl_active;
    return c && (fl_silent_mark(c, fd) & FL_SILENT_CONNECTING);
}

void fl_mark_eof(int fd, int idx)
{
    if (fd >= 0 && fd < FL_FDTAB_SIZE)
        atomic_store_explicit(&fl_silent_fd[fd], (unsigned char)((idx + 1) | FL_STICKY_EOF),
                              memory_order_relaxed);
}

/* A receive on an fd already held silent or at its end: wait or fail as the first one did.
 * Returns 0 to go on with the call as usual, -1 to return -1 (errno set), 1 to return 0. */
int fl_silent_before_recv(int fd)
{
    const struct fl_ctl *c = fl_ctl_active;
    unsigned v = c ? fl_silent_mark(c, fd) : 0;
    if (!v)
        return 0;
    /* a socket still connecting reads as one whose peer says nothing */
    if (v & FL_STICKY_EOF)
        return 1;
    return fl_silent_recv(fd, FL_MARK_RULE(v)) < 0 ? -1 : 0;
}
