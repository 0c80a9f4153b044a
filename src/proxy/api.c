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
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <jansson.h>

#include "proxy.h"

/* The Toxiproxy version whose API this server speaks; clients only print it. */
#define API_COMPAT_VERSION "2.12.0"
#define API_BODY_MAX (1024 * 1024)
#define API_CONN_LIMIT 64

struct api_resp {
    int status;
    const char *ctype;       /* NULL: no Content-Type */
    char *body;              /* malloc'd, may be NULL */
    size_t len;
    bool request_id;         /* matched route: X-Toxiproxy-Request-Id */
    bool nosniff;            /* handler errors: X-Content-Type-Options: nosniff */
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

struct fl_api {
    struct fl_server *srv;
    struct MHD_Daemon *daemon;
    uv_async_t async;        /* wakes the loop to run queued requests */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct api_req *head, *tail; /* requests waiting for the loop (guarded by mu) */
    bool dead;               /* the loop no longer runs requests (guarded by mu) */
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

/* The handlers' error shape: JSON body, text/plain type, trailing newline (spec §2.3). */
static void resp_error(struct api_resp *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void resp_error(struct api_resp *r, int status, const char *fmt, ...)
{
    char msg[FL_ERR_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
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

/* Decode the first JSON value of the body. On failure, fill r with Go's wording where it is
 * known: an empty body is "EOF", a truncated one "unexpected EOF". */
static json_t *decode_body(const struct api_req *q, struct api_resp *r)
{
    size_t i = 0;
    while (i < q->len && strchr(" \t\r\n", q->body[i]))
        i++;
    if (i == q->len) {
        resp_error(r, 400, "bad request body: EOF");
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(q->body, q->len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &e);
    if (!v) {
        size_t end = q->len;
        while (end > 0 && strchr(" \t\r\n", q->body[end - 1]))
            end--;
        if ((size_t)e.position >= end || strstr(e.text, "end of file"))
            resp_error(r, 400, "bad request body: unexpected EOF");
        else
            resp_error(r, 400, "bad request body: %s", e.text);
    }
    return v;
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
    if (f == (float)(int64_t)f && f > -1e15f && f < 1e15f)
        json_object_set_new(o, "toxicity", json_integer((json_int_t)f));
    else
        json_object_set_new(o, "toxicity", json_real(f));
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

static void h_proxies_create(struct fl_server *srv, const struct api_req *q, struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    struct proxy_body b;
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxiproxy.Proxy", json_kind(body));
        goto out;
    }
    if (!parse_proxy_body(body, &b, r))
        goto out;
    if (!b.name || !b.name[0]) {
        resp_error(r, 400, "missing required field: name");
        goto out;
    }
    if (!b.upstream || !b.upstream[0]) {
        resp_error(r, 400, "missing required field: upstream");
        goto out;
    }
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
    json_object_set_new(o, "error", json_string(msg));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "proxies", json_array_size(done) ? json_incref(done) : json_null());
    resp_json(r, status, o);
}

/* /populate and --config: validate every element, then create or replace in order. */
static void populate(struct fl_server *srv, json_t *body, struct api_resp *r)
{
    if (!json_is_array(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "[]struct { toxiproxy.Proxy; Enabled *bool \"json:\\\"enabled\\\"\" }",
                   json_kind(body));
        return;
    }
    size_t n = json_array_size(body);
    struct proxy_body *bs = calloc(n + 1, sizeof(*bs));
    if (!bs) {
        resp_error(r, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(body, i);
        if (!json_is_object(e)) {
            resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of "
                       "type toxiproxy.Proxy", json_kind(e));
            goto out;
        }
        if (!parse_proxy_body(e, &bs[i], r))
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!bs[i].name || !bs[i].name[0]) {
            resp_error(r, 400, "missing required field: name at proxy %zu", i + 1);
            goto out;
        }
        if (!bs[i].upstream || !bs[i].upstream[0]) {
            resp_error(r, 400, "missing required field: upstream at proxy %zu", i + 1);
            goto out;
        }
    }
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

/* Decode the attributes of t's type from a (may be NULL) into t->attr, then check values. */
static bool parse_attributes(json_t *a, struct fl_toxic *t, struct api_resp *r)
{
    const struct fl_toxic_ops *ops = t->ops;
    if (a && !json_is_null(a) && !json_is_object(a)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "ToxicWrapper.attributes of type toxics.%s", json_kind(a), ops->go_struct);
        return false;
    }
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
        if (json_is_real(v))
            resp_error(r, 400, "bad request body: json: cannot unmarshal number %g into Go "
                       "struct field %s.attributes.%s of type int64", json_real_value(v),
                       ops->go_struct, ops->attrs[i].name);
        else
            resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct "
                       "field %s.attributes.%s of type int64", json_kind(v), ops->go_struct,
                       ops->attrs[i].name);
        return false;
    }
    /* Values the reference crashes or hangs on are refused here, naming the attribute. */
    for (int i = 0; i < ops->n_attrs; i++)
        if (vals[i] < ops->attrs[i].min) {
            if (ops->attrs[i].min == 0)
                resp_error(r, 400, "invalid attribute %s: must not be negative (got %lld)",
                           ops->attrs[i].name, (long long)vals[i]);
            else
                resp_error(r, 400, "invalid attribute %s: must be at least %lld (got %lld)",
                           ops->attrs[i].name, (long long)ops->attrs[i].min,
                           (long long)vals[i]);
            return false;
        }
    memcpy(t->attr, vals, sizeof(vals));
    return true;
}

static bool get_toxicity(json_t *o, double *out, struct api_resp *r)
{
    json_t *v = ci_get(o, "toxicity");
    if (!v || json_is_null(v))
        return true;
    if (!json_is_number(v)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go struct field "
                   "ToxicWrapper.toxicity of type float32", json_kind(v));
        return false;
    }
    *out = (float)json_number_value(v);
    return true;
}

static void h_toxic_create(struct fl_proxy *p, const struct api_req *q, struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    struct fl_toxic *t = NULL;
    if (!body)
        return;
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxics.ToxicWrapper", json_kind(body));
        goto out;
    }
    /* Order as the reference: syntax, stream, default name, type, conflict, attributes. */
    const char *name = NULL, *type = NULL, *stream = NULL;
    double toxicity = 1.0;
    if (!get_string(body, "name", "ToxicWrapper", &name, r) ||
        !get_string(body, "type", "ToxicWrapper", &type, r) ||
        !get_string(body, "stream", "ToxicWrapper", &stream, r) ||
        !get_toxicity(body, &toxicity, r))
        goto out;
    if (!stream)
        stream = "downstream";
    enum fl_dir dir;
    if (!strcasecmp(stream, "upstream"))
        dir = FL_UPSTREAM;
    else if (!strcasecmp(stream, "downstream"))
        dir = FL_DOWNSTREAM;
    else {
        resp_error(r, 400, "stream was invalid, can be either upstream or downstream");
        goto out;
    }
    const struct fl_toxic_ops *ops = type ? fl_toxic_find(type) : NULL;
    if (!ops) {
        resp_error(r, 400, "invalid toxic type");
        goto out;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        resp_error(r, 500, "out of memory");
        goto out;
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
        goto out;
    }
    if (fl_toxic_find_in(p, t->name)) {
        resp_error(r, 409, "toxic already exists");
        goto out;
    }
    if (!parse_attributes(ci_get(body, "attributes"), t, r))
        goto out;
    int rc = fl_toxic_add(p, t);
    if (rc < 0) {
        if (rc == -ENOSPC)
            resp_error(r, 400, "too many toxics (at most %d per proxy)", FL_TOXIC_MAX);
        else
            resp_error(r, 500, "out of memory");
        goto out;
    }
    resp_json(r, 200, toxic_json(t));
    t = NULL;
out:
    fl_toxic_free(t);
    json_decref(body);
}

