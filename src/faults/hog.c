/* SPDX-License-Identifier: MIT */
/* faults/hog.c - placeholder until the kind lands. */
#include <errno.h>
#include <string.h>

#include "fault.h"

static int hog_supported(char *why, size_t len)
{
    strncpy(why, "not implemented yet", len - 1);
    return -ENOTSUP;
}

static int hog_noop(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                     struct fl_err *err)
{
    return 0;
}

const struct fl_fault_ops fl_fault_hog = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "hog",
    .summary = "(not implemented yet)",
    .supported = hog_supported,
    .apply = hog_noop,
    .revert = hog_noop,
};
