/* SPDX-License-Identifier: MIT */
/*
 * runner.h - carrying out one experiment: start the target and wait until it is ready, check
 * the steady state, run the method's steps while continuous probes and load record samples,
 * observe recovery, verify, roll back (always), compute the figures and the verdict. The
 * result is one experiment object of docs/results-format.md.
 *
 * Every fault goes through the journal (src/core/fault.h) with this process as its owner, so
 * a runner killed with SIGKILL leaves nothing `faultline recover` cannot put back; the target
 * is started with PR_SET_PDEATHSIG so it does not outlive a killed runner either.
 */
#ifndef FL_RUNNER_H
#define FL_RUNNER_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "experiment.h"
#include "journal.h"

struct fl_run_opts {
    uint64_t seed;                    /* the suite's seed; an experiment's own seed wins */
    bool strict;                      /* XPASS counts as a failure */
    const char *preload;              /* faultline-preload.so, for target rules (NULL: none) */
    const char *self_exe;             /* this faultline, to start a proxy for toxic steps */
    bool keep;                        /* keep the work directory */
    volatile sig_atomic_t *stop;      /* set asynchronously (SIGINT/SIGTERM): wind down */
    /* Live view: called from the runner's thread when the phase or step changes. */
    void (*progress)(void *arg, const struct fl_experiment *e, const char *what);
    void *arg;
};

/* Run e; never fails as a call: problems become the ERROR verdict in the returned object. */
json_t *fl_run_experiment(struct fl_experiment *e, struct fl_journal *j,
                          const struct fl_run_opts *o);

/* The SKIP object for an experiment that cannot run here (or was filtered into a skip). */
json_t *fl_run_skipped(const struct fl_experiment *e, const char *why);

#endif
