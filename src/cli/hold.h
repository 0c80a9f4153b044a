/* SPDX-License-Identifier: MIT */
/*
 * hold.h - the one way a CLI command applies a fault kind: journal, apply, hold for a duration
 * (or until SIGINT/SIGTERM/SIGHUP), revert. Commands only parse their flags into the kind's
 * params and call fl_hold_run.
 */
#ifndef FL_HOLD_H
#define FL_HOLD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct fl_hold {
    const char *kind;        /* a fault kind (src/core/fault.h) */
    json_t *params;          /* borrowed */
    int64_t for_ns;          /* hold this long, then revert; 0: until a signal (or detach) */
    bool detach;             /* with for_ns 0: leave it applied and exit (corrupt: until
                                `faultline restore`) */
    bool json;               /* print {"id", "kind", "what", "applied", "reverted", ...} on
                                stdout at the end */
    /* Called about every tick_ns while held, with the time since apply; a negative return
     * ends the hold early (the fault is still reverted). The kill schedule lives here. */
    int (*tick)(void *arg, int64_t elapsed_ns);
    int64_t tick_ns;
    void *arg;
    /* Called once right after a successful apply with what the kind reported (also merged
     * into the JSON result); for the command to tell people what was done. */
    void (*on_applied)(void *arg, const json_t *report);
    /* Filled in for the caller's report (borrowed, valid until the next call). */
    json_t *extra;           /* merged into the JSON result when not NULL */
};

/* Returns the exit status: 0, or fl_fault_exit_status() of the failure with the error
 * printed as one line. A signal while held reverts and returns 0 (an interrupted hold is
 * the user's choice, not a failure). */
int fl_hold_run(struct fl_hold *h);

/* Open the journal in the state directory (--state-dir, environment, XDG); prints and
 * returns FL_EXIT_NORESOURCE on failure. */
struct fl_journal;
int fl_cli_open_journal(struct fl_journal *j);

/* Open the journal and list its entries (oldest first), holding the journal lock in *lock
 * (a descriptor to close, or -1) when lock is not NULL, so that the caller can revert them
 * without racing another reverter. Prints and returns an exit status on failure, the lock
 * released. */
int fl_cli_journal_entries(struct fl_journal *j, int *lock, json_t **entries);

#endif
