/* SPDX-License-Identifier: MIT */
/* faults/stop.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int stop_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int stop_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_stop = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "stop",
    .summary = "(not implemented yet)",
    .supported = stop_supported,
    .apply = stop_noop,
    .revert = stop_noop,
};
