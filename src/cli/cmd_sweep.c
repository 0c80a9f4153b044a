/* SPDX-License-Identifier: MIT */
/*
 * cmd_sweep.c - `faultline sweep`: find how a program breaks, with no scenario written.
 *
 * Order of work: check the arguments; run the target twice with no fault while the preload
 * records its fault surface (the baseline: it must pass its check, or nothing a trial shows
 * would mean anything); turn every point of the surface into trials (one rule each: an effect
 * the call can really have, at an occurrence, or a signal at the call), most informative
 * first; run them on -j workers, each in a fresh directory; classify each run; keep a finding
 * only when a replay of its trial gives the same outcome; report.
 *
 * The outcome classes and their exact definitions are in docs/discovery.md; classify() below
 * is the one place they are decided.
 */
#include <errno.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "discover_args.h"
#include "ctlblock.h"
#include "err.h"
#include "fault.h"
#include "journal.h"
#include "log.h"
#include "ops.h"
#include "prng.h"
#include "report.h"
#include "rule.h"
#include "rutil.h"
#include "surface.h"
#include "trial.h"
#include "units.h"

static const char sweep_help[] =
    "usage: faultline sweep [options] -- CMD [ARGS...]\n"
    "\n"
    "Find where CMD is fragile: run it once without faults to record every libc call it makes\n"
    "(by call, file or peer, and call site), then once per call site and fault (errors the\n"
    "call can really return, short reads and writes, end of file, a silent peer, a kill at\n"
    "the call), each in a fresh directory, and report what broke, with the command that\n"
    "reproduces it. '{dir}' in CMD, ARGS and the hooks is the trial directory.\n"
    "\n"
    "  --dir TEMPLATE     copy TEMPLATE into each trial directory (default: start empty)\n"
    "  --setup CMD        run CMD in the trial directory first (no preload)\n"
    "  --check CMD        then run CMD there: nonzero means the program left a wrong state\n"
    "                     (env: FAULTLINE_STATUS, FAULTLINE_CPU_S, FAULTLINE_STDOUT,\n"
    "                     FAULTLINE_STDERR, FAULTLINE_TRIAL_DIR)\n"
    "  --teardown CMD     run CMD last, always\n"
    "                     (hook commands are split into words, '...' and \"...\" quote; no\n"
    "                     shell unless you write one: --check 'sh -c \"test -s out\"')\n"
    "  --exe GLOB         count and fault only processes whose executable matches GLOB\n"
    "  --timeout DUR      a trial still running after DUR is a hang (default: 10x the\n"
    "                     baseline's time, at least 3s)\n"
    "  --budget N|DUR     stop after N trials or DUR (most informative trials go first)\n"
    "  -j, --jobs N       trials at once (default: the number of CPUs)\n"
    "  --seed N           the seed of every trial (default: fresh, printed)\n"
    "  --system           also try calls on system files (/usr, /lib, /etc, /proc, /sys, /dev)\n"
    "  --surface          print the fault surface and stop\n"
    "  --json FILE        write the results as JSON ('-': stdout)\n"
    "  --resume           go on from where an interrupted sweep of the same command stopped\n"
    "  -q, --quiet        only the findings\n"
    "\n"
    "Exit status: 0 no finding, 1 findings, 2 usage or setup error, 3 the program fails\n"
    "without any fault (the baseline), 130 interrupted (a partial report is written).\n";

/* ---- configuration ------------------------------------------------------------------------ */

struct sweep_config {
    char **argv;
    const char *template_dir, *exe, *json_path;
    char **setup, **check, **teardown;
    int64_t timeout_ns;         /* 0: from the baseline */
    uint64_t budget_trials;     /* 0: no limit */
    int64_t budget_ns;          /* 0: no limit */
    unsigned jobs;
    uint64_t seed;
    bool seed_given, system_paths, surface_only, resume;
    char *setup_text, *check_text, *teardown_text; /* as given, for the report */
};

enum {
    OPT_BUDGET = FL_DOPT_END,
    OPT_SEED,
    OPT_SYSTEM,
    OPT_SURFACE,
    OPT_RESUME,
};

static const struct option sweep_options[] = {
    {"dir", required_argument, NULL, FL_DOPT_DIR},
    {"setup", required_argument, NULL, FL_DOPT_SETUP},
    {"check", required_argument, NULL, FL_DOPT_CHECK},
    {"teardown", required_argument, NULL, FL_DOPT_TEARDOWN},
    {"exe", required_argument, NULL, FL_DOPT_EXE},
    {"timeout", required_argument, NULL, FL_DOPT_TIMEOUT},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"jobs", required_argument, NULL, 'j'},
    {"seed", required_argument, NULL, OPT_SEED},
    {"system", no_argument, NULL, OPT_SYSTEM},
    {"surface", no_argument, NULL, OPT_SURFACE},
    {"json", required_argument, NULL, FL_DOPT_JSON},
    {"resume", no_argument, NULL, OPT_RESUME},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static int parse_sweep(int argc, char **argv, struct sweep_config *cfg)
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
    while ((opt = getopt_long(argc, argv, "+:j:qvh", sweep_options, NULL)) != -1) {
        switch (opt) {
        case OPT_BUDGET: {
            uint64_t n;
            if (fl_parse_u64(optarg, &n, NULL) == 0 && n > 0) {
                cfg->budget_trials = n;
            } else if (fl_parse_duration(optarg, false, &cfg->budget_ns, &err) < 0 ||
                       cfg->budget_ns <= 0) {
                return fl_usage_error("--budget: '%s' is neither a number of trials nor a "
                                      "duration (expected like 500 or 2m)", optarg);
            }
            break;
        }
        case OPT_SEED:
            if (fl_parse_u64(optarg, &cfg->seed, &err) < 0)
                return fl_usage_error("--seed: %s", err.msg);
            cfg->seed_given = true;
            break;
        case OPT_SYSTEM:
            cfg->system_paths = true;
            break;
        case OPT_SURFACE:
            cfg->surface_only = true;
            break;
        case OPT_RESUME:
            cfg->resume = true;
            break;
        case 'h':
            fl_print_help(sweep_help);
            return -1;
        case '?':
        case ':':
            return fl_discovery_bad_option("sweep", opt, argv);
        default:
            if ((rc = fl_discovery_option(opt, optarg, &shared)) != 0) {
                if (rc != 1)
                    return rc;
                break;
            }
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("sweep: unexpected option");
        }
    }
    char **hooks[] = {cfg->setup, cfg->check, cfg->teardown};
    return fl_discovery_args(argc, argv, optind, "sweep", &cfg->argv, hooks, cfg->template_dir);
}

/* ---- points ------------------------------------------------------------------------------- */

struct point {
    struct fl_surf_point p;     /* a copy, out of the table */
    bool unstable;              /* its count differed between the two baseline runs */
    char where[600];            /* its rule without occurrence and effect */
};

