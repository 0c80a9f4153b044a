/* SPDX-License-Identifier: MIT */
/* runner.c - carrying out one experiment; see runner.h. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "clock.h"
#include "ctl.h"
#include "fault.h"
#include "load.h"
#include "metrics.h"
#include "prng.h"
#include "units.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define MAX_APPLIED 64
#define MAX_RESTARTS 100

struct sample {
    int64_t t_ms;
    double latency_ms;
    bool ok;
    char detail[96];
};

struct series {
    struct run *r;
    struct fl_probe_inst *probe;
    struct sample *samples;
    size_t n, cap;
    double *lateness_us;     /* how late each check started against its schedule */
    size_t n_late, cap_late;
    pthread_t thread;
    bool started;
};

/* A fault held by the runner: a fault kind's entry, a preload rule switched on, or a toxic.
 * Each has a window in faults[], closed by revert_one, which also records what it did. */
struct applied {
    struct fl_applied a;
    size_t fault_index;      /* into the result's faults[] */
    int64_t until_ns;        /* monotonic; 0: until the method ends */
    bool until_rollback;     /* kept through recovery and verify */
    bool may_not_fire;       /* no effect in its window is not an error */
    bool is_rules;
    int rule_index;          /* the rule switched on (one window per rule) */
    uint64_t seen0, injected0; /* its counters when the window opened */
    bool is_toxic;
    char toxic[160];         /* /proxies/NAME/toxics/TOXIC */
    char proxy[64];          /* the toxic's proxy, for messages */
};

struct run {
    struct fl_experiment *e;
    const struct fl_run_opts *o;
    struct fl_journal *j;
    int64_t t0;
    json_t *res, *log, *faults, *phases, *checks;
    struct fl_prng prng;
    uint64_t seed;
    char workdir[4096];
    bool own_workdir;

    /* target */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t supervisor;
    bool supervising;
    pid_t pid;               /* current target process (its own process group), 0: none */
    bool expect_exit;        /* we are stopping it: no restart */
    bool finished;           /* the experiment is over: the supervisor leaves */
    bool stopped;            /* SIGSTOPped by a target step */
    int restarts;
    char **argv, **envp;
    json_t *exits;
    bool start_done;         /* the start phase is over: exits are the target's own doing */
    bool kill_asked;         /* a step signalled or killed it since it was last started */
    int64_t spawned_ns;      /* when the current process was started */
    pid_t exec_failed;       /* a child whose exec failed (already reported), 0: none */
    int exec_errno;          /* ...and why */
    /* An outage: the target exited when we did not stop it. It is over when a restart (by
     * the policy or a restart step) is ready again within ready_timeout. */
    int64_t down_since_ms;   /* the exit that began it; -1: the target is up */
    char down_how[64];       /* "exited with status 3" */
    bool down_by_step;       /* a step asked for that exit */
    bool coming_back;        /* restarted, not yet ready: the supervisor watches it */
    int64_t back_deadline_ns;
    bool oneshot_done;       /* a oneshot target ended by itself */
    int oneshot_status;      /* its wait status */

    /* preload rules */
    struct fl_applied preload;
    struct fl_ctl_handle *ctl;
    char ctl_path[4200];

    /* proxy for toxic steps */
    pid_t proxy_pid;
    int proxy_port;

    struct applied applied[MAX_APPLIED];
    size_t n_applied;

    struct series series[FL_EXP_MAX_PROBES];
    size_t n_series;
    volatile bool probes_stop;
    struct fl_load *load;

    int64_t planned_ns;      /* the monkey's planned time of the fault being applied, or 0 */
    bool steady_checked;     /* the continuous probes' steady window was judged */
    pthread_mutex_t log_lock; /* log and verdict reasons: the supervisor writes them too */
    char error[512];         /* first reason for ERROR */
    char skip[512];          /* a fault this machine or user cannot inject: SKIP */
    char fail[512];          /* first reason for FAIL */
    int64_t failover_from_ms;
};

static int64_t rel_ms(const struct run *r) { return (fl_mono_ns() - r->t0) / MS; }

static void note(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct run *r, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->log_lock);
    if (json_array_size(r->log) < 10000) {
        char line[700];
        snprintf(line, sizeof(line), "%lld ms: %s", (long long)rel_ms(r), msg);
        json_array_append_new(r->log, json_string(line));
    }
    pthread_mutex_unlock(&r->log_lock);
}

/* Keep the first reason for a verdict (ERROR, SKIP, FAIL) in slot, and log it. */
static void set_reason(struct run *r, char *slot, size_t len, const char *label,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_reason(struct run *r, char *slot, size_t len, const char *label,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->log_lock);
    bool first = !slot[0];
    if (first)
        snprintf(slot, len, "%s", msg);
    pthread_mutex_unlock(&r->log_lock);
    if (first)
        note(r, "%s: %s", label, msg);
}

#define set_error(r, ...) set_reason(r, (r)->error, sizeof((r)->error), "ERROR", __VA_ARGS__)
#define set_skip(r, ...) set_reason(r, (r)->skip, sizeof((r)->skip), "SKIP", __VA_ARGS__)
#define set_fail(r, ...) set_reason(r, (r)->fail, sizeof((r)->fail), "FAIL", __VA_ARGS__)

static bool stopping(const struct run *r) { return r->o->stop && *r->o->stop; }

static void progress(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(struct run *r, const char *fmt, ...)
{
    if (!r->o->progress)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->o->progress(r->o->arg, r->e, what);
}

/* Sleep until the monotonic deadline; false if the run is being stopped, or an ERROR was found
 * meanwhile (the supervisor's "would not start"): the rest of the step would prove nothing. */
static bool sleep_until(struct run *r, int64_t deadline)
{
    for (;;) {
        if (stopping(r) || __atomic_load_n(&r->error[0], __ATOMIC_RELAXED))
            return false;
        int64_t left = deadline - fl_mono_ns();
        if (left <= 0)
            return true;
        if (left > 50 * MS)
            left = 50 * MS;
        struct timespec ts = {left / SEC, left % SEC};
        nanosleep(&ts, NULL);
    }
}

static json_t *phase_begin(struct run *r, const char *name)
{
    json_t *p = json_pack("{s:s, s:I, s:n, s:b, s:s}", "name", name, "start_ms",
                          (json_int_t)rel_ms(r), "end_ms", "ok", 1, "detail", "");
    json_array_append_new(r->phases, p);
    progress(r, "%s", name);
    return p;
}

static void phase_end(struct run *r, json_t *p, bool ok, const char *detail)
{
    json_object_set_new(p, "end_ms", json_integer(rel_ms(r)));
    json_object_set_new(p, "ok", json_boolean(ok));
    json_object_set_new(p, "detail", json_string(detail ? detail : ""));
}

/* ---- probes ---- */

/* One check, with the probe's expectation applied: ok means "as expected". */
static void check_once(struct run *r, struct fl_probe_inst *p, struct fl_probe_result *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    struct fl_probe_ctx ctx = {r->workdir, r->pid};
    pthread_mutex_unlock(&r->lock);
    int64_t start = fl_mono_ns();
    int rc = p->ops->check(p->state, &ctx, p->timeout_ns, out);
    if (!out->latency_ns)
        out->latency_ns = fl_mono_ns() - start;
    if (rc < 0) {
        out->ok = false;
        if (!out->detail[0])
            snprintf(out->detail, sizeof(out->detail), "could not run: %s", strerror(-rc));
    }
    if (p->expect_fail) {
        out->ok = !out->ok;
        if (!out->ok && !out->detail[0])
            snprintf(out->detail, sizeof(out->detail), "expected to fail, but held");
    }
}

static json_t *record_check(struct run *r, const char *phase, struct fl_probe_inst *p,
                            const struct fl_probe_result *res)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:b, s:s, s:f}", "phase", phase, "probe", p->name,
                          "kind", p->ops->name, "ok", res->ok, "detail", res->detail,
                          "latency_ms", (double)res->latency_ns / 1e6);
    if (res->value)
        json_object_set(c, "value", res->value);
    json_array_append_new(r->checks, c);
    return c;
}

/* Check every probe of a list once; true if all held. why gets the first failure. */
static bool check_all(struct run *r, const char *phase, struct fl_probe_inst *list, size_t n,
                      char *why, size_t why_len)
{
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        struct fl_probe_result res;
        check_once(r, &list[i], &res);
        record_check(r, phase, &list[i], &res);
        if (!res.ok && all) {
            snprintf(why, why_len, "%s: %s", list[i].name, res.detail);
            all = false;
        }
        fl_probe_result_clear(&res);
    }
    return all;
}

static void *series_main(void *arg)
{
    struct series *s = arg;
    struct run *r = s->r;
    int64_t next = fl_mono_ns();
    while (!r->probes_stop) {
        struct timespec ts = {next / SEC, next % SEC};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        if (r->probes_stop)
            break;
        int64_t start = fl_mono_ns();
        struct fl_probe_result res;
        check_once(r, s->probe, &res);
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 256;
            void *p = realloc(s->samples, cap * sizeof(*s->samples));
            if (!p)
                break;
            s->samples = p;
            s->cap = cap;
        }
        struct sample *x = &s->samples[s->n++];
        x->t_ms = (start - r->t0) / MS;
        x->latency_ms = (double)res.latency_ns / 1e6;
        x->ok = res.ok;
        snprintf(x->detail, sizeof(x->detail), "%s", res.ok ? "" : res.detail);
        fl_probe_result_clear(&res);
        if (s->n_late == s->cap_late) {
            size_t cap = s->cap_late ? s->cap_late * 2 : 256;
            void *p = realloc(s->lateness_us, cap * sizeof(double));
            if (p) {
                s->lateness_us = p;
                s->cap_late = cap;
            }
        }
        if (s->n_late < s->cap_late)
            s->lateness_us[s->n_late++] = (double)(start - next) / 1e3;
        next += s->probe->every_ns;
        int64_t now = fl_mono_ns();
        if (next < now) /* a check that took longer than the period: skip, do not burst */
            next = now + s->probe->every_ns - (now - next) % s->probe->every_ns;
    }
    return NULL;
}

