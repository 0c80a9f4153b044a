/* SPDX-License-Identifier: MIT */
/*
 * faults/hog.c - take a resource away for a while: memory, CPU, or a process's open files.
 *
 * Params: {"resource": "mem", "size": "512MiB" | "25%" | bytes}
 *         {"resource": "cpu", "workers": N (0 or absent: one per usable CPU),
 *          "load": "80%" (absent: 100%)}
 *         {"resource": "fds", "pid": P, "limit": N}
 *
 * mem and cpu are held by the faultline process itself: an anonymous mapping, every page
 * written so it is resident (and mlock'd when RLIMIT_MEMLOCK or CAP_IPC_LOCK allows, so it
 * cannot be swapped out), or N threads each busy for load x 100ms of every 100ms period,
 * measured in the thread's own CPU time so a contended machine does not make them spin
 * longer. They live in `hog_held`, the kind's table of what this process holds, keyed by
 * journal id: the one mutable global here, because what apply takes must outlive apply and
 * fault.h gives a kind no other place for it. Whatever faultline holds goes with it when it
 * dies, so `faultline recover` has nothing to release for a dead owner; for a live one
 * (recover --all) it sends the owner SIGTERM, whose hold then reverts and exits.
 *
 * fds lowers another process's RLIMIT_NOFILE soft limit with prlimit(2); the undo keeps the
 * old soft and hard limits and the target's start time, so revert never touches a process
 * that merely reuses the pid, and restores only if the soft limit is still the one faultline
 * set (the target, or a later hog, may have changed it since: theirs to keep). Lowering below
 * the number of fds already open is allowed: the target keeps them, but every open, socket,
 * pipe or accept fails with EMFILE until it is below the limit again.
 *
 * Divisions: the table of holdings; mem; cpu; fds; the kind (dispatch on "resource").
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "units.h"

#define HOG_PERIOD_NS (100 * INT64_C(1000000))  /* duty cycle period of a cpu worker */
#define HOG_WORKERS_MAX 1024                      /* cap on a user-chosen thread count */

/* What this process holds for one applied hog (mem or cpu). */
struct hog_held {
    char id[64];                 /* journal id */
    void *mem;                   /* mem: the mapping, or NULL */
    size_t len;                  /* mem: its length */
    pthread_t *threads;          /* cpu: the workers */
    unsigned nthreads;           /* cpu: how many run */
    int64_t busy_ns;             /* cpu: CPU time each worker spends per period */
    atomic_bool stop;            /* cpu: set by revert, read by the workers */
    struct hog_held *next;
};

static pthread_mutex_t hog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hog_held *hog_held;   /* see the header: this process's holdings */
static json_t *hog_sink;            /* borrowed: ctx->report while hog_apply runs */

static void hog_report(json_t *report)
{
    if (hog_sink && report)
        json_object_update(hog_sink, report);
    json_decref(report);
}

static const char *hog_resource(const json_t *params)
{
    return json_string_value(json_object_get(params, "resource"));
}

static bool hog_interrupted(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) ||
                                         sigismember(&pending, SIGTERM) ||
                                         sigismember(&pending, SIGHUP));
}

/* The owner fields every in-process hog keeps, so a revert elsewhere can find it. */
static json_t *hog_owner_undo(void)
{
    pid_t self = getpid();
    return json_pack("{s:i, s:I}", "owner", (int)self, "start",
                     (json_int_t)fl_proc_starttime(self));
}

static void hog_link(struct hog_held *h)
{
    pthread_mutex_lock(&hog_lock);
    h->next = hog_held;
    hog_held = h;
    pthread_mutex_unlock(&hog_lock);
}

static struct hog_held *hog_unlink(const char *id)
{
    pthread_mutex_lock(&hog_lock);
    struct hog_held **pp = &hog_held, *h = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            h = *pp;
            *pp = h->next;
            break;
        }
    }
    pthread_mutex_unlock(&hog_lock);
    return h;
}

/* ---- mem ---- */

