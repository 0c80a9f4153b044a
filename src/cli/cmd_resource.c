/* SPDX-License-Identifier: MIT */
/*
 * cmd_resource.c - `faultline fill` and `faultline hog mem|cpu|fds`: parse the flags into the
 * params of the fill and hog kinds (src/faults/fill.c, hog.c) and hold them with fl_hold_run.
 * Everything the kinds check (the directory, the free space, the process) is checked there,
 * so an experiment step gets the same errors; here only the syntax of the flags is.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "hold.h"
#include "log.h"
#include "units.h"

/* Exported by the kinds: where their apply merges its report (fault.h has no result
 * channel yet). */

static const char fill_help[] =
    "usage: faultline fill DIR (--leave SIZE | --until PERCENT) [--for DURATION] [--json]\n"
    "\n"
    "Fill the filesystem holding DIR with a balloon file, DIR/.faultline-balloon-<id>, so\n"
    "writes there fail with ENOSPC; the balloon is removed at the end of --for, on Ctrl-C or\n"
    "SIGTERM, or by 'faultline recover' if faultline was killed. Without --for it holds\n"
    "until interrupted.\n"
    "\n"
    "  --leave SIZE       leave SIZE free (10MiB, 512KiB, 0)\n"
    "  --until PERCENT    fill until PERCENT of the filesystem is used (99%)\n"
    "  --for DURATION     hold this long (30s, 5m), then remove the balloon\n"
    "  --json             print the result as JSON at the end\n"
    "\n"
    "As root the space reserved for root (ext2/3/4: 5% by default) is filled too, so SIZE is\n"
    "what is left for root; other users may have less or none. Without root only what every\n"
    "user may use is counted. See docs/resources.md.\n";

static const char hog_help[] =
    "usage: faultline hog mem SIZE [--for DURATION] [--json]\n"
    "       faultline hog cpu [--workers N] [--load PERCENT] [--for DURATION] [--json]\n"
    "       faultline hog fds PID N [--for DURATION] [--json]\n"
    "\n"
    "Take a resource away for a while, then give it back (at the end of --for, on Ctrl-C\n"
    "or SIGTERM; 'faultline recover' restores an fd limit after faultline was killed).\n"
    "\n"
    "  mem SIZE           hold SIZE of memory (512MiB, or 25% of MemTotal), every page\n"
    "                     written so it is resident, and locked when allowed\n"
    "  cpu                keep N threads busy (default: one per usable CPU)\n"
    "    --workers N      how many threads\n"
    "    --load PERCENT   share of each 100ms period each thread is busy (default 100%)\n"
    "  fds PID N          lower PID's open-file soft limit to N (prlimit); it keeps the\n"
    "                     files it has open, but cannot open more beyond N\n"
    "  --for DURATION     hold this long (30s, 5m)\n"
    "  --json             print the result as JSON at the end\n";

enum {
    OPT_LEAVE = 0x100,
    OPT_UNTIL,
    OPT_FOR,
    OPT_JSON,
    OPT_WORKERS,
    OPT_LOAD,
    OPT_STATE_DIR = FL_OPT_STATE_DIR,
};

static const struct option res_options[] = {
    {"leave", required_argument, NULL, OPT_LEAVE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"for", required_argument, NULL, OPT_FOR},
    {"json", no_argument, NULL, OPT_JSON},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"load", required_argument, NULL, OPT_LOAD},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

struct res_args {
    const char *leave, *until;     /* fill: --leave, --until as typed */
    const char *workers, *load;    /* hog cpu: --workers, --load as typed */
    int64_t for_ns;                /* --for, 0 to hold until a signal */
    bool json;                     /* --json */
    char **pos;                    /* positional arguments, in order */
    int npos;                      /* how many */
};

/* Parse every option (they may come before or after the positional arguments). Returns 0,
 * FL_EXIT_USAGE, or -1 after --help. */
static int parse_res(int argc, char **argv, const char *cmd, const char *help,
                     const char *allowed, struct res_args *a)
{
    struct fl_err err = {""};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qvh", res_options, NULL)) != -1) {
        const char *name = NULL;
        switch (opt) {
        case OPT_LEAVE:
            a->leave = optarg, name = "leave";
            break;
        case OPT_UNTIL:
            a->until = optarg, name = "until";
            break;
        case OPT_WORKERS:
            a->workers = optarg, name = "workers";
            break;
        case OPT_LOAD:
            a->load = optarg, name = "load";
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_FOR:
            if (fl_parse_duration(optarg, false, &a->for_ns, &err) < 0)
                return fl_usage_error("%s: --for: %s", cmd, err.msg);
            if (a->for_ns <= 0)
                return fl_usage_error("%s: --for: expected a duration above 0 (leave it out "
                                      "to hold until Ctrl-C)", cmd);
            break;
        case 'h':
            fl_print_help(help);
            return -1;
        case '?':
            if (optopt)
                return fl_usage_error("%s: unknown option '-%c' (see faultline help %s)", cmd,
                                      optopt, cmd);
            return fl_usage_error("%s: unknown option '%s' (see faultline help %s)", cmd,
                                  argv[optind - 1], cmd);
        case ':':
            return fl_usage_error("%s: option '%s' needs a value (see faultline help %s)", cmd,
                                  argv[optind - 1], cmd);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("%s: unexpected option", cmd);
        }
        if (name && !strstr(allowed, name))
            return fl_usage_error("%s: --%s does not apply here (see faultline help %s)", cmd,
                                  name, cmd);
    }
    a->pos = argv + optind;
    a->npos = argc - optind;
    return 0;
}

