/* SPDX-License-Identifier: MIT */
/*
 * cmd_crash.c - `faultline crash`: what a power loss during the program's run leaves on disk.
 *
 * Order of work: check the arguments; make one trial directory (template, --setup); copy it
 * (the snapshot: the disk before CMD ran); run CMD once with the recorder preloaded
 * (src/record/record.c), which logs every durability-relevant call in the directory with its
 * data; run --check on what CMD left (it must pass: a check that fails without a power loss
 * says nothing about one); replay the log on the snapshot and compare with what CMD really
 * left (a difference means the recorder missed a call: refuse rather than guess); then for
 * every cut point and every disk state the model allows there (src/discovery/crashfs.h),
 * build the state in a fresh directory and run --check on it, with the part of CMD's stdout
 * it had printed by then. States that fail are grouped by what they lost and reported with
 * the calls before the cut, a plain explanation, and the command that checks just that state.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "crashfs.h"
#include "crashlog.h"
#include "ctlblock.h"
#include "discover_args.h"
#include "rutil.h"
#include "err.h"
#include "fault.h"
#include "journal.h"
#include "log.h"
#include "trial.h"
#include "units.h"

static const char crash_help[] =
    "usage: faultline crash [options] --check CMD -- CMD [ARGS...]\n"
    "\n"
    "Find what a power loss while CMD runs can leave broken on disk: run CMD once in a trial\n"
    "directory, recording every write, truncate, fsync, rename, link, unlink and directory\n"
    "fsync it makes there, then build every disk state a crash at each point could leave\n"
    "(unsynced writes lost, kept or torn at 4 KiB; names not made durable by a directory\n"
    "fsync lost; what the model lets reach the disk out of order) and run --check on each.\n"
    "'{dir}' in CMD, ARGS and the hooks is the directory.\n"
    "\n"
    "  --check CMD        run in each crash state (its cwd): nonzero means the state is broken\n"
    "                     (env: FAULTLINE_TRIAL_DIR, FAULTLINE_STDOUT = what CMD had printed\n"
    "                     before the crash, FAULTLINE_CUT, FAULTLINE_STATE)\n"
    "  --dir TEMPLATE     copy TEMPLATE into the trial directory first (default: start empty)\n"
    "  --setup CMD        run CMD in the trial directory before the program (no preload)\n"
    "  --teardown CMD     run CMD last, always\n"
    "                     (hook commands are split into words, '...' and \"...\" quote; no\n"
    "                     shell unless you write one: --check 'sh -c \"test -s out\"')\n"
    "  --model NAME       posix (default: only what POSIX and directory fsyncs promise) or\n"
    "                     ext4-ordered (ext4, data=ordered, its defaults)\n"
    "  --exe GLOB         record only processes whose executable matches GLOB\n"
    "  --timeout DUR      stop CMD after DUR (default 60s)\n"
    "  --max-states N     states per cut point (default 64)\n"
    "  --budget N|DUR     stop after checking N states or after DUR\n"
    "  --cut K            only the states at cut point K (calls 0..K-1 issued)\n"
    "  --state LABEL      only the state with this label (with --cut: one state)\n"
    "  --keep DIR         build the states checked into DIR/cut-K-N (to look at them)\n"
    "  -j, --jobs N       states checked at once (default: the number of CPUs; each check\n"
    "                     has its own directory, so a check must not share a fixed port or\n"
    "                     file outside it: use -j 1 for one that does)\n"
    "  --json FILE        write the results as JSON ('-': stdout, and the report to stderr)\n"
    "  -q, --quiet        only the findings\n"
    "\n"
    "Exit status: 0 no state fails, 1 some do, 2 usage error, 3 the run itself cannot be\n"
    "judged (CMD or --check fails without a crash, the recorder missed a call), 130\n"
    "interrupted.\n";

struct crash_config {
    char **argv;
    const char *template_dir, *exe, *json_path, *keep_dir, *state_label;
    const char *timeout_text; /* --timeout as given, for the reproduce line */
    char **setup, **check, **teardown;
    char *setup_text, *check_text, *teardown_text;
    enum fl_crash_model model;
    int64_t timeout_ns;
    uint32_t max_states;
    uint64_t budget_states;
    int64_t budget_ns;
    long cut; /* -1: every cut */
    unsigned jobs; /* states checked at once (0: the number of CPUs) */
};

enum {
    OPT_MODEL = FL_DOPT_END,
    OPT_MAX_STATES,
    OPT_BUDGET,
    OPT_CUT,
    OPT_STATE,
    OPT_KEEP,
};

