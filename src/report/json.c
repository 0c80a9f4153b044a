/* SPDX-License-Identifier: MIT */
/* report/json.c - placeholder until the format lands. */
#include <errno.h>

#include "report.h"

static int json_render(const json_t *results, FILE *out, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "json report: not implemented yet");
}

const struct fl_report_ops fl_report_json = {
    .name = "json",
    .summary = "(not implemented yet)",
    .render = json_render,
};
