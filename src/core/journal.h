/* SPDX-License-Identifier: MIT */
/*
 * journal.h - the write-ahead journal of applied faults.
 *
 * One JSON file per applied fault in <state>/journal/, written durably (temp file, fsync,
 * rename, fsync of the directory) before the fault acts, and removed after its revert. An
 * entry holds the kind, its parameters, how to undo it, the owner (pid and the kernel's
 * start time of that pid, so a reused pid is not mistaken for the owner) and an optional
 * expiry. `faultline recover` reverts the entries whose owner is gone.
 *
 * State directory, first found: --state-dir, $FAULTLINE_STATE_DIR, $XDG_STATE_HOME/faultline,
 * $HOME/.local/state/faultline.
 */
#ifndef FL_JOURNAL_H
#define FL_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct fl_journal {
    char state[4096];   /* the state directory */
    char dir[4200];     /* <state>/journal */
};

int fl_state_dir(const char *override, char *buf, size_t len, struct fl_err *err);
/* Create the journal directory if needed. */
int fl_journal_open(struct fl_journal *j, const char *state_dir, struct fl_err *err);
/* Give entry an "id" (written into it and into id_out) and store it durably. */
int fl_journal_write(struct fl_journal *j, json_t *entry, char *id_out, size_t id_len,
                     struct fl_err *err);
/* Replace an existing entry durably (same id). */
int fl_journal_update(struct fl_journal *j, json_t *entry, struct fl_err *err);
int fl_journal_remove(struct fl_journal *j, const char *id, struct fl_err *err);
/* All entries, oldest first; entries that cannot be parsed come back as
 * {"id":..., "unreadable": "why"}. */
int fl_journal_list(struct fl_journal *j, json_t **entries, struct fl_err *err);
/* Exclusive lock on the journal (for recover); returns an fd to close, or -errno. */
int fl_journal_lock(struct fl_journal *j);

/* The kernel's start time of pid (clock ticks since boot), 0 if no such process. */
uint64_t fl_proc_starttime(pid_t pid);
/* True if pid has exited but was not reaped yet (state Z in /proc/PID/stat). */
bool fl_proc_is_zombie(pid_t pid);
/* True if pid runs and, when starttime is not 0, is the same process. */
bool fl_owner_alive(pid_t pid, uint64_t starttime);

#endif
