/* SPDX-License-Identifier: MIT */
/*
 * cmd_proc.c - `faultline lock`, `faultline kill` and `faultline stop`: the process and SQLite
 * lock faults. Each parses its flags into its kind's params (src/faults/lock.c, kill.c,
 * stop.c) and runs them through fl_hold_run, so the journal, `status` and `recover` treat
 * them like every other fault. kill's schedule (the chaos monkey) runs as the hold's tick.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "err.h"
#include "hold.h"
#include "kill.h"
#include "log.h"
#include "prng.h"
#include "units.h"

enum {
    OPT_FOR = 0x100,
    OPT_MODE,
    OPT_JSON,
    OPT_NAME,
    OPT_CMDLINE,
    OPT_TREE,
    OPT_EVERY,
    OPT_SEED,
    OPT_GROUP,
    OPT_NO_GUARDIAN,
    OPT_DRY_RUN,
    OPT_STATE_DIR = FL_OPT_STATE_DIR,
};

static const char lock_help[] =
    "usage: faultline lock DB [--mode shared|reserved|exclusive] [--for DUR] [--json]\n"
    "\n"
    "Hold an SQLite lock on DB, as a backup script or a writer that hung or crashed would, so\n"
    "the program under test meets SQLITE_BUSY (\"database is locked\"). Without --for, hold\n"
    "until Ctrl-C. Nothing in DB is changed. If faultline dies, the kernel drops the lock.\n"
    "\n"
    "  --mode MODE   what is held (default exclusive):\n"
    "                  shared     a read transaction (a backup reading a snapshot).\n"
    "                             Rollback journal: readers pass, writers fail at COMMIT.\n"
    "                             WAL: readers and writers pass; checkpoints cannot finish.\n"
    "                  reserved   BEGIN IMMEDIATE (a writer hung mid-transaction).\n"
    "                             Readers pass, writers fail, in both journal modes.\n"
    "                  exclusive  BEGIN EXCLUSIVE, in WAL with locking_mode=EXCLUSIVE (a\n"
    "                             writer that died committing). Readers and writers fail.\n"
    "  --for DUR     hold this long (30s, 2m), then release\n"
    "  --json        print the result as JSON on stdout\n"
    "  -q, -v        fewer or more messages;  --state-dir DIR  the journal's directory\n"
    "\n"
    "Exit status: 0 held and released; 2 bad usage or DB is not an SQLite database;\n"
    "3 DB does not exist or cannot be opened; 1 another lock kept ours out for 5s.\n";

static const char kill_help[] =
    "usage: faultline kill [PID...] [--name GLOB] [--cmdline GLOB] [--tree PID]\n"
    "                      [-s|--signal SIG] [--group] [--every DUR --for DUR [--seed N]]\n"
    "                      [--dry-run] [--json]\n"
    "\n"
    "Send a signal to processes, once, or as a chaos monkey: one random victim among the\n"
    "matches every DUR. Processes are chosen by pid, by --name (a glob on the process name,\n"
    "/proc/PID/comm), by --cmdline (a glob on the whole command line, arguments joined by\n"
    "spaces; with --name both must match) and by --tree (that process and all its\n"
    "descendants); the union of what is given. Pid 1, faultline and its ancestors are never\n"
    "signalled; a match among them is reported as refused.\n"
    "\n"
    "  -s, --signal SIG  TERM (default), KILL, INT, HUP, USR1, SIGTERM, 9, ...; -9 and\n"
    "                    -KILL work too, as in kill(1)\n"
    "  --group           signal the whole process group of each victim (kill -- -PGID);\n"
    "                    refused if the group holds faultline or an ancestor\n"
    "  --every DUR       chaos monkey: a victim now, then one every DUR (needs --for)\n"
    "  --for DUR         how long the monkey runs\n"
    "  --seed N          the monkey's seed (printed when not given): the same seed over the\n"
    "                    same processes picks the same victims, in the same order\n"
    "  --dry-run         report what would be signalled and send nothing: a pattern matches\n"
    "                    every process you may signal, which as root is every process\n"
    "  --json            print the result as JSON on stdout\n"
    "  -q, -v            fewer or more messages;  --state-dir DIR  the journal's directory\n"
    "\n"
    "Each signal is reported with time, pid, name and signal; children of a killed process\n"
    "that survived it and were reparented are reported as orphaned. A kill cannot be undone.\n"
    "Exit status: 0 sent; 2 bad usage; 3 no such process, nothing matches, or not permitted.\n";

static const char stop_help[] =
    "usage: faultline stop PID... [--for DUR] [--json] [--no-guardian]\n"
    "\n"
    "Freeze processes with SIGSTOP, as a hung dependency looks from outside, and resume them\n"
    "with SIGCONT at the end of --for, on Ctrl-C, SIGTERM or SIGHUP, and even if faultline is\n"
    "killed with SIGKILL: a small guardian process resumes them then, and 'faultline recover'\n"
    "does if the guardian was killed too. A pid is resumed only if it is still the process\n"
    "that was stopped (same start time); a process that was stopped already is left so.\n"
    "\n"
    "  --for DUR       hold this long (10s, 1m); without it, until Ctrl-C\n"
    "  --json          print the result as JSON on stdout\n"
    "  --no-guardian   no guardian process: after a SIGKILL only 'faultline recover' resumes\n"
    "  -q, -v          fewer or more messages;  --state-dir DIR  the journal's directory\n"
    "\n"
    "Exit status: 0 stopped and resumed; 2 bad usage; 3 no such process or not permitted.\n";

/* Shared getopt handling of the errors every command reports the same way. */
static int opt_error(const char *cmd, int opt, char **argv)
{
    if (opt == ':')
        return fl_usage_error("%s: option '%s' needs a value (see faultline help %s)", cmd,
                              argv[optind - 1], cmd);
    if (optopt)
        return fl_usage_error("%s: unknown option '-%c' (see faultline help %s)", cmd, optopt,
                              cmd);
    return fl_usage_error("%s: unknown option '%s' (see faultline help %s)", cmd,
                          argv[optind - 1], cmd);
}

