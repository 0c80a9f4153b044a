/* SPDX-License-Identifier: MIT */
/*
 * faults/stop.c - freeze processes with SIGSTOP, as a hung dependency or a paused VM looks
 * from outside, and always resume them.
 *
 * Params: {"pids": [PID...], "guardian": bool (default true)}; "pid": N stands for
 * "pids": [N] (experiment steps say {"pid": "target"}). prepare records each target's
 * start time and whether it was already stopped; revert sends SIGCONT only to a process with
 * the same pid and start time (a reused pid is never touched), and never to one that was
 * stopped before we came (that is how we found it).
 *
 * A stopped process stays stopped forever if nobody resumes it, so there are three ways back,
 * all idempotent with each other:
 *   1. the owner's revert (end of --for, Ctrl-C, SIGTERM);
 *   2. the guardian: before the first SIGSTOP, apply forks a small process (double fork, so
 *      it is nobody's zombie; its own session, so a Ctrl-C to the terminal's group does not
 *      reach it) that blocks reading a socket whose other end only the owner holds. When the
 *      owner dies, even by SIGKILL, the read returns EOF; the guardian takes the journal lock
 *      and, if the entry is still there, resumes the targets and removes the entry. A normal
 *      revert sends "q" first, and the guardian exits without doing anything;
 *   3. `faultline recover`, from the journal, if the guardian was killed too.
 *
 * State machine of one target:  running --apply: SIGSTOP--> stopped
 *                               stopped --revert | guardian | recover: SIGCONT--> running
 * Per state: "stopped" is guaranteed to have a journal entry naming it (pid + start time).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "journal.h"

/* Guardians started by this process, by journal entry id: the owner's end of each socket.
 * Process-local by nature (a socket cannot be journalled); touched only by the thread that
 * applies and reverts faults. */
#define STOP_HELD_MAX 16
static struct {
    char id[64];   /* journal entry id; "" for a free slot */
    int fd;        /* owner's end: closing it without "q" makes the guardian act */
} guardians[STOP_HELD_MAX];

#define STOP_TARGETS_MAX 256

struct target {
    pid_t pid;
    unsigned long long start; /* from /proc/PID/stat field 22 */
    bool was_stopped;         /* already stopped before the fault: left stopped */
    char stat_path[32];       /* "/proc/PID/stat", made before fork for the guardian */
};

/* Read state and start time from /proc/PID/stat with nothing but open/read/close and plain
 * loops: the guardian calls it in a forked child, where only async-signal-safe calls are
 * safe if the parent had threads. 0, or -1 if the process is gone. */
static int stat_of(const char *path, char *state, unsigned long long *start)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = NULL;
    for (char *q = buf; *q; q++)
        if (*q == ')')
            p = q; /* the command name may hold ')': fields start after the last one */
    if (!p || p[1] != ' ')
        return -1;
    *state = p[2];
    int field = 3;
    for (p += 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    unsigned long long v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (unsigned long long)(*p++ - '0');
    *start = v;
    return field == 22 ? 0 : -1;
}

static int load_targets(const json_t *undo, struct target *t, size_t max)
{
    size_t n = 0, i;
    json_t *v;
    json_array_foreach(json_object_get(undo, "targets"), i, v) {
        if (n == max)
            break;
        t[n].pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
        t[n].start = (unsigned long long)json_integer_value(json_object_get(v, "start"));
        t[n].was_stopped = json_is_true(json_object_get(v, "was_stopped"));
        snprintf(t[n].stat_path, sizeof(t[n].stat_path), "/proc/%d/stat", (int)t[n].pid);
        n++;
    }
    return (int)n;
}

/* SIGCONT to each target that is still the same process. Not only to those that look stopped
 * now: a SIGSTOP sent a moment ago may not have been acted on yet (the target shows 'S' and
 * stops right after), and skipping it then would leave it stopped for good; a SIGCONT to a
 * running process does nothing. Async-signal-safe (the guardian uses it). Returns how many
 * were signalled. */
static int resume(const struct target *t, int n)
{
    int resumed = 0;
    for (int i = 0; i < n; i++) {
        char state;
        unsigned long long start;
        if (t[i].was_stopped || stat_of(t[i].stat_path, &state, &start) < 0 ||
            start != t[i].start)
            continue; /* not ours to resume, exited, or a new process under a reused pid */
        (void)state;
        if (kill(t[i].pid, SIGCONT) == 0)
            resumed++;
    }
    return resumed;
}

static bool is_protected(pid_t pid)
{
    if (pid <= 1 || pid == getpid())
        return true;
    /* faultline's ancestors: stopping one would freeze the shell waiting for us */
    for (pid_t a = getppid(); a > 1;) {
        if (a == pid)
            return true;
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)a);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            break;
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        if (!p || sscanf(p + 2, "%*c %d", &a) != 1)
            break;
    }
    return false;
}