static bool system_path(const char *subject)
{
    static const char *const prefixes[] = {"/usr/", "/lib", "/etc/", "/proc/", "/sys/", "/dev/",
                                           "/bin/", "/sbin/", "/run/"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(subject, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static int cmp_points(const void *a, const void *b)
{
    uint64_t x = ((const struct point *)a)->p.first_seq, y = ((const struct point *)b)->p.first_seq;
    return x < y ? -1 : x > y;
}

/* The points of a finished surface run, sorted in program order. root: the sweep's scratch
 * directory, where each trial's stdout and stderr files are (the program's own output). */
static struct point *read_points(struct fl_surface_handle *sh, const char *root, size_t *n)
{
    struct fl_surface *s = sh->s;
    struct point *out = calloc(FL_SURF_POINTS_MAX, sizeof(*out));
    size_t k = 0, rl = strlen(root);
    for (size_t i = 0; out && i < FL_SURF_POINTS_MAX; i++) {
        struct fl_surf_point *p = &s->points[i];
        if (!atomic_load(&p->key) || !atomic_load(&p->ready))
            continue;
        memcpy(&out[k].p, p, sizeof(*p));
        struct fl_surf_point *q = &out[k].p;
        size_t sl = strlen(q->subject);
        if (q->subject_kind == FL_SURF_PATH_ABS && !strncmp(q->subject, root, rl) &&
            q->subject[rl] == '/' && sl > 4 &&
            (!strcmp(q->subject + sl - 4, ".out") || !strcmp(q->subject + sl - 4, ".err"))) {
            bool err_file = !strcmp(q->subject + sl - 4, ".err");
            q->subject_kind = FL_SURF_STDIO;
            snprintf(q->subject, sizeof(q->subject), "%s", err_file ? "stderr" : "stdout");
        }
        if (fl_surface_point_rule(p, out[k].where, sizeof(out[k].where)) < 0)
            continue;
        k++;
    }
    if (out)
        qsort(out, k, sizeof(*out), cmp_points);
    *n = k;
    return out;
}

/* A name that changes from run to run: a pid in a temp file's name (temp-4242.rdb), the
 * ephemeral port of a client a server accepted, a listening port picked at random. A rule
 * naming such a subject exactly matches nothing in any trial, so a point of the first run
 * with no twin in the second is paired by the subject's shape at the same call and site:
 * a path with each run of digits as '*', a peer or a listening socket without its port. */
static void subject_shape(const struct fl_surf_point *p, char *out, size_t len)
{
    char subject[FL_SURF_SUBJECT_MAX];
    memcpy(subject, p->subject, sizeof(subject));
    subject[sizeof(subject) - 1] = '\0';
    if (p->subject_kind == FL_SURF_PEER || p->subject_kind == FL_SURF_LISTEN) {
        const char *colon = strrchr(subject, ':');
        snprintf(out, len, "%.*s:*", colon ? (int)(colon - subject) : (int)strlen(subject),
                 subject);
        return;
    }
    size_t n = 0;
    bool paths = p->subject_kind == FL_SURF_PATH_REL || p->subject_kind == FL_SURF_PATH_ABS;
    for (const char *c = subject; *c && n + 1 < len; c++) {
        if (paths && *c >= '0' && *c <= '9') {
            out[n++] = '*';
            while (c[1] >= '0' && c[1] <= '9')
                c++;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}

/* Rewrite a point's rule to select its subject by shape (subject_shape): the path glob with
 * '*' for its digit runs, peer= without the port, no port= at all. False if the rule has no
 * subject to widen. */
static bool widen_rule(struct point *pt)
{
    char *w = pt->where, *val = NULL, *site = NULL;
    const struct fl_surf_point *p = &pt->p;
    const char *key = p->subject_kind == FL_SURF_PEER     ? ":peer="
                      : p->subject_kind == FL_SURF_LISTEN ? ":port="
                      : (p->subject_kind == FL_SURF_PATH_REL || p->subject_kind == FL_SURF_PATH_ABS)
                          ? ":path="
                          : NULL;
    if (!key || !(val = strstr(w, key)))
        return false;
    val += strlen(key);
    for (char *q = val; (q = strstr(q, ":site=")); q++)
        site = q;
    if (!site)
        return false;
    char out[sizeof(pt->where)];
    size_t n = (size_t)(val - w);
    memcpy(out, w, n);
    if (p->subject_kind == FL_SURF_LISTEN) {
        n -= strlen(key); /* the call site alone */
    } else if (p->subject_kind == FL_SURF_PEER) {
        char *colon = NULL;
        for (char *q = val; q < site; q++)
            if (*q == ':')
                colon = q;
        if (!colon)
            return false;
        memcpy(out + n, val, (size_t)(colon - val));
        n += (size_t)(colon - val);
    } else {
        for (char *q = val; q < site; q++) {
            if (*q >= '0' && *q <= '9') {
                out[n++] = '*';
                while (q + 1 < site && q[1] >= '0' && q[1] <= '9')
                    q++;
            } else {
                out[n++] = *q;
            }
        }
    }
    snprintf(out + n, sizeof(out) - n, "%s", site);
    memcpy(pt->where, out, sizeof(out));
    return true;
}

/* A name with a random part that is not digits (mkstemp's "tmpXa3Rb2", a hex suffix): the
 * two runs' names, split into runs of letters, digits and '_' ("tokens") and what separates
 * them, have the same separators and as many tokens, and differ only in some tokens. mask
 * gets a bit per differing token, counted from the end (the rule's path ends with the
 * subject, so the tokens line up from there). False when the names differ otherwise. */
static bool is_token_char(char c)
{
    /* '_' too: Python's tempfile draws its names from [a-z0-9_] */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '_';
}

static size_t tokens_of(const char *s, const char *tok[64], size_t len[64], const char *sep[65],
                        size_t seplen[65])
{
    size_t n = 0;
    const char *c = s;
    for (;;) {
        const char *from = c;
        while (*c && !is_token_char(*c))
            c++;
        if (n < 65) {
            sep[n] = from;
            seplen[n] = (size_t)(c - from);
        }
        if (!*c || n == 64)
            return n;
        tok[n] = c;
        while (*c && is_token_char(*c))
            c++;
        len[n] = (size_t)(c - tok[n]);
        n++;
    }
}

static bool token_twins(const char *a, const char *b, uint64_t *mask)
{
    const char *ta[64], *tb[64], *sa[65], *sb[65];
    size_t la[64], lb[64], sla[65], slb[65];
    size_t n = tokens_of(a, ta, la, sa, sla), m = tokens_of(b, tb, lb, sb, slb);
    if (n != m || n == 0 || n == 64)
        return false;
    *mask = 0;
    for (size_t i = 0; i <= n; i++)
        if (sla[i] != slb[i] || memcmp(sa[i], sb[i], sla[i]))
            return false;
    for (size_t i = 0; i < n; i++)
        if (la[i] != lb[i] || memcmp(ta[i], tb[i], la[i]))
            *mask |= UINT64_C(1) << (n - 1 - i);
    /* a name that is all random is no shape: it would match every file */
    return *mask && *mask != (UINT64_C(1) << n) - 1;
}

/* text with the tokens mask names (counted from the end) as '*', into out */
static void glob_tokens(const char *text, size_t text_len, uint64_t mask, char *out, size_t cap)
{
    size_t count = 0;
    for (size_t i = 0; i < text_len; i++)
        if (is_token_char(text[i]) && (i == 0 || !is_token_char(text[i - 1])))
            count++;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < text_len && n + 1 < cap;) {
        if (is_token_char(text[i]) && (i == 0 || !is_token_char(text[i - 1]))) {
            size_t from_end = count - 1 - k++;
            size_t j = i;
            while (j < text_len && is_token_char(text[j]))
                j++;
            if (from_end < 64 && (mask >> from_end & 1)) {
                out[n++] = '*';
            } else {
                for (size_t q = i; q < j && n + 1 < cap; q++)
                    out[n++] = text[q];
            }
            i = j;
        } else {
            out[n++] = text[i++];
        }
    }
    out[n] = '\0';
}

/* widen_rule for a token shape: the path's differing tokens as '*' */
static bool widen_rule_tokens(struct point *pt, uint64_t mask)
{
    char *w = pt->where, *val = strstr(w, ":path="), *site = NULL;
    if (!val)
        return false;
    val += strlen(":path=");
    for (char *q = val; (q = strstr(q, ":site=")); q++)
        site = q;
    if (!site)
        return false;
    char out[sizeof(pt->where)], glob[sizeof(pt->where)];
    glob_tokens(val, (size_t)(site - val), mask, glob, sizeof(glob));
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(val - w), w, glob, site);
    memcpy(pt->where, out, sizeof(out));
    return true;
}

/* Pair the first baseline run's points with the second's. A point whose count differs is
 * unstable (only its first call is tried); one whose subject changed between the runs
 * (subject_shape) is named by shape from then on, and the first run's points that share
 * the shape become one. Returns how many points are unstable. */
static size_t pair_runs(struct point *a, size_t *na, const struct point *b, size_t nb)
{
    size_t varies = 0, k = 0;
    char sa[FL_SURF_SUBJECT_MAX], sb[FL_SURF_SUBJECT_MAX];
    for (size_t i = 0; i < *na; i++) {
        struct point *pt = &a[i];
        bool exact = false, same = false;
        for (size_t j = 0; j < nb && !exact; j++)
            if (b[j].p.site == pt->p.site && !strcmp(b[j].p.call, pt->p.call) &&
                !strcmp(b[j].p.subject, pt->p.subject)) {
                exact = true;
                same = b[j].p.count == pt->p.count;
            }
        if (!exact) {
            uint64_t in_b = 0, mask = 0;
            bool twin = false, widened = false;
            bool paths = pt->p.subject_kind == FL_SURF_PATH_REL ||
                         pt->p.subject_kind == FL_SURF_PATH_ABS;
            /* a path: the tokens that differ between the runs (a pid, mkstemp's letters) */
            for (size_t j = 0; j < nb && !twin && paths; j++) {
                if (b[j].p.site != pt->p.site || strcmp(b[j].p.call, pt->p.call) ||
                    b[j].p.subject_kind != pt->p.subject_kind ||
                    !token_twins(pt->p.subject, b[j].p.subject, &mask))
                    continue;
                glob_tokens(pt->p.subject, strlen(pt->p.subject), mask, sa, sizeof(sa));
                twin = true;
                for (size_t q = 0; q < nb; q++) {
                    uint64_t mq;
                    if (b[q].p.site == pt->p.site && !strcmp(b[q].p.call, pt->p.call) &&
                        b[q].p.subject_kind == pt->p.subject_kind &&
                        token_twins(pt->p.subject, b[q].p.subject, &mq) && mq == mask)
                        in_b += b[q].p.count;
                }
                widened = widen_rule_tokens(pt, mask);
            }
            /* else by shape: digit runs as '*', a peer without its port */
            if (!twin) {
                subject_shape(&pt->p, sa, sizeof(sa));
                for (size_t j = 0; j < nb; j++) {
                    if (b[j].p.site != pt->p.site || strcmp(b[j].p.call, pt->p.call) ||
                        b[j].p.subject_kind != pt->p.subject_kind)
                        continue;
                    subject_shape(&b[j].p, sb, sizeof(sb));
                    if (!strcmp(sa, sb)) {
                        twin = true;
                        in_b += b[j].p.count;
                    }
                }
                widened = twin && widen_rule(pt);
            }
            if (twin && widened) {
                /* one point per shape: an earlier one of this run takes this one's calls */
                struct point *first = NULL;
                for (size_t m = 0; m < k && !first; m++)
                    if (!strcmp(a[m].where, pt->where))
                        first = &a[m];
                snprintf(pt->p.subject, sizeof(pt->p.subject), "%s", sa);
                if (first) {
                    first->p.count += pt->p.count;
                    first->unstable = first->p.count != in_b;
                    continue;
                }
                same = pt->p.count == in_b;
            }
        }
        pt->unstable = !same;
        if (k != i)
            a[k] = *pt;
        k++;
    }
    *na = k;
    for (size_t i = 0; i < k; i++)
        varies += a[i].unstable;
    return varies;
}

/* ---- the plan ------------------------------------------------------------------------------ */

struct trial_def {
    size_t point;
    char effect[48];            /* "errno=EIO", "eof", "signal=SIGKILL@after" */
    char occurrence[48];        /* "1st of 3", "every call from the 1st", ... */
    char selector[48];          /* "nth=2", "nth=1:count=10", "" */
    int tier;
    int signo;                  /* a signal the trial sends itself (its death is expected) */
    bool done;
};

struct effect_choice {
    const char *effect;
    bool primary;
};

/* The faults a call can really meet, primary (the most common in the field) first. */
static size_t effects_for(const struct fl_surf_point *p, struct effect_choice *out)
{
    const struct fl_op_info *o = &fl_op_table[p->op];
    bool sock = p->fd_kind == FL_KIND_SOCKET || p->subject_kind == FL_SURF_PEER;
    size_t n = 0;
#define ADD(e, prim) (out[n++] = (struct effect_choice){(e), (prim)})
    switch (o->cls) {
    case FL_CLS_OPEN:
        /* ENOENT only outside the trial directory: a file of its own that the program found
         * in the baseline and finds missing now was deleted, and starting afresh is then the
         * right answer, not a bug; a missing system or shared file is the field's fault */
        ADD("errno=EACCES", true);
        ADD("errno=EMFILE", false);
        if (p->subject_kind != FL_SURF_PATH_REL)
            ADD("errno=ENOENT", false);
        break;
    case FL_CLS_READ:
        if (sock) {
            ADD("errno=ECONNRESET", true);
            ADD("eof", false);
            if (o->flags & FL_OPF_SHORT)
                ADD("short=1", false);
            if (!(o->flags & FL_OPF_STDIO))
                ADD("silent", false);
        } else {
            ADD("errno=EIO", true);
            ADD("eof", false);
            if (o->flags & FL_OPF_SHORT)
                ADD("short=1", false);
            if (!(o->flags & FL_OPF_NOBUF))
                ADD("corrupt=8", false);
        }
        break;
    case FL_CLS_WRITE:
        if (sock) {
            ADD("errno=EPIPE", true);
            if (o->flags & FL_OPF_SHORT)
                ADD("short=1", false);
        } else {
            ADD("errno=ENOSPC", true);
            ADD("errno=EIO", false);
            if (o->flags & FL_OPF_SHORT)
                ADD("short=1", false);
        }
        break;
    case FL_CLS_SYNC:
        ADD("errno=EIO", true);
        break;
    case FL_CLS_METAFD:
        ADD("errno=EIO", true);
        break;
    case FL_CLS_METAPATH:
        if (!strcmp(p->call, "rename")) {
            ADD("errno=EXDEV", true);
            ADD("errno=EACCES", false);
        } else if (!strcmp(p->call, "mkdir")) {
            ADD("errno=ENOSPC", true);
            ADD("errno=EACCES", false);
        } else {
            ADD("errno=EACCES", true);
            ADD("errno=EIO", false);
        }
        break;
    case FL_CLS_LOCK:
        ADD("errno=EAGAIN", true);
        break;
    case FL_CLS_CONNECT:
        ADD("errno=ECONNREFUSED", true);
        ADD("silent", false);
        break;
    case FL_CLS_ACCEPT:
        ADD("errno=EMFILE", true);
        break;
    case FL_CLS_DNS:
        ADD("eai=EAI_AGAIN", true);
        break;
    case FL_CLS_MEM:
        ADD("errno=ENOMEM", true);
        break;
    default:
        break;
    }
#undef ADD
    return n;
}

static bool changes_state(enum fl_class c)
{
    return c == FL_CLS_WRITE || c == FL_CLS_SYNC || c == FL_CLS_METAPATH;
}

/* Where a kill is worth trying: calls on a file the program changes (its writes, syncs,
 * renames, and the opens and closes of that file), not on what it only reads, and not on
 * sockets or its own output. */
static bool crash_point(const struct point *pts, size_t n, const struct point *pt)
{
    const struct fl_surf_point *p = &pt->p;
    if (p->subject_kind != FL_SURF_PATH_REL && p->subject_kind != FL_SURF_PATH_ABS)
        return false;
    if (p->fd_kind && p->fd_kind != FL_KIND_FILE)
        return false;
    enum fl_class c = fl_op_table[p->op].cls;
    if (changes_state(c))
        return true;
    if (c != FL_CLS_OPEN && c != FL_CLS_METAFD)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pts[i].p.subject, p->subject) && changes_state(fl_op_table[pts[i].p.op].cls))
            return true;
    return false;
}

struct plan {
    struct trial_def *t;
    size_t n, cap;
};

static void plan_add(struct plan *pl, size_t point, const char *effect, const char *selector,
                     const char *occurrence, int tier, int signo)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 256;
        struct trial_def *t = realloc(pl->t, cap * sizeof(*t));
        if (!t)
            return;
        pl->t = t;
        pl->cap = cap;
    }
    struct trial_def *d = &pl->t[pl->n++];
    memset(d, 0, sizeof(*d));
    d->point = point;
    d->tier = tier;
    d->signo = signo;
    snprintf(d->effect, sizeof(d->effect), "%s", effect);
    snprintf(d->selector, sizeof(d->selector), "%s", selector);
    snprintf(d->occurrence, sizeof(d->occurrence), "%s", occurrence);
}