/* A "Key: N kB" line of /proc/meminfo in bytes, 0 if missing. */
static uint64_t meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[256];
    uint64_t v = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtoull(line + kl + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* The memory limit of this process's cgroup (v2 memory.max, else v1), 0 if none. */
static uint64_t cgroup_mem_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[1024], path[1200];
    uint64_t limit = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *rel = NULL, *file = NULL, *base = NULL;
        if (strncmp(line, "0::", 3) == 0) {
            rel = line + 3, base = "/sys/fs/cgroup", file = "memory.max";
        } else {
            char *c = strstr(line, ":memory:");
            if (c)
                rel = c + 8, base = "/sys/fs/cgroup/memory", file = "memory.limit_in_bytes";
        }
        if (!rel)
            continue;
        /* inside a container the path may be relative to a root we cannot see: try both */
        const char *tries[2] = {rel, ""};
        for (int t = 0; t < 2; t++) {
            snprintf(path, sizeof(path), "%s%s/%s", base, tries[t], file);
            FILE *g = fopen(path, "re");
            if (!g)
                continue;
            char v[64] = "";
            if (fgets(v, sizeof(v), g) && v[0] >= '0' && v[0] <= '9') {
                uint64_t n = strtoull(v, NULL, 10);
                /* v1 says "no limit" with a huge page-rounded number */
                if (n < (UINT64_C(1) << 60) && (!limit || n < limit))
                    limit = n;
            }
            fclose(g);
            break;
        }
    }
    fclose(f);
    return limit;
}

static int mem_prepare(const json_t *params, json_t *undo, struct fl_err *err)
{
    json_t *js = json_object_get(params, "size");
    uint64_t v = 0, total = meminfo("MemTotal");
    bool pct = false;
    if (json_is_integer(js) && json_integer_value(js) >= 0) {
        v = (uint64_t)json_integer_value(js);
    } else if (!json_is_string(js) ||
               fl_parse_size(json_string_value(js), true, &v, &pct, err) < 0) {
        if (!json_is_string(js))
            fl_err_set(err, EINVAL, "expected a size like 512MiB or a share like 25%%");
        fl_err_prefix(err, "hog mem");
        return -EINVAL;
    }
    if (pct) {
        if (!total)
            return fl_err_set(err, ENOTSUP, "hog mem: no MemTotal in /proc/meminfo for %s",
                              json_string_value(js));
        v = (uint64_t)((__uint128_t)total * v / 1000000);
    }
    long page = sysconf(_SC_PAGESIZE);
    v = (v + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
    char want[32], have[32];
    fl_format_size(v, want, sizeof(want));
    if (v == 0)
        return fl_err_set(err, EINVAL, "hog mem: the size must be above 0");
    if (total && v > total)
        return fl_err_set(err, EFBIG, "hog mem: %s is more than this machine's memory (%s)",
                          want, fl_format_size(total, have, sizeof(have)));
    uint64_t cg = cgroup_mem_limit();
    if (cg && v > cg)
        return fl_err_set(err, EFBIG, "hog mem: %s is more than this cgroup's memory limit "
                                      "(%s)", want, fl_format_size(cg, have, sizeof(have)));
    if (v > SIZE_MAX / 2)
        return fl_err_set(err, EFBIG, "hog mem: %s does not fit this address space", want);
    json_object_set_new(undo, "bytes", json_integer((json_int_t)v));
    return 0;
}

static int mem_apply(const struct fl_fault_ctx *ctx, const json_t *undo, struct fl_err *err)
{
    size_t len = (size_t)json_integer_value(json_object_get(undo, "bytes"));
    char want[32];
    fl_format_size(len, want, sizeof(want));
    struct hog_held *h = calloc(1, sizeof(*h));
    if (!h)
        return fl_err_set(err, ENOMEM, "out of memory");
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        free(h);
        return fl_err_set(err, e, "hog mem: cannot map %s: %s (overcommit refused it?)", want,
                          strerror(e));
    }
    /* Written, not just read: a read maps the shared zero page and takes nothing. */
    long page = sysconf(_SC_PAGESIZE);
    bool interrupted = false;
    for (size_t off = 0; off < len; off += (size_t)page) {
        ((volatile char *)p)[off] = 1;
        if ((off & ((64u << 20) - 1)) == 0 && hog_interrupted()) {
            interrupted = true;
            break;
        }
    }
    json_t *report = json_pack("{s:s, s:I, s:b, s:b}", "resource", "mem", "bytes",
                               (json_int_t)len, "locked", false, "interrupted", interrupted);
    if (!interrupted && mlock(p, len) == 0) {
        json_object_set_new(report, "locked", json_true());
    } else if (!interrupted) {
        int e = errno;
        struct rlimit rl;
        char lim[32] = "unknown";
        if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
            rl.rlim_cur == RLIM_INFINITY ? snprintf(lim, sizeof(lim), "unlimited")
                                         : (void)fl_format_size(rl.rlim_cur, lim, sizeof(lim));
        char why[200];
        snprintf(why, sizeof(why), "mlock: %s (RLIMIT_MEMLOCK is %s; root or CAP_IPC_LOCK "
                 "can lock it): it is resident now but may be swapped out", strerror(e), lim);
        json_object_set_new(report, "lock_error", json_string(why));
    }
    hog_report(report);
    snprintf(h->id, sizeof(h->id), "%s", ctx->id);
    h->mem = p;
    h->len = len;
    hog_link(h);
    return 0;
}

