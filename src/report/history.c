/* SPDX-License-Identifier: MIT */
/*
 * report/history.c - the history database: one row per run and one per experiment in it, so
 * `faultline report history` can show how verdicts, availability and time to recover moved
 * across runs (a regression shows as P P F, a fix as F F P).
 *
 * Schema (user_version 1; new columns are added, never renamed):
 *   runs(id, started_ms, finished_ms, seed, host, faultline, strict, summary JSON, recorded_ms)
 *   experiments(run_id -> runs.id, id, title, category, verdict, why, availability,
 *               availability_during_faults, time_to_detect_ms, time_to_recover_ms,
 *               latency_p99_ms, duration_ms, seed)
 *
 * Concurrency: two runs may finish at once, so a record is one BEGIN IMMEDIATE transaction
 * (the write lock is taken up front, no deadlock on upgrade) under a busy timeout. The file is
 * created 0600 before SQLite opens it: hostnames and failure details are nobody else's
 * business, and SQLite gives its journal the database's mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "journal.h"
#include "report.h"
#include "rutil.h"
#include "svg.h"

#define HISTORY_BUSY_MS 15000

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, started_ms INTEGER, finished_ms INTEGER,"
    " seed INTEGER, host TEXT, faultline TEXT, strict INTEGER, summary TEXT,"
    " recorded_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS experiments("
    " run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, id TEXT NOT NULL,"
    " title TEXT, category TEXT, verdict TEXT, why TEXT, availability REAL,"
    " availability_during_faults REAL, time_to_detect_ms REAL, time_to_recover_ms REAL,"
    " latency_p99_ms REAL, duration_ms INTEGER, seed INTEGER);"
    "CREATE INDEX IF NOT EXISTS experiments_by_id ON experiments(id, run_id);"
    "PRAGMA user_version = 1;";

static int db_fail(sqlite3 *db, struct fl_err *err, const char *path, const char *what)
{
    int code = sqlite3_errcode(db) == SQLITE_BUSY ? EBUSY
               : sqlite3_errcode(db) == SQLITE_CANTOPEN ? ENOENT : EIO;
    return fl_err_set(err, code, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

/* mkdir -p of the directory holding path (the state directory may not exist yet). */
static int make_parent(const char *path, struct fl_err *err)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return fl_err_set(err, errno, "%s: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return fl_err_set(err, errno, "%s: %s", dir, strerror(errno));
    return 0;
}

static int history_open(const char *path, bool create, sqlite3 **out, struct fl_err *err)
{
    *out = NULL;
    if (create) {
        int rc = make_parent(path, err);
        if (rc < 0)
            return rc;
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
        close(fd);
    }
    sqlite3 *db;
    int flags = create ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        int rc = db_fail(db, err, path, "open");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, HISTORY_BUSY_MS);
    *out = db;
    return 0;
}

static void bind_num(sqlite3_stmt *st, int col, const json_t *obj, const char *key)
{
    double v;
    if (fl_rj_num(obj, key, &v))
        sqlite3_bind_double(st, col, v);
    else
        sqlite3_bind_null(st, col);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
    sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
}

