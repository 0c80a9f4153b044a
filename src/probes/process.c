/* SPDX-License-Identifier: MIT */
/*
 * probes/process.c - is a process alive, and are its resources within bounds?
 *
 * Leaks are what long-running programs on unattended machines die of: an fd per reconnect, a
 * thread per retry, a zombie per restarted helper. This kind reads /proc for one process (the
 * experiment's target, a pid, or the first process whose name matches a glob) and reports its
 * open fds, resident memory, threads and direct children, each with an optional upper bound.
 *
 * A zombie counts as not alive: it has exited and only waits for its parent. Exit statuses are
 * the runner's business (it is the target's parent; nobody else can read them).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "glob.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

enum proc_sel { SEL_TARGET, SEL_PID, SEL_NAME };

struct process_state {
    enum proc_sel sel;
    pid_t pid;                /* SEL_PID */
    char *name;               /* SEL_NAME: glob on the name (comm) or argv[0]'s basename */
    bool alive;               /* expected (default true) */
    int64_t max_fds, max_threads, max_children; /* -1: no bound */
    uint64_t max_rss;         /* 0: no bound */
};

static void process_free(void *p)
{
    struct process_state *s = p;
    if (!s)
        return;
    free(s->name);
    free(s);
}

static int process_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                         struct fl_err *err)
{
    static const char *const keys[] = {"process", "alive", "max_fds", "max_rss",
                                       "max_threads", "max_children", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct process_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    s->alive = true;
    s->max_fds = s->max_threads = s->max_children = -1;
    json_t *v = json_object_get(spec, "process");
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 0x3fffffff) {
        s->sel = SEL_PID;
        s->pid = (pid_t)json_integer_value(v);
    } else if (json_is_string(v) && !strcmp(json_string_value(v), "target")) {
        s->sel = SEL_TARGET;
    } else if (json_is_string(v) && json_string_length(v) > 0 &&
               strlen(json_string_value(v)) == json_string_length(v)) {
        s->sel = SEL_NAME;
        if (!(s->name = strdup(json_string_value(v)))) {
            r = fl_err_set(err, ENOMEM, "out of memory");
            goto fail;
        }
    } else {
        r = fl_doc_error(doc, spec, "process", err,
                         "'process' must be 'target', a pid, or a name pattern like 'nginx*'");
        goto fail;
    }
    bool bound = false;
    if ((r = fl_pu_get_bool(doc, spec, "alive", &s->alive, err)) < 0)
        goto fail;
    if ((r = fl_pu_get_int(doc, spec, "max_fds", 0, 1 << 30, &s->max_fds, err)) < 0)
        goto fail;
    bound |= r > 0;
    if ((r = fl_pu_get_int(doc, spec, "max_threads", 1, 1 << 30, &s->max_threads, err)) < 0)
        goto fail;
    bound |= r > 0;
    if ((r = fl_pu_get_int(doc, spec, "max_children", 0, 1 << 30, &s->max_children, err)) < 0)
        goto fail;
    bound |= r > 0;
    if ((r = fl_pu_get_size(doc, spec, "max_rss", &s->max_rss, err)) < 0)
        goto fail;
    bound |= r > 0;
    if (r > 0 && s->max_rss == 0) {
        r = fl_doc_error(doc, spec, "max_rss", err, "'max_rss' must be more than 0");
        goto fail;
    }
    if (!s->alive && bound) {
        r = fl_doc_error(doc, spec, "alive", err,
                         "'alive: false' cannot be combined with resource bounds");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    process_free(s);
    return r;
}

/* Read a small /proc file into buf (NUL-terminated); bytes read, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* State letter and parent of pid from /proc/PID/stat; false if it is gone. The name may hold
 * spaces and parentheses, so fields are counted from the last ')'. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return false;
    char *rp = strrchr(buf, ')');
    int pp = 0;
    if (!rp || sscanf(rp + 1, " %c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

static bool name_matches(pid_t pid, const char *pat)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (read_small(path, buf, sizeof(buf)) > 0) {
        buf[strcspn(buf, "\n")] = '\0';
        if (fl_glob_match(pat, buf))
            return true;
    }
    /* comm is cut at 15 bytes: also try argv[0]'s last component. */
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if (read_small(path, buf, sizeof(buf)) > 0) {
        const char *base = strrchr(buf, '/');
        return fl_glob_match(pat, base ? base + 1 : buf);
    }
    return false;
}

/* Lowest live pid matching pat, except ourselves (a probe must not find faultline). */
static pid_t find_by_name(const char *pat)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t best = 0, self = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
        char st;
        pid_t pp;
        if (pid == self || (best && pid > best) || !proc_stat(pid, &st, &pp) || st == 'Z' ||
            st == 'X')
            continue;
        if (name_matches(pid, pat))
            best = pid;
    }
    closedir(d);
    return best;
}

