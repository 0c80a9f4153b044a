/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the controller's side of the control block (the preload's side is in src/preload/).
 *
 * `faultline inject` creates the block, `faultline ctl` and the runner open it to switch rules
 * and read counters while the target runs. The block is a file (on tmpfs unless --ctl names
 * another place) so that any process can find it by path.
 */
#ifndef FL_CTL_H
#define FL_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "ctlblock.h"
#include "err.h"
#include "rule.h"

struct fl_ctl_handle {
    struct fl_ctl *ctl;   /* the mapping */
    char path[4096];      /* where the block lives */
};

struct fl_rule_stats {
    const char *id;       /* points into the block */
    const char *text;
    bool enabled;
    uint64_t seen;        /* calls that matched the rule's selectors while it was on */
    uint64_t injected;    /* faults it caused */
};

/* Create the block at path (which must not exist: O_EXCL, so a user file is never clobbered),
 * with the rules all enabled. flags: FL_CTL_NO_FOLLOW, FL_CTL_OBSERVE (the preload records
 * every call into the table named by $FAULTLINE_SURFACE; see surface.h). */
int fl_ctl_create(const char *path, const struct fl_rule_set *set, uint64_t seed, uint64_t token,
                  unsigned flags, struct fl_ctl_handle **out, struct fl_err *err);
/* Open an existing block; checks magic, version and size. */
int fl_ctl_open(const char *path, struct fl_ctl_handle **out, struct fl_err *err);
/* Unmap and free; does not remove the file. NULL is fine. */
void fl_ctl_close(struct fl_ctl_handle *h);

/* A rule by id ("2", "slow-redis") or index; returns its index or -ENOENT. */
int fl_ctl_find(const struct fl_ctl_handle *h, const char *id);
int fl_ctl_count(const struct fl_ctl_handle *h);
/* Switch a rule (index) or all rules (index -1). */
int fl_ctl_set_enabled(struct fl_ctl_handle *h, int index, bool on);
/* Stop the observer (FL_CTL_OBSERVE): calls go back to the fast path. The rules stay. */
void fl_ctl_stop_observing(struct fl_ctl_handle *h);
int fl_ctl_stats(const struct fl_ctl_handle *h, int index, struct fl_rule_stats *out);

/* A default place for a block: $XDG_RUNTIME_DIR, else /dev/shm, else /tmp. */
void fl_ctl_default_path(char *buf, size_t len);
/* That directory (the environment's string or a literal). */
const char *fl_ctl_runtime_dir(void);

#endif
