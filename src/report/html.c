/* SPDX-License-Identifier: MIT */
/*
 * report/html.c - the results as one self-contained HTML page: a summary, the scorecard, an
 * index, then per experiment its verdict, why, figures, objectives and a timeline chart.
 *
 * The page needs nothing else: CSS is inline, the charts are SVG written here, there is no
 * JavaScript, and a Content-Security-Policy forbids any fetch, so it can be mailed, archived
 * or opened offline and looks the same in ten years. Tooltips are SVG <title>s.
 *
 * Timeline layout (x = time since the experiment started, shared by every row):
 *
 *     phases   [start|steady|    method      | verify |rb]
 *     fault 1        [////// corrupt ///////]            <- window shaded down the chart
 *     fault 2                                :- - -:     <- never fired: outlined, unshaded
 *     health   ||||||||||||#####|||||||||||||||          <- ok / failed marks
 *     latency  ~~~~~~~~~~~/\~~~~~~~~~~~~~~~~             <- one line per probe
 *              0 s      2 s      4 s      6 s
 *
 * Size stays bounded whatever the sample count: marks are merged per pixel column, and each
 * latency line keeps at most the minimum and maximum of each column (spikes survive), so a
 * series draws at most 2 * PLOT_W points; the page says when it did this.
 *
 * A sweep's findings page has the same head and style: the summary, trials by outcome, an
 * index of the findings, then a section per finding (its lines, the repro, the other
 * occurrences, the check's output and stderr), and the flaky ones last.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "rutil.h"
#include "svg.h"

#define CHART_W 960
#define LABEL_W 140                   /* row labels on the left */
#define RIGHT_W 24
#define PLOT_W (CHART_W - LABEL_W - RIGHT_W)
#define ROW_H 18
#define LAT_H 170                     /* latency plot height */
#define AXIS_H 34                     /* time axis and its label */
#define MAX_FAULT_ROWS 24             /* more faults share the last row */
#define MAX_SERIES_ROWS 24            /* more probes are listed, not drawn */
#define MAX_LOG_LINES 500
#define NCOLORS 6

static void h(FILE *out, const char *s) { fl_xml_puts(out, s); }

/* Text that fits in px pixels at the chart's font (about 6.2 px a character). */
static void h_fit(FILE *out, const char *s, double px)
{
    size_t max = px > 20 ? (size_t)(px / 6.2) : 0;
    if (max < 4)
        return;
    fl_xml_putn(out, s, max - 3 < strlen(s) ? max - 3 : max);
}

struct tl {
    FILE *out;
    double t_max;     /* ms at the right edge */
    int top_faults;   /* y of the first fault row */
    int top_series;
    int top_lat;
    int height;
    size_t drawn_pts; /* latency points drawn, all series */
    size_t samples;   /* samples in the document, all series */
};

static double tx(const struct tl *t, double ms)
{
    if (ms < 0)
        ms = 0;
    if (ms > t->t_max)
        ms = t->t_max;
    return LABEL_W + ms / t->t_max * PLOT_W;
}

static double span_end(const json_t *e)
{
    double m = 0, v;
    if (fl_rj_num(e, "duration_ms", &v) && v > m)
        m = v;
    size_t i;
    json_t *x;
    json_array_foreach(fl_rj_arr(e, "phases"), i, x)
        if (fl_rj_num(x, "end_ms", &v) && v > m)
            m = v;
    json_array_foreach(fl_rj_arr(e, "faults"), i, x)
        if (fl_rj_num(x, "end_ms", &v) && v > m)
            m = v;
    json_array_foreach(fl_rj_arr(e, "series"), i, x) {
        const json_t *smp = fl_rj_arr(x, "samples");
        size_t n = json_array_size(smp);
        /* Samples are in time order; the last one is enough. */
        if (n && fl_rj_num(json_array_get(smp, n - 1), "t_ms", &v) && v > m)
            m = v;
    }
    return m > 0 ? m : 1000;
}

/* Latency range over every series (and the load's p99 windows). */
static bool lat_range(const json_t *e, double *lo, double *hi)
{
    *lo = INFINITY, *hi = -INFINITY;
    size_t i, j;
    json_t *x, *s;
    double v;
    json_array_foreach(fl_rj_arr(e, "series"), i, x) {
        if (i >= MAX_SERIES_ROWS)
            break;
        json_array_foreach(fl_rj_arr(x, "samples"), j, s)
            if (fl_rj_num(s, "latency_ms", &v)) {
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
            }
    }
    json_array_foreach(fl_rj_arr(json_object_get(e, "load"), "windows"), j, s)
        if (fl_rj_num(s, "p99_ms", &v)) {
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    return *hi >= *lo;
}

struct yscale {
    bool log;
    double lo, hi; /* log: decades (log10), linear: ms */
};

static double ty(const struct tl *t, const struct yscale *y, double ms)
{
    double f;
    if (y->log)
        f = (log10(fmax(ms, pow(10, y->lo))) - y->lo) / (y->hi - y->lo);
    else
        f = (ms - y->lo) / (y->hi - y->lo);
    f = fmin(fmax(f, 0), 1);
    return t->top_lat + LAT_H - f * LAT_H;
}

static void draw_time_axis(struct tl *t)
{
    FILE *out = t->out;
    int base = t->top_lat + LAT_H;
    double step = fl_svg_nice_step(t->t_max, 8);
    bool secs = t->t_max >= 2000;
    for (double ms = 0; ms <= t->t_max + step * 1e-9; ms += step) {
        double x = tx(t, ms);
        fprintf(out, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x,
                t->top_faults, x, base);
        if (secs)
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
                    "%g s</text>\n", x, base + 14, ms / 1000);
        else
            fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
                    "%g ms</text>\n", x, base + 14, ms);
    }
    fprintf(out, "<line class=\"axisl\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LABEL_W,
            base, LABEL_W + PLOT_W, base);
    fprintf(out, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since the "
            "experiment started</text>\n", LABEL_W + PLOT_W / 2, base + 29);
}

