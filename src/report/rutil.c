/* SPDX-License-Identifier: MIT */
/* rutil.c - readers, escaping and number formats shared by the report formats; see rutil.h. */
#include "rutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const fl_verdict_names[FL_V_COUNT] = {
    "PASS", "FAIL", "XFAIL", "XPASS", "ERROR", "SKIP", "UNKNOWN",
};

enum fl_verdict fl_verdict_of(const json_t *experiment)
{
    const char *v = fl_rj_str(experiment, "verdict", "");
    for (int i = 0; i < FL_V_UNKNOWN; i++)
        if (!strcasecmp(v, fl_verdict_names[i]))
            return (enum fl_verdict)i;
    return FL_V_UNKNOWN;
}

const char *fl_rj_str(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

bool fl_rj_num(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out);
}

long long fl_rj_int(const json_t *obj, const char *key, long long dflt)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    /* Converting an out-of-range double is undefined behaviour: such values read as absent. */
    if (json_is_real(v) && fabs(json_real_value(v)) < 9.2e18)
        return (long long)json_real_value(v);
    return dflt;
}

bool fl_rj_bool(const json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const json_t *fl_rj_arr(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_array(v) ? v : NULL;
}

/* Length of the UTF-8 sequence starting at s (1 for anything malformed: jansson only hands us
 * valid UTF-8, but a cut string may end mid-sequence). */
static size_t utf8_len(const unsigned char *s)
{
    if (*s < 0x80)
        return 1;
    size_t n = (*s >= 0xf0) ? 4 : (*s >= 0xe0) ? 3 : (*s >= 0xc0) ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

static void xml_write(FILE *out, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t used = 0;
    while (*p) {
        size_t n = utf8_len(p);
        if (used + n > max) {
            fputs("...", out);
            return;
        }
        used += n;
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        case '\t': case '\n': case '\r':
            /* In attributes these would be normalised to spaces; the numeric form survives. */
            fprintf(out, "&#%d;", *p);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fputs("\xef\xbf\xbd", out);
            else if (n == 1 && *p >= 0x80)
                fputs("\xef\xbf\xbd", out); /* a stray byte of a broken sequence */
            else
                fwrite(p, 1, n, out);
        }
        p += n;
    }
}

void fl_xml_puts(FILE *out, const char *s) { xml_write(out, s ? s : "", (size_t)-1); }

void fl_xml_putn(FILE *out, const char *s, size_t max) { xml_write(out, s ? s : "", max); }

void fl_md_puts(FILE *out, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            fputc(' ', out);
        else if ((unsigned char)*p < 0x20)
            fputs("\xef\xbf\xbd", out);
        else if (strchr("\\`*_[]<>|&#~!{}()", *p))
            fprintf(out, "\\%c", *p);
        else
            fputc(*p, out);
    }
}

/* The longest run of backticks in s. */
static size_t backtick_run(const char *s)
{
    size_t run = 0, longest = 0;
    for (const char *p = s; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest)
            longest = run;
    }
    return longest;
}

static void put_backticks(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc('`', out);
}

void fl_md_code(FILE *out, const char *s)
{
    /* CommonMark: a span's delimiter is a run of backticks that occurs nowhere inside it, and
     * one space inside each end is stripped (added when s begins or ends with a backtick). */
    s = s ? s : "";
    if (!*s) {
        fputs("` `", out); /* "``" would be no span at all */
        return;
    }
    size_t n = backtick_run(s) + 1;
    bool pad = *s == '`' || s[strlen(s) - 1] == '`';
    put_backticks(out, n);
    if (pad)
        fputc(' ', out);
    for (const char *p = s; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
    if (pad)
        fputc(' ', out);
    put_backticks(out, n);
}

void fl_md_fence(FILE *out, const char *info, const char *s)
{
    s = s ? s : "";
    size_t n = backtick_run(s) < 3 ? 3 : backtick_run(s) + 1;
    put_backticks(out, n);
    fprintf(out, "%s\n%s\n", info, s);
    put_backticks(out, n);
    fputc('\n', out);
}

void fl_shell_quote_into(char *buf, size_t len, size_t *n, const char *word)
{
    bool plain = *word != '\0';
    for (const char *c = word; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+{}",
                    *c))
            plain = false;
    if (plain) {
        *n += (size_t)snprintf(buf + *n, *n < len ? len - *n : 0, "%s", word);
        return;
    }
    *n += (size_t)snprintf(buf + *n, *n < len ? len - *n : 0, "'");
    for (const char *c = word; *c; c++)
        *n += (size_t)snprintf(buf + *n, *n < len ? len - *n : 0, *c == '\'' ? "'\\''" : "%c",
                               *c);
    *n += (size_t)snprintf(buf + *n, *n < len ? len - *n : 0, "'");
}

