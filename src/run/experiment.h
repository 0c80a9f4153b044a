/* SPDX-License-Identifier: MIT */
/*
 * experiment.h - one experiment file, checked and compiled: what it is, the target, the
 * steady state, the method's steps, continuous probes and load, verification, objectives.
 * docs/experiments.md is the reference for the file; this is its in-memory form. Everything
 * is checked when the file is loaded (`faultline validate`), so a run never stops half-way on
 * a typo: errors name file:line:col and what was expected.
 */
#ifndef FL_EXPERIMENT_H
#define FL_EXPERIMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "doc.h"
#include "err.h"
#include "probe.h"

#define FL_EXP_MAX_STEPS 256
#define FL_EXP_MAX_PROBES 64

struct fl_probe_inst {
    const struct fl_probe_ops *ops;
    void *state;
    char name[128];
    int64_t every_ns;            /* continuous probes: the period; 0 otherwise */
    int64_t timeout_ns;
    bool expect_fail;            /* `expect: fail`: the check passes when the probe fails */
};

enum fl_step_type {
    FL_STEP_FAULT,               /* a fault kind, held for `for` or until the method ends */
    FL_STEP_RULES,               /* switch the target's preload rules on/off */
    FL_STEP_TOXIC,               /* add a toxic to one of the experiment's proxies */
    FL_STEP_PAUSE,
    FL_STEP_WAIT,                /* until a probe holds, or `timeout` (then FAIL) */
    FL_STEP_TARGET,              /* restart, kill (signal), stop/cont the target */
    FL_STEP_MONKEY,              /* random faults from a pool at random times, seeded */
};

struct fl_step {
    enum fl_step_type type;
    const json_t *node;          /* the step in the file (for messages) */
    char label[160];             /* one line: "corrupt state.json (truncate) for 3s" */
    int64_t for_ns;              /* fault/toxic/rules: how long (0: until the method ends) */
    bool failover;               /* measure failover time from this step */
    bool until_rollback;         /* `until: rollback`: held through recovery and verify (damage
                                    that a real device would not undo) */
    bool may_not_fire;           /* `may_not_fire: true`: a window that took no effect is not an
                                    ERROR (a fault that only sometimes applies) */
    /* FAULT */
    const char *kind;
    json_t *params;              /* the kind's params (owned) */
    /* RULES */
    bool rules_on;
    json_t *rule_ids;            /* array of ids/numbers, or NULL for all (owned) */
    /* TOXIC */
    json_t *toxic;               /* {proxy, type, stream, toxicity, attributes} (owned) */
    /* PAUSE: for_ns; WAIT: probe + for_ns as timeout */
    struct fl_probe_inst probe;
    /* TARGET */
    const char *action;          /* "restart", "kill", "stop", "cont" */
    int signal;
    /* MONKEY: pool of fault steps, every (mean gap), for_ns total, hold per fault */
    struct fl_step *pool;
    size_t n_pool;
    int64_t every_ns, hold_ns;
};

struct fl_objective {
    char name[48];               /* availability, error_rate, latency_p99, time_to_recover... */
    char op[3];                  /* ">=", "<=", ">", "<" */
    double threshold;            /* shares as 0..1, times in ms */
    const char *unit;            /* "", "ms" */
};

struct fl_experiment {
    struct fl_doc doc;
    char path[1024];
    char dir[1024];              /* the file's directory: fixtures are relative to it */
    char id[128];
    const char *title, *category, *failure_mode, *expected, *reason;
    json_t *tags;                /* borrowed from doc */
    bool expect_xfail;
    bool has_seed;
    uint64_t seed;
    int64_t timeout_ns;          /* the whole experiment */

    /* target (optional: an experiment may only fault files and probe them) */
    bool has_target;
    json_t *argv;                /* array of strings (borrowed) */
    bool shell;
    json_t *env;                 /* object (borrowed) or NULL */
    const char *cwd;             /* NULL: a fresh temporary directory */
    json_t *fixtures;            /* array of paths (borrowed) or NULL */
    struct fl_probe_inst ready;
    bool has_ready;
    int64_t ready_timeout_ns;
    enum { FL_RESTART_NEVER, FL_RESTART_ON_FAILURE, FL_RESTART_ALWAYS } restart;
    json_t *rules;               /* preload rule texts (borrowed) or NULL */
    bool rules_start_on;
    bool rules_may_not_fire;     /* rules on from the start need not fire (rules_on: true) */
    bool oneshot;                /* a batch job: the run waits for its exit and checks it */
    bool exit_any;               /* oneshot `exit: any`: every way of ending is fine */
    int exit_codes[16];          /* oneshot: the exit statuses that are a success */
    size_t n_exit_codes;
    int stop_signal;
    int64_t stop_grace_ns;

    json_t *proxies;             /* [{name, listen, upstream}] (borrowed) or NULL */

    struct fl_probe_inst steady[FL_EXP_MAX_PROBES];
    size_t n_steady;
    struct fl_probe_inst continuous[FL_EXP_MAX_PROBES];
    size_t n_continuous;
    unsigned recovered_after;    /* consecutive good samples that mean "recovered" */
    int64_t recover_within_ns;   /* after the last fault: how long to wait for recovery */
    json_t *load;                /* load spec (borrowed) or NULL */

    struct fl_step steps[FL_EXP_MAX_STEPS];
    size_t n_steps;

    struct fl_probe_inst verify[FL_EXP_MAX_PROBES];
    size_t n_verify;
    bool has_leaks;
    int64_t leak_fds, leak_threads, leak_children; /* allowed growth; -1: not checked */
    int64_t leak_rss;                              /* bytes; -1: not checked */

    struct fl_objective objectives[16];
    size_t n_objectives;

    char skip_reason[256];       /* not empty: a kind it needs cannot work here */
};

/* Load, check and compile. On error err holds one line (file:line:col: ...). */
int fl_experiment_load(const char *path, struct fl_experiment **out, struct fl_err *err);
/* The same from memory; name stands for the file in messages (fixtures are relative to its
 * directory). */
int fl_experiment_load_string(const char *name, const char *text, size_t len,
                              struct fl_experiment **out, struct fl_err *err);
void fl_experiment_free(struct fl_experiment *e);

/* Print the plan (what would happen, in order) for --dry-run. */
void fl_experiment_print_plan(const struct fl_experiment *e, FILE *out);

#endif