static const char *ordinal(uint64_t k, char *buf, size_t len)
{
    const char *suf = (k % 100 >= 11 && k % 100 <= 13) ? "th"
                      : k % 10 == 1                    ? "st"
                      : k % 10 == 2                    ? "nd"
                      : k % 10 == 3                    ? "rd"
                                                       : "th";
    snprintf(buf, len, "%" PRIu64 "%s", k, suf);
    return buf;
}

static bool point_skipped(const struct sweep_config *cfg, const struct point *pt)
{
    const struct fl_surf_point *p = &pt->p;
    if (p->subject_kind == FL_SURF_STDIO || p->subject_kind == FL_SURF_OTHER)
        return true; /* the check reads what the program printed: its own output is not a fault point */
    if (fl_op_table[p->op].cls == FL_CLS_TIME)
        return true;
    if (p->subject_kind == FL_SURF_PATH_ABS && !cfg->system_paths && system_path(p->subject))
        return true;
    return false;
}

static void plan_point(struct plan *pl, const struct sweep_config *cfg, const struct point *pts,
                       size_t npts, size_t idx)
{
    const struct point *pt = &pts[idx];
    const struct fl_surf_point *p = &pt->p;
    struct effect_choice eff[8];
    size_t ne = effects_for(p, eff);
    uint64_t count = p->count ? p->count : 1;
    uint64_t occ[3] = {1, (count + 1) / 2, count};
    size_t nocc = pt->unstable ? 1 : 3;
    /* tiers: what a person would try first comes first; far-away paths and the allocator last */
    int base = p->subject_kind == FL_SURF_PATH_ABS ? 5 : fl_op_table[p->op].cls == FL_CLS_MEM ? 2 : 0;
    char sel[48], what[48], o1[16], o2[16];
    for (size_t e = 0; e < ne; e++) {
        for (size_t k = 0; k < nocc; k++) {
            if (k > 0 && (occ[k] == occ[k - 1] || occ[k] == occ[0]))
                continue;
            if (k > 0 && !eff[e].primary && strcmp(eff[e].effect, "eof") != 0)
                continue;
            /* an end of file or a silent peer does not go away: the preload keeps that fd
             * at its end, or silent, from there on (a new connection is a new fd) */
            bool sticky = !strcmp(eff[e].effect, "eof") || !strcmp(eff[e].effect, "silent");
            snprintf(sel, sizeof(sel), "nth=%" PRIu64, occ[k]);
            snprintf(what, sizeof(what), "%s %s of %" PRIu64 " calls", sticky ? "from the" : "the",
                     ordinal(occ[k], o1, sizeof(o1)), count);
            int tier = base + (k == 0 ? (eff[e].primary ? 0 : 2) : 3);
            plan_add(pl, idx, eff[e].effect, sel, what, tier, 0);
        }
        if (eff[e].primary) {
            plan_add(pl, idx, eff[e].effect, "", "every call from the 1st", base + 1, 0);
            if (count > 1 && fl_op_table[p->op].cls != FL_CLS_MEM)
                plan_add(pl, idx, eff[e].effect, "nth=1:count=10", "10 calls from the 1st",
                         base + 4, 0);
        }
    }
    if (!crash_point(pts, npts, pt))
        return;
    static const struct {
        const char *effect;
        int signo;
        int tier;
    } kills[] = {
        {"signal=SIGKILL", SIGKILL, 1},
        {"signal=SIGKILL@after", SIGKILL, 2},
        {"signal=SIGTERM", SIGTERM, 2},
    };
    for (size_t s = 0; s < sizeof(kills) / sizeof(kills[0]); s++)
        for (size_t k = 0; k < nocc; k++) {
            if (k > 0 && (occ[k] == occ[k - 1] || occ[k] == occ[0]))
                continue;
            snprintf(sel, sizeof(sel), "nth=%" PRIu64 ":count=1", occ[k]);
            snprintf(what, sizeof(what), "the %s of %" PRIu64 " calls",
                     ordinal(occ[k], o2, sizeof(o2)), count);
            plan_add(pl, idx, kills[s].effect, sel, what, base + (k == 0 ? kills[s].tier : 3),
                     kills[s].signo);
        }
}

