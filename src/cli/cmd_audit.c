/* SPDX-License-Identifier: MIT */
/*
 * cmd_audit.c - `faultline audit`: one traced run, no faults, a page a person reads.
 *
 * The run is a trial (template, --setup, its own directory) with faultline-record.so
 * preloaded in both of its modes: the crash log (every durability call in the directory, as
 * `faultline crash` records it) and the audit log (JSON lines: connects, accepts, the socket
 * options that bound a wait, and per socket whether it was waited on with or without a
 * bound; and, per process, how much it asked of malloc and its family). While it runs, its
 * main process's open fds, threads and memory are sampled. Then the logs are read back in
 * order and turned into: how each file was written (new, in place, appended, replaced by a
 * rename) and whether fsyncs and directory fsyncs made it durable;
 * each socket and what bounds a wait on it; connects per peer and their peak rate; the
 * resource curves and the allocation volume. Each risky pattern comes with a plain
 * explanation and the `faultline crash` or `faultline sweep` command that would prove it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crashlog.h"
#include "ctlblock.h"
#include "discover_args.h"
#include "rutil.h"
#include "err.h"
#include "fault.h"
#include "log.h"
#include "trial.h"
#include "units.h"

static const char audit_help[] =
    "usage: faultline audit [options] -- CMD [ARGS...]\n"
    "\n"
    "Run CMD once, without faults, in a fresh directory, and say how it treats what the field\n"
    "breaks: each file it writes there (in place or by temp + rename; fsynced or not; the\n"
    "directory fsynced or not), each socket and whether anything bounds a wait on it\n"
    "(SO_RCVTIMEO, a poll or select timeout, TCP_USER_TIMEOUT), connects per peer and their\n"
    "rate, its open fds, threads and memory over time, and how much it asked of malloc.\n"
    "Each risky pattern is explained, with the faultline crash or sweep command that would\n"
    "prove it. '{dir}' in CMD and the hooks is the directory.\n"
    "\n"
    "  --dir TEMPLATE     copy TEMPLATE into the directory first (default: start empty)\n"
    "  --setup CMD        run CMD in the directory before the program (no preload)\n"
    "  --teardown CMD     run CMD last, always\n"
    "  --exe GLOB         trace only processes whose executable matches GLOB\n"
    "  --timeout DUR      stop CMD after DUR (default 60s; a server is audited until then)\n"
    "  --json FILE        write the audit as JSON ('-': stdout)\n"
    "  -q, --quiet        only the risks\n"
    "\n"
    "Exit status: 0 no risky pattern, 1 some, 2 usage error, 3 CMD could not be run or\n"
    "traced, 130 interrupted.\n";

struct audit_config {
    char **argv;
    const char *template_dir, *exe, *json_path;
    char **setup, **teardown;
    char *setup_text, *teardown_text;
    int64_t timeout_ns;
};

static const struct option audit_options[] = {
    {"dir", required_argument, NULL, FL_DOPT_DIR},
    {"setup", required_argument, NULL, FL_DOPT_SETUP},
    {"teardown", required_argument, NULL, FL_DOPT_TEARDOWN},
    {"exe", required_argument, NULL, FL_DOPT_EXE},
    {"timeout", required_argument, NULL, FL_DOPT_TIMEOUT},
    {"json", required_argument, NULL, FL_DOPT_JSON},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static int parse_audit(int argc, char **argv, struct audit_config *cfg)
{
    int opt, rc;
    const struct fl_discovery_opts shared = {
        .template_dir = &cfg->template_dir, .exe = &cfg->exe, .json_path = &cfg->json_path,
        .setup = &cfg->setup, .teardown = &cfg->teardown, .setup_text = &cfg->setup_text,
        .teardown_text = &cfg->teardown_text, .timeout_ns = &cfg->timeout_ns,
    };
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:qvh", audit_options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fl_print_help(audit_help);
            return -1;
        case '?':
        case ':':
            return fl_discovery_bad_option("audit", opt, argv);
        default:
            if ((rc = fl_discovery_option(opt, optarg, &shared)) != 0) {
                if (rc != 1)
                    return rc;
                break;
            }
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("audit: unexpected option");
        }
    }
    char **hooks[] = {cfg->setup, NULL, cfg->teardown};
    return fl_discovery_args(argc, argv, optind, "audit", &cfg->argv, hooks, cfg->template_dir);
}

/* ---- files: the crash log read back in order ------------------------------------------------ */

struct afile {
    uint64_t dev, ino;
    char path[512];          /* its name now ("" when unlinked) */
    uint64_t size;           /* as the log has it */
    bool created, truncated_existing, overwrote, appended, fsynced_ever, dirty;
    bool renamed_into_place; /* it replaced another name by rename */
    bool renamed_dirty;      /* ... with its data not fsynced first */
    uint64_t writes, bytes, syncs;
    uint64_t last_sync;      /* sequence number of its last fsync (0: never) */
    bool overwrote_unjournaled; /* an overwrite with no other file fsynced since its own */
    char replaced[512];      /* the name it was renamed to */
};

enum name_kind { NAME_CREATE, NAME_RENAME, NAME_LINK, NAME_REMOVE, NAME_MKDIR };

struct pending_name {        /* a name change waiting for its directory's fsync */
    char dir[512], what[600];
    char name[512];          /* the name changed (a rename: its new name) */
    enum name_kind kind;
    size_t file;             /* NAME_CREATE: the file made (index in files.f) */
    bool synced;
};

struct files {
    uint64_t seq;            /* fsyncs seen so far */
    struct afile *f;
    size_t n, cap;
    struct pending_name *p;
    size_t np, pcap;
    json_t *initial;         /* path -> size of the files there before CMD ran */
};

