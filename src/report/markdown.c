/* SPDX-License-Identifier: MIT */
/*
 * report/markdown.c - the scorecard as Markdown, for a pull request comment, a wiki page or
 * a README: a summary line, the scorecard by category, whether each fault fired, the gaps
 * (FAIL and ERROR with why), the known gaps (XFAIL with their reasons), XPASSes (a gap that
 * is now closed), then recommendations derived from the figures. Every piece of text from the
 * document is escaped, so a title cannot break a table or inject markup.
 *
 * A sweep's findings get their own page: the summary (command, trials, findings by outcome
 * class, seed, duration), then "Findings" with one entry per finding (its fault, where, the
 * replay, the check, the exit, the repro line in a code block, the other occurrences), then
 * the flaky ones in the same form.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "report.h"
#include "rutil.h"

/* Recommendation thresholds: chosen to flag what an operator would want to look at, not as
 * pass/fail rules (objectives in the experiment are those). */
#define MD_SLOW_RECOVERY_MS 5000.0
#define MD_LOW_AVAILABILITY 0.99
#define MD_LOW_AVAIL_FAULTS 0.90
#define MD_HIGH_ERROR_RATE 0.05
#define MD_SLOW_DETECT_MS 10000.0
/* Fault windows listed per experiment in "## Faults"; the rest are counted. */
#define MD_MAX_FAULTS 10

static void put_title(FILE *out, const json_t *e)
{
    fputs("**", out);
    fl_md_puts(out, fl_rj_str(e, "title", fl_rj_str(e, "id", "(untitled)")));
    fputs("**", out);
    if (*fl_rj_str(e, "id", "")) {
        fputs(" (", out);
        fl_md_code(out, fl_rj_str(e, "id", ""));
        fputc(')', out);
    }
}

static void put_summary(FILE *out, const json_t *results)
{
    int c[FL_V_COUNT];
    fl_report_tally(results, c);
    int total = (int)json_array_size(fl_rj_arr(results, "experiments"));
    char when[64], dur[64];
    fl_fmt_when(fl_rj_int(results, "started_ms", 0), when, sizeof(when));
    long long s = fl_rj_int(results, "started_ms", 0), f = fl_rj_int(results, "finished_ms", 0);
    fl_fmt_ms(f > s && s > 0 ? (double)(f - s) : NAN, dur, sizeof(dur));
    fputs("# faultline scorecard\n\n", out);
    fprintf(out, "**%d experiment%s:** %d passed, %d failed, %d errors, %d expected failures "
            "(xfail), %d unexpected passes (xpass), %d skipped", total, total == 1 ? "" : "s",
            c[FL_V_PASS], c[FL_V_FAIL], c[FL_V_ERROR], c[FL_V_XFAIL], c[FL_V_XPASS],
            c[FL_V_SKIP]);
    if (c[FL_V_UNKNOWN])
        fprintf(out, ", %d with an unknown verdict", c[FL_V_UNKNOWN]);
    fputs(".\n\n", out);
    fputs("Host ", out);
    fl_md_code(out, fl_rj_str(results, "host", "?"));
    fprintf(out, ", seed %lld, started %s, took %s", fl_rj_int(results, "seed", 0), when, dur);
    if (fl_rj_bool(results, "strict", false))
        fputs(", strict (an unexpected pass fails the run)", out);
    fputs(". Replay with `faultline run --seed ", out);
    fprintf(out, "%lld`.\n\n", fl_rj_int(results, "seed", 0));
}

/* "7/7", bold when a window never fired (an ERROR), "-" when no window records `fired`. */
static void fmt_fired(const struct fl_fired_tally *t, char *buf, size_t len)
{
    if (!t->known)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, t->never ? "**%lld/%lld**" : "%lld/%lld", t->fired, t->known);
}