/* What the kind reported doing (ctx->report) is printed for people as soon as it is
 * applied; with --json it is part of the result instead. */
struct res_run {
    struct fl_hold hold;                    /* what fl_hold_run gets */
    void (*say)(const json_t *r);           /* the report for people, on stderr */
};

static void res_applied(void *arg, const json_t *report)
{
    struct res_run *r = arg;
    if (r->say && report && json_object_size(report))
        r->say(report);
}

static int res_hold(struct res_run *r, const char *kind, json_t *params, struct res_args *a)
{
    r->hold.kind = kind;
    r->hold.params = params;
    r->hold.for_ns = a->for_ns;
    r->hold.json = a->json;
    r->hold.arg = r;
    r->hold.on_applied = res_applied;
    int rc = fl_hold_run(&r->hold);
    json_decref(params);
    return rc;
}

static const char *size_str(const json_t *r, const char *key, char *buf, size_t len)
{
    return fl_format_size((uint64_t)json_integer_value(json_object_get(r, key)), buf, len);
}

static void say_fill(const json_t *r)
{
    char w[32], left[32], unpriv[32], resv[32];
    fl_noticef("wrote %s to %s (%s); %s left free%s",
               size_str(r, "written", w, sizeof(w)),
               json_string_value(json_object_get(r, "balloon")),
               json_string_value(json_object_get(r, "method")),
               size_str(r, "left", left, sizeof(left)),
               json_is_true(json_object_get(r, "interrupted")) ? " (stopped early by a signal)"
                                                               : "");
    if (json_is_true(json_object_get(r, "as_root")) &&
        json_integer_value(json_object_get(r, "reserved")) > 0)
        fl_noticef("as root, the %s reserved for root was filled too: users other than root "
                   "have %s", size_str(r, "reserved", resv, sizeof(resv)),
                   size_str(r, "left_unprivileged", unpriv, sizeof(unpriv)));
}

/* An absolute DIR, so `faultline recover` run from elsewhere finds the balloon. */
static json_t *abs_dir(const char *dir)
{
    char buf[PATH_MAX], cwd[PATH_MAX];
    if (realpath(dir, buf))
        return json_string(buf);
    if (dir[0] == '/' || !getcwd(cwd, sizeof(cwd)))
        return json_string(dir);
    snprintf(buf, sizeof(buf), "%s/%s", cwd, dir);
    return json_string(buf);
}

int cmd_fill(int argc, char **argv)
{
    struct res_args a = {0};
    int rc = parse_res(argc, argv, "fill", fill_help, "leave until", &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a.npos != 1)
        return fl_usage_error("fill: %s (expected: faultline fill DIR --leave SIZE|--until "
                              "PERCENT)", a.npos ? "give one directory" : "no directory given");
    if (!a.leave == !a.until)
        return fl_usage_error("fill: give exactly one of --leave SIZE or --until PERCENT");
    struct fl_err err = {""};
    uint64_t v;
    bool pct;
    if (a.leave && fl_parse_size(a.leave, false, &v, NULL, &err) < 0)
        return fl_usage_error("fill: --leave: %s", err.msg);
    if (a.until && (fl_parse_size(a.until, true, &v, &pct, &err) < 0 || !pct || !v))
        return fl_usage_error("fill: --until: '%s' is not a share of the filesystem above 0%% "
                              "(like 99%%)", a.until);
    json_t *params = json_pack("{s:o}", "dir", abs_dir(a.pos[0]));
    if (a.leave)
        json_object_set_new(params, "leave", json_integer((json_int_t)v));
    else
        json_object_set_new(params, "until", json_string(a.until));
    struct res_run r = {.say = say_fill};
    return res_hold(&r, "fill", params, &a);
}