static struct afile *file_by_id(struct files *fs, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < fs->n; i++)
        if ((dev || ino) && fs->f[i].dev == dev && fs->f[i].ino == ino)
            return &fs->f[i];
    return NULL;
}

static struct afile *file_by_path(struct files *fs, const char *p)
{
    for (size_t i = fs->n; i-- > 0;)
        if (!strcmp(fs->f[i].path, p))
            return &fs->f[i];
    return NULL;
}

static struct afile *file_new(struct files *fs, uint64_t dev, uint64_t ino, const char *p)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 32;
        struct afile *f = realloc(fs->f, cap * sizeof(*f));
        if (!f)
            return NULL;
        fs->f = f;
        fs->cap = cap;
    }
    struct afile *a = &fs->f[fs->n++];
    memset(a, 0, sizeof(*a));
    a->dev = dev;
    a->ino = ino;
    snprintf(a->path, sizeof(a->path), "%s", p);
    json_t *sz = json_object_get(fs->initial, p);
    a->size = sz ? (uint64_t)json_integer_value(sz) : 0;
    return a;
}

static void parent_of(const char *p, char *out, size_t len)
{
    const char *slash = strrchr(p, '/');
    if (!slash)
        snprintf(out, len, ".");
    else
        snprintf(out, len, "%.*s", (int)(slash - p), p);
}

static void name_change(struct files *fs, const char *path, const char *what,
                        enum name_kind kind, size_t file)
{
    if (fs->np == fs->pcap) {
        size_t cap = fs->pcap ? fs->pcap * 2 : 32;
        struct pending_name *p = realloc(fs->p, cap * sizeof(*p));
        if (!p)
            return;
        fs->p = p;
        fs->pcap = cap;
    }
    struct pending_name *n = &fs->p[fs->np++];
    parent_of(path, n->dir, sizeof(n->dir));
    snprintf(n->name, sizeof(n->name), "%s", path);
    snprintf(n->what, sizeof(n->what), "%s", what);
    n->kind = kind;
    n->file = file;
    n->synced = false;
}

static void copy_path(char *out, size_t len, const char *p, uint32_t n)
{
    snprintf(out, len, "%.*s", (int)n, p ? p : "");
}

static int read_files(struct files *fs, const char *log_path, struct fl_err *err)
{
    struct fl_crashlog log;
    int rc = fl_crashlog_open(&log, log_path, err);
    if (rc < 0)
        return rc;
    size_t pos = 0;
    struct fl_crash_event ev;
    while ((rc = fl_crashlog_next(&log, &pos, &ev, err)) == 1) {
        char p[512], p2[512], what[600];
        copy_path(p, sizeof(p), ev.path, ev.path_len);
        copy_path(p2, sizeof(p2), ev.path2, ev.path2_len);
        struct afile *a = file_by_id(fs, ev.dev, ev.ino);
        switch ((enum fl_crash_op)ev.op) {
        case FL_CRASH_OPEN:
            if (!a || (ev.flags & FL_CRASH_OPEN_CREATED)) {
                a = file_new(fs, ev.dev, ev.ino, p);
                if (!a)
                    break;
            }
            snprintf(a->path, sizeof(a->path), "%s", p);
            if (ev.flags & FL_CRASH_OPEN_CREATED) {
                a->created = true;
                a->size = 0;
                snprintf(what, sizeof(what), "the creation of %s", p);
                name_change(fs, p, what, NAME_CREATE, (size_t)(a - fs->f));
            }
            if (ev.flags & FL_CRASH_OPEN_TRUNCATED) {
                if (a->size > 0)
                    a->truncated_existing = true;
                a->size = 0;
                a->dirty = true;
            }
            break;
        case FL_CRASH_WRITE:
            if (!a && !(a = file_new(fs, ev.dev, ev.ino, p)))
                break;
            a->writes++;
            a->bytes += ev.length;
            if (ev.offset < a->size) {
                a->overwrote = true;
                /* a write-ahead journal (sqlite's -wal, a -journal) is another file fsynced
                 * after this one's last fsync and before the overwrite: then the overwrite
                 * can be redone or undone after a crash */
                bool journaled = false;
                for (size_t k = 0; k < fs->n; k++)
                    if (&fs->f[k] != a && fs->f[k].last_sync > a->last_sync)
                        journaled = true;
                if (!journaled)
                    a->overwrote_unjournaled = true;
            }
            else
                a->appended = true;
            if (ev.offset + ev.length > a->size)
                a->size = ev.offset + ev.length;
            a->dirty = true;
            break;
        case FL_CRASH_TRUNCATE:
            if (!a && !(a = file_new(fs, ev.dev, ev.ino, p)))
                break;
            if (ev.length < a->size)
                a->truncated_existing = a->truncated_existing || a->size > 0;
            a->size = ev.length;
            a->dirty = true;
            break;
        case FL_CRASH_FALLOCATE:
            if (a)
                a->dirty = true;
            break;
        case FL_CRASH_FSYNC:
        case FL_CRASH_FDATASYNC:
        case FL_CRASH_MSYNC:
            if (a) {
                a->syncs++;
                a->fsynced_ever = true;
                a->dirty = false;
                a->last_sync = ++fs->seq;
            }
            break;
        case FL_CRASH_SYNC:
            for (size_t i = 0; i < fs->n; i++)
                fs->f[i].dirty = false;
            for (size_t i = 0; i < fs->np; i++)
                fs->p[i].synced = true;
            break;
        case FL_CRASH_RENAME: {
            struct afile *src = file_by_path(fs, p);
            struct afile *old = file_by_path(fs, p2);
            bool replaces = old || json_object_get(fs->initial, p2);
            if (old && old != src)
                old->path[0] = '\0';
            if (src) {
                snprintf(src->path, sizeof(src->path), "%s", p2);
                if (replaces) {
                    src->renamed_into_place = true;
                    src->renamed_dirty = src->renamed_dirty || src->dirty;
                    snprintf(src->replaced, sizeof(src->replaced), "%s", p2);
                }
            }
            snprintf(what, sizeof(what), "the rename of %s to %s", p, p2);
            name_change(fs, p2, what, NAME_RENAME, 0);
            char d1[512], d2[512];
            parent_of(p, d1, sizeof(d1));
            parent_of(p2, d2, sizeof(d2));
            if (strcmp(d1, d2) != 0)
                name_change(fs, p, what, NAME_RENAME, 0);
            break;
        }
        case FL_CRASH_LINK:
            snprintf(what, sizeof(what), "the link of %s as %s", p, p2);
            name_change(fs, p2, what, NAME_LINK, 0);
            break;
        case FL_CRASH_UNLINK:
        case FL_CRASH_RMDIR: {
            struct afile *gone = file_by_path(fs, p);
            if (gone)
                gone->path[0] = '\0';
            snprintf(what, sizeof(what), "the removal of %s", p);
            name_change(fs, p, what, NAME_REMOVE, 0);
            break;
        }
        case FL_CRASH_MKDIR:
            snprintf(what, sizeof(what), "the creation of directory %s", p);
            name_change(fs, p, what, NAME_MKDIR, 0);
            break;
        case FL_CRASH_DIRFSYNC:
            for (size_t i = 0; i < fs->np; i++)
                if (!strcmp(fs->p[i].dir, p))
                    fs->p[i].synced = true;
            break;
        case FL_CRASH_SYNC_FILE_RANGE:
        case FL_CRASH_MARK:
        case FL_CRASH_CLOSE:
        case FL_CRASH_UNTRACKED:
        case FL_CRASH_OP_END:
            break;
        }
    }
    fl_crashlog_close(&log);
    return rc < 0 ? rc : 0;
}