static const struct option crash_options[] = {
    {"dir", required_argument, NULL, FL_DOPT_DIR},
    {"setup", required_argument, NULL, FL_DOPT_SETUP},
    {"check", required_argument, NULL, FL_DOPT_CHECK},
    {"teardown", required_argument, NULL, FL_DOPT_TEARDOWN},
    {"exe", required_argument, NULL, FL_DOPT_EXE},
    {"timeout", required_argument, NULL, FL_DOPT_TIMEOUT},
    {"model", required_argument, NULL, OPT_MODEL},
    {"max-states", required_argument, NULL, OPT_MAX_STATES},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"cut", required_argument, NULL, OPT_CUT},
    {"state", required_argument, NULL, OPT_STATE},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"json", required_argument, NULL, FL_DOPT_JSON},
    {"jobs", required_argument, NULL, 'j'},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static int parse_crash(int argc, char **argv, struct crash_config *cfg)
{
    struct fl_err err = {""};
    int opt, rc;
    const struct fl_discovery_opts shared = {
        .template_dir = &cfg->template_dir, .exe = &cfg->exe, .json_path = &cfg->json_path,
        .setup = &cfg->setup, .check = &cfg->check, .teardown = &cfg->teardown,
        .setup_text = &cfg->setup_text, .check_text = &cfg->check_text,
        .teardown_text = &cfg->teardown_text, .timeout_ns = &cfg->timeout_ns,
        .jobs = &cfg->jobs,
    };
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:qvhj:", crash_options, NULL)) != -1) {
        switch (opt) {
        case OPT_MODEL:
            if (fl_crash_model_parse(optarg, &cfg->model) < 0)
                return fl_usage_error("--model: '%s' is not a model (expected posix or "
                                      "ext4-ordered)", optarg);
            break;
        case OPT_MAX_STATES: {
            uint64_t n;
            if (fl_parse_u64(optarg, &n, NULL) < 0 || n == 0 || n > 4096)
                return fl_usage_error("--max-states: '%s' is not a number of states (expected "
                                      "1..4096)", optarg);
            cfg->max_states = (uint32_t)n;
            break;
        }
        case OPT_BUDGET: {
            uint64_t n;
            if (fl_parse_u64(optarg, &n, NULL) == 0 && n > 0) {
                cfg->budget_states = n;
            } else if (fl_parse_duration(optarg, false, &cfg->budget_ns, &err) < 0 ||
                       cfg->budget_ns <= 0) {
                return fl_usage_error("--budget: '%s' is neither a number of states nor a "
                                      "duration (expected like 500 or 2m)", optarg);
            }
            break;
        }
        case OPT_CUT: {
            uint64_t n;
            if (fl_parse_u64(optarg, &n, NULL) < 0 || n > INT32_MAX)
                return fl_usage_error("--cut: '%s' is not a cut point (expected a number of "
                                      "calls, 0 or more)", optarg);
            cfg->cut = (long)n;
            break;
        }
        case OPT_STATE:
            cfg->state_label = optarg;
            break;
        case OPT_KEEP:
            cfg->keep_dir = optarg;
            break;
        case 'h':
            fl_print_help(crash_help);
            return -1;
        case '?':
        case ':':
            return fl_discovery_bad_option("crash", opt, argv);
        default:
            if ((rc = fl_discovery_option(opt, optarg, &shared)) != 0) {
                if (rc != 1)
                    return rc;
                break;
            }
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("crash: unexpected option");
        }
    }
    char **hooks[] = {cfg->setup, cfg->check, cfg->teardown};
    if ((rc = fl_discovery_args(argc, argv, optind, "crash", &cfg->argv, hooks,
                                cfg->template_dir)))
        return rc;
    if (!cfg->check)
        return fl_usage_error("crash: --check CMD is required (it says whether a crash state is "
                              "good: without it every state would pass)");
    if (cfg->keep_dir) {
        struct stat st;
        if (stat(cfg->keep_dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return fl_usage_error("--keep: %s: not a directory (expected where to build the "
                                  "states checked)", cfg->keep_dir);
    }
    return 0;
}

/* ---- the exploration ------------------------------------------------------------------------ */

/* A set of state digests: a state seen at an earlier cut is not checked again. */
struct digests {
    uint64_t *v;
    size_t n, cap;
};

static bool digest_seen(struct digests *d, uint64_t x)
{
    if (x == 0)
        x = 1; /* 0 marks an empty slot */
    if (d->n * 2 >= d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        uint64_t *v = calloc(cap, sizeof(*v));
        if (!v)
            return false;
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->v[i])
                continue;
            size_t j = (size_t)(d->v[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (v[j])
                j = (j + 1) & (cap - 1);
            v[j] = d->v[i];
        }
        free(d->v);
        d->v = v;
        d->cap = cap;
    }
    size_t j = (size_t)(x * 0x9e3779b97f4a7c15ull) & (d->cap - 1);
    while (d->v[j]) {
        if (d->v[j] == x)
            return true;
        j = (j + 1) & (d->cap - 1);
    }
    d->v[j] = x;
    d->n++;
    return false;
}

struct crash {
    const struct crash_config *cfg;
    struct fl_trial_env env;
    char root[PATH_MAX], snap[PATH_MAX], log_path[PATH_MAX];
    char states_root[PATH_MAX]; /* where states are built: tmpfs when there is room */
    int rc;                 /* exit status when the run could not be judged (0: fine) */
    size_t events, cuts_done, states_checked, states_distinct, states_skipped;
    json_t *findings;       /* grouped failing states */
    json_t *calls;          /* the recorded calls, as text */
    bool interrupted;
    bool budget_hit;
    int64_t start_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int before_target(void *ctx, const char *dir, struct fl_err *err)
{
    struct crash *c = ctx;
    if (mkdir(c->snap, 0700) < 0)
        return fl_err_set(err, errno, "%s: %s", c->snap, strerror(errno));
    return fl_copy_tree(dir, c->snap, err);
}

/* What a program printed, for the tail of a one-line message: "; it said: TEXT" with its
 * newlines as " / " and no trailing blank (the log shows control characters as '?'), or "". */
static const char *said(const char *text, char *buf, size_t len)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' ||
                     text[n - 1] == '\t'))
        n--;
    if (n == 0 || len < 16)
        return "";
    size_t o = (size_t)snprintf(buf, len, "; it said: ");
    for (size_t i = 0; i < n && i < 300 && o + 4 < len; i++) {
        if (text[i] == '\n') {
            memcpy(buf + o, " / ", 3);
            o += 3;
        } else {
            buf[o++] = text[i];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* The first n bytes of the program's stdout, for a check of a state at a cut. */
static int stdout_prefix(const char *from, const char *to, uint64_t n)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = in >= 0 && out >= 0 ? 0 : -errno;
    char buf[65536];
    while (rc == 0 && n > 0) {
        ssize_t r = read(in, buf, n < sizeof(buf) ? n : sizeof(buf));
        if (r <= 0)
            break;
        if (write(out, buf, (size_t)r) != r)
            rc = -EIO;
        n -= (uint64_t)r;
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* Append the final stdout mark: what the program printed after its last recorded call (glibc
 * flushes a file-backed stdout after every wrapper has run). */
static void mark_final_stdout(const char *log_path, const char *stdout_path)
{
    struct stat st;
    if (stat(stdout_path, &st) < 0 || st.st_size == 0)
        return;
    struct fl_crash_event ev = {.op = FL_CRASH_MARK, .length = (uint64_t)st.st_size,
                                .pid = (uint32_t)getpid()};
    unsigned char buf[FL_CRASHLOG_RECORD_HEADER_SIZE];
    size_t n = fl_crashlog_format(buf, sizeof(buf), &ev);
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        if (n && write(fd, buf, n) != (ssize_t)n)
            fl_warnf("crash: cannot append to the event log: %s", strerror(errno));
        close(fd);
    }
}

static const char *repro_text(const struct crash *c, size_t cut, const char *label, char *buf,
                              size_t len)
{
    const struct crash_config *cfg = c->cfg;
    size_t n = (size_t)snprintf(buf, len, "faultline crash --model %s --cut %zu --state ",
                                fl_crash_model_name(cfg->model), cut);
    fl_shell_quote_into(buf, len, &n, label);
    /* the state may be past the default cap, and CMD may need its time to run again */
    if (cfg->max_states)
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " --max-states %" PRIu32,
                              cfg->max_states);
    const char *flags[] = {"--timeout", "--dir", "--setup", "--check", "--teardown", "--exe"};
    const char *vals[] = {cfg->timeout_text, cfg->template_dir, cfg->setup_text,
                          cfg->check_text, cfg->teardown_text, cfg->exe};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (!vals[i])
            continue;
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " %s ", flags[i]);
        fl_shell_quote_into(buf, len, &n, vals[i]);
    }
    n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " --");
    for (char **a = cfg->argv; *a; a++) {
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, " ");
        fl_shell_quote_into(buf, len, &n, *a);
    }
    return buf;
}

