/* SPDX-License-Identifier: MIT */
/* faults/fill.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int fill_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int fill_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_fill = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "fill",
    .summary = "(not implemented yet)",
    .supported = fill_supported,
    .apply = fill_noop,
    .revert = fill_noop,
};
