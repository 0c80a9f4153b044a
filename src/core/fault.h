/* SPDX-License-Identifier: MIT */
/*
 * fault.h - the registry of fault kinds, and applying/reverting through the journal.
 *
 * A fault kind is one ops table (src/faults/<kind>.c) whose parameters come as one JSON
 * object, whether they were typed as CLI flags or written in an experiment step. The protocol
 * every kind follows, so that killing faultline at any moment loses nothing:
 *
 *   journal entry written, fsync'd {kind, params, undo: null, owner, expiry}
 *   prepare(ctx, params) -> undo   validate; save what will change (a copy of the file under
 *                                  ctx->backup_dir, the old mode); no harm yet
 *   entry rewritten with the undo record, fsync'd
 *   apply(ctx, params, undo)       the harm; if it fails, it leaves nothing behind itself
 *   ... the fault is active ...
 *   revert(ctx, params, undo)      idempotent; must also cope with an apply that never ran
 *                                  or stopped half-way
 *   backup directory removed, journal entry removed
 *
 * The entry exists before the backup directory does, so a backup directory without an entry
 * is always left over from a finished revert and `faultline recover` may delete it. An entry
 * whose undo is still null was killed while preparing: nothing was harmed, only its backup
 * directory is removed.
 *
 * Bad input is refused by prepare (before any harm) with the errno that says what kind of
 * problem it is: EINVAL/EISDIR/ENOTDIR/EFBIG for wrong input (exit 2), ENOENT/ESRCH for a
 * missing file or process, EPERM/EACCES/ENOTSUP for what cannot be done here (exit 3).
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

/* What a kind gets besides its params. */
struct fl_fault_ctx {
    const char *id;                   /* the journal entry's id */
    const char *state_dir;            /* faultline's state directory */
    /* <state>/backups/<id>: the kind's own place for saved data. fl_fault_backup_dir()
     * creates it (0700) on first use; it is removed after a successful revert. */
    char backup_dir[4200];
    /* apply may add what it did here (bytes written, whether memory was locked...): the
     * command prints it and experiments keep it. Owned by fl_fault_apply's caller through
     * struct fl_applied.report. */
    json_t *report;
};

/* Create ctx->backup_dir if needed; 0 or -errno (with err). */
int fl_fault_backup_dir(const struct fl_fault_ctx *ctx, struct fl_err *err);

/* rm -rf of a directory faultline made itself (backups, an experiment's work directory); no
 * symlink is followed. 0 (also when it is not there) or -errno. */
int fl_remove_tree(const char *dir);

struct fl_fault_ops {
    unsigned version;                 /* FL_FAULT_OPS_VERSION, first like SQLite's iVersion */
    const char *name;                 /* "preload", "corrupt", ... */
    const char *summary;              /* one line for `faultline list` */
    /* NULL, or 0 if usable here, else -errno with the reason in why (e.g. needs root) */
    int (*supported)(char *why, size_t len);
    /* Check params and compute the undo record before anything changes. May be NULL
     * (undo = {}). */
    int (*prepare)(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                   struct fl_err *err);
    int (*apply)(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                 struct fl_err *err);
    int (*revert)(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                  struct fl_err *err);
    /* One line for status listings. */
    void (*describe)(const json_t *params, char *buf, size_t len);
    /* How many things a successful apply changed, read from its report, with one line saying
     * what ("hit 2 processes: pid 12, 13"); 0 means it took no effect (a kill whose matches
     * had all exited): an experiment then says the fault never happened. NULL: every
     * successful apply counts once. */
    long (*effects)(const json_t *report, char *what, size_t len);
};

/* What an applied fault did, through the kind's effects hook (1 and "applied" without one). */
long fl_fault_effects(const struct fl_fault_ops *ops, const json_t *report, char *what,
                      size_t len);

#define FL_FAULT_KINDS(X) X(corrupt) X(fill) X(hog) X(kill) X(lock) X(preload) X(stop)

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
    json_t *report;                   /* what apply said it did (an object, maybe empty) */
};

/* prepare -> journal -> apply. If apply fails it has undone its own work (that is its
 * contract), so only the journal entry is removed. expires_ns: CLOCK_REALTIME ns, 0 for none. */
int fl_fault_apply(struct fl_journal *j, const char *kind, json_t *params, int64_t expires_ns,
                   struct fl_applied *out, struct fl_err *err);
/* revert -> remove entry, under the journal lock, unless another process (restore, recover
 * --all) already did; frees a->entry. Callers that hold the lock use fl_fault_revert_entry. */
int fl_fault_revert(struct fl_journal *j, struct fl_applied *a, struct fl_err *err);

/* Leave an applied fault in place after its owner exits (a corruption kept until `faultline
 * restore`): the entry is marked detached, so `recover` keeps it unless --all. Frees
 * a->entry. */
int fl_fault_detach(struct fl_journal *j, struct fl_applied *a, struct fl_err *err);

/* Map a kind's -errno to the documented exit status (2 bad input, 3 cannot here, 1 else). */
int fl_fault_exit_status(int neg_errno);

/* Delete backup directories whose journal entry is gone (left by a revert killed between
 * removing its entry and its backups). Returns how many were removed. */
int fl_fault_sweep_backups(struct fl_journal *j);

/* Revert a journal entry found on disk (recover); removes it on success. */
int fl_fault_revert_entry(struct fl_journal *j, json_t *entry, struct fl_err *err);

/* One line describing an entry, for status/recover. */
void fl_fault_describe_entry(const json_t *entry, char *buf, size_t len);

#endif