/* ---- cpu ---- */

static unsigned usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int cpu_prepare(const json_t *params, json_t *undo, struct fl_err *err)
{
    json_t *jw = json_object_get(params, "workers"), *jl = json_object_get(params, "load");
    json_int_t workers = json_is_integer(jw) ? json_integer_value(jw) : 0;
    if ((jw && !json_is_null(jw) && !json_is_integer(jw)) || workers < 0 ||
        workers > HOG_WORKERS_MAX)
        return fl_err_set(err, EINVAL, "hog cpu: --workers must be 1 to %d",
                          HOG_WORKERS_MAX);
    if (workers == 0)
        workers = usable_cpus();
    uint64_t ppm = 1000000;
    bool pct = false;
    if (json_is_integer(jl)) {
        ppm = (uint64_t)json_integer_value(jl) * 10000, pct = true;
        if (json_integer_value(jl) < 0 || json_integer_value(jl) > 100)
            pct = false;
    } else if (jl && !json_is_null(jl)) {
        if (json_is_string(jl))
            fl_parse_size(json_string_value(jl), true, &ppm, &pct, err);
    } else {
        pct = true;
    }
    if (!pct || ppm == 0)
        return fl_err_set(err, EINVAL, "hog cpu: --load must be a share above 0%% and up to "
                                       "100%%, like 80%%");
    json_object_set_new(undo, "workers", json_integer(workers));
    json_object_set_new(undo, "load_ppm", json_integer((json_int_t)ppm));
    return 0;
}

