/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `faultline run` (experiments: load every file first, then run them one by one
 * with a live view, then write the reports) and `faultline validate` (load only).
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "err.h"
#include "experiment.h"
#include "fl_config.h"
#include "journal.h"
#include "log.h"
#include "prng.h"
#include "report.h"
#include "runner.h"
#include "units.h"

#define MAX_FILES 4096
#define MAX_THRESHOLDS 32

static const char run_help[] =
    "usage: faultline run [OPTIONS] PATH...\n"
    "Run experiments (files, or directories of *.yaml, *.yml, *.json, not looking into\n"
    "directories named fixtures) one after another:\n"
    "start the target, check the steady state, inject, probe, verify, roll back, and give\n"
    "each a verdict: PASS FAIL XFAIL XPASS ERROR SKIP. Reference: docs/experiments.md.\n"
    "\n"
    "  --filter GLOB        only experiments whose id, title, category or a tag matches\n"
    "  --seed N             the seed for every random choice (printed; replays a run)\n"
    "  --strict             an XPASS (a known gap that passed) fails the run too\n"
    "  --threshold CAT=P    the share of CAT's experiments that must pass (storage=90%);\n"
    "                       repeatable; a missed threshold fails the run\n"
    "  --json FILE          everything, with every sample (docs/results-format.md)\n"
    "  --junit FILE         JUnit XML for CI\n"
    "  --markdown FILE      a scorecard by category, gaps and recommendations\n"
    "  --html FILE          one self-contained page with a timeline chart per experiment\n"
    "  --history FILE       record the run in this SQLite history (default: the state\n"
    "                       directory's history.sqlite); --no-history: do not record\n"
    "  --dry-run            print the plan of each experiment and stop\n"
    "  --keep               keep each experiment's work directory\n"
    "  --state-dir DIR      journal directory (default $FAULTLINE_STATE_DIR, XDG state)\n"
    "  -q, -v               less or more output\n"
    "\n"
    "Exit status: 0 all passed (XFAIL and SKIP count as passed), 1 a FAIL or ERROR (or\n"
    "XPASS with --strict, or a missed threshold), 2 a file that does not load, 3 missing\n"
    "resource, 130 interrupted (everything applied was rolled back).\n";

static const char validate_help[] =
    "usage: faultline validate PATH...\n"
    "Load and check experiment files without running anything: every error is one line\n"
    "naming FILE:LINE:COL and what was expected. Exit status 0 if all are valid, else 2.\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) { interrupted = sig; }

struct files {
    char *paths[MAX_FILES];
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_experiment_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' &&
           ((n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
            (n > 5 && !strcmp(name + n - 5, ".json")));
}

static int collect(const char *path, struct files *f, int depth)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fl_errorf("%s: %s", path, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (f->n >= MAX_FILES)
            return fl_usage_error("more than %d experiment files", MAX_FILES), -E2BIG;
        f->paths[f->n++] = strdup(path);
        return 0;
    }
    if (depth > 16)
        return 0;
    DIR *d = opendir(path);
    if (!d) {
        fl_errorf("%s: %s", path, strerror(errno));
        return -errno;
    }
    size_t first = f->n;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        struct stat sst;
        if (stat(sub, &sst) < 0)
            continue;
        /* fixtures are the experiments' data, often JSON: never experiments */
        if (S_ISDIR(sst.st_mode) && strcmp(de->d_name, "fixtures") != 0)
            rc = collect(sub, f, depth + 1);
        else if (S_ISDIR(sst.st_mode))
            continue;
        else if (is_experiment_name(de->d_name)) {
            if (f->n >= MAX_FILES)
                rc = -E2BIG;
            else
                f->paths[f->n++] = strdup(sub);
        }
    }
    closedir(d);
    /* sorted, so that a suite runs in the same order everywhere */
    qsort(f->paths + first, f->n - first, sizeof(char *), cmp_str);
    return rc;
}