static int64_t count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int64_t count_children(pid_t pid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char st;
        pid_t pp;
        if (proc_stat((pid_t)strtol(e->d_name, NULL, 10), &st, &pp) && pp == pid)
            n++;
    }
    closedir(d);
    return n;
}

/* VmRSS (bytes) and Threads from /proc/PID/status; -1 where unknown (kernel threads). */
static void proc_status(pid_t pid, int64_t *rss, int64_t *threads)
{
    char path[64], buf[8192];
    *rss = *threads = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return;
    const char *p;
    if ((p = strstr(buf, "\nVmRSS:")))
        *rss = strtoll(p + 7, NULL, 10) * 1024;
    if ((p = strstr(buf, "\nThreads:")))
        *threads = strtoll(p + 9, NULL, 10);
}

void fl_probe_process_figures(pid_t pid, struct fl_proc_figures *f)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    f->fds = count_dir(path);
    f->children = count_children(pid);
    proc_status(pid, &f->rss, &f->threads);
}

static int process_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                         struct fl_probe_result *out)
{
    struct process_state *s = state;
    int64_t t0 = fl_mono_ns();
    char who[160];
    (void)timeout_ns; /* /proc answers at once */
    out->ok = false;
    pid_t pid = 0;
    switch (s->sel) {
    case SEL_TARGET:
        pid = ctx->target_pid;
        snprintf(who, sizeof(who), "target");
        break;
    case SEL_PID:
        pid = s->pid;
        snprintf(who, sizeof(who), "pid %d", (int)pid);
        break;
    case SEL_NAME:
        pid = find_by_name(s->name);
        snprintf(who, sizeof(who), "process '%.100s'", s->name);
        break;
    }
    char st = 0;
    pid_t pp;
    bool alive = pid > 0 && proc_stat(pid, &st, &pp) && st != 'Z' && st != 'X';
    out->value = json_pack("{s:b}", "alive", alive);
    if (pid > 0)
        json_object_set_new(out->value, "pid", json_integer(pid));
    if (!alive) {
        out->ok = !s->alive;
        if (s->alive) {
            if (pid <= 0)
                fl_pu_detail(out, "%s: %s", who,
                             s->sel == SEL_TARGET ? "no target process" : "no such process");
            else
                fl_pu_detail(out, "%s is not running%s", who, st == 'Z' ? " (zombie)" : "");
        }
        goto done;
    }
    if (s->sel != SEL_PID)
        snprintf(who + strlen(who), sizeof(who) - strlen(who), " (pid %d)", (int)pid);
    if (!s->alive) {
        fl_pu_detail(out, "%s is alive", who);
        goto done;
    }
    struct fl_proc_figures fig;
    fl_probe_process_figures(pid, &fig);
    int64_t fds = fig.fds, rss = fig.rss, threads = fig.threads, children = fig.children;
    json_t *v = out->value;
    json_object_set_new(v, "fds", fds >= 0 ? json_integer(fds) : json_null());
    json_object_set_new(v, "rss", rss >= 0 ? json_integer(rss) : json_null());
    json_object_set_new(v, "threads", threads >= 0 ? json_integer(threads) : json_null());
    json_object_set_new(v, "children", children >= 0 ? json_integer(children) : json_null());
    char b1[32], b2[32];
    if (s->max_fds >= 0 && fds < 0)
        fl_pu_detail(out, "%s: cannot read its fds: %s", who, strerror(errno));
    else if (s->max_fds >= 0 && fds > s->max_fds)
        fl_pu_detail(out, "%s has %lld open fds, more than %lld", who, (long long)fds,
                     (long long)s->max_fds);
    else if (s->max_rss && rss > (int64_t)s->max_rss)
        fl_pu_detail(out, "%s uses %s resident, more than %s", who,
                     fl_format_size((uint64_t)rss, b1, 32), fl_format_size(s->max_rss, b2, 32));
    else if (s->max_threads >= 0 && threads > s->max_threads)
        fl_pu_detail(out, "%s has %lld threads, more than %lld", who, (long long)threads,
                     (long long)s->max_threads);
    else if (s->max_children >= 0 && children > s->max_children)
        fl_pu_detail(out, "%s has %lld children, more than %lld", who, (long long)children,
                     (long long)s->max_children);
    else
        out->ok = true;
done:
    out->latency_ns = fl_mono_ns() - t0;
    return 0;
}

static void process_describe(const void *state, char *buf, size_t len)
{
    const struct process_state *s = state;
    if (s->sel == SEL_TARGET)
        snprintf(buf, len, "process target");
    else if (s->sel == SEL_PID)
        snprintf(buf, len, "process %d", (int)s->pid);
    else
        snprintf(buf, len, "process %s", s->name);
}

const struct fl_probe_ops fl_probe_process = {
    .name = "process",
    .summary = "a process (the target, a pid, a name glob): alive, fds, RSS, threads, children",
    .parse = process_parse,
    .check = process_check,
    .describe = process_describe,
    .free = process_free,
};