static void draw_phases(struct tl *t, const json_t *e)
{
    FILE *out = t->out;
    size_t i;
    json_t *p;
    fprintf(out, "<text x=\"4\" y=\"%d\">phases</text>\n", 6 + 13);
    json_array_foreach(fl_rj_arr(e, "phases"), i, p) {
        double s = 0, en = 0;
        fl_rj_num(p, "start_ms", &s);
        fl_rj_num(p, "end_ms", &en);
        double x0 = tx(t, s), x1 = tx(t, en);
        bool ok = fl_rj_bool(p, "ok", true);
        fprintf(out, "<g><title>");
        h(out, fl_rj_str(p, "name", "?"));
        fprintf(out, " %.0f..%.0f ms%s", s, en, ok ? "" : ": failed: ");
        if (!ok)
            h(out, fl_rj_str(p, "detail", ""));
        fprintf(out, "</title><rect class=\"%s\" x=\"%.1f\" y=\"6\" width=\"%.1f\" "
                "height=\"%d\"/>", ok ? "ph" : "ph-bad", x0, fmax(x1 - x0, 1), ROW_H - 2);
        fprintf(out, "<text x=\"%.1f\" y=\"19\">", x0 + 3);
        h_fit(out, fl_rj_str(p, "name", ""), x1 - x0 - 4);
        fputs("</text></g>\n", out);
        if (i > 0)
            fprintf(out, "<line class=\"phl\" x1=\"%.1f\" y1=\"6\" x2=\"%.1f\" y2=\"%d\"/>\n",
                    x0, x0, t->top_lat + LAT_H);
    }
}

/* The tooltip's lines about what a window did: the fired count and effect, each rule's
 * counters and a toxic's traffic (nothing for a document without `fired`). */
static void put_fired_title(FILE *out, const json_t *f)
{
    long long n;
    enum fl_fired st = fl_fault_fired(f, &n);
    if (st == FL_FIRED_UNKNOWN)
        return;
    const char *effect = fl_fault_effect(f);
    if (st == FL_FIRED_YES)
        fprintf(out, "\nfired %lld time%s", n, n == 1 ? "" : "s");
    else
        fputs(st == FL_FIRED_NEVER ? "\nnever fired" : "\ndid not fire (allowed by the step)",
              out);
    if (*effect) {
        fputs(": ", out);
        fl_xml_putn(out, effect, 1000);
    }
    size_t j;
    json_t *r;
    json_array_foreach(fl_rj_arr(f, "rules"), j, r) {
        if (j == 16) {
            fprintf(out, "\n... %zu more rules", json_array_size(fl_rj_arr(f, "rules")) - j);
            break;
        }
        fputs("\nrule ", out);
        h(out, fl_rj_str(r, "id", "?"));
        if (*fl_rj_str(r, "rule", "")) {
            fputs(" (", out);
            h(out, fl_rj_str(r, "rule", ""));
            fputc(')', out);
        }
        fprintf(out, ": %lld injected of %lld seen", fl_rj_int(r, "injected", 0),
                fl_rj_int(r, "seen", 0));
    }
    long long conns = fl_rj_int(f, "connections", -1), bytes = fl_rj_int(f, "bytes", -1);
    if (conns >= 0 || bytes >= 0) {
        fputc('\n', out);
        if (conns >= 0)
            fprintf(out, "%lld connection%s%s", conns, conns == 1 ? "" : "s",
                    bytes >= 0 ? ", " : "");
        if (bytes >= 0)
            fprintf(out, "%lld bytes", bytes);
    }
}

/* The text of a window that did not fire ("rules: never fired"), placed so that it is whole
 * even when the window is narrow: inside it when it fits, else beside it on its own row. */
static void put_unfired_text(FILE *out, const json_t *f, bool allowed, double x0, double w,
                             int y)
{
    char text[200];
    snprintf(text, sizeof(text), "%s: %s", fl_rj_str(f, "kind", "fault"),
             allowed ? "did not fire (allowed)" : "never fired");
    double need = strlen(text) * 6.2 + 8;
    double right = LABEL_W + PLOT_W - (x0 + w), left = x0 - LABEL_W;
    const char *cls = allowed ? "fwt-allowed" : "fwt-never";
    double room;
    if (w >= need) {
        room = w;
        fprintf(out, "<text class=\"%s\" x=\"%.1f\" y=\"%d\">", cls, x0 + 3, y + 13);
    } else if (right >= need || right >= left) {
        room = right;
        fprintf(out, "<text class=\"%s\" x=\"%.1f\" y=\"%d\">", cls, x0 + w + 3, y + 13);
    } else {
        room = left;
        fprintf(out, "<text class=\"%s\" x=\"%.1f\" y=\"%d\" text-anchor=\"end\">", cls,
                x0 - 3, y + 13);
    }
    h_fit(out, text, room);
    fputs("</text>", out);
}

/* A window that fired, or from a document without `fired`, is shaded orange down the chart;
 * one that did not fire is only outlined (dashed; red, or grey when the step allowed it): no
 * fault acted there, so nothing the probes show in it was caused by that fault. */
