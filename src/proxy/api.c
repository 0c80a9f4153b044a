/* SPDX-License-Identifier: MIT */
/*
 * api.c - the Toxiproxy 2.x HTTP control API over libmicrohttpd.
 *
 * Why this shape: existing Toxiproxy clients (Go, Node, Testcontainers) must work unchanged,
 * so routes, status codes, JSON field order, error bodies and Go's JSON decoding quirks
 * (case-insensitive keys, last duplicate wins, null means default, only the first value is
 * read) follow /work/shared/anchors/toxiproxy-api.md. Where that spec lists a defect of the
 * reference, this server does the right thing instead: attribute values that crash or hang
 * the reference (rate <= 0, average_size 0, negative numbers) are a 400 naming the attribute.
 *
 * Threads: libmicrohttpd runs one thread per HTTP connection (at most API_CONN_LIMIT). Each
 * thread only collects the request; the whole request (routing, decoding, acting, encoding) is
 * executed on the proxy's loop thread: it is queued, the loop is woken with uv_async_send, and
 * the HTTP thread waits on a condition variable for the reply. So every proxy object has a
 * single owner, and a request never waits on a socket, only on the loop's next turn.
 *
 * Shutdown: the engine calls api_stop_hook on the loop thread; from then on queued and new
 * requests are answered 503 without touching the loop, so MHD_stop_daemon can join its
 * threads after the loop has ended.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <jansson.h>

#include "api.h"
#include "fl_config.h"
#include "proxy.h"

/* The Toxiproxy version whose API this server speaks; clients only print it. */
#define API_COMPAT_VERSION "2.12.0"
#define API_BODY_MAX (1024 * 1024)
#define API_CONN_LIMIT 64
#define FL_BIG_LITERAL_MAX 64 /* longest big integer quoted back as written */

struct api_resp {
    int status;
    const char *ctype;       /* NULL: no Content-Type */
    char *body;              /* malloc'd, may be NULL */
    size_t len;
    bool request_id;         /* matched route: X-Toxiproxy-Request-Id */
    bool nosniff;            /* handler errors: X-Content-Type-Options: nosniff */
    bool populate;           /* /populate: errors in its own shape (populate_error) */
    char *location;          /* malloc'd Location header (301 to the clean path), or NULL */
    /* Integer literals too big for int64 in the body, read as reals (widen_big_integers):
     * Go quotes them as written when it refuses them. */
    struct {
        double value;
        char text[FL_BIG_LITERAL_MAX + 1];
    } big[4];
    int n_big;
};

struct api_req {
    struct api_req *next;    /* queue */
    char method[16];
    char *path;
    char *body;
    size_t len;
    bool too_big;            /* body over API_BODY_MAX: answered 413 */
    char *ua;
    struct api_resp resp;
    bool done;               /* resp is ready (guarded by fl_api.mu) */
};

/* The byte counters of one label set, summed over the links that ended. Kept for the life of
 * the server, as Prometheus counters are: a deleted proxy's series stay. */
struct byte_series {
    char *proxy, *listener, *upstream;
    enum fl_dir dir;
    uint64_t received, sent;
    bool has_sent;           /* some link of this set finished its writes: the sent series exists */
};

struct fl_api {
    struct fl_server *srv;
    struct MHD_Daemon *daemon;
    uv_async_t async;        /* wakes the loop to run queued requests */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct api_req *head, *tail; /* requests waiting for the loop (guarded by mu) */
    bool dead;               /* the loop no longer runs requests (guarded by mu) */
    bool proxy_metrics;      /* --proxy-metrics: /metrics has the byte counters */
    bool runtime_metrics;    /* --runtime-metrics: /metrics has process_* and faultline_* */
    struct byte_series *series; /* loop thread only: written by the link hook, read by /metrics */
    size_t n_series, cap_series;
};

/* ---- replies ------------------------------------------------------------------------------- */

static void resp_set(struct api_resp *r, int status, const char *ctype, char *body, size_t len)
{
    free(r->body);
    r->status = status;
    r->ctype = ctype;
    r->body = body;
    r->len = len;
}

/* A JSON string for a message that may not be valid UTF-8: jansson's syntax errors quote the
 * input's bytes, and a message cut at its buffer's end can split a character. json_string()
 * refuses those (the reply then had no "error" key: a fuzz-api finding), so such bytes become
 * '?' instead. */
static json_t *json_text(const char *msg)
{
    json_t *v = json_string(msg);
    if (v)
        return v;
    char *copy = strdup(msg);
    if (!copy)
        return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* The handlers' error shape: JSON body, text/plain type, trailing newline (spec §2.3). */
static void resp_error(struct api_resp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void populate_error(struct api_resp *r, int status, const char *msg, json_t *done);

static void resp_error(struct api_resp *r, int status, const char *fmt, ...)
{
    char msg[FL_ERR_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->populate) {
        populate_error(r, status, msg, NULL);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "error", json_text(msg));
    json_object_set_new(o, "status", json_integer(status));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = s ? strlen(s) : 0;
    char *body = malloc(n + 2);
    if (body) {
        memcpy(body, s ? s : "", n);
        body[n] = '\n';
        body[n + 1] = '\0';
    }
    free(s);
    resp_set(r, status, "text/plain; charset=utf-8", body, body ? n + 1 : 0);
    r->nosniff = true;
}

static void resp_json(struct api_resp *r, int status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(7));
    json_decref(v);
    resp_set(r, status, "application/json", s, s ? strlen(s) : 0);
}

static void resp_empty(struct api_resp *r, int status) { resp_set(r, status, NULL, NULL, 0); }

/* ---- Go-like JSON decoding ----------------------------------------------------------------- */

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    default:
        return "null";
    }
}

/* A byte as Go's encoding/json quotes it in a syntax error (its quoteChar): the byte is taken
 * as the code point U+00XX and written as strconv.Quote would, between single quotes. */
static void go_quote_char(unsigned char c, char *out, size_t cap)
{
    static const char esc[] = "\a\b\f\n\r\t\v";
    static const char letter[] = "abfnrtv";
    const char *e = c ? strchr(esc, c) : NULL;
    if (c == '\'')
        snprintf(out, cap, "'\\''");
    else if (c == '\\')
        snprintf(out, cap, "'\\\\'");
    else if (e)
        snprintf(out, cap, "'\\%c'", letter[e - esc]);
    else if (c < 0x20 || c == 0x7f)
        snprintf(out, cap, "'\\x%02x'", c);
    else if (c < 0x80)
        snprintf(out, cap, "'%c'", c);
    else if (c < 0xa0 || c == 0xa0 || c == 0xad) /* not printable: C1 controls, NBSP, SHY */
        snprintf(out, cap, "'\\u%04x'", c);
    else
        snprintf(out, cap, "'%c%c'", 0xc0 | (c >> 6), 0x80 | (c & 0x3f));
}

/* Go's syntax error for the first JSON value of s (what json.Decoder.Decode says): true with
 * msg filled when the value is malformed, msg "unexpected EOF" when s ends inside it; false
 * when the value is well-formed (jansson refused it for another reason). Iterative, so depth
 * costs no stack. */
