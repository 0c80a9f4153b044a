/* SPDX-License-Identifier: MIT */
/*
 * report/junit.c - the results as JUnit XML (the Ant/Jenkins form CI servers read), so a CI
 * job shows each experiment as a test: one <testsuite> per category, one <testcase> per
 * experiment. Verdicts map as docs/results-format.md says: FAIL is a <failure> (the target
 * misbehaved), ERROR an <error> (the experiment could not be carried out), XFAIL and SKIP are
 * <skipped> with their reason, XPASS passes unless the run was strict. Figures and the seed
 * are <properties>, the probe summary goes to <system-out>. tests/schemas/junit.xsd is the
 * schema this output is checked against.
 *
 * A sweep's findings are one <testsuite>: a <testcase> per finding, as a <failure> so that CI
 * shows it (type = the outcome class, the body its lines and the repro), a <skipped> one per
 * flaky finding, and with no finding one passing testcase "sweep" that says how many trials
 * ran.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "report.h"
#include "rutil.h"

/* Log lines and details copied into <system-out> are capped so a chatty experiment cannot
 * make the XML too large for a CI server to show. */
#define JUNIT_MAX_LOG_LINES 200
#define JUNIT_MAX_TEXT 4000

struct suite_totals {
    int tests, failures, errors, skipped;
    double time_ms;
    long long first_started_ms;
};

static bool counts_as_failure(enum fl_verdict v, bool strict)
{
    return v == FL_V_FAIL || (v == FL_V_XPASS && strict);
}

static void totals_add(struct suite_totals *t, const json_t *e, bool strict)
{
    enum fl_verdict v = fl_verdict_of(e);
    t->tests++;
    if (counts_as_failure(v, strict))
        t->failures++;
    else if (v == FL_V_ERROR || v == FL_V_UNKNOWN)
        t->errors++;
    else if (v == FL_V_XFAIL || v == FL_V_SKIP)
        t->skipped++;
    double d;
    if (fl_rj_num(e, "duration_ms", &d) && d > 0)
        t->time_ms += d;
    long long st = fl_rj_int(e, "started_ms", 0);
    if (st > 0 && (t->first_started_ms <= 0 || st < t->first_started_ms))
        t->first_started_ms = st;
}

static void put_attr(FILE *out, const char *name, const char *value)
{
    fprintf(out, " %s=\"", name);
    fl_xml_puts(out, value);
    fputc('"', out);
}

static void put_property(FILE *out, const char *ind, const char *name, const char *value)
{
    fprintf(out, "%s<property", ind);
    put_attr(out, "name", name);
    put_attr(out, "value", value);
    fputs("/>\n", out);
}

/* A figure as a property: integers without a fraction, others with up to 6 significant
 * digits; null figures are left out, which a reader takes as "not measured". */
static void put_number_property(FILE *out, const char *ind, const char *name, const json_t *v)
{
    char buf[64];
    if (json_is_integer(v))
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v) && isfinite(json_real_value(v)))
        snprintf(buf, sizeof(buf), "%.6g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
    else if (json_is_string(v))
        snprintf(buf, sizeof(buf), "%.63s", json_string_value(v));
    else
        return;
    put_property(out, ind, name, buf);
}

static void put_properties(FILE *out, const json_t *e)
{
    const char *ind = "        ";
    fputs("      <properties>\n", out);
    put_property(out, ind, "verdict", fl_verdict_names[fl_verdict_of(e)]);
    put_number_property(out, ind, "seed", json_object_get(e, "seed"));
    if (*fl_rj_str(e, "id", ""))
        put_property(out, ind, "id", fl_rj_str(e, "id", ""));
    put_property(out, ind, "expect", fl_rj_str(e, "expect", "pass"));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(e, "metrics"), key, v)
        put_number_property(out, ind, key, v);
    size_t i;
    json_t *o;
    json_array_foreach(fl_rj_arr(e, "objectives"), i, o) {
        char name[200], value[200];
        double val, thr;
        snprintf(name, sizeof(name), "objective.%s", fl_rj_str(o, "name", "?"));
        char vs[64] = "null", ts[64] = "?";
        if (fl_rj_num(o, "value", &val))
            snprintf(vs, sizeof(vs), "%.6g", val);
        if (fl_rj_num(o, "threshold", &thr))
            snprintf(ts, sizeof(ts), "%.6g", thr);
        const char *unit = fl_rj_str(o, "unit", "");
        snprintf(value, sizeof(value), "%s %s %s%s%s: %s", vs, fl_rj_str(o, "op", "?"), ts,
                 *unit ? " " : "", unit, fl_rj_bool(o, "met", false) ? "met" : "not met");
        put_property(out, ind, name, value);
    }
    fputs("      </properties>\n", out);
}

