/* SPDX-License-Identifier: MIT */
/* faults/lock.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int lock_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int lock_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_lock = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "lock",
    .summary = "(not implemented yet)",
    .supported = lock_supported,
    .apply = lock_noop,
    .revert = lock_noop,
};