/* One finding per pattern: the states that show it (all-lost, op-lost:rename:x, ... at
 * several cuts) are one mistake in the program's update protocol, reported at its first cut. */
static json_t *finding_for(json_t *findings, const char *pattern)
{
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f) {
        if (!strcmp(json_string_value(json_object_get(f, "pattern")), pattern))
            return f;
    }
    return NULL;
}

/* The label without its cut-specific tail: "data-lost:state.json", "torn:log", "prefix:log". */
static void group_of(const char *label, char *buf, size_t len)
{
    snprintf(buf, len, "%s", label);
    /* prefix:F:J/N -> prefix:F */
    char *slash = strrchr(buf, '/');
    if (!strncmp(buf, "prefix:", 7) && slash) {
        char *colon = strrchr(buf, ':');
        if (colon && colon < slash)
            *colon = '\0';
    }
}

static void record_failure(struct crash *c, struct fl_crashfs *fs,
                           const struct fl_crash_state *st, size_t cut, const char *label,
                           int status, const char *output)
{
    enum fl_crash_pattern pat = fl_crashfs_classify(fs, st);
    const char *pattern = fl_crash_pattern_name(pat);
    /* nothing lost and still broken: the program's own sequence of calls passes through this
     * state, so a kill of the process at this point leaves it too, no power cut needed */
    bool not_atomic = pat == FL_CRASH_PATTERN_OTHER && !fl_crash_state_loses(st);
    if (not_atomic)
        pattern = "not-atomic";
    char group[512];
    group_of(label, group, sizeof(group));
    json_t *f = finding_for(c->findings, pattern);
    if (f) {
        json_object_set_new(f, "states", json_integer(json_integer_value(
                                             json_object_get(f, "states")) + 1));
        json_t *cuts = json_object_get(f, "cuts"), *also = json_object_get(f, "also");
        if (json_integer_value(json_array_get(cuts, json_array_size(cuts) - 1)) !=
            (json_int_t)cut)
            json_array_append_new(cuts, json_integer((json_int_t)cut));
        bool known = !strcmp(json_string_value(json_object_get(f, "group")), group);
        size_t i;
        json_t *g;
        json_array_foreach(also, i, g) known = known || !strcmp(json_string_value(g), group);
        if (!known && json_array_size(also) < 20)
            json_array_append_new(also, json_string(group));
        return;
    }
    char explain[4096], repro[8192];
    if (not_atomic)
        snprintf(explain, sizeof(explain), "every call before the cut reached the disk and the "
                 "state is still broken: the update is not atomic, so the program killed at "
                 "this point (no power cut needed) leaves it; the last calls before the cut are "
                 "the window");
    else if (fl_crashfs_explain(fs, st, explain, sizeof(explain)) < 0)
        snprintf(explain, sizeof(explain), "(no explanation: out of memory)");
    json_t *calls = json_array();
    size_t from = cut > 12 ? cut - 12 : 0;
    for (size_t i = from; i < cut; i++) {
        char line[512];
        fl_crash_event_format(fl_crashfs_event(fs, i), line, sizeof(line));
        json_array_append_new(calls, json_pack("{s:I,s:s,s:b}", "index", (json_int_t)i, "call",
                                               line, "lost", fl_crash_state_lost(st, i)));
    }
    f = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:i,s:s,s:o,s:I,s:[I],s:s,s:[]}", "pattern", pattern,
                  "group", group, "state", label, "cut", (json_int_t)cut, "explanation",
                  explain, "check_output", output, "check_status", status, "model",
                  fl_crash_model_name(c->cfg->model), "calls_before_cut", calls, "states",
                  (json_int_t)1, "cuts", (json_int_t)cut, "reproduce",
                  repro_text(c, cut, label, repro, sizeof(repro)), "also");
    json_array_append_new(c->findings, f);
}