/* After a fault's line: whether it took effect ("; fired 37: ...", "; never fired: ...");
 * nothing for a document without `fired`. */
static void put_fired(FILE *out, const json_t *fault)
{
    long long n;
    enum fl_fired st = fl_fault_fired(fault, &n);
    const char *effect = fl_fault_effect(fault);
    if (st == FL_FIRED_UNKNOWN)
        return;
    if (st == FL_FIRED_YES)
        fprintf(out, "; fired %lld", n);
    else
        fputs(st == FL_FIRED_NEVER ? "; never fired" : "; did not fire (allowed)", out);
    if (*effect) {
        fputs(": ", out);
        fl_xml_putn(out, effect, JUNIT_MAX_TEXT);
    }
}

/* The verdict element. message= is the one-line why; the body repeats it with the phase or
 * check that did not hold, which is what a CI page shows when the test is opened. */
static void put_outcome(FILE *out, const json_t *e, bool strict)
{
    enum fl_verdict v = fl_verdict_of(e);
    const char *why = fl_rj_str(e, "why", "");
    const char *reason = fl_rj_str(e, "reason", "");
    char msg[1200];
    const char *tag = NULL;
    switch (v) {
    case FL_V_PASS:
        return;
    case FL_V_XPASS:
        if (!strict)
            return; /* a pass; <system-out> says the xfail can go */
        tag = "failure";
        snprintf(msg, sizeof(msg), "xpass (strict): expected to fail%s%s, but every check held; "
                 "remove the xfail", *reason ? ": " : "", reason);
        break;
    case FL_V_FAIL:
        tag = "failure";
        snprintf(msg, sizeof(msg), "%s", *why ? why : "a check or objective did not hold");
        break;
    case FL_V_ERROR:
    case FL_V_UNKNOWN:
        tag = "error";
        if (v == FL_V_UNKNOWN)
            snprintf(msg, sizeof(msg), "unknown verdict '%s'%s%s",
                     fl_rj_str(e, "verdict", ""), *why ? ": " : "", why);
        else
            snprintf(msg, sizeof(msg), "%s", *why ? why : "the experiment could not be run");
        break;
    case FL_V_XFAIL:
        fputs("      <skipped message=\"xfail: ", out);
        fl_xml_putn(out, *reason ? reason : (*why ? why : "expected to fail"), 1000);
        fputs("\"/>\n", out);
        return;
    case FL_V_SKIP:
        fputs("      <skipped message=\"", out);
        fl_xml_putn(out, *why ? why : (*reason ? reason : "not available here"), 1000);
        fputs("\"/>\n", out);
        return;
    default:
        return;
    }
    fprintf(out, "      <%s message=\"", tag);
    fl_xml_putn(out, msg, 1000);
    fprintf(out, "\" type=\"%s\">", fl_verdict_names[v]);
    fl_xml_putn(out, msg, JUNIT_MAX_TEXT);
    size_t i;
    json_t *p;
    json_array_foreach(fl_rj_arr(e, "phases"), i, p) {
        if (fl_rj_bool(p, "ok", true))
            continue;
        fputs("\nphase ", out);
        fl_xml_puts(out, fl_rj_str(p, "name", "?"));
        fputs(" failed: ", out);
        fl_xml_putn(out, fl_rj_str(p, "detail", ""), JUNIT_MAX_TEXT);
    }
    /* A fault that never fired is why such an ERROR proved nothing: name it in the body. */
    json_array_foreach(fl_rj_arr(e, "faults"), i, p) {
        if (fl_fault_fired(p, NULL) != FL_FIRED_NEVER)
            continue;
        fprintf(out, "\nfault %lld ", fl_rj_int(p, "step", (long long)i + 1));
        fl_xml_puts(out, fl_rj_str(p, "kind", "?"));
        fputs(" never fired", out);
        if (*fl_fault_effect(p)) {
            fputs(": ", out);
            fl_xml_putn(out, fl_fault_effect(p), JUNIT_MAX_TEXT);
        }
    }
    json_array_foreach(fl_rj_arr(e, "checks"), i, p) {
        if (fl_rj_bool(p, "ok", true))
            continue;
        fputs("\ncheck ", out);
        fl_xml_puts(out, fl_rj_str(p, "what", fl_rj_str(p, "probe", "?")));
        fputs(": ", out);
        fl_xml_putn(out, fl_rj_str(p, "detail", ""), JUNIT_MAX_TEXT);
    }
    fprintf(out, "</%s>\n", tag);
}