/* Keep only trials whose rule the language accepts. A point's rule can name a peer on a call
 * that takes no peer selector (close on a socket): then the socket is named by its kind. */
static void plan_validate(struct plan *pl, struct point *pts)
{
    size_t k = 0;
    for (size_t i = 0; i < pl->n; i++) {
        struct trial_def *d = &pl->t[i];
        struct point *pt = &pts[d->point];
        char rule[1024];
        struct fl_ctl_rule r;
        struct fl_err err;
        int col;
        snprintf(rule, sizeof(rule), "%s%s%s:%s", pt->where, d->selector[0] ? ":" : "",
                 d->selector, d->effect);
        if (fl_rule_parse(rule, &r, &col, &err) < 0) {
            char *peer = strstr(pt->where, ":peer=");
            if (peer) {
                char rest[600];
                const char *after = strchr(peer + 6, ':');
                /* peer=[::1]:80 or 1.2.3.4:80: skip the address and its port */
                if (peer[6] == '[')
                    after = strchr(strchr(peer, ']') ? strchr(peer, ']') : peer, ':');
                if (after && after[1] >= '0' && after[1] <= '9')
                    after = strchr(after + 1, ':');
                snprintf(rest, sizeof(rest), "%s", after ? after : "");
                snprintf(peer, sizeof(pt->where) - (size_t)(peer - pt->where), ":kind=socket%s",
                         rest);
                snprintf(rule, sizeof(rule), "%s%s%s:%s", pt->where, d->selector[0] ? ":" : "",
                         d->selector, d->effect);
            }
            if (fl_rule_parse(rule, &r, &col, &err) < 0) {
                fl_debugf("sweep: no trial for '%s': %s", rule, err.msg);
                continue;
            }
        }
        pl->t[k++] = *d;
    }
    pl->n = k;
}

static int cmp_tier(const void *a, const void *b)
{
    const struct trial_def *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier - y->tier;
    return x->point < y->point ? -1 : x->point > y->point; /* then program order */
}

/* ---- outcomes ------------------------------------------------------------------------------ */

enum outcome {
    OUT_OK,
    OUT_HANDLED,
    OUT_CHECK_SILENT,
    OUT_CHECK_REPORTED,
    OUT_CHECK_KILLED,
    OUT_CRASH,
    OUT_HANG,
    OUT_BUSY,
    OUT_STORM,
    OUT_LEAK,
    OUT_COUNT,
};

