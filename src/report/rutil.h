/* SPDX-License-Identifier: MIT */
/*
 * rutil.h - what the report formats share: tolerant readers of the results document (a
 * missing or mistyped field reads as "absent", never as a crash, because a document may come
 * from an older or newer faultline), escaping for XML/HTML and Markdown, and fixed number
 * formats, so the same document always gives the same bytes. The same readers serve a sweep's
 * findings document (faultline sweep --json, docs/discovery.md): the fl_sweep_* helpers at the
 * end say what every format shows of a finding, so the formats differ only in markup.
 */
#ifndef FL_RUTIL_H
#define FL_RUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The verdicts of docs/results-format.md, in the order reports list them. */
enum fl_verdict {
    FL_V_PASS,
    FL_V_FAIL,
    FL_V_XFAIL,
    FL_V_XPASS,
    FL_V_ERROR,
    FL_V_SKIP,
    FL_V_UNKNOWN, /* a verdict this version does not know: shown as is, counted apart */
    FL_V_COUNT,
};

extern const char *const fl_verdict_names[FL_V_COUNT]; /* "PASS" ... "UNKNOWN" */

enum fl_verdict fl_verdict_of(const json_t *experiment);

/* Field readers: dflt / false when the key is missing, null or of another type. */
const char *fl_rj_str(const json_t *obj, const char *key, const char *dflt);
bool fl_rj_num(const json_t *obj, const char *key, double *out);
long long fl_rj_int(const json_t *obj, const char *key, long long dflt);
bool fl_rj_bool(const json_t *obj, const char *key, bool dflt);
/* An array member, or NULL when missing or not an array: jansson's array calls (size, get,
 * json_array_foreach) treat NULL as empty, so callers need no check and nothing is shared. */
const json_t *fl_rj_arr(const json_t *obj, const char *key);

/* XML/HTML text and attribute escaping (& < > " '). Characters XML 1.0 forbids (C0 controls
 * other than tab, newline, carriage return) become U+FFFD, so the output always parses. */
void fl_xml_puts(FILE *out, const char *s);
/* The same, at most max bytes of s (cut on a UTF-8 boundary, "..." appended when cut). */
void fl_xml_putn(FILE *out, const char *s, size_t max);
/* A Markdown table cell or inline text: punctuation with meaning is backslash-escaped, line
 * breaks become spaces, so a title can neither break the table nor inject markup. */
void fl_md_puts(FILE *out, const char *s);
/* A Markdown code span holding s as is: delimited by more backticks than any run in s (so
 * nothing in s can end it), line breaks shown as spaces. */
void fl_md_code(FILE *out, const char *s);
/* A fenced Markdown code block holding s as is: the fence is longer than any run of backticks
 * in s, so nothing in s can close it. info: the language tag ("sh"), or "". */
void fl_md_fence(FILE *out, const char *info, const char *s);
/* word appended to buf[*n..len) as one POSIX shell word: as is when it needs no quoting, else
 * in '...' ('\'' for a quote). *n grows by what was wanted, as snprintf counts. */
void fl_shell_quote_into(char *buf, size_t len, size_t *n, const char *word);

/* "2026-11-23T20:10:00" (UTC, no zone: the Ant JUnit timestamp form). */
void fl_fmt_iso(long long epoch_ms, char *buf, size_t len);
/* "2026-11-23 20:10 UTC". */
void fl_fmt_when(long long epoch_ms, char *buf, size_t len);
/* A duration for people: "850 ms", "3.40 s", "2 min 05 s". */
void fl_fmt_ms(double ms, char *buf, size_t len);
/* A ratio as a percentage: "95.0%". */
void fl_fmt_pct(double ratio, char *buf, size_t len);

/* Category rows: results.categories when present, else computed from the experiments by the
 * rules of docs/results-format.md. New reference; the caller decrefs. */
json_t *fl_report_categories(const json_t *results);
/* Verdict counts over the experiments (counts[FL_V_COUNT]). */
void fl_report_tally(const json_t *results, int counts[FL_V_COUNT]);

/* Whether a fault window took effect: experiments[].faults[].fired (docs/results-format.md).
 * A PASS means something only if its faults happened, so every report shows this state. */
