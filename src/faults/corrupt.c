/* SPDX-License-Identifier: MIT */
/* faults/corrupt.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int corrupt_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int corrupt_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_corrupt = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "corrupt",
    .summary = "(not implemented yet)",
    .supported = corrupt_supported,
    .apply = corrupt_noop,
    .revert = corrupt_noop,
};
