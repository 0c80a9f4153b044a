/* SPDX-License-Identifier: MIT */
/*
 * report/text.c - a sweep's findings for the terminal: the lines `faultline sweep` prints when
 * it ends, made from its findings document, so `faultline report render SWEEP.json` prints
 * the same thing again later. Plain text, one finding per block, the repro line whole (it is
 * meant to be copied); the document's strings are printed as they are.
 */
#include <errno.h>
#include <string.h>

#include "report.h"
#include "rutil.h"

#define TEXT_MAX_ALSO 5 /* other occurrences shown per finding; the rest are counted */

static void put_also(FILE *out, const char *line) { fprintf(out, "      also: %s\n", line); }

static void put_entry(FILE *out, const json_t *f, bool flaky, size_t idx)
{
    struct fl_sweep_finding l;
    fl_sweep_finding(f, flaky, idx, &l);
    fprintf(out, "  %s  %s: %s\n", l.name, fl_rj_str(f, "kind", "?"), l.title);
    if (*l.text[FL_SWEEP_CHECK])
        fprintf(out, "      check: %s\n", l.text[FL_SWEEP_CHECK]);
    fprintf(out, "      exit %s\n", l.text[FL_SWEEP_EXIT]);
    if (flaky)
        fprintf(out, "      %s\n", l.text[FL_SWEEP_REPLAY]);
    fl_sweep_alsos(out, f, TEXT_MAX_ALSO, put_also);
    fprintf(out, "      repro: %s\n", fl_rj_str(f, "repro", ""));
}

int fl_report_sweep_text(const json_t *sweep, FILE *out, struct fl_err *err)
{
    struct fl_sweep_summary s;
    fl_sweep_summary(sweep, &s);
    double el = 0;
    fl_rj_num(sweep, "elapsed_s", &el);
    fprintf(out, "faultline sweep: %lld trials in %.1fs (%.0f/s) over %zu points, seed %llu%s\n",
            s.trials, el, el > 0 ? (double)s.trials / el : 0.0, s.points, s.seed, s.partial);
    fprintf(out, "command: %s\noutcomes:", s.command);
    for (size_t i = 0; i < s.noutcomes; i++)
        fprintf(out, " %s %lld", s.outcomes[i].kind, s.outcomes[i].trials);
    fputc('\n', out);
    size_t i;
    json_t *f;
    if (!s.findings) {
        fputs("no finding: every trial was ok or handled\n", out);
    } else {
        fprintf(out, "\n%zu finding%s (", s.findings, s.findings == 1 ? "" : "s");
        for (size_t k = 0; k < s.nkinds; k++)
            fprintf(out, "%s%s %lld", k ? ", " : "", s.kinds[k].kind, s.kinds[k].findings);
        fputs("):\n", out);
        json_array_foreach(fl_rj_arr(sweep, "findings"), i, f)
            put_entry(out, f, false, i);
    }
    if (s.flaky) {
        fprintf(out, "\n%zu flaky (a replay gave another outcome: not counted as findings):\n",
                s.flaky);
        json_array_foreach(fl_rj_arr(sweep, "flaky"), i, f)
            put_entry(out, f, true, i);
    }
    if (ferror(out))
        return fl_err_set(err, EIO, "text report: write failed");
    return 0;
}