/* ---- sockets: the audit log ----------------------------------------------------------------- */

struct asock {
    int pid, fd;
    char peer[160];
    bool accepted;
    long rcvtimeo_ms, user_timeout_ms;
    bool keepalive, unbounded_wait, bounded_wait, blocking_read_unbounded;
    char unbounded_call[16];
};

/* a socket in an epoll set (for reading), as epoll_ctl left it */
struct epoll_member {
    int pid, epfd, fd;
};

struct socks {
    struct asock *s;
    size_t n, cap;
    json_t *peers;           /* peer -> {connects, failed, times: [...]} */
    json_t *epoll_unbounded; /* epoll waits with no timeout */
    struct epoll_member *ep;
    size_t nep, capep;
};

static void epoll_leave(struct socks *ss, int pid, int fd)
{
    for (size_t i = 0; i < ss->nep; i++)
        if (ss->ep[i].pid == pid && ss->ep[i].fd == fd)
            ss->ep[i--] = ss->ep[--ss->nep];
}

static void epoll_join(struct socks *ss, int pid, int epfd, int fd)
{
    epoll_leave(ss, pid, fd);
    if (ss->nep == ss->capep) {
        size_t cap = ss->capep ? ss->capep * 2 : 16;
        if (cap > 1u << 20)
            return; /* a peer-controlled count of sockets: capped */
        struct epoll_member *p = realloc(ss->ep, cap * sizeof(*p));
        if (!p)
            return;
        ss->ep = p;
        ss->capep = cap;
    }
    ss->ep[ss->nep++] = (struct epoll_member){pid, epfd, fd};
}

static struct asock *sock_of(struct socks *ss, int pid, int fd, bool make)
{
    for (size_t i = ss->n; i-- > 0;)
        if (ss->s[i].pid == pid && ss->s[i].fd == fd)
            return &ss->s[i];
    if (!make)
        return NULL;
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 32;
        struct asock *s = realloc(ss->s, cap * sizeof(*s));
        if (!s)
            return NULL;
        ss->s = s;
        ss->cap = cap;
    }
    struct asock *a = &ss->s[ss->n++];
    memset(a, 0, sizeof(*a));
    a->pid = pid;
    a->fd = fd;
    a->rcvtimeo_ms = -1;
    a->user_timeout_ms = -1;
    snprintf(a->peer, sizeof(a->peer), "?");
    return a;
}

/* ---- allocations: the recorder's alloc lines ------------------------------------------------ */

/* Each line is what one process asked of malloc and its family since its previous line (it
 * writes one at exit and before each exec and _exit), so the lines add up in any order. The
 * main process is the one faultline started: its lines name faultline as their parent. */
struct alloc_sum {
    uint64_t calls, bytes, failed;
};

struct allocs {
    bool seen, main_seen;    /* an alloc line came, from any process / from the main one */
    struct alloc_sum all, main;
    json_t *pids;            /* pid -> true: the processes that reported */
};

static void alloc_line(struct allocs *al, json_t *j, int pid)
{
    struct alloc_sum d = {
        (uint64_t)json_integer_value(json_object_get(j, "calls")),
        (uint64_t)json_integer_value(json_object_get(j, "bytes")),
        (uint64_t)json_integer_value(json_object_get(j, "failed")),
    };
    struct alloc_sum *to[2] = {&al->all, NULL};
    al->seen = true;
    if (json_integer_value(json_object_get(j, "ppid")) == (json_int_t)getpid()) {
        al->main_seen = true;
        to[1] = &al->main;
    }
    for (size_t i = 0; i < 2 && to[i]; i++) {
        to[i]->calls += d.calls;
        to[i]->bytes += d.bytes;
        to[i]->failed += d.failed;
    }
    char key[24];
    snprintf(key, sizeof(key), "%d", pid);
    json_object_set_new(al->pids, key, json_true());
}

static json_t *alloc_json(const struct alloc_sum *s)
{
    return json_pack("{s:I,s:I,s:I}", "calls", (json_int_t)s->calls, "bytes",
                     (json_int_t)s->bytes, "failed", (json_int_t)s->failed);
}