/* <system-out>: what a reader of the CI page needs to judge the verdict without the JSON. */
static void put_system_out(FILE *out, const json_t *e)
{
    char a[64], b[64], c[64];
    size_t i;
    json_t *x;
    fputs("      <system-out>", out);
    if (fl_verdict_of(e) == FL_V_XPASS) {
        fputs("xpass: expected to fail (", out);
        fl_xml_puts(out, fl_rj_str(e, "reason", "no reason given"));
        fputs("), but every check held: remove the xfail\n", out);
    }
    if (*fl_rj_str(e, "failure_mode", "")) {
        fputs("failure mode: ", out);
        fl_xml_puts(out, fl_rj_str(e, "failure_mode", ""));
        fputc('\n', out);
    }
    if (*fl_rj_str(e, "expected_behaviour", "")) {
        fputs("expected: ", out);
        fl_xml_puts(out, fl_rj_str(e, "expected_behaviour", ""));
        fputc('\n', out);
    }
    json_array_foreach(fl_rj_arr(e, "faults"), i, x) {
        fl_fmt_ms((double)fl_rj_int(x, "start_ms", 0), a, sizeof(a));
        fl_fmt_ms((double)fl_rj_int(x, "end_ms", 0), b, sizeof(b));
        fprintf(out, "fault %lld ", fl_rj_int(x, "step", (long long)i + 1));
        fl_xml_puts(out, fl_rj_str(x, "kind", "?"));
        fputs(": ", out);
        fl_xml_puts(out, fl_rj_str(x, "what", ""));
        fprintf(out, " (%s .. %s)%s", a, b, fl_rj_bool(x, "ok", true) ? "" : " NOT APPLIED: ");
        if (!fl_rj_bool(x, "ok", true))
            fl_xml_puts(out, fl_rj_str(x, "error", ""));
        put_fired(out, x);
        fputc('\n', out);
    }
    json_array_foreach(fl_rj_arr(e, "series"), i, x) {
        struct fl_series_stats st;
        fl_series_stats(x, &st);
        fputs("probe ", out);
        fl_xml_puts(out, fl_rj_str(x, "probe", "?"));
        fputs(" (", out);
        fl_xml_puts(out, fl_rj_str(x, "what", fl_rj_str(x, "kind", "")));
        fl_fmt_ms(st.lat_p50, a, sizeof(a));
        fl_fmt_ms(st.lat_p99, b, sizeof(b));
        fl_fmt_ms(st.lat_max, c, sizeof(c));
        fprintf(out, "): %zu samples, %zu ok, %zu failed; latency p50 %s, p99 %s, max %s",
                st.n, st.ok, st.n - st.ok, a, b, c);
        if (st.first_fail_t >= 0)
            fprintf(out, "; failures from %lld ms to %lld ms", st.first_fail_t, st.last_fail_t);
        fputc('\n', out);
    }
    json_t *load = json_object_get(e, "load");
    if (json_is_object(load)) {
        double er = NAN;
        fl_rj_num(load, "error_rate", &er);
        fl_fmt_pct(er, a, sizeof(a));
        fputs("load ", out);
        fl_xml_puts(out, fl_rj_str(load, "target", ""));
        fprintf(out, ": %lld requests, %lld errors (%s)\n", fl_rj_int(load, "requests", 0),
                fl_rj_int(load, "errors", 0), a);
    }
    json_t *leaks = json_object_get(e, "leaks");
    const char *key;
    json_object_foreach(leaks, key, x) {
        fputs("leak check ", out);
        fl_xml_puts(out, key);
        fprintf(out, ": before %lld, after %lld, limit %lld: %s\n", fl_rj_int(x, "before", 0),
                fl_rj_int(x, "after", 0), fl_rj_int(x, "limit", 0),
                fl_rj_bool(x, "ok", true) ? "ok" : "LEAK");
    }
    const json_t *log = fl_rj_arr(e, "log");
    json_array_foreach(log, i, x) {
        if (i == JUNIT_MAX_LOG_LINES) {
            fprintf(out, "(%zu more log lines in the JSON results)\n",
                    json_array_size(log) - i);
            break;
        }
        if (json_is_string(x)) {
            fl_xml_putn(out, json_string_value(x), JUNIT_MAX_TEXT);
            fputc('\n', out);
        }
    }
    fputs("</system-out>\n", out);
}

