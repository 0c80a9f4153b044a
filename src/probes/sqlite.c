/* SPDX-License-Identifier: MIT */
/*
 * probes/sqlite.c - is an SQLite database intact, and does a query say what it should?
 *
 * After a power cut or a torn write the question is whether the database still opens, whether
 * `PRAGMA integrity_check` passes, and whether the data the program relies on is still there.
 * The database is opened read-only, without creating it (a missing file is a failed check,
 * never a new empty database), afresh on every check: a writer that replaces the file by
 * rename leaves a kept connection reading the old inode. The busy timeout is the probe's
 * timeout, and a progress handler interrupts a query that outlives it.
 *
 * SQLite's own words come through as the detail ("file is not a database", "database disk
 * image is malformed"), because those are what a user searches for.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

struct sqlite_state {
    char *path;               /* as written; relative paths start at ctx->cwd */
    int integrity;            /* 0 no, 1 integrity_check, 2 quick_check */
    char *query;              /* or NULL */
    json_t *equals;           /* first column of the first row must equal this; owned */
    int64_t rows;             /* the query must return this many rows; -1: any */
};

static void sqlite_free(void *p)
{
    struct sqlite_state *s = p;
    if (!s)
        return;
    free(s->path);
    free(s->query);
    json_decref(s->equals);
    free(s);
}

static int sqlite_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                        struct fl_err *err)
{
    static const char *const keys[] = {"sqlite", "integrity", "query", "equals", "rows", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct sqlite_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    s->rows = -1;
    if ((r = fl_pu_get_string(doc, spec, "sqlite", &s->path, err)) < 0)
        goto fail;
    if (r == 0) {
        r = fl_doc_error(doc, spec, "sqlite", err, "'sqlite' must be the database's path");
        goto fail;
    }
    json_t *ic = json_object_get(spec, "integrity");
    if (ic) {
        if (json_is_boolean(ic))
            s->integrity = json_is_true(ic);
        else if (json_is_string(ic) && !strcmp(json_string_value(ic), "quick"))
            s->integrity = 2;
        else {
            r = fl_doc_error(doc, spec, "integrity", err,
                             "'integrity' must be true, false or quick");
            goto fail;
        }
    }
    if ((r = fl_pu_get_string(doc, spec, "query", &s->query, err)) < 0 ||
        (r = fl_pu_get_int(doc, spec, "rows", 0, 1000000000, &s->rows, err)) < 0)
        goto fail;
    json_t *eq = json_object_get(spec, "equals");
    if (eq) {
        if (json_is_object(eq) || json_is_array(eq)) {
            r = fl_doc_error(doc, spec, "equals", err,
                             "'equals' must be a single value (number, string or null)");
            goto fail;
        }
        s->equals = json_incref(eq);
    }
    if (!s->query && (eq || s->rows >= 0)) {
        r = fl_doc_error(doc, spec, eq ? "equals" : "rows", err,
                         "'%s' needs a 'query'", eq ? "equals" : "rows");
        goto fail;
    }
    if (!s->query && !s->integrity) {
        s->integrity = 1; /* `sqlite: x.db` alone: the check everyone means */
    }
    *state = s;
    return 0;
fail:
    sqlite_free(s);
    return r;
}

struct deadline {
    int64_t at;
};

static int progress(void *p)
{
    const struct deadline *d = p;
    return fl_mono_ns() >= d->at; /* non-zero interrupts the statement */
}

static json_t *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return json_integer((json_int_t)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    case SQLITE_NULL:
        return json_null();
    case SQLITE_BLOB: {
        /* Blobs as lower-case hex, so `equals` can name one. */
        int n = sqlite3_column_bytes(st, i);
        const unsigned char *b = sqlite3_column_blob(st, i);
        if (n > 512)
            n = 512;
        char *h = malloc((size_t)n * 2 + 1);
        if (!h)
            return NULL;
        for (int k = 0; k < n; k++)
            snprintf(h + 2 * k, 3, "%02x", b[k]);
        h[2 * n] = '\0';
        json_t *j = json_string(h);
        free(h);
        return j;
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        return fl_pu_json_text(t ? t : "", (size_t)sqlite3_column_bytes(st, i), 4096);
    }
    }
}

/* A value from YAML against a column: numbers by value, and "5" equals 5 for TEXT columns
 * holding digits, since a YAML author rarely knows SQLite's storage class. */
static bool value_equal(const json_t *want, const json_t *got)
{
    if (fl_pu_json_equal(want, got))
        return true;
    char *a = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *b = json_is_string(got) ? json_string_value(got) : NULL;
    bool eq = a && b && json_is_number(want) && !strcmp(a, b);
    if (!eq && a && json_is_string(want) && json_is_number(got)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
        eq = g && !strcmp(json_string_value(want), g);
        free(g);
    }
    free(a);
    return eq;
}