static bool matches(const struct fl_experiment *e, const char *glob)
{
    if (!glob)
        return true;
    if (!fnmatch(glob, e->id, 0) || !fnmatch(glob, e->title, 0) ||
        !fnmatch(glob, e->category, 0))
        return true;
    size_t i;
    json_t *t;
    json_array_foreach(e->tags, i, t)
        if (!fnmatch(glob, json_string_value(t), 0))
            return true;
    return false;
}

/* Load every file; on the first that does not load, print its one-line error. */
static int load_all(struct files *f, struct fl_experiment **exps, size_t *n, bool keep_going)
{
    int bad = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct fl_err err = {""};
        if (fl_experiment_load(f->paths[i], &exps[*n], &err) < 0) {
            fl_errorf("%s", err.msg);
            bad++;
            if (!keep_going)
                return bad;
            continue;
        }
        (*n)++;
    }
    return bad;
}

int cmd_validate(int argc, char **argv)
{
    struct files *f = calloc(1, sizeof(*f));
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fl_print_help(validate_help);
            goto out;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            rc = fl_usage_error("validate: unknown option '%s'", argv[i]);
            goto out;
        }
        if (collect(argv[i], f, 0) < 0) {
            rc = FL_EXIT_USAGE;
            goto out;
        }
    }
    if (f->n == 0) {
        rc = fl_usage_error("validate: no experiment files given (PATH...)");
        goto out;
    }
    struct fl_experiment **exps = calloc(f->n, sizeof(*exps));
    size_t n = 0;
    int bad = load_all(f, exps, &n, true);
    for (size_t i = 0; i < n; i++) {
        printf("ok  %s: %s%s%s\n", exps[i]->path, exps[i]->title,
               exps[i]->skip_reason[0] ? " (would be skipped here: " : "",
               exps[i]->skip_reason[0] ? exps[i]->skip_reason : "");
        if (exps[i]->skip_reason[0])
            printf(")\n");
        fl_experiment_free(exps[i]);
    }
    free(exps);
    rc = bad ? FL_EXIT_USAGE : 0;
out:
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f);
    return rc;
}

/* ---- the live view ---- */

struct live {
    pthread_mutex_t lock;
    bool tty, color;
    size_t index, total;
    const char *id;
    char what[256];
    int64_t started_ns;
    bool running;
    pthread_t ticker;
    bool ticking;
};

static void draw(struct live *l)
{
    if (!l->tty || !l->running)
        return;
    char bar[32];
    size_t width = 20, done = l->total ? l->index * width / l->total : 0;
    for (size_t i = 0; i < width; i++)
        bar[i] = i < done ? '#' : '.';
    bar[width] = '\0';
    double secs = (double)(fl_mono_ns() - l->started_ns) / 1e9;
    fprintf(stderr, "\r\033[K[%zu/%zu] [%s] %s: %.60s  %.1fs", l->index + 1, l->total, bar,
            l->id, l->what, secs);
    fflush(stderr);
}

static void *ticker_main(void *arg)
{
    struct live *l = arg;
    for (;;) {
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&l->lock);
        bool go = l->ticking;
        if (go)
            draw(l);
        pthread_mutex_unlock(&l->lock);
        if (!go)
            return NULL;
    }
}

static void on_progress(void *arg, const struct fl_experiment *e, const char *what)
{
    struct live *l = arg;
    pthread_mutex_lock(&l->lock);
    snprintf(l->what, sizeof(l->what), "%s", what);
    if (!l->tty)
        fl_infof("%s: %s", e->id, what);
    draw(l);
    pthread_mutex_unlock(&l->lock);
}

static const char *verdict_color(const char *v)
{
    if (!strcmp(v, "PASS"))
        return "\033[32m";
    if (!strcmp(v, "FAIL") || !strcmp(v, "ERROR"))
        return "\033[31m";
    if (!strcmp(v, "XPASS"))
        return "\033[35m";
    return "\033[33m";
}