static bool go_syntax_error(const char *s, size_t len, char *msg, size_t cap)
{
    char *stack = malloc(len + 1); /* '{' or '[' per open container */
    if (!stack)
        return false;
    size_t depth = 0, i = 0;
    const char *where = NULL;
    char lit[48];
    unsigned char bad = 0;
    enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, AFTER } want = VALUE;
    while (!where) {
        if (want == AFTER && !depth)
            break; /* the first value is complete: the rest is never read */
        while (i < len && memchr(" \t\r\n", s[i], 4))
            i++;
        if (i >= len)
            goto eof;
        unsigned char c = (unsigned char)s[i];
        if (want == AFTER) {
            bool obj = stack[depth - 1] == '{';
            if (c == ',') {
                want = obj ? KEY : VALUE;
                i++;
            } else if (c == (obj ? '}' : ']')) {
                depth--;
                i++;
            } else {
                bad = c;
                where = obj ? "after object key:value pair" : "after array element";
            }
            continue;
        }
        if (want == COLON) {
            if (c != ':') {
                bad = c;
                where = "after object key";
            }
            want = VALUE;
            i++;
            continue;
        }
        if ((want == VALUE_OR_CLOSE && c == ']') || (want == KEY_OR_CLOSE && c == '}')) {
            depth--;
            want = AFTER;
            i++;
            continue;
        }
        if ((want == KEY || want == KEY_OR_CLOSE) && c != '"') {
            bad = c;
            where = "looking for beginning of object key string";
            continue;
        }
        bool key = want == KEY || want == KEY_OR_CLOSE;
        if (c == '{' || c == '[') {
            stack[depth++] = (char)c;
            want = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
            i++;
        } else if (c == '"') {
            for (i++;; i++) {
                if (i >= len)
                    goto eof;
                unsigned char d = (unsigned char)s[i];
                if (d == '"')
                    break;
                if (d < 0x20) {
                    bad = d;
                    where = "in string literal";
                    break;
                }
                if (d != '\\')
                    continue;
                if (++i >= len)
                    goto eof;
                d = (unsigned char)s[i];
                if (d == 'u') {
                    for (int h = 0; h < 4 && !where; h++) {
                        if (++i >= len)
                            goto eof;
                        if (!isxdigit((unsigned char)s[i])) {
                            bad = (unsigned char)s[i];
                            where = "in \\u hexadecimal character escape";
                        }
                    }
                } else if (!strchr("\"\\/bfnrt", d) || !d) {
                    bad = d;
                    where = "in string escape code";
                }
                if (where)
                    break;
            }
            i++;
            want = key ? COLON : AFTER;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if (c == '-' && (++i >= len || !isdigit((unsigned char)s[i]))) {
                if (i >= len)
                    goto eof;
                bad = (unsigned char)s[i];
                where = "in numeric literal";
                continue;
            }
            if (s[i] == '0')
                i++;
            else
                while (i < len && isdigit((unsigned char)s[i]))
                    i++;
            if (i < len && s[i] == '.') {
                if (++i >= len)
                    goto eof;
                if (!isdigit((unsigned char)s[i])) {
                    bad = (unsigned char)s[i];
                    where = "after decimal point in numeric literal";
                    continue;
                }
                while (i < len && isdigit((unsigned char)s[i]))
                    i++;
            }
            if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                if (++i < len && (s[i] == '+' || s[i] == '-'))
                    i++;
                if (i >= len)
                    goto eof;
                if (!isdigit((unsigned char)s[i])) {
                    bad = (unsigned char)s[i];
                    where = "in exponent of numeric literal";
                    continue;
                }
                while (i < len && isdigit((unsigned char)s[i]))
                    i++;
            }
            /* a number ends only where something else starts: at the top level Go reads
             * one more byte (or the end) to know it */
            if (!depth && i >= len)
                goto eof_number;
            want = AFTER;
        } else if (c == 't' || c == 'f' || c == 'n') {
            const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
            for (size_t k = 1; word[k] && !where; k++) {
                if (i + k >= len)
                    goto eof;
                if (s[i + k] != word[k]) {
                    bad = (unsigned char)s[i + k];
                    snprintf(lit, sizeof(lit), "in literal %s (expecting '%c')", word, word[k]);
                    where = lit;
                }
            }
            i += strlen(word);
            want = AFTER;
        } else {
            bad = c;
            where = "looking for beginning of value";
        }
    }
    free(stack);
    if (!where)
        return false;
    char q[16];
    go_quote_char(bad, q, sizeof(q));
    snprintf(msg, cap, "invalid character %s %s", q, where);
    return true;
eof_number:
    free(stack);
    return false;
eof:
    free(stack);
    snprintf(msg, cap, "unexpected EOF");
    return true;
}

/* A number as Go's messages quote it: a big integer as written, otherwise shortest form. */
static const char *number_text(const struct api_resp *r, const json_t *v, char *buf)
{
    double d = json_number_value(v);
    for (int i = 0; json_is_real(v) && i < r->n_big; i++)
        if (r->big[i].value == d)
            return r->big[i].text;
    snprintf(buf, FL_BIG_LITERAL_MAX + 8, "%g", d);
    return buf;
}

/* jansson refuses integers beyond int64 outright, where Go reads them as numbers (a float
 * field takes them; an integer field refuses them by name). A copy of the body with each
 * such literal made a real (".0" appended, outside strings), its text kept in r; NULL when
 * there is none. */
static char *widen_big_integers(const char *s, size_t len, size_t *out_len, struct api_resp *r)
{
    char *out = NULL;
    size_t w = 0;
    bool in_str = false;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (in_str || c == '"' || !(c == '-' || isdigit((unsigned char)c))) {
            if (in_str && c == '\\' && i + 1 < len) {
                if (out) {
                    out[w++] = c;
                    out[w++] = s[i + 1];
                }
                i += 2;
                continue;
            }
            if (c == '"')
                in_str = !in_str;
            if (out)
                out[w++] = c;
            i++;
            continue;
        }
        size_t j = i + (c == '-');
        while (j < len && isdigit((unsigned char)s[j]))
            j++;
        bool integer = j > i + (c == '-') &&
                       (j == len || (s[j] != '.' && s[j] != 'e' && s[j] != 'E'));
        bool big = false;
        if (integer) {
            char lit[32];
            size_t n = j - i < sizeof(lit) - 1 ? j - i : sizeof(lit) - 1;
            memcpy(lit, s + i, n);
            lit[n] = '\0';
            errno = 0;
            (void)strtoll(lit, NULL, 10);
            big = errno == ERANGE || j - i >= sizeof(lit) - 1;
        }
        if (big && !out) {
            out = malloc(3 * len + 1); /* room for ".0" after every literal */
            if (!out)
                return NULL;
            memcpy(out, s, i);
            w = i;
        }
        if (out) {
            memcpy(out + w, s + i, j - i);
            w += j - i;
            if (big) {
                out[w++] = '.';
                out[w++] = '0';
                if (r->n_big < 4 && j - i <= FL_BIG_LITERAL_MAX) {
                    memcpy(r->big[r->n_big].text, s + i, j - i);
                    r->big[r->n_big].text[j - i] = '\0';
                    r->big[r->n_big].value = strtod(r->big[r->n_big].text, NULL);
                    r->n_big++;
                }
            }
        }
        i = j;
    }
    if (out)
        *out_len = w;
    return out;
}

/* Decode the first JSON value of a body. On failure, fill r with Go's wording where it is
 * known: an empty body is "EOF", a truncated one "unexpected EOF", a syntax error as Go's
 * decoder words it. */
static json_t *decode_json(const char *body, size_t len, struct api_resp *r)
{
    size_t i = 0;
    while (i < len && memchr(" \t\r\n", body[i], 4))
        i++;
    if (i == len) {
        resp_error(r, 400, "bad request body: EOF");
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
    if (!v && strstr(e.text, "too big") && strstr(e.text, "integer")) {
        size_t wlen = 0;
        char *wide = widen_big_integers(body, len, &wlen, r);
        if (wide)
            v = json_loadb(wide, wlen, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
        free(wide);
    }
    if (!v) {
        char msg[128];
        if (go_syntax_error(body, len, msg, sizeof(msg)))
            resp_error(r, 400, "bad request body: %s", msg);
        else
            resp_error(r, 400, "bad request body: %s", e.text);
    }
    return v;
}

static json_t *decode_body(const struct api_req *q, struct api_resp *r)
{
    return decode_json(q->body, q->len, r);
}

/* Go matches object keys case-insensitively and lets the last occurrence win. */
static json_t *ci_get(json_t *obj, const char *key)
{
    json_t *found = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!strcasecmp(k, key))
            found = v;
    }
    return found;
}