static void draw_faults(struct tl *t, const json_t *e)
{
    FILE *out = t->out;
    size_t i;
    json_t *f;
    int bottom = t->top_lat + LAT_H;
    json_array_foreach(fl_rj_arr(e, "faults"), i, f) {
        double s = 0, en = 0;
        fl_rj_num(f, "start_ms", &s);
        if (!fl_rj_num(f, "end_ms", &en) || en < s)
            en = t->t_max; /* still active when the experiment ended */
        double x0 = tx(t, s), x1 = tx(t, en), w = fmax(x1 - x0, 2);
        int row = i < MAX_FAULT_ROWS ? (int)i : MAX_FAULT_ROWS - 1;
        int y = t->top_faults + row * ROW_H;
        enum fl_fired st = fl_fault_fired(f, NULL);
        bool unfired = st == FL_FIRED_NEVER || st == FL_FIRED_ALLOWED;
        const char *sfx = st == FL_FIRED_NEVER ? "-never" : st == FL_FIRED_ALLOWED ? "-allowed"
                                                                                   : "";
        if (unfired)
            fprintf(out, "<g class=\"fault-unfired%s\"><title>", sfx);
        else
            fputs("<g><title>", out);
        fprintf(out, "fault %lld ", fl_rj_int(f, "step", (long long)i + 1));
        h(out, fl_rj_str(f, "kind", ""));
        fputs(": ", out);
        h(out, fl_rj_str(f, "what", ""));
        fprintf(out, " (%.0f..%.0f ms)", s, en);
        if (!fl_rj_bool(f, "ok", true)) {
            fputs(" not applied: ", out);
            h(out, fl_rj_str(f, "error", ""));
        }
        put_fired_title(out, f);
        fprintf(out, "</title><rect class=\"fw%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                "height=\"%d\"/>", sfx, x0, y, w, bottom - y);
        fprintf(out, "<rect class=\"fwl%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\"/>",
                sfx, x0, y + 1, w, ROW_H - 3);
        fprintf(out, "<line class=\"fwe%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                "<line class=\"fwe%s\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>",
                sfx, x0, y, x0, bottom, sfx, x0 + w, y, x0 + w, bottom);
        if (unfired) {
            put_unfired_text(out, f, st == FL_FIRED_ALLOWED, x0, w, y);
        } else {
            fprintf(out, "<text x=\"%.1f\" y=\"%d\">", x0 + 3, y + 13);
            h_fit(out, fl_rj_str(f, "kind", ""), w - 4);
            fputs("</text>", out);
        }
        fputs("</g>\n", out);
        if (row < MAX_FAULT_ROWS - 1 || i == MAX_FAULT_ROWS - 1) {
            fprintf(out, "<text x=\"4\" y=\"%d\">", y + 13);
            char label[40];
            snprintf(label, sizeof(label), i < MAX_FAULT_ROWS - 1 ? "fault %zu" : "faults %zu+",
                     i + 1);
            h(out, label);
            fputs("</text>\n", out);
        }
    }
}

/* Marks for one probe: each sample's state holds until the next sample (or one interval if
 * the next is far away), per pixel column; a failure anywhere in a column wins, so a single
 * failed sample among a million stays visible. Runs of equal columns become one rect. */
static void draw_marks(struct tl *t, const json_t *series, int y)
{
    FILE *out = t->out;
    signed char col[PLOT_W]; /* -1 none, 0 ok, 1 fail */
    memset(col, -1, sizeof(col));
    const json_t *smp = fl_rj_arr(series, "samples");
    size_t n = json_array_size(smp);
    double every = 0;
    fl_rj_num(series, "every_ms", &every);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(smp, i);
        double t0 = 0, t1;
        fl_rj_num(s, "t_ms", &t0);
        bool ok = fl_rj_bool(s, "ok", false);
        double gap = every > 0 ? every : t->t_max / PLOT_W;
        if (i + 1 < n && fl_rj_num(json_array_get(smp, i + 1), "t_ms", &t1) && t1 > t0 &&
            t1 - t0 <= 5 * gap)
            ;
        else
            t1 = t0 + gap;
        int c0 = (int)floor((tx(t, t0) - LABEL_W)), c1 = (int)ceil((tx(t, t1) - LABEL_W)) - 1;
        if (c0 < 0)
            c0 = 0;
        if (c1 >= PLOT_W)
            c1 = PLOT_W - 1;
        if (c1 < c0)
            c1 = c0;
        for (int c = c0; c <= c1 && c < PLOT_W; c++)
            if (!ok)
                col[c] = 1;
            else if (col[c] < 0)
                col[c] = 0;
    }
    for (int c = 0; c < PLOT_W;) {
        int st = col[c], e = c;
        while (e < PLOT_W && col[e] == st)
            e++;
        if (st >= 0)
            fprintf(out, "<rect class=\"%s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>",
                    st ? "mk-fail" : "mk-ok", LABEL_W + c, y + 3, e - c, ROW_H - 6);
        c = e;
    }
    fputc('\n', out);
}

/* One latency line, min/max per pixel column in time order. */
static void draw_latency(struct tl *t, const struct yscale *ys, const json_t *series, int color)
{
    FILE *out = t->out;
    const json_t *smp = fl_rj_arr(series, "samples");
    size_t n = json_array_size(smp), pts = 0;
    t->samples += n;
    int cur = -1;
    double cmin = 0, cmax = 0, tmin = 0, tmax = 0;
    bool open = false;
    fprintf(out, "<polyline class=\"ln c%d\" points=\"", color);
    for (size_t i = 0; i <= n; i++) {
        double tms = 0, l = 0;
        json_t *s = i < n ? json_array_get(smp, i) : NULL;
        int c = -2;
        if (s) {
            if (!fl_rj_num(s, "latency_ms", &l))
                continue;
            fl_rj_num(s, "t_ms", &tms);
            c = (int)(tx(t, tms) - LABEL_W);
        }
        if (c != cur && open) {
            /* Flush the column: the earlier of min and max first, so the line is a path in
             * time; one point when they coincide. */
            double a = tmin <= tmax ? cmin : cmax, b = tmin <= tmax ? cmax : cmin;
            double ta = fmin(tmin, tmax), tb = fmax(tmin, tmax);
            fprintf(out, "%.1f,%.1f ", tx(t, ta), ty(t, ys, a));
            pts++;
            if (a != b) {
                fprintf(out, "%.1f,%.1f ", tx(t, tb), ty(t, ys, b));
                pts++;
            }
            open = false;
        }
        if (!s)
            break;
        if (!open) {
            cur = c, open = true;
            cmin = cmax = l, tmin = tmax = tms;
        } else if (l < cmin) {
            cmin = l, tmin = tms;
        } else if (l > cmax) {
            cmax = l, tmax = tms;
        }
    }
    fputs("\"/>\n", out);
    t->drawn_pts += pts;
}