static void series_start(struct run *r)
{
    r->probes_stop = false;
    for (size_t i = 0; i < r->e->n_continuous; i++) {
        struct series *s = &r->series[r->n_series++];
        memset(s, 0, sizeof(*s));
        s->r = r;
        s->probe = &r->e->continuous[i];
        s->started = pthread_create(&s->thread, NULL, series_main, s) == 0;
    }
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void series_stop(struct run *r)
{
    r->probes_stop = true;
    json_t *all = json_object_get(r->res, "series");
    for (size_t i = 0; i < r->n_series; i++) {
        struct series *s = &r->series[i];
        if (s->started)
            pthread_join(s->thread, NULL);
        s->started = false;
        json_t *samples = json_array();
        for (size_t k = 0; k < s->n; k++)
            json_array_append_new(samples, json_pack("{s:I, s:b, s:f, s:s}", "t_ms",
                                                     (json_int_t)s->samples[k].t_ms, "ok",
                                                     s->samples[k].ok, "latency_ms",
                                                     s->samples[k].latency_ms, "detail",
                                                     s->samples[k].detail));
        double p99 = 0, max = 0;
        if (s->n_late) {
            qsort(s->lateness_us, s->n_late, sizeof(double), by_double);
            p99 = s->lateness_us[(size_t)(0.99 * (double)(s->n_late - 1) + 0.5)];
            max = s->lateness_us[s->n_late - 1];
        }
        json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:I, s:o, s:f, s:f}", "probe",
                                             s->probe->name, "kind", s->probe->ops->name,
                                             "what", s->probe->name, "every_ms",
                                             (json_int_t)(s->probe->every_ns / MS), "samples",
                                             samples, "lateness_p99_us", p99,
                                             "lateness_max_us", max));
        free(s->samples);
        free(s->lateness_us);
        s->samples = NULL;
        s->lateness_us = NULL;
    }
    r->n_series = 0;
}

/* ---- the work directory ---- */

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        int e = errno;
        close(in);
        return -e;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = -EIO;
            break;
        }
    if (n < 0)
        rc = -errno;
    close(in);
    if (close(out) < 0 && !rc)
        rc = -errno;
    return rc;
}

/* Copy a file or a directory tree (regular files, directories, symlinks). */
static int copy_tree(const char *from, const char *to, int depth)
{
    struct stat st;
    if (lstat(from, &st) < 0)
        return -errno;
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(from, target, sizeof(target) - 1);
        if (n < 0)
            return -errno;
        target[n] = '\0';
        return symlink(target, to) < 0 ? -errno : 0;
    }
    if (S_ISREG(st.st_mode))
        return copy_file(from, to, st.st_mode);
    if (!S_ISDIR(st.st_mode))
        return -EINVAL;
    if (depth > 32)
        return -ELOOP;
    if (mkdir(to, st.st_mode & 07777) < 0 && errno != EEXIST)
        return -errno;
    DIR *d = opendir(from);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char a[4096], b[4096];
        snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
        snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
        rc = copy_tree(a, b, depth + 1);
    }
    closedir(d);
    return rc;
}

static int setup_workdir(struct run *r)
{
    struct fl_experiment *e = r->e;
    if (e->cwd) {
        if (e->cwd[0] == '/')
            snprintf(r->workdir, sizeof(r->workdir), "%s", e->cwd);
        else
            snprintf(r->workdir, sizeof(r->workdir), "%s/%s", e->dir, e->cwd);
        struct stat st;
        if (stat(r->workdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            set_error(r, "target.cwd %s: not a directory", r->workdir);
            return -ENOTDIR;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(r->workdir, sizeof(r->workdir), "%s/faultline-%s-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp", e->id);
        for (char *p = r->workdir + strlen(tmp && *tmp ? tmp : "/tmp") + 1; *p; p++)
            if (*p == '/' || *p == ' ')
                *p = '_';
        if (!mkdtemp(r->workdir)) {
            set_error(r, "cannot make a work directory: %s", strerror(errno));
            return -errno;
        }
        r->own_workdir = true;
    }
    size_t i;
    json_t *v;
    json_array_foreach(e->fixtures, i, v) {
        const char *f = json_string_value(v);
        char from[4096], to[4096], tmp[4096];
        if (f[0] == '/')
            snprintf(from, sizeof(from), "%s", f);
        else
            snprintf(from, sizeof(from), "%s/%s", e->dir, f);
        snprintf(tmp, sizeof(tmp), "%s", from);
        const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
        snprintf(to, sizeof(to), "%s/%s", r->workdir, base);
        int rc = copy_tree(from, to, 0);
        if (rc < 0) {
            set_error(r, "fixture %s: %s", from, strerror(-rc));
            return rc;
        }
    }
    json_object_set_new(r->res, "workdir", json_string(r->workdir));
    return 0;
}

/* ---- the target ---- */

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

extern char **environ;

static int build_command(struct run *r)
{
    struct fl_experiment *e = r->e;
    size_t n = json_array_size(e->argv);
    r->argv = calloc(n + 3, sizeof(char *));
    if (!r->argv)
        return -ENOMEM;
    size_t k = 0;
    if (e->shell) {
        r->argv[k++] = strdup("/bin/sh");
        r->argv[k++] = strdup("-c");
    }
    for (size_t i = 0; i < n; i++)
        r->argv[k++] = strdup(json_string_value(json_array_get(e->argv, i)));
    /* the environment: ours, the experiment's, then the preload's (built before any fork:
     * after fork in a threaded process only async-signal-safe calls are allowed) */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    r->envp = calloc(ne + json_object_size(e->env) + 4, sizeof(char *));
    if (!r->envp)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < ne; i++) {
        if (!strncmp(environ[i], "LD_PRELOAD=", 11) || !strncmp(environ[i], "FAULTLINE_CTL=", 14))
            continue;
        const char *eq = strchr(environ[i], '=');
        if (eq && json_object_getn(e->env, environ[i], (size_t)(eq - environ[i])))
            continue;
        r->envp[m++] = strdup(environ[i]);
    }
    const char *key;
    json_t *v;
    json_object_foreach(e->env, key, v) {
        char *s;
        if (json_is_integer(v))
            (void)!asprintf(&s, "%s=%lld", key, (long long)json_integer_value(v));
        else
            (void)!asprintf(&s, "%s=%s", key, json_string_value(v));
        r->envp[m++] = s;
    }
    if (e->rules && r->o->preload) {
        (void)!asprintf(&r->envp[m++], "LD_PRELOAD=%s", r->o->preload);
        (void)!asprintf(&r->envp[m++], "FAULTLINE_CTL=%s", r->ctl_path);
    }
    return 0;
}

/* Wait on r->cond (caller holds r->lock) for at most ns: for the supervisor's news. */
static void wait_change(struct run *r, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ns % SEC;
    ts.tv_sec += ns / SEC;
    if (ts.tv_nsec >= SEC) {
        ts.tv_sec++;
        ts.tv_nsec -= SEC;
    }
    pthread_cond_timedwait(&r->cond, &r->lock, &ts);
}

/* Start the target in its own process group; caller holds r->lock. A pipe that exec closes
 * tells a failed exec (or chdir) from a program that ran: *exec_errno is 0 when the program
 * was executed, else why it was not, and *exec_what the step that failed. */
static pid_t spawn_target(struct run *r, int *exec_errno, const char **exec_what)
{
    char logpath[4200];
    snprintf(logpath, sizeof(logpath), "%s/target.log", r->workdir);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2] = {-1, -1};
    if (pipe2(report, O_CLOEXEC) < 0)
        report[0] = report[1] = -1;
    *exec_errno = 0;
    *exec_what = "";
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        /* the target must not outlive a runner killed with SIGKILL */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        }
        int code[2] = {1, 0};
        if (chdir(r->workdir) < 0) {
            code[1] = errno;
            (void)!write(report[1], code, sizeof(code));
            _exit(126);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvpe(r->argv[0], r->argv, r->envp);
        code[0] = 2;
        code[1] = errno;
        (void)!write(report[1], code, sizeof(code));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int fork_errno = errno;
    if (pid > 0)
        setpgid(pid, pid); /* both sides, so there is no race with an early kill(-pid) */
    if (report[1] >= 0)
        close(report[1]);
    if (pid > 0 && report[0] >= 0) {
        int code[2];
        ssize_t n;
        while ((n = read(report[0], code, sizeof(code))) < 0 && errno == EINTR)
            ;
        if (n == (ssize_t)sizeof(code)) {
            *exec_errno = code[1] ? code[1] : EIO;
            *exec_what = code[0] == 1 ? "cannot enter the work directory" : r->argv[0];
            r->exec_failed = pid;
            r->exec_errno = *exec_errno;
        }
    }
    if (report[0] >= 0)
        close(report[0]);
    if (logfd >= 0)
        close(logfd);
    if (devnull >= 0)
        close(devnull);
    if (pid > 0) {
        r->spawned_ns = fl_mono_ns();
        r->kill_asked = false;
    } else {
        *exec_errno = fork_errno;
        *exec_what = "fork";
    }
    return pid;
}

static void describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "was killed by SIG%s", sigabbrev_np(WTERMSIG(st)) ?: "?");
    else
        snprintf(buf, len, "status %d", st);
}

