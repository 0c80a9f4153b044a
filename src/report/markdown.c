/* SPDX-License-Identifier: MIT */
/* report/markdown.c - placeholder until the format lands. */
#include <errno.h>

#include "report.h"

static int markdown_render(const json_t *results, FILE *out, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "markdown report: not implemented yet");
}

const struct fl_report_ops fl_report_markdown = {
    .name = "markdown",
    .summary = "(not implemented yet)",
    .render = markdown_render,
};