void fl_fmt_iso(long long epoch_ms, char *buf, size_t len)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    if (epoch_ms <= 0 || !gmtime_r(&t, &tm))
        t = 0, gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
}

void fl_fmt_when(long long epoch_ms, char *buf, size_t len)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    if (epoch_ms <= 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, len, "-");
        return;
    }
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

void fl_fmt_ms(double ms, char *buf, size_t len)
{
    if (!isfinite(ms))
        snprintf(buf, len, "-");
    else if (ms < 0) /* the results' way of saying "did not recover while observed" */
        snprintf(buf, len, "never");
    else if (fabs(ms) < 1000)
        snprintf(buf, len, fabs(ms) < 10 && ms != floor(ms) ? "%.2f ms" : "%.0f ms", ms);
    else if (fabs(ms) < 60000)
        snprintf(buf, len, "%.2f s", ms / 1000);
    else if (fabs(ms) < 1e15)
        snprintf(buf, len, "%lld min %02d s", (long long)(ms / 60000), (int)fmod(ms / 1000, 60));
    else
        snprintf(buf, len, "%.3g s", ms / 1000);
}

void fl_fmt_pct(double ratio, char *buf, size_t len)
{
    if (!isfinite(ratio))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", ratio * 100);
}

void fl_report_tally(const json_t *results, int counts[FL_V_COUNT])
{
    memset(counts, 0, sizeof(int) * FL_V_COUNT);
    size_t i;
    json_t *e;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e)
        counts[fl_verdict_of(e)]++;
}

json_t *fl_report_categories(const json_t *results)
{
    const json_t *given = fl_rj_arr(results, "categories");
    if (json_array_size(given) > 0 || json_array_size(fl_rj_arr(results, "experiments")) == 0)
        return json_incref((json_t *)given);
    /* Computed in order of first appearance, which keeps the output deterministic. */
    json_t *cats = json_array();
    size_t i, j;
    json_t *e, *c;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e) {
        const char *name = fl_rj_str(e, "category", "general");
        json_t *row = NULL;
        json_array_foreach(cats, j, c)
            if (!strcmp(fl_rj_str(c, "name", ""), name))
                row = c;
        if (!row) {
            row = json_pack("{s:s, s:i, s:i, s:i}", "name", name, "scenarios", 0, "tested", 0,
                            "protected", 0);
            json_array_append_new(cats, row);
        }
        enum fl_verdict v = fl_verdict_of(e);
        json_object_set_new(row, "scenarios", json_integer(fl_rj_int(row, "scenarios", 0) + 1));
        if (v != FL_V_SKIP && v != FL_V_ERROR && v != FL_V_UNKNOWN)
            json_object_set_new(row, "tested", json_integer(fl_rj_int(row, "tested", 0) + 1));
        if (v == FL_V_PASS || v == FL_V_XPASS)
            json_object_set_new(row, "protected",
                                json_integer(fl_rj_int(row, "protected", 0) + 1));
    }
    json_array_foreach(cats, j, c) {
        long long tested = fl_rj_int(c, "tested", 0);
        json_object_set_new(c, "score",
                            tested ? json_real((double)fl_rj_int(c, "protected", 0) / tested)
                                   : json_null());
    }
    return cats;
}

enum fl_fired fl_fault_fired(const json_t *fault, long long *count)
{
    long long n = fl_rj_int(fault, "fired", -1);
    if (count)
        *count = n > 0 ? n : 0;
    /* A negative count is no count: such a document is read as one without the field. */
    if (n < 0)
        return FL_FIRED_UNKNOWN;
    if (n > 0)
        return FL_FIRED_YES;
    return fl_rj_bool(fault, "may_not_fire", false) ? FL_FIRED_ALLOWED : FL_FIRED_NEVER;
}

const char *fl_fault_effect(const json_t *fault)
{
    static const char marker[] = "never fired";
    const char *s = fl_rj_str(fault, "effect", "");
    if (fl_fault_fired(fault, NULL) == FL_FIRED_YES || strncmp(s, marker, sizeof(marker) - 1))
        return s;
    s += sizeof(marker) - 1;
    while (*s == ':' || *s == ' ')
        s++;
    return s;
}

void fl_fired_add(const json_t *experiment, struct fl_fired_tally *t)
{
    size_t i;
    json_t *f;
    json_array_foreach(fl_rj_arr(experiment, "faults"), i, f) {
        enum fl_fired st = fl_fault_fired(f, NULL);
        t->known += st != FL_FIRED_UNKNOWN;
        t->fired += st == FL_FIRED_YES;
        t->never += st == FL_FIRED_NEVER;
    }
}