static void draw_load(struct tl *t, const struct yscale *ys, const json_t *load)
{
    const json_t *w = fl_rj_arr(load, "windows");
    if (json_array_size(w) == 0)
        return;
    FILE *out = t->out;
    size_t i;
    json_t *s;
    double v, tm;
    fputs("<polyline class=\"ld c5\" points=\"", out);
    json_array_foreach(w, i, s) {
        if (i >= 4 * PLOT_W)
            break; /* windows are seconds long; this many cannot be told apart anyway */
        if (fl_rj_num(s, "p99_ms", &v) && fl_rj_num(s, "t_ms", &tm))
            fprintf(out, "%.1f,%.1f ", tx(t, tm), ty(t, ys, v));
    }
    fputs("\"><title>load p99 per window</title></polyline>\n", out);
}

static void draw_lat_axis(struct tl *t, const struct yscale *ys)
{
    FILE *out = t->out;
    fprintf(out, "<rect class=\"bgp\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n",
            LABEL_W, t->top_lat, PLOT_W, LAT_H);
    if (ys->log) {
        for (double d = ys->lo; d <= ys->hi + 1e-9; d += 1) {
            double y = ty(t, ys, pow(10, d));
            fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                    "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ms</text>\n",
                    LABEL_W, y, LABEL_W + PLOT_W, y, LABEL_W - 4, y + 4, pow(10, d));
        }
    } else {
        double step = fl_svg_nice_step(ys->hi - ys->lo, 4);
        for (double v = ys->lo; v <= ys->hi + step * 1e-9; v += step) {
            double y = ty(t, ys, v);
            fprintf(out, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                    "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ms</text>\n",
                    LABEL_W, y, LABEL_W + PLOT_W, y, LABEL_W - 4, y + 4, v);
        }
    }
    fprintf(out, "<text x=\"4\" y=\"%d\">latency</text><text class=\"axis\" x=\"4\" y=\"%d\">"
            "(%s scale)</text>\n", t->top_lat + 14, t->top_lat + 28, ys->log ? "log" : "linear");
}

static void put_timeline(FILE *out, const json_t *e, size_t idx)
{
    struct tl t = {.out = out, .t_max = span_end(e)};
    size_t nf = json_array_size(fl_rj_arr(e, "faults"));
    size_t ns = json_array_size(fl_rj_arr(e, "series"));
    int frows = nf > MAX_FAULT_ROWS ? MAX_FAULT_ROWS : (int)nf;
    int srows = ns > MAX_SERIES_ROWS ? MAX_SERIES_ROWS : (int)ns;
    t.top_faults = 6 + ROW_H + 4;
    t.top_series = t.top_faults + frows * ROW_H;
    t.top_lat = t.top_series + srows * ROW_H + 6;
    t.height = t.top_lat + LAT_H + AXIS_H;

    double lo, hi;
    struct yscale ys = {false, 0, 1};
    bool have_lat = lat_range(e, &lo, &hi);
    if (have_lat) {
        /* Log scale once the spread is wide: a 1 s timeout next to 1 ms answers would flatten
         * the normal latencies to the axis on a linear scale. */
        if (lo > 0 && hi / lo > 30) {
            ys.log = true;
            ys.lo = floor(log10(lo));
            ys.hi = ceil(log10(hi));
            if (ys.hi <= ys.lo)
                ys.hi = ys.lo + 1;
        } else {
            double step = fl_svg_nice_step(hi > 0 ? hi : 1, 4);
            ys.hi = ceil((hi > 0 ? hi : 1) / step) * step;
        }
    }

    fprintf(out, "<svg id=\"timeline-%zu\" class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\""
            " viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"timeline"
            " of ", idx, CHART_W, t.height, CHART_W, t.height);
    h(out, fl_rj_str(e, "title", fl_rj_str(e, "id", "")));
    fputs("\">\n", out);
    draw_lat_axis(&t, &ys);
    draw_time_axis(&t);
    draw_phases(&t, e);

    size_t i;
    json_t *s;
    json_array_foreach(fl_rj_arr(e, "series"), i, s) {
        if (i >= MAX_SERIES_ROWS)
            break;
        int y = t.top_series + (int)i * ROW_H;
        fprintf(out, "<rect class=\"f%zu\" x=\"4\" y=\"%d\" width=\"8\" height=\"8\"/>",
                i % NCOLORS, y + 5);
        fprintf(out, "<text x=\"16\" y=\"%d\"><title>", y + 13);
        h(out, fl_rj_str(s, "what", ""));
        fputs("</title>", out);
        h_fit(out, fl_rj_str(s, "probe", "?"), LABEL_W - 20);
        fputs("</text>\n", out);
        draw_marks(&t, s, y);
    }
    if (have_lat) {
        json_array_foreach(fl_rj_arr(e, "series"), i, s) {
            if (i >= MAX_SERIES_ROWS)
                break;
            draw_latency(&t, &ys, s, (int)(i % NCOLORS));
        }
        draw_load(&t, &ys, json_object_get(e, "load"));
    } else {
        fprintf(out, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">no latency "
                "recorded</text>\n", LABEL_W + PLOT_W / 2, t.top_lat + LAT_H / 2);
        json_array_foreach(fl_rj_arr(e, "series"), i, s)
            t.samples += json_array_size(fl_rj_arr(s, "samples"));
    }
    /* Fault windows last, so the shading lies over the marks and lines it explains. */
    draw_faults(&t, e);
    fputs("</svg>\n", out);

    fputs("<p class=\"note\">Shaded: fault windows. Per probe, green marks are good samples and "
          "red failed ones; lines are probe latency", out);
    if (json_array_size(fl_rj_arr(json_object_get(e, "load"), "windows")))
        fputs(" (dashed: the load's p99 per window)", out);
    fputs(".", out);
    /* Said only when this chart has such a window, so a document without `fired` gives the
     * page it always gave. */
    bool never = false, allowed = false;
    json_array_foreach(fl_rj_arr(e, "faults"), i, s) {
        enum fl_fired st = fl_fault_fired(s, NULL);
        never = never || st == FL_FIRED_NEVER;
        allowed = allowed || st == FL_FIRED_ALLOWED;
    }
    if (never)
        fputs(" Outlined in dashed red, unshaded: a fault that never fired, so that window "
              "tested nothing.", out);
    if (allowed)
        fputs(" Outlined in dashed grey: a fault that did not fire, which its step allowed "
              "(may_not_fire).", out);
    fputs(" Hover for details.", out);
    if (t.drawn_pts < t.samples && have_lat)
        fprintf(out, " Downsampled: %zu samples drawn as %zu points (the lowest and highest "
                "latency per pixel column); every sample is in the JSON results.",
                t.samples, t.drawn_pts);
    if (ns > MAX_SERIES_ROWS)
        fprintf(out, " Only the first %d of %zu probes are drawn.", MAX_SERIES_ROWS, ns);
    fputs("</p>\n", out);
}