/* "allocations": null when no process reported (a static binary: the recorder never ran). */
static json_t *allocs_json(const struct allocs *al)
{
    if (!al->seen)
        return json_null();
    json_t *j = alloc_json(&al->all);
    json_object_set_new(j, "processes", json_integer((json_int_t)json_object_size(al->pids)));
    json_object_set_new(j, "main", al->main_seen ? alloc_json(&al->main) : json_null());
    return j;
}

/* The audit log: sockets (struct socks) and allocation lines (struct allocs). */
static void read_audit_log(struct socks *ss, struct allocs *al, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char line[2048];
    while (fgets(line, sizeof(line), f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j)
            continue;
        const char *ev = json_string_value(json_object_get(j, "ev"));
        int pid = (int)json_integer_value(json_object_get(j, "pid"));
        int fd = (int)json_integer_value(json_object_get(j, "fd"));
        double t = json_real_value(json_object_get(j, "t_ms"));
        if (!ev) {
            json_decref(j);
            continue;
        }
        if (!strcmp(ev, "alloc")) {
            alloc_line(al, j, pid);
        } else if (!strcmp(ev, "connect") || !strcmp(ev, "accept")) {
            /* a new connection on this fd: a fresh record */
            struct asock *a = sock_of(ss, pid, fd, false);
            if (a && strcmp(a->peer, "?") != 0)
                a->fd = -1 - a->fd; /* retire the old one */
            a = sock_of(ss, pid, fd, true);
            const char *peer = json_string_value(json_object_get(j, "peer"));
            if (a && peer)
                snprintf(a->peer, sizeof(a->peer), "%s", peer);
            if (a)
                a->accepted = !strcmp(ev, "accept");
            if (!strcmp(ev, "connect") && peer) {
                json_t *p = json_object_get(ss->peers, peer);
                if (!p) {
                    p = json_pack("{s:i,s:i,s:[]}", "connects", 0, "failed", 0, "times_ms");
                    json_object_set_new(ss->peers, peer, p);
                }
                json_object_set_new(p, "connects", json_integer(json_integer_value(
                                                       json_object_get(p, "connects")) + 1));
                if (!json_is_true(json_object_get(j, "ok")))
                    json_object_set_new(p, "failed", json_integer(json_integer_value(
                                                         json_object_get(p, "failed")) + 1));
                if (json_array_size(json_object_get(p, "times_ms")) < 100000)
                    json_array_append_new(json_object_get(p, "times_ms"), json_real(t));
            }
        } else if (!strcmp(ev, "sockopt")) {
            struct asock *a = sock_of(ss, pid, fd, true);
            const char *opt = json_string_value(json_object_get(j, "opt"));
            long v = (long)json_integer_value(json_object_get(j, "value"));
            if (a && opt) {
                if (!strcmp(opt, "SO_RCVTIMEO"))
                    a->rcvtimeo_ms = v;
                else if (!strcmp(opt, "TCP_USER_TIMEOUT"))
                    a->user_timeout_ms = v;
                else if (!strcmp(opt, "SO_KEEPALIVE"))
                    a->keepalive = v != 0;
            }
        } else if (!strcmp(ev, "wait")) {
            struct asock *a = sock_of(ss, pid, fd, true);
            long tmo = (long)json_integer_value(json_object_get(j, "timeout_ms"));
            const char *call = json_string_value(json_object_get(j, "call"));
            if (a && tmo < 0) {
                a->unbounded_wait = true;
                snprintf(a->unbounded_call, sizeof(a->unbounded_call), "%s", call ? call : "?");
            } else if (a) {
                a->bounded_wait = true;
            }
        } else if (!strcmp(ev, "blocking_read")) {
            struct asock *a = sock_of(ss, pid, fd, true);
            if (a && json_integer_value(json_object_get(j, "rcvtimeo_ms")) < 0)
                a->blocking_read_unbounded = true;
        } else if (!strcmp(ev, "epoll_add")) {
            epoll_join(ss, pid, (int)json_integer_value(json_object_get(j, "epfd")), fd);
        } else if (!strcmp(ev, "epoll_del")) {
            epoll_leave(ss, pid, fd);
        } else if (!strcmp(ev, "epoll_wait")) {
            long tmo = (long)json_integer_value(json_object_get(j, "timeout_ms"));
            if (tmo < 0)
                json_array_append_new(ss->epoll_unbounded, json_integer(fd));
            /* a wait on the epoll fd is a wait on each connection in its set (a listening
             * socket, which has no connection record, is meant to wait) */
            for (size_t i = 0; i < ss->nep; i++) {
                if (ss->ep[i].pid != pid || ss->ep[i].epfd != fd)
                    continue;
                struct asock *a = sock_of(ss, pid, ss->ep[i].fd, false);
                if (!a || !strcmp(a->peer, "?"))
                    continue;
                if (tmo < 0) {
                    a->unbounded_wait = true;
                    snprintf(a->unbounded_call, sizeof(a->unbounded_call), "epoll_wait");
                } else {
                    a->bounded_wait = true;
                }
            }
        }
        json_decref(j);
    }
    fclose(f);
}

/* The most connects to one peer within any one second. */
static int peak_rate(json_t *times)
{
    size_t n = json_array_size(times), lo = 0;
    int best = 0;
    for (size_t hi = 0; hi < n; hi++) {
        double th = json_real_value(json_array_get(times, hi));
        while (lo < hi && th - json_real_value(json_array_get(times, lo)) >= 1000.0)
            lo++;
        if ((int)(hi - lo + 1) > best)
            best = (int)(hi - lo + 1);
    }
    return best;
}

/* ---- the run ---------------------------------------------------------------------------------- */