static void put_testcase(FILE *out, const json_t *e, const char *category, bool strict)
{
    char idbuf[32];
    const char *title = fl_rj_str(e, "title", fl_rj_str(e, "id", ""));
    if (!*title) {
        snprintf(idbuf, sizeof(idbuf), "(untitled)");
        title = idbuf;
    }
    double d = 0;
    fl_rj_num(e, "duration_ms", &d);
    fputs("    <testcase", out);
    put_attr(out, "classname", category);
    put_attr(out, "name", title);
    if (*fl_rj_str(e, "file", ""))
        put_attr(out, "file", fl_rj_str(e, "file", ""));
    fprintf(out, " time=\"%.3f\">\n", d > 0 ? d / 1000 : 0.0);
    put_properties(out, e);
    put_outcome(out, e, strict);
    put_system_out(out, e);
    fputs("    </testcase>\n", out);
}

static int junit_render(const json_t *results, FILE *out, struct fl_err *err)
{
    bool strict = fl_rj_bool(results, "strict", false);
    const json_t *exps = fl_rj_arr(results, "experiments");
    json_t *cats = fl_report_categories(results);
    char ts[40];
    size_t i, j;
    json_t *c, *e;

    /* Categories named by results.categories first (their order), then any category only an
     * experiment names, so no experiment is ever left out of the XML. */
    json_t *names = json_array();
    json_array_foreach(cats, i, c)
        json_array_append_new(names, json_string(fl_rj_str(c, "name", "general")));
    json_array_foreach(exps, i, e) {
        const char *cat = fl_rj_str(e, "category", "general");
        bool seen = false;
        json_array_foreach(names, j, c)
            seen = seen || !strcmp(json_string_value(c), cat);
        if (!seen)
            json_array_append_new(names, json_string(cat));
    }

    struct suite_totals all = {0};
    json_array_foreach(exps, i, e)
        totals_add(&all, e, strict);
    long long started = fl_rj_int(results, "started_ms", 0);
    long long finished = fl_rj_int(results, "finished_ms", 0);
    double total_s = finished > started && started > 0 ? (finished - started) / 1000.0
                                                       : all.time_ms / 1000;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\"", out);
    fprintf(out, " tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
            all.tests, all.failures, all.errors, all.skipped, total_s);

    json_array_foreach(names, i, c) {
        const char *cat = json_string_value(c);
        struct suite_totals t = {0};
        json_array_foreach(exps, j, e)
            if (!strcmp(fl_rj_str(e, "category", "general"), cat))
                totals_add(&t, e, strict);
        if (t.tests == 0)
            continue; /* a category row with no experiment in this document */
        fl_fmt_iso(t.first_started_ms > 0 ? t.first_started_ms : started, ts, sizeof(ts));
        fputs("  <testsuite", out);
        put_attr(out, "name", cat);
        fprintf(out, " tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\""
                " timestamp=\"%s\"", t.tests, t.failures, t.errors, t.skipped,
                t.time_ms / 1000, ts);
        put_attr(out, "hostname", *fl_rj_str(results, "host", "") ? fl_rj_str(results, "host", "")
                                                                   : "localhost");
        fprintf(out, " id=\"%zu\" package=\"faultline\">\n", i);
        fputs("    <properties>\n", out);
        const char *ind = "      ";
        put_number_property(out, ind, "seed", json_object_get(results, "seed"));
        put_number_property(out, ind, "faultline", json_object_get(results, "faultline"));
        put_number_property(out, ind, "strict", json_object_get(results, "strict"));
        json_t *row;
        json_array_foreach(cats, j, row) {
            if (strcmp(fl_rj_str(row, "name", ""), cat))
                continue;
            static const char *const keys[] = {"scenarios", "tested", "protected", "score",
                                               "threshold", "met"};
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
                char pname[64];
                snprintf(pname, sizeof(pname), "scorecard.%s", keys[k]);
                put_number_property(out, ind, pname, json_object_get(row, keys[k]));
            }
        }
        fputs("    </properties>\n", out);
        json_array_foreach(exps, j, e)
            if (!strcmp(fl_rj_str(e, "category", "general"), cat))
                put_testcase(out, e, cat, strict);
        fputs("    <system-out/>\n    <system-err/>\n  </testsuite>\n", out);
    }
    fputs("</testsuites>\n", out);
    json_decref(names);
    json_decref(cats);
    if (ferror(out))
        return fl_err_set(err, EIO, "junit report: write failed");
    return 0;
}