static void put_scorecard(FILE *out, const json_t *results)
{
    json_t *cats = fl_report_categories(results);
    fputs("## Scorecard\n\n", out);
    if (json_array_size(cats) == 0) {
        fputs("No experiments were run.\n\n", out);
        json_decref(cats);
        return;
    }
    fputs("| category | scenarios | tested | protected | score | threshold | met | faults fired |\n"
          "|---|---:|---:|---:|---:|---:|:---:|---:|\n", out);
    size_t i;
    json_t *c;
    long long scen = 0, tested = 0, prot = 0;
    struct fl_fired_tally sum = {0}, ct;
    char fired[64];
    json_array_foreach(cats, i, c) {
        char score[32] = "-", thr[32] = "-";
        double v;
        if (fl_rj_num(c, "score", &v))
            fl_fmt_pct(v, score, sizeof(score));
        if (fl_rj_num(c, "threshold", &v))
            fl_fmt_pct(v, thr, sizeof(thr));
        json_t *met = json_object_get(c, "met");
        fputs("| ", out);
        fl_md_puts(out, fl_rj_str(c, "name", "general"));
        fl_fired_tally(results, fl_rj_str(c, "name", "general"), &ct);
        fmt_fired(&ct, fired, sizeof(fired));
        fprintf(out, " | %lld | %lld | %lld | %s | %s | %s | %s |\n",
                fl_rj_int(c, "scenarios", 0), fl_rj_int(c, "tested", 0),
                fl_rj_int(c, "protected", 0), score, thr,
                json_is_true(met) ? "yes" : json_is_false(met) ? "**no**" : "-", fired);
        scen += fl_rj_int(c, "scenarios", 0);
        tested += fl_rj_int(c, "tested", 0);
        prot += fl_rj_int(c, "protected", 0);
        sum.known += ct.known;
        sum.fired += ct.fired;
        sum.never += ct.never;
    }
    char total[32] = "-";
    if (tested)
        fl_fmt_pct((double)prot / tested, total, sizeof(total));
    fmt_fired(&sum, fired, sizeof(fired));
    fprintf(out, "| **all** | %lld | %lld | %lld | %s | | | %s |\n\n", scen, tested, prot, total,
            fired);
    fputs("*tested*: run to a verdict (not skipped, no error); *protected*: passed (or passed "
          "although expected to fail); *score* = protected / tested; *faults fired*: fault "
          "windows that took effect / those that record it (bold: one took no effect that its "
          "step did not allow).\n\n", out);
    json_decref(cats);
}

/* "## Faults": per experiment, whether each fault window took effect, so a PASS can be read
 * as "the faults happened and the target coped", and a fault that never fired is named. */
static void put_faults(FILE *out, const json_t *results)
{
    size_t i, j;
    json_t *e, *f;
    int listed = 0;
    bool any_fault = false;
    fputs("## Faults\n\nWhether each fault took effect during its window.\n\n", out);
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e) {
        struct fl_fired_tally t = {0};
        fl_fired_add(e, &t);
        any_fault = any_fault || json_array_size(fl_rj_arr(e, "faults")) > 0;
        if (!t.known)
            continue;
        listed++;
        fputs("- ", out);
        put_title(out, e);
        fputs(": ", out);
        int shown = 0;
        long long more = 0, more_never = 0, more_allowed = 0;
        json_array_foreach(fl_rj_arr(e, "faults"), j, f) {
            long long n;
            enum fl_fired st = fl_fault_fired(f, &n);
            if (st == FL_FIRED_UNKNOWN)
                continue;
            if (shown == MD_MAX_FAULTS) {
                more++;
                more_never += st == FL_FIRED_NEVER;
                more_allowed += st == FL_FIRED_ALLOWED;
                continue;
            }
            fprintf(out, "%sstep %lld ", shown ? "; " : "", fl_rj_int(f, "step", (long long)j + 1));
            fl_md_puts(out, fl_rj_str(f, "kind", "?"));
            shown++;
            if (st == FL_FIRED_YES) {
                fprintf(out, ": fired %lld", n);
                continue;
            }
            fputs(st == FL_FIRED_NEVER ? ": **never fired**" : ": did not fire (allowed)", out);
            if (*fl_fault_effect(f)) {
                fputs(" (", out);
                fl_md_puts(out, fl_fault_effect(f));
                fputc(')', out);
            }
        }
        if (more) {
            fprintf(out, "; and %lld more (%lld never fired", more, more_never);
            if (more_allowed)
                fprintf(out, ", %lld did not fire (allowed)", more_allowed);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    if (listed)
        fputc('\n', out);
    else if (any_fault)
        /* An older faultline did not record it; saying "none fired" would be wrong. */
        fputs("The results do not record whether the faults took effect (written by an older "
              "faultline).\n\n", out);
    else
        fputs("No faults were injected.\n\n", out);
}

/* One bullet per experiment whose verdict is in the mask, with what the reader needs. */
static int put_list(FILE *out, const json_t *results, unsigned mask, bool reason)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e) {
        enum fl_verdict v = fl_verdict_of(e);
        if (!(mask & (1u << v)))
            continue;
        n++;
        fprintf(out, "- %s ", fl_verdict_names[v]);
        put_title(out, e);
        fputs(" [", out);
        fl_md_puts(out, fl_rj_str(e, "category", "general"));
        fputs("]", out);
        const char *why = fl_rj_str(e, "why", "");
        const char *rsn = fl_rj_str(e, "reason", "");
        if (reason && *rsn) {
            fputs(": ", out);
            fl_md_puts(out, rsn);
        } else if (*why) {
            fputs(": ", out);
            fl_md_puts(out, why);
        }
        if (*fl_rj_str(e, "file", "")) {
            fputs(" (", out);
            fl_md_puts(out, fl_rj_str(e, "file", ""));
            fputs(")", out);
        }
        fputc('\n', out);
    }
    if (n)
        fputc('\n', out);
    return n;
}