static bool over_budget(struct crash *c)
{
    if (fl_trial_interrupted()) {
        c->interrupted = true;
        return true;
    }
    if ((c->cfg->budget_states && c->states_checked >= c->cfg->budget_states) ||
        (c->cfg->budget_ns && now_ns() - c->start_ns >= c->cfg->budget_ns)) {
        c->budget_hit = true;
        return true;
    }
    return false;
}

/* One state being checked: built into its own directory by the main thread (the library is
 * not shared between threads), checked by a worker, judged in order by the main thread. */
struct state_job {
    struct crash *c;
    const struct fl_crash_state *st;
    size_t cut;
    char dir[PATH_MAX], out[PATH_MAX];
    char out_var[PATH_MAX + 24], cut_var[48], state_var[600];
    int status;
    bool nomem;
    char output[FL_TRIAL_OUTPUT_MAX];
};

/* Build the state and what the check reads as what had been printed before the cut. */
static int prepare_state(struct crash *c, struct fl_crashfs *fs, const struct fl_crash_state *st,
                         size_t cut, const char *stdout_path, unsigned slot,
                         struct state_job *job, struct fl_err *err)
{
    memset(job, 0, sizeof(*job));
    job->c = c;
    job->st = st;
    job->cut = cut;
    if (c->cfg->keep_dir)
        snprintf(job->dir, sizeof(job->dir), "%s/cut-%zu-%zu", c->cfg->keep_dir, cut,
                 c->states_checked);
    else
        snprintf(job->dir, sizeof(job->dir), "%s/state-%u", c->states_root, slot);
    snprintf(job->out, sizeof(job->out), "%s/state-%u.stdout", c->root, slot);
    c->states_checked++;
    if (mkdir(job->dir, 0700) < 0)
        return fl_err_set(err, errno, "%s: %s", job->dir, strerror(errno));
    int rc = fl_crashfs_materialize(fs, st, job->dir, err);
    if (rc == 0 && stdout_prefix(stdout_path, job->out, fl_crash_state_stdout_bytes(st)) < 0)
        rc = fl_err_set(err, EIO, "%s: cannot write the stdout before the cut", job->out);
    snprintf(job->out_var, sizeof(job->out_var), "FAULTLINE_STDOUT=%s", job->out);
    snprintf(job->cut_var, sizeof(job->cut_var), "FAULTLINE_CUT=%zu", cut);
    snprintf(job->state_var, sizeof(job->state_var), "FAULTLINE_STATE=%s",
             fl_crash_state_label(st));
    return rc;
}