struct audit {
    const struct audit_config *cfg;
    char root[PATH_MAX], log_path[PATH_MAX], audit_path[PATH_MAX];
    struct fl_trial_series *series;
    json_t *initial;
};

/* The sizes of the files there before the program ran: to tell an overwrite from an append. */
static void sizes_under(const char *base, const char *rel, json_t *out, int depth)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s%s%s", base, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char r[PATH_MAX], full[PATH_MAX * 2];
        snprintf(r, sizeof(r), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof(full), "%s/%s", base, r);
        struct stat st;
        if (lstat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 32)
            sizes_under(base, r, out, depth + 1);
        else if (S_ISREG(st.st_mode))
            json_object_set_new(out, r, json_integer((json_int_t)st.st_size));
    }
    closedir(d);
}

static int before_target(void *ctx, const char *dir, struct fl_err *err)
{
    struct audit *a = ctx;
    (void)err;
    sizes_under(dir, "", a->initial, 0);
    return 0;
}

static void command_text(const struct audit_config *cfg, const char *verb, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "faultline %s", verb);
    const char *flags[] = {"--dir", "--setup", "--teardown", "--exe"};
    const char *vals[] = {cfg->template_dir, cfg->setup_text, cfg->teardown_text, cfg->exe};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (!vals[i])
            continue;
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " %s ", flags[i]);
        fl_shell_quote_into(buf, len, &n, vals[i]);
    }
    n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " --check 'YOUR CHECK' --");
    for (char **w = cfg->argv; *w; w++) {
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " ");
        fl_shell_quote_into(buf, len, &n, *w);
    }
}

/* A directory the program made matters when it holds what the program made durable: a file
 * it fsynced, or a name change it fsynced the directory for. Lose its own name (its parent
 * never fsynced) and all of that goes with it. */
static bool holds_durable(const struct files *fs, const char *dir)
{
    size_t dl = strlen(dir);
    for (size_t i = 0; i < fs->n; i++)
        if (fs->f[i].fsynced_ever && !strncmp(fs->f[i].path, dir, dl) && fs->f[i].path[dl] == '/')
            return true;
    for (size_t i = 0; i < fs->np; i++) {
        const char *d = fs->p[i].dir;
        if (fs->p[i].synced && !strncmp(d, dir, dl) && (d[dl] == '\0' || d[dl] == '/'))
            return true;
    }
    return false;
}

static void add_risk(json_t *risks, const char *kind, const char *subject, const char *text,
                     const char *prove)
{
    json_array_append_new(risks, json_pack("{s:s,s:s,s:s,s:s}", "kind", kind, "subject",
                                           subject, "explanation", text, "prove", prove));
}

static json_t *analyse(const struct audit *a, const struct fl_trial_result *res,
                       struct fl_err *err, int *rc)
{
    const struct audit_config *cfg = a->cfg;
    struct files fs = {.initial = a->initial};
    struct socks ss = {.peers = json_object(), .epoll_unbounded = json_array()};
    struct allocs al = {.pids = json_object()};
    *rc = read_files(&fs, a->log_path, err);
    read_audit_log(&ss, &al, a->audit_path);
    json_t *risks = json_array(), *files = json_array(), *sockets = json_array();
    char crash_cmd[4096], sweep_cmd[4096], text[1200];
    command_text(cfg, "crash", crash_cmd, sizeof(crash_cmd));
    command_text(cfg, "sweep", sweep_cmd, sizeof(sweep_cmd));

    for (size_t i = 0; i < fs.n; i++) {
        struct afile *f = &fs.f[i];
        if (!f->writes && !f->truncated_existing && !f->created)
            continue;
        const char *name = f->path[0] ? f->path : "(removed)";
        const char *how = f->renamed_into_place ? "written, then renamed over the old file"
                          : f->truncated_existing ? "in place: truncated and rewritten"
                          : f->overwrote_unjournaled ? "in place: overwritten"
                          : f->overwrote ? "in place, behind a journal"
                          : f->created ? "new file"
                          : f->appended ? "appended to"
                                        : "changed";
        json_array_append_new(files, json_pack("{s:s,s:s,s:I,s:I,s:I,s:b,s:b}", "path", name,
                                               "how", how, "writes", (json_int_t)f->writes,
                                               "bytes", (json_int_t)f->bytes, "fsyncs",
                                               (json_int_t)f->syncs, "durable_at_end",
                                               !f->dirty, "temp_rename",
                                               f->renamed_into_place));
        if (!f->path[0])
            continue; /* a temp file that is gone: its rename is what matters */
        if (f->truncated_existing || f->overwrote_unjournaled) {
            snprintf(text, sizeof(text), "%s is rewritten in place: a crash or power cut in the "
                     "middle leaves it %s, and the old contents are gone. Write a new file, "
                     "fsync it, rename it over the old one, fsync the directory.", name,
                     f->truncated_existing ? "empty or short" : "half old, half new");
            add_risk(risks, "in-place-rewrite", name, text, crash_cmd);
        }
        if (f->renamed_into_place && f->renamed_dirty) {
            snprintf(text, sizeof(text), "%s is replaced by a rename of a file whose data was not "
                     "fsynced first: after a power cut the new name can point at an empty or "
                     "short file (POSIX lets the rename reach the disk first). fsync the new "
                     "file before the rename.", name);
            add_risk(risks, "rename-without-fsync", name, text, crash_cmd);
        }
        if (f->writes && !f->fsynced_ever && !f->renamed_into_place && !f->truncated_existing &&
            !f->overwrote_unjournaled) {
            snprintf(text, sizeof(text), "%s gets %" PRIu64 " bytes that are never fsynced: a "
                     "power cut can drop any of them, even after the program said they were "
                     "saved.", name, f->bytes);
            add_risk(risks, "never-fsynced", name, text, crash_cmd);
        }
    }
    for (size_t i = 0; i < fs.np; i++) {
        /* a name matters when it makes durable data reachable: a rename or link (the commit
         * point of an update), or the creation of a file the program fsynced; an undone
         * removal, or the name of a file never meant to last, loses nothing */
        const struct pending_name *pn = &fs.p[i];
        bool matters = pn->kind == NAME_RENAME || pn->kind == NAME_LINK ||
                       (pn->kind == NAME_CREATE && pn->file < fs.n &&
                        fs.f[pn->file].fsynced_ever &&
                        !strcmp(fs.f[pn->file].path, pn->name)) || /* not renamed away */
                       (pn->kind == NAME_MKDIR && holds_durable(&fs, pn->name));
        if (pn->synced || !matters)
            continue;
        snprintf(text, sizeof(text), "%s is never followed by an fsync of its directory (%s): a "
                 "power cut can undo it after the program went on%s.", fs.p[i].what,
                 fs.p[i].dir, pn->kind == NAME_MKDIR ? ", and take with it every file the "
                                                       "program made durable inside it" : "");
        add_risk(risks, "missing-dir-fsync", fs.p[i].dir, text, crash_cmd);
        break; /* one is enough to say it; the crash command lists them all */
    }

