/* SPDX-License-Identifier: MIT */
/* faults/kill.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int kill_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int kill_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_kill = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "kill",
    .summary = "(not implemented yet)",
    .supported = kill_supported,
    .apply = kill_noop,
    .revert = kill_noop,
};