/* The last line the target wrote (target.log), for the log next to a verdict about it. */
static void target_log_tail(const struct run *r, char *out, size_t len)
{
    out[0] = '\0';
    char path[4200], buf[1024];
    snprintf(path, sizeof(path), "%s/target.log", r->workdir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    if (n <= 0)
        return;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    size_t k = 0;
    for (; *line && k + 1 < len; line++)
        out[k++] = (unsigned char)*line < 0x20 ? ' ' : *line;
    out[k] = '\0';
}

static bool exited_as_not_run(int st)
{
    /* what a shell or an exec wrapper (env, nice, timeout) answers for a command it could not
     * find (127) or execute (126) */
    return WIFEXITED(st) && (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127);
}

/* An exit nobody asked for (caller holds r->lock): begin or continue an outage, restart by
 * the policy, and say what it means for the verdict. */
static void target_exited(struct run *r, pid_t pid, int st, const char *how)
{
    const struct fl_experiment *e = r->e;
    int64_t at = rel_ms(r);
    char tail[200];
    target_log_tail(r, tail, sizeof(tail));
    note(r, "target %d %s%s%s", (int)pid, how, *tail ? "; its last output: " : "", tail);
    if (!r->restarts && !r->kill_asked && exited_as_not_run(st)) {
        /* the command as the user wrote it: with a shell, the shell's script */
        char cmd[120];
        if (e->shell)
            snprintf(cmd, sizeof(cmd), "sh -c '%.80s'", r->argv[2]);
        else
            snprintf(cmd, sizeof(cmd), "%.100s", r->argv[0]);
        set_error(r, "the target would not start: %s %s (%s)%s%s", cmd, how,
                  WEXITSTATUS(st) == 127 ? "command not found" : "not executable",
                  *tail ? ": " : "", tail);
        return;
    }
    if (r->down_since_ms < 0) {
        r->down_since_ms = at;
        snprintf(r->down_how, sizeof(r->down_how), "%s", how);
        r->down_by_step = r->kill_asked;
    }
    bool failed = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    bool again = e->restart == FL_RESTART_ALWAYS || (e->restart == FL_RESTART_ON_FAILURE && failed);
    if (again && r->restarts < MAX_RESTARTS) {
        /* the start phase waits for readiness itself; from then on the supervisor does, and
         * the runner waits for its answer before it judges anything */
        if (r->start_done && !r->coming_back) {
            r->coming_back = true;
            r->back_deadline_ns = r->t0 + r->down_since_ms * MS + e->ready_timeout_ns;
        }
        pthread_mutex_unlock(&r->lock);
        struct timespec backoff = {0, 100 * MS}; /* do not spin on a crash loop */
        nanosleep(&backoff, NULL);
        pthread_mutex_lock(&r->lock);
        if (r->finished || r->pid != 0)
            return;
        int eno;
        const char *what;
        pid_t npid = spawn_target(r, &eno, &what);
        if (npid <= 0 || eno) {
            set_fail(r, "the target %s at %lld ms and was not restarted: %s: %s", r->down_how,
                     (long long)r->down_since_ms, what, strerror(eno));
            r->coming_back = false;
            r->pid = npid > 0 ? npid : 0;
            return;
        }
        r->pid = npid;
        r->restarts++;
        note(r, "target restarted (policy %s): pid %d",
             e->restart == FL_RESTART_ALWAYS ? "always" : "on-failure", (int)r->pid);
        return;
    }
    if (!r->start_done && e->has_ready)
        return; /* the start phase reports it: "would not start" */
    if (!r->down_by_step || r->coming_back) {
        char gave_up[48] = "";
        if (again)
            snprintf(gave_up, sizeof(gave_up), " (gave up after %d restarts)", r->restarts);
        set_fail(r, "the target %s at %lld ms and was not restarted%s", r->down_how,
                 (long long)r->down_since_ms, gave_up);
    }
    r->coming_back = false;
}

/* Is a restarted target back? With a ready probe, when it holds; without one, when the
 * process has stayed up for a second (or ready_timeout, if shorter): a crash loop is not
 * "back" however fast it restarts. Called without r->lock. */
static bool target_back(struct run *r)
{
    const struct fl_experiment *e = r->e;
    if (e->has_ready) {
        struct fl_probe_result res;
        check_once(r, (struct fl_probe_inst *)&e->ready, &res);
        bool ok = res.ok;
        fl_probe_result_clear(&res);
        return ok;
    }
    pthread_mutex_lock(&r->lock);
    int64_t settle = e->ready_timeout_ns < SEC ? e->ready_timeout_ns : SEC;
    bool ok = r->pid > 0 && fl_mono_ns() - r->spawned_ns >= settle;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Waits for the target, records each exit, restarts it by the policy, and watches a restarted
 * target until it is ready again (or its deadline passes: FAIL). */
static void *supervisor_main(void *arg)
{
    struct run *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->finished) {
        pid_t pid = r->pid;
        if (pid <= 0) {
            if (r->coming_back && fl_mono_ns() > r->back_deadline_ns) {
                r->coming_back = false;
                set_fail(r, "the target %s at %lld ms and was not running again within %s",
                         r->down_how, (long long)r->down_since_ms,
                         fl_format_duration(r->e->ready_timeout_ns, (char[32]){0}, 32));
            }
            wait_change(r, 50 * MS);
            continue;
        }
        bool watching = r->coming_back;
        pthread_mutex_unlock(&r->lock);
        int st = 0;
        pid_t w;
        if (watching) {
            /* poll: the readiness check and the exit are both of interest */
            while ((w = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR)
                ;
            if (w == 0) {
                bool back = target_back(r);
                pthread_mutex_lock(&r->lock);
                if (r->coming_back && r->pid == pid && back) {
                    r->coming_back = false;
                    note(r, "target back (pid %d), %lld ms after it %s", (int)pid,
                         (long long)(rel_ms(r) - r->down_since_ms), r->down_how);
                    r->down_since_ms = -1;
                } else if (r->coming_back && r->pid == pid &&
                           fl_mono_ns() > r->back_deadline_ns) {
                    r->coming_back = false;
                    char d[32];
                    set_fail(r, "the target %s at %lld ms and %s within %s (restarted %d "
                                "time%s)", r->down_how, (long long)r->down_since_ms,
                             r->e->has_ready ? "was not ready again" : "did not stay up again",
                             fl_format_duration(r->e->ready_timeout_ns, d, sizeof(d)),
                             r->restarts, r->restarts == 1 ? "" : "s");
                }
                pthread_mutex_unlock(&r->lock);
                struct timespec ts = {0, 20 * MS};
                nanosleep(&ts, NULL);
                pthread_mutex_lock(&r->lock);
                continue;
            }
        } else {
            while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
                ;
        }
        pthread_mutex_lock(&r->lock);
        char how[64];
        describe_status(st, how, sizeof(how));
        bool by_us = r->expect_exit || r->finished, not_run = pid == r->exec_failed;
        if (not_run)
            snprintf(how, sizeof(how), "could not be executed: %s", strerror(r->exec_errno));
        json_array_append_new(r->exits, json_pack("{s:I, s:i, s:s, s:b, s:b}", "t_ms",
                                                  (json_int_t)rel_ms(r), "pid", (int)pid,
                                                  "how", how, "expected", by_us && !not_run,
                                                  "asked", !by_us && r->kill_asked));
        r->pid = 0;
        if (by_us || not_run) {
            r->expect_exit = false; /* an exec that failed was reported where it was spawned */
        } else if (r->e->oneshot) {
            /* a batch job's end: its status is the result, checked by the runner */
            r->oneshot_done = true;
            r->oneshot_status = st;
            note(r, "oneshot target %d %s", (int)pid, how);
        } else {
            target_exited(r, pid, st, how);
        }
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Start the target: at the beginning (step 0) or for a restart step, after which it must be
 * ready again within ready_timeout. An exec that fails is an ERROR at the start ("would not
 * start") and a FAIL for a restart (the program cannot come back). */
static int target_start(struct run *r, int step)
{
    pthread_mutex_lock(&r->lock);
    int eno;
    const char *what;
    r->pid = spawn_target(r, &eno, &what);
    int rc = r->pid > 0 && !eno ? 0 : -(eno ? eno : EIO);
    if (r->pid < 0)
        r->pid = 0;
    if (rc == 0)
        note(r, "target started: pid %d", (int)r->pid);
    else if (step == 0)
        set_error(r, "the target would not start: %s: %s", what, strerror(eno));
    else
        set_fail(r, "step %d: the target could not be restarted: %s: %s", step, what,
                 strerror(eno));
    if (rc == 0 && step > 0) {
        r->down_since_ms = rel_ms(r);
        snprintf(r->down_how, sizeof(r->down_how), "was restarted by step %d", step);
        r->down_by_step = true;
        r->coming_back = true;
        r->back_deadline_ns = fl_mono_ns() + r->e->ready_timeout_ns;
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (!r->supervising)
        r->supervising = pthread_create(&r->supervisor, NULL, supervisor_main, r) == 0;
    return rc;
}

/* Stop the target (its whole group): sig, then SIGKILL after the grace period. */
static void target_stop(struct run *r, int sig, int64_t grace_ns)
{
    pthread_mutex_lock(&r->lock);
    pid_t pid = r->pid;
    r->coming_back = false; /* we are ending it: no readiness to wait for */
    if (pid > 0) {
        r->expect_exit = true;
        if (r->stopped)
            kill(-pid, SIGCONT);
        r->stopped = false;
        kill(-pid, sig);
        int64_t deadline = fl_mono_ns() + grace_ns;
        while (r->pid == pid && fl_mono_ns() < deadline) {
            wait_change(r, 20 * MS);
        }
        if (r->pid == pid) {
            note(r, "target %d still running after %lld ms: SIGKILL", (int)pid,
                 (long long)(grace_ns / MS));
            kill(-pid, SIGKILL);
            while (r->pid == pid)
                pthread_cond_wait(&r->cond, &r->lock);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* Add every descendant of pid (children, their children...) to out; returns the count. */
static size_t descendants(pid_t pid, pid_t *out, size_t n, size_t cap, int depth)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && depth < 64 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)pid, de->d_name);
        FILE *f = fopen(path, "r");
        long c;
        while (f && n < cap && fscanf(f, "%ld", &c) == 1) {
            out[n++] = (pid_t)c;
            n = descendants((pid_t)c, out, n, cap, depth + 1);
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

static void target_finish(struct run *r)
{
    /* Who the target started, so that what outlives it (a child that left its process group
     * with setsid, a daemonised helper) is found: a leak to report, and ours to clean up. */
    enum { MAX_DESC = 1024 };
    pid_t *desc = calloc(MAX_DESC, sizeof(pid_t));
    uint64_t *start = calloc(MAX_DESC, sizeof(uint64_t));
    size_t n_desc = 0;
    pthread_mutex_lock(&r->lock);
    pid_t group = r->pid;
    if (desc && start && r->pid > 0)
        n_desc = descendants(r->pid, desc, 0, MAX_DESC, 0);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < n_desc; i++)
        start[i] = fl_proc_starttime(desc[i]);
    target_stop(r, r->e->stop_signal, r->e->stop_grace_ns);
    /* what is left in the target's own group goes with it (not a leak: it never left);
     * give the kernel a moment to reap them before looking for survivors */
    if (group > 0 && kill(-group, SIGKILL) == 0)
        for (int tries = 0; tries < 50 && kill(-group, 0) == 0; tries++) {
            struct timespec ts = {0, 10 * MS};
            nanosleep(&ts, NULL);
        }
    json_t *orphans = json_array();
    for (size_t i = 0; i < n_desc; i++) {
        if (!start[i] || !fl_owner_alive(desc[i], start[i]))
            continue;
        char path[64], comm[64] = "?";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)desc[i]);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof(comm), f))
            comm[strcspn(comm, "\n")] = '\0';
        if (f)
            fclose(f);
        json_array_append_new(orphans, json_pack("{s:i, s:s}", "pid", (int)desc[i], "name",
                                                 comm));
        kill(desc[i], SIGKILL);
    }
    if (json_array_size(orphans)) {
        note(r, "%zu process(es) started by the target outlived it; killed",
             json_array_size(orphans));
        if (r->e->has_leaks)
            set_fail(r, "leak: %zu child process(es) left orphaned when the target stopped "
                        "(first: %s, pid %d)", json_array_size(orphans),
                     json_string_value(json_object_get(json_array_get(orphans, 0), "name")),
                     (int)json_integer_value(json_object_get(json_array_get(orphans, 0),
                                                             "pid")));
    }
    json_object_set_new(json_object_get(r->res, "leaks"), "orphans", orphans);
    free(desc);
    free(start);
    pthread_mutex_lock(&r->lock);
    r->finished = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->supervising)
        pthread_join(r->supervisor, NULL);
    r->supervising = false;
}

/* /proc figures of the target's main process, for leak checks (NULL: not running). */
static json_t *proc_snapshot(pid_t pid)
{
    if (pid <= 0 || kill(pid, 0) < 0)
        return NULL;
    struct fl_proc_figures f;
    fl_probe_process_figures(pid, &f);
    if (f.fds < 0)
        return NULL;
    return json_pack("{s:i, s:I, s:I, s:I, s:I}", "pid", (int)pid, "fds", (json_int_t)f.fds,
                     "threads", (json_int_t)f.threads, "rss", (json_int_t)f.rss, "children",
                     (json_int_t)f.children);
}

/* ---- the proxy, for toxic steps: a child `faultline proxy`, driven through its API ---- */

/* A proxy API reply body, capped: the runner only reads small JSON objects. */
struct reply_buf {
    char data[8192];
    size_t len;
};

static size_t keep_reply(char *p, size_t s, size_t n, void *u)
{
    struct reply_buf *b = u;
    size_t take = s * n < sizeof(b->data) - 1 - b->len ? s * n : sizeof(b->data) - 1 - b->len;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    return s * n;
}

/* One request to the experiment's proxy; *reply (may be NULL) gets a JSON reply body. */
static int proxy_call(struct run *r, const char *method, const char *path, const char *body,
                      json_t **reply, char *why, size_t why_len)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    struct reply_buf buf = {.len = 0};
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", r->proxy_port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_reply);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        snprintf(why, why_len, "proxy API: %s", curl_easy_strerror(cc));
        rc = -EIO;
    } else if (status >= 300) {
        snprintf(why, why_len, "proxy API %s %s: HTTP %ld", method, path, status);
        rc = -EINVAL;
    } else if (reply) {
        *reply = json_loadb(buf.data, buf.len, 0, NULL);
        if (!*reply) {
            snprintf(why, why_len, "proxy API %s %s: the reply is not JSON", method, path);
            rc = -EPROTO;
        }
    }
    return rc;
}