/* ---- the page ---- */

/* A badge coloured as verdict v says, reading text. */
static void badge_text(FILE *out, enum fl_verdict v, const char *text)
{
    fprintf(out, "<span class=\"badge v-%s\">", fl_verdict_names[v]);
    h(out, text);
    fputs("</span>", out);
}

static void badge(FILE *out, enum fl_verdict v, const char *raw)
{
    badge_text(out, v, v == FL_V_UNKNOWN ? raw : fl_verdict_names[v]);
}

/* A numeric cell: obj[key] formatted by fmt (fl_fmt_pct, fl_fmt_ms), "-" when absent. */
static void td_num(FILE *out, const json_t *obj, const char *key,
                   void (*fmt)(double, char *, size_t))
{
    char b[32] = "-";
    double v;
    if (fl_rj_num(obj, key, &v))
        fmt(v, b, sizeof(b));
    fprintf(out, "<td class=\"n\">%s</td>", b);
}

/* The Faults table's fired cell: the count, then what happened. */
static void td_fired(FILE *out, const json_t *f)
{
    long long n;
    enum fl_fired st = fl_fault_fired(f, &n);
    const char *effect = fl_fault_effect(f);
    switch (st) {
    case FL_FIRED_UNKNOWN:
        fputs("<td>-</td>", out);
        return;
    case FL_FIRED_YES:
        fprintf(out, "<td class=\"fired\">%lld", n);
        if (*effect)
            fputs(": ", out);
        break;
    case FL_FIRED_NEVER:
        fprintf(out, "<td class=\"fired-never\">0: <span class=\"met-no\">never fired</span>%s",
                *effect ? ": " : "");
        break;
    case FL_FIRED_ALLOWED:
        fprintf(out, "<td class=\"fired-allowed\">0: <span class=\"muted\">did not fire "
                "(allowed)</span>%s", *effect ? ": " : "");
        break;
    }
    fl_xml_putn(out, effect, 2000);
    fputs("</td>", out);
}

static void put_summary(FILE *out, const json_t *results)
{
    int c[FL_V_COUNT];
    fl_report_tally(results, c);
    char when[64], dur[64];
    long long s = fl_rj_int(results, "started_ms", 0), f = fl_rj_int(results, "finished_ms", 0);
    fl_fmt_when(s, when, sizeof(when));
    fl_fmt_ms(f > s && s > 0 ? (double)(f - s) : NAN, dur, sizeof(dur));
    fputs("<h1>faultline report</h1>\n<p class=\"muted\">host <code>", out);
    h(out, fl_rj_str(results, "host", "?"));
    fprintf(out, "</code> · seed <code>%lld</code> · started %s · took %s · faultline ",
            fl_rj_int(results, "seed", 0), when, dur);
    h(out, fl_rj_str(results, "faultline", "?"));
    if (fl_rj_bool(results, "strict", false))
        fputs(" · strict", out);
    fputs("</p>\n<p>", out);
    size_t total = json_array_size(fl_rj_arr(results, "experiments"));
    fprintf(out, "<b>%zu experiment%s</b>: ", total, total == 1 ? "" : "s");
    for (int v = 0; v < FL_V_COUNT; v++) {
        if (!c[v] && v == FL_V_UNKNOWN)
            continue;
        badge(out, (enum fl_verdict)v, fl_verdict_names[v]);
        fprintf(out, " %d &#160; ", c[v]);
    }
    fputs("</p>\n", out);
}

static void put_scorecard(FILE *out, const json_t *results)
{
    json_t *cats = fl_report_categories(results);
    fputs("<h2 id=\"scorecard\">Scorecard</h2>\n", out);
    if (!json_array_size(cats)) {
        fputs("<p>No experiments were run.</p>\n", out);
        json_decref(cats);
        return;
    }
    /* The faults fired column as in Markdown, but only when the document records `fired`,
     * so an older document gives the page it always gave. */
    struct fl_fired_tally all;
    fl_fired_tally(results, NULL, &all);
    bool known = all.known > 0;
    fprintf(out, "<table><tr><th>category</th><th>scenarios</th><th>tested</th><th>protected"
            "</th><th>score</th><th>threshold</th><th>met</th>%s</tr>\n",
            known ? "<th>faults fired</th>" : "");
    size_t i;
    json_t *c;
    json_array_foreach(cats, i, c) {
        fputs("<tr><td>", out);
        h(out, fl_rj_str(c, "name", "general"));
        fprintf(out, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                "<td class=\"n\">%lld</td>", fl_rj_int(c, "scenarios", 0),
                fl_rj_int(c, "tested", 0), fl_rj_int(c, "protected", 0));
        td_num(out, c, "score", fl_fmt_pct);
        td_num(out, c, "threshold", fl_fmt_pct);
        json_t *met = json_object_get(c, "met");
        fprintf(out, "<td>%s</td>", json_is_true(met) ? "<span class=\"met-yes\">yes"
                "</span>" : json_is_false(met) ? "<span class=\"met-no\">no</span>" : "-");
        if (known) {
            struct fl_fired_tally ct;
            fl_fired_tally(results, fl_rj_str(c, "name", "general"), &ct);
            if (!ct.known)
                fputs("<td class=\"n\">-</td>", out);
            else
                fprintf(out, "<td class=\"n\">%s%lld/%lld%s</td>",
                        ct.never ? "<span class=\"met-no\">" : "", ct.fired, ct.known,
                        ct.never ? "</span>" : "");
        }
        fputs("</tr>\n", out);
    }
    fprintf(out, "</table>\n<p class=\"note\">tested: run to a verdict (not skipped, no error); "
            "protected: passed; score = protected / tested%s.</p>\n", known ? "; faults fired: "
            "fault windows that took effect / fault windows" : "");
    json_decref(cats);
}