struct md_rec {
    FILE *out;
    int n;
};

static void rec_begin(struct md_rec *r, const json_t *e)
{
    r->n++;
    fputs("- ", r->out);
    put_title(r->out, e);
    fputs(": ", r->out);
}

static void put_recommendations(FILE *out, const json_t *results)
{
    struct md_rec r = {out, 0};
    char a[64], b[64];
    size_t i;
    json_t *e;
    fputs("## Recommendations\n\n", out);
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e) {
        enum fl_verdict v = fl_verdict_of(e);
        json_t *m = json_object_get(e, "metrics");
        double x;
        if (v == FL_V_SKIP)
            continue;
        if (v == FL_V_XPASS) {
            rec_begin(&r, e);
            fputs("passes although marked `xfail`; the gap looks fixed: remove the xfail so a "
                  "regression fails the run.\n", out);
        }
        if (v == FL_V_ERROR) {
            rec_begin(&r, e);
            fputs("could not be carried out, so it proves nothing yet; fix the setup (", out);
            fl_md_puts(out, fl_rj_str(e, "why", "see the log"));
            fputs(").\n", out);
        }
        if (fl_rj_num(m, "time_to_recover_ms", &x) && x > MD_SLOW_RECOVERY_MS) {
            fl_fmt_ms(x, a, sizeof(a));
            rec_begin(&r, e);
            fprintf(out, "slow recovery (%s after the last fault ended): look at retry back-off "
                    "caps, health-check intervals and restart delays.\n", a);
        }
        if (fl_rj_num(m, "time_to_detect_ms", &x) && x > MD_SLOW_DETECT_MS) {
            fl_fmt_ms(x, a, sizeof(a));
            rec_begin(&r, e);
            fprintf(out, "the failure showed only %s after the fault began: timeouts may be "
                    "too long.\n", a);
        }
        if (fl_rj_num(m, "availability_during_faults", &x) && x < MD_LOW_AVAIL_FAULTS) {
            fl_fmt_pct(x, a, sizeof(a));
            rec_begin(&r, e);
            fprintf(out, "availability during faults was %s: consider a fallback (cached or "
                    "last-good data, a second upstream, a circuit breaker).\n", a);
        } else if (fl_rj_num(m, "availability", &x) && x < MD_LOW_AVAILABILITY) {
            fl_fmt_pct(x, a, sizeof(a));
            rec_begin(&r, e);
            fprintf(out, "availability over the run was %s.\n", a);
        }
        if (fl_rj_num(m, "error_rate", &x) && x > MD_HIGH_ERROR_RATE) {
            fl_fmt_pct(x, a, sizeof(a));
            rec_begin(&r, e);
            fprintf(out, "%s of load requests failed: check retries on idempotent requests and "
                    "load shedding.\n", a);
        }
        const char *key;
        json_t *l;
        json_object_foreach(json_object_get(e, "leaks"), key, l) {
            if (fl_rj_bool(l, "ok", true))
                continue;
            rec_begin(&r, e);
            fputs("leaks ", out);
            fl_md_puts(out, key);
            snprintf(a, sizeof(a), "%lld", fl_rj_int(l, "before", 0));
            snprintf(b, sizeof(b), "%lld", fl_rj_int(l, "after", 0));
            fprintf(out, " (%s before, %s after): error paths do not release what they "
                    "took.\n", a, b);
        }
        if (!fl_rj_bool(json_object_get(e, "rollback"), "ok", true)) {
            rec_begin(&r, e);
            fputs("rollback failed: run `faultline recover` and check the host.\n", out);
        }
        size_t j;
        json_t *o;
        json_array_foreach(fl_rj_arr(e, "objectives"), j, o) {
            if (fl_rj_bool(o, "met", true) || v == FL_V_XFAIL)
                continue;
            rec_begin(&r, e);
            fputs("objective ", out);
            fl_md_puts(out, fl_rj_str(o, "name", "?"));
            double val, thr;
            if (fl_rj_num(o, "value", &val) && fl_rj_num(o, "threshold", &thr))
            {
                fprintf(out, " missed: %.6g, wanted ", val);
                fl_md_puts(out, fl_rj_str(o, "op", "?"));
                fprintf(out, " %.6g", thr);
            }
            else
                fputs(" missed", out);
            if (*fl_rj_str(o, "unit", "")) {
                fputc(' ', out);
                fl_md_puts(out, fl_rj_str(o, "unit", ""));
            }
            fputs(".\n", out);
        }
    }
    json_t *cats = fl_report_categories(results);
    json_array_foreach(cats, i, e) {
        if (!json_is_false(json_object_get(e, "met")))
            continue;
        r.n++;
        double s = NAN, t = NAN;
        fl_rj_num(e, "score", &s);
        fl_rj_num(e, "threshold", &t);
        fl_fmt_pct(s, a, sizeof(a));
        fl_fmt_pct(t, b, sizeof(b));
        fputs("- category ", out);
        fl_md_puts(out, fl_rj_str(e, "name", "?"));
        fprintf(out, " scores %s, below its threshold of %s: close the gaps above first.\n",
                a, b);
    }
    json_decref(cats);
    if (r.n == 0)
        fputs("Nothing stands out: every figure is within the usual bounds.\n", out);
    fputc('\n', out);
}