static int proxy_start(struct run *r)
{
    if (!r->e->proxies)
        return 0;
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return -errno;
    char seed[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)r->seed);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(out[1], 1);
        execl(r->o->self_exe, r->o->self_exe, "-q", "proxy", "--host", "127.0.0.1", "--port",
              "0", "--seed", seed, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        return -errno;
    }
    r->proxy_pid = pid;
    FILE *f = fdopen(out[0], "r");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "API listening on ");
        if (p && strrchr(p, ':')) {
            r->proxy_port = atoi(strrchr(p, ':') + 1);
            break;
        }
    }
    if (f)
        fclose(f);
    if (r->proxy_port <= 0) {
        set_error(r, "the proxy for toxic steps did not start");
        return -EIO;
    }
    size_t i;
    json_t *p;
    json_array_foreach(r->e->proxies, i, p) {
        json_t *body = json_pack("{s:O, s:O, s:O, s:b}", "name", json_object_get(p, "name"),
                                 "listen", json_object_get(p, "listen"), "upstream",
                                 json_object_get(p, "upstream"), "enabled", 1);
        char *text = json_dumps(body, JSON_COMPACT);
        char why[256];
        int rc = proxy_call(r, "POST", "/proxies", text, NULL, why, sizeof(why));
        free(text);
        json_decref(body);
        if (rc < 0) {
            set_error(r, "proxy %s: %s", json_string_value(json_object_get(p, "name")), why);
            return rc;
        }
    }
    note(r, "proxy API on 127.0.0.1:%d", r->proxy_port);
    return 0;
}

static void proxy_stop(struct run *r)
{
    if (r->proxy_pid <= 0)
        return;
    kill(r->proxy_pid, SIGTERM);
    int st;
    int64_t deadline = fl_mono_ns() + 3 * SEC;
    while (waitpid(r->proxy_pid, &st, WNOHANG) == 0) {
        if (fl_mono_ns() > deadline) {
            kill(r->proxy_pid, SIGKILL);
            waitpid(r->proxy_pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 10 * MS};
        nanosleep(&ts, NULL);
    }
    r->proxy_pid = 0;
}

/* ---- faults ---- */

static json_t *fault_window(struct run *r, int step, const char *kind, const char *what)
{
    json_t *f = json_pack("{s:i, s:s, s:s, s:I, s:n, s:b, s:s}", "step", step, "kind", kind,
                          "what", what, "start_ms", (json_int_t)rel_ms(r), "end_ms", "ok", 1,
                          "error", "");
    json_array_append_new(r->faults, f);
    return f;
}

/* Record what a fault window did. One that took no effect tested nothing, so the experiment
 * is an ERROR, unless its step said the fault may legitimately not apply. detail says why
 * nothing happened when fired is 0, and what happened otherwise. */
static void window_result(struct run *r, json_t *f, long fired, const char *detail,
                          bool may_not_fire)
{
    char effect[600];
    snprintf(effect, sizeof(effect), "%s%s", fired > 0 ? "" : "never fired: ", detail);
    json_object_set_new(f, "fired", json_integer(fired > 0 ? fired : 0));
    json_object_set_new(f, "effect", json_string(effect));
    if (may_not_fire)
        json_object_set_new(f, "may_not_fire", json_true());
    if (fired > 0)
        return;
    if (may_not_fire)
        note(r, "step %lld did not fire (may_not_fire): %s",
             (long long)json_integer_value(json_object_get(f, "step")), detail);
    else
        set_error(r, "the fault never happened: %s", detail);
}

/* Apply a fault step. in_monkey: a target that is still under an earlier fault of the pool
 * (EEXIST) is skipped, not an error: a monkey's picks may collide. Returns 1 when skipped. */
static int apply_fault(struct run *r, int step, const struct fl_step *s, int64_t for_ns,
                       bool in_monkey, bool may_not_fire)
{
    if (r->n_applied >= MAX_APPLIED) {
        set_error(r, "step %d: more than %d faults held at once", step, MAX_APPLIED);
        return -E2BIG;
    }
    struct applied *ap = &r->applied[r->n_applied];
    memset(ap, 0, sizeof(*ap));
    json_t *params = json_deep_copy(s->params);
    /* relative paths are the work directory's; the kind gets absolute ones */
    const char *path = json_string_value(json_object_get(params, "path"));
    if (path && path[0] != '/') {
        char abs[8300];
        snprintf(abs, sizeof(abs), "%s/%s", r->workdir, path);
        json_object_set_new(params, "path", json_string(abs));
    }
    if (!json_object_get(params, "seed"))
        json_object_set_new(params, "seed", json_integer((json_int_t)(fl_prng_next(&r->prng) >> 2)));
    /* "target" in a pid field: the target's current process */
    json_t *pidv = json_object_get(params, "pid");
    if (json_is_string(pidv) && !strcmp(json_string_value(pidv), "target")) {
        pthread_mutex_lock(&r->lock);
        json_object_set_new(params, "pid", json_integer(r->pid));
        pthread_mutex_unlock(&r->lock);
    }
    if (in_monkey) {
        /* a pick whose target is still under an earlier pick is skipped, not stacked */
        const json_t *p = json_object_get(params, "path");
        for (size_t i = 0; p && i < r->n_applied; i++) {
            const json_t *held = json_object_get(r->applied[i].a.entry, "params");
            if (r->applied[i].a.entry && json_equal(p, json_object_get(held, "path"))) {
                note(r, "monkey: skipped %s: still under an earlier fault", s->label);
                json_decref(params);
                return 1;
            }
        }
    }
    struct fl_err err = {""};
    json_t *f = fault_window(r, step, s->kind, s->label);
    int rc = fl_fault_apply(r->j, s->kind, params, 0, &ap->a, &err);
    json_decref(params);
    if (rc == -EEXIST && in_monkey) {
        json_array_remove(r->faults, json_array_size(r->faults) - 1);
        note(r, "monkey: skipped %s: %s", s->label, err.msg);
        return 1;
    }
    if (rc < 0) {
        json_object_set_new(f, "end_ms", json_integer(rel_ms(r)));
        json_object_set_new(f, "ok", json_false());
        json_object_set_new(f, "error", json_string(err.msg));
        if (rc == -EPERM || rc == -ENOTSUP) {
            /* not a broken experiment: this machine or user cannot do it (a privilege) */
            set_skip(r, "step %d (%s): not possible here: %s", step, s->label, err.msg);
        } else {
            set_error(r, "step %d (%s): could not inject: %s", step, s->label, err.msg);
        }
        return rc;
    }
    char what[600];
    fl_fault_describe_entry(ap->a.entry, what, sizeof(what));
    json_object_set_new(f, "what", json_string(what));
    if (json_object_size(ap->a.report))
        json_object_set(f, "report", ap->a.report);
    note(r, "applied %s", what);
    char effect[300];
    const struct fl_fault_ops *ops = fl_fault_find(s->kind);
    long fired = fl_fault_effects(ops, ap->a.report, effect, sizeof(effect));
    if (ops && !ops->effects)
        snprintf(effect, sizeof(effect), "applied %s", s->label); /* one apply, one change */
    if (fired > 0 && !strcmp(s->kind, "kill")) {
        pthread_mutex_lock(&r->lock);
        r->kill_asked = true; /* it may have hit the target: its exit was asked for */
        pthread_mutex_unlock(&r->lock);
    }
    char detail[700];
    snprintf(detail, sizeof(detail), "%s%s%s", fired > 0 ? "" : what, fired > 0 ? "" : ": ",
             effect);
    window_result(r, f, fired, detail, may_not_fire);
    ap->fault_index = json_array_size(r->faults) - 1;
    ap->until_ns = for_ns ? (r->planned_ns ? r->planned_ns : fl_mono_ns()) + for_ns : 0;
    ap->until_rollback = s->until_rollback;
    if (s->until_rollback)
        json_object_set_new(f, "persistent", json_true());
    r->n_applied++;
    return 0;
}

/* A rule id as the experiment gave it (a number or a string), as fl_ctl_find takes it. */
static void rule_id_text(const json_t *v, char *id, size_t n)
{
    if (json_is_integer(v))
        snprintf(id, n, "%lld", (long long)json_integer_value(v));
    else
        snprintf(id, n, "%s", json_string_value(v) ?: "");
}

/* A rule's text without its id= (the id is named beside it in messages). */
static void rule_text_shown(const char *text, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = text; *p && k + 1 < len;) {
        const char *next = strchr(p, ':');
        size_t n = next ? (size_t)(next - p) : strlen(p);
        if (!(p != text && !strncmp(p, "id=", 3))) {
            if (k && k + 1 < len)
                out[k++] = ':';
            for (size_t i = 0; i < n && k + 1 < len; i++)
                out[k++] = p[i];
        }
        p = next ? next + 1 : p + n;
    }
    out[k] = '\0';
}