static void put_index(FILE *out, const json_t *results)
{
    const json_t *exps = fl_rj_arr(results, "experiments");
    if (!json_array_size(exps))
        return;
    fputs("<h2>Experiments</h2>\n<table><tr><th>verdict</th><th>experiment</th>"
          "<th>category</th><th>availability</th><th>during faults</th><th>time to recover"
          "</th><th>why</th></tr>\n", out);
    size_t i;
    json_t *e;
    json_array_foreach(exps, i, e) {
        fputs("<tr><td>", out);
        badge(out, fl_verdict_of(e), fl_rj_str(e, "verdict", "?"));
        fprintf(out, "</td><td><a href=\"#exp-%zu\">", i);
        h(out, fl_rj_str(e, "title", fl_rj_str(e, "id", "(untitled)")));
        fputs("</a></td><td>", out);
        h(out, fl_rj_str(e, "category", "general"));
        fputs("</td>", out);
        json_t *m = json_object_get(e, "metrics");
        td_num(out, m, "availability", fl_fmt_pct);
        td_num(out, m, "availability_during_faults", fl_fmt_pct);
        td_num(out, m, "time_to_recover_ms", fl_fmt_ms);
        fputs("<td>", out);
        fl_xml_putn(out, fl_rj_str(e, "why", ""), 300);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void put_figures(FILE *out, const json_t *e)
{
    json_t *m = json_object_get(e, "metrics");
    if (!json_is_object(m) || !json_object_size(m))
        return;
    fputs("<h3>Figures</h3>\n<table>", out);
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        char b[64] = "-";
        if (json_is_number(v)) {
            double d = json_number_value(v);
            size_t kl = strlen(key);
            if (kl > 3 && !strcmp(key + kl - 3, "_ms"))
                fl_fmt_ms(d, b, sizeof(b));
            else if (strstr(key, "availability") || strstr(key, "rate"))
                fl_fmt_pct(d, b, sizeof(b));
            else
                snprintf(b, sizeof(b), "%.6g", d);
        }
        fputs("<tr><th>", out);
        h(out, key);
        fprintf(out, "</th><td class=\"n\">%s</td></tr>", b);
    }
    fputs("</table>\n", out);
}

static void put_objectives(FILE *out, const json_t *e)
{
    const json_t *objs = fl_rj_arr(e, "objectives");
    if (!json_array_size(objs))
        return;
    fputs("<h3>Objectives</h3>\n<table><tr><th>objective</th><th>wanted</th><th>measured</th>"
          "<th>met</th></tr>\n", out);
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o) {
        double v;
        fputs("<tr><td>", out);
        h(out, fl_rj_str(o, "name", "?"));
        fputs("</td><td>", out);
        h(out, fl_rj_str(o, "op", ""));
        if (fl_rj_num(o, "threshold", &v))
            fprintf(out, " %.6g", v);
        fputc(' ', out);
        h(out, fl_rj_str(o, "unit", ""));
        fputs("</td><td class=\"n\">", out);
        if (fl_rj_num(o, "value", &v))
            fprintf(out, "%.6g ", v);
        else
            fputs("- ", out);
        h(out, fl_rj_str(o, "unit", ""));
        bool met = fl_rj_bool(o, "met", false);
        fprintf(out, "</td><td>%s</td></tr>\n", met ? "<span class=\"met-yes\">yes</span>"
                                                    : "<span class=\"met-no\">no</span>");
    }
    fputs("</table>\n", out);
}

static void put_checks(FILE *out, const json_t *e)
{
    const json_t *checks = fl_rj_arr(e, "checks");
    const json_t *faults = fl_rj_arr(e, "faults");
    size_t i;
    json_t *c;
    if (json_array_size(faults)) {
        /* The fired column only when the document records it (older ones do not). */
        bool fired_col = false;
        json_array_foreach(faults, i, c)
            fired_col = fired_col || fl_fault_fired(c, NULL) != FL_FIRED_UNKNOWN;
        fprintf(out, "<h3>Faults</h3>\n<table><tr><th>step</th><th>kind</th><th>what</th>"
                "<th>window</th><th>applied</th>%s</tr>\n", fired_col ? "<th>fired</th>" : "");
        json_array_foreach(faults, i, c) {
            fprintf(out, "<tr><td class=\"n\">%lld</td><td>",
                    fl_rj_int(c, "step", (long long)i + 1));
            h(out, fl_rj_str(c, "kind", ""));
            fputs("</td><td>", out);
            h(out, fl_rj_str(c, "what", ""));
            fprintf(out, "</td><td class=\"n\">%lld..%lld ms</td><td>",
                    fl_rj_int(c, "start_ms", 0), fl_rj_int(c, "end_ms", 0));
            if (fl_rj_bool(c, "ok", true))
                fputs("yes", out);
            else {
                fputs("<span class=\"met-no\">no</span>: ", out);
                h(out, fl_rj_str(c, "error", ""));
            }
            fputs("</td>", out);
            if (fired_col)
                td_fired(out, c);
            fputs("</tr>\n", out);
        }
        fputs("</table>\n", out);
    }
    if (json_array_size(checks)) {
        fputs("<h3>Checks</h3>\n<table><tr><th>phase</th><th>probe</th><th>what</th><th>ok</th>"
              "<th>detail</th></tr>\n", out);
        json_array_foreach(checks, i, c) {
            fputs("<tr><td>", out);
            h(out, fl_rj_str(c, "phase", ""));
            fputs("</td><td>", out);
            h(out, fl_rj_str(c, "probe", ""));
            fputs("</td><td>", out);
            h(out, fl_rj_str(c, "what", ""));
            fprintf(out, "</td><td>%s</td><td>", fl_rj_bool(c, "ok", false)
                    ? "<span class=\"met-yes\">yes</span>" : "<span class=\"met-no\">no</span>");
            fl_xml_putn(out, fl_rj_str(c, "detail", ""), 2000);
            fputs("</td></tr>\n", out);
        }
        fputs("</table>\n", out);
    }
    const char *key;
    json_t *l;
    json_t *leaks = json_object_get(e, "leaks");
    if (json_is_object(leaks) && json_object_size(leaks)) {
        fputs("<h3>Leak checks</h3>\n<table><tr><th>resource</th><th>before</th><th>after</th>"
              "<th>limit</th><th>ok</th></tr>\n", out);
        json_object_foreach(leaks, key, l) {
            fputs("<tr><td>", out);
            h(out, key);
            fprintf(out, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td>"
                    "<td class=\"n\">%lld</td><td>%s</td></tr>\n", fl_rj_int(l, "before", 0),
                    fl_rj_int(l, "after", 0), fl_rj_int(l, "limit", 0),
                    fl_rj_bool(l, "ok", true) ? "yes" : "<span class=\"met-no\">leak</span>");
        }
        fputs("</table>\n", out);
    }
    json_t *rb = json_object_get(e, "rollback");
    if (json_is_object(rb) && !fl_rj_bool(rb, "ok", true)) {
        fputs("<p class=\"why\">Rollback failed:</p><ul>", out);
        json_array_foreach(fl_rj_arr(rb, "errors"), i, c) {
            fputs("<li>", out);
            h(out, json_string_value(c));
            fputs("</li>", out);
        }
        fputs("</ul>\n", out);
    }
    const json_t *log = fl_rj_arr(e, "log");
    if (json_array_size(log)) {
        fprintf(out, "<details><summary>log (%zu lines)</summary><pre>", json_array_size(log));
        json_array_foreach(log, i, c) {
            if (i == MAX_LOG_LINES) {
                fprintf(out, "... %zu more lines in the JSON results\n", json_array_size(log) - i);
                break;
            }
            fl_xml_putn(out, json_string_value(c), 2000);
            fputc('\n', out);
        }
        fputs("</pre></details>\n", out);
    }
}

