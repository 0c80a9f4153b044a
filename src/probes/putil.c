/* SPDX-License-Identifier: MIT */
/* putil.c - shared helpers of the probe kinds; see putil.h. */
#include "putil.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "units.h"

int fl_pu_check_keys(const struct fl_doc *doc, const json_t *spec, const char *const *allowed,
                     struct fl_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        (void)v;
        if (fl_probe_common_key(key))
            continue;
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, key);
        if (ok)
            continue;
        char list[256] = "";
        size_t n = 0;
        for (const char *const *a = allowed; *a; a++)
            n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
                                  a == allowed ? "" : ", ", *a);
        return fl_doc_error(doc, spec, key, err, "unknown key '%s' (this probe takes: %s)", key,
                            list);
    }
    return 0;
}

int fl_pu_get_string(const struct fl_doc *doc, const json_t *spec, const char *key,
                     char **out, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return fl_doc_error(doc, spec, key, err, "'%s' must be a non-empty string", key);
    char *s = strdup(json_string_value(v));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    free(*out);
    *out = s;
    return 1;
}

int fl_pu_get_bool(const struct fl_doc *doc, const json_t *spec, const char *key, bool *out,
                   struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return fl_doc_error(doc, spec, key, err, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 1;
}

int fl_pu_get_int(const struct fl_doc *doc, const json_t *spec, const char *key, int64_t min,
                  int64_t max, int64_t *out, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    int64_t x = 0;
    bool ok = false;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        ok = true;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        ok = *s && !*end && errno == 0;
        x = ll;
    }
    if (!ok || x < min || x > max)
        return fl_doc_error(doc, spec, key, err,
                            "'%s' must be an integer %" PRId64 "..%" PRId64, key, min, max);
    *out = x;
    return 1;
}

int fl_pu_get_duration(const struct fl_doc *doc, const json_t *spec, const char *key,
                       int64_t *ns, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    struct fl_err e = {""};
    int64_t x;
    if (json_is_integer(v) && json_integer_value(v) == 0)
        x = 0;
    else if (!json_is_string(v) || fl_parse_duration(json_string_value(v), false, &x, &e) < 0 ||
             x < 0)
        return fl_doc_error(doc, spec, key, err, "'%s' must be a duration like 200ms", key);
    *ns = x;
    return 1;
}

int fl_pu_get_size(const struct fl_doc *doc, const json_t *spec, const char *key,
                   uint64_t *bytes, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    struct fl_err e = {""};
    uint64_t x;
    bool pct = false;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        x = (uint64_t)json_integer_value(v);
    else if (!json_is_string(v) ||
             fl_parse_size(json_string_value(v), false, &x, &pct, &e) < 0 || pct)
        return fl_doc_error(doc, spec, key, err, "'%s' must be a size like 64MiB", key);
    *bytes = x;
    return 1;
}

int fl_pu_get_match(const struct fl_doc *doc, const json_t *spec, const char *key,
                    struct fl_pu_match *m, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fl_doc_error(doc, spec, key, err,
                            "'%s' must be a substring, or /regex/ for a regular expression",
                            key);
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    bool re = n >= 2 && s[0] == '/' && s[n - 1] == '/';
    char *text = re ? strndup(s + 1, n - 2) : strdup(s);
    if (!text)
        return fl_err_set(err, ENOMEM, "out of memory");
    if (re) {
        int rc = regcomp(&m->re, text, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
        if (rc) {
            char why[128];
            regerror(rc, &m->re, why, sizeof(why));
            free(text);
            return fl_doc_error(doc, v, NULL, err, "'%s': bad regular expression: %s", key,
                                why);
        }
    }
    m->text = text;
    m->is_regex = re;
    return 1;
}

bool fl_pu_match_test(const struct fl_pu_match *m, const char *buf, size_t len)
{
    if (!m->text)
        return true;
    if (m->is_regex) {
        /* regexec wants a C string: the capture buffers always carry a NUL past len. */
        char *s = strndup(buf, len);
        if (!s)
            return false;
        bool hit = regexec(&m->re, s, 0, NULL, 0) == 0;
        free(s);
        return hit;
    }
    return memmem(buf, len, m->text, strlen(m->text)) != NULL;
}

void fl_pu_match_describe(const struct fl_pu_match *m, char *buf, size_t len)
{
    snprintf(buf, len, m->is_regex ? "match /%.80s/" : "contain '%.80s'", m->text);
}

void fl_pu_match_free(struct fl_pu_match *m)
{
    if (m->is_regex)
        regfree(&m->re);
    free(m->text);
    memset(m, 0, sizeof(*m));
}

void fl_pu_path_free(struct fl_pu_path *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->seg[i].key);
    free(p->source);
    memset(p, 0, sizeof(*p));
}

static int path_add(struct fl_pu_path *p, const char *key, size_t klen, size_t index,
                    const char **why)
{
    if (p->n == FL_PU_PATH_MAX) {
        *why = "too many steps (16 at most)";
        return -EINVAL;
    }
    struct fl_pu_path_seg *s = &p->seg[p->n];
    s->key = NULL;
    s->index = index;
    if (key) {
        s->key = strndup(key, klen);
        if (!s->key) {
            *why = "out of memory";
            return -ENOMEM;
        }
    }
    p->n++;
    return 0;
}