/* Switch one rule on and open its window (the window's counters start from now). */
static void open_rule_window(struct run *r, int step, int index, const char *label,
                             int64_t for_ns, bool until_rollback, bool may_not_fire)
{
    if (r->n_applied >= MAX_APPLIED) {
        set_error(r, "step %d: more than %d faults held at once", step, MAX_APPLIED);
        return;
    }
    struct fl_rule_stats st;
    fl_ctl_stats(r->ctl, index, &st);
    struct applied *ap = &r->applied[r->n_applied++];
    memset(ap, 0, sizeof(*ap));
    ap->is_rules = true;
    ap->rule_index = index;
    ap->seen0 = st.seen;
    ap->injected0 = st.injected;
    ap->may_not_fire = may_not_fire;
    ap->until_rollback = until_rollback;
    char what[300];
    snprintf(what, sizeof(what), "%s: rule '%s'", label, st.id);
    json_t *f = fault_window(r, step, "rules", what);
    if (until_rollback)
        json_object_set_new(f, "persistent", json_true());
    ap->fault_index = json_array_size(r->faults) - 1;
    ap->until_ns = for_ns ? fl_mono_ns() + for_ns : 0;
    fl_ctl_set_enabled(r->ctl, index, true);
}

static int apply_rules(struct run *r, int step, const struct fl_step *s, int64_t for_ns)
{
    if (!r->ctl) {
        set_error(r, "step %d: the target's preload rules are not available", step);
        return -ENOENT;
    }
    /* the rules named, or all of them; one window per rule, so each must fire */
    int idx[FL_RULES_MAX], n = 0;
    if (s->rule_ids) {
        for (size_t i = 0; i < json_array_size(s->rule_ids) && n < FL_RULES_MAX; i++) {
            char id[64];
            rule_id_text(json_array_get(s->rule_ids, i), id, sizeof(id));
            int index = fl_ctl_find(r->ctl, id);
            if (index < 0) {
                set_error(r, "step %d: no rule '%s' in target.rules", step, id);
                return -ENOENT;
            }
            idx[n++] = index;
        }
    } else {
        for (int i = 0; i < fl_ctl_count(r->ctl) && n < FL_RULES_MAX; i++)
            idx[n++] = i;
    }
    for (int i = 0; i < n; i++) {
        if (s->rules_on) {
            open_rule_window(r, step, idx[i], s->label, for_ns, false, s->may_not_fire);
            continue;
        }
        fl_ctl_set_enabled(r->ctl, idx[i], false);
        /* close the windows of the rules switched off (reverted by expire_faults) */
        for (size_t k = 0; k < r->n_applied; k++)
            if (r->applied[k].is_rules && r->applied[k].rule_index == idx[i])
                r->applied[k].until_ns = fl_mono_ns();
    }
    note(r, "rules %s", s->rules_on ? "on" : "off");
    return 0;
}

static int apply_toxic(struct run *r, int step, const struct fl_step *s, int64_t for_ns)
{
    if (r->n_applied >= MAX_APPLIED)
        return -E2BIG;
    struct applied *ap = &r->applied[r->n_applied];
    memset(ap, 0, sizeof(*ap));
    json_t *t = json_deep_copy(s->toxic);
    const char *proxy = json_string_value(json_object_get(s->toxic, "proxy"));
    char name[64];
    snprintf(name, sizeof(name), "step%d_%zu", step, r->n_applied);
    json_object_del(t, "proxy");
    json_object_set_new(t, "name", json_string(name));
    char *body = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    char path[256], why[256];
    snprintf(path, sizeof(path), "/proxies/%s/toxics", proxy);
    json_t *f = fault_window(r, step, "toxic", s->label);
    int rc = proxy_call(r, "POST", path, body, NULL, why, sizeof(why));
    free(body);
    if (rc < 0) {
        json_object_set_new(f, "end_ms", json_integer(rel_ms(r)));
        json_object_set_new(f, "ok", json_false());
        json_object_set_new(f, "error", json_string(why));
        set_error(r, "step %d (%s): could not inject: %s", step, s->label, why);
        return rc;
    }
    ap->is_toxic = true;
    ap->may_not_fire = s->may_not_fire;
    snprintf(ap->toxic, sizeof(ap->toxic), "/proxies/%s/toxics/%s", proxy, name);
    snprintf(ap->proxy, sizeof(ap->proxy), "%s", proxy);
    ap->fault_index = json_array_size(r->faults) - 1;
    ap->until_ns = for_ns ? fl_mono_ns() + for_ns : 0;
    r->n_applied++;
    note(r, "toxic %s added", s->label);
    return 0;
}

/* A rule's window closes: what it did between its opening and now. */
static void close_rule_window(struct run *r, struct applied *ap, json_t *f)
{
    struct fl_rule_stats st;
    fl_ctl_set_enabled(r->ctl, ap->rule_index, false);
    fl_ctl_stats(r->ctl, ap->rule_index, &st);
    unsigned long long seen = st.seen - ap->seen0, injected = st.injected - ap->injected0;
    char text[FL_RULE_TEXT_MAX], detail[600];
    rule_text_shown(st.text, text, sizeof(text));
    json_object_set_new(f, "rules", json_pack("[{s:s, s:s, s:I, s:I}]", "id", st.id, "rule",
                                              text, "seen", (json_int_t)seen, "injected",
                                              (json_int_t)injected));
    if (injected)
        snprintf(detail, sizeof(detail), "rule '%s' injected %llu fault%s into %llu matching "
                 "call%s", st.id, injected, injected == 1 ? "" : "s", seen, seen == 1 ? "" : "s");
    else if (atomic_load(&r->ctl->ctl->attached) == 0)
        snprintf(detail, sizeof(detail), "rule '%s' (%s) could not act: the preload never "
                 "attached to the target (a static or setuid program, or one that clears its "
                 "environment)", st.id, text);
    else if (!seen)
        snprintf(detail, sizeof(detail), "rule '%s' (%s) matched no call while on", st.id,
                 text);
    else
        snprintf(detail, sizeof(detail), "rule '%s' (%s) matched %llu call%s while on but "
                 "injected no fault (its nth, after, prob or count never came up)", st.id,
                 text, seen, seen == 1 ? "" : "s");
    window_result(r, f, (long)injected, detail, ap->may_not_fire);
}

/* A toxic's window closes: the proxy's counters say whether any connection met it. */
static int close_toxic_window(struct run *r, struct applied *ap, json_t *f, char *why,
                              size_t why_len)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/stats", ap->toxic);
    json_t *stats = NULL;
    int rc = proxy_call(r, "GET", path, NULL, &stats, why, why_len);
    if (rc < 0) {
        set_error(r, "%s: its counters could not be read: %s",
                  json_string_value(json_object_get(f, "what")), why);
        return rc;
    }
    json_int_t active = json_integer_value(json_object_get(stats, "connections_active"));
    json_int_t seen = json_integer_value(json_object_get(stats, "connections_seen"));
    json_int_t bytes = json_integer_value(json_object_get(stats, "bytes"));
    json_decref(stats);
    json_object_set_new(f, "connections", json_integer(active));
    json_object_set_new(f, "bytes", json_integer(bytes));
    const char *listen = "?";
    size_t i;
    json_t *p;
    json_array_foreach(r->e->proxies, i, p)
        if (!strcmp(json_string_value(json_object_get(p, "name")) ?: "", ap->proxy))
            listen = json_string_value(json_object_get(p, "listen")) ?: "?";
    const char *what = json_string_value(json_object_get(f, "what"));
    char detail[600], size[32];
    if (active)
        snprintf(detail, sizeof(detail), "%s: applied to %lld connection%s, %s through it",
                 what, (long long)active, active == 1 ? "" : "s",
                 fl_format_size((uint64_t)bytes, size, sizeof(size)));
    else if (!seen)
        snprintf(detail, sizeof(detail), "%s saw no connection while on (nothing connected to "
                 "%s)", what, listen);
    else
        snprintf(detail, sizeof(detail), "%s applied to none of the %lld connection%s it saw "
                 "(its toxicity)", what, (long long)seen, seen == 1 ? "" : "s");
    window_result(r, f, (long)active, detail, ap->may_not_fire);
    return 0;
}