/* A string field: absent or null leaves *out alone. false (and r filled) on a wrong type. */
static bool get_string(json_t *obj, const char *key, const char *where, const char **out,
                       struct api_resp *r)
{
    json_t *v = ci_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "%s.%s of type string", json_kind(v), where, key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool get_bool(json_t *obj, const char *key, const char *where, int *out,
                     struct api_resp *r)
{
    json_t *v = ci_get(obj, key);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "%s.%s of type bool", json_kind(v), where, key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* ---- objects ------------------------------------------------------------------------------- */

static json_t *toxic_json(const struct fl_toxic *t)
{
    json_t *a = json_object();
    for (int i = 0; i < t->ops->n_attrs; i++)
        json_object_set_new(a, t->ops->attrs[i].name, json_integer(t->attr[i]));
    json_t *o = json_object();
    json_object_set_new(o, "attributes", a);
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "type", json_string(t->ops->type));
    json_object_set_new(o, "stream", json_string(t->stream));
    /* Toxiproxy keeps toxicity as a float32 and Go prints 1 as 1, 0.5 as 0.5. */
    float f = (float)t->toxicity;
    /* Range first: converting a float outside int64 is undefined (found by fuzz-api). */
    if (f > -1e15f && f < 1e15f && f == (float)(int64_t)f)
        json_object_set_new(o, "toxicity", json_integer((json_int_t)f));
    else
        json_object_set_new(o, "toxicity", json_real(f));
    return o;
}

/* GET .../toxics/{toxic}/stats: the toxic's counters (struct fl_toxic_stats), so a caller can
 * tell whether it took effect. Not part of toxic_json: Toxiproxy's clients compare those
 * objects, and the counters would make two reads of an unchanged toxic differ. */
static json_t *toxic_stats_json(const struct fl_toxic *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "connections_seen", json_integer((json_int_t)t->stats.connections_seen));
    json_object_set_new(o, "connections_active",
                        json_integer((json_int_t)t->stats.connections_active));
    json_object_set_new(o, "bytes", json_integer((json_int_t)t->stats.bytes));
    return o;
}

static json_t *toxics_json(const struct fl_proxy *p)
{
    json_t *a = json_array();
    for (int d = FL_UPSTREAM; d <= FL_DOWNSTREAM; d++)
        for (size_t i = 0; i < p->n_toxics; i++)
            if (p->toxics[i]->dir == (enum fl_dir)d)
                json_array_append_new(a, toxic_json(p->toxics[i]));
    return a;
}

static json_t *proxy_json(const struct fl_proxy *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(p->name));
    json_object_set_new(o, "listen", json_string(p->listen));
    json_object_set_new(o, "upstream", json_string(p->upstream));
    json_object_set_new(o, "enabled", json_boolean(p->enabled));
    /* An exported internal field of the reference, kept for byte compatibility (spec §3.1). */
    json_object_set_new(o, "Logger", json_object());
    json_object_set_new(o, "toxics", toxics_json(p));
    return o;
}

static int errno_status(int r) { return r == -ENOSPC ? 400 : 500; }

/* ---- proxies ------------------------------------------------------------------------------- */

struct proxy_body {
    const char *name, *listen, *upstream;
    int enabled;             /* -1: not given */
};

static bool parse_proxy_body(json_t *o, struct proxy_body *b, struct api_resp *r)
{
    memset(b, 0, sizeof(*b));
    b->enabled = -1;
    return get_string(o, "name", "Proxy", &b->name, r) &&
           get_string(o, "listen", "Proxy", &b->listen, r) &&
           get_string(o, "upstream", "Proxy", &b->upstream, r) &&
           get_bool(o, "enabled", "Proxy", &b->enabled, r);
}

static void h_proxies_get(struct fl_server *srv, struct api_resp *r)
{
    struct fl_proxy **v;
    size_t n = fl_proxy_list(srv, &v);
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, v[i]->name, proxy_json(v[i]));
    free(v);
    resp_json(r, 200, o);
}

/* A create body: an object with a non-empty name and upstream. false (and r filled) if not. */
static bool proxy_create_parse(json_t *body, struct proxy_body *b, struct api_resp *r)
{
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxiproxy.Proxy", json_kind(body));
        return false;
    }
    if (!parse_proxy_body(body, b, r))
        return false;
    if (!b->name || !b->name[0]) {
        resp_error(r, 400, "missing required field: name");
        return false;
    }
    if (!b->upstream || !b->upstream[0]) {
        resp_error(r, 400, "missing required field: upstream");
        return false;
    }
    return true;
}

static void h_proxies_create(struct fl_server *srv, const struct api_req *q, struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    struct proxy_body b;
    if (!proxy_create_parse(body, &b, r))
        goto out;
    if (fl_proxy_find(srv, b.name)) {
        resp_error(r, 409, "proxy already exists");
        goto out;
    }
    struct fl_err err = {""};
    struct fl_proxy *p;
    int rc = fl_proxy_create(srv, b.name, b.listen ? b.listen : "", b.upstream, b.enabled != 0,
                             &p, &err);
    if (rc < 0)
        resp_error(r, errno_status(rc), "%s", err.msg);
    else
        resp_json(r, 201, proxy_json(p));
out:
    json_decref(body);
}

static void h_proxy_update(struct fl_proxy *p, const struct api_req *q, struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    struct proxy_body b;
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxiproxy.Proxy", json_kind(body));
    } else if (parse_proxy_body(body, &b, r)) {
        struct fl_err err = {""};
        int rc = fl_proxy_update(p, b.listen, b.upstream, b.enabled, &err);
        if (rc < 0)
            resp_error(r, errno_status(rc), "%s", err.msg);
        else
            resp_json(r, 200, proxy_json(p));
    }
    json_decref(body);
}

static void populate_error(struct api_resp *r, int status, const char *msg, json_t *done)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_text(msg));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "proxies", json_array_size(done) ? json_incref(done) : json_null());
    resp_json(r, status, o);
}

/* Step 1 of /populate: decode and validate every element before anything is touched. Returns
 * the elements (n + 1 of them, pointing into body), or NULL with r filled. */
static struct proxy_body *populate_parse(json_t *body, size_t *count, struct api_resp *r)
{
    if (!json_is_array(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "[]struct { toxiproxy.Proxy; Enabled *bool \"json:\\\"enabled\\\"\" }",
                   json_kind(body));
        return NULL;
    }
    size_t n = json_array_size(body);
    struct proxy_body *bs = calloc(n + 1, sizeof(*bs));
    if (!bs) {
        resp_error(r, 500, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(body, i);
        if (!json_is_object(e)) {
            resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of "
                       "type toxiproxy.Proxy", json_kind(e));
            goto fail;
        }
        if (!parse_proxy_body(e, &bs[i], r))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (!bs[i].name || !bs[i].name[0]) {
            resp_error(r, 400, "missing required field: name at proxy %zu", i + 1);
            goto fail;
        }
        if (!bs[i].upstream || !bs[i].upstream[0]) {
            resp_error(r, 400, "missing required field: upstream at proxy %zu", i + 1);
            goto fail;
        }
    }
    *count = n;
    return bs;
fail:
    free(bs);
    return NULL;
}