static int markdown_render(const json_t *results, FILE *out, struct fl_err *err)
{
    put_summary(out, results);
    put_scorecard(out, results);
    put_faults(out, results);

    fputs("## Gaps\n\nExpected to hold, but did not (FAIL), or could not be tested (ERROR).\n\n",
          out);
    if (!put_list(out, results, 1u << FL_V_FAIL | 1u << FL_V_ERROR | 1u << FL_V_UNKNOWN, false))
        fputs("None.\n\n", out);
    fputs("## Known gaps\n\nExpected to fail (xfail), with the reason given.\n\n", out);
    if (!put_list(out, results, 1u << FL_V_XFAIL, true))
        fputs("None.\n\n", out);
    fputs("## Fixed known gaps\n\nMarked xfail, but everything held (XPASS): remove the xfail."
          "\n\n", out);
    if (!put_list(out, results, 1u << FL_V_XPASS, true))
        fputs("None.\n\n", out);
    fputs("## Skipped\n\n", out);
    if (!put_list(out, results, 1u << FL_V_SKIP, false))
        fputs("None.\n\n", out);
    put_recommendations(out, results);
    if (ferror(out))
        return fl_err_set(err, EIO, "markdown report: write failed");
    return 0;
}

/* ---- a sweep's findings ---- */

/* Other occurrences listed per finding; the rest are counted (the JSON has them all). */
#define MD_MAX_ALSO 20