int fl_pu_path_compile(const char *text, struct fl_pu_path *p, const char **why)
{
    memset(p, 0, sizeof(*p));
    p->source = strdup(text);
    if (!p->source) {
        *why = "out of memory";
        return -ENOMEM;
    }
    const char *s = text;
    if (*s == '$')
        s++;
    else if (*s == '.' || *s == '[' || !*s)
        goto bad;
    else
        goto member; /* "a.b": the first member needs no dot */
    while (*s) {
        if (*s == '.') {
            s++;
        member:;
            size_t n = strcspn(s, ".[");
            if (n == 0)
                goto bad;
            if (path_add(p, s, n, 0, why) < 0)
                goto fail;
            s += n;
        } else if (*s == '[') {
            s++;
            if (*s == '\'' || *s == '"') {
                char q = *s++;
                const char *end = strchr(s, q);
                if (!end || end[1] != ']')
                    goto bad;
                if (path_add(p, s, (size_t)(end - s), 0, why) < 0)
                    goto fail;
                s = end + 2;
            } else {
                char *end;
                if (*s < '0' || *s > '9')
                    goto bad;
                errno = 0;
                unsigned long long idx = strtoull(s, &end, 10);
                if (*end != ']' || errno)
                    goto bad;
                if (path_add(p, NULL, 0, (size_t)idx, why) < 0)
                    goto fail;
                s = end + 1;
            }
        } else {
            goto bad;
        }
    }
    return 0;
bad:
    *why = "expected a path like $.a.b[0] or a.b[0]";
fail:
    fl_pu_path_free(p);
    return -EINVAL;
}

json_t *fl_pu_path_get(const struct fl_pu_path *p, json_t *root)
{
    json_t *n = root;
    for (size_t i = 0; n && i < p->n; i++) {
        if (p->seg[i].key)
            n = json_is_object(n) ? json_object_get(n, p->seg[i].key) : NULL;
        else
            n = json_is_array(n) ? json_array_get(n, p->seg[i].index) : NULL;
    }
    return n;
}

bool fl_pu_json_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

int fl_pu_get_json_cond(const struct fl_doc *doc, const json_t *spec, const char *key,
                        struct fl_pu_json_cond *c, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    memset(c, 0, sizeof(*c));
    c->exists = -1;
    if (!v)
        return 0;
    if (json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "valid"))) {
        c->enabled = true;
        return 1;
    }
    if (!json_is_object(v))
        return fl_doc_error(doc, spec, key, err,
                            "'%s' must be 'valid', or a mapping with path and equals or exists",
                            key);
    static const char *const keys[] = {"path", "equals", "exists", NULL};
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        bool ok = false;
        for (const char *const *a = keys; *a; a++)
            ok = ok || !strcmp(*a, k);
        if (!ok)
            return fl_doc_error(doc, v, k, err, "unknown key '%s' in '%s' (takes: path, "
                                "equals, exists)", k, key);
    }
    json_t *path = json_object_get(v, "path");
    json_t *eq = json_object_get(v, "equals");
    json_t *ex = json_object_get(v, "exists");
    if (!path || !json_is_string(path))
        return fl_doc_error(doc, v, path ? "path" : NULL, err,
                            "'%s' needs 'path', a string like $.status", key);
    if ((eq != NULL) == (ex != NULL))
        return fl_doc_error(doc, v, NULL, err, "'%s' needs one of 'equals' or 'exists'", key);
    if (ex && !json_is_boolean(ex))
        return fl_doc_error(doc, v, "exists", err, "'exists' must be true or false");
    const char *why = "";
    if (fl_pu_path_compile(json_string_value(path), &c->path, &why) < 0)
        return fl_doc_error(doc, path, NULL, err, "'path': %s", why);
    c->enabled = true;
    c->has_path = true;
    c->exists = ex ? json_is_true(ex) : -1;
    c->equals = eq ? json_incref(eq) : NULL;
    return 1;
}

bool fl_pu_json_cond_eval(const struct fl_pu_json_cond *c, const char *text, size_t len,
                          json_t **observed, char *detail, size_t dlen)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root) {
        snprintf(detail, dlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return false;
    }
    if (!c->has_path) {
        json_decref(root);
        return true;
    }
    json_t *n = fl_pu_path_get(&c->path, root);
    bool ok;
    if (n)
        *observed = json_incref(n);
    if (c->exists >= 0) {
        ok = (n != NULL) == (c->exists == 1);
        if (!ok)
            snprintf(detail, dlen, "%s is %s", c->path.source, n ? "present" : "absent");
    } else if (!n) {
        ok = false;
        snprintf(detail, dlen, "%s is absent", c->path.source);
    } else {
        ok = fl_pu_json_equal(n, c->equals);
        if (!ok) {
            char *got = json_dumps(n, JSON_ENCODE_ANY | JSON_COMPACT);
            char *want = json_dumps(c->equals, JSON_ENCODE_ANY | JSON_COMPACT);
            snprintf(detail, dlen, "%s is %.80s, expected %.80s", c->path.source,
                     got ? got : "?", want ? want : "?");
            free(got);
            free(want);
        }
    }
    json_decref(root);
    return ok;
}

void fl_pu_json_cond_free(struct fl_pu_json_cond *c)
{
    if (c->has_path)
        fl_pu_path_free(&c->path);
    json_decref(c->equals);
    memset(c, 0, sizeof(*c));
    c->exists = -1;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return s[0] ? 1 : 0; /* NUL would cut a C string short: replaced */
    size_t len;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *fl_pu_json_text(const char *buf, size_t len, size_t max)
{
    bool cut = len > max;
    if (cut)
        len = max;
    char *out = malloc(len * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)buf;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

void fl_pu_first_line(const char *s, char *buf, size_t len)
{
    size_t n = strcspn(s, "\r\n");
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

void fl_pu_resolve(const char *cwd, const char *path, char *buf, size_t len)
{
    if (path[0] == '/' || !cwd || !*cwd)
        snprintf(buf, len, "%s", path);
    else
        snprintf(buf, len, "%s/%s", cwd, path);
}

void fl_pu_detail(struct fl_probe_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
    va_end(ap);
}