/* /populate and --config: validate every element, then create or replace in order. */
static void populate(struct fl_server *srv, json_t *body, struct api_resp *r)
{
    size_t n = 0;
    struct proxy_body *bs = populate_parse(body, &n, r);
    if (!bs)
        return;
    json_t *done = json_array();
    for (size_t i = 0; i < n; i++) {
        struct proxy_body *b = &bs[i];
        const char *listen = b->listen ? b->listen : "";
        struct fl_proxy *p = fl_proxy_find(srv, b->name);
        struct fl_err err = {""};
        if (p) {
            bool same = false;
            int rc = fl_proxy_same_listen(p, listen, &same, &err);
            if (rc < 0) {
                populate_error(r, 500, err.msg, done);
                json_decref(done);
                goto out;
            }
            if (same && !strcmp(p->upstream, b->upstream)) {
                /* Unchanged: keep it as it is, toxics, connections and enabled state. */
                json_array_append_new(done, proxy_json(p));
                continue;
            }
            /* Replaced by a later element of this same array: Toxiproxy's reply shows the
             * earlier element as the stopped proxy it now is. */
            size_t k;
            json_t *prev;
            json_array_foreach(done, k, prev)
                if (!strcmp(json_string_value(json_object_get(prev, "name")) ?: "", b->name))
                    json_object_set_new(prev, "enabled", json_false());
            fl_proxy_delete(p);
        }
        int rc = fl_proxy_create(srv, b->name, listen, b->upstream, b->enabled != 0, &p, &err);
        if (rc < 0) {
            populate_error(r, errno_status(rc), err.msg, done);
            json_decref(done);
            goto out;
        }
        json_array_append_new(done, proxy_json(p));
    }
    json_t *o = json_object();
    json_object_set_new(o, "proxies", n ? done : json_null());
    if (!n)
        json_decref(done);
    resp_json(r, 201, o);
out:
    free(bs);
}

static void h_reset(struct fl_server *srv, struct api_resp *r)
{
    struct fl_proxy **v;
    size_t n = fl_proxy_list(srv, &v);
    for (size_t i = 0; i < n; i++) {
        struct fl_proxy *p = v[i];
        if (!p->enabled) {
            struct fl_err err = {""};
            int rc = fl_proxy_start(p, &err);
            if (rc < 0) {
                resp_error(r, errno_status(rc), "%s", err.msg);
                free(v);
                return;
            }
        }
        while (p->n_toxics)
            fl_toxic_remove(p, p->toxics[p->n_toxics - 1]);
    }
    free(v);
    resp_empty(r, 204);
}

/* ---- toxics -------------------------------------------------------------------------------- */

/* An update body that is not an object: Go names the anonymous struct it decodes into. */
#define TOXIC_UPDATE_NOT_OBJECT                                                                  \
    "bad request body: json: cannot unmarshal %s into Go value of type struct { Attributes "    \
    "interface {} \"json:\\\"attributes\\\"\"; Toxicity float32 \"json:\\\"toxicity\\\"\" }"

/* The Go struct a toxic body is decoded into: a create decodes a ToxicWrapper, an update an
 * anonymous struct (so Go's messages say "field .toxicity"). */
static const char *toxic_owner(bool create) { return create ? "ToxicWrapper" : ""; }

/* Decode the attributes of t's type from a (may be NULL) into t->attr, then check values. */
static bool parse_attributes(json_t *a, struct fl_toxic *t, bool create, struct api_resp *r)
{
    const struct fl_toxic_ops *ops = t->ops;
    if (a && !json_is_null(a) && !json_is_object(a)) {
        /* Toxiproxy decodes a new toxic once with a placeholder type before it knows the
         * real one, so a create names that placeholder. */
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "%s.attributes of type toxics.%s", json_kind(a), toxic_owner(create),
                   create ? "NoopToxic" : ops->go_struct);
        return false;
    }
    const char *go_int = ops->go_int ? ops->go_int : "int64";
    int64_t vals[FL_TOXIC_MAX_ATTRS];
    memcpy(vals, t->attr, sizeof(vals));
    for (int i = 0; a && json_is_object(a) && i < ops->n_attrs; i++) {
        json_t *v = ci_get(a, ops->attrs[i].name);
        if (!v || json_is_null(v))
            continue;
        if (json_is_integer(v)) {
            vals[i] = json_integer_value(v);
            continue;
        }
        char num[FL_BIG_LITERAL_MAX + 8];
        if (json_is_real(v))
            resp_error(r, 400, "bad request body: json: cannot unmarshal number %s into Go "
                       "struct field %s.attributes.%s of type %s", number_text(r, v, num),
                       ops->go_struct, ops->attrs[i].name, go_int);
        else
            resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct "
                       "field %s.attributes.%s of type %s", json_kind(v), ops->go_struct,
                       ops->attrs[i].name, go_int);
        return false;
    }
    /* Values the reference crashes or hangs on are refused here, naming the attribute. */
    for (int i = 0; i < ops->n_attrs; i++) {
        if (vals[i] < ops->attrs[i].min) {
            if (ops->attrs[i].min == 0)
                resp_error(r, 400, "invalid attribute %s: must not be negative (got %lld)",
                           ops->attrs[i].name, (long long)vals[i]);
            else
                resp_error(r, 400, "invalid attribute %s: must be at least %lld (got %lld)",
                           ops->attrs[i].name, (long long)ops->attrs[i].min,
                           (long long)vals[i]);
            return false;
        } else if (ops->attrs[i].max > ops->attrs[i].min && vals[i] > ops->attrs[i].max) {
            resp_error(r, 400, "invalid attribute %s: must be at most %lld (got %lld)",
                       ops->attrs[i].name, (long long)ops->attrs[i].max, (long long)vals[i]);
            return false;
        }
    }
    memcpy(t->attr, vals, sizeof(vals));
    return true;
}

static bool get_toxicity(json_t *o, double *out, bool create, struct api_resp *r)
{
    json_t *v = ci_get(o, "toxicity");
    if (!v || json_is_null(v))
        return true;
    if (!json_is_number(v)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "%s.toxicity of type float32", json_kind(v), toxic_owner(create));
        return false;
    }
    double d = json_number_value(v);
    /* Go refuses a number a float32 cannot hold; converting it in C would be undefined (a
     * fuzz-api finding: toxicity 7.7e52 became inf and broke the integer check on output). */
    if (!(d >= -FLT_MAX && d <= FLT_MAX)) {
        char num[FL_BIG_LITERAL_MAX + 8];
        resp_error(r, 400, "bad request body: json: cannot unmarshal number %s into Go struct "
                   "field %s.toxicity of type float32", number_text(r, v, num),
                   toxic_owner(create));
        return false;
    }
    *out = (float)d;
    return true;
}

/* Build a toxic from a create body, checking as the reference does and in its order: stream,
 * default name, type, then (with p) the name conflict, then attributes. p may be NULL (the
 * fuzz target), which skips the conflict check. NULL (and r filled) on any error. */
static struct fl_toxic *toxic_from_json(struct fl_proxy *p, json_t *body, struct api_resp *r)
{
    struct fl_toxic *t = NULL;
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxics.ToxicWrapper", json_kind(body));
        return NULL;
    }
    const char *name = NULL, *type = NULL, *stream = NULL;
    double toxicity = 1.0;
    if (!get_string(body, "name", "ToxicWrapper", &name, r) ||
        !get_string(body, "type", "ToxicWrapper", &type, r) ||
        !get_string(body, "stream", "ToxicWrapper", &stream, r) ||
        !get_toxicity(body, &toxicity, true, r))
        return NULL;
    if (!stream)
        stream = "downstream";
    enum fl_dir dir;
    if (!strcasecmp(stream, "upstream"))
        dir = FL_UPSTREAM;
    else if (!strcasecmp(stream, "downstream"))
        dir = FL_DOWNSTREAM;
    else {
        resp_error(r, 400, "stream was invalid, can be either upstream or downstream");
        return NULL;
    }
    const struct fl_toxic_ops *ops = type ? fl_toxic_find(type) : NULL;
    if (!ops) {
        resp_error(r, 400, "invalid toxic type");
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        resp_error(r, 500, "out of memory");
        return NULL;
    }
    t->ops = ops;
    t->dir = dir;
    t->toxicity = toxicity;
    t->stream = strdup(stream);
    if (name && name[0]) {
        t->name = strdup(name);
    } else {
        size_t n = strlen(ops->type) + strlen(stream) + 2;
        t->name = malloc(n);
        if (t->name)
            snprintf(t->name, n, "%s_%s", ops->type, stream);
    }
    if (!t->stream || !t->name) {
        resp_error(r, 500, "out of memory");
        goto fail;
    }
    if (p && fl_toxic_find_in(p, t->name)) {
        resp_error(r, 409, "toxic already exists");
        goto fail;
    }
    for (int i = 0; i < ops->n_attrs; i++) /* extension toxics' defaults (toxic.h) */
        t->attr[i] = ops->attrs[i].def;
    if (!parse_attributes(ci_get(body, "attributes"), t, true, r))
        goto fail;
    return t;