static void put_experiment(FILE *out, const json_t *e, size_t idx)
{
    enum fl_verdict v = fl_verdict_of(e);
    fprintf(out, "<section class=\"exp\" id=\"exp-%zu\">\n<h2>", idx);
    badge(out, v, fl_rj_str(e, "verdict", "?"));
    fputc(' ', out);
    h(out, fl_rj_str(e, "title", fl_rj_str(e, "id", "(untitled)")));
    fputs("</h2>\n", out);
    if (*fl_rj_str(e, "why", "")) {
        fputs("<p class=\"why\">", out);
        h(out, fl_rj_str(e, "why", ""));
        fputs("</p>\n", out);
    }
    if ((v == FL_V_XFAIL || v == FL_V_XPASS) && *fl_rj_str(e, "reason", "")) {
        fputs("<p>Expected to fail: ", out);
        h(out, fl_rj_str(e, "reason", ""));
        if (v == FL_V_XPASS)
            fputs(" &#8212; but it passed: the gap looks fixed, remove the xfail.", out);
        fputs("</p>\n", out);
    }
    fputs("<p class=\"muted\">", out);
    static const char *const keys[][2] = {
        {"id", "id"}, {"category", "category"}, {"file", "file"},
        {"failure_mode", "failure mode"}, {"expected_behaviour", "expected"},
    };
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        if (!*fl_rj_str(e, keys[k][0], ""))
            continue;
        fprintf(out, "%s: <b>", keys[k][1]);
        h(out, fl_rj_str(e, keys[k][0], ""));
        fputs("</b><br>", out);
    }
    char dur[64];
    double d = NAN;
    fl_rj_num(e, "duration_ms", &d);
    fl_fmt_ms(d, dur, sizeof(dur));
    fprintf(out, "seed %lld · took %s</p>\n", fl_rj_int(e, "seed", 0), dur);
    put_figures(out, e);
    put_objectives(out, e);
    if (v != FL_V_SKIP || json_array_size(fl_rj_arr(e, "series")) ||
        json_array_size(fl_rj_arr(e, "phases"))) {
        fputs("<h3>Timeline</h3>\n", out);
        put_timeline(out, e, idx);
    }
    put_checks(out, e);
    fputs("</section>\n", out);
}

/* The note that ends a page, the end of the page, and whether all of it was written. */
static int page_end(FILE *out, const char *note, struct fl_err *err)
{
    fprintf(out, "<p class=\"note\">%s</p>\n</body>\n</html>\n", note);
    if (ferror(out))
        return fl_err_set(err, EIO, "html report: write failed");
    return 0;
}

static int html_render(const json_t *results, FILE *out, struct fl_err *err)
{
    char when[64], title[400];
    fl_fmt_when(fl_rj_int(results, "started_ms", 0), when, sizeof(when));
    snprintf(title, sizeof(title), "faultline report: %.300s, %s",
             fl_rj_str(results, "host", "?"), when);
    fl_html_begin(out, title, NULL);
    put_summary(out, results);
    put_scorecard(out, results);
    put_index(out, results);
    size_t i;
    json_t *e;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e)
        put_experiment(out, e, i);
    return page_end(out, "Made by faultline from one results document (docs/results-format.md); "
                    "docs/reports.md explains how to read it.", err);
}

/* ---- a sweep's findings ---- */

#define MAX_ALSO 50 /* other occurrences listed per finding; the rest are counted */

