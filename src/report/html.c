/* SPDX-License-Identifier: MIT */
/* report/html.c - placeholder until the format lands. */
#include <errno.h>

#include "report.h"

static int html_render(const json_t *results, FILE *out, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "html report: not implemented yet");
}

const struct fl_report_ops fl_report_html = {
    .name = "html",
    .summary = "(not implemented yet)",
    .render = html_render,
};