/* Busy for busy_ns of this thread's CPU time in each period, asleep for the rest. */
static void *cpu_worker(void *arg)
{
    struct hog_held *h = arg;
    volatile uint64_t sink = 0;
    int64_t next = fl_clock_ns(CLOCK_MONOTONIC);
    while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
        int64_t start = next, c0 = fl_clock_ns(CLOCK_THREAD_CPUTIME_ID);
        next = start + HOG_PERIOD_NS;
        while (fl_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0 < h->busy_ns &&
               fl_clock_ns(CLOCK_MONOTONIC) < next)
            for (int i = 0; i < 2000; i++)
                sink = sink * 6364136223846793005u + 1442695040888963407u;
        if (h->busy_ns >= HOG_PERIOD_NS) {
            next = fl_clock_ns(CLOCK_MONOTONIC);
            continue;
        }
        /* a period overrun (preempted) starts the next one now instead of catching up */
        if (fl_clock_ns(CLOCK_MONOTONIC) >= next) {
            next = fl_clock_ns(CLOCK_MONOTONIC);
            continue;
        }
        struct timespec ts = {next / 1000000000, next % 1000000000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return NULL;
}

static void cpu_stop(struct hog_held *h)
{
    atomic_store(&h->stop, true);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    h->nthreads = 0;
}

static int cpu_apply(const struct fl_fault_ctx *ctx, const json_t *undo, struct fl_err *err)
{
    unsigned n = (unsigned)json_integer_value(json_object_get(undo, "workers"));
    int64_t ppm = json_integer_value(json_object_get(undo, "load_ppm"));
    struct hog_held *h = calloc(1, sizeof(*h));
    if (!h || !(h->threads = calloc(n ? n : 1, sizeof(pthread_t)))) {
        free(h);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    snprintf(h->id, sizeof(h->id), "%s", ctx->id);
    h->busy_ns = HOG_PERIOD_NS * ppm / 1000000;
    atomic_init(&h->stop, false);
    /* Workers block every signal: stop signals must reach the hold's sigtimedwait. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        rc = pthread_create(&h->threads[i], NULL, cpu_worker, h);
        if (rc)
            break;
        h->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        unsigned started = h->nthreads;
        cpu_stop(h);
        free(h->threads);
        free(h);
        return fl_err_set(err, rc, "hog cpu: cannot start worker %u of %u: %s", started + 1,
                          n, strerror(rc));
    }
    hog_report(json_pack("{s:s, s:i, s:f}", "resource", "cpu", "workers", (int)n, "load",
                         (double)ppm / 1e6));
    hog_link(h);
    return 0;
}

/* ---- fds ---- */

static json_int_t rlim_json(rlim_t v) { return v == RLIM_INFINITY ? -1 : (json_int_t)v; }
static rlim_t json_rlim(json_int_t v) { return v < 0 ? RLIM_INFINITY : (rlim_t)v; }

/* Open fds of pid, -1 if /proc does not say (another user's process). */
static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int fds_errno(int e, pid_t pid, const char *what, struct fl_err *err)
{
    if (e == EPERM)
        return fl_err_set(err, EPERM, "hog fds: not allowed to %s of pid %d: it belongs to "
                                      "another user, and that needs CAP_SYS_RESOURCE (run "
                                      "faultline as root or as its user)", what, (int)pid);
    if (e == ESRCH)
        return fl_err_set(err, ESRCH, "hog fds: no process %d", (int)pid);
    return fl_err_set(err, e, "hog fds: prlimit(%d): %s", (int)pid, strerror(e));
}

static int fds_prepare(const json_t *params, json_t *undo, struct fl_err *err)
{
    json_t *jp = json_object_get(params, "pid"), *jn = json_object_get(params, "limit");
    if (!json_is_integer(jp) || json_integer_value(jp) <= 0 ||
        json_integer_value(jp) > INT32_MAX)
        return fl_err_set(err, EINVAL, "hog fds: 'pid' must be a process id above 0");
    if (!json_is_integer(jn) || json_integer_value(jn) < 0)
        return fl_err_set(err, EINVAL, "hog fds: 'limit' must be a whole number of files");
    pid_t pid = (pid_t)json_integer_value(jp);
    rlim_t limit = (rlim_t)json_integer_value(jn);
    uint64_t start = fl_proc_starttime(pid);
    if (!start)
        return fl_err_set(err, ESRCH, "hog fds: no process %d", (int)pid);
    struct rlimit old;
    if (prlimit(pid, RLIMIT_NOFILE, NULL, &old) < 0)
        return fds_errno(errno, pid, "read the limits", err);
    if (old.rlim_cur != RLIM_INFINITY && limit >= old.rlim_cur)
        return fl_err_set(err, EINVAL, "hog fds: the open-file limit of pid %d is %llu "
                                       "already, not above %llu: nothing to lower", (int)pid,
                          (unsigned long long)old.rlim_cur, (unsigned long long)limit);
    json_object_set_new(undo, "pid", json_integer(pid));
    json_object_set_new(undo, "start", json_integer((json_int_t)start));
    json_object_set_new(undo, "soft", json_integer(rlim_json(old.rlim_cur)));
    json_object_set_new(undo, "hard", json_integer(rlim_json(old.rlim_max)));
    return 0;
}

static int fds_apply(const json_t *params, const json_t *undo, struct fl_err *err)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(undo, "pid"));
    uint64_t start = (uint64_t)json_integer_value(json_object_get(undo, "start"));
    rlim_t limit = (rlim_t)json_integer_value(json_object_get(params, "limit"));
    if (fl_proc_starttime(pid) != start)
        return fl_err_set(err, ESRCH, "hog fds: process %d is gone", (int)pid);
    struct rlimit now;
    if (prlimit(pid, RLIMIT_NOFILE, NULL, &now) < 0)
        return fds_errno(errno, pid, "read the limits", err);
    /* The hard limit stays; only the soft one, which the process could raise back itself
     * (a realistic fault: a service started under a low ulimit). */
    struct rlimit lowered = {limit, now.rlim_max};
    if (prlimit(pid, RLIMIT_NOFILE, &lowered, NULL) < 0)
        return fds_errno(errno, pid, "change the limits", err);
    hog_report(json_pack("{s:s, s:i, s:I, s:I, s:I, s:i}", "resource", "fds", "pid", (int)pid,
                         "limit", (json_int_t)limit, "old_soft", rlim_json(now.rlim_cur),
                         "old_hard", rlim_json(now.rlim_max), "open", count_fds(pid)));
    return 0;
}

static int fds_revert(const json_t *params, const json_t *undo, struct fl_err *err)
{
    pid_t pid = (pid_t)json_integer_value(json_object_get(undo, "pid"));
    uint64_t start = (uint64_t)json_integer_value(json_object_get(undo, "start"));
    if (pid <= 0 || !start || fl_proc_starttime(pid) != start)
        return 0; /* the target is gone (or the pid is another process now): nothing to do */
    rlim_t limit = (rlim_t)json_integer_value(json_object_get(params, "limit"));
    struct rlimit now, old = {json_rlim(json_integer_value(json_object_get(undo, "soft"))),
                              json_rlim(json_integer_value(json_object_get(undo, "hard")))};
    if (prlimit(pid, RLIMIT_NOFILE, NULL, &now) < 0)
        return errno == ESRCH ? 0 : fds_errno(errno, pid, "read the limits", err);
    if (now.rlim_cur != limit)
        return 0; /* changed since (by the target, or a later hog): theirs to keep */
    if (prlimit(pid, RLIMIT_NOFILE, &old, NULL) == 0)
        return 0;
    /* The hard limit was lowered meanwhile and raising it back needs privilege: restore
     * as much of the soft limit as the current hard one allows. */
    if (errno == EPERM) {
        struct rlimit part = {old.rlim_cur, now.rlim_max};
        if (now.rlim_max != RLIM_INFINITY &&
            (old.rlim_cur == RLIM_INFINITY || old.rlim_cur > now.rlim_max))
            part.rlim_cur = now.rlim_max;
        if (prlimit(pid, RLIMIT_NOFILE, &part, NULL) == 0)
            return 0;
    }
    return errno == ESRCH ? 0 : fds_errno(errno, pid, "restore the limits", err);
}

/* ---- the kind ---- */

static int hog_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                       struct fl_err *err)
{
    const char *res = hog_resource(params);
    json_t *u = json_object();
    int rc;
    if (!u)
        return fl_err_set(err, ENOMEM, "out of memory");
    if (res && strcmp(res, "mem") == 0)
        rc = mem_prepare(params, u, err);
    else if (res && strcmp(res, "cpu") == 0)
        rc = cpu_prepare(params, u, err);
    else if (res && strcmp(res, "fds") == 0)
        rc = fds_prepare(params, u, err);
    else
        rc = fl_err_set(err, EINVAL, "hog: 'resource' must be mem, cpu or fds, not '%s'",
                        res ? res : "(none)");
    if (rc == 0 && strcmp(res, "fds") != 0) {
        json_t *owner = hog_owner_undo();
        json_object_update(u, owner);
        json_decref(owner);
    }
    if (rc < 0) {
        json_decref(u);
        return rc;
    }
    *undo = u;
    return 0;
}