    for (size_t i = 0; i < ss.n; i++) {
        struct asock *s = &ss.s[i];
        bool bounded = s->rcvtimeo_ms > 0 || s->user_timeout_ms > 0 ||
                       (s->bounded_wait && !s->unbounded_wait && !s->blocking_read_unbounded);
        bool unbounded = s->unbounded_wait || (s->blocking_read_unbounded && s->rcvtimeo_ms <= 0);
        const char *bound = s->rcvtimeo_ms > 0 ? "SO_RCVTIMEO"
                            : s->user_timeout_ms > 0 ? "TCP_USER_TIMEOUT"
                            : s->bounded_wait ? "poll/select/epoll timeout"
                                              : "none";
        json_array_append_new(sockets, json_pack(
            "{s:s,s:s,s:s,s:b,s:I,s:I,s:b}", "peer", s->peer, "role",
            s->accepted ? "accepted" : "connected", "bounded_by", bound, "unbounded_wait",
            unbounded, "rcvtimeo_ms", (json_int_t)s->rcvtimeo_ms, "tcp_user_timeout_ms",
            (json_int_t)s->user_timeout_ms, "keepalive", s->keepalive));
        if (unbounded && !s->accepted && !(bounded && !unbounded)) {
            char prove[4200];
            snprintf(prove, sizeof(prove), "%s   (or: faultline inject -r 'net.recv:peer=%s:silent' "
                     "-- ...)", sweep_cmd, s->peer);
            snprintf(text, sizeof(text), "the connection to %s is waited on with no bound (%s): a "
                     "peer that stops answering without closing (a hung server, a dropped "
                     "link) stops the program for good. Set SO_RCVTIMEO, or give the poll a "
                     "timeout.", s->peer,
                     s->unbounded_wait ? s->unbounded_call : "a blocking read, no SO_RCVTIMEO");
            add_risk(risks, "unbounded-wait", s->peer, text, prove);
        }
    }
    json_t *peers = json_array();
    const char *peer;
    json_t *p;
    json_object_foreach(ss.peers, peer, p) {
        int connects = (int)json_integer_value(json_object_get(p, "connects"));
        int failed = (int)json_integer_value(json_object_get(p, "failed"));
        int peak = peak_rate(json_object_get(p, "times_ms"));
        json_array_append_new(peers, json_pack("{s:s,s:i,s:i,s:i}", "peer", peer, "connects",
                                               connects, "failed", failed, "peak_per_s", peak));
        if (failed >= 5 && peak >= 10) {
            snprintf(text, sizeof(text), "%d connects to %s, %d of them failed, up to %d in one "
                     "second: retries without backoff hammer a peer that is down and burn the "
                     "CPU. Back off (exponentially, with jitter).", connects, peer, failed, peak);
            add_risk(risks, "retry-storm", peer, text, sweep_cmd);
        }
    }

    json_t *series = json_array();
    /* where the fds ended up: the most held over the last quarter of the samples (at least
     * the last 3), since a program closes what it leaked as it shuts down (python at
     * finalization) and the very last sample may fall after that; a spike earlier in the run
     * that is gone by then is not growth */
    size_t ns = a->series ? a->series->n : 0, tail = ns / 4 < 3 ? 3 : ns / 4;
    int fd_first = -1, fd_last = -1;
    for (size_t i = 0; i < ns; i++) {
        const struct fl_trial_sample *s = &a->series->s[i];
        if (fd_first < 0)
            fd_first = s->fds;
        if (i + tail >= ns && s->fds > fd_last)
            fd_last = s->fds;
        json_array_append_new(series, json_pack("{s:f,s:i,s:i,s:I}", "t_s", s->t_s, "fds",
                                                s->fds, "threads", s->threads, "rss_kb",
                                                (json_int_t)s->rss_kb));
    }
    if (fd_first >= 0 && fd_last - fd_first >= 16) {
        snprintf(text, sizeof(text), "the program's open fds grew from %d to %d while it ran: if "
                 "they keep growing, it leaks them and will hit its limit (EMFILE).", fd_first,
                 fd_last);
        add_risk(risks, "fd-growth", cfg->argv[0], text, sweep_cmd);
    }
    json_t *out = json_pack(
        "{s:s,s:i,s:o,s:i,s:f,s:{s:i,s:i,s:I},s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "kind",
        "audit", "version", 1, "command", json_array(), "exit", res->status, "seconds",
        res->wall_s, "peaks", "fds", res->fds_peak, "threads", res->threads_peak, "rss_kb",
        (json_int_t)res->maxrss_kb, "allocations", allocs_json(&al), "files", files, "sockets",
        sockets, "peers", peers, "series", series, "risks", risks, "epoll_waits_unbounded",
        (json_int_t)json_array_size(ss.epoll_unbounded));
    /* with --exe the peaks are the traced process's, not those of the script that starts it */
    json_object_set_new(json_object_get(out, "peaks"), "process",
                        json_string(cfg->exe ? cfg->exe : cfg->argv[0]));
    for (char **w = cfg->argv; *w; w++)
        json_array_append_new(json_object_get(out, "command"), json_string(*w));
    free(fs.f);
    free(fs.p);
    free(ss.s);
    json_decref(ss.peers);
    json_decref(ss.epoll_unbounded);
    free(ss.ep);
    json_decref(al.pids);
    return out;
}