fail:
    fl_toxic_free(t);
    return NULL;
}

/* Create a toxic on p from a decoded body; r gets the reply (200 and the toxic on success). */
static bool toxic_create(struct fl_proxy *p, json_t *body, struct api_resp *r)
{
    struct fl_toxic *t = toxic_from_json(p, body, r);
    if (!t)
        return false;
    int rc = fl_toxic_add(p, t);
    if (rc < 0) {
        if (rc == -ENOSPC)
            resp_error(r, 400, "too many toxics (at most %d per proxy)", FL_TOXIC_MAX);
        else
            resp_error(r, 500, "out of memory");
        fl_toxic_free(t);
        return false;
    }
    resp_json(r, 200, toxic_json(t));
    return true;
}

static void h_toxic_create(struct fl_proxy *p, const struct api_req *q, struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    toxic_create(p, body, r);
    json_decref(body);
}

static void h_toxic_update(struct fl_proxy *p, struct fl_toxic *t, const struct api_req *q,
                           struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    if (!json_is_object(body)) {
        resp_error(r, 400, TOXIC_UPDATE_NOT_OBJECT, json_kind(body));
        goto out;
    }
    /* A merge: omitted attributes and toxicity keep their values; name/type/stream ignored. */
    double toxicity = t->toxicity;
    struct fl_toxic tmp = *t;
    if (!get_toxicity(body, &toxicity, false, r) ||
        !parse_attributes(ci_get(body, "attributes"), &tmp, false, r))
        goto out;
    memcpy(t->attr, tmp.attr, sizeof(t->attr));
    t->toxicity = toxicity;
    fl_toxic_changed(p, t);
    resp_json(r, 200, toxic_json(t));
out:
    json_decref(body);
}

/* ---- /metrics ------------------------------------------------------------------------------ */

/* A growing text buffer for the Prometheus exposition; on allocation failure it stays short and
 * the reply says so with a 500. */
struct textbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void tb_printf(struct textbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tb_printf(struct textbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->oom ? -1 : vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0,
                                         fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* The process collector's metrics, under the names Prometheus client libraries use, read from
 * /proc/self. Go's go_* collectors have no counterpart in a C program and are left out. */
static void runtime_metrics(struct fl_server *srv, struct textbuf *b)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    char line[1024];
    if (f && fgets(line, sizeof(line), f)) {
        /* Fields after the command (which may hold spaces): skip to the last ')'. */
        char *p = strrchr(line, ')');
        unsigned long utime = 0, stime = 0, vsize = 0;
        unsigned long long start = 0;
        long rss = 0, threads = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d "
                        "%*d %*d %ld %*d %llu %lu %ld", &utime, &stime, &threads, &start,
                        &vsize, &rss) == 6 && tick > 0) {
            double boot = 0;
            FILE *st = fopen("/proc/stat", "r");
            char l2[256];
            while (st && fgets(l2, sizeof(l2), st))
                if (!strncmp(l2, "btime ", 6))
                    boot = strtod(l2 + 6, NULL);
            if (st)
                fclose(st);
            tb_printf(b, "# HELP process_cpu_seconds_total Total user and system CPU time spent "
                      "in seconds.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %g\n", (double)(utime + stime) / (double)tick);
            tb_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                      "# TYPE process_resident_memory_bytes gauge\n"
                      "process_resident_memory_bytes %lld\n", (long long)rss * page);
            tb_printf(b, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                      "# TYPE process_virtual_memory_bytes gauge\n"
                      "process_virtual_memory_bytes %lu\n", vsize);
            tb_printf(b, "# HELP process_start_time_seconds Start time of the process since "
                      "unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n"
                      "process_start_time_seconds %.2f\n", boot + (double)start / (double)tick);
            tb_printf(b, "# HELP process_threads Number of OS threads in the process.\n"
                      "# TYPE process_threads gauge\nprocess_threads %ld\n", threads);
        }
    }
    if (f)
        fclose(f);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        tb_printf(b, "# HELP process_max_fds Maximum number of open file descriptors.\n"
                  "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                  (unsigned long long)rl.rlim_cur);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long n = -1; /* the directory's own descriptor */
        while (readdir(d))
            n++;
        closedir(d);
        tb_printf(b, "# HELP process_open_fds Number of open file descriptors.\n"
                  "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n", n - 2);
    }
    /* In place of go_build_info: what is running, and how much it holds. */
    tb_printf(b, "# HELP faultline_build_info Build information about faultline.\n"
              "# TYPE faultline_build_info gauge\n"
              "faultline_build_info{version=\"%s\",toxiproxy_api=\"%s\"} 1\n", FL_VERSION,
              API_COMPAT_VERSION);
    struct fl_proxy **v;
    size_t n = fl_proxy_list(srv, &v), toxics = 0;
    for (size_t i = 0; i < n; i++)
        toxics += v[i]->n_toxics;
    free(v);
    tb_printf(b, "# HELP faultline_proxy_proxies Number of proxies.\n"
              "# TYPE faultline_proxy_proxies gauge\nfaultline_proxy_proxies %zu\n", n);
    tb_printf(b, "# HELP faultline_proxy_toxics Number of toxics over all proxies.\n"
              "# TYPE faultline_proxy_toxics gauge\nfaultline_proxy_toxics %zu\n", toxics);
}

/* The engine's link hook (loop thread): add one ended link to its label set's totals. As the
 * reference (spec §8), received always counts and sent only when the write side finished
 * without error. On allocation failure the link is not counted: metrics never stop traffic. */
static void on_link_end(void *arg, const struct fl_link_stats *st)
{
    struct fl_api *api = arg;
    struct byte_series *bs = NULL;
    for (size_t i = 0; i < api->n_series && !bs; i++) {
        struct byte_series *e = &api->series[i];
        if (e->dir == st->dir && !strcmp(e->proxy, st->proxy) &&
            !strcmp(e->listener, st->listener) && !strcmp(e->upstream, st->upstream))
            bs = e;
    }
    if (!bs) {
        if (api->n_series == api->cap_series) {
            size_t cap = api->cap_series ? api->cap_series * 2 : 16;
            struct byte_series *v = realloc(api->series, cap * sizeof(*v));
            if (!v)
                return;
            api->series = v;
            api->cap_series = cap;
        }
        struct byte_series e = {.proxy = strdup(st->proxy), .listener = strdup(st->listener),
                                .upstream = strdup(st->upstream), .dir = st->dir};
        if (!e.proxy || !e.listener || !e.upstream) {
            free(e.proxy);
            free(e.listener);
            free(e.upstream);
            return;
        }
        bs = &api->series[api->n_series++];
        *bs = e;
    }
    bs->received += st->received;
    if (st->write_ok) {
        bs->sent += st->sent;
        bs->has_sent = true;
    }
}

static const char *dir_label(enum fl_dir d) { return d == FL_UPSTREAM ? "upstream" : "downstream"; }