static void *check_job(void *arg)
{
    struct state_job *job = arg;
    char *extra[] = {job->out_var, job->cut_var, job->state_var, NULL};
    job->nomem = fl_trial_check(&job->c->env, job->dir, extra, &job->status, job->output,
                                sizeof(job->output)) < 0;
    return NULL;
}

static void discard_job(struct state_job *job)
{
    if (!job->c->cfg->keep_dir)
        fl_remove_tree(job->dir);
    unlink(job->out);
}

/* What one checked state says; < 0 stops the exploration. */
static int judge_state(struct crash *c, struct fl_crashfs *fs, struct state_job *job,
                       struct fl_err *err)
{
    if (job->nomem)
        return fl_err_set(err, ENOMEM, "out of memory");
    if (fl_trial_interrupted()) {
        /* the check was killed, not failed: its status says nothing about the state */
        c->interrupted = true;
        return 1;
    }
    if (job->status == 0)
        return 0;
    if (job->cut == 0 && !fl_crash_state_loses(job->st)) {
        /* the directory before CMD ran: a check that rejects it cannot judge a crash */
        char tail[400];
        c->rc = FL_EXIT_NORESOURCE;
        return fl_err_set(err, EINVAL, "the check fails (status %d) on the directory as it "
                          "was before CMD ran (cut 0): it must accept every state the "
                          "program could have started from%s", job->status,
                          said(job->output, tail, sizeof(tail)));
    }
    record_failure(c, fs, job->st, job->cut, fl_crash_state_label(job->st), job->status,
                   job->output);
    return 0;
}

/* Check the n prepared states at once, then judge them in the order they were made, so
 * the findings and their first cut are the same whatever -j is. Returns < 0 on an error, 1
 * when interrupted, else 0. */
static int run_batch(struct crash *c, struct fl_crashfs *fs, struct state_job *jobs, size_t n,
                     struct fl_err *err)
{
    pthread_t tid[256];
    bool started[256] = {false};
    for (size_t i = 1; i < n; i++)
        started[i] = pthread_create(&tid[i], NULL, check_job, &jobs[i]) == 0;
    if (n)
        check_job(&jobs[0]);
    for (size_t i = 1; i < n; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            check_job(&jobs[i]);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = judge_state(c, fs, &jobs[i], err);
        discard_job(&jobs[i]);
    }
    return rc;
}

/* Bytes under dir (regular files' sizes), to know whether a state fits in memory. */
static uint64_t tree_bytes(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[PATH_MAX];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 64)
            total += tree_bytes(p, depth + 1);
        else if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* States are built and removed by the hundred: on ext4 each file created right after others
 * were deleted costs a scan of the inode bitmaps (recently_deleted), most of a state's time.
 * /dev/shm has no such cost, so states go there when a state fits in a quarter of its free
 * space; otherwise beside the trial directory. */
static void pick_states_root(struct crash *c, const char *dir)
{
    snprintf(c->states_root, sizeof(c->states_root), "%s", c->root);
    struct statvfs vfs;
    if (statvfs("/dev/shm", &vfs) < 0 || access("/dev/shm", W_OK) < 0)
        return;
    uint64_t need = tree_bytes(dir, 0) + tree_bytes(c->snap, 0) + (1u << 20);
    if ((uint64_t)vfs.f_bavail * vfs.f_frsize / 4 < need)
        return;
    char made[] = "/dev/shm/faultline-crash-XXXXXX";
    if (mkdtemp(made))
        snprintf(c->states_root, sizeof(c->states_root), "%s", made);
}

