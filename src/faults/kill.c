/* SPDX-License-Identifier: MIT */
/*
 * faults/kill.c - signal processes chosen by pid, name, command line or process tree, once
 * or as a chaos monkey (one random victim among the matches on every round).
 *
 * Params: {"signal": 15 | "TERM", "pids": [PID...], "name": GLOB, "cmdline": GLOB,
 *          "tree": [PID...], "group": bool, "every_ns": N, "seed": N, "dry_run": bool}
 * "pid": N is taken for "pids": [N] (experiment steps say {"pid": "target"}, which the
 * runner turns into the target's pid). pids and tree are given processes (a tree is the
 * process and all its descendants); name globs /proc/PID/comm and cmdline the command line
 * with its arguments joined by spaces (both given: both must match). The selected set is the
 * union of the three.
 *
 * Without every_ns, apply signals every selected process once, exactly those prepare found
 * (their pids and start times are the undo record, so the journal says who was hit), and
 * puts {"hits", "orphans", "refused"} in ctx->report. With it, the fault is a chaos monkey:
 * apply only checks that something matches, and the holder (the CLI's hold tick) runs the
 * rounds with fl_kill_round(), which records into a report of its own. Round k picks its
 * victim from the matches of that moment, ordered by start time, with a generator seeded by
 * (seed, k), so one seed replays the same victim sequence over the same set of processes
 * however the rounds are timed.
 *
 * Never signalled: pid 1, faultline itself, its ancestors (killing one would end the run that
 * is meant to report), kernel threads, and a process group that holds any of those. They are
 * listed as refused, never silently skipped. A pid is signalled only if its start time is
 * still the one recorded, so a pid reused since the match is left alone.
 *
 * dry_run reports what would be hit, with result "dry-run", and sends nothing: a pattern
 * matches every process on the host that may be signalled, which as root is all of them.
 *
 * revert does nothing: a signal cannot be taken back. A process restarted by its supervisor
 * is the system's recovery, which is what a kill experiment measures.
 *
 * Map: /proc reading (read_proc, scan_procs); protection (protected_why, list_ancestors);
 * selection (resolve); signalling, group handling and orphans (signal_targets); the monkey's
 * round (fl_kill_round); the ops table (kill_prepare, kill_apply, kill_revert).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "glob.h"
#include "journal.h"
#include "kill.h"
#include "prng.h"
#include "units.h"


/* report[key], an array, made on first use; NULL when there is no report. */
static json_t *report_array(json_t *report, const char *key)
{
    if (!report)
        return NULL;
    json_t *a = json_object_get(report, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(report, key, a);
    }
    return a;
}

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h: the flags field marks kernel threads */

struct proc {
    pid_t pid, ppid, pgid;
    uint64_t start;        /* clock ticks since boot: pid + start names one process */
    unsigned long flags;   /* kernel PF_* flags */
    char state;            /* R, S, D, T, Z, ... */
    char comm[64];         /* /proc/PID/comm, at most 15 bytes in practice */
};

/* Parse /proc/PID/stat. 0, or -ESRCH when the process is gone. */
static int read_proc(pid_t pid, struct proc *p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -ESRCH;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -ESRCH;
    buf[n] = '\0';
    /* comm may hold spaces and ')': it runs from the first '(' to the last ')' */
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (!open_p || !close_p || close_p < open_p)
        return -ESRCH;
    size_t cl = (size_t)(close_p - open_p - 1);
    if (cl >= sizeof(p->comm))
        cl = sizeof(p->comm) - 1;
    memcpy(p->comm, open_p + 1, cl);
    p->comm[cl] = '\0';
    p->pid = pid;
    char *f = close_p + 2;
    /* fields from 3: state ppid pgrp session tty_nr tpgid flags ... starttime (22) */
    char *save = NULL;
    int field = 3;
    for (char *t = strtok_r(f, " ", &save); t; t = strtok_r(NULL, " ", &save), field++) {
        if (field == 3)
            p->state = t[0];
        else if (field == 4)
            p->ppid = (pid_t)strtol(t, NULL, 10);
        else if (field == 5)
            p->pgid = (pid_t)strtol(t, NULL, 10);
        else if (field == 9)
            p->flags = strtoul(t, NULL, 10);
        else if (field == 22) {
            p->start = strtoull(t, NULL, 10);
            return 0;
        }
    }
    return -ESRCH;
}

/* The command line with NULs turned into spaces; "" for kernel threads and zombies. */
static void read_cmdline(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return;
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
}

