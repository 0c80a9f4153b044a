/* SPDX-License-Identifier: MIT */
/*
 * fault.h - the registry of fault kinds, and applying/reverting through the journal.
 *
 * A fault kind is one ops table (src/faults/<kind>.c) whose parameters come as one JSON
 * object, whether they were typed as CLI flags or written in an experiment step. The protocol
 * every kind follows, so that killing faultline at any moment loses nothing:
 *
 *   prepare(params) -> undo        save what will change (a backup, the old mode); no harm yet
 *   journal entry written, fsync'd {kind, params, undo, owner, expiry}
 *   apply(params, undo)            the harm; if it fails, it leaves nothing behind itself
 *   ... the fault is active ...
 *   revert(params, undo)           idempotent; must also cope with an apply that never ran
 *                                  or stopped half-way
 *   journal entry removed
 *
 * To add a kind: write src/faults/<kind>.c exporting `const struct fl_fault_ops
 * fl_fault_<kind>`, add one X(<kind>) row to FL_FAULT_KINDS below and the file to
 * src/core/meson.build.
 */
#ifndef FL_FAULT_H
#define FL_FAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "journal.h"

#define FL_FAULT_OPS_VERSION 1

struct fl_fault_ops {
    unsigned version;                 /* FL_FAULT_OPS_VERSION, first like SQLite's iVersion */
    const char *name;                 /* "preload", "corrupt", ... */
    const char *summary;              /* one line for `faultline list` */
    /* NULL, or 0 if usable here, else -errno with the reason in why (e.g. needs root) */
    int (*supported)(char *why, size_t len);
    /* Compute the undo record before anything changes. May be NULL (undo = {}). */
    int (*prepare)(const json_t *params, json_t **undo, struct fl_err *err);
    int (*apply)(const json_t *params, const json_t *undo, struct fl_err *err);
    int (*revert)(const json_t *params, const json_t *undo, struct fl_err *err);
    /* One line for status listings. */
    void (*describe)(const json_t *params, char *buf, size_t len);
};

#define FL_FAULT_KINDS(X) X(preload)

#define FL_FAULT_DECLARE(kind) extern const struct fl_fault_ops fl_fault_##kind;
FL_FAULT_KINDS(FL_FAULT_DECLARE)
#undef FL_FAULT_DECLARE

extern const struct fl_fault_ops *const fl_fault_kinds[];
extern const size_t fl_fault_kind_count;

const struct fl_fault_ops *fl_fault_find(const char *name);

/* An applied fault, as its owner holds it. */
struct fl_applied {
    char id[64];                      /* journal entry id */
    const struct fl_fault_ops *ops;
    json_t *entry;                    /* the journal entry (owns params and undo) */
};

/* prepare -> journal -> apply. If apply fails it has undone its own work (that is its
 * contract), so only the journal entry is removed. expires_ns: CLOCK_REALTIME ns, 0 for none. */
int fl_fault_apply(struct fl_journal *j, const char *kind, json_t *params, int64_t expires_ns,
                   struct fl_applied *out, struct fl_err *err);
/* revert -> remove entry; frees out->entry. */
int fl_fault_revert(struct fl_journal *j, struct fl_applied *a, struct fl_err *err);

/* Revert a journal entry found on disk (recover); removes it on success. */
int fl_fault_revert_entry(struct fl_journal *j, json_t *entry, struct fl_err *err);

/* One line describing an entry, for status/recover. */
void fl_fault_describe_entry(const json_t *entry, char *buf, size_t len);

#endif
