/* SPDX-License-Identifier: MIT */
/* hold.c - apply, hold, revert for the host/file fault commands; see hold.h. */
#include "hold.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "err.h"
#include "fault.h"
#include "journal.h"
#include "log.h"
#include "units.h"

int fl_cli_open_journal(struct fl_journal *j)
{
    char state[4096];
    struct fl_err err;
    if (fl_state_dir(arg_state_dir, state, sizeof(state), &err) < 0 ||
        fl_journal_open(j, state, &err) < 0) {
        fl_errorf("%s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    return 0;
}

int fl_cli_journal_entries(struct fl_journal *j, int *lock, json_t **entries)
{
    int rc = fl_cli_open_journal(j);
    if (rc)
        return rc;
    if (lock)
        *lock = fl_journal_lock(j);
    struct fl_err err = {""};
    if (fl_journal_list(j, entries, &err) < 0) {
        if (lock && *lock >= 0)
            close(*lock);
        fl_errorf("%s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    return 0;
}

/* Wait until deadline (monotonic ns, 0 = none) or a stop signal; runs the tick between.
 * Returns the signal number that ended it, or 0. */
static int wait_held(struct fl_hold *h, const sigset_t *stop, int64_t start)
{
    for (;;) {
        int64_t now = fl_mono_ns();
        int64_t left = h->for_ns ? start + h->for_ns - now : INT64_MAX;
        if (left <= 0)
            return 0;
        int64_t step = left;
        if (h->tick && h->tick_ns > 0 && h->tick_ns < step)
            step = h->tick_ns;
        if (step > 3600 * (int64_t)1000000000)
            step = 3600 * (int64_t)1000000000;
        struct timespec ts = {step / 1000000000, step % 1000000000};
        int sig = sigtimedwait(stop, NULL, &ts);
        if (sig > 0)
            return sig;
        if (h->tick && h->tick(h->arg, fl_mono_ns() - start) < 0)
            return 0;
    }
}

int fl_hold_run(struct fl_hold *h)
{
    struct fl_journal j;
    int rc = fl_cli_open_journal(&j);
    if (rc)
        return rc;
    /* Blocked before apply: a Ctrl-C during apply lets it finish, then reverts it. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, &old);

    struct fl_err err = {""};
    struct fl_applied a = {0};
    int64_t expires = h->for_ns ? fl_wall_ms() * 1000000 + h->for_ns : 0;
    int64_t applied_ms = fl_wall_ms();
    rc = fl_fault_apply(&j, h->kind, h->params, expires, &a, &err);
    if (rc < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        fl_errorf("%s", err.msg);
        return fl_fault_exit_status(rc);
    }
    char what[600];
    fl_fault_describe_entry(a.entry, what, sizeof(what));
    json_t *result = json_pack("{s:s, s:s, s:s, s:I}", "id", a.id, "kind", h->kind, "what", what,
                               "applied_ms", (json_int_t)applied_ms);
    if (a.report)
        json_object_update(result, a.report);
    if (h->on_applied && !h->json)
        h->on_applied(h->arg, a.report);
    int status = 0;
    if (h->detach && !h->for_ns) {
        if (fl_fault_detach(&j, &a, &err) < 0) {
            fl_errorf("%s", err.msg);
            status = FL_EXIT_NORESOURCE;
        } else if (!h->json) {
            fl_noticef("applied %s: %s (undo with 'faultline restore %s')", a.id, what, a.id);
        }
        json_object_set_new(result, "detached", json_true());
    } else {
        char dur[32];
        if (!h->json)
            fl_noticef("applied %s: %s%s%s", a.id, what, h->for_ns ? " for " : ", until Ctrl-C",
                       h->for_ns ? fl_format_duration(h->for_ns, dur, sizeof(dur)) : "");
        int sig = wait_held(h, &stop, fl_mono_ns());
        if (sig && !h->json)
            fl_noticef("SIG%s: reverting", sigabbrev_np(sig));
        if (sig)
            json_object_set_new(result, "interrupted_by", json_string(sigabbrev_np(sig)));
        if (fl_fault_revert(&j, &a, &err) < 0) {
            fl_errorf("could not revert %s: %s (the journal keeps it: run 'faultline recover')",
                      a.id, err.msg);
            status = FL_EXIT_FAILED;
        } else {
            json_object_set_new(result, "reverted_ms", json_integer(fl_wall_ms()));
            if (!h->json)
                fl_noticef("reverted %s", a.id);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (h->extra)
        json_object_update(result, h->extra);
    if (h->json) {
        char *text = json_dumps(result, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    json_decref(result);
    return status;
}