static int hog_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    const char *res = hog_resource(params);
    int rc;
    hog_sink = ctx->report;
    if (res && strcmp(res, "mem") == 0)
        rc = mem_apply(ctx, undo, err);
    else if (res && strcmp(res, "cpu") == 0)
        rc = cpu_apply(ctx, undo, err);
    else if (res && strcmp(res, "fds") == 0)
        rc = fds_apply(params, undo, err);
    else
        rc = fl_err_set(err, EINVAL, "hog: unknown resource");
    hog_sink = NULL;
    return rc;
}

static int hog_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                      struct fl_err *err)
{
    const char *res = hog_resource(params);
    if (res && strcmp(res, "fds") == 0)
        return fds_revert(params, undo, err);
    struct hog_held *h = hog_unlink(ctx->id);
    if (h) {
        if (h->mem)
            munmap(h->mem, h->len);
        if (h->threads) {
            cpu_stop(h);
            free(h->threads);
        }
        free(h);
        return 0;
    }
    /* Held by another process: gone with it if it died; if it lives (recover --all), ask it
     * to end its hold, which releases everything on the way out. */
    pid_t owner = (pid_t)json_integer_value(json_object_get(undo, "owner"));
    uint64_t start = (uint64_t)json_integer_value(json_object_get(undo, "start"));
    if (owner > 0 && owner != getpid() && start && fl_proc_starttime(owner) == start &&
        kill(owner, SIGTERM) < 0 && errno != ESRCH)
        return fl_err_set(err, errno, "hog: cannot ask owner %d to release: %s", (int)owner,
                          strerror(errno));
    return 0;
}