static int parse_for(const char *flag, const char *s, int64_t *ns)
{
    struct fl_err err = {""};
    if (fl_parse_duration(s, false, ns, &err) < 0)
        return fl_usage_error("%s: %s", flag, err.msg);
    if (*ns <= 0)
        return fl_usage_error("%s: expected a duration above 0, like 30s", flag);
    return 0;
}

static int parse_pid(const char *cmd, const char *flag, const char *s, pid_t *pid)
{
    uint64_t v;
    if (fl_parse_u64(s, &v, NULL) < 0 || v < 1 || v > INT_MAX)
        return fl_usage_error("%s: %s'%s' is not a pid (expected a positive number)", cmd, flag,
                              s);
    *pid = (pid_t)v;
    return 0;
}

/* ---- lock ------------------------------------------------------------------------------ */

/* Say what this mode does to this database: a shared lock on a WAL database blocks no
 * reader and no writer, which surprises people expecting "database is locked". */
static void lock_applied(void *arg, const json_t *report)
{
    const char *mode = json_string_value(json_object_get(report, "mode"));
    const char *journal = json_string_value(json_object_get(report, "journal_mode"));
    if (mode && journal && !strcmp(mode, "shared") && !strcmp(journal, "wal"))
        fl_warnf("%s is in WAL mode: a shared lock blocks neither readers nor writers, only "
                 "checkpoints (use --mode reserved or exclusive to block them)",
                 (const char *)arg);
}

int cmd_lock(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, OPT_MODE},
        {"for", required_argument, NULL, OPT_FOR},
        {"json", no_argument, NULL, OPT_JSON},
        FL_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *mode = "exclusive";
    int64_t for_ns = 0;
    bool json = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_MODE:
            if (strcmp(optarg, "shared") && strcmp(optarg, "reserved") &&
                strcmp(optarg, "exclusive"))
                return fl_usage_error("lock: --mode: expected shared, reserved or exclusive, "
                                      "got '%s'", optarg);
            mode = optarg;
            break;
        case OPT_FOR:
            if (parse_for("lock: --for", optarg, &for_ns))
                return FL_EXIT_USAGE;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fl_print_help(lock_help);
            return 0;
        case ':':
        case '?':
            return opt_error("lock", opt, argv);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("lock: unexpected option");
        }
    }
    if (optind >= argc)
        return fl_usage_error("lock: no database given (expected: faultline lock DB [--mode "
                              "MODE] [--for DUR])");
    if (argc - optind > 1)
        return fl_usage_error("lock: one database at a time, got '%s' and '%s'", argv[optind],
                              argv[optind + 1]);
    const char *path = argv[optind];
    json_t *params = json_pack("{s:s, s:s}", "path", path, "mode", mode);
    struct fl_hold h = {.kind = "lock", .params = params, .for_ns = for_ns, .json = json,
                        .on_applied = lock_applied, .arg = (void *)path};
    int rc = fl_hold_run(&h);
    json_decref(params);
    return rc;
}