/* One line on what the faults did: how many windows took effect, and the first few effects
 * (those that never fired first, since they are what makes a result mean nothing). */
static void print_faults(const json_t *res)
{
    const json_t *faults = json_object_get(res, "faults");
    size_t n = 0, fired = 0, i;
    json_t *f;
    json_array_foreach(faults, i, f) {
        if (!json_is_integer(json_object_get(f, "fired")))
            continue;
        n++;
        fired += json_integer_value(json_object_get(f, "fired")) > 0;
    }
    if (!n)
        return;
    printf("      faults fired %zu/%zu", fired, n);
    size_t shown = 0;
    for (int pass = 0; pass < 2; pass++)
        json_array_foreach(faults, i, f) {
            json_t *k = json_object_get(f, "fired");
            if (!json_is_integer(k) || (json_integer_value(k) > 0) != (pass == 1))
                continue;
            if (shown < 3)
                printf("%s step %lld: %s%s", shown ? ";" : ":",
                       (long long)json_integer_value(json_object_get(f, "step")),
                       json_string_value(json_object_get(f, "effect")) ?: "?",
                       json_is_true(json_object_get(f, "may_not_fire")) ? " (may_not_fire)"
                                                                          : "");
            shown++;
        }
    if (shown > 3)
        printf("; and %zu more", shown - 3);
    printf("\n");
}

static void print_result(struct live *l, const json_t *res)
{
    const char *v = json_string_value(json_object_get(res, "verdict"));
    const char *why = json_string_value(json_object_get(res, "why"));
    pthread_mutex_lock(&l->lock);
    if (l->tty)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
    printf("%s%-5s%s %s: %s (%.1fs)%s%s\n", l->color ? verdict_color(v) : "", v,
           l->color ? "\033[0m" : "", json_string_value(json_object_get(res, "id")),
           json_string_value(json_object_get(res, "title")),
           (double)json_integer_value(json_object_get(res, "duration_ms")) / 1000.0,
           why && *why ? "\n      " : "", why ? why : "");
    print_faults(res);
    fflush(stdout);
    pthread_mutex_unlock(&l->lock);
}

/* ---- the suite document ---- */

struct threshold {
    char category[128];
    double share;
};

static json_t *summarize(json_t *experiments, const struct threshold *th, size_t n_th,
                         bool *threshold_missed)
{
    json_t *summary = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "total", 0, "pass", 0,
                                "fail", 0, "xfail", 0, "xpass", 0, "error", 0, "skip", 0);
    json_t *cats = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(experiments, i, x) {
        const char *v = json_string_value(json_object_get(x, "verdict"));
        char key[8];
        snprintf(key, sizeof(key), "%s", v);
        for (char *p = key; *p; p++)
            *p = (char)(*p | 0x20);
        json_object_set_new(summary, key,
                            json_integer(json_integer_value(json_object_get(summary, key)) + 1));
        json_object_set_new(summary, "total",
                            json_integer(json_integer_value(json_object_get(summary, "total")) +
                                         1));
        const char *cat = json_string_value(json_object_get(x, "category"));
        json_t *c = NULL, *y;
        size_t k;
        json_array_foreach(cats, k, y)
            if (!strcmp(json_string_value(json_object_get(y, "name")), cat))
                c = y;
        if (!c) {
            c = json_pack("{s:s, s:i, s:i, s:i}", "name", cat, "scenarios", 0, "tested", 0,
                          "protected", 0);
            json_array_append_new(cats, c);
        }
        bool tested = strcmp(v, "SKIP") && strcmp(v, "ERROR");
        bool protected_ = !strcmp(v, "PASS") || !strcmp(v, "XPASS");
        json_object_set_new(c, "scenarios",
                            json_integer(json_integer_value(json_object_get(c, "scenarios")) + 1));
        json_object_set_new(c, "tested", json_integer(json_integer_value(json_object_get(
                                                          c, "tested")) + tested));
        json_object_set_new(c, "protected", json_integer(json_integer_value(json_object_get(
                                                             c, "protected")) + protected_));
    }
    json_array_foreach(cats, i, x) {
        json_int_t tested = json_integer_value(json_object_get(x, "tested"));
        json_int_t prot = json_integer_value(json_object_get(x, "protected"));
        double score = tested ? (double)prot / (double)tested : 0;
        json_object_set_new(x, "score", tested ? json_real(score) : json_null());
        json_object_set_new(x, "threshold", json_null());
        json_object_set_new(x, "met", json_null());
        for (size_t t = 0; t < n_th; t++) {
            if (strcmp(th[t].category, json_string_value(json_object_get(x, "name"))))
                continue;
            bool met = tested && score + 1e-9 >= th[t].share;
            json_object_set_new(x, "threshold", json_real(th[t].share));
            json_object_set_new(x, "met", json_boolean(met));
            if (!met)
                *threshold_missed = true;
        }
    }
    return json_pack("{s:o, s:o}", "summary", summary, "categories", cats);
}