static const char *const outcome_names[OUT_COUNT] = {
    "ok", "handled", "check-failed-silent", "check-failed-reported", "check-failed-after-kill",
    "crash", "hang", "busy-loop", "storm", "leak",
};

#define BUSY_SHARE 0.8   /* CPU share of the last second that makes a timed-out run spinning */
#define STORM_RATE 100.0 /* faults per second that make a storm */
#define STORM_MIN 100    /* ... and at least this many */
#define LEAK_FDS 16      /* more open fds than the baseline's peak by this much: a leak */
#define LEAK_THREADS 8

struct baseline {
    int status;
    size_t stderr_bytes;
    double wall_s;
    int fds_peak, threads_peak;
};

static enum outcome classify(const struct fl_trial_result *r, const struct trial_def *d,
                             const struct baseline *b)
{
    uint64_t faults = r->injected[0];
    double rate = r->wall_s > 0 ? (double)faults / r->wall_s : 0;
    bool busy = r->timed_out && r->cpu_window_s > 0 && r->cpu_last_s / r->cpu_window_s > BUSY_SHARE;
    if (r->timed_out)
        return busy ? OUT_BUSY : rate > STORM_RATE ? OUT_STORM : OUT_HANG;
    bool killed_by_us = d && d->signo && r->status == 128 + d->signo;
    if (r->status > 128 && !killed_by_us)
        return OUT_CRASH;
    if (r->check_status != 0) {
        if (faults >= STORM_MIN && rate > STORM_RATE)
            return OUT_STORM;
        if (killed_by_us)
            return OUT_CHECK_KILLED;
        return r->status == 0 ? OUT_CHECK_SILENT : OUT_CHECK_REPORTED;
    }
    if (r->fds_peak > b->fds_peak + LEAK_FDS || r->threads_peak > b->threads_peak + LEAK_THREADS)
        return OUT_LEAK;
    if (killed_by_us || (r->status == b->status && r->stderr_bytes <= b->stderr_bytes))
        return OUT_OK;
    return OUT_HANDLED;
}

static bool is_finding(enum outcome o) { return o != OUT_OK && o != OUT_HANDLED; }

/* ---- running ------------------------------------------------------------------------------- */

struct sweep {
    const struct sweep_config *cfg;
    struct fl_trial_env env;
    struct point *points;
    size_t npoints;
    struct plan plan;
    struct baseline base;
    pthread_mutex_t lock;
    pthread_cond_t worker_gone;  /* a worker found nothing left to run */
    unsigned workers_left;
    size_t next;                 /* the next trial in plan order */
    size_t *deferred;            /* trials put back because their site already gave a finding */
    size_t ndeferred, deferred_next;
    bool deferring_done;
    uint64_t started, done;      /* trials */
    unsigned trial_no;           /* for directory names */
    int64_t start_ns, deadline_ns;
    json_t *findings, *flaky;    /* arrays */
    unsigned *site_findings;     /* per point: findings at its site */
    atomic_bool stop;
    bool interrupted;
    uint64_t outcome_counts[OUT_COUNT];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool site_has_finding(const struct sweep *sw, size_t point)
{
    uint32_t site = sw->points[point].p.site;
    for (size_t i = 0; i < sw->npoints; i++)
        if (sw->points[i].p.site == site && sw->site_findings[i])
            return true;
    return false;
}

/* The next trial to run (under the lock), or SIZE_MAX. */
static size_t pick(struct sweep *sw)
{
    if (atomic_load(&sw->stop))
        return SIZE_MAX;
    if (sw->cfg->budget_trials && sw->started >= sw->cfg->budget_trials)
        return SIZE_MAX;
    if (sw->deadline_ns && now_ns() >= sw->deadline_ns)
        return SIZE_MAX;
    while (sw->next < sw->plan.n) {
        size_t i = sw->next++;
        if (sw->plan.t[i].done)
            continue;
        if (site_has_finding(sw, sw->plan.t[i].point)) {
            sw->deferred[sw->ndeferred++] = i; /* tried last: that site already said its piece */
            continue;
        }
        sw->started++;
        return i;
    }
    while (sw->deferred_next < sw->ndeferred) {
        size_t i = sw->deferred[sw->deferred_next++];
        sw->started++;
        return i;
    }
    return SIZE_MAX;
}

static void build_rule(const struct sweep *sw, const struct trial_def *d, char *buf, size_t len)
{
    const struct point *pt = &sw->points[d->point];
    snprintf(buf, len, "%s%s%s:%s", pt->where, d->selector[0] ? ":" : "", d->selector, d->effect);
}

static json_t *repro_line(const struct sweep *sw, const char *rule)
{
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "faultline inject --seed %" PRIu64,
                                sw->cfg->seed);
    if (sw->cfg->exe) {
        n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, " --exe ");
        fl_shell_quote_into(buf, sizeof(buf), &n, sw->cfg->exe);
    }
    n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, " -r ");
    fl_shell_quote_into(buf, sizeof(buf), &n, rule);
    n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, " --");
    /* run in a directory prepared as a trial's: {dir} is that directory, "." */
    for (char **a = sw->cfg->argv; *a; a++) {
        n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, " ");
        char word[4096];
        size_t w = 0;
        for (const char *c = *a; *c && w + 2 < sizeof(word);) {
            if (!strncmp(c, "{dir}", 5)) {
                word[w++] = '.';
                c += 5;
            } else {
                word[w++] = *c++;
            }
        }
        word[w] = '\0';
        fl_shell_quote_into(buf, sizeof(buf), &n, word);
    }
    return json_string(buf);
}

static const char *site_text(const struct fl_surf_point *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s+0x%" PRIx64, p->module[0] ? p->module : "?", p->site_offset);
    return buf;
}

static json_t *finding_json(const struct sweep *sw, const struct trial_def *d, const char *rule,
                            enum outcome o, const struct fl_trial_result *r)
{
    const struct fl_surf_point *p = &sw->points[d->point].p;
    char site[128];
    json_t *f = json_pack("{s:s, s:[s], s:I, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:f}",
                          "kind", outcome_names[o], "rules", rule, "seed",
                          (json_int_t)sw->cfg->seed, "exit", r->status, "call", p->call,
                          "subject", p->subject, "site", site_text(p, site, sizeof(site)),
                          "site_hash", "", "effect", d->effect, "occurrence", d->occurrence,
                          "faults", (json_int_t)r->injected[0], "check_output", r->check_output,
                          "wall_s", r->wall_s);
    char hash[16];
    snprintf(hash, sizeof(hash), "%08x", p->site);
    json_object_set_new(f, "site_hash", json_string(hash));
    if (r->status > 128 && r->status < 128 + 65)
        json_object_set_new(f, "signal", json_string(sigabbrev_np(r->status - 128)
                                                         ? sigabbrev_np(r->status - 128)
                                                         : "?"));
    else
        json_object_set_new(f, "signal", json_null());
    /* where the crash itself happened, not the call whose fault set it off */
    const struct fl_trial_fatal *fa = &r->fatal;
    if (fa->seen && r->status == 128 + fa->sig) {
        char where[320], addr[32];
        const char *base = strrchr(fa->module, '/');
        if (fa->in_file)
            snprintf(where, sizeof(where), "%s+0x%" PRIx64, base ? base + 1 : fa->module,
                     fa->offset);
        else
            snprintf(where, sizeof(where), "0x%" PRIx64, fa->pc);
        snprintf(addr, sizeof(addr), "0x%" PRIx64, fa->addr);
        json_object_set_new(f, "crash_site", json_string(where));
        json_object_set_new(f, "crash_function",
                            fa->function[0] ? json_string(fa->function) : json_null());
        json_object_set_new(f, "crash_module", fa->in_file ? json_string(fa->module)
                                                           : json_null());
        json_object_set_new(f, "fault_address", json_string(addr));
    }
    json_object_set_new(f, "stderr", json_string(r->target_stderr));
    json_object_set_new(f, "repro", repro_line(sw, rule));
    json_object_set_new(f, "also", json_array());
    return f;
}