/* 12345678 -> "12 345 678" */
static const char *grouped(uint64_t v, char *buf, size_t len)
{
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ' ';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* 48.2 MiB, 3.0 KiB, 512 bytes */
static const char *amount(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024 && u + 1 < 4) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%" PRIu64 " bytes", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

static void print_allocations(json_t *al, FILE *out)
{
    if (!json_is_object(al)) {
        fprintf(out, "  allocations: not seen (no traced process reached its end: a static "
                "binary, or one killed)\n");
        return;
    }
    char calls[32], bytes[32], failed[32];
    fprintf(out, "  allocations: %s calls, %s requested, %s failed",
            grouped((uint64_t)json_integer_value(json_object_get(al, "calls")), calls,
                    sizeof(calls)),
            amount((uint64_t)json_integer_value(json_object_get(al, "bytes")), bytes,
                   sizeof(bytes)),
            grouped((uint64_t)json_integer_value(json_object_get(al, "failed")), failed,
                    sizeof(failed)));
    json_int_t procs = json_integer_value(json_object_get(al, "processes"));
    json_t *main = json_object_get(al, "main");
    if (procs > 1 && json_is_object(main))
        fprintf(out, ", in %" JSON_INTEGER_FORMAT " processes (the main one: %s calls, %s)",
                procs,
                grouped((uint64_t)json_integer_value(json_object_get(main, "calls")), calls,
                        sizeof(calls)),
                amount((uint64_t)json_integer_value(json_object_get(main, "bytes")), bytes,
                       sizeof(bytes)));
    else if (procs > 1)
        fprintf(out, ", in %" JSON_INTEGER_FORMAT " processes", procs);
    fprintf(out, "\n");
}

static void print_audit(json_t *j, bool quiet, FILE *out)
{
    size_t i;
    json_t *x;
    if (!quiet) {
        char cmd[4096];
        size_t n = (size_t)snprintf(cmd, sizeof(cmd), "audit of:");
        json_array_foreach(json_object_get(j, "command"), i, x) {
            n += (size_t)snprintf(cmd + n, n < sizeof(cmd) ? sizeof(cmd) - n : 0, " ");
            fl_shell_quote_into(cmd, sizeof(cmd), &n, json_string_value(x));
        }
        fprintf(out, "%s", cmd);
        json_t *pk = json_object_get(j, "peaks");
        fprintf(out, "\n  exited %d after %.2fs; %s: at most %" JSON_INTEGER_FORMAT " open fds, %"
                JSON_INTEGER_FORMAT " threads, %.1f MiB resident\n",
                (int)json_integer_value(json_object_get(j, "exit")),
                json_real_value(json_object_get(j, "seconds")),
                json_string_value(json_object_get(pk, "process")),
                json_integer_value(json_object_get(pk, "fds")),
                json_integer_value(json_object_get(pk, "threads")),
                (double)json_integer_value(json_object_get(pk, "rss_kb")) / 1024.0);
        print_allocations(json_object_get(j, "allocations"), out);
        fprintf(out, "\nfiles written (in the directory):\n");
        if (!json_array_size(json_object_get(j, "files")))
            fprintf(out, "  none\n");
        int width = 28; /* the path column: as wide as the longest path, up to 60 */
        json_array_foreach(json_object_get(j, "files"), i, x) {
            int pl = (int)strlen(json_string_value(json_object_get(x, "path")));
            width = pl > width ? (pl < 60 ? pl : 60) : width;
        }
        json_array_foreach(json_object_get(j, "files"), i, x)
            fprintf(out, "  %-*s %-40s %" JSON_INTEGER_FORMAT " bytes, %" JSON_INTEGER_FORMAT
                    " fsync%s%s\n", width, json_string_value(json_object_get(x, "path")),
                    json_string_value(json_object_get(x, "how")),
                    json_integer_value(json_object_get(x, "bytes")),
                    json_integer_value(json_object_get(x, "fsyncs")),
                    json_integer_value(json_object_get(x, "fsyncs")) == 1 ? "" : "s",
                    json_is_true(json_object_get(x, "durable_at_end")) ? "" : ", not durable");
        fprintf(out, "\nsockets:\n");
        if (!json_array_size(json_object_get(j, "sockets")))
            fprintf(out, "  none\n");
        json_array_foreach(json_object_get(j, "sockets"), i, x)
            fprintf(out, "  %-28s %-10s wait bounded by: %s%s\n",
                    json_string_value(json_object_get(x, "peer")),
                    json_string_value(json_object_get(x, "role")),
                    json_string_value(json_object_get(x, "bounded_by")),
                    json_is_true(json_object_get(x, "unbounded_wait")) ? " (and waited on "
                                                                          "without a bound)"
                                                                        : "");
        json_array_foreach(json_object_get(j, "peers"), i, x)
            fprintf(out, "  connects to %s: %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
                    " failed), at most %" JSON_INTEGER_FORMAT "/s\n",
                    json_string_value(json_object_get(x, "peer")),
                    json_integer_value(json_object_get(x, "connects")),
                    json_integer_value(json_object_get(x, "failed")),
                    json_integer_value(json_object_get(x, "peak_per_s")));
    }
    json_t *risks = json_object_get(j, "risks");
    fprintf(out, "\n%s\n", json_array_size(risks) ? "risks:" : "no risky pattern seen in this run");
    json_array_foreach(risks, i, x) {
        fprintf(out, "  %s: %s\n    %s\n    prove it: %s\n",
                json_string_value(json_object_get(x, "kind")),
                json_string_value(json_object_get(x, "subject")),
                json_string_value(json_object_get(x, "explanation")),
                json_string_value(json_object_get(x, "prove")));
    }
}

int cmd_audit(int argc, char **argv)
{
    struct audit_config cfg = {0};
    int rc = parse_audit(argc, argv, &cfg);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out_cfg;
    }
    char recorder[PATH_MAX];
    if (fl_find_recorder(recorder, sizeof(recorder), false) < 0) {
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    struct audit a = {.cfg = &cfg, .initial = json_object()};
    a.series = calloc(1, sizeof(*a.series));
    if (!a.series || fl_discovery_root("audit", a.root, sizeof(a.root)) < 0) {
        fl_errorf("audit: cannot make a scratch directory: %s", strerror(errno));
        free(a.series);
        json_decref(a.initial);
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    snprintf(a.log_path, sizeof(a.log_path), "%s/events.log", a.root);
    snprintf(a.audit_path, sizeof(a.audit_path), "%s/audit.jsonl", a.root);
    unsigned char head[FL_CRASHLOG_HEADER_SIZE];
    size_t hn = fl_crashlog_format_header(head, sizeof(head));
    int fd = open(a.log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int afd = open(a.audit_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool made = fd >= 0 && afd >= 0 && write(fd, head, hn) == (ssize_t)hn;
    if (fd >= 0)
        close(fd);
    if (afd >= 0)
        close(afd);
    char log_var[PATH_MAX + 32], audit_var[PATH_MAX + 32], root_var[PATH_MAX + 32],
        exe_var[FL_EXE_MAX + 32];
    snprintf(log_var, sizeof(log_var), "FAULTLINE_CRASH_LOG=%s", a.log_path);
    snprintf(audit_var, sizeof(audit_var), "FAULTLINE_AUDIT_LOG=%s", a.audit_path);
    snprintf(root_var, sizeof(root_var), "FAULTLINE_CRASH_ROOT=%s/t0", a.root);
    snprintf(exe_var, sizeof(exe_var), "FAULTLINE_CRASH_EXE=%s", cfg.exe ? cfg.exe : "");
    char *extra[] = {log_var, audit_var, root_var, cfg.exe ? exe_var : NULL, NULL};
    struct fl_trial_env env = {
        .argv = cfg.argv, .setup = cfg.setup, .teardown = cfg.teardown,
        .template_dir = cfg.template_dir, .root = a.root, .preload = recorder,
        .base_env = fl_clean_environ(),
        .timeout_ns = cfg.timeout_ns ? cfg.timeout_ns : 60 * FL_NS_PER_SEC,
        .target_extra_env = extra, .before_target = before_target, .ctx = &a,
        .series = a.series, .sample_exe = cfg.exe,
    };
    struct fl_trial_result *res = calloc(1, sizeof(*res));
    struct fl_err err = {""};
    pthread_t watcher;
    fl_discovery_signals_start(&watcher);
    if (!made || !res) {
        fl_errorf("audit: %s: cannot write the logs: %s", a.root, strerror(errno));
        rc = FL_EXIT_USAGE;
    } else if (fl_trial_run(&env, NULL, NULL, 0, res, &err) < 0) {
        fl_errorf("audit: %s", err.msg);
        rc = FL_EXIT_NORESOURCE;
    } else if (res->setup_failed) {
        fl_errorf("--setup failed (status %d)%s%.300s", res->hook_status,
                  res->check_output[0] ? ": " : "", res->check_output);
        rc = FL_EXIT_NORESOURCE;
    } else if (res->exec_failed) {
        fl_errorf("audit: cannot run '%s': %s", cfg.argv[0], strerror(res->exec_errno));
        rc = FL_EXIT_NORESOURCE;
    } else if (res->interrupted) {
        rc = 130;
    } else {
        int arc = 0;
        json_t *j = analyse(&a, res, &err, &arc);
        if (arc < 0)
            fl_warnf("audit: the file log could not be read whole: %s", err.msg);
        if (res->timed_out)
            fl_noticef("audit: %s was stopped after the timeout (a server is audited until "
                       "then)", cfg.argv[0]);
        if (fl_log_get_level() >= FL_LOG_WARN)
            print_audit(j, fl_log_get_level() < FL_LOG_NOTICE, stdout);
        if (cfg.json_path) {
            int flags = JSON_INDENT(2) | JSON_SORT_KEYS;
            int w = strcmp(cfg.json_path, "-") == 0 ? json_dumpf(j, stdout, flags)
                                                     : json_dump_file(j, cfg.json_path, flags);
            if (w < 0)
                fl_errorf("--json %s: cannot write: %s", cfg.json_path, strerror(errno));
        }
        rc = json_array_size(json_object_get(j, "risks")) ? FL_EXIT_FAILED : FL_EXIT_OK;
        json_decref(j);
    }
    if (fl_trial_interrupted())
        rc = 130;
    fl_discovery_signals_stop(watcher);
    free(res);
    fl_remove_tree(a.root);
    fl_free_words(env.base_env);
    free(a.series);
    json_decref(a.initial);
out_cfg:
    fl_free_words(cfg.setup);
    fl_free_words(cfg.teardown);
    free(cfg.setup_text);
    free(cfg.teardown_text);
    return rc;
}