void fl_fired_tally(const json_t *results, const char *cat, struct fl_fired_tally *t)
{
    memset(t, 0, sizeof(*t));
    size_t i;
    json_t *e;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e)
        if (!cat || !strcmp(fl_rj_str(e, "category", "general"), cat))
            fl_fired_add(e, t);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void fl_series_stats(const json_t *series, struct fl_series_stats *st)
{
    const json_t *samples = fl_rj_arr(series, "samples");
    size_t n = json_array_size(samples), nl = 0;
    memset(st, 0, sizeof(*st));
    st->lat_min = st->lat_max = st->lat_p50 = st->lat_p99 = NAN;
    st->first_fail_t = st->last_fail_t = -1;
    double *lat = n ? malloc(n * sizeof(double)) : NULL;
    size_t i;
    json_t *s;
    json_array_foreach(samples, i, s) {
        st->n++;
        if (fl_rj_bool(s, "ok", false)) {
            st->ok++;
        } else {
            long long t = fl_rj_int(s, "t_ms", 0);
            if (st->first_fail_t < 0)
                st->first_fail_t = t;
            st->last_fail_t = t;
        }
        double l;
        if (lat && fl_rj_num(s, "latency_ms", &l))
            lat[nl++] = l;
    }
    if (nl) {
        qsort(lat, nl, sizeof(double), cmp_double);
        st->lat_min = lat[0];
        st->lat_max = lat[nl - 1];
        /* Nearest-rank percentiles: always a value that was observed. */
        st->lat_p50 = lat[(size_t)ceil(0.50 * nl) - 1];
        st->lat_p99 = lat[(size_t)ceil(0.99 * nl) - 1];
    }
    free(lat);
}

/* ---- a sweep's findings document ---- */

/* After an snprintf into buf that wanted `want` bytes: when it was cut, drop a partial UTF-8
 * sequence at the end and end with "...", so the text stays valid and says it was cut. */
static void cut_utf8(char *buf, size_t len, long long want)
{
    if (want < 0 || (unsigned long long)want < len || len < 4)
        return;
    size_t n = len - 4; /* room for "..." and the terminator */
    while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
        n--; /* buf[n] starts a sequence (or is ASCII): cut before it */
    memcpy(buf + n, "...", 4);
}

void fl_sweep_summary(const json_t *sweep, struct fl_sweep_summary *s)
{
    memset(s, 0, sizeof(*s));
    size_t n = 0, i;
    const char *key;
    json_t *v, *f;
    /* Every class in the document's order first, then any class only a finding names. */
    struct fl_sweep_kind all[FL_SWEEP_MAX_KINDS];
    json_object_foreach(json_object_get(sweep, "outcomes"), key, v)
        if (n < FL_SWEEP_MAX_KINDS)
            all[n++] = (struct fl_sweep_kind){key, (long long)json_integer_value(v), 0};
    json_array_foreach(fl_rj_arr(sweep, "findings"), i, f) {
        const char *k = fl_rj_str(f, "kind", "?");
        size_t j = 0;
        while (j < n && strcmp(all[j].kind, k))
            j++;
        if (j == n && n < FL_SWEEP_MAX_KINDS)
            all[n++] = (struct fl_sweep_kind){k, 0, 0};
        if (j < n)
            all[j].findings++;
    }
    for (size_t j = 0; j < n; j++) {
        if (all[j].trials > 0 || all[j].findings > 0)
            s->outcomes[s->noutcomes++] = all[j];
        if (all[j].findings > 0)
            s->kinds[s->nkinds++] = all[j];
    }

    size_t len = sizeof(s->command), w = 0;
    json_array_foreach(fl_rj_arr(sweep, "command"), i, v) {
        if (i)
            w += (size_t)snprintf(s->command + w, w < len ? len - w : 0, " ");
        fl_shell_quote_into(s->command, len, &w, json_is_string(v) ? json_string_value(v) : "?");
    }
    cut_utf8(s->command, len, (long long)w);

    double el = NAN;
    fl_rj_num(sweep, "elapsed_s", &el);
    fl_fmt_ms(el * 1000, s->took, sizeof(s->took));
    s->seed = (unsigned long long)fl_rj_int(sweep, "seed", 0);
    s->trials = fl_rj_int(sweep, "trials", 0);
    s->planned = fl_rj_int(sweep, "planned", 0);
    s->findings = json_array_size(fl_rj_arr(sweep, "findings"));
    s->flaky = json_array_size(fl_rj_arr(sweep, "flaky"));
    s->points = json_array_size(fl_rj_arr(sweep, "points"));
    if (!fl_rj_bool(sweep, "complete", true))
        snprintf(s->partial, sizeof(s->partial), " (%spartial, %lld of %lld planned trials)",
                 fl_rj_bool(sweep, "interrupted", false) ? "interrupted: " : "", s->trials,
                 s->planned);
    if (s->planned > 0)
        snprintf(s->no_trial, sizeof(s->no_trial), "No trial ran (%lld were planned).",
                 s->planned);
    else
        snprintf(s->no_trial, sizeof(s->no_trial), "No trial ran: the program made no call "
                 "that a fault could be tried at.");
}