/* Every process on the host, read once per round. */
struct proc_table {
    struct proc *v;
    size_t n;
};

static int scan_procs(struct proc_table *t)
{
    t->v = NULL;
    t->n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        struct proc p;
        if (read_proc((pid_t)atol(de->d_name), &p) < 0)
            continue; /* exited while we looked */
        if (t->n == cap) {
            cap = cap ? cap * 2 : 256;
            struct proc *nv = realloc(t->v, cap * sizeof(*nv));
            if (!nv) {
                closedir(d);
                free(t->v);
                return -ENOMEM;
            }
            t->v = nv;
        }
        t->v[t->n++] = p;
    }
    closedir(d);
    return 0;
}

static const struct proc *find_proc(const struct proc_table *t, pid_t pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].pid == pid)
            return &t->v[i];
    return NULL;
}

/* Why pid must never be signalled, or NULL. ancestors: faultline's chain up to pid 1. */
static const char *protected_why(const struct proc *p, const pid_t *ancestors, size_t na)
{
    if (p->pid == 1)
        return "pid 1 (init)";
    if (p->pid == getpid())
        return "faultline itself";
    for (size_t i = 0; i < na; i++)
        if (ancestors[i] == p->pid)
            return "an ancestor of faultline";
    if ((p->flags & PF_KTHREAD) || p->pid == 2 || p->ppid == 2)
        return "a kernel thread";
    return NULL;
}

static size_t list_ancestors(const struct proc_table *t, pid_t *out, size_t max)
{
    size_t n = 0;
    pid_t pid = getppid();
    while (pid > 1 && n < max) {
        out[n++] = pid;
        const struct proc *p = find_proc(t, pid);
        if (!p)
            break;
        pid = p->ppid;
    }
    return n;
}

static bool pid_in(const json_t *arr, pid_t pid)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if ((pid_t)json_integer_value(json_object_get(v, "pid")) == pid)
            return true;
    return false;
}

static void note_refused(json_t *report, const struct proc *p, const char *why)
{
    json_t *refused = report_array(report, "refused");
    if (refused && !pid_in(refused, p->pid))
        json_array_append_new(refused, json_pack("{s:i, s:s, s:s}", "pid", (int)p->pid, "name",
                                                 p->comm, "why", why));
}

/* The signal in params: a number or a name. */
static int params_signal(const json_t *params, int *sig, struct fl_err *err)
{
    json_t *s = json_object_get(params, "signal");
    if (!s) {
        *sig = SIGTERM;
        return 0;
    }
    if (json_is_integer(s)) {
        json_int_t n = json_integer_value(s);
        if (n < 1 || n >= NSIG)
            return fl_err_set(err, EINVAL, "kill: signal %lld is not a signal number (1..%d)",
                              (long long)n, NSIG - 1);
        *sig = (int)n;
        return 0;
    }
    int rc = fl_parse_signal(json_string_value(s), sig, err);
    if (rc < 0 && err)
        fl_err_prefix(err, "kill: --signal");
    return rc;
}

/* Add p to targets unless it is there already or protected (then it is refused, and the
 * count of refusals goes up). */
struct refusals {
    int n;                 /* how many matches were protected */
    char first[160];       /* the first of them, for the error when nothing else matched */
};

static void add_target(json_t *report, json_t *targets, const struct proc *p,
                       const pid_t *anc, size_t na, struct refusals *r)
{
    if (p->state == 'Z' || pid_in(targets, p->pid))
        return;
    const char *why = protected_why(p, anc, na);
    if (why) {
        note_refused(report, p, why);
        if (r->n++ == 0)
            snprintf(r->first, sizeof(r->first), "%d (%s) is %s", (int)p->pid, p->comm, why);
        return;
    }
    json_array_append_new(targets, json_pack("{s:i, s:I, s:s}", "pid", (int)p->pid, "start",
                                             (json_int_t)p->start, "name", p->comm));
}

static int cmp_targets(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t sx = json_integer_value(json_object_get(x, "start"));
    json_int_t sy = json_integer_value(json_object_get(y, "start"));
    if (sx != sy)
        return sx < sy ? -1 : 1;
    json_int_t px = json_integer_value(json_object_get(x, "pid"));
    json_int_t py = json_integer_value(json_object_get(y, "pid"));
    return px < py ? -1 : px > py;
}

/* Pid lists may be one integer or an array of them. */
static const json_t *params_pids(const json_t *params)
{
    const json_t *v = json_object_get(params, "pids");
    return v ? v : json_object_get(params, "pid");
}