/* Series in the order client_golang writes them: by label values, labels sorted by name. */
static int cmp_series(const void *a, const void *b)
{
    const struct byte_series *x = a, *y = b;
    int r = strcmp(dir_label(x->dir), dir_label(y->dir));
    if (!r)
        r = strcmp(x->listener, y->listener);
    if (!r)
        r = strcmp(x->proxy, y->proxy);
    if (!r)
        r = strcmp(x->upstream, y->upstream);
    return r;
}

/* A label value in the exposition format: backslash, double quote and newline escaped. */
static void tb_label(struct textbuf *b, const char *name, const char *v, bool last)
{
    tb_printf(b, "%s=\"", name);
    for (const char *c = v; *c; c++) {
        if (*c == '\\')
            tb_printf(b, "\\\\");
        else if (*c == '"')
            tb_printf(b, "\\\"");
        else if (*c == '\n')
            tb_printf(b, "\\n");
        else
            tb_printf(b, "%c", *c);
    }
    tb_printf(b, "\"%s", last ? "" : ",");
}

static void byte_family(struct fl_api *api, struct textbuf *b, bool sent)
{
    const char *name = sent ? "toxiproxy_proxy_sent_bytes_total"
                            : "toxiproxy_proxy_received_bytes_total";
    tb_printf(b, "# HELP %s The total bytes %s.\n# TYPE %s counter\n", name,
              sent ? "sent to the destination" : "received from the source", name);
    for (size_t i = 0; i < api->n_series; i++) {
        const struct byte_series *e = &api->series[i];
        if (sent && !e->has_sent)
            continue;
        tb_printf(b, "%s{", name);
        tb_label(b, "direction", dir_label(e->dir), false);
        tb_label(b, "listener", e->listener, false);
        tb_label(b, "proxy", e->proxy, false);
        tb_label(b, "upstream", e->upstream, true);
        tb_printf(b, "} %llu\n", (unsigned long long)(sent ? e->sent : e->received));
    }
}

static void metrics(struct fl_api *api, struct api_resp *r)
{
    struct textbuf b = {0};
    if (api->proxy_metrics) {
        /* The names and labels of the reference; a family with no ended link yet is declared
         * with no samples, which a Prometheus scrape reads as empty. */
        if (api->n_series > 1)
            qsort(api->series, api->n_series, sizeof(*api->series), cmp_series);
        byte_family(api, &b, false);
        byte_family(api, &b, true);
    }
    if (api->runtime_metrics)
        runtime_metrics(api->srv, &b);
    tb_printf(&b, "# HELP promhttp_metric_handler_errors_total Total number of internal errors "
              "encountered by the promhttp metric handler.\n"
              "# TYPE promhttp_metric_handler_errors_total counter\n"
              "promhttp_metric_handler_errors_total{cause=\"encoding\"} 0\n"
              "promhttp_metric_handler_errors_total{cause=\"gathering\"} 0\n");
    if (b.oom) {
        free(b.s);
        resp_error(r, 500, "out of memory");
        return;
    }
    resp_set(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
}

/* ---- routing ------------------------------------------------------------------------------- */

enum route {
    R_NONE,
    R_PROXIES,
    R_POPULATE,
    R_RESET,
    R_VERSION,
    R_PROXY,
    R_TOXICS,
    R_TOXIC,
    R_TOXIC_STATS,           /* a faultline extension: what the toxic met (toxic_stats_json) */
    R_METRICS,
};

/* Split /a/b/c into at most 5 segments (more: something follows the 5th, which no route
 * takes); an empty segment (trailing slash, //) matches nothing, as with the reference's
 * router. */
static enum route route_of(const struct fl_api *api, char *path, char **seg)
{
    int n = 0;
    bool more = false;
    if (path[0] != '/')
        return R_NONE;
    char *s = path + 1;
    while (n < 5) {
        char *slash = strchr(s, '/');
        seg[n++] = s;
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
        more = n == 5;
    }
    for (int i = 0; i < n; i++)
        if (!seg[i][0])
            return R_NONE;
    if (n == 1 && !strcmp(seg[0], "proxies"))
        return R_PROXIES;
    if (n == 1 && !strcmp(seg[0], "populate"))
        return R_POPULATE;
    if (n == 1 && !strcmp(seg[0], "reset"))
        return R_RESET;
    if (n == 1 && !strcmp(seg[0], "version"))
        return R_VERSION;
    /* As the reference: the route exists only when a metrics flag was given. */
    if (n == 1 && !strcmp(seg[0], "metrics") && (api->proxy_metrics || api->runtime_metrics))
        return R_METRICS;
    if (n >= 2 && strcmp(seg[0], "proxies"))
        return R_NONE;
    if (n == 2)
        return R_PROXY;
    if (n == 3 && !strcmp(seg[2], "toxics"))
        return R_TOXICS;
    if (n == 4 && !strcmp(seg[2], "toxics"))
        return R_TOXIC;
    /* The only 5-segment route; every other one stays the router's 404, as in Toxiproxy. */
    if (n == 5 && !more && !strcmp(seg[2], "toxics") && !strcmp(seg[4], "stats"))
        return R_TOXIC_STATS;
    return R_NONE;
}

static bool method_allowed(enum route rt, const char *m)
{
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), patch = !strcmp(m, "PATCH"),
         del = !strcmp(m, "DELETE");
    switch (rt) {
    case R_PROXIES:
    case R_TOXICS:
        return get || post;
    case R_POPULATE:
    case R_RESET:
        return post;
    case R_VERSION:
    case R_TOXIC_STATS:
        return get;
    case R_METRICS:
        return true;
    case R_PROXY:
    case R_TOXIC:
        return get || post || patch || del;
    default:
        return false;
    }
}

/* The path as Go's ServeMux cleans it (path.Clean: no empty, "." or ".." segments, ".." above
 * the root dropped; a trailing slash kept), into a malloc'd string. */
static char *clean_path(const char *p)
{
    size_t len = strlen(p);
    char *out = malloc(len + 3);
    size_t *slash = malloc((len + 1) * sizeof(*slash)); /* where each kept segment's '/' is */
    if (!out || !slash) {
        free(out);
        free(slash);
        return NULL;
    }
    size_t w = 0, depth = 0;
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        const char *e = strchrnul(s, '/');
        size_t n = (size_t)(e - s);
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (depth)
                w = slash[--depth];
        } else if (n && !(n == 1 && s[0] == '.')) {
            slash[depth++] = w;
            out[w++] = '/';
            memcpy(out + w, s, n);
            w += n;
        }
        s = e;
    }
    if (w == 0)
        out[w++] = '/';
    else if (len && p[len - 1] == '/')
        out[w++] = '/';
    out[w] = '\0';
    free(slash);
    return out;
}

/* A path that is not clean (//, /./, /../): 301 to the clean one, as Go's ServeMux answers
 * before Toxiproxy's router sees the request (a client whose base URL ends in "/" sends
 * //proxies). The query string is not carried over. */
static bool redirect_unclean(struct api_req *q, struct api_resp *r)
{
    char *clean = clean_path(q->path);
    if (!clean || !strcmp(clean, q->path)) {
        free(clean);
        return false;
    }
    /* Location: the path escaped as Go's URL.EscapedPath does */
    static const char keep[] = "-_.~$&+,/:;=@";
    char *loc = malloc(strlen(clean) * 3 + 1), *w = loc;
    if (!loc) {
        free(clean);
        return false;
    }
    for (const unsigned char *c = (const unsigned char *)clean; *c; c++) {
        if (isalnum(*c) || strchr(keep, *c))
            *w++ = (char)*c;
        else
            w += sprintf(w, "%%%02X", *c);
    }
    *w = '\0';
    free(clean);
    r->status = 301;
    r->location = loc;
    bool get = !strcmp(q->method, "GET");
    if (get || !strcmp(q->method, "HEAD"))
        r->ctype = "text/html; charset=utf-8";
    if (get) {
        /* Go's http.Redirect body; the escaped path holds no HTML-special character but & */
        size_t n = strlen(loc), amps = 0;
        for (const char *c = loc; *c; c++)
            amps += *c == '&';
        char *body = malloc(n + amps * 4 + 48);
        if (body) {
            char *b = body + sprintf(body, "<a href=\"");
            for (const char *c = loc; *c; c++)
                b = *c == '&' ? stpcpy(b, "&amp;") : (*b = *c, b + 1);
            b = stpcpy(b, "\">Moved Permanently</a>.\n\n");
            r->body = body;
            r->len = (size_t)(b - body);
        }
    }
    return true;
}

