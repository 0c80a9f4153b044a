/* SPDX-License-Identifier: MIT */
/*
 * cmd_report.c - `faultline report`: make the reports again from a saved results document
 * or a sweep's findings (render), add a saved results document to the history database
 * (record), and show how runs moved over time (history). The --<format> flags of render come
 * from the FL_REPORTS registry (src/report/report.h), so a new format needs no change here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "log.h"
#include "report.h"

#define REPORT_MAX_OUTPUTS 32

static void print_usage(void)
{
    printf("usage: faultline report render RESULTS.json|SWEEP.json [--FORMAT FILE]...\n"
           "       faultline report record RESULTS.json [--db FILE]\n"
           "       faultline report history [--db FILE] [--html FILE] [--limit N]\n\n"
           "render: make reports from a results document (faultline run --json) or a sweep's\n"
           "findings (faultline sweep --json; with no --FORMAT, printed as the sweep printed\n"
           "them); FILE '-' is stdout. Formats:\n");
    for (size_t i = 0; i < fl_report_count; i++)
        printf("  --%-9s FILE  %s\n", fl_reports[i]->name, fl_reports[i]->summary);
    printf("record: add a results document to the history database.\n"
           "history: per experiment, the verdicts, availability and time to recover of the\n"
           "newest N runs (default 10), in the terminal or as one HTML page.\n"
           "The history database defaults to history.sqlite in the state directory.\n");
}

/* "--name FILE" or "--name=FILE": the value, advancing *i; NULL if argv[*i] is not --name. */
static const char *flag_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
        return NULL;
    if (a[2 + n] == '=')
        return a + 3 + n;
    if (a[2 + n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* The document at path ("-": stdin): a results document, or a sweep's findings when sweeps
 * is set; anything else is refused in one line naming the file and what was expected. */
static int load_doc(const char *path, bool sweeps, json_t **out, enum fl_report_doc *kind)
{
    json_error_t jerr;
    json_t *doc = !strcmp(path, "-") ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr)
                                     : json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (jerr.line < 0) {
            fl_errorf("report: %s: %s", path, jerr.text);
            return FL_EXIT_NORESOURCE;
        }
        return fl_usage_error("report: %s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    *kind = fl_report_doc_of(doc);
    if (*kind == FL_DOC_SWEEP && !sweeps) {
        json_decref(doc);
        return fl_usage_error("report: %s: a sweep's findings, not a results document (expected "
                              "an object with an \"experiments\" array, from faultline run "
                              "--json; only runs have a history)", path);
    }
    if (*kind == FL_DOC_OTHER) {
        json_decref(doc);
        return fl_usage_error("report: %s: not a results document or a sweep's findings "
                              "(expected an object with an \"experiments\" array, from "
                              "faultline run --json, or with \"tool\": \"faultline sweep\", "
                              "from faultline sweep --json)", path);
    }
    const char *field = *kind == FL_DOC_SWEEP ? "version" : "format";
    json_t *fmt = json_object_get(doc, field);
    if (fmt && json_integer_value(fmt) != 1)
        fl_warnf("report: %s: %s %lld is newer than this faultline knows (1); rendering "
                 "what it can", path, field, (long long)json_integer_value(fmt));
    *out = doc;
    return 0;
}

/* The history database: --db as given, or the default one in the state directory (into
 * buf). */
static int resolve_db(const char **db, char *buf, size_t len)
{
    if (*db)
        return 0;
    struct fl_err err = {""};
    if (fl_history_default_path(arg_state_dir, buf, len, &err) < 0) {
        fl_errorf("report: %s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    *db = buf;
    return 0;
}

static int report_render(int argc, char **argv)
{
    const char *input = NULL;
    const struct fl_report_ops *ops[REPORT_MAX_OUTPUTS];
    const char *paths[REPORT_MAX_OUTPUTS];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        bool missing = false, matched = false;
        for (size_t k = 0; k < fl_report_count && !matched; k++) {
            const char *v = flag_value(argc, argv, &i, fl_reports[k]->name, &missing);
            if (missing)
                return fl_usage_error("report render: --%s needs a FILE ('-' for stdout)",
                                      fl_reports[k]->name);
            if (!v)
                continue;
            matched = true;
            if (n == REPORT_MAX_OUTPUTS)
                return fl_usage_error("report render: at most %d outputs", REPORT_MAX_OUTPUTS);
            ops[n] = fl_reports[k];
            paths[n++] = v;
        }
        if (matched)
            continue;
        if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            arg_state_dir = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return fl_usage_error("report render: unknown option '%s' (formats: see 'faultline "
                                  "report --help')", argv[i]);
        else if (input)
            return fl_usage_error("report render: one results file only ('%s' and '%s')",
                                  input, argv[i]);
        else
            input = argv[i];
    }
    if (!input)
        return fl_usage_error("report render: which results file? (faultline report render "
                              "RESULTS.json --html report.html)");
    json_t *doc;
    enum fl_report_doc kind;
    int rc = load_doc(input, true, &doc, &kind);
    if (rc)
        return rc;
    if (n == 0 && kind == FL_DOC_SWEEP) {
        struct fl_err err = {""};
        rc = fl_report_sweep_text(doc, stdout, &err);
        json_decref(doc);
        if (fflush(stdout) != 0 || rc < 0) {
            fl_errorf("report: %s", rc < 0 ? err.msg : strerror(errno));
            return FL_EXIT_NORESOURCE;
        }
        return 0;
    }
    if (n == 0) {
        json_decref(doc);
        return fl_usage_error("report render: nothing to render: give at least one of "
                              "--html, --json, --junit, --markdown with a FILE");
    }
    int status = 0;
    for (int k = 0; k < n; k++) {
        struct fl_err err = {""};
        if (fl_report_write(ops[k], doc, paths[k], &err) < 0) {
            fl_errorf("report: %s: %s", ops[k]->name, err.msg);
            status = FL_EXIT_NORESOURCE;
        }
    }
    json_decref(doc);
    return status;
}

static int report_record(int argc, char **argv)
{
    const char *input = NULL, *db = NULL;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v = flag_value(argc, argv, &i, "db", &missing);
        if (missing)
            return fl_usage_error("report record: --db needs a FILE");
        if (v)
            db = v;
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            arg_state_dir = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return fl_usage_error("report record: unknown option '%s'", argv[i]);
        else if (input)
            return fl_usage_error("report record: one results file only");
        else
            input = argv[i];
    }
    if (!input)
        return fl_usage_error("report record: which results file?");
    char dbbuf[4300];
    int rc = resolve_db(&db, dbbuf, sizeof(dbbuf));
    if (rc)
        return rc;
    json_t *doc;
    enum fl_report_doc kind;
    rc = load_doc(input, false, &doc, &kind);
    if (rc)
        return rc;
    struct fl_err err = {""};
    rc = fl_history_record(db, doc, &err);
    json_decref(doc);
    if (rc < 0) {
        fl_errorf("report record: %s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    fl_infof("recorded in %s", db);
    return 0;
}

static int report_history(int argc, char **argv)
{
    const char *db = NULL, *html = NULL;
    long limit = 10;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if ((v = flag_value(argc, argv, &i, "db", &missing)))
            db = v;
        else if (!missing && (v = flag_value(argc, argv, &i, "html", &missing)))
            html = v;
        else if (!missing && (v = flag_value(argc, argv, &i, "limit", &missing))) {
            char *end;
            errno = 0;
            limit = strtol(v, &end, 10);
            if (errno || *end || end == v || limit < 1 || limit > 100000)
                return fl_usage_error("report history: --limit expects a number of runs from 1 "
                                      "to 100000, got '%s'", v);
        } else if (missing)
            return fl_usage_error("report history: %s needs a value", argv[i]);
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            arg_state_dir = argv[++i];
        else
            return fl_usage_error("report history: unknown argument '%s'", argv[i]);
    }
    char dbbuf[4300];
    int rc = resolve_db(&db, dbbuf, sizeof(dbbuf));
    if (rc)
        return rc;
    struct fl_err err = {""};
    if (html && strcmp(html, "-")) {
        char tmp[4200];
        snprintf(tmp, sizeof(tmp), "%s.tmp", html);
        FILE *out = fopen(tmp, "w");
        if (!out) {
            fl_errorf("report history: %s: %s", tmp, strerror(errno));
            return FL_EXIT_NORESOURCE;
        }
        rc = fl_history_show(db, out, true, (int)limit, &err);
        if (fclose(out) != 0 && rc == 0)
            rc = fl_err_set(&err, errno, "%s: %s", tmp, strerror(errno));
        /* Renamed into place only when complete, as fl_report_write does. */
        if (rc == 0 && rename(tmp, html) < 0)
            rc = fl_err_set(&err, errno, "%s: %s", html, strerror(errno));
        if (rc < 0)
            remove(tmp);
    } else {
        rc = fl_history_show(db, stdout, html != NULL, (int)limit, &err);
    }
    if (rc < 0) {
        fl_errorf("report history: %s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    return 0;
}

int cmd_report(int argc, char **argv)
{
    if (argc < 2)
        return fl_usage_error("report: expected 'render', 'record' or 'history' (try "
                              "'faultline report --help')");
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        print_usage();
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_usage();
            return 0;
        }
    if (!strcmp(sub, "render"))
        return report_render(argc - 1, argv + 1);
    if (!strcmp(sub, "record"))
        return report_record(argc - 1, argv + 1);
    if (!strcmp(sub, "history"))
        return report_history(argc - 1, argv + 1);
    return fl_usage_error("report: unknown subcommand '%s' (expected render, record or history)",
                          sub);
}