static void h_toxic_update(struct fl_proxy *p, struct fl_toxic *t, const struct api_req *q,
                           struct api_resp *r)
{
    json_t *body = decode_body(q, r);
    if (!body)
        return;
    if (!json_is_object(body)) {
        resp_error(r, 400, "bad request body: json: cannot unmarshal %s into Go value of type "
                   "toxics.ToxicWrapper", json_kind(body));
        goto out;
    }
    /* A merge: omitted attributes and toxicity keep their values; name/type/stream ignored. */
    double toxicity = t->toxicity;
    struct fl_toxic tmp = *t;
    if (!get_toxicity(body, &toxicity, r) || !parse_attributes(ci_get(body, "attributes"), &tmp,
                                                                r))
        goto out;
    memcpy(t->attr, tmp.attr, sizeof(t->attr));
    t->toxicity = toxicity;
    fl_toxic_changed(p, t);
    resp_json(r, 200, toxic_json(t));
out:
    json_decref(body);
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
};

/* Split /a/b/c into at most 4 segments; an empty segment (trailing slash, //) matches nothing,
 * as with the reference's router. */
static enum route route_of(char *path, char **seg)
{
    int n = 0;
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
    if (n >= 2 && strcmp(seg[0], "proxies"))
        return R_NONE;
    if (n == 2)
        return R_PROXY;
    if (n == 3 && !strcmp(seg[2], "toxics"))
        return R_TOXICS;
    if (n == 4 && !strcmp(seg[2], "toxics"))
        return R_TOXIC;
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
        return get;
    case R_PROXY:
    case R_TOXIC:
        return get || post || patch || del;
    default:
        return false;
    }
}

/* Run one request (loop thread). */
static void api_execute(struct fl_server *srv, struct api_req *q)
{
    struct api_resp *r = &q->resp;
    char *seg[5] = {0};
    enum route rt = route_of(q->path, seg);
    if (rt == R_NONE) {
        resp_set(r, 404, "text/plain; charset=utf-8", strdup("404 page not found\n"), 19);
        return;
    }
    if (!method_allowed(rt, q->method)) {
        resp_empty(r, 405);
        return;
    }
    r->request_id = true;
    if (q->ua && !strncmp(q->ua, "Mozilla/", 8)) {
        resp_set(r, 403, "text/plain; charset=utf-8", strdup("User agent not allowed\n"), 23);
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
        json_t *body = decode_body(q, r);
        if (body)
            populate(srv, body, r);
        json_decref(body);
        return;
    }
    case R_RESET:
        h_reset(srv, r);
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
    if (get)
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
        api_execute(api->srv, q);
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

void fl_api_free(struct fl_api *api)
{
    if (!api)
        return;
    MHD_stop_daemon(api->daemon);
    pthread_mutex_destroy(&api->mu);
    pthread_cond_destroy(&api->cv);
    free(api);
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
    json_decref(body);
    int rc = 0;
    if (r.status != 201) {
        json_t *o = r.body ? json_loadb(r.body, r.len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
        const char *msg = o ? json_string_value(json_object_get(o, "error")) : NULL;
        const char *prefix = "bad request body: ";
        if (msg && !strncmp(msg, prefix, strlen(prefix)))
            msg += strlen(prefix);
        rc = fl_err_set(err, EINVAL, "%s: %s", path, msg ? msg : "cannot apply");
        json_decref(o);
    }
    free(r.body);
    return rc;
}