/* Run one request (loop thread). */
static void api_execute(struct fl_api *api, struct api_req *q)
{
    struct fl_server *srv = api->srv;
    struct api_resp *r = &q->resp;
    if (strcmp(q->method, "CONNECT") && redirect_unclean(q, r))
        return;
    char *seg[5] = {0};
    enum route rt = route_of(api, q->path, seg);
    if (rt == R_NONE) {
        resp_set(r, 404, "text/plain; charset=utf-8", strdup("404 page not found\n"), 19);
        r->nosniff = true; /* Go's http.NotFound */
        return;
    }
    if (!method_allowed(rt, q->method)) {
        resp_empty(r, 405);
        return;
    }
    r->request_id = true;
    if (q->ua && !strncmp(q->ua, "Mozilla/", 8)) {
        resp_set(r, 403, "text/plain; charset=utf-8", strdup("User agent not allowed\n"), 23);
        r->nosniff = true; /* Go's http.Error */
        return;
    }
    if (q->too_big) {
        resp_error(r, 413, "bad request body: larger than %d bytes", API_BODY_MAX);
        return;
    }
    const char *m = q->method;
    bool get = !strcmp(m, "GET"), del = !strcmp(m, "DELETE");
    switch (rt) {
    case R_PROXIES:
        if (get)
            h_proxies_get(srv, r);
        else
            h_proxies_create(srv, q, r);
        return;
    case R_POPULATE: {
        r->populate = true;
        json_t *body = decode_body(q, r);
        if (body)
            populate(srv, body, r);
        json_decref(body);
        return;
    }
    case R_RESET:
        h_reset(srv, r);
        return;
    case R_METRICS:
        metrics(api, r);
        return;
    case R_VERSION: {
        const char *v = "{\"version\": \"" API_COMPAT_VERSION "\"}\n";
        resp_set(r, 200, "application/json;charset=utf-8", strdup(v), strlen(v));
        return;
    }
    default:
        break;
    }
    struct fl_proxy *p = fl_proxy_find(srv, seg[1]);
    if (!p) {
        resp_error(r, 404, "proxy not found");
        return;
    }
    if (rt == R_PROXY) {
        if (get)
            resp_json(r, 200, proxy_json(p));
        else if (del) {
            fl_proxy_delete(p);
            resp_empty(r, 204);
        } else
            h_proxy_update(p, q, r);
        return;
    }
    if (rt == R_TOXICS) {
        if (get)
            resp_json(r, 200, toxics_json(p));
        else
            h_toxic_create(p, q, r);
        return;
    }
    struct fl_toxic *t = fl_toxic_find_in(p, seg[3]);
    if (!t) {
        resp_error(r, 404, "toxic not found");
        return;
    }
    if (rt == R_TOXIC_STATS)
        resp_json(r, 200, toxic_stats_json(t));
    else if (get)
        resp_json(r, 200, toxic_json(t));
    else if (del) {
        fl_toxic_remove(p, t);
        resp_empty(r, 204);
    } else
        h_toxic_update(p, t, q, r);
}

/* ---- the queue between HTTP threads and the loop ------------------------------------------ */

static void on_async(uv_async_t *h)
{
    struct fl_api *api = h->data;
    for (;;) {
        pthread_mutex_lock(&api->mu);
        struct api_req *q = api->head;
        if (q) {
            api->head = q->next;
            if (!api->head)
                api->tail = NULL;
        }
        pthread_mutex_unlock(&api->mu);
        if (!q)
            return;
        api_execute(api, q);
        pthread_mutex_lock(&api->mu);
        q->done = true;
        pthread_cond_broadcast(&api->cv);
        pthread_mutex_unlock(&api->mu);
    }
}

/* Loop thread, when the server stops: answer what is queued with 503 and take no more. */
static void api_stop_hook(void *arg)
{
    struct fl_api *api = arg;
    pthread_mutex_lock(&api->mu);
    for (struct api_req *q = api->head; q; q = q->next) {
        resp_error(&q->resp, 503, "server is shutting down");
        q->done = true;
    }
    api->head = api->tail = NULL;
    api->dead = true;
    pthread_cond_broadcast(&api->cv);
    pthread_mutex_unlock(&api->mu);
    uv_close((uv_handle_t *)&api->async, NULL);
}

/* ---- libmicrohttpd ------------------------------------------------------------------------- */