static int explore(struct crash *c, const char *dir, const char *stdout_path, struct fl_err *err)
{
    const struct crash_config *cfg = c->cfg;
    mark_final_stdout(c->log_path, stdout_path);
    struct fl_crashlog log;
    int rc = fl_crashlog_open(&log, c->log_path, err);
    if (rc < 0)
        return rc;
    struct fl_crashfs_limits lim;
    fl_crashfs_default_limits(&lim);
    if (cfg->max_states)
        lim.max_states = cfg->max_states;
    struct fl_crashfs *fs = NULL;
    rc = fl_crashfs_open(&fs, c->snap, &log, cfg->model, &lim, err);
    if (rc == -EBADMSG)
        fl_err_prefix(err, "the recorder missed a call (its log does not fit the directory as "
                      "it was before CMD ran), so no crash state built from it could be trusted");
    if (rc == 0 && (rc = fl_crashfs_verify(fs, dir, err)) < 0)
        fl_err_prefix(err, "the recorder missed a call (a raw syscall, io_uring, or a process it "
                      "does not follow changed the directory), so no crash state built from its "
                      "log could be trusted");
    if (rc < 0)
        goto out;
    c->events = fl_crashfs_event_count(fs);
    for (size_t i = 0; i < c->events; i++) {
        char line[512];
        fl_crash_event_format(fl_crashfs_event(fs, i), line, sizeof(line));
        json_array_append_new(c->calls, json_string(line));
    }
    pick_states_root(c, dir);
    struct digests seen = {0};
    size_t first = cfg->cut >= 0 ? (size_t)cfg->cut : 0;
    size_t last = cfg->cut >= 0 ? (size_t)cfg->cut : c->events;
    if (first > c->events) {
        rc = fl_err_set(err, EINVAL, "--cut %zu: the run made %zu calls (cut points 0..%zu)",
                        first, c->events, c->events);
        goto out_seen;
    }
    bool tty = isatty(2) && fl_log_get_level() >= FL_LOG_NOTICE;
    unsigned jobs_max = cfg->jobs ? cfg->jobs : 1;
    struct state_job *jobs = calloc(jobs_max, sizeof(*jobs));
    /* the sets whose states are in the batch: freed once it has been judged */
    struct fl_crash_states **held = calloc(jobs_max + 1, sizeof(*held));
    size_t batched = 0, nheld = 0;
    if (!jobs || !held) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out_jobs;
    }
    for (size_t cut = first; cut <= last && !over_budget(c); cut++) {
        struct fl_crash_states *set = NULL;
        if ((rc = fl_crashfs_states(fs, cut, &set, err)) < 0)
            break;
        c->states_skipped += fl_crash_states_skipped(set);
        bool in_batch = false;
        for (size_t k = 0; k < fl_crash_states_count(set) && !over_budget(c); k++) {
            const struct fl_crash_state *st = fl_crash_states_get(set, k);
            const char *label = fl_crash_state_label(st);
            if (cfg->state_label && strcmp(cfg->state_label, label) != 0)
                continue;
            uint64_t d;
            if (fl_crashfs_digest(fs, st, &d) == 0 && digest_seen(&seen, d))
                continue;
            c->states_distinct++;
            rc = prepare_state(c, fs, st, cut, stdout_path, (unsigned)batched, &jobs[batched],
                               err);
            batched++;
            in_batch = true;
            if (rc < 0 || batched == jobs_max) {
                if (rc < 0) {
                    /* the one that failed is not checked; the others are judged first */
                    discard_job(&jobs[--batched]);
                }
                int br = run_batch(c, fs, jobs, batched, err);
                batched = 0;
                in_batch = false;
                for (size_t h = 0; h < nheld; h++)
                    fl_crash_states_free(held[h]);
                nheld = 0;
                if (rc == 0)
                    rc = br < 0 ? br : 0;
                if (rc < 0 || br == 1)
                    break;
            }
        }
        if (in_batch)
            held[nheld++] = set; /* its states wait in the batch */
        else
            fl_crash_states_free(set);
        c->cuts_done++;
        if (rc < 0 || c->interrupted)
            break;
        if (tty)
            fprintf(stderr, "\r  cut %zu/%zu  %zu states checked  %zu finding%s ", cut, last,
                    c->states_checked, json_array_size(c->findings),
                    json_array_size(c->findings) == 1 ? "" : "s");
    }
    if (batched) {
        int br = run_batch(c, fs, jobs, batched, err);
        if (rc == 0 && br < 0)
            rc = br;
    }
    for (size_t h = 0; h < nheld; h++)
        fl_crash_states_free(held[h]);
out_jobs:
    free(jobs);
    free(held);
    if (tty)
        fprintf(stderr, "\r%70s\r", "");
    if (cfg->state_label && c->states_checked == 0 && rc == 0 && !c->interrupted) {
        /* a reproduce line that finds no state must not read as a pass */
        rc = fl_err_set(err, ENOENT, "--state %s: no such state%s in this run (the program's "
                        "calls differ from the run that printed it?)", cfg->state_label,
                        cfg->cut >= 0 ? " at that cut" : "");
        c->rc = FL_EXIT_NORESOURCE;
    }
out_seen:
    free(seen.v);
out:
    fl_crashfs_free(fs);
    fl_crashlog_close(&log);
    return rc;
}