static int stop_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                        struct fl_err *err)
{
    json_t *pids = json_object_get(params, "pids"), *one = NULL;
    if (!pids && json_is_integer(json_object_get(params, "pid")))
        pids = one = json_pack("[O]", json_object_get(params, "pid"));
    if (!json_is_array(pids) || json_array_size(pids) == 0) {
        json_decref(one);
        return fl_err_set(err, EINVAL, "stop: params need \"pids\", a list of process ids");
    }
    if (json_array_size(pids) > STOP_TARGETS_MAX) {
        json_decref(one);
        return fl_err_set(err, EINVAL, "stop: at most %d processes at once", STOP_TARGETS_MAX);
    }
    json_t *targets = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(pids, i, v) {
        pid_t pid = (pid_t)json_integer_value(v);
        char path[32], state;
        unsigned long long start;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        int rc = 0;
        if (!json_is_integer(v) || pid <= 0)
            rc = fl_err_set(err, EINVAL, "stop: '%s' is not a pid",
                            json_is_string(v) ? json_string_value(v) : "?");
        else if (is_protected(pid))
            rc = fl_err_set(err, EINVAL, "stop: %d is %s: never stopped", (int)pid,
                            pid == 1 ? "pid 1 (init)" : pid == getpid() ? "faultline itself"
                                                                         : "an ancestor of "
                                                                           "faultline");
        else if (stat_of(path, &state, &start) < 0 || state == 'Z')
            rc = fl_err_set(err, ESRCH, "stop: no process %d", (int)pid);
        else if (kill(pid, 0) < 0)
            rc = fl_err_set(err, errno, "stop: cannot signal %d: %s", (int)pid, strerror(errno));
        if (rc < 0) {
            json_decref(targets);
            json_decref(one);
            return rc;
        }
        json_array_append_new(targets, json_pack("{s:i, s:I, s:b}", "pid", (int)pid, "start",
                                                 (json_int_t)start, "was_stopped",
                                                 state == 'T'));
    }
    json_decref(one);
    *undo = json_pack("{s:o}", "targets", targets);
    return *undo ? 0 : fl_err_set(err, ENOMEM, "out of memory");
}

/* The guardian's whole life (see the header). Only async-signal-safe calls. */
static void guardian_main(int fd, const char *lock_path, const char *entry_path,
                          const char *dir, const struct target *t, int n)
{
    char c = 0;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (r == 1 && c == 'q')
        _exit(0); /* the owner reverted normally */
    /* EOF: the owner is gone. Under the journal lock, act only if nobody did already. */
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)
        while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
            ;
    if (access(entry_path, F_OK) == 0) {
        resume(t, n);
        if (unlink(entry_path) == 0) {
            int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (d >= 0) {
                fsync(d);
                close(d);
            }
        }
    }
    _exit(0);
}

/* Start the guardian; returns the owner's socket end, or -errno. *gpid: the guardian's pid,
 * which it sends once it is ready (signals ignored, session left), before any SIGSTOP. */
static int start_guardian(const struct fl_fault_ctx *ctx, const struct target *t, int n,
                          pid_t *gpid, struct fl_err *err)
{
    struct fl_journal j;
    int rc = fl_journal_open(&j, ctx->state_dir, err);
    if (rc < 0)
        return rc;
    /* everything the guardian needs is computed before fork */
    char lock_path[4400], entry_path[4400];
    snprintf(lock_path, sizeof(lock_path), "%s/.lock", j.dir);
    snprintf(entry_path, sizeof(entry_path), "%s/%s.json", j.dir, ctx->id);
    int sv[2];
    /* a socket, not a pipe: the owner's "q" goes with MSG_NOSIGNAL, so a dead guardian
     * cannot kill the owner with SIGPIPE; CLOEXEC keeps the owner's end out of any program
     * it later runs, or that program would keep the guardian from ever seeing EOF */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return fl_err_set(err, errno, "stop: guardian socket: %s", strerror(errno));
    pid_t mid = fork();
    if (mid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return fl_err_set(err, e, "stop: cannot start the guardian: %s", strerror(e));
    }
    if (mid == 0) {
        if (fork() != 0)
            _exit(0); /* the guardian is reparented at once: nobody must reap it */
        setsid();
        struct sigaction sa = {.sa_handler = SIG_IGN};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGQUIT, &sa, NULL);
        sigaction(SIGPIPE, &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        /* no inherited pipes: a caller reading our stdout must not wait for the guardian */
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        dup2(sv[1], 3);
        close_range(4, ~0U, 0);
        pid_t me = getpid();
        if (write(3, &me, sizeof(me)) != (ssize_t)sizeof(me))
            _exit(1); /* the owner sees EOF instead of a pid, and refuses to stop anything */
        guardian_main(3, lock_path, entry_path, j.dir, t, n);
    }
    close(sv[1]);
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
        ;
    ssize_t got;
    while ((got = read(sv[0], gpid, sizeof(*gpid))) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof(*gpid)) {
        close(sv[0]);
        return fl_err_set(err, EIO, "stop: the guardian did not start");
    }
    return sv[0];
}