static void make_request_id(char *out)
{
    /* 20 characters of base32hex, like the xid the reference sends: time, then a counter. */
    static atomic_uint_fast64_t counter;
    static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
    uint64_t hi = (uint64_t)time(NULL) << 24 | (getpid() & 0xffffff);
    uint64_t lo = atomic_fetch_add(&counter, 1) ^ ((uint64_t)(uintptr_t)out << 20);
    for (int i = 0; i < 10; i++)
        out[i] = digits[(hi >> (45 - 5 * i)) & 31];
    for (int i = 0; i < 10; i++)
        out[10 + i] = digits[(lo >> (45 - 5 * i)) & 31];
    out[20] = '\0';
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct api_resp *r)
{
    struct MHD_Response *mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : "",
                                                              MHD_RESPMEM_MUST_COPY);
    if (!mr)
        return MHD_NO;
    if (r->ctype)
        MHD_add_response_header(mr, "Content-Type", r->ctype);
    if (r->nosniff)
        MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    if (r->location)
        MHD_add_response_header(mr, "Location", r->location);
    if (r->request_id) {
        char id[21];
        make_request_id(id);
        MHD_add_response_header(mr, "X-Toxiproxy-Request-Id", id);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void req_free(struct api_req *q)
{
    if (!q)
        return;
    free(q->path);
    free(q->body);
    free(q->ua);
    free(q->resp.body);
    free(q->resp.location);
    free(q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct fl_api *api = cls;
    struct api_req *q = *con_cls;
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        snprintf(q->method, sizeof(q->method), "%s", method);
        q->path = strdup(url);
        const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
        q->ua = ua ? strdup(ua) : NULL;
        *con_cls = q;
        if (!q->path)
            return MHD_NO;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!q->too_big && q->len + *upload_data_size <= API_BODY_MAX) {
            char *b = realloc(q->body, q->len + *upload_data_size + 1);
            if (!b)
                return MHD_NO;
            memcpy(b + q->len, upload_data, *upload_data_size);
            q->body = b;
            q->len += *upload_data_size;
            b[q->len] = '\0';
        } else {
            q->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&api->mu);
    if (api->dead) {
        resp_error(&q->resp, 503, "server is shutting down");
    } else {
        if (api->tail)
            api->tail->next = q;
        else
            api->head = q;
        api->tail = q;
        uv_async_send(&api->async);
        while (!q->done)
            pthread_cond_wait(&api->cv, &api->mu);
    }
    pthread_mutex_unlock(&api->mu);
    return send_resp(conn, &q->resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    req_free(*con_cls);
    *con_cls = NULL;
}

static int listen_socket(const char *host, int port, int *bound, struct fl_err *err)
{
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, ports, &hints, &res);
    if (g != 0)
        return fl_err_set(err, EINVAL, "cannot resolve --host %s: %s", host, gai_strerror(g));
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return fl_err_set(err, e, "cannot listen on %s:%d: %s", host, port, strerror(e));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                           : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

struct fl_api *fl_api_start(struct fl_server *srv, const char *host, int port, int *bound_port,
                            struct fl_err *err)
{
    struct fl_api *api = calloc(1, sizeof(*api));
    if (!api) {
        fl_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    api->srv = srv;
    pthread_mutex_init(&api->mu, NULL);
    pthread_cond_init(&api->cv, NULL);
    int fd = listen_socket(host, port, bound_port, err);
    if (fd < 0) {
        free(api);
        return NULL;
    }
    uv_async_init(fl_server_loop(srv), &api->async, on_async);
    api->async.data = api;
    api->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
        NULL, NULL, on_request, api, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_END);
    if (!api->daemon) {
        close(fd);
        uv_close((uv_handle_t *)&api->async, NULL);
        uv_run(fl_server_loop(srv), UV_RUN_NOWAIT);
        free(api);
        fl_err_set(err, EIO, "cannot start the HTTP server on %s:%d", host, *bound_port);
        return NULL;
    }
    fl_server_set_stop_hook(srv, api_stop_hook, api);
    return api;
}

void fl_api_set_metrics(struct fl_api *api, bool proxy_metrics, bool runtime_metrics)
{
    /* Before the loop runs (cmd_proxy), so no request can be reading these yet. */
    api->proxy_metrics = proxy_metrics;
    api->runtime_metrics = runtime_metrics;
    /* No counting at all without the flag: the hook is the only cost on the data path. */
    if (proxy_metrics)
        fl_server_set_link_hook(api->srv, on_link_end, api);
}

void fl_api_free(struct fl_api *api)
{
    if (!api)
        return;
    /* The loop has ended, but fl_server_free may still run it to close what is left. */
    fl_server_set_link_hook(api->srv, NULL, NULL);
    MHD_stop_daemon(api->daemon);
    for (size_t i = 0; i < api->n_series; i++) {
        free(api->series[i].proxy);
        free(api->series[i].listener);
        free(api->series[i].upstream);
    }
    free(api->series);
    pthread_mutex_destroy(&api->mu);
    pthread_cond_destroy(&api->cv);
    free(api);
}

/* The message of an error reply, without the "bad request body: " prefix that only makes sense
 * for an HTTP request. */
static const char *resp_message(const struct api_resp *r, json_t **holder)
{
    *holder = r->body ? json_loadb(r->body, r->len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    const char *msg = *holder ? json_string_value(json_object_get(*holder, "error")) : NULL;
    const char *prefix = "bad request body: ";
    if (msg && !strncmp(msg, prefix, strlen(prefix)))
        msg += strlen(prefix);
    return msg ? msg : "cannot apply";
}

/* faultline's extension to the populate format, for --config only: a proxy element may carry
 * "toxics", an array of toxic create bodies, created in order once every proxy exists.
 * Toxiproxy ignores that key (and so does POST /populate here, for compatibility). */
static int config_toxics(struct fl_server *srv, const char *path, json_t *body,
                         struct fl_err *err)
{
    for (size_t i = 0; i < json_array_size(body); i++) {
        json_t *e = json_array_get(body, i);
        json_t *list = ci_get(e, "toxics");
        const char *pname = json_string_value(ci_get(e, "name"));
        if (!list || json_is_null(list))
            continue;
        if (!json_is_array(list))
            return fl_err_set(err, EINVAL, "%s: proxy %s: \"toxics\" must be an array of "
                              "toxics (got %s)", path, pname, json_kind(list));
        struct fl_proxy *p = fl_proxy_find(srv, pname);
        for (size_t j = 0; p && j < json_array_size(list); j++) {
            json_t *tb = json_array_get(list, j);
            struct api_resp r = {0};
            if (toxic_create(p, tb, &r)) {
                free(r.body);
                continue;
            }
            json_t *holder;
            const char *msg = resp_message(&r, &holder);
            const char *tname = json_is_object(tb) ? json_string_value(ci_get(tb, "name")) : NULL;
            const char *ttype = json_is_object(tb) ? json_string_value(ci_get(tb, "type")) : NULL;
            if (tname && tname[0])
                fl_err_set(err, EINVAL, "%s: proxy %s: toxic %s: %s", path, pname, tname, msg);
            else if (ttype)
                fl_err_set(err, EINVAL, "%s: proxy %s: toxic %zu (type %s): %s", path, pname,
                           j + 1, ttype, msg);
            else
                fl_err_set(err, EINVAL, "%s: proxy %s: toxic %zu: %s", path, pname, j + 1, msg);
            json_decref(holder);
            free(r.body);
            return -EINVAL;
        }
    }
    return 0;
}

int fl_api_load_config(struct fl_server *srv, const char *path, struct fl_err *err)
{
    json_error_t e;
    json_t *body = json_load_file(path, JSON_DECODE_ANY, &e);
    if (!body) {
        if (e.line <= 0) /* jansson's text already names the file */
            return fl_err_set(err, EINVAL, "%s", e.text);
        return fl_err_set(err, EINVAL, "%s:%d:%d: %s", path, e.line, e.column, e.text);
    }
    struct api_resp r = {0};
    populate(srv, body, &r);
    int rc = 0;
    if (r.status != 201) {
        json_t *holder;
        rc = fl_err_set(err, EINVAL, "%s: %s", path, resp_message(&r, &holder));
        json_decref(holder);
    } else {
        rc = config_toxics(srv, path, body, err);
    }
    json_decref(body);
    free(r.body);
    return rc;
}

/* ---- request decoding without a server (fuzz/fuzz-api.c) ------------------------------------ */

int fl_api_check_body(enum fl_api_body kind, const char *data, size_t len, char **reply,
                      size_t *reply_len)
{
    struct api_resp r = {.populate = kind == FL_API_POPULATE};
    json_t *body = decode_json(data, len, &r);
    if (body) {
        struct proxy_body b;
        switch (kind) {
        case FL_API_PROXY_CREATE:
            if (proxy_create_parse(body, &b, &r))
                resp_empty(&r, 201);
            break;
        case FL_API_PROXY_UPDATE:
            if (!json_is_object(body))
                resp_error(&r, 400, "bad request body: json: cannot unmarshal %s into Go value "
                           "of type toxiproxy.Proxy", json_kind(body));
            else if (parse_proxy_body(body, &b, &r))
                resp_empty(&r, 200);
            break;
        case FL_API_TOXIC_CREATE: {
            struct fl_toxic *t = toxic_from_json(NULL, body, &r);
            if (t)
                resp_json(&r, 200, toxic_json(t));
            fl_toxic_free(t);
            break;
        }
        case FL_API_TOXIC_UPDATE: {
            /* The merge h_toxic_update does, onto a fresh latency toxic. */
            struct fl_toxic t = {.name = (char *)"l", .stream = (char *)"downstream",
                                 .dir = FL_DOWNSTREAM, .ops = fl_toxic_find("latency"),
                                 .toxicity = 1.0};
            double toxicity = t.toxicity;
            if (!json_is_object(body))
                resp_error(&r, 400, TOXIC_UPDATE_NOT_OBJECT, json_kind(body));
            else if (t.ops && get_toxicity(body, &toxicity, false, &r) &&
                     parse_attributes(ci_get(body, "attributes"), &t, false, &r)) {
                t.toxicity = toxicity;
                resp_json(&r, 200, toxic_json(&t));
            }
            break;
        }
        case FL_API_POPULATE: {
            size_t n = 0;
            struct proxy_body *bs = populate_parse(body, &n, &r);
            if (bs)
                resp_empty(&r, 201);
            free(bs);
            break;
        }
        }
        json_decref(body);
    }
    *reply = r.body;
    *reply_len = r.len;
    return r.status;
}