/* ---- kill ------------------------------------------------------------------------------ */

struct kill_run {
    json_t *params;           /* the kind's params */
    json_t *report;           /* the monkey's rounds: hits, orphans, refused, empty_rounds */
    struct fl_hold *hold;     /* to slow the first, immediate tick down to every_ns */
    int64_t every_ns;         /* 0: one shot */
    int64_t for_ns;           /* how long the monkey runs */
    uint64_t next_round;      /* the next round's number, from 0 */
    size_t shown_hits;        /* how many hits were printed already */
    size_t shown_orphans;     /* and orphans */
    bool json;                /* print nothing as lines */
};

/* Print the hits and orphans of report not printed yet, as lines on stdout. */
static void print_new(struct kill_run *k, const json_t *report)
{
    if (k->json)
        return;
    json_t *hits = json_object_get(report, "hits");
    for (; k->shown_hits < json_array_size(hits); k->shown_hits++) {
        json_t *h = json_array_get(hits, k->shown_hits);
        json_int_t ms = json_integer_value(json_object_get(h, "time_ms"));
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char when[32];
        strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&secs, &tm));
        const char *result = json_string_value(json_object_get(h, "result"));
        char extra[160] = "";
        size_t o = 0;
        if (json_object_get(h, "group"))
            o += (size_t)snprintf(extra, sizeof(extra), " (process group %lld, %zu processes)",
                                  (long long)json_integer_value(json_object_get(h, "group")),
                                  json_array_size(json_object_get(h, "members")));
        if (json_object_get(h, "round"))
            o += (size_t)snprintf(extra + o, sizeof(extra) - o, " [round %lld: victim %lld of "
                                  "%lld]",
                                  (long long)json_integer_value(json_object_get(h, "round")),
                                  (long long)json_integer_value(json_object_get(h, "index")) + 1,
                                  (long long)json_integer_value(json_object_get(h, "of")));
        if (result && !strcmp(result, "dry-run"))
            snprintf(extra + o, sizeof(extra) - o, ": dry run, not sent");
        else if (result && strcmp(result, "sent") != 0)
            snprintf(extra + o, sizeof(extra) - o, ": not sent (%s)", result);
        printf("%s.%03lld  SIG%s -> %lld (%s)%s\n", when, (long long)(ms % 1000),
               json_string_value(json_object_get(h, "signal")) ?: "?",
               (long long)json_integer_value(json_object_get(h, "pid")),
               json_string_value(json_object_get(h, "name")) ?: "?", extra);
    }
    json_t *orphans = json_object_get(report, "orphans");
    for (; k->shown_orphans < json_array_size(orphans); k->shown_orphans++) {
        json_t *o = json_array_get(orphans, k->shown_orphans);
        printf("orphaned %lld (%s): its parent %lld was killed; now a child of %lld\n",
               (long long)json_integer_value(json_object_get(o, "pid")),
               json_string_value(json_object_get(o, "name")) ?: "?",
               (long long)json_integer_value(json_object_get(o, "parent")),
               (long long)json_integer_value(json_object_get(o, "new_parent")));
    }
    fflush(stdout);
}

static void print_refused(const json_t *report)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(report, "refused"), i, r)
        fl_warnf("not signalled: %lld (%s) is %s",
                 (long long)json_integer_value(json_object_get(r, "pid")),
                 json_string_value(json_object_get(r, "name")) ?: "?",
                 json_string_value(json_object_get(r, "why")) ?: "protected");
}

/* One shot: apply did the signalling; tell people what it did (not called with --json, where
 * the hold merges the same report into the result). */
static void kill_applied(void *arg, const json_t *report)
{
    struct kill_run *k = arg;
    if (k->every_ns)
        return;
    print_new(k, report);
    print_refused(report);
}

static int kill_tick(void *arg, int64_t elapsed_ns)
{
    struct kill_run *k = arg;
    if (!k->every_ns)
        return -1; /* one shot: done, end the hold (revert is a no-op) */
    /* The first tick comes at once, for round 0; then one per every_ns. Rounds are counted,
     * not derived from the clock, so a late tick never skips a victim number and the seed
     * replays the same sequence. The 1ms slack absorbs timer rounding. */
    k->hold->tick_ns = k->every_ns;
    if (elapsed_ns < k->for_ns &&
        elapsed_ns + 1000000 >= (int64_t)k->next_round * k->every_ns) {
        struct fl_err err = {""};
        if (fl_kill_round(k->params, k->next_round, k->report, &err) < 0)
            fl_warnf("round %llu: %s", (unsigned long long)k->next_round, err.msg);
        k->next_round++;
    }
    print_new(k, k->report);
    return 0;
}

