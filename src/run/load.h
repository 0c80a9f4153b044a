/* SPDX-License-Identifier: MIT */
/*
 * load.h - the built-in load generator: HTTP/1.1 (keep-alive) or raw TCP requests at a fixed
 * rate and concurrency, on its own thread and event loop, measuring every request. Used by
 * experiments (`load:`) and by `faultline load` (and bench/runner, against wrk).
 *
 * Experiment/CLI spec (one JSON object):
 *   {"http": "http://127.0.0.1:8080/path", "method": "GET", "headers": {..}, "body": "..",
 *    "rate": 200, "concurrency": 4, "timeout": "1s"}
 *   {"tcp": "127.0.0.1:7000", "send": "PING\r\n", "expect": "PONG", "rate": 100, ...}
 * rate 0 means as fast as the connections allow (closed loop); otherwise requests are
 * scheduled open-loop at the rate and latency is measured from the scheduled time, so a
 * stalled server shows up in the percentiles (no coordinated omission).
 */
#ifndef FL_LOAD_H
#define FL_LOAD_H

#include <jansson.h>
#include <stdint.h>

#include "doc.h"
#include "err.h"

struct fl_load;

/* Check a spec (from an experiment file: errors name file:line:col via doc; doc may be NULL
 * for CLI-built specs, then errors name the key). */
int fl_load_check(const struct fl_doc *doc, const json_t *spec, struct fl_err *err);

/* Start driving load now; t0_ns (CLOCK_MONOTONIC) is the experiment's start, so windows line
 * up with the other samples. */
int fl_load_start(const json_t *spec, int64_t t0_ns, struct fl_load **out, struct fl_err *err);

/* Stop, wait for the thread, and return the report object of docs/results-format.md
 * (`load`: kind, target, rate, concurrency, requests, errors, error_rate, latency_ms
 * {p50,p90,p99,max}, windows [{t_ms, requests, errors, p99_ms}] per 100 ms). Frees load. */
json_t *fl_load_stop(struct fl_load *load);

#endif