static int after_check(void *ctx, const char *dir, const char *stdout_path,
                       const struct fl_trial_result *res, struct fl_err *err)
{
    struct crash *c = ctx;
    if (res->interrupted) {
        c->interrupted = true;
        return 0;
    }
    if (res->escaped) {
        c->rc = FL_EXIT_NORESOURCE;
        return fl_err_set(err, EINVAL, "CMD daemonized: it exited (status %d) and left %u "
                          "process%s running (pid %d, now killed), "
                          "so the run was not over when it was judged; crash needs a program "
                          "that stays in the foreground (its --foreground or -f option?)",
                          res->status, res->escaped, res->escaped == 1 ? "" : "es",
                          res->escaped_pid);
    }
    char tail[400];
    if (res->exec_failed || res->status != 0) {
        c->rc = FL_EXIT_NORESOURCE;
        return fl_err_set(err, EINVAL, "CMD exits with status %d without any crash (it must "
                          "succeed for its crash states to mean anything)%s", res->status,
                          said(res->target_stderr, tail, sizeof(tail)));
    }
    if (res->check_status != 0) {
        c->rc = FL_EXIT_NORESOURCE;
        return fl_err_set(err, EINVAL, "the check fails (status %d) on what CMD left without "
                          "any crash: fix the check or the program first%s",
                          res->check_status, said(res->check_output, tail, sizeof(tail)));
    }
    int rc = explore(c, dir, stdout_path, err);
    if (rc < 0 && !c->rc)
        c->rc = FL_EXIT_NORESOURCE;
    return rc;
}

/* ---- reports ------------------------------------------------------------------------------- */

static void print_results(const struct crash *c, double elapsed, FILE *out)
{
    size_t nf = json_array_size(c->findings);
    fprintf(out, "crash: %zu recorded call%s, %zu cut point%s, %zu distinct state%s checked "
            "under %s in %.2fs%s\n", c->events, c->events == 1 ? "" : "s", c->cuts_done,
            c->cuts_done == 1 ? "" : "s", c->states_distinct, c->states_distinct == 1 ? "" : "s",
            fl_crash_model_name(c->cfg->model), elapsed,
            c->budget_hit ? " (budget reached)" : c->interrupted ? " (interrupted)" : "");
    if (c->states_skipped)
        fprintf(out, "  %zu more states were over --max-states and not built\n",
                c->states_skipped);
    if (!nf) {
        fprintf(out, "no crash state fails the check\n");
        return;
    }
    size_t i;
    json_t *f;
    json_array_foreach(c->findings, i, f) {
        json_int_t states = json_integer_value(json_object_get(f, "states"));
        fprintf(out, "\nFAIL %s: cut %" JSON_INTEGER_FORMAT ", state %s", json_string_value(
                    json_object_get(f, "pattern")), json_integer_value(json_object_get(f, "cut")),
                json_string_value(json_object_get(f, "state")));
        if (states > 1)
            fprintf(out, " (and %" JSON_INTEGER_FORMAT " more state%s at %zu cut%s)", states - 1,
                    states == 2 ? "" : "s", json_array_size(json_object_get(f, "cuts")),
                    json_array_size(json_object_get(f, "cuts")) == 1 ? "" : "s");
        fprintf(out, "\n  %s\n", json_string_value(json_object_get(f, "explanation")));
        fprintf(out, "  calls before the cut (x: did not reach the disk):\n");
        size_t k;
        json_t *call;
        json_array_foreach(json_object_get(f, "calls_before_cut"), k, call)
            fprintf(out, "    %c %4" JSON_INTEGER_FORMAT "  %s\n",
                    json_is_true(json_object_get(call, "lost")) ? 'x' : ' ',
                    json_integer_value(json_object_get(call, "index")),
                    json_string_value(json_object_get(call, "call")));
        const char *said = json_string_value(json_object_get(f, "check_output"));
        if (said && *said) {
            char first[300];
            snprintf(first, sizeof(first), "%s", said);
            first[strcspn(first, "\n")] = '\0';
            fprintf(out, "  the check said: %s\n", first);
        }
        fprintf(out, "  reproduce: %s\n", json_string_value(json_object_get(f, "reproduce")));
    }
    fprintf(out, "\n%zu finding%s\n", nf, nf == 1 ? "" : "s");
}

static json_t *report_json(const struct crash *c, double elapsed)
{
    json_t *argv = json_array();
    for (char **a = c->cfg->argv; *a; a++)
        json_array_append_new(argv, json_string(*a));
    return json_pack("{s:s,s:i,s:o,s:s,s:s?,s:I,s:I,s:I,s:I,s:f,s:b,s:b,s:O,s:O}", "kind",
                     "crash", "version", 1, "command", argv, "model",
                     fl_crash_model_name(c->cfg->model), "check", c->cfg->check_text, "calls",
                     (json_int_t)c->events, "cuts", (json_int_t)c->cuts_done, "states_checked",
                     (json_int_t)c->states_distinct, "states_over_cap",
                     (json_int_t)c->states_skipped, "seconds", elapsed, "interrupted",
                     c->interrupted, "budget_reached", c->budget_hit, "findings", c->findings,
                     "recorded_calls", c->calls);
}

/* ---- the command --------------------------------------------------------------------------- */