enum fl_fired {
    FL_FIRED_UNKNOWN, /* no usable `fired`: a document from before the field; shown as before */
    FL_FIRED_YES,     /* fired > 0 */
    FL_FIRED_NEVER,   /* fired == 0: the window proved nothing (the verdict is ERROR) */
    FL_FIRED_ALLOWED, /* fired == 0 with may_not_fire: the step allowed it */
};
/* The state of one faults[] entry; *count gets `fired` (0 when unknown), count may be NULL. */
enum fl_fired fl_fault_fired(const json_t *fault, long long *count);
/* faults[].effect ("" when absent) for text that already says the window did not fire: a
 * leading "never fired" (and the ": " after it) is skipped, so a report that writes its own
 * "never fired" marker does not say it twice. */
const char *fl_fault_effect(const json_t *fault);
/* Fault windows over the experiments whose category is cat (NULL: every experiment). */
struct fl_fired_tally {
    long long known; /* windows that carry `fired` */
    long long fired; /* ... of which fired */
    long long never; /* ... of which never fired without may_not_fire */
};
void fl_fired_tally(const json_t *results, const char *cat, struct fl_fired_tally *t);
/* Add one experiment's windows to t. */
void fl_fired_add(const json_t *experiment, struct fl_fired_tally *t);

/* Probe samples of one series summarised: count, good, first failure and latency figures. */
struct fl_series_stats {
    size_t n, ok;
    double lat_min, lat_max, lat_p50, lat_p99; /* NAN when no latency was recorded */
    long long first_fail_t, last_fail_t;       /* -1 when nothing failed */
};
void fl_series_stats(const json_t *series, struct fl_series_stats *st);

/* ---- a sweep's findings document ---- */

/* What every format says at the top of a sweep's report. */
#define FL_SWEEP_MAX_KINDS 32
struct fl_sweep_kind {
    const char *kind;   /* "check-failed-silent": borrowed from the document */
    long long trials;   /* trials of this outcome ("outcomes") */
    long long findings; /* findings of this class ("findings"; flaky ones are not counted) */
};
struct fl_sweep_summary {
    char command[4096];      /* the target command as one shell line, words quoted as needed */
    char took[64];           /* elapsed_s for people: "805 ms" */
    char partial[128];       /* "" when complete, else " (interrupted: partial, 40 of 212
                              * planned trials)" or " (partial, ...)" (--budget, say) */
    char no_trial[128];      /* when no trial ran, the sentence that says so and why */
    unsigned long long seed; /* as --seed takes it */
    long long trials, planned;
    size_t findings, flaky, points;
    /* The classes some trial had, in the document's order of "outcomes" (the sweep's order),
     * then any class only a finding names; ... */
    struct fl_sweep_kind outcomes[FL_SWEEP_MAX_KINDS];
    size_t noutcomes;
    /* ... and, in the same order, the classes that have findings. */
    struct fl_sweep_kind kinds[FL_SWEEP_MAX_KINDS];
    size_t nkinds;
};
void fl_sweep_summary(const json_t *sweep, struct fl_sweep_summary *s);
/* What every format shows of one finding: its name, its title, then its lines in this order
 * (a line whose text is empty is left out: no check output). */
enum fl_sweep_line {
    FL_SWEEP_FAULT,  /* "write: errno=ENOSPC, the 1st of 1 calls (injected 1 time)" */
    FL_SWEEP_WHERE,  /* "state.json at counter+0x11d5 (site 1a2b3c4d)" */
    FL_SWEEP_REPLAY, /* "reproduced: the replay gave the same outcome" / "flaky: ..." */
    FL_SWEEP_CHECK,  /* the first line of what the check printed */
    FL_SWEEP_EXIT,   /* "0" / "137, killed by SIGKILL" */
    FL_SWEEP_NLINES,
};
struct fl_sweep_finding {
    char name[64];   /* its id ("F3"), or "flaky 2" for the 2nd of "flaky" (they have none) */
    char title[512]; /* "write on state.json at counter+0x11d5, errno=ENOSPC (the 1st of 1
                      * calls)" ("-" for a call on nothing named) */
    const char *label[FL_SWEEP_NLINES]; /* "fault", "where", "replay", "check", "exit" */
    char text[FL_SWEEP_NLINES][512];
};
/* f: findings[idx], or flaky[idx] when flaky. Texts are cut on a UTF-8 boundary, with "..."
 * when cut. */
void fl_sweep_finding(const json_t *f, bool flaky, size_t idx, struct fl_sweep_finding *out);
/* The "also" entries of f (the same outcome, call site and fault at other occurrences), each
 * as one line, "the 3rd of 5 calls (RULE)", handed to put(out, line); at most max of them,
 * then "and 12 more" the same way when some were left out. Returns how many there are. */
size_t fl_sweep_alsos(FILE *out, const json_t *f, size_t max,
                      void (*put)(FILE *out, const char *line));

#endif
