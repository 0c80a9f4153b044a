/* SPDX-License-Identifier: MIT */
/*
 * report.h - the registry of report formats. Every report is a view of one results document
 * (docs/results-format.md), so `faultline run` and `faultline report render RESULTS.json`
 * produce the same files from the same code. A format also renders a sweep's findings
 * document (`faultline sweep --json`, docs/discovery.md): `faultline report render` tells the
 * two apart by their top-level shape (fl_report_doc_of) and calls the matching hook.
 *
 * To add a format: src/report/<name>.c exporting `const struct fl_report_ops
 * fl_report_<name>`, one X(<name>) in FL_REPORTS, the file in src/report/meson.build, a
 * `--<name> FILE` flag appears on `faultline run` and `faultline report render` by itself.
 */
#ifndef FL_REPORT_H
#define FL_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "err.h"

struct fl_report_ops {
    const char *name;     /* "junit" -> the --junit FILE flag */
    const char *summary;  /* one line for --help */
    /* Write the report of results to out. 0 or -errno with err. */
    int (*render)(const json_t *results, FILE *out, struct fl_err *err);
    /* The same for a sweep's findings document; NULL: this format has no view of one. */
    int (*render_sweep)(const json_t *sweep, FILE *out, struct fl_err *err);
};

#define FL_REPORTS(X) X(html) X(json) X(junit) X(markdown)

#define FL_REPORT_DECLARE(name) extern const struct fl_report_ops fl_report_##name;
FL_REPORTS(FL_REPORT_DECLARE)
#undef FL_REPORT_DECLARE

extern const struct fl_report_ops *const fl_reports[];
extern const size_t fl_report_count;

const struct fl_report_ops *fl_report_find(const char *name);

/* The documents a report is made from. */
enum fl_report_doc {
    FL_DOC_OTHER,   /* neither of these: `faultline report` refuses it in one line */
    FL_DOC_RESULTS, /* faultline run's: an object with an "experiments" array */
    FL_DOC_SWEEP,   /* faultline sweep's: an object with "tool": "faultline sweep" */
};
enum fl_report_doc fl_report_doc_of(const json_t *doc);

/* Render to a file path ("-" is stdout), written to a temporary file and renamed, so a
 * reader never sees half a report. The document may be results or a sweep's findings
 * (-ENOTSUP with err when the format has no view of it, -EINVAL when it is neither). */
int fl_report_write(const struct fl_report_ops *ops, const json_t *doc, const char *path,
                    struct fl_err *err);

/* A sweep's findings for the terminal: what `faultline sweep` prints when it ends, and what
 * `faultline report render SWEEP.json` prints with no --FORMAT (src/report/text.c). */
int fl_report_sweep_text(const json_t *sweep, FILE *out, struct fl_err *err);

/* The history database (SQLite): one row per run and per experiment. */
int fl_history_record(const char *db_path, const json_t *results, struct fl_err *err);
/* The trend across runs: as text (a table per experiment: verdicts, availability, time to
 * recover, newest last) or as one self-contained HTML page. limit: the newest N runs. */
int fl_history_show(const char *db_path, FILE *out, bool html, int limit, struct fl_err *err);
/* The default database: history.sqlite in the state directory (fl_state_dir(), which takes
 * the --state-dir override or NULL), so `run` and `report history` agree on where it is. */
int fl_history_default_path(const char *state_override, char *buf, size_t len,
                            struct fl_err *err);

#endif