static bool pid_list(const json_t *v, size_t i, pid_t *pid)
{
    const json_t *e = json_is_array(v) ? json_array_get(v, i) : (i == 0 ? v : NULL);
    if (!json_is_integer(e))
        return false;
    *pid = (pid_t)json_integer_value(e);
    return true;
}

/* The selected processes now, ordered by start time then pid: [{pid, start, name}]. Given
 * pids that do not exist fail with ESRCH (strict, so a typo does nothing); so does an empty
 * selection. */
static int resolve(const json_t *params, json_t *report, json_t **out, struct fl_err *err)
{
    struct proc_table t;
    int rc = scan_procs(&t);
    if (rc < 0)
        return fl_err_set(err, -rc, "kill: cannot read /proc: %s", strerror(-rc));
    pid_t anc[128];
    size_t na = list_ancestors(&t, anc, 128);
    json_t *targets = json_array();
    struct refusals refusals = {0, ""};
    const json_t *pids = params_pids(params);
    const json_t *tree = json_object_get(params, "tree");
    const char *name = json_string_value(json_object_get(params, "name"));
    const char *cmdline = json_string_value(json_object_get(params, "cmdline"));
    pid_t pid;
    for (size_t i = 0; pid_list(pids, i, &pid); i++) {
        const struct proc *p = find_proc(&t, pid);
        if (!p || p->state == 'Z') {
            rc = fl_err_set(err, ESRCH, "kill: no process %d", (int)pid);
            goto out;
        }
        add_target(report, targets, p, anc, na, &refusals);
    }
    for (size_t i = 0; pid_list(tree, i, &pid); i++) {
        const struct proc *root = find_proc(&t, pid);
        if (!root || root->state == 'Z') {
            rc = fl_err_set(err, ESRCH, "kill: --tree: no process %d", (int)pid);
            goto out;
        }
        /* breadth first over the parent links: the root, its children, theirs, ... */
        pid_t *queue = malloc(t.n * sizeof(*queue));
        if (!queue) {
            rc = fl_err_set(err, ENOMEM, "out of memory");
            goto out;
        }
        size_t qh = 0, qt = 0;
        queue[qt++] = root->pid;
        while (qh < qt) {
            pid_t cur = queue[qh++];
            const struct proc *p = find_proc(&t, cur);
            if (p)
                add_target(report, targets, p, anc, na, &refusals);
            for (size_t k = 0; k < t.n && qt < t.n; k++)
                if (t.v[k].ppid == cur && t.v[k].pid != cur)
                    queue[qt++] = t.v[k].pid;
        }
        free(queue);
    }
    if (name || cmdline) {
        char line[4096];
        for (size_t k = 0; k < t.n; k++) {
            const struct proc *p = &t.v[k];
            if (name && !fl_glob_match(name, p->comm))
                continue;
            if (cmdline) {
                read_cmdline(p->pid, line, sizeof(line));
                if (!line[0] || !fl_glob_match(cmdline, line))
                    continue;
            }
            add_target(report, targets, p, anc, na, &refusals);
        }
    }
    if (json_array_size(targets) == 0) {
        rc = fl_err_set(err, ESRCH, "kill: no process matches%s%s%s%s%s%s",
                        name ? " --name '" : "", name ? name : "", name ? "'" : "",
                        cmdline ? " --cmdline '" : "", cmdline ? cmdline : "",
                        cmdline ? "'" : "");
        if (refusals.n > 0)
            rc = fl_err_set(err, EPERM, "kill: nothing to signal: %s, never signalled%s",
                            refusals.first,
                            refusals.n > 1 ? " (and so is every other match)" : "");
        goto out;
    }
    /* a stable order for the monkey's index: start time, then pid */
    size_t n = json_array_size(targets);
    json_t **v = malloc(n * sizeof(*v));
    if (!v) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(targets, i));
    qsort(v, n, sizeof(*v), cmp_targets);
    json_array_clear(targets);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(targets, v[i]);
    free(v);
    rc = 0;
out:
    free(t.v);
    if (rc < 0)
        json_decref(targets);
    else
        *out = targets;
    return rc;
}

/* Signals that end a process unless it handles them: worth waiting for, to see orphans. */
static bool may_end(int sig)
{
    return sig != SIGSTOP && sig != SIGCONT && sig != SIGTSTP && sig != SIGTTIN &&
           sig != SIGTTOU && sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH;
}

/* A child of a victim, remembered to tell afterwards whether it was orphaned. */
struct kid {
    pid_t pid, parent;
    uint64_t start;
    char comm[64];
};