int cmd_crash(int argc, char **argv)
{
    struct crash_config cfg = {.cut = -1};
    int rc = parse_crash(argc, argv, &cfg);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out_cfg;
    }
    if (!cfg.jobs)
        cfg.jobs = fl_discovery_default_jobs();
    char recorder[PATH_MAX];
    if (fl_find_recorder(recorder, sizeof(recorder), false) < 0) {
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    struct crash *c = calloc(1, sizeof(*c));
    if (!c || fl_discovery_root("crash", c->root, sizeof(c->root)) < 0) {
        fl_errorf("crash: cannot make a scratch directory: %s", strerror(errno));
        free(c);
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    c->cfg = &cfg;
    c->findings = json_array();
    c->calls = json_array();
    snprintf(c->snap, sizeof(c->snap), "%s/snapshot", c->root);
    snprintf(c->log_path, sizeof(c->log_path), "%s/events.log", c->root);
    char log_var[PATH_MAX + 32], root_var[PATH_MAX + 32], exe_var[FL_EXE_MAX + 32];
    snprintf(log_var, sizeof(log_var), "FAULTLINE_CRASH_LOG=%s", c->log_path);
    /* fl_trial_run makes its directory as root/t0 */
    snprintf(root_var, sizeof(root_var), "FAULTLINE_CRASH_ROOT=%s/t0", c->root);
    snprintf(exe_var, sizeof(exe_var), "FAULTLINE_CRASH_EXE=%s", cfg.exe ? cfg.exe : "");
    char *target_extra[] = {log_var, root_var, cfg.exe ? exe_var : NULL, NULL};
    c->env = (struct fl_trial_env){
        .argv = cfg.argv, .setup = cfg.setup, .check = cfg.check, .teardown = cfg.teardown,
        .template_dir = cfg.template_dir, .root = c->root, .preload = recorder,
        .base_env = fl_clean_environ(),
        .timeout_ns = cfg.timeout_ns ? cfg.timeout_ns : 60 * FL_NS_PER_SEC,
        .target_extra_env = target_extra, .before_target = before_target,
        .after_check = after_check, .ctx = c, .find_escaped = true,
    };
    {
        unsigned char head[FL_CRASHLOG_HEADER_SIZE];
        size_t n = fl_crashlog_format_header(head, sizeof(head));
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, head, n) != (ssize_t)n) {
            fl_errorf("crash: %s: cannot write the event log: %s", c->log_path, strerror(errno));
            rc = FL_EXIT_USAGE;
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
    }

    pthread_t watcher;
    fl_discovery_signals_start(&watcher);

    c->start_ns = now_ns();
    struct fl_trial_result *res = calloc(1, sizeof(*res));
    struct fl_err err = {""};
    int tr = res ? fl_trial_run(&c->env, NULL, NULL, 0, res, &err) : -ENOMEM;
    double elapsed = (double)(now_ns() - c->start_ns) / 1e9;
    if (res && res->setup_failed) {
        char tail[400];
        fl_errorf("--setup failed (status %d)%s", res->hook_status,
                  said(res->check_output, tail, sizeof(tail)));
        rc = FL_EXIT_NORESOURCE;
    } else if (res && res->exec_failed) {
        fl_errorf("crash: cannot run '%s': %s", cfg.argv[0], strerror(res->exec_errno));
        rc = FL_EXIT_NORESOURCE;
    } else if (tr < 0) {
        fl_errorf("crash: %s", err.msg);
        rc = c->rc ? c->rc : FL_EXIT_NORESOURCE;
    } else {
        if (c->interrupted || fl_trial_interrupted())
            c->interrupted = true;
        /* --json -: stdout is the JSON alone (for a pipe into jq), the report goes to stderr */
        bool json_out = cfg.json_path && strcmp(cfg.json_path, "-") == 0;
        if (fl_log_get_level() >= FL_LOG_WARN)
            print_results(c, elapsed, json_out ? stderr : stdout);
        if (cfg.json_path) {
            json_t *j = report_json(c, elapsed);
            int flags = JSON_INDENT(2) | JSON_SORT_KEYS;
            int w = strcmp(cfg.json_path, "-") == 0 ? json_dumpf(j, stdout, flags)
                                                     : json_dump_file(j, cfg.json_path, flags);
            if (w < 0)
                fl_errorf("--json %s: cannot write: %s", cfg.json_path, strerror(errno));
            json_decref(j);
        }
        rc = c->interrupted ? 130 : json_array_size(c->findings) ? FL_EXIT_FAILED : FL_EXIT_OK;
    }
    if (fl_trial_interrupted())
        rc = 130;
    free(res);
    fl_discovery_signals_stop(watcher);
out:
    if (c->states_root[0] && strcmp(c->states_root, c->root) != 0)
        fl_remove_tree(c->states_root);
    fl_remove_tree(c->root);
    fl_free_words(c->env.base_env);
    json_decref(c->findings);
    json_decref(c->calls);
    free(c);
out_cfg:
    fl_free_words(cfg.setup);
    fl_free_words(cfg.check);
    fl_free_words(cfg.teardown);
    free(cfg.setup_text);
    free(cfg.check_text);
    free(cfg.teardown_text);
    return rc;
}