/* Revert one held fault and close its window. */
static int revert_one(struct run *r, struct applied *ap)
{
    json_t *f = json_array_get(r->faults, ap->fault_index);
    struct fl_err err = {""};
    int rc = 0;
    char why[256] = "";
    if (ap->is_rules) {
        if (r->ctl)
            close_rule_window(r, ap, f);
    } else if (ap->is_toxic) {
        (void)close_toxic_window(r, ap, f, why, sizeof(why));
        rc = proxy_call(r, "DELETE", ap->toxic, NULL, NULL, why, sizeof(why));
        snprintf(err.msg, sizeof(err.msg), "%s", why);
    } else {
        rc = fl_fault_revert(r->j, &ap->a, &err);
    }
    json_object_set_new(f, "end_ms", json_integer(rel_ms(r)));
    if (rc < 0) {
        json_object_set_new(f, "ok", json_false());
        json_object_set_new(f, "error", json_string(err.msg));
        json_array_append_new(json_object_get(json_object_get(r->res, "rollback"), "errors"),
                              json_string(err.msg));
        note(r, "could not revert %s: %s", json_string_value(json_object_get(f, "what")),
             err.msg);
    } else {
        note(r, "reverted %s", json_string_value(json_object_get(f, "what")));
    }
    return rc;
}

enum expire { EXPIRE_DUE, EXPIRE_METHOD_END, EXPIRE_ROLLBACK };

/* Revert the faults whose time is up: those due now, those held until the method ends, or
 * everything (rollback). */
static int expire_faults_at(struct run *r, enum expire which, int64_t now)
{
    int failed = 0;
    size_t k = 0;
    for (size_t i = 0; i < r->n_applied; i++) {
        struct applied *ap = &r->applied[i];
        bool due = ap->until_ns && ap->until_ns <= now;
        if (which == EXPIRE_ROLLBACK || due ||
            (which == EXPIRE_METHOD_END && !ap->until_rollback)) {
            if (revert_one(r, ap) < 0)
                failed++;
        } else {
            r->applied[k++] = *ap;
        }
    }
    r->n_applied = k;
    return failed;
}

static int expire_faults(struct run *r, enum expire which)
{
    return expire_faults_at(r, which, fl_mono_ns());
}

/* Sleep until deadline, reverting faults as their time comes. */
static bool hold_until(struct run *r, int64_t deadline)
{
    for (;;) {
        /* never past the deadline: what is due by then is reverted, and nothing that falls
         * due later, so a seeded schedule (the monkey) does not depend on how late we woke */
        int64_t now = fl_mono_ns();
        expire_faults_at(r, EXPIRE_DUE, now < deadline ? now : deadline);
        int64_t next = deadline;
        for (size_t i = 0; i < r->n_applied; i++)
            if (r->applied[i].until_ns && r->applied[i].until_ns < next)
                next = r->applied[i].until_ns;
        if (!sleep_until(r, next))
            return false;
        if (fl_mono_ns() >= deadline) {
            expire_faults_at(r, EXPIRE_DUE, deadline);
            return true;
        }
    }
}

static int run_target_step(struct run *r, int step, const struct fl_step *s, bool may_not_fire)
{
    if (!strcmp(s->action, "restart")) {
        target_stop(r, r->e->stop_signal, r->e->stop_grace_ns);
        note(r, "step %d: restarting the target", step);
        return target_start(r, step);
    }
    int sig = !strcmp(s->action, "stop")   ? SIGSTOP
              : !strcmp(s->action, "cont") ? SIGCONT
                                           : s->signal;
    pthread_mutex_lock(&r->lock);
    pid_t pid = r->pid;
    int sent = -1, eno = 0;
    if (pid > 0) {
        if (sig == SIGSTOP)
            r->stopped = true;
        if (sig == SIGCONT)
            r->stopped = false;
        sent = kill(-pid, sig);
        eno = errno;
        /* whatever the signal, an exit that follows it is the step's doing */
        if (sent == 0 && sig != SIGSTOP && sig != SIGCONT)
            r->kill_asked = true;
        note(r, "step %d: SIG%s to the target (pid %d)", step, sigabbrev_np(sig) ?: "?",
             (int)pid);
    }
    /* SIGKILL always ends it: wait until the supervisor has seen the exit (and planned any
     * restart), so that what follows the step sees a target that is down, not dying */
    int64_t until = fl_mono_ns() + 2 * SEC;
    while (sent == 0 && sig == SIGKILL && r->pid == pid && fl_mono_ns() < until) {
        wait_change(r, 5 * MS);
    }
    pthread_mutex_unlock(&r->lock);
    if (pid <= 0) {
        set_fail(r, "step %d (%s): the target was not running", step, s->label);
        return -ESRCH;
    }
    json_t *f = fault_window(r, step, "target", s->label);
    json_object_set_new(f, "end_ms", json_integer(rel_ms(r)));
    char detail[300];
    if (sent == 0)
        snprintf(detail, sizeof(detail), "SIG%s delivered to the target (pid %d)",
                 sigabbrev_np(sig) ?: "?", (int)pid);
    else
        snprintf(detail, sizeof(detail), "SIG%s could not be sent to the target (pid %d): %s",
                 sigabbrev_np(sig) ?: "?", (int)pid, strerror(eno));
    window_result(r, f, sent == 0, detail, may_not_fire);
    return 0;
}

static int run_step(struct run *r, int step, const struct fl_step *s);

static int run_monkey(struct run *r, int step, const struct fl_step *s)
{
    /* The schedule is planned from the seed alone (times, picks, how long each is held), so
     * the same seed gives the same faults whatever the machine's timing. */
    int64_t at = fl_mono_ns(), end = at + s->for_ns;
    size_t first_window = json_array_size(r->faults);
    int hits = 0;
    while (!stopping(r)) {
        /* exponential gaps with the given mean: a Poisson process, like a real monkey */
        double u = fl_prng_unit(&r->prng);
        int64_t gap = (int64_t)(-(double)s->every_ns * log1p(-u));
        if (gap < 10 * MS)
            gap = 10 * MS;
        at += gap;
        if (at >= end) {
            hold_until(r, end);
            break;
        }
        if (!hold_until(r, at))
            break;
        r->planned_ns = at;
        const struct fl_step *pick = &s->pool[fl_prng_below(&r->prng, s->n_pool)];
        progress(r, "step %d: monkey: %s", step, pick->label);
        note(r, "monkey: %s", pick->label);
        bool allowed = pick->may_not_fire || s->may_not_fire;
        int rc = pick->type == FL_STEP_FAULT ? apply_fault(r, step, pick, s->hold_ns, true, allowed)
                                             : run_target_step(r, step, pick, allowed);
        r->planned_ns = 0;
        if (rc < 0 && r->error[0])
            return rc;
        hits++;
    }
    note(r, "monkey: %d faults", hits);
    /* the monkey's own window is the sum of its picks: at least one must have done something */
    long fired = 0;
    for (size_t i = first_window; i < json_array_size(r->faults); i++)
        fired += json_integer_value(json_object_get(json_array_get(r->faults, i), "fired"));
    if (!fired && !stopping(r) && !r->error[0]) {
        char d[32];
        if (s->may_not_fire)
            note(r, "step %d: the monkey's faults took no effect (may_not_fire)", step);
        else
            set_error(r, "the fault never happened: step %d (%s) made %d pick%s in %s and none "
                         "took effect", step, s->label, hits, hits == 1 ? "" : "s",
                      fl_format_duration(s->for_ns, d, sizeof(d)));
    }
    return 0;
}

/* Is the steady state steady? Before the first fault (or at the end of a method without
 * faults), every continuous probe must have held at least once: a probe that failed every
 * sample from the start describes a system that was broken before anything was done to it,
 * and its "recovery" would be measured against a fault that never existed. The first step
 * waits (briefly) for one sample of each probe, so that the window is never empty. */
static void steady_gate(struct run *r)
{
    if (r->steady_checked)
        return;
    r->steady_checked = true;
    if (!r->n_series)
        return;
    int64_t wait = SEC;
    for (size_t i = 0; i < r->n_series; i++)
        if (r->series[i].probe->timeout_ns + r->series[i].probe->every_ns + SEC > wait)
            wait = r->series[i].probe->timeout_ns + r->series[i].probe->every_ns + SEC;
    int64_t deadline = fl_mono_ns() + wait;
    for (size_t i = 0; i < r->n_series; i++)
        while (__atomic_load_n(&r->series[i].n, __ATOMIC_ACQUIRE) == 0 &&
               fl_mono_ns() < deadline && !stopping(r))
            sleep_until(r, fl_mono_ns() + 2 * MS);
    for (size_t i = 0; i < r->n_series; i++) {
        struct series *se = &r->series[i];
        size_t n = __atomic_load_n(&se->n, __ATOMIC_ACQUIRE);
        bool held = false;
        for (size_t k = 0; k < n && !held; k++)
            held = se->samples[k].ok;
        if (n && !held) {
            set_error(r, "not steady before any fault: probe '%s' failed every sample (%s)",
                      se->probe->name, se->samples[0].detail);
            return;
        }
    }
}

static bool injects(const struct fl_step *s)
{
    return s->type == FL_STEP_FAULT || (s->type == FL_STEP_RULES && s->rules_on) ||
           s->type == FL_STEP_TOXIC || s->type == FL_STEP_TARGET || s->type == FL_STEP_MONKEY;
}