enum {
    OPT_FILTER = 0x2000,
    OPT_SEED,
    OPT_STRICT,
    OPT_THRESHOLD,
    OPT_HISTORY,
    OPT_NO_HISTORY,
    OPT_DRY_RUN,
    OPT_KEEP,
    OPT_REPORT, /* + index into fl_reports */
};

int cmd_run(int argc, char **argv)
{
    const char *filter = NULL, *history = NULL;
    bool strict = false, dry_run = false, keep = false, no_history = false, seed_given = false;
    uint64_t seed = 0;
    struct threshold th[MAX_THRESHOLDS];
    size_t n_th = 0;
    const char *report_paths[16] = {0};

    struct option opts[32] = {
        {"filter", required_argument, NULL, OPT_FILTER},
        {"seed", required_argument, NULL, OPT_SEED},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"history", required_argument, NULL, OPT_HISTORY},
        {"no-history", no_argument, NULL, OPT_NO_HISTORY},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"keep", no_argument, NULL, OPT_KEEP},
        FL_COMMON_LONG_OPTIONS,
    };
    size_t no = 12;
    for (size_t i = 0; i < fl_report_count && no < 30; i++)
        opts[no++] = (struct option){fl_reports[i]->name, required_argument, NULL,
                                     OPT_REPORT + (int)i};
    opts[no] = (struct option){0};

    int opt;
    optind = 1;
    struct fl_err err = {""};
    while ((opt = getopt_long(argc, argv, "+qvh", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_FILTER:
            filter = optarg;
            break;
        case OPT_SEED:
            if (fl_parse_u64(optarg, &seed, &err) < 0)
                return fl_usage_error("--seed: %s", err.msg);
            seed_given = true;
            break;
        case OPT_STRICT:
            strict = true;
            break;
        case OPT_THRESHOLD: {
            const char *eq = strrchr(optarg, '=');
            uint64_t ppm;
            bool pct;
            if (n_th >= MAX_THRESHOLDS)
                return fl_usage_error("--threshold: at most %d", MAX_THRESHOLDS);
            if (!eq || eq == optarg || fl_parse_size(eq + 1, true, &ppm, &pct, &err) < 0 ||
                !pct || ppm > 1000000)
                return fl_usage_error("--threshold: expected CATEGORY=PERCENT like "
                                      "storage=90%%, got '%s'", optarg);
            snprintf(th[n_th].category, sizeof(th[n_th].category), "%.*s",
                     (int)(eq - optarg), optarg);
            th[n_th++].share = (double)ppm / 1e6;
            break;
        }
        case OPT_HISTORY:
            history = optarg;
            break;
        case OPT_NO_HISTORY:
            no_history = true;
            break;
        case OPT_DRY_RUN:
            dry_run = true;
            break;
        case OPT_KEEP:
            keep = true;
            break;
        case 'h':
            fl_print_help(run_help);
            return 0;
        case '?':
            return fl_usage_error("run: unknown or incomplete option '%s' (try 'faultline help "
                                  "run')", argv[optind - 1]);
        default:
            if (opt >= OPT_REPORT && opt < OPT_REPORT + (int)fl_report_count) {
                report_paths[opt - OPT_REPORT] = optarg;
                break;
            }
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("run: unexpected option");
        }
    }
    if (optind >= argc)
        return fl_usage_error("run: no experiment given (faultline run PATH...)");

    struct files *f = calloc(1, sizeof(*f));
    struct fl_experiment **exps = NULL;
    size_t n = 0;
    int rc = 0;
    for (int i = optind; i < argc; i++)
        if (collect(argv[i], f, 0) < 0) {
            rc = FL_EXIT_USAGE;
            goto out;
        }
    if (f->n == 0) {
        rc = fl_usage_error("run: no *.yaml, *.yml or *.json experiments under the given "
                            "paths");
        goto out;
    }
    exps = calloc(f->n, sizeof(*exps));
    /* Every file is loaded before anything runs: a typo in the last file must not surface
     * after the first experiment already broke things. */
    if (load_all(f, exps, &n, false) > 0) {
        rc = FL_EXIT_USAGE;
        goto out;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (matches(exps[i], filter))
            exps[kept++] = exps[i];
        else
            fl_experiment_free(exps[i]);
    }
    n = kept;
    if (n == 0) {
        rc = fl_usage_error("run: --filter '%s' matched no experiment", filter);
        goto out;
    }
    if (!seed_given)
        seed = fl_seed_from_entropy() >> 1;
    if (dry_run) {
        for (size_t i = 0; i < n; i++) {
            fl_experiment_print_plan(exps[i], stdout);
            if (i + 1 < n)
                printf("\n");
        }
        goto out;
    }

    struct fl_journal journal;
    char state[PATH_MAX];
    if (fl_state_dir(arg_state_dir, state, sizeof(state), &err) < 0 ||
        fl_journal_open(&journal, state, &err) < 0) {
        fl_errorf("%s", err.msg);
        rc = FL_EXIT_NORESOURCE;
        goto out;
    }
    char preload[PATH_MAX], self[PATH_MAX];
    bool have_preload = fl_find_preload(preload, sizeof(preload), true) == 0;
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[sl > 0 ? sl : 0] = '\0';

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct live live = {.tty = isatty(2) && fl_log_get_level() >= FL_LOG_NOTICE,
                        .color = fl_color_for(1), .total = n};
    pthread_mutex_init(&live.lock, NULL);
    fl_noticef("seed %" PRIu64 " (replay with --seed %" PRIu64 "), %zu experiment%s", seed, seed,
               n, n == 1 ? "" : "s");
    if (live.tty) {
        live.ticking = true;
        if (pthread_create(&live.ticker, NULL, ticker_main, &live) != 0)
            live.ticking = false;
    }
    struct fl_run_opts ro = {.seed = seed, .strict = strict,
                             .preload = have_preload ? preload : NULL, .self_exe = self,
                             .keep = keep, .stop = &interrupted, .progress = on_progress,
                             .arg = &live};
    json_t *results = json_array();
    int64_t started = fl_wall_ms();
    for (size_t i = 0; i < n && !interrupted; i++) {
        pthread_mutex_lock(&live.lock);
        live.index = i;
        live.id = exps[i]->id;
        live.started_ns = fl_mono_ns();
        live.running = true;
        snprintf(live.what, sizeof(live.what), "starting");
        pthread_mutex_unlock(&live.lock);
        json_t *res = fl_run_experiment(exps[i], &journal, &ro);
        pthread_mutex_lock(&live.lock);
        live.running = false;
        pthread_mutex_unlock(&live.lock);
        if (!res)
            continue;
        print_result(&live, res);
        json_array_append_new(results, res);
    }
    if (live.ticking) {
        pthread_mutex_lock(&live.lock);
        live.ticking = false;
        pthread_mutex_unlock(&live.lock);
        pthread_join(live.ticker, NULL);
    }

    bool missed = false;
    json_t *sc = summarize(results, th, n_th, &missed);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    json_t *doc = json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:b, s:O, s:O, s:o}", "format", 1,
                            "faultline", FL_VERSION, "host", host, "seed", (json_int_t)seed,
                            "started_ms", (json_int_t)started, "finished_ms",
                            (json_int_t)fl_wall_ms(), "strict", strict, "summary",
                            json_object_get(sc, "summary"), "categories",
                            json_object_get(sc, "categories"), "experiments", results);
    json_decref(sc);
    if (interrupted)
        json_object_set_new(doc, "interrupted", json_string(sigabbrev_np(interrupted) ?: "?"));

    json_t *s = json_object_get(doc, "summary");
    long fails = (long)json_integer_value(json_object_get(s, "fail")),
         errors = (long)json_integer_value(json_object_get(s, "error")),
         xpass = (long)json_integer_value(json_object_get(s, "xpass"));
    printf("\n%lld experiments: %lld passed, %ld failed, %lld xfail, %ld xpass, %ld errors, "
           "%lld skipped (seed %" PRIu64 ")\n",
           (long long)json_integer_value(json_object_get(s, "total")),
           (long long)json_integer_value(json_object_get(s, "pass")), fails,
           (long long)json_integer_value(json_object_get(s, "xfail")), xpass, errors,
           (long long)json_integer_value(json_object_get(s, "skip")), seed);
    size_t ci;
    json_t *cat;
    json_array_foreach(json_object_get(doc, "categories"), ci, cat) {
        json_t *score = json_object_get(cat, "score");
        json_t *thr = json_object_get(cat, "threshold");
        printf("  %-24s %lld/%lld protected%s", json_string_value(json_object_get(cat, "name")),
               (long long)json_integer_value(json_object_get(cat, "protected")),
               (long long)json_integer_value(json_object_get(cat, "tested")),
               json_is_number(score) ? "" : " (nothing tested)");
        if (json_is_number(score))
            printf(" (%.0f%%)", json_number_value(score) * 100);
        if (json_is_number(thr))
            printf("  threshold %.0f%%: %s", json_number_value(thr) * 100,
                   json_is_true(json_object_get(cat, "met")) ? "met" : "MISSED");
        printf("\n");
    }

    for (size_t i = 0; i < fl_report_count; i++) {
        if (!report_paths[i])
            continue;
        if (fl_report_write(fl_reports[i], doc, report_paths[i], &err) < 0) {
            fl_errorf("--%s %s: %s", fl_reports[i]->name, report_paths[i], err.msg);
            rc = FL_EXIT_NORESOURCE;
        } else {
            fl_infof("%s report: %s", fl_reports[i]->name, report_paths[i]);
        }
    }
    if (!no_history) {
        char hpath[PATH_MAX + 32];
        if (history)
            snprintf(hpath, sizeof(hpath), "%s", history);
        else
            snprintf(hpath, sizeof(hpath), "%s/history.sqlite", state);
        if (fl_history_record(hpath, doc, &err) < 0)
            fl_warnf("history %s: %s", hpath, err.msg);
    }
    json_decref(doc);
    if (!rc) {
        if (interrupted)
            rc = 130;
        else if (fails || errors || (strict && xpass) || missed)
            rc = FL_EXIT_FAILED;
    }
out:
    for (size_t i = 0; i < n; i++)
        fl_experiment_free(exps[i]);
    free(exps);
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f);
    return rc;
}
