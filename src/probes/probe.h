/* SPDX-License-Identifier: MIT */
/*
 * probe.h - the registry of probe kinds: how an experiment observes the system under test.
 *
 * A probe is one JSON object in an experiment file, selected by the key that names its kind:
 *
 *   - http: http://127.0.0.1:8080/health     # kind http, with its own options beside it
 *     status: 200
 *   - tcp: 127.0.0.1:1883
 *   - sqlite: state.db
 *     integrity: true
 *
 * Keys every probe accepts are handled by the runner, not by the kind: `name` (default: the
 * kind and its subject), `every` (continuous probes), `timeout` (default 1s), `expect`
 * ("ok" default, or "fail" to assert an outage). The kind's parse() sees the whole object and
 * must refuse unknown keys except those common ones (fl_probe_common_key()).
 *
 * check() runs the probe once and blocks at most timeout_ns. Each instance is used by one
 * thread at a time (the runner gives every continuous probe its own thread), so a kind may
 * keep connections or handles in its state between checks; different instances of a kind
 * may run at once on different threads.
 *
 * To add a kind: src/probes/<kind>.c exporting `const struct fl_probe_ops fl_probe_<kind>`, one
 * X(<kind>) in FL_PROBE_KINDS, the file in src/probes/meson.build, docs/probes.md; putil.h has
 * the typed keys, matches and JSON paths the kinds share.
 */
#ifndef FL_PROBE_H
#define FL_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "doc.h"
#include "err.h"

/* What a probe may need from the run. */
struct fl_probe_ctx {
    const char *cwd;          /* the experiment's working directory: relative paths start here */
    pid_t target_pid;         /* the target's main process, 0 when there is none (yet) */
};

struct fl_probe_result {
    bool ok;                  /* the condition held */
    int64_t latency_ns;       /* how long the check took (for http/tcp: the request itself) */
    json_t *value;            /* what was observed (status code, output, a row...); owned, or
                                 NULL */
    char detail[256];         /* one line: why not ok (or a short note when ok) */
};

struct fl_probe_ops {
    const char *name;         /* the selecting key: "http", "tcp", ... */
    const char *summary;      /* one line for docs and `faultline help probes` */
    /* Check spec (the probe's whole object) and compile it into *state. On an error, use
     * fl_doc_error(doc, spec, "key", err, "...") so the message names file:line:col. */
    int (*parse)(const struct fl_doc *doc, const json_t *spec, void **state,
                 struct fl_err *err);
    /* Run once. Returns 0 with out filled (ok true or false), or -errno when the probe could
     * not run at all (out->detail says why). */
    int (*check)(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                 struct fl_probe_result *out);
    /* A short label of what it probes ("GET http://127.0.0.1:8080/health"), for names. */
    void (*describe)(const void *state, char *buf, size_t len);
    void (*free)(void *state);
};

#define FL_PROBE_KINDS(X) X(command) X(file) X(http) X(process) X(sqlite) X(tcp)

#define FL_PROBE_DECLARE(kind) extern const struct fl_probe_ops fl_probe_##kind;
FL_PROBE_KINDS(FL_PROBE_DECLARE)
#undef FL_PROBE_DECLARE

extern const struct fl_probe_ops *const fl_probe_kinds[];
extern const size_t fl_probe_kind_count;

/* The kind selected by spec (the one kind key present), or NULL with err set (none, or two). */
const struct fl_probe_ops *fl_probe_select(const struct fl_doc *doc, const json_t *spec,
                                           struct fl_err *err);
/* True for the keys the runner handles for every probe (name, every, timeout, expect). */
bool fl_probe_common_key(const char *key);

/* What /proc says of a process (the process probe's figures; the runner's leak checks use
 * them too): open fds, resident bytes, threads, direct children; -1 where unreadable. */
struct fl_proc_figures {
    int64_t fds, rss, threads, children;
};
void fl_probe_process_figures(pid_t pid, struct fl_proc_figures *f);

/* Free what a result owns and clear it. */
void fl_probe_result_clear(struct fl_probe_result *r);

#endif