/* Signal the targets (all of them, or only index `only` when >= 0); record hits, refusals
 * and orphans. Returns how many signals were delivered, or -errno if none could be and the
 * reason was the same for all (EPERM: not ours to signal). */
static int signal_targets(json_t *report, const json_t *targets, long only, int sig, bool group,
                          bool dry, uint64_t round, struct fl_err *err)
{
    struct proc_table t;
    int rc = scan_procs(&t);
    if (rc < 0)
        return fl_err_set(err, -rc, "kill: cannot read /proc: %s", strerror(-rc));
    pid_t anc[128];
    size_t na = list_ancestors(&t, anc, 128);
    struct kid *kids = NULL;
    size_t nkids = 0;
    pid_t *gone_wait = calloc(json_array_size(targets) + 1, sizeof(*gone_wait));
    pid_t *groups_done = calloc(json_array_size(targets) + 1, sizeof(*groups_done));
    size_t ngone = 0, ngroups = 0;
    int delivered = 0, last_errno = 0, tried = 0, refused = 0;
    json_t *hits = report_array(report, "hits");
    size_t i;
    json_t *tg;
    json_array_foreach(targets, i, tg) {
        if (only >= 0 && (long)i != only)
            continue;
        pid_t pid = (pid_t)json_integer_value(json_object_get(tg, "pid"));
        uint64_t start = (uint64_t)json_integer_value(json_object_get(tg, "start"));
        const char *name = json_string_value(json_object_get(tg, "name"));
        const struct proc *p = find_proc(&t, pid);
        const char *result = "sent";
        pid_t pgid = 0;
        tried++;
        if (!p || p->start != start || p->state == 'Z') {
            result = "gone"; /* exited, or its pid now names another process */
        } else if (group) {
            pgid = p->pgid;
            /* the group must hold nothing protected, faultline's own group above all */
            const char *why = NULL;
            for (size_t k = 0; k < t.n && !why; k++)
                if (t.v[k].pgid == pgid && protected_why(&t.v[k], anc, na))
                    why = "its process group holds faultline, an ancestor, init or a kernel "
                          "thread";
            if (pgid <= 1)
                why = "it has no process group of its own";
            if (why) {
                note_refused(report, p, why);
                refused++;
                continue;
            }
            /* two matches in one group: the group gets the signal once, and the first hit's
             * members already name the second */
            bool done = false;
            for (size_t g = 0; g < ngroups && !done; g++)
                done = groups_done[g] == pgid;
            if (done) {
                tried--;
                continue;
            }
            if (groups_done)
                groups_done[ngroups++] = pgid;
        }
        if (!strcmp(result, "sent")) {
            /* remember the children of every process about to be hit, to name orphans */
            for (size_t k = 0; k < t.n; k++) {
                const struct proc *c = &t.v[k];
                bool hit = group ? c->pgid == pgid : c->pid == pid;
                if (!hit)
                    continue;
                for (size_t m = 0; m < t.n; m++) {
                    if (t.v[m].ppid != c->pid || t.v[m].state == 'Z')
                        continue;
                    struct kid *nk = realloc(kids, (nkids + 1) * sizeof(*nk));
                    if (!nk)
                        break;
                    kids = nk;
                    kids[nkids].pid = t.v[m].pid;
                    kids[nkids].parent = c->pid;
                    kids[nkids].start = t.v[m].start;
                    snprintf(kids[nkids].comm, sizeof(kids[nkids].comm), "%s", t.v[m].comm);
                    nkids++;
                }
            }
            if (dry) {
                result = "dry-run";
                delivered++;
            } else if (kill(group ? -pgid : pid, sig) < 0) {
                last_errno = errno;
                result = strerror(errno);
            } else {
                delivered++;
                if (gone_wait)
                    gone_wait[ngone++] = pid;
            }
        }
        if (!hits)
            continue;
        json_t *h = json_pack("{s:i, s:s, s:s, s:i, s:I, s:s}", "pid", (int)pid, "name",
                              name ? name : "?", "signal", sigabbrev_np(sig) ?: "?", "signo",
                              sig, "time_ms", (json_int_t)fl_wall_ms(), "result", result);
        if (only >= 0) {
            json_object_set_new(h, "round", json_integer((json_int_t)round));
            json_object_set_new(h, "index", json_integer(only));
            json_object_set_new(h, "of", json_integer((json_int_t)json_array_size(targets)));
        }
        if (group) {
            json_object_set_new(h, "group", json_integer(pgid));
            json_t *members = json_array();
            for (size_t k = 0; k < t.n; k++)
                if (t.v[k].pgid == pgid && t.v[k].state != 'Z')
                    json_array_append_new(members, json_pack("{s:i, s:s}", "pid",
                                                             (int)t.v[k].pid, "name",
                                                             t.v[k].comm));
            json_object_set_new(h, "members", members);
        }
        json_array_append_new(hits, h);
    }
    /* Orphans: a child that outlived its killed parent and was reparented (to init or a
     * subreaper). Wait up to 1s for the victims to exit; a victim that handles the signal
     * and lives on leaves no orphans. */
    if (nkids && report && may_end(sig) && !dry) {
        for (int tries = 0; tries < 100; tries++) {
            bool all_gone = true;
            for (size_t g = 0; g < ngone && all_gone; g++) {
                struct proc p;
                if (read_proc(gone_wait[g], &p) == 0 && p.state != 'Z')
                    all_gone = false;
            }
            if (all_gone)
                break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        json_t *orphans = report_array(report, "orphans");
        for (size_t k = 0; k < nkids; k++) {
            struct proc c;
            if (read_proc(kids[k].pid, &c) < 0 || c.start != kids[k].start || c.state == 'Z' ||
                c.ppid == kids[k].parent || pid_in(orphans, c.pid))
                continue;
            json_array_append_new(orphans, json_pack("{s:i, s:s, s:i, s:i}", "pid", (int)c.pid,
                                                     "name", c.comm, "parent",
                                                     (int)kids[k].parent, "new_parent",
                                                     (int)c.ppid));
        }
    }
    free(kids);
    free(gone_wait);
    free(groups_done);
    free(t.v);
    if (tried && !delivered && refused == tried)
        return fl_err_set(err, EPERM, "kill: --group: nothing signalled: the process group of "
                                      "each match holds faultline, an ancestor, init or a kernel "
                                      "thread");
    if (tried && !delivered && last_errno)
        return fl_err_set(err, last_errno, "kill: cannot signal the %s: %s",
                          tried > 1 ? "matched processes" : "process", strerror(last_errno));
    return delivered;
}

/* Round k of the monkey: one victim among the matches of this moment. */
int fl_kill_round(const json_t *params, uint64_t round, json_t *report, struct fl_err *err)
{
    int sig;
    int rc = params_signal(params, &sig, err);
    if (rc < 0)
        return rc;
    json_t *targets;
    rc = resolve(params, report, &targets, err);
    if (rc == -ESRCH && round > 0) {
        /* the monkey may have killed them all, or a supervisor is slow: not an error */
        if (report)
            json_object_set_new(report, "empty_rounds",
                                json_integer(json_integer_value(json_object_get(
                                                 report, "empty_rounds")) + 1));
        return 0;
    }
    if (rc < 0)
        return rc;
    /* a fresh generator per round: the k-th victim depends on (seed, k) and the match count
     * only, never on how many draws earlier rounds made */
    struct fl_prng g;
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(params, "seed"));
    fl_prng_seed(&g, fl_mix3(seed, round, 0x6b696c6c /* "kill" */));
    long idx = (long)fl_prng_below(&g, json_array_size(targets));
    rc = signal_targets(report, targets, idx, sig,
                        json_is_true(json_object_get(params, "group")),
                        json_is_true(json_object_get(params, "dry_run")), round, err);
    json_decref(targets);
    return rc < 0 ? rc : 0;
}