int cmd_kill(int argc, char **argv)
{
    static const struct option opts[] = {
        {"signal", required_argument, NULL, 's'},
        {"name", required_argument, NULL, OPT_NAME},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"tree", required_argument, NULL, OPT_TREE},
        {"group", no_argument, NULL, OPT_GROUP},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"every", required_argument, NULL, OPT_EVERY},
        {"for", required_argument, NULL, OPT_FOR},
        {"seed", required_argument, NULL, OPT_SEED},
        {"json", no_argument, NULL, OPT_JSON},
        FL_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct fl_err err = {""};
    int sig = 15;
    const char *name = NULL, *cmdline = NULL;
    int64_t every_ns = 0, for_ns = 0;
    uint64_t seed = 0;
    bool seed_given = false, group = false, json = false, dry_run = false;
    json_t *pids = json_array(), *tree = json_array();
    int rc = 0, opt;
    pid_t pid = 0;
    /* kill(1)'s spelling, -9 or -KILL, is what fingers type: take it as --signal. Only
     * digits or capitals, so -q, -v and -h keep their meaning. */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    char **owned = calloc((size_t)argc + 1, sizeof(*owned)); /* getopt reorders args */
    size_t nowned = 0;
    char sigbuf[64];
    if (!args || !owned) {
        free(args);
        free(owned);
        json_decref(pids);
        json_decref(tree);
        return fl_usage_error("kill: out of memory");
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        size_t n = strlen(a);
        args[i] = argv[i];
        if (i == 0 || a[0] != '-' || n < 2 || n > 20 ||
            strspn(a + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+") != n - 1)
            continue;
        int s;
        struct fl_err serr = {""};
        if (fl_parse_signal(a + 1, &s, &serr) < 0) {
            rc = fl_usage_error("kill: %s: %s", a, serr.msg);
            break;
        }
        snprintf(sigbuf, sizeof(sigbuf), "--signal=%s", a + 1);
        if ((owned[nowned] = strdup(sigbuf)))
            args[i] = owned[nowned++];
    }
    argv = args;
    if (rc)
        goto out;
    optind = 1;
    opterr = 0;
    while (!rc && (opt = getopt_long(argc, argv, ":s:qvh", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (fl_parse_signal(optarg, &sig, &err) < 0)
                rc = fl_usage_error("kill: --signal: %s", err.msg);
            break;
        case OPT_NAME:
            name = optarg;
            break;
        case OPT_CMDLINE:
            cmdline = optarg;
            break;
        case OPT_TREE:
            if (!(rc = parse_pid("kill", "--tree ", optarg, &pid)))
                json_array_append_new(tree, json_integer(pid));
            break;
        case OPT_GROUP:
            group = true;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        case OPT_EVERY:
            rc = parse_for("kill: --every", optarg, &every_ns);
            break;
        case OPT_FOR:
            rc = parse_for("kill: --for", optarg, &for_ns);
            break;
        case OPT_SEED:
            if (fl_parse_u64(optarg, &seed, &err) < 0)
                rc = fl_usage_error("kill: --seed: %s", err.msg);
            seed_given = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fl_print_help(kill_help);
            goto out;
        case ':':
        case '?':
            rc = opt_error("kill", opt, argv);
            break;
        default:
            if (!fl_common_option(opt, optarg))
                rc = fl_usage_error("kill: unexpected option");
        }
    }
    for (int i = optind; !rc && i < argc; i++)
        if (!(rc = parse_pid("kill", "", argv[i], &pid)))
            json_array_append_new(pids, json_integer(pid));
    if (rc)
        goto out;
    if (!json_array_size(pids) && !json_array_size(tree) && !name && !cmdline) {
        rc = fl_usage_error("kill: nothing to signal (expected PIDs, --name, --cmdline or "
                            "--tree; see faultline help kill)");
        goto out;
    }
    if (every_ns && !for_ns) {
        rc = fl_usage_error("kill: --every needs --for (how long the chaos monkey runs)");
        goto out;
    }
    if (for_ns && !every_ns) {
        rc = fl_usage_error("kill: --for needs --every (a single kill has no duration)");
        goto out;
    }
    if (seed_given && !every_ns) {
        rc = fl_usage_error("kill: --seed needs --every (only the chaos monkey draws)");
        goto out;
    }
    json_t *params = json_pack("{s:i}", "signal", sig);
    if (json_array_size(pids))
        json_object_set(params, "pids", pids);
    if (json_array_size(tree))
        json_object_set(params, "tree", tree);
    if (name)
        json_object_set_new(params, "name", json_string(name));
    if (cmdline)
        json_object_set_new(params, "cmdline", json_string(cmdline));
    if (group)
        json_object_set_new(params, "group", json_true());
    if (dry_run)
        json_object_set_new(params, "dry_run", json_true());
    if (every_ns) {
        if (!seed_given)
            seed = fl_seed_from_entropy() & INT64_MAX; /* JSON integers are signed */
        json_object_set_new(params, "every_ns", json_integer(every_ns));
        json_object_set_new(params, "seed", json_integer((json_int_t)seed));
        if (!json)
            fl_noticef("seed %llu (replay with --seed %llu)", (unsigned long long)seed,
                       (unsigned long long)seed);
    }
    json_t *report = json_pack("{s:[], s:[], s:[], s:i}", "hits", "orphans", "refused",
                               "empty_rounds", 0);
    if (every_ns)
        json_object_set_new(report, "seed", json_integer((json_int_t)seed));
    struct kill_run k = {.params = params, .report = report, .every_ns = every_ns,
                         .for_ns = for_ns, .json = json};
    /* one shot: apply reports through the hold; the monkey's report is ours (extra) */
    struct fl_hold h = {.kind = "kill", .params = params, .for_ns = for_ns, .json = json,
                        .tick = kill_tick, .tick_ns = 1, .arg = &k,
                        .on_applied = kill_applied, .extra = every_ns ? report : NULL};
    k.hold = &h;
    /* A single kill is not "held": the hold's applied/reverted lines would only be noise
     * around the report, so they are hidden unless -v asked for them. */
    enum fl_log_level level = fl_log_get_level();
    if (!every_ns && level == FL_LOG_NOTICE)
        fl_log_set_level(FL_LOG_WARN);
    rc = fl_hold_run(&h);
    fl_log_set_level(level);
    if (every_ns && rc == 0 && !json) {
        print_new(&k, report);
        print_refused(report);
        json_int_t empty = json_integer_value(json_object_get(report, "empty_rounds"));
        if (empty)
            fl_warnf("%lld rounds found no matching process", (long long)empty);
    }
    json_decref(report);
    json_decref(params);
out:
    json_decref(pids);
    json_decref(tree);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(args);
    return rc;
}

/* ---- stop ------------------------------------------------------------------------------ */

static void stop_applied(void *arg, const json_t *report)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(report, "already_stopped"), i, v)
        fl_warnf("%lld was stopped already: it is left stopped at the end",
                 (long long)json_integer_value(v));
    json_t *g = json_object_get(report, "guardian");
    if (json_is_integer(g))
        fl_infof("guardian %lld resumes them if faultline is killed",
                 (long long)json_integer_value(g));
}