static void put_sweep_summary(FILE *out, const struct fl_sweep_summary *s)
{
    fputs("<h1>faultline sweep</h1>\n<p class=\"muted\">command <code>", out);
    h(out, s->command);
    fprintf(out, "</code> · seed <code>%llu</code> · took %s · %lld trials", s->seed, s->took,
            s->trials);
    h(out, s->partial);
    fprintf(out, "</p>\n<p><b>%zu finding%s</b>", s->findings, s->findings == 1 ? "" : "s");
    for (size_t i = 0; i < s->nkinds; i++) {
        fputs(i ? " &#160; " : ": ", out);
        badge_text(out, FL_V_FAIL, s->kinds[i].kind);
        fprintf(out, " %lld", s->kinds[i].findings);
    }
    if (s->flaky) {
        fputs(" &#160; ", out);
        badge_text(out, FL_V_XFAIL, "flaky");
        fprintf(out, " %zu", s->flaky);
    }
    fputs("</p>\n<h2 id=\"outcomes\">Trials by outcome</h2>\n", out);
    if (!s->noutcomes) {
        fprintf(out, "<p>%s</p>\n", s->no_trial);
        return;
    }
    fputs("<table><tr><th>outcome</th><th>trials</th><th>findings</th></tr>\n", out);
    for (size_t i = 0; i < s->noutcomes; i++) {
        fputs("<tr><td>", out);
        h(out, s->outcomes[i].kind);
        fprintf(out, "</td><td class=\"n\">%lld</td><td class=\"n\">%lld</td></tr>\n",
                s->outcomes[i].trials, s->outcomes[i].findings);
    }
    fputs("</table>\n<p class=\"note\">The outcome classes are defined in docs/discovery.md; "
          "trials of the same outcome, call site and fault are one finding.</p>\n", out);
}

/* The index: one row per finding (flaky ones after), linking to its section. */
static void put_sweep_index(FILE *out, const json_t *sweep)
{
    fputs("<table><tr><th>finding</th><th>outcome</th><th>fault</th><th>where</th>"
          "<th>replay</th></tr>\n", out);
    for (int fl = 0; fl < 2; fl++) {
        size_t i;
        json_t *f;
        json_array_foreach(fl_rj_arr(sweep, fl ? "flaky" : "findings"), i, f) {
            struct fl_sweep_finding l;
            fl_sweep_finding(f, fl, i, &l);
            fprintf(out, "<tr><td><a href=\"#%s-%zu\">", fl ? "flaky" : "finding", i);
            h(out, l.name);
            fputs("</a></td><td>", out);
            h(out, fl_rj_str(f, "kind", "?"));
            fputs("</td><td>", out);
            h(out, l.text[FL_SWEEP_FAULT]);
            fputs("</td><td>", out);
            h(out, l.text[FL_SWEEP_WHERE]);
            fputs("</td><td>", out);
            h(out, fl ? "flaky" : "reproduced");
            fputs("</td></tr>\n", out);
        }
    }
    fputs("</table>\n", out);
}

static void put_li(FILE *out, const char *line)
{
    fputs("<li>", out);
    h(out, line);
    fputs("</li>", out);
}

static void put_sweep_entry(FILE *out, const json_t *f, bool flaky, size_t idx)
{
    struct fl_sweep_finding l;
    fl_sweep_finding(f, flaky, idx, &l);
    fprintf(out, "<section class=\"exp\" id=\"%s-%zu\">\n<h2>", flaky ? "flaky" : "finding",
            idx);
    badge_text(out, flaky ? FL_V_XFAIL : FL_V_FAIL, fl_rj_str(f, "kind", "?"));
    fputc(' ', out);
    h(out, l.name);
    fputs(": ", out);
    h(out, l.title);
    fputs("</h2>\n<table>", out);
    for (int i = 0; i < FL_SWEEP_NLINES; i++) {
        if (!*l.text[i])
            continue;
        fprintf(out, "<tr><th>%s</th><td>", l.label[i]);
        h(out, l.text[i]);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n<h3>Repro</h3>\n<pre><code>", out);
    h(out, fl_rj_str(f, "repro", ""));
    fputs("</code></pre>\n", out);
    if (json_array_size(fl_rj_arr(f, "also"))) {
        fputs("<h3>Also</h3>\n<p class=\"muted\">The same outcome, call site and fault at "
              "other occurrences:</p>\n<ul>", out);
        fl_sweep_alsos(out, f, MAX_ALSO, put_li);
        fputs("</ul>\n", out);
    }
    static const char *const streams[][2] = {{"check_output", "check output"},
                                             {"stderr", "stderr"}};
    for (size_t k = 0; k < sizeof(streams) / sizeof(streams[0]); k++) {
        const char *text = fl_rj_str(f, streams[k][0], "");
        if (!*text)
            continue;
        fprintf(out, "<details><summary>%s</summary><pre>", streams[k][1]);
        fl_xml_putn(out, text, 20000);
        fputs("</pre></details>\n", out);
    }
    fputs("</section>\n", out);
}

static int html_sweep_render(const json_t *sweep, FILE *out, struct fl_err *err)
{
    struct fl_sweep_summary sum;
    char title[sizeof(sum.command) + 32];
    fl_sweep_summary(sweep, &sum);
    snprintf(title, sizeof(title), "faultline sweep: %s", sum.command);
    fl_html_begin(out, title, NULL);
    put_sweep_summary(out, &sum);
    const json_t *findings = fl_rj_arr(sweep, "findings"), *flaky = fl_rj_arr(sweep, "flaky");
    fputs("<h2 id=\"findings\">Findings</h2>\n", out);
    if (!json_array_size(findings) && !json_array_size(flaky))
        fputs("<p>None: every trial was ok or handled.</p>\n", out);
    else
        put_sweep_index(out, sweep);
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f)
        put_sweep_entry(out, f, false, i);
    if (json_array_size(flaky))
        fputs("<h2 id=\"flaky\">Flaky</h2>\n<p>A trial that broke, but whose replay gave "
              "another outcome.</p>\n", out);
    json_array_foreach(flaky, i, f)
        put_sweep_entry(out, f, true, i);
    return page_end(out, "Made by faultline from a sweep's findings document "
                    "(docs/discovery.md). Run a repro line in a directory prepared as a trial's "
                    "(the template copied, the setup run).", err);
}

const struct fl_report_ops fl_report_html = {
    .name = "html",
    .summary = "one self-contained HTML page: a timeline per experiment, or a sweep's findings",
    .render = html_render,
    .render_sweep = html_sweep_render,
};