static void say_mem(const json_t *r)
{
    char sz[32];
    const char *why = json_string_value(json_object_get(r, "lock_error"));
    if (json_is_true(json_object_get(r, "interrupted")))
        fl_noticef("took part of %s of memory (stopped early by a signal)",
                   size_str(r, "bytes", sz, sizeof(sz)));
    else if (json_is_true(json_object_get(r, "locked")))
        fl_noticef("took %s of memory: resident and locked", size_str(r, "bytes", sz,
                                                                     sizeof(sz)));
    else
        fl_noticef("took %s of memory: resident, not locked: %s",
                   size_str(r, "bytes", sz, sizeof(sz)), why ? why : "?");
}

static void say_cpu(const json_t *r)
{
    json_int_t n = json_integer_value(json_object_get(r, "workers"));
    fl_noticef("%lld worker%s busy %.0f%% of every 100ms", (long long)n, n == 1 ? "" : "s",
               100 * json_real_value(json_object_get(r, "load")));
}

static const char *limit_str(json_int_t v, char *buf, size_t len)
{
    if (v < 0)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

static void say_fds(const json_t *r)
{
    char soft[32], hard[32];
    json_int_t limit = json_integer_value(json_object_get(r, "limit"));
    json_int_t open = json_integer_value(json_object_get(r, "open"));
    fl_noticef("pid %lld may now open %lld files (was %s, hard limit %s)",
               (long long)json_integer_value(json_object_get(r, "pid")), (long long)limit,
               limit_str(json_integer_value(json_object_get(r, "old_soft")), soft,
                         sizeof(soft)),
               limit_str(json_integer_value(json_object_get(r, "old_hard")), hard,
                         sizeof(hard)));
    /* the kernel refuses any new fd numbered N or above, and numbers go lowest first */
    if (open >= limit)
        fl_noticef("it has %lld open already: it keeps them, but every new file, socket or "
                   "pipe fails with EMFILE until it has fewer than %lld open", (long long)open,
                   (long long)limit);
}

int cmd_hog(int argc, char **argv)
{
    struct res_args a = {0};
    int rc = parse_res(argc, argv, "hog", hog_help, "workers load", &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (a.npos < 1)
        return fl_usage_error("hog: what to take? (expected: faultline hog mem|cpu|fds ...)");
    const char *res = a.pos[0];
    struct fl_err err = {""};
    json_t *params;
    struct res_run r = {0};
    if (strcmp(res, "cpu") != 0 && (a.workers || a.load))
        return fl_usage_error("hog %s: --workers and --load are for hog cpu", res);
    if (strcmp(res, "mem") == 0) {
        if (a.npos != 2)
            return fl_usage_error("hog mem: expected one SIZE (512MiB, 25%%)");
        uint64_t v;
        bool pct;
        if (fl_parse_size(a.pos[1], true, &v, &pct, &err) < 0)
            return fl_usage_error("hog mem: %s", err.msg);
        params = json_pack("{s:s, s:s}", "resource", "mem", "size", a.pos[1]);
        r.say = say_mem;
    } else if (strcmp(res, "cpu") == 0) {
        if (a.npos != 1)
            return fl_usage_error("hog cpu: unexpected argument '%s'", a.pos[1]);
        uint64_t workers = 0, load;
        bool pct = false;
        if (a.workers && (fl_parse_u64(a.workers, &workers, &err) < 0 || workers == 0))
            return fl_usage_error("hog cpu: --workers: %s",
                                  err.msg[0] ? err.msg : "expected 1 or more");
        if (a.load && (fl_parse_size(a.load, true, &load, &pct, &err) < 0 || !pct || !load))
            return fl_usage_error("hog cpu: --load: '%s' is not a share from 1%% to 100%% "
                                  "(like 80%%)", a.load);
        params = json_pack("{s:s, s:I}", "resource", "cpu", "workers", (json_int_t)workers);
        if (a.load)
            json_object_set_new(params, "load", json_string(a.load));
        r.say = say_cpu;
    } else if (strcmp(res, "fds") == 0) {
        if (a.npos != 3)
            return fl_usage_error("hog fds: expected PID and N (faultline hog fds PID N)");
        uint64_t pid, n;
        if (fl_parse_u64(a.pos[1], &pid, &err) < 0 || pid == 0 || pid > INT32_MAX)
            return fl_usage_error("hog fds: PID: %s", err.msg[0] ? err.msg
                                                                 : "expected a process id");
        if (fl_parse_u64(a.pos[2], &n, &err) < 0 || n > INT32_MAX)
            return fl_usage_error("hog fds: N: %s", err.msg[0] ? err.msg : "too large");
        params = json_pack("{s:s, s:I, s:I}", "resource", "fds", "pid", (json_int_t)pid,
                           "limit", (json_int_t)n);
        r.say = say_fds;
    } else {
        return fl_usage_error("hog: unknown resource '%s' (expected mem, cpu or fds)", res);
    }
    return res_hold(&r, "hog", params, &a);
}