void fl_sweep_finding(const json_t *f, bool flaky, size_t idx, struct fl_sweep_finding *l)
{
    static const char *const labels[FL_SWEEP_NLINES] = {"fault", "where", "replay", "check",
                                                        "exit"};
    const size_t len = sizeof(l->text[0]);
    const char *subject = fl_rj_str(f, "subject", "");
    char *t;
    int want;
    memcpy(l->label, labels, sizeof(labels));
    want = flaky ? snprintf(l->name, sizeof(l->name), "flaky %zu", idx + 1)
                 : snprintf(l->name, sizeof(l->name), "%s", fl_rj_str(f, "id", "?"));
    cut_utf8(l->name, sizeof(l->name), want);
    want = snprintf(l->title, sizeof(l->title), "%s on %s at %s, %s (%s)",
                    fl_rj_str(f, "call", "?"), *subject ? subject : "-",
                    fl_rj_str(f, "site", "?"), fl_rj_str(f, "effect", "?"),
                    fl_rj_str(f, "occurrence", "?"));
    cut_utf8(l->title, sizeof(l->title), want);

    long long faults = fl_rj_int(f, "faults", -1);
    t = l->text[FL_SWEEP_FAULT];
    want = snprintf(t, len, "%s: %s, %s", fl_rj_str(f, "call", "?"), fl_rj_str(f, "effect", "?"),
                    fl_rj_str(f, "occurrence", "?"));
    if (faults >= 0 && want >= 0 && (size_t)want < len)
        want += snprintf(t + want, len - (size_t)want, " (injected %lld time%s)", faults,
                         faults == 1 ? "" : "s");
    cut_utf8(t, len, want);

    t = l->text[FL_SWEEP_WHERE];
    want = snprintf(t, len, "%s%s%s (site %s)", subject, *subject ? " at " : "",
                    fl_rj_str(f, "site", "?"), fl_rj_str(f, "site_hash", "?"));
    cut_utf8(t, len, want);

    t = l->text[FL_SWEEP_REPLAY];
    if (flaky)
        want = snprintf(t, len, "flaky: the replay gave %s, so this is not counted as a finding",
                        fl_rj_str(f, "replay_kind", "another outcome"));
    else
        want = snprintf(t, len, "reproduced: the replay gave the same outcome");
    cut_utf8(t, len, want);

    const char *co = fl_rj_str(f, "check_output", "");
    t = l->text[FL_SWEEP_CHECK];
    want = snprintf(t, len, "%.*s", (int)strcspn(co, "\r\n"), co);
    cut_utf8(t, len, want);

    const char *sig = fl_rj_str(f, "signal", "");
    t = l->text[FL_SWEEP_EXIT];
    const char *crash_at = fl_rj_str(f, "crash_site", ""), *fn = fl_rj_str(f, "crash_function", "");
    char at[512] = "";
    if (*crash_at)
        snprintf(at, sizeof(at), " at %s%s%s%s, address %s", crash_at, *fn ? " (" : "", fn,
                 *fn ? ")" : "", fl_rj_str(f, "fault_address", "?"));
    want = snprintf(t, len, "%lld%s%s%s", fl_rj_int(f, "exit", 0), *sig ? ", killed by SIG" : "",
                    sig, at);
    cut_utf8(t, len, want);
}

size_t fl_sweep_alsos(FILE *out, const json_t *f, size_t max,
                      void (*put)(FILE *out, const char *line))
{
    const json_t *alsos = fl_rj_arr(f, "also");
    char line[1024];
    size_t i;
    json_t *a;
    json_array_foreach(alsos, i, a) {
        if (i == max) {
            snprintf(line, sizeof(line), "and %zu more", json_array_size(alsos) - i);
            put(out, line);
            break;
        }
        int want = snprintf(line, sizeof(line), "%s (%s)", fl_rj_str(a, "occurrence", "?"),
                            fl_rj_str(a, "rule", "?"));
        cut_utf8(line, sizeof(line), want);
        put(out, line);
    }
    return json_array_size(alsos);
}