static int run_step(struct run *r, int step, const struct fl_step *s)
{
    if (injects(s)) {
        steady_gate(r);
        if (r->error[0])
            return -1;
    }
    progress(r, "step %d: %s", step, s->label);
    if (s->failover && r->failover_from_ms < 0)
        r->failover_from_ms = rel_ms(r);
    switch (s->type) {
    case FL_STEP_FAULT:
        return apply_fault(r, step, s, s->for_ns, false, s->may_not_fire) < 0
                   ? -1
                   : (s->for_ns && !hold_until(r, fl_mono_ns() + s->for_ns) ? -EINTR : 0);
    case FL_STEP_RULES:
        return apply_rules(r, step, s, s->for_ns) < 0
                   ? -1
                   : (s->for_ns && !hold_until(r, fl_mono_ns() + s->for_ns) ? -EINTR : 0);
    case FL_STEP_TOXIC:
        return apply_toxic(r, step, s, s->for_ns) < 0
                   ? -1
                   : (s->for_ns && !hold_until(r, fl_mono_ns() + s->for_ns) ? -EINTR : 0);
    case FL_STEP_PAUSE:
        return hold_until(r, fl_mono_ns() + s->for_ns) ? 0 : -EINTR;
    case FL_STEP_WAIT: {
        int64_t deadline = fl_mono_ns() + s->for_ns;
        struct fl_probe_inst *p = (struct fl_probe_inst *)&s->probe;
        for (;;) {
            struct fl_probe_result res;
            check_once(r, p, &res);
            bool ok = res.ok;
            if (ok || fl_mono_ns() >= deadline) {
                record_check(r, "method", p, &res);
                fl_probe_result_clear(&res);
                if (!ok) {
                    char d[32];
                    set_fail(r, "step %d: %s did not hold within %s", step, p->name,
                             fl_format_duration(s->for_ns, d, sizeof(d)));
                }
                return 0;
            }
            fl_probe_result_clear(&res);
            if (!hold_until(r, fl_mono_ns() + 50 * MS))
                return -EINTR;
        }
    }
    case FL_STEP_TARGET:
        return run_target_step(r, step, s, s->may_not_fire);
    case FL_STEP_MONKEY:
        return run_monkey(r, step, s);
    }
    return 0;
}

/* ---- preload rules ---- */

static int preload_setup(struct run *r)
{
    if (!r->e->rules)
        return 0;
    if (!r->o->preload) {
        set_error(r, "target.rules need faultline-preload.so, which was not found");
        return -ENOENT;
    }
    snprintf(r->ctl_path, sizeof(r->ctl_path), "%s/.faultline-ctl", r->workdir);
    json_t *params = json_pack("{s:s, s:O, s:I, s:b}", "path", r->ctl_path, "rules",
                               r->e->rules, "seed", (json_int_t)r->seed, "no_follow", 0);
    struct fl_err err = {""};
    int rc = fl_fault_apply(r->j, "preload", params, 0, &r->preload, &err);
    json_decref(params);
    if (rc < 0) {
        set_error(r, "target.rules: %s", err.msg);
        return rc;
    }
    if ((rc = fl_ctl_open(r->ctl_path, &r->ctl, &err)) < 0) {
        set_error(r, "target.rules: %s", err.msg);
        return rc;
    }
    fl_ctl_set_enabled(r->ctl, -1, false);
    if (r->e->rules_start_on) {
        /* on from the start: a window per rule from now to the rollback, and no steady
         * window before them to judge */
        for (int i = 0; i < fl_ctl_count(r->ctl); i++)
            open_rule_window(r, 0, i, "on from the start", 0, true, r->e->rules_may_not_fire);
        r->steady_checked = true;
    }
    return 0;
}

/* ---- the end of the method ---- */

/* A oneshot target's exit is its result: wait for it (holding the faults on their schedule),
 * then compare its status with target.exit. */
static void wait_oneshot(struct run *r, int64_t deadline)
{
    const struct fl_experiment *e = r->e;
    progress(r, "waiting for the oneshot target to exit");
    for (;;) {
        pthread_mutex_lock(&r->lock);
        bool done = r->oneshot_done;
        pthread_mutex_unlock(&r->lock);
        if (done || stopping(r))
            break;
        if (fl_mono_ns() > deadline) {
            char d[32];
            set_fail(r, "the oneshot target was still running when the experiment timed out "
                        "(timeout: %s)", fl_format_duration(e->timeout_ns, d, sizeof(d)));
            return;
        }
        if (!hold_until(r, fl_mono_ns() + 20 * MS))
            return;
    }
    if (!r->oneshot_done)
        return;
    int st = r->oneshot_status;
    char how[64];
    describe_status(st, how, sizeof(how));
    bool good = e->exit_any;
    for (size_t i = 0; i < e->n_exit_codes && !good; i++)
        good = WIFEXITED(st) && WEXITSTATUS(st) == e->exit_codes[i];
    if (good)
        return;
    char want[128] = "";
    size_t o = 0;
    for (size_t i = 0; i < e->n_exit_codes && o < sizeof(want); i++)
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%d",
                              !i ? "" : i + 1 == e->n_exit_codes ? " or " : ", ",
                              e->exit_codes[i]);
    set_fail(r, "the oneshot target %s, expected exit status %s", how, want);
}

/* Wait (up to its deadline) for a restarted target to be judged back or not. A target that
 * just died is given to the supervisor first, so that its restart is waited for too. */
static void wait_target_back(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    int64_t reap = fl_mono_ns() + SEC;
    while (r->pid > 0 && fl_proc_is_zombie(r->pid) && fl_mono_ns() < reap) {
        pthread_mutex_unlock(&r->lock);
        sleep_until(r, fl_mono_ns() + 2 * MS);
        pthread_mutex_lock(&r->lock);
    }
    if (r->coming_back)
        progress(r, "waiting for the target to be ready again");
    while (r->coming_back && !stopping(r) && fl_mono_ns() < r->back_deadline_ns + 2 * SEC) {
        pthread_mutex_unlock(&r->lock);
        sleep_until(r, fl_mono_ns() + 20 * MS);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

/* The probes never came back: say so, without blaming a fault when none was injected. */
static void fail_recovery(struct run *r)
{
    char d[32];
    fl_format_duration(r->e->recover_within_ns, d, sizeof(d));
    if (json_array_size(r->faults))
        set_fail(r, "the service did not recover within %s after the faults ended", d);
    else
        set_fail(r, "the probes were failing when the method ended and did not hold again "
                    "within %s (no fault was injected)", d);
}

/* ---- objectives and the verdict ---- */

static void check_objectives(struct run *r)
{
    json_t *m = json_object_get(r->res, "metrics");
    json_t *list = json_object_get(r->res, "objectives");
    for (size_t i = 0; i < r->e->n_objectives; i++) {
        const struct fl_objective *o = &r->e->objectives[i];
        char key[64];
        if (!strcmp(o->name, "failover") || !strncmp(o->name, "time_to_", 8) ||
            !strncmp(o->name, "latency_", 8))
            snprintf(key, sizeof(key), "%s_ms", o->name);
        else
            snprintf(key, sizeof(key), "%s", o->name);
        json_t *v = json_object_get(m, key);
        bool known = json_is_number(v);
        double value = json_number_value(v);
        bool met;
        /* time_to_recover -1 means "never recovered": always a miss */
        if (!strcmp(o->name, "time_to_recover") && known && value < 0)
            met = false;
        else if (!known)
            met = !strcmp(o->name, "time_to_recover") || !strcmp(o->name, "time_to_detect")
                      ? !strcmp(o->name, "time_to_recover") /* nothing failed: recovered */
                      : false;
        else if (!strcmp(o->op, "<="))
            met = value <= o->threshold;
        else if (!strcmp(o->op, "<"))
            met = value < o->threshold;
        else if (!strcmp(o->op, ">="))
            met = value >= o->threshold;
        else
            met = value > o->threshold;
        json_array_append_new(list, json_pack("{s:s, s:s, s:f, s:s, s:O, s:b}", "name", o->name,
                                              "op", o->op, "threshold", o->threshold, "unit",
                                              o->unit, "value", known ? v : json_null(), "met",
                                              met));
        if (!met) {
            if (!known)
                set_fail(r, "objective %s %s %g%s: no value was measured", o->name, o->op,
                         *o->unit ? o->threshold : o->threshold * 100, *o->unit ? "ms" : "%");
            else if (*o->unit)
                set_fail(r, "objective %s %s %gms not met: %.0fms", o->name, o->op,
                         o->threshold, value);
            else
                set_fail(r, "objective %s %s %g%% not met: %.2f%%", o->name, o->op,
                         o->threshold * 100, value * 100);
        }
    }
}

static void check_leaks(struct run *r, json_t *before, json_t *after)
{
    json_t *leaks = json_object_get(r->res, "leaks");
    static const char *const names[] = {"fds", "threads", "children", "rss"};
    const int64_t limits[] = {r->e->leak_fds, r->e->leak_threads, r->e->leak_children,
                              r->e->leak_rss};
    for (size_t i = 0; i < 4; i++) {
        if (limits[i] < 0)
            continue;
        json_int_t b = json_integer_value(json_object_get(before, names[i]));
        json_int_t a = json_integer_value(json_object_get(after, names[i]));
        bool ok = before && after && a - b <= limits[i];
        json_object_set_new(leaks, names[i], json_pack("{s:I, s:I, s:I, s:b}", "before", b,
                                                       "after", a, "limit", (json_int_t)limits[i],
                                                       "ok", ok));
        if (!before || !after)
            set_fail(r, "leak check %s: the target was not running to measure", names[i]);
        else if (!ok)
            set_fail(r, "leak: %s grew from %lld to %lld (allowed +%lld)", names[i],
                     (long long)b, (long long)a, (long long)limits[i]);
    }
}

static const char *verdict_of(struct run *r, char *why, size_t len)
{
    if (r->error[0]) {
        snprintf(why, len, "%s", r->error);
        return "ERROR";
    }
    if (r->skip[0]) {
        snprintf(why, len, "%s", r->skip);
        return "SKIP";
    }
    if (r->fail[0]) {
        snprintf(why, len, "%s", r->fail);
        return r->e->expect_xfail ? "XFAIL" : "FAIL";
    }
    if (r->e->expect_xfail) {
        snprintf(why, len, "expected to fail (%s) but everything held: the gap may be fixed",
                 r->e->reason);
        return "XPASS";
    }
    why[0] = '\0';
    return "PASS";
}

static json_t *new_result(const struct fl_experiment *e, uint64_t seed)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:I, s:I, "
                     "s:[], s:[], s:[], s:n, s:{}, s:[], s:[], s:{}, s:{s:b, s:[]}, s:[]}",
                     "file", e->path, "id", e->id, "title", e->title, "category", e->category,
                     "failure_mode", e->failure_mode ?: "", "expected_behaviour",
                     e->expected ?: "", "tags", e->tags ? json_incref(e->tags) : json_array(), "expect",
                     e->expect_xfail ? "xfail" : "pass", "reason", e->reason ?: "", "verdict",
                     "ERROR", "why", "", "seed", (json_int_t)seed, "started_ms",
                     (json_int_t)fl_wall_ms(), "duration_ms", (json_int_t)0, "phases", "faults",
                     "series", "load", "metrics", "objectives", "checks", "leaks", "rollback",
                     "ok", 1, "errors", "log");
}

