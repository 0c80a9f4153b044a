/* SPDX-License-Identifier: MIT */
/* report/junit.c - placeholder until the format lands. */
#include <errno.h>

#include "report.h"

static int junit_render(const json_t *results, FILE *out, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "junit report: not implemented yet");
}

const struct fl_report_ops fl_report_junit = {
    .name = "junit",
    .summary = "(not implemented yet)",
    .render = junit_render,
};