/* ---- a sweep's findings ---- */

/* A field of the document as a property: strings whole, numbers and booleans as above. */
static void put_field_property(FILE *out, const char *ind, const char *name, const json_t *v)
{
    if (json_is_string(v))
        put_property(out, ind, name, json_string_value(v));
    else
        put_number_property(out, ind, name, v);
}

static void put_also_line(FILE *out, const char *line)
{
    fputs("\nalso: ", out);
    fl_xml_puts(out, line);
}

static void put_sweep_testcase(FILE *out, const json_t *f, bool flaky, size_t idx)
{
    char name[600];
    struct fl_sweep_finding l;
    fl_sweep_finding(f, flaky, idx, &l);
    snprintf(name, sizeof(name), "%s %s", l.name, l.title);
    char classname[128];
    snprintf(classname, sizeof(classname), "sweep.%s", fl_rj_str(f, "kind", "?"));
    double wall = 0;
    fl_rj_num(f, "wall_s", &wall);
    fputs("    <testcase", out);
    put_attr(out, "classname", classname);
    put_attr(out, "name", name);
    fprintf(out, " time=\"%.3f\">\n", wall > 0 ? wall : 0.0);
    fputs("      <properties>\n", out);
    static const char *const keys[] = {"kind", "call", "subject", "site", "site_hash", "effect",
                                       "occurrence", "seed", "exit", "faults", "replay_kind"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        put_field_property(out, "        ", keys[k], json_object_get(f, keys[k]));
    fputs("      </properties>\n", out);
    const char *msg = *l.text[FL_SWEEP_CHECK] ? l.text[FL_SWEEP_CHECK] : l.title;
    if (flaky) {
        fputs("      <skipped message=\"", out);
        fl_xml_putn(out, l.text[FL_SWEEP_REPLAY], 1000);
        fputs("\"/>\n", out);
    } else {
        fputs("      <failure message=\"", out);
        fl_xml_putn(out, msg, 1000);
        fputs("\" type=\"", out);
        fl_xml_puts(out, fl_rj_str(f, "kind", "?"));
        fputs("\">", out);
        fl_xml_puts(out, l.title);
    }
    /* The failure's body, or for a flaky one its output: what the CI page shows. */
    if (flaky)
        fputs("      <system-out>", out);
    for (int i = 0; i < FL_SWEEP_NLINES; i++) {
        if (!*l.text[i])
            continue;
        fprintf(out, "\n%s: ", l.label[i]);
        fl_xml_puts(out, l.text[i]);
    }
    fputs("\nrepro: ", out);
    fl_xml_putn(out, fl_rj_str(f, "repro", ""), JUNIT_MAX_TEXT);
    fl_sweep_alsos(out, f, JUNIT_MAX_LOG_LINES, put_also_line);
    fputs(flaky ? "</system-out>\n" : "</failure>\n", out);
    if (!flaky) {
        fputs("      <system-out>", out);
        fl_xml_putn(out, fl_rj_str(f, "check_output", ""), JUNIT_MAX_TEXT);
        fputs("</system-out>\n", out);
    }
    if (*fl_rj_str(f, "stderr", "")) {
        fputs("      <system-err>", out);
        fl_xml_putn(out, fl_rj_str(f, "stderr", ""), JUNIT_MAX_TEXT);
        fputs("</system-err>\n", out);
    }
    fputs("    </testcase>\n", out);
}

static int junit_sweep_render(const json_t *sweep, FILE *out, struct fl_err *err)
{
    struct fl_sweep_summary sum;
    fl_sweep_summary(sweep, &sum);
    size_t nf = sum.findings, nflaky = sum.flaky, tests = nf + nflaky + (nf == 0);
    double el = 0;
    fl_rj_num(sweep, "elapsed_s", &el);
    el = el > 0 ? el : 0;
    char suite[sizeof(sum.command) + 16];
    snprintf(suite, sizeof(suite), "sweep: %s", sum.command);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline sweep\"", out);
    fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\">\n",
            tests, nf, nflaky, el);
    fputs("  <testsuite", out);
    put_attr(out, "name", suite);
    fprintf(out, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"%.3f\""
            " id=\"0\" package=\"faultline\">\n", tests, nf, nflaky, el);
    const char *ind = "      ";
    fputs("    <properties>\n", out);
    put_property(out, ind, "command", sum.command);
    static const char *const keys[] = {"seed", "trials", "planned", "complete", "interrupted",
                                       "elapsed_s"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        put_field_property(out, ind, keys[k], json_object_get(sweep, keys[k]));
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(sweep, "outcomes"), key, v) {
        char pname[128];
        snprintf(pname, sizeof(pname), "outcome.%s", key);
        put_number_property(out, ind, pname, v);
    }
    fputs("    </properties>\n", out);
    if (nf == 0) {
        long long trials = sum.trials;
        char buf[64];
        fprintf(out, "    <testcase classname=\"sweep\" name=\"sweep\" time=\"%.3f\">\n"
                "      <properties>\n", el);
        snprintf(buf, sizeof(buf), "%lld", trials);
        put_property(out, "        ", "trials", buf);
        fprintf(out, "      </properties>\n      <system-out>%lld trials, no finding: every "
                "trial was ok or handled</system-out>\n    </testcase>\n", trials);
    }
    size_t i;
    json_t *f;
    json_array_foreach(fl_rj_arr(sweep, "findings"), i, f)
        put_sweep_testcase(out, f, false, i);
    json_array_foreach(fl_rj_arr(sweep, "flaky"), i, f)
        put_sweep_testcase(out, f, true, i);
    fputs("    <system-out/>\n    <system-err/>\n  </testsuite>\n</testsuites>\n", out);
    if (ferror(out))
        return fl_err_set(err, EIO, "junit report: write failed");
    return 0;
}

const struct fl_report_ops fl_report_junit = {
    .name = "junit",
    .summary = "JUnit XML for CI: a testcase per experiment, or per finding of a sweep",
    .render = junit_render,
    .render_sweep = junit_sweep_render,
};