json_t *fl_run_skipped(const struct fl_experiment *e, const char *why)
{
    json_t *res = new_result(e, e->seed);
    json_object_set_new(res, "verdict", json_string("SKIP"));
    json_object_set_new(res, "why", json_string(why));
    json_object_set_new(res, "metrics", json_object());
    return res;
}

json_t *fl_run_experiment(struct fl_experiment *e, struct fl_journal *j,
                          const struct fl_run_opts *o)
{
    if (e->skip_reason[0])
        return fl_run_skipped(e, e->skip_reason);
    struct run *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->e = e;
    r->o = o;
    r->j = j;
    r->t0 = fl_mono_ns();
    r->seed = e->has_seed ? e->seed : o->seed;
    fl_prng_seed(&r->prng, r->seed);
    r->failover_from_ms = -1;
    r->down_since_ms = -1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->log_lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->res = new_result(e, r->seed);
    r->log = json_object_get(r->res, "log");
    r->faults = json_object_get(r->res, "faults");
    r->phases = json_object_get(r->res, "phases");
    r->checks = json_object_get(r->res, "checks");
    r->exits = json_array();
    int64_t deadline = r->t0 + e->timeout_ns;
    json_t *before = NULL, *after = NULL;
    char why[512] = "";
    int64_t method_from = -1, observe_to = -1;

    /* start */
    json_t *ph = phase_begin(r, "start");
    bool ok = setup_workdir(r) == 0 && preload_setup(r) == 0 && proxy_start(r) == 0;
    if (ok && e->has_target) {
        ok = build_command(r) == 0;
        if (!ok)
            set_error(r, "the target would not start: %s", strerror(ENOMEM));
        ok = ok && target_start(r, 0) == 0;
    }
    if (ok && e->has_ready) {
        int64_t until = fl_mono_ns() + e->ready_timeout_ns;
        for (;;) {
            struct fl_probe_result res;
            check_once(r, &e->ready, &res);
            bool ready = res.ok;
            snprintf(why, sizeof(why), "%s", res.detail);
            fl_probe_result_clear(&res);
            if (ready)
                break;
            pthread_mutex_lock(&r->lock);
            bool dead = r->pid == 0 && e->restart == FL_RESTART_NEVER;
            pthread_mutex_unlock(&r->lock);
            char d[32];
            if (dead) {
                json_t *last = json_array_get(r->exits, json_array_size(r->exits) - 1);
                set_error(r, "the target would not start: it %s before it was ready (see %s/"
                             "target.log)",
                          json_string_value(json_object_get(last, "how")) ?: "exited",
                          r->workdir);
                ok = false;
                break;
            }
            if (fl_mono_ns() >= until || stopping(r)) {
                set_error(r, "the target was not ready within %s: %s",
                          fl_format_duration(e->ready_timeout_ns, d, sizeof(d)), why);
                ok = false;
                break;
            }
            sleep_until(r, fl_mono_ns() + 20 * MS);
        }
    }
    pthread_mutex_lock(&r->lock);
    r->start_done = true; /* from here on, an exit is the target's doing, not its start's */
    pthread_mutex_unlock(&r->lock);
    ok = ok && !r->error[0];
    phase_end(r, ph, ok, ok ? NULL : r->error);

    /* steady state */
    if (ok) {
        ph = phase_begin(r, "steady_state");
        ok = check_all(r, "steady_state", e->steady, e->n_steady, why, sizeof(why));
        if (!ok)
            set_error(r, "the steady state did not hold before injection: %s", why);
        phase_end(r, ph, ok, ok ? NULL : why);
        pthread_mutex_lock(&r->lock);
        before = e->has_leaks ? proc_snapshot(r->pid) : NULL;
        pthread_mutex_unlock(&r->lock);
    }

    /* method, with continuous probes and load */
    if (ok) {
        ph = phase_begin(r, "method");
        method_from = rel_ms(r);
        series_start(r);
        struct fl_err err = {""};
        if (e->load && fl_load_start(e->load, r->t0, &r->load, &err) < 0)
            set_error(r, "load: %s", err.msg);
        for (size_t i = 0; i < e->n_steps && !r->error[0] && !r->skip[0]; i++) {
            if (stopping(r)) {
                set_error(r, "interrupted");
                break;
            }
            if (fl_mono_ns() > deadline) {
                set_error(r, "timed out after %lld s (timeout:)", (long long)(e->timeout_ns / SEC));
                break;
            }
            run_step(r, (int)i + 1, &e->steps[i]);
        }
        /* a method without faults: its whole length is the steady window */
        if (!r->error[0] && !r->skip[0] && !stopping(r))
            steady_gate(r);
        if (e->oneshot && !r->error[0] && !r->skip[0])
            wait_oneshot(r, deadline);
        if (stopping(r))
            set_error(r, "interrupted");
        /* the faults left are held until the method ends */
        if (expire_faults(r, EXPIRE_METHOD_END) > 0)
            set_error(r, "a fault could not be reverted (the journal keeps it: run 'faultline "
                         "recover')");
        phase_end(r, ph, !r->error[0], r->error[0] ? r->error : NULL);

        /* a restarted target gets its ready_timeout to come back before anything is judged */
        if (e->has_target && !r->error[0] && !r->skip[0])
            wait_target_back(r);
        /* recovery: keep probing until every probe has N good samples in a row */
        if (e->n_continuous && !r->error[0] && !r->skip[0]) {
            json_t *rec = phase_begin(r, "recovery");
            int64_t until = fl_mono_ns() + e->recover_within_ns;
            bool recovered = false;
            while (!recovered && fl_mono_ns() < until && !stopping(r)) {
                sleep_until(r, fl_mono_ns() + 20 * MS);
                recovered = true;
                for (size_t i = 0; i < r->n_series && recovered; i++) {
                    struct series *s = &r->series[i];
                    size_t n = __atomic_load_n(&s->n, __ATOMIC_ACQUIRE);
                    if (n < e->recovered_after) {
                        recovered = false;
                        break;
                    }
                    /* samples written by the probe thread; n only grows after a write */
                    for (size_t k = n - e->recovered_after; k < n; k++)
                        recovered = recovered && s->samples[k].ok;
                }
            }
            if (!recovered && !stopping(r))
                fail_recovery(r);
            phase_end(r, rec, recovered, recovered ? NULL : "the probes did not recover");
        }
        observe_to = rel_ms(r);
        series_stop(r);
        if (r->load)
            json_object_set_new(r->res, "load", fl_load_stop(r->load) ?: json_null());
        r->load = NULL;
    }

    /* verify */
    if (ok && !r->error[0] && !r->skip[0]) {
        ph = phase_begin(r, "verify");
        bool v = check_all(r, "verify", e->verify, e->n_verify, why, sizeof(why));
        if (!v)
            set_fail(r, "verification failed: %s", why);
        pthread_mutex_lock(&r->lock);
        after = e->has_leaks ? proc_snapshot(r->pid) : NULL;
        pthread_mutex_unlock(&r->lock);
        if (e->has_leaks)
            check_leaks(r, before, after);
        phase_end(r, ph, v, v ? NULL : why);
    }

    /* rollback: always */
    ph = phase_begin(r, "rollback");
    series_stop(r);
    if (r->load)
        json_object_set_new(r->res, "load", fl_load_stop(r->load) ?: json_null());
    int failed = expire_faults(r, EXPIRE_ROLLBACK);
    pthread_mutex_lock(&r->lock);
    if (r->stopped && r->pid > 0)
        kill(-r->pid, SIGCONT);
    r->stopped = false;
    pthread_mutex_unlock(&r->lock);
    if (r->ctl)
        fl_ctl_set_enabled(r->ctl, -1, false);
    bool rolled_back = failed == 0;
    if (rolled_back && ok && e->n_steady) {
        /* the steady state again, now that every fault is gone */
        char again[512] = "";
        if (!check_all(r, "after_rollback", e->steady, e->n_steady, again, sizeof(again)))
            note(r, "the steady state does not hold after rollback: %s", again);
    }
    if (e->has_target)
        target_finish(r);
    proxy_stop(r);
    if (r->ctl)
        fl_ctl_close(r->ctl);
    struct fl_err err = {""};
    if (r->preload.entry && fl_fault_revert(j, &r->preload, &err) < 0) {
        rolled_back = false;
        json_array_append_new(json_object_get(json_object_get(r->res, "rollback"), "errors"),
                              json_string(err.msg));
    }
    json_object_set_new(json_object_get(r->res, "rollback"), "ok", json_boolean(rolled_back));
    if (!rolled_back)
        set_error(r, "rollback failed: %s",
                  json_string_value(json_array_get(
                      json_object_get(json_object_get(r->res, "rollback"), "errors"), 0)) ?: "?");
    phase_end(r, ph, rolled_back, NULL);
    if (r->own_workdir && !o->keep && !r->error[0] && !r->fail[0])
        fl_remove_tree(r->workdir);

    /* figures, objectives, verdict */
    if (method_from >= 0) {
        fl_metrics_compute(r->res, e->recovered_after, method_from,
                           observe_to >= 0 ? observe_to : rel_ms(r), r->failover_from_ms);
        json_t *ttr = json_object_get(json_object_get(r->res, "metrics"), "time_to_recover_ms");
        if (json_is_integer(ttr) && json_integer_value(ttr) < 0 && !r->error[0])
            fail_recovery(r);
        check_objectives(r);
    } else {
        json_object_set_new(r->res, "metrics", json_object());
    }
    json_object_set_new(r->res, "target_exits", r->exits);
    json_object_set_new(r->res, "restarts", json_integer(r->restarts));
    if (before)
        json_object_set_new(r->res, "target_before", before);
    if (after)
        json_object_set_new(r->res, "target_after", after);
    const char *verdict = verdict_of(r, why, sizeof(why));
    json_object_set_new(r->res, "verdict", json_string(verdict));
    json_object_set_new(r->res, "why", json_string(why));
    json_object_set_new(r->res, "duration_ms", json_integer(rel_ms(r)));
    json_t *res = r->res;
    free_strv(r->argv);
    free_strv(r->envp);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->log_lock);
    pthread_cond_destroy(&r->cond);
    free(r);
    return res;
}