/* The finding with this (outcome, site, effect), or NULL. */
static json_t *same_finding(json_t *list, const char *kind, const char *site, const char *effect)
{
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f) {
        if (!strcmp(json_string_value(json_object_get(f, "kind")), kind) &&
            !strcmp(json_string_value(json_object_get(f, "site_hash")), site) &&
            !strcmp(json_string_value(json_object_get(f, "effect")), effect))
            return f;
    }
    return NULL;
}

/* Run trial i (and its replay when it is a new finding), record what it gave. */
static void run_one(struct sweep *sw, size_t i)
{
    struct trial_def *d = &sw->plan.t[i];
    char rule[1024];
    build_rule(sw, d, rule, sizeof(rule));
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    struct fl_trial_result *r = malloc(sizeof(*r)), *again = malloc(sizeof(*again));
    struct fl_err err = {""};
    if (!set || !r || !again || fl_rule_set_add(set, rule, "sweep", 0, &err) < 0) {
        fl_warnf("sweep: cannot make the rule '%s': %s", rule, err.msg);
        goto out;
    }
    pthread_mutex_lock(&sw->lock);
    unsigned no = ++sw->trial_no;
    pthread_mutex_unlock(&sw->lock);
    if (fl_trial_run(&sw->env, set, NULL, no, r, &err) < 0) {
        fl_warnf("sweep: trial %u: %s", no, err.msg);
        goto out;
    }
    if (r->interrupted)
        goto out;
    enum outcome o = classify(r, d, &sw->base);
    bool flaky = false;
    char hash[16];
    snprintf(hash, sizeof(hash), "%08x", sw->points[d->point].p.site);
    pthread_mutex_lock(&sw->lock);
    json_t *known = is_finding(o) ? same_finding(sw->findings, outcome_names[o], hash, d->effect)
                                  : NULL;
    pthread_mutex_unlock(&sw->lock);
    if (is_finding(o) && !known) {
        /* a finding stands only if it happens again */
        pthread_mutex_lock(&sw->lock);
        unsigned no2 = ++sw->trial_no;
        pthread_mutex_unlock(&sw->lock);
        if (fl_trial_run(&sw->env, set, NULL, no2, again, &err) < 0 || again->interrupted)
            goto out;
        flaky = classify(again, d, &sw->base) != o;
    }
    pthread_mutex_lock(&sw->lock);
    d->done = true;
    sw->done++;
    sw->outcome_counts[o]++;
    if (is_finding(o)) {
        if ((known = same_finding(sw->findings, outcome_names[o], hash, d->effect))) {
            json_array_append_new(json_object_get(known, "also"),
                                  json_pack("{s:s, s:s}", "rule", rule, "occurrence",
                                            d->occurrence));
        } else if (flaky) {
            json_t *f = finding_json(sw, d, rule, o, r);
            json_object_set_new(f, "replay_kind",
                                json_string(outcome_names[classify(again, d, &sw->base)]));
            json_array_append_new(sw->flaky, f);
        } else {
            json_t *f = finding_json(sw, d, rule, o, r);
            char id[16];
            snprintf(id, sizeof(id), "F%zu", json_array_size(sw->findings) + 1);
            json_object_set_new(f, "id", json_string(id));
            json_array_append_new(sw->findings, f);
            sw->site_findings[d->point]++;
        }
    }
    pthread_mutex_unlock(&sw->lock);
out:
    free(set);
    free(r);
    free(again);
}

static void *worker(void *arg)
{
    struct sweep *sw = arg;
    for (;;) {
        pthread_mutex_lock(&sw->lock);
        size_t i = pick(sw);
        pthread_mutex_unlock(&sw->lock);
        if (i == SIZE_MAX) {
            pthread_mutex_lock(&sw->lock);
            sw->workers_left--;
            pthread_cond_signal(&sw->worker_gone);
            pthread_mutex_unlock(&sw->lock);
            return NULL;
        }
        run_one(sw, i);
    }
}

static sigset_t stop_signals;

static void *signal_watcher(void *arg)
{
    struct sweep *sw = arg;
    int sig;
    if (sigwait(&stop_signals, &sig) == 0 && sig != SIGUSR2) {
        sw->interrupted = true;
        atomic_store(&sw->stop, true);
        fl_trial_interrupt();
    }
    return NULL;
}

/* ---- reports ------------------------------------------------------------------------------- */

static void print_surface(const struct sweep *sw, FILE *out)
{
    fprintf(out, "%-4s %-10s %-40s %-28s %8s\n", "#", "CALL", "SUBJECT", "SITE", "CALLS");
    for (size_t i = 0; i < sw->npoints; i++) {
        const struct fl_surf_point *p = &sw->points[i].p;
        char site[128];
        fprintf(out, "%-4zu %-10s %-40.40s %-28.28s %8" PRIu64 "%s%s\n", i + 1, p->call,
                p->subject[0] ? p->subject : "-", site_text(p, site, sizeof(site)), p->count,
                sw->points[i].unstable ? "  (varies)" : "",
                point_skipped(sw->cfg, &sw->points[i]) ? "  (not tried)" : "");
    }
}

static json_t *report_json(const struct sweep *sw, double elapsed)
{
    json_t *cmd = json_array();
    for (char **a = sw->cfg->argv; *a; a++)
        json_array_append_new(cmd, json_string(*a));
    json_t *points = json_array();
    for (size_t i = 0; i < sw->npoints; i++) {
        const struct fl_surf_point *p = &sw->points[i].p;
        char site[128], hash[16];
        snprintf(hash, sizeof(hash), "%08x", p->site);
        json_array_append_new(points,
                              json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:b, s:s}", "call", p->call,
                                        "subject", p->subject, "site", site_text(p, site, sizeof(site)),
                                        "site_hash", hash, "calls", (json_int_t)p->count,
                                        "varies", sw->points[i].unstable, "tried",
                                        !point_skipped(sw->cfg, &sw->points[i]), "rule",
                                        sw->points[i].where));
    }
    json_t *outcomes = json_object();
    for (int o = 0; o < OUT_COUNT; o++)
        json_object_set_new(outcomes, outcome_names[o], json_integer((json_int_t)sw->outcome_counts[o]));
    return json_pack("{s:i, s:s, s:o, s:I, s:b, s:b, s:I, s:I, s:f, s:{s:i, s:f, s:i, s:i}, "
                     "s:o, s:o, s:O, s:O}",
                     "version", 1, "tool", "faultline sweep", "command", cmd, "seed",
                     (json_int_t)sw->cfg->seed, "complete",
                     !sw->interrupted && sw->done == sw->plan.n, "interrupted", sw->interrupted,
                     "trials", (json_int_t)sw->done, "planned", (json_int_t)sw->plan.n,
                     "elapsed_s", elapsed, "baseline", "exit", sw->base.status, "wall_s",
                     sw->base.wall_s, "fds_peak", sw->base.fds_peak, "threads_peak",
                     sw->base.threads_peak, "points", points, "outcomes", outcomes, "findings",
                     sw->findings, "flaky", sw->flaky);
}

/* ---- resuming ------------------------------------------------------------------------------ */

/* Where an interrupted sweep of this command keeps what it did: the state directory, named by
 * a hash of everything that decides the trials (not the seed: --resume takes the saved one). */