int fl_history_record(const char *db_path, const json_t *results, struct fl_err *err)
{
    sqlite3 *db;
    int rc = history_open(db_path, true, &db, err);
    if (rc < 0)
        return rc;
    sqlite3_stmt *run = NULL, *exp = NULL;
    char *summary = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, db_path, "begin");
        goto out;
    }
    if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO runs(started_ms, finished_ms, seed, host, faultline,"
                           " strict, summary, recorded_ms) VALUES(?,?,?,?,?,?,?,?)", -1, &run,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO experiments(run_id, id, title, category, verdict,"
                           " why, availability, availability_during_faults, time_to_detect_ms,"
                           " time_to_recover_ms, latency_p99_ms, duration_ms, seed)"
                           " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &exp, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, db_path, "prepare");
        goto rollback;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    json_t *sum = json_object_get(results, "summary");
    summary = sum ? json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    sqlite3_bind_int64(run, 1, fl_rj_int(results, "started_ms", 0));
    sqlite3_bind_int64(run, 2, fl_rj_int(results, "finished_ms", 0));
    sqlite3_bind_int64(run, 3, fl_rj_int(results, "seed", 0));
    bind_text(run, 4, fl_rj_str(results, "host", ""));
    bind_text(run, 5, fl_rj_str(results, "faultline", ""));
    sqlite3_bind_int(run, 6, fl_rj_bool(results, "strict", false));
    bind_text(run, 7, summary ? summary : "{}");
    sqlite3_bind_int64(run, 8, (sqlite3_int64)now.tv_sec * 1000 + now.tv_usec / 1000);
    if (sqlite3_step(run) != SQLITE_DONE) {
        rc = db_fail(db, err, db_path, "insert run");
        goto rollback;
    }
    sqlite3_int64 run_id = sqlite3_last_insert_rowid(db);
    size_t i;
    json_t *e;
    json_array_foreach(fl_rj_arr(results, "experiments"), i, e) {
        char fallback[32];
        const char *id = fl_rj_str(e, "id", "");
        if (!*id) {
            /* Without an id the title is the best key a later run will share. */
            id = fl_rj_str(e, "title", "");
            if (!*id) {
                snprintf(fallback, sizeof(fallback), "#%zu", i + 1);
                id = fallback;
            }
        }
        json_t *m = json_object_get(e, "metrics");
        sqlite3_reset(exp);
        sqlite3_bind_int64(exp, 1, run_id);
        bind_text(exp, 2, id);
        bind_text(exp, 3, fl_rj_str(e, "title", id));
        bind_text(exp, 4, fl_rj_str(e, "category", "general"));
        bind_text(exp, 5, fl_rj_str(e, "verdict", "UNKNOWN"));
        bind_text(exp, 6, fl_rj_str(e, "why", ""));
        bind_num(exp, 7, m, "availability");
        bind_num(exp, 8, m, "availability_during_faults");
        bind_num(exp, 9, m, "time_to_detect_ms");
        bind_num(exp, 10, m, "time_to_recover_ms");
        bind_num(exp, 11, m, "latency_p99_ms");
        sqlite3_bind_int64(exp, 12, fl_rj_int(e, "duration_ms", 0));
        sqlite3_bind_int64(exp, 13, fl_rj_int(e, "seed", fl_rj_int(results, "seed", 0)));
        if (sqlite3_step(exp) != SQLITE_DONE) {
            rc = db_fail(db, err, db_path, "insert experiment");
            goto rollback;
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, err, db_path, "commit");
        goto rollback;
    }
    rc = 0;
    goto out;
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    free(summary);
    sqlite3_finalize(run);
    sqlite3_finalize(exp);
    sqlite3_close(db);
    return rc;
}

/* ---- reading the trend ---- */

struct hrun {
    long long id, started_ms, seed;
    char host[128];
};

/* One experiment across the shown runs; cells[k] belongs to runs[k]. */
struct hcell {
    bool present;
    char verdict[16];
    double avail, during, ttr; /* NAN when not measured */
};

struct hexp {
    char *id, *title, *category;
    struct hcell *cells;
};

struct hist {
    struct hrun *runs;
    size_t nruns;
    struct hexp *exps;
    size_t nexps;
};

static void hist_free(struct hist *h)
{
    for (size_t i = 0; i < h->nexps; i++) {
        free(h->exps[i].id);
        free(h->exps[i].title);
        free(h->exps[i].category);
        free(h->exps[i].cells);
    }
    free(h->exps);
    free(h->runs);
}

static double col_num(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? s : "";
}

static int hist_load(sqlite3 *db, const char *path, int limit, struct hist *h,
                     struct fl_err *err)
{
    memset(h, 0, sizeof(*h));
    sqlite3_stmt *st = NULL;
    int rc = 0;
    /* An empty file (created by a record that failed, or by hand) has no tables yet. */
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name='runs'", -1, &st,
                           NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        goto fail;
    bool have = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    st = NULL;
    if (!have)
        return 0;
    if (sqlite3_prepare_v2(db, "SELECT id, started_ms, seed, host FROM runs ORDER BY id DESC"
                           " LIMIT ?", -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int(st, 1, limit);
    h->runs = calloc((size_t)limit, sizeof(*h->runs));
    if (!h->runs)
        return fl_err_set(err, ENOMEM, "out of memory");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct hrun *r = &h->runs[h->nruns++];
        r->id = sqlite3_column_int64(st, 0);
        r->started_ms = sqlite3_column_int64(st, 1);
        r->seed = sqlite3_column_int64(st, 2);
        snprintf(r->host, sizeof(r->host), "%s", col_text(st, 3));
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    /* Oldest first, so trends read left to right. */
    for (size_t i = 0; i < h->nruns / 2; i++) {
        struct hrun t = h->runs[i];
        h->runs[i] = h->runs[h->nruns - 1 - i];
        h->runs[h->nruns - 1 - i] = t;
    }
    if (!h->nruns)
        return 0;
    if (sqlite3_prepare_v2(db, "SELECT run_id, id, title, category, verdict, availability,"
                           " availability_during_faults, time_to_recover_ms FROM experiments"
                           " WHERE run_id >= ? ORDER BY category, id, run_id", -1, &st, NULL)
        != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, h->runs[0].id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long run_id = sqlite3_column_int64(st, 0);
        size_t k = 0;
        while (k < h->nruns && h->runs[k].id != run_id)
            k++;
        if (k == h->nruns)
            continue;
        const char *id = col_text(st, 1);
        struct hexp *x = h->nexps ? &h->exps[h->nexps - 1] : NULL;
        if (!x || strcmp(x->id, id)) {
            struct hexp *grown = realloc(h->exps, (h->nexps + 1) * sizeof(*grown));
            if (!grown) {
                sqlite3_finalize(st);
                return fl_err_set(err, ENOMEM, "out of memory");
            }
            h->exps = grown;
            x = &h->exps[h->nexps++];
            x->id = strdup(id);
            x->title = strdup(col_text(st, 2));
            x->category = strdup(col_text(st, 3));
            x->cells = calloc(h->nruns, sizeof(*x->cells));
            if (!x->id || !x->title || !x->category || !x->cells) {
                sqlite3_finalize(st);
                return fl_err_set(err, ENOMEM, "out of memory");
            }
        } else {
            /* Rows come oldest first: the newest title wins. */
            free(x->title);
            x->title = strdup(col_text(st, 2));
            if (!x->title) {
                sqlite3_finalize(st);
                return fl_err_set(err, ENOMEM, "out of memory");
            }
        }
        struct hcell *c = &x->cells[k];
        c->present = true;
        snprintf(c->verdict, sizeof(c->verdict), "%s", col_text(st, 4));
        c->avail = col_num(st, 5);
        c->during = col_num(st, 6);
        c->ttr = col_num(st, 7);
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    return 0;
fail:
    rc = db_fail(db, err, path, "read");
    sqlite3_finalize(st);
    return rc;
}

static char verdict_letter(const struct hcell *c)
{
    static const char letters[] = "PFxXES?";
    if (!c->present)
        return '.';
    for (int v = 0; v < FL_V_UNKNOWN; v++)
        if (!strcasecmp(c->verdict, fl_verdict_names[v]))
            return letters[v];
    return '?';
}

/* First and last measured value of a figure across the runs, for the trend line. */
static bool first_last(const struct hexp *x, size_t n, size_t off, double *a, double *b)
{
    bool any = false;
    for (size_t k = 0; k < n; k++) {
        const struct hcell *c = &x->cells[k];
        double v = *(const double *)((const char *)c + off);
        if (!c->present || isnan(v))
            continue;
        if (!any)
            *a = v;
        *b = v;
        any = true;
    }
    return any;
}

static void show_text(FILE *out, const struct hist *h, const char *path)
{
    char when[64], a[64], b[64];
    fprintf(out, "history: %zu run%s from %s (oldest first)\n", h->nruns,
            h->nruns == 1 ? "" : "s", path);
    fputs("verdicts: P pass, F fail, x xfail, X xpass, E error, S skip, . not in that run\n",
          out);
    for (size_t i = 0; i < h->nexps; i++) {
        const struct hexp *x = &h->exps[i];
        fprintf(out, "\n%s  %s  [%s]\n  verdicts  ", x->id, x->title, x->category);
        for (size_t k = 0; k < h->nruns; k++)
            fputc(verdict_letter(&x->cells[k]), out);
        fputs("\n  run     started               verdict  availability  during faults  "
              "recover\n", out);
        for (size_t k = 0; k < h->nruns; k++) {
            const struct hcell *c = &x->cells[k];
            if (!c->present)
                continue;
            char av[32], du[32], tr[32];
            fl_fmt_when(h->runs[k].started_ms, when, sizeof(when));
            fl_fmt_pct(c->avail, av, sizeof(av));
            fl_fmt_pct(c->during, du, sizeof(du));
            fl_fmt_ms(c->ttr, tr, sizeof(tr));
            fprintf(out, "  #%-6lld %-21s %-8s %12s  %13s  %7s\n", h->runs[k].id, when,
                    c->verdict, av, du, tr);
        }
        double f = 0, l = 0;
        bool any = false;
        fputs("  trend   ", out);
        if (first_last(x, h->nruns, offsetof(struct hcell, avail), &f, &l)) {
            fl_fmt_pct(f, a, sizeof(a));
            fl_fmt_pct(l, b, sizeof(b));
            fprintf(out, " availability %s -> %s (%+.1f points)", a, b, (l - f) * 100);
            any = true;
        }
        if (first_last(x, h->nruns, offsetof(struct hcell, ttr), &f, &l)) {
            /* Oldest and newest measured values: a run where nothing failed has none. */
            fl_fmt_ms(f, a, sizeof(a));
            fl_fmt_ms(l, b, sizeof(b));
            fprintf(out, "%s time to recover %s -> %s", any ? "," : "", a, b);
            any = true;
        }
        if (!any)
            fputs(" nothing measured", out);
        fputc('\n', out);
    }
}

/* A small trend chart: one value per run, gaps where not measured. */
static void sparkline(FILE *out, const struct hist *h, const struct hexp *x, size_t off,
                      bool pct, const char *label)
{
    const int W = 320, H = 64, L = 56, R = 8, T = 8, B = 8;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < h->nruns; k++) {
        double v = *(const double *)((const char *)&x->cells[k] + off);
        if (x->cells[k].present && !isnan(v))
            lo = fmin(lo, v), hi = fmax(hi, v);
    }
    fprintf(out, "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\""
            " width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">", W, H, W, H, label);
    fprintf(out, "<rect class=\"bgp\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>", L, T,
            W - L - R, H - T - B);
    if (hi < lo) {
        fprintf(out, "<text class=\"axis\" x=\"%d\" y=\"%d\">%s: not measured</text></svg>\n",
                L + 6, H / 2 + 4, label);
        return;
    }
    if (pct)
        lo = fmin(lo, 0.9), hi = 1;
    else
        lo = 0;
    if (hi <= lo)
        hi = lo + 1;
    char a[32], b[32];
    if (pct) {
        fl_fmt_pct(hi, a, sizeof(a));
        fl_fmt_pct(lo, b, sizeof(b));
    } else {
        fl_fmt_ms(hi, a, sizeof(a));
        fl_fmt_ms(lo, b, sizeof(b));
    }
    fprintf(out, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>"
            "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>",
            L - 4, T + 8, a, L - 4, H - B, b);
    double step = h->nruns > 1 ? (double)(W - L - R - 12) / (double)(h->nruns - 1) : 0;
    fputs("<polyline class=\"ln c0\" points=\"", out);
    for (size_t k = 0; k < h->nruns; k++) {
        double v = *(const double *)((const char *)&x->cells[k] + off);
        if (!x->cells[k].present || isnan(v))
            continue;
        fprintf(out, "%.1f,%.1f ", L + 6 + step * (double)k,
                T + (H - T - B) * (1 - (v - lo) / (hi - lo)));
    }
    fputs("\"/>", out);
    for (size_t k = 0; k < h->nruns; k++) {
        double v = *(const double *)((const char *)&x->cells[k] + off);
        if (!x->cells[k].present || isnan(v))
            continue;
        char val[32];
        if (pct)
            fl_fmt_pct(v, val, sizeof(val));
        else
            fl_fmt_ms(v, val, sizeof(val));
        fprintf(out, "<circle class=\"f0\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>run #%lld: "
                "%s</title></circle>", L + 6 + step * (double)k,
                T + (H - T - B) * (1 - (v - lo) / (hi - lo)), h->runs[k].id, val);
    }
    fputs("</svg>\n", out);
}

static void show_html(FILE *out, const struct hist *h, const char *path)
{
    char when[64];
    fl_html_begin(out, "faultline history",
                  ".vs{display:flex;gap:2px;margin:4px 0}.vs span{width:22px;text-align:center;"
                  "border-radius:3px;color:#fff;font-size:12px;font-weight:600}.vs .none{"
                  "background:var(--grid);color:var(--muted)}.charts{display:flex;gap:16px;"
                  "flex-wrap:wrap}");
    fputs("<h1>faultline history</h1>\n<p class=\"muted\">", out);
    fprintf(out, "%zu run%s, oldest first, from <code>", h->nruns, h->nruns == 1 ? "" : "s");
    fl_xml_puts(out, path);
    fputs("</code></p>\n", out);
    if (!h->nruns) {
        fputs("<p>No runs recorded yet.</p>\n</body>\n</html>\n", out);
        return;
    }
    fputs("<table><tr><th>run</th><th>started</th><th>seed</th><th>host</th></tr>\n", out);
    for (size_t k = 0; k < h->nruns; k++) {
        fl_fmt_when(h->runs[k].started_ms, when, sizeof(when));
        fprintf(out, "<tr><td class=\"n\">#%lld</td><td>%s</td><td class=\"n\">%lld</td><td>",
                h->runs[k].id, when, h->runs[k].seed);
        fl_xml_puts(out, h->runs[k].host);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
    for (size_t i = 0; i < h->nexps; i++) {
        const struct hexp *x = &h->exps[i];
        fputs("<section class=\"exp\">\n<h2>", out);
        fl_xml_puts(out, x->title);
        fputs(" <span class=\"muted\">", out);
        fl_xml_puts(out, x->id);
        fputs(" · ", out);
        fl_xml_puts(out, x->category);
        fputs("</span></h2>\n<div class=\"vs\">", out);
        for (size_t k = 0; k < h->nruns; k++) {
            const struct hcell *c = &x->cells[k];
            char letter = verdict_letter(c);
            enum fl_verdict v = FL_V_UNKNOWN;
            for (int j = 0; j < FL_V_UNKNOWN; j++)
                if (c->present && !strcasecmp(c->verdict, fl_verdict_names[j]))
                    v = (enum fl_verdict)j;
            fprintf(out, "<span class=\"%s%s\" title=\"run #%lld: ", c->present ? "v-" : "none",
                    c->present ? fl_verdict_names[v] : "", h->runs[k].id);
            fl_xml_puts(out, c->present ? c->verdict : "not in this run");
            fprintf(out, "\">%c</span>", letter);
        }
        fputs("</div>\n<div class=\"charts\"><div><b>availability</b>", out);
        sparkline(out, h, x, offsetof(struct hcell, avail), true, "availability");
        fputs("</div><div><b>time to recover</b>", out);
        sparkline(out, h, x, offsetof(struct hcell, ttr), false, "time to recover");
        fputs("</div></div>\n", out);
        /* The numbers behind the charts, one column per run, for those who want them. */
        fputs("<table><tr><th>run</th>", out);
        for (size_t k = 0; k < h->nruns; k++)
            fprintf(out, "<th>#%lld</th>", h->runs[k].id);
        static const char *const rows[] = {"verdict", "availability", "during faults",
                                           "time to recover"};
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            fprintf(out, "</tr>\n<tr><th>%s</th>", rows[r]);
            for (size_t k = 0; k < h->nruns; k++) {
                const struct hcell *c = &x->cells[k];
                char val[32] = "";
                if (c->present && r == 0)
                    snprintf(val, sizeof(val), "%s", c->verdict);
                else if (c->present && r == 1)
                    fl_fmt_pct(c->avail, val, sizeof(val));
                else if (c->present && r == 2)
                    fl_fmt_pct(c->during, val, sizeof(val));
                else if (c->present)
                    fl_fmt_ms(c->ttr, val, sizeof(val));
                fputs("<td class=\"n\">", out);
                fl_xml_puts(out, val);
                fputs("</td>", out);
            }
        }
        fputs("</tr></table>\n</section>\n", out);
    }
    fputs("</body>\n</html>\n", out);
}

int fl_history_show(const char *db_path, FILE *out, bool html, int limit, struct fl_err *err)
{
    struct hist h = {0};
    if (limit < 1)
        return fl_err_set(err, EINVAL, "history: limit must be at least 1");
    if (access(db_path, F_OK) == 0) {
        sqlite3 *db;
        int rc = history_open(db_path, false, &db, err);
        if (rc < 0)
            return rc;
        rc = hist_load(db, db_path, limit, &h, err);
        sqlite3_close(db);
        if (rc < 0) {
            hist_free(&h);
            return rc;
        }
    }
    if (html)
        show_html(out, &h, db_path);
    else if (!h.nruns)
        fprintf(out, "no runs recorded yet in %s ('faultline run' records each run)\n",
                db_path);
    else
        show_text(out, &h, db_path);
    hist_free(&h);
    if (ferror(out))
        return fl_err_set(err, EIO, "history: write failed");
    return 0;
}

int fl_history_default_path(const char *state_override, char *buf, size_t len,
                            struct fl_err *err)
{
    char state[4096];
    int rc = fl_state_dir(state_override, state, sizeof(state), err);
    if (rc < 0)
        return rc;
    if ((size_t)snprintf(buf, len, "%s/history.sqlite", state) >= len)
        return fl_err_set(err, ENAMETOOLONG, "%s/history.sqlite: path too long", state);
    return 0;
}