static void forget_guardian(const char *id, bool tell)
{
    for (int i = 0; i < STOP_HELD_MAX; i++) {
        if (!guardians[i].id[0] || strcmp(guardians[i].id, id) != 0)
            continue;
        if (tell)
            send(guardians[i].fd, "q", 1, MSG_NOSIGNAL);
        close(guardians[i].fd);
        guardians[i].id[0] = '\0';
    }
}

static int stop_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                      struct fl_err *err)
{
    struct target t[STOP_TARGETS_MAX];
    int n = load_targets(undo, t, STOP_TARGETS_MAX);
    const json_t *g = json_object_get(params, "guardian");
    pid_t gpid = 0;
    if (!g || json_is_true(g)) {
        int slot = -1;
        for (int i = 0; i < STOP_HELD_MAX && slot < 0; i++)
            if (!guardians[i].id[0])
                slot = i;
        if (slot < 0)
            return fl_err_set(err, ENOMEM, "stop: more than %d held at once", STOP_HELD_MAX);
        int fd = start_guardian(ctx, t, n, &gpid, err);
        if (fd < 0)
            return fd;
        snprintf(guardians[slot].id, sizeof(guardians[slot].id), "%s", ctx->id);
        guardians[slot].fd = fd;
    }
    for (int i = 0; i < n; i++) {
        char state;
        unsigned long long start;
        if (t[i].was_stopped)
            continue;
        int e = 0;
        if (stat_of(t[i].stat_path, &state, &start) < 0 || start != t[i].start)
            e = ESRCH; /* exited between prepare and now */
        else if (kill(t[i].pid, SIGSTOP) < 0)
            e = errno;
        if (e) {
            /* undo our own half-done work: resume the ones stopped so far */
            resume(t, i);
            forget_guardian(ctx->id, true);
            return fl_err_set(err, e, "stop: %d: %s", (int)t[i].pid,
                              e == ESRCH ? "exited before it could be stopped" : strerror(e));
        }
    }
    /* A signal is delivered when the target is next scheduled: wait (up to 2s) until each is
     * really stopped, so "applied" means frozen. One in uninterruptible sleep (D) stops when
     * it leaves it; we do not wait for that forever. */
    for (int tries = 0; tries < 200; tries++) {
        bool all = true;
        for (int i = 0; i < n && all; i++) {
            char state;
            unsigned long long start;
            if (stat_of(t[i].stat_path, &state, &start) == 0 && start == t[i].start &&
                state != 'T' && state != 't' && state != 'Z')
                all = false;
        }
        if (all)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    json_t *stopped = json_array(), *already = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(t[i].was_stopped ? already : stopped, json_integer(t[i].pid));
    json_object_set_new(ctx->report, "stopped", stopped);
    json_object_set_new(ctx->report, "already_stopped", already);
    json_object_set_new(ctx->report, "guardian", gpid ? json_integer(gpid) : json_null());
    return 0;
}

static int stop_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                       struct fl_err *err)
{
    struct target t[STOP_TARGETS_MAX];
    int n = load_targets(undo, t, STOP_TARGETS_MAX);
    resume(t, n);
    /* after the SIGCONTs: if the owner died right here, the guardian would still act */
    forget_guardian(ctx->id, true);
    return 0;
}

static void stop_describe(const json_t *params, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "SIGSTOP to pid");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(params, "pids"), i, v) {
        if (o >= len)
            break;
        o += (size_t)snprintf(buf + o, len - o, " %lld", (long long)json_integer_value(v));
    }
    if (!json_object_get(params, "pids") && o < len)
        o += (size_t)snprintf(buf + o, len - o, " %lld",
                              (long long)json_integer_value(json_object_get(params, "pid")));
    if (o < len)
        snprintf(buf + o, len - o, " (SIGCONT at the end)");
}

/* Only the processes this apply froze count: one that was stopped already was not our doing. */
static long stop_effects(const json_t *report, char *what, size_t len)
{
    const json_t *stopped = json_object_get(report, "stopped");
    long n = (long)json_array_size(stopped);
    size_t already = json_array_size(json_object_get(report, "already_stopped"));
    if (n)
        snprintf(what, len, "stopped %ld process%s (first: pid %d)", n, n == 1 ? "" : "es",
                 (int)json_integer_value(json_array_get(stopped, 0)));
    else
        snprintf(what, len, "stopped no process (%zu %s stopped already)", already,
                 already == 1 ? "was" : "were");
    return n;
}

const struct fl_fault_ops fl_fault_stop = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "stop",
    .summary = "freeze processes with SIGSTOP; always resumed, even if faultline is killed",
    .prepare = stop_prepare,
    .apply = stop_apply,
    .revert = stop_revert,
    .describe = stop_describe,
    .effects = stop_effects,
};