static int resume_path(const struct sweep_config *cfg, char *buf, size_t len)
{
    char dir[PATH_MAX];
    struct fl_err err;
    if (fl_state_dir(arg_state_dir, dir, sizeof(dir), &err) < 0)
        return -1;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const char *parts[] = {cfg->template_dir, cfg->setup_text, cfg->check_text,
                           cfg->teardown_text, cfg->exe, cfg->system_paths ? "system" : ""};
    for (char **a = cfg->argv; *a; a++)
        for (const char *c = *a; ; c++) {
            h = (h ^ (unsigned char)*c) * UINT64_C(0x100000001b3);
            if (!*c)
                break;
        }
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        for (const char *c = parts[i] ? parts[i] : ""; ; c++) {
            h = (h ^ (unsigned char)*c) * UINT64_C(0x100000001b3);
            if (!*c)
                break;
        }
    mkdir(dir, 0700);
    snprintf(buf, len, "%s/sweep-%016" PRIx64 ".json", dir, h);
    return 0;
}

static void save_resume(const struct sweep *sw, const char *path)
{
    json_t *done = json_array();
    for (size_t i = 0; i < sw->plan.n; i++)
        if (sw->plan.t[i].done) {
            char rule[1024];
            build_rule(sw, &sw->plan.t[i], rule, sizeof(rule));
            json_array_append_new(done, json_string(rule));
        }
    json_t *outcomes = json_array();
    for (int o = 0; o < OUT_COUNT; o++)
        json_array_append_new(outcomes, json_integer((json_int_t)sw->outcome_counts[o]));
    json_t *j = json_pack("{s:I, s:o, s:O, s:O, s:o}", "seed", (json_int_t)sw->cfg->seed, "done",
                          done, "findings", sw->findings, "flaky", sw->flaky, "outcomes",
                          outcomes);
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
        fl_noticef("sweep: interrupted; 'faultline sweep --resume' with the same arguments goes "
                   "on from here");
    else
        unlink(tmp);
    json_decref(j);
}

/* Mark what an earlier run did; returns the trials taken over. */
static size_t load_resume(struct sweep *sw, json_t *saved)
{
    json_t *done = json_object_get(saved, "done");
    size_t n = 0, i;
    json_t *v;
    for (size_t t = 0; t < sw->plan.n; t++) {
        char rule[1024];
        build_rule(sw, &sw->plan.t[t], rule, sizeof(rule));
        json_array_foreach(done, i, v) {
            if (json_is_string(v) && !strcmp(json_string_value(v), rule)) {
                sw->plan.t[t].done = true;
                n++;
                break;
            }
        }
    }
    json_array_extend(sw->findings, json_object_get(saved, "findings"));
    json_array_extend(sw->flaky, json_object_get(saved, "flaky"));
    json_array_foreach(json_object_get(saved, "outcomes"), i, v)
        if (i < OUT_COUNT)
            sw->outcome_counts[i] = (uint64_t)json_integer_value(v);
    json_array_foreach(sw->findings, i, v) {
        const char *hash = json_string_value(json_object_get(v, "site_hash"));
        for (size_t p = 0; hash && p < sw->npoints; p++) {
            char h[16];
            snprintf(h, sizeof(h), "%08x", sw->points[p].p.site);
            if (!strcmp(h, hash))
                sw->site_findings[p]++;
        }
    }
    sw->done = n;
    return n;
}

/* ---- the command --------------------------------------------------------------------------- */

/* The baseline: two runs without faults, recording the surface. Returns 0, or the exit status
 * to stop with (an error printed). */
