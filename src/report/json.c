/* SPDX-License-Identifier: MIT */
/*
 * report/json.c - the results document itself (docs/results-format.md), every sample
 * included. It is the one report the others can be made again from, so it is written as
 * it is held: keys in insertion order, indented by 2, a final newline. A sweep's findings
 * document is written back the same way.
 */
#include <errno.h>
#include <string.h>

#include "report.h"

static int json_render(const json_t *results, FILE *out, struct fl_err *err)
{
    /* 15 significant digits, not jansson's 17: 0.667 stays "0.667" instead of
     * "0.66700000000000004", and rendering a rendered document again gives the same bytes
     * (15 digits survive the trip through a double). */
    size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15);
    if (json_dumpf(results, out, flags) < 0 || fputc('\n', out) == EOF || ferror(out))
        return fl_err_set(err, errno ? errno : EIO, "json report: write failed: %s",
                          strerror(errno ? errno : EIO));
    return 0;
}

const struct fl_report_ops fl_report_json = {
    .name = "json",
    .summary = "the results document: every experiment, figure and sample (JSON)",
    .render = json_render,
    .render_sweep = json_render,
};