static int kill_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                        struct fl_err *err)
{
    int sig;
    int rc = params_signal(params, &sig, err);
    if (rc < 0)
        return rc;
    if (!params_pids(params) && !json_object_get(params, "tree") &&
        !json_string_value(json_object_get(params, "name")) &&
        !json_string_value(json_object_get(params, "cmdline")))
        return fl_err_set(err, EINVAL, "kill: nothing selected (expected pids, tree, name or "
                                       "cmdline)");
    json_t *every = json_object_get(params, "every_ns");
    if (every && (!json_is_integer(every) || json_integer_value(every) <= 0))
        return fl_err_set(err, EINVAL, "kill: every_ns must be a positive number of ns");
    json_t *targets;
    rc = resolve(params, ctx->report, &targets, err);
    if (rc < 0)
        return rc;
    /* One-shot: exactly these are hit. Monkey: the matches at the start, for the record. */
    *undo = json_pack("{s:o}", every ? "matched" : "targets", targets);
    return *undo ? 0 : fl_err_set(err, ENOMEM, "out of memory");
}

static int kill_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                      struct fl_err *err)
{
    if (json_object_get(params, "every_ns")) {
        /* the rounds belong to the holder; prepare saw at least one match */
        json_object_set_new(ctx->report, "matched",
                            json_integer((json_int_t)json_array_size(
                                json_object_get(undo, "matched"))));
        return 0;
    }
    int sig;
    int rc = params_signal(params, &sig, err);
    if (rc < 0)
        return rc;
    /* all three keys always, so a reader of the JSON never has to ask whether one exists */
    report_array(ctx->report, "hits");
    report_array(ctx->report, "orphans");
    report_array(ctx->report, "refused");
    rc = signal_targets(ctx->report, json_object_get(undo, "targets"), -1, sig,
                        json_is_true(json_object_get(params, "group")),
                        json_is_true(json_object_get(params, "dry_run")), 0, err);
    return rc < 0 ? rc : 0;
}

