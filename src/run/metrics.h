/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - the figures of one experiment, computed from its recorded samples and fault
 * windows alone (an experiment object of docs/results-format.md), so they can be checked in
 * unit tests and recomputed from a saved results file.
 *
 * The definitions (docs/results-format.md, "Figures"):
 *   availability            good samples / samples, continuous probes, method..recovery end
 *   availability_during_faults   the same, only samples inside fault windows
 *   time_to_detect_ms       first fault start -> first failed sample at or after it
 *   time_to_recover_ms      last fault end (its start for damage kept until rollback,
 *                           `persistent`) -> first of N consecutive good samples after the
 *                           last failure (0 when it had recovered before the fault ended);
 *                           null when nothing failed; -1 ("never") when the probes had not
 *                           recovered when observation ended
 *   downtime_ms             total time in failed runs: a failed run lasts from its first
 *                           failed sample to the next good one
 *   failover_ms             from a step marked failover: first failure after its start ->
 *                           first good sample after that
 * Samples of all continuous probes are merged in time order: at any moment the service is
 * "good" only if the latest sample of every probe is good.
 */
#ifndef FL_METRICS_H
#define FL_METRICS_H

#include <jansson.h>
#include <stdint.h>

/* Fill exp["metrics"] from exp["series"], exp["faults"], exp["load"] and the window
 * [from_ms, to_ms] (relative to the experiment's start) that availability covers.
 * failover_from_ms: the start of a failover step, or -1. */
void fl_metrics_compute(json_t *exp, unsigned recovered_after, int64_t from_ms, int64_t to_ms,
                        int64_t failover_from_ms);

#endif