int cmd_stop(int argc, char **argv)
{
    static const struct option opts[] = {
        {"for", required_argument, NULL, OPT_FOR},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-guardian", no_argument, NULL, OPT_NO_GUARDIAN},
        FL_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    int64_t for_ns = 0;
    bool json = false, guardian = true;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_FOR:
            if (parse_for("stop: --for", optarg, &for_ns))
                return FL_EXIT_USAGE;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_NO_GUARDIAN:
            guardian = false;
            break;
        case 'h':
            fl_print_help(stop_help);
            return 0;
        case ':':
        case '?':
            return opt_error("stop", opt, argv);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("stop: unexpected option");
        }
    }
    if (optind >= argc)
        return fl_usage_error("stop: no process given (expected: faultline stop PID... "
                              "[--for DUR])");
    json_t *pids = json_array();
    for (int i = optind; i < argc; i++) {
        pid_t pid = 0;
        if (parse_pid("stop", "", argv[i], &pid)) {
            json_decref(pids);
            return FL_EXIT_USAGE;
        }
        json_array_append_new(pids, json_integer(pid));
    }
    json_t *params = json_pack("{s:o, s:b}", "pids", pids, "guardian", guardian);
    struct fl_hold h = {.kind = "stop", .params = params, .for_ns = for_ns, .json = json,
                        .on_applied = stop_applied};
    int rc = fl_hold_run(&h);
    json_decref(params);
    return rc;
}