/* A kill cannot be undone; the journal entry only says who was hit and when. */
static int kill_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                       struct fl_err *err)
{
    return 0;
}

static void kill_describe(const json_t *params, char *buf, size_t len)
{
    int sig = SIGTERM;
    params_signal(params, &sig, NULL);
    char sel[256] = "";
    size_t o = 0;
    const json_t *pids = params_pids(params);
    const json_t *tree = json_object_get(params, "tree");
    pid_t pid;
    for (size_t i = 0; pid_list(pids, i, &pid) && o < sizeof(sel) - 16; i++)
        o += (size_t)snprintf(sel + o, sizeof(sel) - o, "%s%d", o ? " " : "pid ", (int)pid);
    for (size_t i = 0; pid_list(tree, i, &pid) && o < sizeof(sel) - 24; i++)
        o += (size_t)snprintf(sel + o, sizeof(sel) - o, "%stree of %d", o ? " " : "",
                              (int)pid);
    const char *name = json_string_value(json_object_get(params, "name"));
    const char *cmdline = json_string_value(json_object_get(params, "cmdline"));
    if (name && o < sizeof(sel))
        o += (size_t)snprintf(sel + o, sizeof(sel) - o, "%sname '%s'", o ? " " : "", name);
    if (cmdline && o < sizeof(sel))
        snprintf(sel + o, sizeof(sel) - o, "%scmdline '%s'", o ? " " : "", cmdline);
    json_int_t every = json_integer_value(json_object_get(params, "every_ns"));
    char dur[32];
    snprintf(buf, len, "SIG%s to %s%s%s%s", sigabbrev_np(sig) ?: "?", sel,
             json_is_true(json_object_get(params, "group")) ? " (whole process group)" : "",
             every ? ": one random victim every " : "",
             every ? fl_format_duration(every, dur, sizeof(dur)) : "");
}

/* A kill took effect on every process its signal reached; matches that had exited ("gone"),
 * were refused or dry-run hit nothing. */
static long kill_effects(const json_t *report, char *what, size_t len)
{
    const json_t *hits = json_object_get(report, "hits");
    if (!hits) {
        snprintf(what, len, "no round ran (a kill with every_ns is `faultline kill`'s chaos "
                            "monkey: in an experiment, use a monkey step)");
        return 0;
    }
    long sent = 0, other = 0;
    size_t o = 0, i;
    json_t *h;
    char pids[160] = "";
    json_array_foreach(hits, i, h) {
        if (strcmp(json_string_value(json_object_get(h, "result")) ?: "", "sent") != 0) {
            other++;
            continue;
        }
        if (sent++ < 4 && o < sizeof(pids))
            o += (size_t)snprintf(pids + o, sizeof(pids) - o, "%s%d", o ? ", " : "",
                                  (int)json_integer_value(json_object_get(h, "pid")));
    }
    size_t refused = json_array_size(json_object_get(report, "refused"));
    if (sent)
        snprintf(what, len, "hit %ld process%s (pid %s%s)", sent, sent == 1 ? "" : "es", pids,
                 sent > 4 ? ", ..." : "");
    else
        snprintf(what, len, "hit no process (%ld match%s gone or not signalled, %zu refused)",
                 other, other == 1 ? "" : "es", refused);
    return sent;
}

const struct fl_fault_ops fl_fault_kill = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "kill",
    .summary = "signal processes by pid, name, command line or tree; once or as a chaos monkey",
    .prepare = kill_prepare,
    .apply = kill_apply,
    .revert = kill_revert,
    .describe = kill_describe,
    .effects = kill_effects,
};