static int run_baseline(struct sweep *sw)
{
    struct fl_surface_handle *sh[2] = {NULL, NULL};
    struct fl_trial_result *r = calloc(2, sizeof(*r));
    struct point *pts[2] = {NULL, NULL};
    size_t np[2] = {0, 0};
    int rc = 0;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "%s", sw->cfg->argv[0]);
    sw->env.find_escaped = true;
    for (int k = 0; k < 2 && rc == 0; k++) {
        struct fl_err err = {""};
        if (fl_trial_run(&sw->env, NULL, &sh[k], ++sw->trial_no, &r[k], &err) < 0) {
            fl_errorf("sweep: %s", err.msg);
            rc = FL_EXIT_USAGE;
            break;
        }
        if (r[k].interrupted) {
            rc = 130;
        } else if (r[k].setup_failed) {
            fl_errorf("sweep: --setup failed (status %d): %.*s", r[k].hook_status,
                      (int)strcspn(r[k].check_output, "\n"), r[k].check_output);
            rc = FL_EXIT_USAGE;
        } else if (r[k].exec_failed) {
            fl_errorf("sweep: cannot run '%s': %s", cmd, strerror(r[k].exec_errno));
            rc = FL_EXIT_USAGE;
        } else if (r[k].escaped) {
            fl_errorf("sweep: %s daemonized: it exited (status %d) and left %u process%s "
                      "running (pid %d, now killed); sweep needs a "
                      "program that stays in the foreground (its --foreground or -f option?)",
                      cmd, r[k].status, r[k].escaped, r[k].escaped == 1 ? "" : "es",
                      r[k].escaped_pid);
            rc = FL_EXIT_NORESOURCE;
        } else if (r[k].timed_out) {
            fl_errorf("sweep: without any fault, %s was still running after the timeout: the "
                      "baseline hangs (a server? sweep needs a command that ends; raise "
                      "--timeout if it is only slow)", cmd);
            rc = FL_EXIT_NORESOURCE;
        } else if (r[k].status > 128) {
            fl_errorf("sweep: without any fault, %s was killed by SIG%s: the baseline crashes",
                      cmd, sigabbrev_np(r[k].status - 128) ? sigabbrev_np(r[k].status - 128) : "?");
            rc = FL_EXIT_NORESOURCE;
        } else if (r[k].check_status != 0) {
            fl_errorf("sweep: without any fault, the check fails (status %d): %.*s; fix the "
                      "program or the check first", r[k].check_status,
                      (int)strcspn(r[k].check_output, "\n"), r[k].check_output);
            rc = FL_EXIT_NORESOURCE;
        } else if (r[k].attached == 0) {
            fl_errorf("sweep: the preload never attached to %s%s%s (a static or setuid "
                      "program?), so no call can be faulted", cmd,
                      sw->cfg->exe ? " or to a process matching --exe " : "",
                      sw->cfg->exe ? sw->cfg->exe : "");
            rc = FL_EXIT_USAGE;
        }
        if (rc == 0 && sh[k]) {
            pts[k] = read_points(sh[k], sw->env.root, &np[k]);
            if (sh[k]->s->overflow)
                fl_warnf("sweep: more than %d points: %u calls were not recorded",
                         FL_SURF_POINTS_MAX, (unsigned)sh[k]->s->overflow);
        }
    }
    sw->env.find_escaped = false;
    if (rc == 0) {
        sw->base.status = r[0].status;
        sw->base.stderr_bytes = r[0].stderr_bytes > r[1].stderr_bytes ? r[0].stderr_bytes
                                                                       : r[1].stderr_bytes;
        sw->base.wall_s = r[0].wall_s > r[1].wall_s ? r[0].wall_s : r[1].wall_s;
        sw->base.fds_peak = r[0].fds_peak > r[1].fds_peak ? r[0].fds_peak : r[1].fds_peak;
        sw->base.threads_peak =
            r[0].threads_peak > r[1].threads_peak ? r[0].threads_peak : r[1].threads_peak;
        if (r[0].status != r[1].status)
            fl_warnf("sweep: the two runs without faults exited %d and %d", r[0].status,
                     r[1].status);
        /* points whose count changed between the runs only get their first call tried */
        size_t varies = pair_runs(pts[0], &np[0], pts[1], np[1]);
        if (varies)
            fl_noticef("sweep: %zu of %zu points were called a different number of times in two "
                       "runs without faults: only their first call is tried (by call site)",
                       varies, np[0]);
        sw->points = pts[0];
        sw->npoints = np[0];
        pts[0] = NULL;
    }
    for (int k = 0; k < 2; k++) {
        fl_surface_close(sh[k], true);
        free(pts[k]);
    }
    free(r);
    return rc;
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_config cfg = {0};
    json_t *saved = NULL;
    int rc = parse_sweep(argc, argv, &cfg);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out_cfg;
    }
    char resume_file[PATH_MAX] = "";
    if (resume_path(&cfg, resume_file, sizeof(resume_file)) < 0)
        resume_file[0] = '\0';
    if (cfg.resume && resume_file[0]) {
        saved = json_load_file(resume_file, 0, NULL);
        if (!saved) {
            fl_noticef("sweep: no interrupted sweep of this command to resume: starting afresh");
        } else {
            uint64_t seed = (uint64_t)json_integer_value(json_object_get(saved, "seed"));
            if (cfg.seed_given && seed != cfg.seed) {
                rc = fl_usage_error("--resume: the interrupted sweep used --seed %" PRIu64
                                    ", not %" PRIu64, seed, cfg.seed);
                json_decref(saved);
                goto out_cfg;
            }
            cfg.seed = seed;
            cfg.seed_given = true;
        }
    }
    if (!cfg.seed_given)
        cfg.seed = fl_seed_from_entropy();
    if (!cfg.jobs)
        cfg.jobs = fl_discovery_default_jobs();
    char preload[PATH_MAX];
    if (fl_find_preload(preload, sizeof(preload), false) < 0) {
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    struct sweep *sw = calloc(1, sizeof(*sw));
    char root[PATH_MAX];
    if (!sw || fl_discovery_root("sweep", root, sizeof(root)) < 0) {
        fl_errorf("sweep: cannot make a scratch directory: %s", strerror(errno));
        free(sw);
        rc = FL_EXIT_USAGE;
        goto out_cfg;
    }
    sw->cfg = &cfg;
    pthread_mutex_init(&sw->lock, NULL);
    pthread_cond_init(&sw->worker_gone, NULL);
    sw->findings = json_array();
    sw->flaky = json_array();
    sw->env = (struct fl_trial_env){
        .argv = cfg.argv, .setup = cfg.setup, .check = cfg.check, .teardown = cfg.teardown,
        .template_dir = cfg.template_dir, .root = root, .preload = preload, .exe = cfg.exe,
        .base_env = fl_clean_environ(), .timeout_ns = cfg.timeout_ns ? cfg.timeout_ns
                                                                       : 60 * FL_NS_PER_SEC,
        .seed = cfg.seed,
    };

    /* SIGINT, SIGTERM, SIGHUP: stop, clean up, write what was found */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    sigaddset(&stop_signals, SIGUSR2); /* ours: the watcher's "we are done" */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    pthread_t watcher;
    pthread_create(&watcher, NULL, signal_watcher, sw);

    fl_noticef("seed %" PRIu64 " (replay with --seed %" PRIu64 ")", cfg.seed, cfg.seed);
    int64_t t0 = now_ns();
    rc = run_baseline(sw);
    if (rc)
        goto out;
    if (!cfg.timeout_ns) {
        int64_t t = (int64_t)(sw->base.wall_s * 10 * 1e9);
        sw->env.timeout_ns = t < 3 * FL_NS_PER_SEC ? 3 * FL_NS_PER_SEC : t;
    }
    if (cfg.surface_only) {
        print_surface(sw, stdout);
        goto out;
    }
    for (size_t i = 0; i < sw->npoints; i++)
        if (!point_skipped(&cfg, &sw->points[i]))
            plan_point(&sw->plan, &cfg, sw->points, sw->npoints, i);
    plan_validate(&sw->plan, sw->points);
    qsort(sw->plan.t, sw->plan.n, sizeof(*sw->plan.t), cmp_tier);
    sw->deferred = calloc(sw->plan.n + 1, sizeof(*sw->deferred));
    sw->site_findings = calloc(sw->npoints + 1, sizeof(*sw->site_findings));
    fl_infof("sweep: %zu points, %zu trials planned, %u at once, timeout %.1fs", sw->npoints,
             sw->plan.n, cfg.jobs, (double)sw->env.timeout_ns / 1e9);
    if (saved)
        fl_noticef("sweep: resuming: %zu of %zu trials were done", load_resume(sw, saved),
                   sw->plan.n);
    sw->start_ns = now_ns();
    if (cfg.budget_ns)
        sw->deadline_ns = sw->start_ns + cfg.budget_ns;

    pthread_t *workers = calloc(cfg.jobs, sizeof(*workers));
    sw->workers_left = cfg.jobs;
    for (unsigned j = 0; j < cfg.jobs; j++)
        pthread_create(&workers[j], NULL, worker, sw);
    bool tty = isatty(2) && fl_log_get_level() >= FL_LOG_NOTICE;
    for (;;) {
        /* wake for the progress line, or as soon as the last worker is done */
        pthread_mutex_lock(&sw->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (sw->workers_left)
            pthread_cond_timedwait(&sw->worker_gone, &sw->lock, &ts);
        bool over = sw->workers_left == 0;
        uint64_t done = sw->done;
        size_t nf = json_array_size(sw->findings);
        pthread_mutex_unlock(&sw->lock);
        if (tty) {
            double el = (double)(now_ns() - sw->start_ns) / 1e9;
            fprintf(stderr, "\r  %" PRIu64 "/%zu trials  %.0f/s  %zu finding%s ", done, sw->plan.n,
                    el > 0 ? (double)done / el : 0.0, nf, nf == 1 ? "" : "s");
        }
        if (over)
            break;
    }
    for (unsigned j = 0; j < cfg.jobs; j++)
        pthread_join(workers[j], NULL);
    free(workers);
    if (tty)
        fprintf(stderr, "\r%60s\r", "");
    double elapsed = (double)(now_ns() - sw->start_ns) / 1e9;
    (void)t0;
    /* The terminal summary is made from the document --json writes (src/report/text.c), so
     * `faultline report render SWEEP.json` prints it again the same. */
    json_t *j = report_json(sw, elapsed);
    if (fl_log_get_level() >= FL_LOG_WARN) {
        struct fl_err rerr = {""};
        fputc('\n', stdout);
        if (fl_report_sweep_text(j, stdout, &rerr) < 0)
            fl_warnf("sweep: %s", rerr.msg);
    }
    if (cfg.json_path) {
        /* In the order the document was built (the classes in their order, not sorted), which
         * is the order the reports list them in. */
        int flags = JSON_INDENT(2);
        int w = strcmp(cfg.json_path, "-") == 0 ? json_dumpf(j, stdout, flags)
                                                 : json_dump_file(j, cfg.json_path, flags);
        if (w < 0)
            fl_errorf("--json %s: cannot write: %s", cfg.json_path, strerror(errno));
    }
    json_decref(j);
    rc = sw->interrupted ? 130 : json_array_size(sw->findings) ? FL_EXIT_FAILED : FL_EXIT_OK;
    if (resume_file[0]) {
        if (sw->interrupted)
            save_resume(sw, resume_file);
        else
            unlink(resume_file);
    }
out:
    if (sw->interrupted && rc != 130)
        rc = 130;
    pthread_kill(watcher, SIGUSR2);
    pthread_join(watcher, NULL);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
    fl_remove_tree(root);
    fl_free_words(sw->env.base_env);
    json_decref(sw->findings);
    json_decref(sw->flaky);
    free(sw->points);
    free(sw->plan.t);
    free(sw->deferred);
    free(sw->site_findings);
    pthread_mutex_destroy(&sw->lock);
    pthread_cond_destroy(&sw->worker_gone);
    free(sw);
out_cfg:
    json_decref(saved);
    fl_free_words(cfg.setup);
    fl_free_words(cfg.check);
    fl_free_words(cfg.teardown);
    free(cfg.setup_text);
    free(cfg.check_text);
    free(cfg.teardown_text);
    return rc;
}