static int sqlite_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                        struct fl_probe_result *out)
{
    struct sqlite_state *s = state;
    int64_t t0 = fl_mono_ns();
    struct deadline dl = {t0 + timeout_ns};
    char path[4096], tbuf[32];
    fl_pu_resolve(ctx->cwd, s->path, path, sizeof(path));
    out->ok = false;
    out->value = json_object();
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    if (stat(path, &sb) < 0) {
        fl_pu_detail(out, "%s: %s", s->path, errno == ENOENT ? "no such file" : strerror(errno));
        goto done;
    }
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        fl_pu_detail(out, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto done;
    }
    int ms = (int)((timeout_ns + 999999) / 1000000);
    sqlite3_busy_timeout(db, ms > 0 ? ms : 1);
    sqlite3_progress_handler(db, 1000, progress, &dl);

    if (s->integrity) {
        const char *sql = s->integrity == 2 ? "PRAGMA quick_check" : "PRAGMA integrity_check";
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        int problems = 0;
        char first[sizeof(out->detail)] = "";
        while (rc == SQLITE_OK || rc == SQLITE_ROW) {
            if ((rc = sqlite3_step(st)) != SQLITE_ROW)
                break;
            const char *t = (const char *)sqlite3_column_text(st, 0);
            if (t && !strcmp(t, "ok"))
                continue;
            if (problems++ == 0 && t) {
                /* Rows may begin with "*** in database main ***"; the problem follows. */
                const char *p = t;
                while (!strncmp(p, "***", 3) && strchr(p, '\n'))
                    p = strchr(p, '\n') + 1;
                fl_pu_first_line(p, first, sizeof(first));
            }
        }
        if (rc != SQLITE_DONE && rc != SQLITE_OK) {
            if (rc == SQLITE_INTERRUPT)
                fl_pu_detail(out, "integrity check timed out after %s",
                             fl_format_duration(timeout_ns, tbuf, sizeof(tbuf)));
            else
                fl_pu_detail(out, "%s", sqlite3_errmsg(db));
            json_object_set_new(out->value, "integrity", json_string(out->detail));
            goto done;
        }
        sqlite3_finalize(st);
        st = NULL;
        json_object_set_new(out->value, "integrity", json_string(problems ? first : "ok"));
        if (problems) {
            json_object_set_new(out->value, "problems", json_integer(problems));
            fl_pu_detail(out, "%s", first);
            goto done;
        }
    }

    if (s->query) {
        const char *tail = NULL;
        rc = sqlite3_prepare_v2(db, s->query, -1, &st, &tail);
        if (rc != SQLITE_OK || !st) {
            fl_pu_detail(out, "%s", rc == SQLITE_OK ? "query is empty" : sqlite3_errmsg(db));
            goto done;
        }
        int64_t rows = 0;
        json_t *first = NULL;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (rows++ == 0) {
                first = json_array();
                for (int i = 0; first && i < sqlite3_column_count(st); i++)
                    json_array_append_new(first, column_json(st, i));
            }
        }
        json_object_set_new(out->value, "rows", json_integer(rows));
        if (first)
            json_object_set_new(out->value, "first", first);
        if (rc != SQLITE_DONE) {
            if (rc == SQLITE_INTERRUPT)
                fl_pu_detail(out, "query timed out after %s",
                             fl_format_duration(timeout_ns, tbuf, sizeof(tbuf)));
            else
                fl_pu_detail(out, "%s", sqlite3_errmsg(db));
            goto done;
        }
        if (s->rows >= 0 && rows != s->rows) {
            fl_pu_detail(out, "query returned %lld rows, expected %lld", (long long)rows,
                         (long long)s->rows);
            goto done;
        }
        if (s->equals) {
            json_t *got = first ? json_array_get(first, 0) : NULL;
            if (!got) {
                fl_pu_detail(out, "query returned no rows, expected a value");
                goto done;
            }
            if (!value_equal(s->equals, got)) {
                char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
                char *w = json_dumps(s->equals, JSON_ENCODE_ANY | JSON_COMPACT);
                fl_pu_detail(out, "query returned %.100s, expected %.100s", g ? g : "?",
                             w ? w : "?");
                free(g);
                free(w);
                goto done;
            }
        }
    }
    out->ok = true;
done:
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    out->latency_ns = fl_mono_ns() - t0;
    return 0;
}

static void sqlite_describe(const void *state, char *buf, size_t len)
{
    const struct sqlite_state *s = state;
    if (s->query)
        snprintf(buf, len, "sqlite %s: %.60s", s->path, s->query);
    else
        snprintf(buf, len, "sqlite %s %s", s->path,
                 s->integrity == 2 ? "quick_check" : "integrity_check");
}

const struct fl_probe_ops fl_probe_sqlite = {
    .name = "sqlite",
    .summary = "an SQLite database, read-only: integrity_check, a query's rows or value",
    .parse = sqlite_parse,
    .check = sqlite_check,
    .describe = sqlite_describe,
    .free = sqlite_free,
};