static void put_sweep_summary(FILE *out, const struct fl_sweep_summary *s)
{
    fputs("# faultline sweep\n\n", out);
    fprintf(out, "**%zu finding%s** in %lld trials", s->findings, s->findings == 1 ? "" : "s",
            s->trials);
    for (size_t i = 0; i < s->nkinds; i++) {
        fprintf(out, "%s%lld ", i ? ", " : ": ", s->kinds[i].findings);
        fl_md_puts(out, s->kinds[i].kind);
    }
    fprintf(out, "; %zu flaky.\n\nCommand ", s->flaky);
    fl_md_code(out, s->command);
    fprintf(out, ", seed %llu, took %s", s->seed, s->took);
    fl_md_puts(out, s->partial);
    fputs(".", out);
    if (s->findings || s->flaky)
        fputs(" Each repro line replays its finding in a directory prepared as a trial's (the "
              "template copied, the setup run).", out);
    fputs("\n\n", out);
    if (!s->noutcomes) {
        fprintf(out, "%s\n\n", s->no_trial);
        return;
    }
    fputs("| outcome | trials | findings |\n|---|---:|---:|\n", out);
    for (size_t i = 0; i < s->noutcomes; i++) {
        fputs("| ", out);
        fl_md_puts(out, s->outcomes[i].kind);
        fprintf(out, " | %lld | %lld |\n", s->outcomes[i].trials, s->outcomes[i].findings);
    }
    fputs("\nA trial's outcome is one of the classes of docs/discovery.md; trials of the same "
          "outcome, call site and fault are one finding.\n\n", out);
}

static void put_sub_item(FILE *out, const char *line)
{
    fputs("  - ", out);
    fl_md_puts(out, line);
    fputc('\n', out);
}

static void put_sweep_entry(FILE *out, const json_t *f, bool flaky, size_t idx)
{
    struct fl_sweep_finding l;
    fl_sweep_finding(f, flaky, idx, &l);
    fputs("### ", out);
    fl_md_puts(out, l.name);
    fputs(": ", out);
    fl_md_puts(out, fl_rj_str(f, "kind", "?"));
    fputs("\n\n", out);
    fl_md_puts(out, l.title);
    fputs("\n\n", out);
    for (int i = 0; i < FL_SWEEP_NLINES; i++) {
        if (!*l.text[i])
            continue;
        fprintf(out, "- **%s**: ", l.label[i]);
        fl_md_puts(out, l.text[i]);
        fputc('\n', out);
    }
    if (json_array_size(fl_rj_arr(f, "also"))) {
        fputs("- **also** (the same outcome at other occurrences):\n", out);
        fl_sweep_alsos(out, f, MD_MAX_ALSO, put_sub_item);
    }
    fputs("\nRepro:\n\n", out);
    fl_md_fence(out, "sh", fl_rj_str(f, "repro", ""));
    fputc('\n', out);
}

static int markdown_sweep_render(const json_t *sweep, FILE *out, struct fl_err *err)
{
    struct fl_sweep_summary sum;
    fl_sweep_summary(sweep, &sum);
    put_sweep_summary(out, &sum);
    fputs("## Findings\n\n", out);
    const json_t *findings = fl_rj_arr(sweep, "findings"), *flaky = fl_rj_arr(sweep, "flaky");
    size_t i;
    json_t *f;
    if (!json_array_size(findings))
        fputs("None: every trial was ok or handled.\n\n", out);
    json_array_foreach(findings, i, f)
        put_sweep_entry(out, f, false, i);
    if (json_array_size(flaky)) {
        fputs("## Flaky\n\nA trial that broke, but whose replay gave another outcome.\n\n",
              out);
        json_array_foreach(flaky, i, f)
            put_sweep_entry(out, f, true, i);
    }
    if (ferror(out))
        return fl_err_set(err, EIO, "markdown report: write failed");
    return 0;
}

const struct fl_report_ops fl_report_markdown = {
    .name = "markdown",
    .summary = "a Markdown scorecard (categories, gaps, recommendations) or a sweep's findings",
    .render = markdown_render,
    .render_sweep = markdown_sweep_render,
};