static void hog_describe(const json_t *params, char *buf, size_t len)
{
    const char *res = hog_resource(params);
    json_t *v;
    char size[32];
    if (res && strcmp(res, "mem") == 0) {
        v = json_object_get(params, "size");
        snprintf(buf, len, "hog %s of memory",
                 json_is_integer(v) ? fl_format_size((uint64_t)json_integer_value(v), size,
                                                     sizeof(size))
                                    : json_string_value(v) ?: "?");
    } else if (res && strcmp(res, "cpu") == 0) {
        json_int_t w = json_integer_value(json_object_get(params, "workers"));
        v = json_object_get(params, "load");
        if (w > 0)
            snprintf(size, sizeof(size), "%lld", (long long)w);
        else
            snprintf(size, sizeof(size), "%u", usable_cpus());
        if (json_is_integer(v))
            snprintf(buf, len, "hog cpu: %s worker%s at %lld%% load", size,
                     strcmp(size, "1") ? "s" : "", (long long)json_integer_value(v));
        else
            snprintf(buf, len, "hog cpu: %s worker%s at %s load", size,
                     strcmp(size, "1") ? "s" : "", json_string_value(v) ?: "100%");
    } else if (res && strcmp(res, "fds") == 0) {
        snprintf(buf, len, "hog fds: open-file limit of pid %lld lowered to %lld",
                 (long long)json_integer_value(json_object_get(params, "pid")),
                 (long long)json_integer_value(json_object_get(params, "limit")));
    } else {
        snprintf(buf, len, "hog %s", res ? res : "?");
    }
}

const struct fl_fault_ops fl_fault_hog = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "hog",
    .summary = "take memory, CPU, or a process's open-file limit away for a while",
    .prepare = hog_prepare,
    .apply = hog_apply,
    .revert = hog_revert,
    .describe = hog_describe,
};
