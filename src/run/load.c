/* SPDX-License-Identifier: MIT */
/*
 * load.c - the built-in load generator (see load.h): HTTP/1.1 keep-alive or raw TCP requests
 * at a fixed rate over a fixed set of connections, on its own thread and libuv loop.
 *
 * Why its own code rather than libcurl: one request per connection at a time over raw
 * keep-alive sockets costs two syscalls and a framing pass per request, which is what lets it
 * keep up with wrk (bench/runner); the framing is the proxy's HTTP parser (toxics/http.h).
 *
 * Open loop (rate > 0): request i is due at start + i/rate, whatever happened before it. A
 * timerfd (nanosecond deadlines; libuv timers round to milliseconds) wakes the loop when the
 * next one is due. A due request goes to an idle connection; if none is idle it waits in a
 * bounded FIFO, and beyond the cap it is dropped and counted as "overload". Latency is always
 * measured from the scheduled time, so time spent queued behind a stalled server counts (no
 * coordinated omission). Closed loop (rate 0): every connection sends its next request as
 * soon as the previous one completes (the bench's top-rate mode).
 *
 * Every request ends exactly once: ok, or one error kind (LOAD_ERRORS). A request that ends
 * after reaching the server (response, timeout, reset, ...) enters the latency histograms;
 * one that never got a connection (refused, connect, overload) does not, since its "latency"
 * would only say how fast we failed.
 *
 * Connections (one struct conn each, `concurrency` of them):
 *
 *      DOWN --conn_connect--> CONNECTING --on_connect ok--> IDLE <--conn_ready-- BUSY
 *       ^                         |                           |                   ^  |
 *       |                    fail | timeout              send_request ------------+  |
 *       +---- on_closed <-- CLOSING <----------------- conn_close (error, EOF, !keep) -+
 *
 * - DOWN: no socket. Either waiting on the retry list (after an error: capped exponential
 *   backoff, so a dead server is not spun on) or about to reconnect (after a graceful close).
 * - While the server refuses connections (connect_down), only one connection at a time tries
 *   again (a scout), and requests that fall due with no idle connection fail at once with the
 *   connect error rather than queueing: that is what the server's clients would see. The first
 *   successful connect reconnects everyone.
 * - IDLE connections sit on the idle stack; BUSY ones have one request in flight (no
 *   pipelining) with a deadline checked by the sweep timer.
 *
 * Windows: completions are counted into 100 ms windows aligned on the experiment's t0; a
 * window closes when a completion or the sweep timer sees time pass it, and keeps only its
 * counts and p99, so memory is fixed per window.
 *
 * Threads: fl_load_start sets everything up, then the load thread owns the struct until
 * fl_load_stop wakes it (uv_async), it closes every handle and exits; the report is built
 * after pthread_join, so no field is ever shared.
 *
 * Divisions: latency histogram; state; spec parsing (fl_load_check); accounting (counts,
 * windows); the wait queue; connections (the state machine above, HTTP and TCP reads);
 * the schedule (timerfd tick, sweep); thread and lifecycle (fl_load_start); the report
 * (fl_load_stop).
 */
#include "load.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "toxics/http.h"
#include "units.h"

/* Caps on everything a spec controls. */
#define LOAD_MAX_RATE 1000000.0
#define LOAD_MAX_CONC 10000
#define LOAD_MAX_TIMEOUT_NS (600 * FL_NS_PER_SEC)
#define LOAD_MAX_QUEUE 1000000
#define LOAD_DEF_QUEUE 10000
#define LOAD_MAX_HEADERS 64
#define LOAD_MAX_HEADER_BYTES 16384 /* all headers together */
#define LOAD_MAX_BODY (1u << 20)
#define LOAD_MAX_SEND (64u << 10)
#define LOAD_MAX_EXPECT 4096
#define LOAD_MAX_TARGET 2048
#define LOAD_MAX_WINDOWS 216000 /* six hours of 100 ms windows (24 B each) */

#define WINDOW_NS (100 * INT64_C(1000000))
#define RETRY_MIN_NS (10 * INT64_C(1000000))
#define RETRY_MAX_NS (100 * INT64_C(1000000)) /* bounds how late we notice a server is back */
#define MIN_TICK_NS (100 * INT64_C(1000))     /* batch due requests above 10k wake-ups/s */
#define READ_BUF 65536

/* Error kinds: enum id, report name, whether the request's latency is recorded. */
#define LOAD_ERRORS(X)                  \
    X(REFUSED, "refused", false)        \
    X(CONNECT, "connect", false)        \
    X(TIMEOUT, "timeout", true)         \
    X(RESET, "reset", true)             \
    X(CLOSED, "closed", true)           \
    X(BAD_RESPONSE, "bad_response", true) \
    X(HTTP_5XX, "http_5xx", true)       \
    X(HTTP_429, "http_429", true)       \
    X(MISMATCH, "mismatch", true)       \
    X(OVERLOAD, "overload", false)

enum {
#define X(id, name, rec) E_##id,
    LOAD_ERRORS(X)
#undef X
    E_COUNT,
    E_NONE = -1, /* ok */
};

static const char *const err_names[E_COUNT] = {
#define X(id, name, rec) name,
    LOAD_ERRORS(X)
#undef X
};

static const bool err_recorded[E_COUNT] = {
#define X(id, name, rec) rec,
    LOAD_ERRORS(X)
#undef X
};

/* ---- latency histogram ------------------------------------------------------------------- */

/* Log-linear, HDR style: values below 128 us are exact, above that each power of two is split
 * in 64 buckets (under 1.6% error), up to 2^37 us; 2048 counters, fixed memory. */
#define HIST_MAX_SHIFT 30
#define HIST_N (64 * (HIST_MAX_SHIFT + 2))

struct hist {
    uint64_t n;           /* values recorded */
    uint64_t max;         /* largest value, exact (us) */
    uint64_t c[HIST_N];   /* counts per bucket */
};

static unsigned hist_index(uint64_t v)
{
    if (v < 128)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - 6;
    if (shift > HIST_MAX_SHIFT)
        return HIST_N - 1;
    return 64 * shift + (unsigned)(v >> shift);
}

/* The middle of a bucket, so the error is half a bucket either way. */
static uint64_t hist_value(unsigned idx)
{
    if (idx < 128)
        return idx;
    unsigned shift = idx / 64 - 1;
    uint64_t lo = (uint64_t)(idx - 64 * shift) << shift;
    return lo + ((UINT64_C(1) << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->c[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* The p-th percentile (nearest rank) in us; never above the exact max. */
static uint64_t hist_pct(const struct hist *h, double p)
{
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->n), seen = 0;
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HIST_N; i++) {
        seen += h->c[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* ---- state ------------------------------------------------------------------------------- */

struct load_cfg {
    bool tcp;                  /* raw TCP (send/expect) rather than HTTP */
    char target[LOAD_MAX_TARGET + 1]; /* the URL or HOST:PORT as given, for the report */
    char host[256];            /* to resolve */
    char port[8];
    char *req;                 /* http: the whole request; tcp: the bytes to send (owned) */
    size_t req_len;
    char *expect;              /* tcp: the reply must start with this (owned; may be NULL) */
    size_t expect_len;
    bool head;                 /* http: the method is HEAD (its responses have no body) */
    double rate;               /* requests/s; 0 = closed loop */
    int conc;                  /* connections */
    int64_t timeout_ns;        /* per request, from its scheduled time */
    size_t queue;              /* cap on requests waiting for a connection */
};

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY, C_CLOSING };

struct conn {
    uv_tcp_t tcp;              /* data = this; initialised afresh for every connect */
    uv_connect_t creq;
    uv_write_t wreq;
    struct fl_load *l;
    enum conn_state st;
    int idle_pos;              /* index in l->idle, or -1 */
    bool on_retry;             /* on l->retry, waiting for the retry timer */
    bool retry_after_close;    /* on_closed: go on the retry list (error) or reconnect now */
    bool writing;              /* wreq is in flight (a request larger than the socket buffer) */
    int64_t sched_ns;          /* BUSY: the request's scheduled time */
    int64_t deadline_ns;       /* BUSY or CONNECTING: when it times out */
    struct fl_http http;       /* http: the response being framed */
    bool head_done;            /* http: its header block has ended */
    bool until_close;          /* http: its body runs until the server closes */
    bool keep;                 /* http: the connection may be reused after it */
    int hline_no;              /* http: header line number (0: the status line) */
    size_t hlen;               /* http: bytes of the current header line kept in hline */
    char hline[40];            /* http: its start, enough for "connection: close" */
    size_t got;                /* tcp: reply bytes compared with expect so far */
};

struct window {
    int64_t t_ms;              /* start, from t0 */
    uint32_t requests;         /* requests that ended in it */
    uint32_t errors;           /* of which errors */
    int64_t p99_us;            /* -1 when nothing was recorded */
};

struct fl_load {
    struct load_cfg cfg;
    struct sockaddr_storage addr;
    int64_t t0_ns, start_ns, stop_ns;
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t stop_async;
    uv_timer_t sweep;          /* deadlines, queue expiry, window roll-over */
    uv_timer_t retry_timer;    /* reconnects after errors */
    uv_poll_t tick_poll;       /* the open-loop schedule's timerfd */
    int tick_fd;               /* -1 in closed loop */
    bool stopping;
    struct conn *conns;
    struct conn **idle;        /* stack of IDLE connections */
    int n_idle;
    struct conn **retry;       /* DOWN connections waiting for the retry timer */
    int n_retry;
    int64_t retry_ns;          /* current backoff; 0 after a response */
    bool retry_armed;
    bool connect_down;         /* the last connect failed and none succeeded since */
    int down_kind;             /* E_REFUSED or E_CONNECT while connect_down */
    bool scouting;             /* connect_down and one connection is trying */
    uint64_t next_i;           /* open loop: the next request's index */
    int64_t *q;                /* ring of scheduled times waiting for a connection */
    size_t q_head, q_n, q_cap;
    char *rbuf;                /* one read buffer: the loop handles one read at a time */
    uint64_t requests;         /* ended: ok + errors */
    uint64_t ok;
    uint64_t errors;
    uint64_t by_kind[E_COUNT]; /* errors by kind */
    uint64_t status[6];        /* http: final responses by status class (index status/100) */
    struct hist hist;          /* every recorded latency */
    struct hist whist;         /* the current window's */
    int64_t win_idx;           /* the current window */
    uint32_t win_requests;     /* ended in the current window */
    uint32_t win_errors;
    struct window *windows;    /* closed windows, in order */
    size_t n_windows, cap_windows;
    bool windows_truncated;    /* LOAD_MAX_WINDOWS reached (or out of memory): later dropped */
    uint64_t unfinished;       /* queued or in flight when stopped: never counted */
};

/* ---- spec parsing ------------------------------------------------------------------------ */

static int spec_error(const struct fl_doc *doc, const json_t *node, const char *key,
                      struct fl_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int spec_error(const struct fl_doc *doc, const json_t *node, const char *key,
                      struct fl_err *err, const char *fmt, ...)
{
    char msg[FL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (doc)
        return fl_doc_error(doc, node, key, err, "load: %s", msg);
    return fl_err_set(err, EINVAL, "load: %s", msg);
}

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           strchr("!#$%&'*+-.^_`|~", ch);
}

/* No control characters (CR/LF would let a spec inject headers), no spaces unless allowed. */
static bool clean_text(const char *s, size_t n, bool spaces)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || (ch == ' ' && !spaces))
            if (!(spaces && ch == '\t'))
                return false;
    }
    return true;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port; authority of a URL when default_port. */
static bool split_hostport(const char *s, size_t n, const char *default_port, char *host,
                           size_t hcap, char *port)
{
    const char *colon = NULL;
    size_t hs = 0, he;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb)
            return false;
        hs = 1;
        he = (size_t)(rb - s);
        if ((size_t)(rb - s) + 1 < n) {
            if (rb[1] != ':')
                return false;
            colon = rb + 1;
        }
    } else {
        colon = memrchr(s, ':', n);
        if (colon && memchr(s, ':', (size_t)(colon - s)))
            return false; /* a bare IPv6 address needs brackets */
        he = colon ? (size_t)(colon - s) : n;
    }
    if (he <= hs || he - hs >= hcap || !clean_text(s + hs, he - hs, false))
        return false;
    memcpy(host, s + hs, he - hs);
    host[he - hs] = '\0';
    const char *p = colon ? colon + 1 : NULL;
    size_t pn = p ? n - (size_t)(p - s) : 0;
    if (!p || !pn) {
        if (!default_port || p)
            return false;
        snprintf(port, 8, "%s", default_port);
        return true;
    }
    if (pn > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < pn; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v < 1 || v > 65535)
        return false;
    snprintf(port, 8, "%u", v);
    return true;
}

static int get_number(const struct fl_doc *doc, const json_t *spec, const char *key,
                      double min, double max, double *out, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max ||
        isnan(json_number_value(v)))
        return spec_error(doc, spec, key, err, "'%s' must be a number from %.15g to %.15g",
                          key, min, max);
    *out = json_number_value(v);
    return 0;
}

/* A string value (may hold NULs); NULL with *n = 0 if absent. */
static int get_string(const struct fl_doc *doc, const json_t *spec, const char *key,
                      size_t max, const char **out, size_t *n, struct fl_err *err)
{
    json_t *v = json_object_get(spec, key);
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return spec_error(doc, spec, key, err, "'%s' must be a string", key);
    if (json_string_length(v) > max)
        return spec_error(doc, spec, key, err, "'%s' is longer than %zu bytes", key, max);
    *out = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

/* A growing byte buffer for building the request; oom is sticky, checked once at the end. */
struct buf {
    char *p;                   /* NUL-terminated for convenience; may hold NULs (the body) */
    size_t n, cap;             /* bytes used, allocated */
    bool oom;                  /* an append failed: the buffer is incomplete */
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void cfg_free(struct load_cfg *c)
{
    free(c->req);
    free(c->expect);
    c->req = c->expect = NULL;
}

static int parse_http(const struct fl_doc *doc, const json_t *spec, const char *url,
                      struct load_cfg *c, struct fl_err *err)
{
    if (!strncasecmp(url, "https://", 8))
        return spec_error(doc, spec, "http", err, "'http': https is not supported (plain "
                          "http://HOST[:PORT]/PATH only)");
    if (strncasecmp(url, "http://", 7))
        return spec_error(doc, spec, "http", err, "'http' must be a URL like "
                          "http://127.0.0.1:8080/path");
    const char *a = url + 7;
    size_t an = strcspn(a, "/?#");
    if (memchr(a, '@', an))
        return spec_error(doc, spec, "http", err, "'http': user:password@ is not supported");
    if (!split_hostport(a, an, "80", c->host, sizeof(c->host), c->port))
        return spec_error(doc, spec, "http", err, "'http': bad host or port in '%s'", url);
    const char *path = a + an;
    size_t pn = strcspn(path, "#");
    if (!clean_text(path, pn, false))
        return spec_error(doc, spec, "http", err, "'http': the path must not hold spaces or "
                          "control characters");

    const char *method = "GET", *body = NULL;
    size_t mn = 3, bn = 0;
    int rc;
    if ((rc = get_string(doc, spec, "method", 32, &method, &mn, err)) < 0)
        return rc;
    if (!method) {
        method = "GET";
        mn = 3;
    }
    for (size_t i = 0; i < mn; i++)
        if (!is_tchar((unsigned char)method[i]))
            return spec_error(doc, spec, "method", err, "'method' must be a word like GET");
    if (!mn)
        return spec_error(doc, spec, "method", err, "'method' must be a word like GET");
    if ((rc = get_string(doc, spec, "body", LOAD_MAX_BODY, &body, &bn, err)) < 0)
        return rc;
    c->head = mn == 4 && !memcmp(method, "HEAD", 4);

    struct buf b = {0};
    buf_add(&b, method, mn);
    buf_str(&b, " ");
    if (pn && path[0] != '/')
        buf_str(&b, "/"); /* "http://h?q" */
    buf_add(&b, pn ? path : "/", pn ? pn : 1);
    buf_str(&b, " HTTP/1.1\r\n");
    bool has_host = false, has_ua = false;
    json_t *headers = json_object_get(spec, "headers");
    if (headers && !json_is_object(headers)) {
        free(b.p);
        return spec_error(doc, spec, "headers", err, "'headers' must be a map of name: value");
    }
    if (json_object_size(headers) > LOAD_MAX_HEADERS) {
        free(b.p);
        return spec_error(doc, spec, "headers", err, "more than %d headers", LOAD_MAX_HEADERS);
    }
    const char *name;
    json_t *v;
    size_t hbytes = 0;
    json_object_foreach(headers, name, v) {
        size_t nn = strlen(name);
        const char *why = NULL;
        if (!nn)
            why = "an empty header name";
        for (size_t i = 0; i < nn && !why; i++)
            if (!is_tchar((unsigned char)name[i]))
                why = "a header name must be a token (letters, digits, -)";
        if (!why && !json_is_string(v))
            why = "a header value must be a string";
        if (!why && !clean_text(json_string_value(v), json_string_length(v), true))
            why = "a header value must not hold control characters";
        if (!why && (!strcasecmp(name, "content-length") ||
                     !strcasecmp(name, "transfer-encoding")))
            why = "Content-Length and Transfer-Encoding are set from 'body'";
        hbytes += nn + 4 + (json_is_string(v) ? json_string_length(v) : 0);
        if (!why && hbytes > LOAD_MAX_HEADER_BYTES)
            why = "the headers are longer than 16 KiB together";
        if (why) {
            free(b.p);
            return spec_error(doc, headers, name, err, "header '%s': %s", name, why);
        }
        has_host |= !strcasecmp(name, "host");
        has_ua |= !strcasecmp(name, "user-agent");
        buf_add(&b, name, nn);
        buf_str(&b, ": ");
        buf_add(&b, json_string_value(v), json_string_length(v));
        buf_str(&b, "\r\n");
    }
    if (!has_host) {
        bool v6 = strchr(c->host, ':') != NULL;
        char h[300];
        snprintf(h, sizeof(h), "Host: %s%s%s%s%s\r\n", v6 ? "[" : "", c->host, v6 ? "]" : "",
                 strcmp(c->port, "80") ? ":" : "", strcmp(c->port, "80") ? c->port : "");
        buf_str(&b, h);
    }
    if (!has_ua)
        buf_str(&b, "User-Agent: faultline-load\r\n");
    if (body || !strcasecmp(method, "POST") || !strcasecmp(method, "PUT") ||
        !strcasecmp(method, "PATCH")) {
        char cl[48];
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", bn);
        buf_str(&b, cl);
    }
    buf_str(&b, "\r\n");
    if (bn)
        buf_add(&b, body, bn);
    if (b.oom) {
        free(b.p);
        return fl_err_set(err, ENOMEM, "load: out of memory");
    }
    c->req = b.p;
    c->req_len = b.n;
    return 0;
}

static int parse_tcp(const struct fl_doc *doc, const json_t *spec, const char *addr,
                     struct load_cfg *c, struct fl_err *err)
{
    if (!split_hostport(addr, strlen(addr), NULL, c->host, sizeof(c->host), c->port))
        return spec_error(doc, spec, "tcp", err, "'tcp' must be HOST:PORT (or [V6]:PORT), "
                          "got '%s'", addr);
    const char *send, *expect;
    size_t sn, en;
    int rc;
    if ((rc = get_string(doc, spec, "send", LOAD_MAX_SEND, &send, &sn, err)) < 0 ||
        (rc = get_string(doc, spec, "expect", LOAD_MAX_EXPECT, &expect, &en, err)) < 0)
        return rc;
    if (!sn)
        return spec_error(doc, spec, "tcp", err, "a tcp load needs 'send' (the request "
                          "bytes)");
    c->req = malloc(sn);
    c->expect = en ? malloc(en) : NULL;
    if (!c->req || (en && !c->expect)) {
        cfg_free(c);
        return fl_err_set(err, ENOMEM, "load: out of memory");
    }
    memcpy(c->req, send, sn);
    c->req_len = sn;
    if (en)
        memcpy(c->expect, expect, en);
    c->expect_len = en;
    return 0;
}

static int parse_spec(const struct fl_doc *doc, const json_t *spec, struct load_cfg *c,
                      struct fl_err *err)
{
    memset(c, 0, sizeof(*c));
    if (!json_is_object(spec))
        return spec_error(doc, spec, NULL, err, "'load' must be a map with 'http' or 'tcp'");
    static const char *const keys[] = {"http", "tcp", "method", "headers", "body", "send",
                                       "expect", "rate", "concurrency", "timeout", "queue",
                                       NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key))
            i++;
        if (!keys[i])
            return spec_error(doc, spec, key, err, "unknown key '%s' (expected http or tcp, "
                              "method, headers, body, send, expect, rate, concurrency, "
                              "timeout, queue)", key);
    }
    json_t *http = json_object_get(spec, "http"), *tcp = json_object_get(spec, "tcp");
    if (!!http == !!tcp)
        return spec_error(doc, spec, NULL, err, "give exactly one of 'http' (a URL) and 'tcp' "
                          "(HOST:PORT)");
    json_t *target = http ? http : tcp;
    if (!json_is_string(target) || json_string_length(target) > LOAD_MAX_TARGET)
        return spec_error(doc, spec, http ? "http" : "tcp", err, "'%s' must be a string of "
                          "at most %d bytes", http ? "http" : "tcp", LOAD_MAX_TARGET);
    snprintf(c->target, sizeof(c->target), "%s", json_string_value(target));
    if (strlen(c->target) != json_string_length(target))
        return spec_error(doc, spec, http ? "http" : "tcp", err, "NUL in the target");
    c->tcp = tcp != NULL;
    static const char *const http_only[] = {"method", "headers", "body", NULL};
    static const char *const tcp_only[] = {"send", "expect", NULL};
    for (const char *const *k = c->tcp ? http_only : tcp_only; *k; k++)
        if (json_object_get(spec, *k))
            return spec_error(doc, spec, *k, err, "'%s' is for %s load only", *k,
                              c->tcp ? "http" : "tcp");

    double rate = 10, conc = 1, queue = LOAD_DEF_QUEUE;
    int rc;
    if ((rc = get_number(doc, spec, "rate", 0, LOAD_MAX_RATE, &rate, err)) < 0 ||
        (rc = get_number(doc, spec, "concurrency", 1, LOAD_MAX_CONC, &conc, err)) < 0 ||
        (rc = get_number(doc, spec, "queue", 0, LOAD_MAX_QUEUE, &queue, err)) < 0)
        return rc;
    if (conc != floor(conc))
        return spec_error(doc, spec, "concurrency", err, "'concurrency' must be a whole "
                          "number");
    c->rate = rate;
    c->conc = (int)conc;
    c->queue = (size_t)queue;
    c->timeout_ns = FL_NS_PER_SEC;
    json_t *to = json_object_get(spec, "timeout");
    if (to) {
        struct fl_err e2 = {""};
        if (!json_is_string(to) ||
            fl_parse_duration(json_string_value(to), false, &c->timeout_ns, &e2) < 0 ||
            c->timeout_ns <= 0 || c->timeout_ns > LOAD_MAX_TIMEOUT_NS)
            return spec_error(doc, spec, "timeout", err, "'timeout' must be a duration like "
                              "1s or 500ms, above 0 and at most 10m");
    }
    rc = c->tcp ? parse_tcp(doc, spec, c->target, c, err)
                : parse_http(doc, spec, c->target, c, err);
    return rc;
}

int fl_load_check(const struct fl_doc *doc, const json_t *spec, struct fl_err *err)
{
    struct load_cfg c;
    int rc = parse_spec(doc, spec, &c, err);
    cfg_free(&c);
    return rc;
}

/* ---- accounting -------------------------------------------------------------------------- */

static void window_flush(struct fl_load *l)
{
    if (l->n_windows >= LOAD_MAX_WINDOWS) {
        l->windows_truncated = true;
    } else {
        if (l->n_windows == l->cap_windows) {
            size_t cap = l->cap_windows ? l->cap_windows * 2 : 256;
            struct window *w = realloc(l->windows, cap * sizeof(*w));
            if (!w) {
                l->windows_truncated = true;
                goto reset;
            }
            l->windows = w;
            l->cap_windows = cap;
        }
        struct window *w = &l->windows[l->n_windows++];
        w->t_ms = l->win_idx * (WINDOW_NS / 1000000);
        w->requests = l->win_requests;
        w->errors = l->win_errors;
        w->p99_us = l->whist.n ? (int64_t)hist_pct(&l->whist, 99) : -1;
    }
reset:
    if (l->whist.n)
        memset(&l->whist, 0, sizeof(l->whist));
    l->win_requests = l->win_errors = 0;
    l->win_idx++;
}

/* Close every window that ended before now. */
static void window_roll(struct fl_load *l, int64_t now)
{
    int64_t idx = (now - l->t0_ns) / WINDOW_NS;
    while (l->win_idx < idx) {
        /* A long stall would emit every empty window; past the cap there is nothing to keep. */
        if (l->windows_truncated && !l->win_requests) {
            l->win_idx = idx;
            break;
        }
        window_flush(l);
    }
}

/* One request ended: kind E_NONE (ok) or an error; lat_ns from its scheduled time. */
static void account(struct fl_load *l, int kind, int64_t now, int64_t lat_ns)
{
    window_roll(l, now);
    l->requests++;
    l->win_requests++;
    if (kind == E_NONE) {
        l->ok++;
    } else {
        l->errors++;
        l->by_kind[kind]++;
        l->win_errors++;
    }
    if (kind == E_NONE || err_recorded[kind]) {
        uint64_t us = lat_ns > 0 ? (uint64_t)lat_ns / 1000 : 0;
        hist_add(&l->hist, us);
        hist_add(&l->whist, us);
    }
}

/* ---- the wait queue ---------------------------------------------------------------------- */

static bool q_push(struct fl_load *l, int64_t sched)
{
    if (l->q_n >= l->cfg.queue)
        return false;
    if (l->q_n == l->q_cap) {
        size_t cap = l->q_cap ? l->q_cap * 2 : 1024;
        int64_t *q = malloc(cap * sizeof(*q));
        if (!q)
            return false;
        for (size_t i = 0; i < l->q_n; i++)
            q[i] = l->q[(l->q_head + i) % l->q_cap];
        free(l->q);
        l->q = q;
        l->q_cap = cap;
        l->q_head = 0;
    }
    l->q[(l->q_head + l->q_n++) % l->q_cap] = sched;
    return true;
}

static int64_t q_pop(struct fl_load *l)
{
    int64_t s = l->q[l->q_head];
    l->q_head = (l->q_head + 1) % l->q_cap;
    l->q_n--;
    return s;
}

/* Queued requests older than the timeout end as timeouts (oldest first: the queue is FIFO). */
static void q_expire(struct fl_load *l, int64_t now)
{
    while (l->q_n && now - l->q[l->q_head] >= l->cfg.timeout_ns) {
        int64_t s = q_pop(l);
        account(l, E_TIMEOUT, now, now - s);
    }
}

/* ---- connections ------------------------------------------------------------------------- */

static void conn_connect(struct conn *c);
static void send_request(struct conn *c, int64_t sched);

static void idle_remove(struct conn *c)
{
    struct fl_load *l = c->l;
    if (c->idle_pos < 0)
        return;
    struct conn *last = l->idle[--l->n_idle];
    l->idle[c->idle_pos] = last;
    last->idle_pos = c->idle_pos;
    c->idle_pos = -1;
}

static void arm_retry(struct fl_load *l);

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct fl_load *l = c->l;
    c->st = C_DOWN;
    if (l->stopping)
        return;
    if (c->retry_after_close) {
        /* Consecutive errors double the wait (10 to 100 ms); a response resets it. */
        l->retry_ns = l->retry_ns ? l->retry_ns * 2 : RETRY_MIN_NS;
        if (l->retry_ns > RETRY_MAX_NS)
            l->retry_ns = RETRY_MAX_NS;
        c->on_retry = true;
        l->retry[l->n_retry++] = c;
        arm_retry(l);
    } else {
        conn_connect(c);
    }
}

/* error: reconnect after the backoff; otherwise (a graceful close) at once. */
static void conn_close(struct conn *c, bool error)
{
    idle_remove(c);
    c->st = C_CLOSING;
    c->retry_after_close = error;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void fail(struct conn *c, int kind)
{
    int64_t now = fl_mono_ns();
    account(c->l, kind, now, now - c->sched_ns);
    conn_close(c, true);
}

/* A connection is free: the next queued request, the next closed-loop one, or the idle stack. */
static void conn_ready(struct conn *c)
{
    struct fl_load *l = c->l;
    c->st = C_IDLE;
    if (l->stopping)
        return;
    if (l->q_n) {
        int64_t now = fl_mono_ns();
        q_expire(l, now);
        if (l->q_n) {
            send_request(c, q_pop(l));
            return;
        }
    }
    if (l->cfg.rate == 0) {
        send_request(c, fl_mono_ns());
        return;
    }
    c->idle_pos = l->n_idle;
    l->idle[l->n_idle++] = c;
}

static void complete(struct conn *c, int kind)
{
    struct fl_load *l = c->l;
    int64_t now = fl_mono_ns();
    account(l, kind, now, now - c->sched_ns);
    l->retry_ns = 0; /* the server answers: the next error starts the backoff afresh */
    if (c->writing) /* answered before it read the whole request: wreq is still busy */
        c->keep = false;
    if (c->keep)
        conn_ready(c);
    else
        conn_close(c, false);
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    if (status < 0 && status != UV_ECANCELED && c->st == C_BUSY)
        fail(c, E_RESET);
}

static void send_request(struct conn *c, int64_t sched)
{
    struct fl_load *l = c->l;
    c->st = C_BUSY;
    c->sched_ns = sched;
    c->deadline_ns = sched + l->cfg.timeout_ns;
    c->got = 0;
    c->keep = true;
    if (!l->cfg.tcp) {
        fl_http_init(&c->http, true);
        c->head_done = c->until_close = false;
        c->hline_no = 0;
        c->hlen = 0;
    }
    uv_buf_t b = uv_buf_init(l->cfg.req, (unsigned)l->cfg.req_len);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r == (int)l->cfg.req_len)
        return;
    if (r == UV_EAGAIN)
        r = 0;
    if (r < 0) {
        fail(c, r == UV_ECONNRESET || r == UV_EPIPE ? E_RESET : E_CLOSED);
        return;
    }
    /* The rest waits for the socket; the request bytes live as long as the load. */
    b = uv_buf_init(l->cfg.req + r, (unsigned)(l->cfg.req_len - (size_t)r));
    c->wreq.data = c;
    r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0)
        fail(c, E_RESET);
    else
        c->writing = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    *buf = uv_buf_init(c->l->rbuf, READ_BUF);
}

/* Remember "Connection: close" (and HTTP/1.0 without keep-alive) from the header bytes. */
static void scan_head(struct conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch != '\n') {
            if (ch != '\r' && c->hlen < sizeof(c->hline) - 1)
                c->hline[c->hlen++] = ch;
            continue;
        }
        c->hline[c->hlen] = '\0';
        if (c->hline_no == 0) {
            if (!strncmp(c->hline, "HTTP/1.0", 8))
                c->keep = false;
        } else if (!strncasecmp(c->hline, "connection:", 11)) {
            const char *v = c->hline + 11;
            if (strcasestr(v, "close"))
                c->keep = false;
            else if (strcasestr(v, "keep-alive"))
                c->keep = true;
        }
        c->hline_no++;
        c->hlen = 0;
    }
}

/* A final response ended: 429 and 5xx are errors, anything else is an answer. */
static void http_done(struct conn *c)
{
    int s = c->http.status;
    if (s >= 100 && s < 600)
        c->l->status[s / 100]++;
    complete(c, s == 429 ? E_HTTP_429 : s >= 500 ? E_HTTP_5XX : E_NONE);
}

static void http_read(struct conn *c, const char *p, size_t n)
{
    struct fl_load *l = c->l;
    size_t off = 0;
    for (;;) {
        enum fl_http_ev ev;
        size_t k = fl_http_feed(&c->http, p + off, n - off, &ev);
        if (c->http.began && !c->head_done && ev != FL_HTTP_BEGIN)
            scan_head(c, p + off, k);
        off += k;
        switch (ev) {
        case FL_HTTP_MORE:
            return;
        case FL_HTTP_BEGIN:
            c->http.head_req = l->cfg.head;
            continue;
        case FL_HTTP_HEAD_DONE: {
            c->head_done = true;
            int s = c->http.status;
            c->until_close = !c->http.chunked && !c->http.has_len && !l->cfg.head &&
                             s >= 200 && s != 204 && s != 304;
            continue;
        }
        case FL_HTTP_END:
            if (!fl_http_final(&c->http)) { /* 1xx interim: the real response follows */
                c->head_done = false;
                c->hline_no = 0;
                c->hlen = 0;
                continue;
            }
            if (off < n) /* bytes nobody asked for: the stream cannot be trusted any more */
                c->keep = false;
            http_done(c);
            return;
        case FL_HTTP_ERROR:
            fail(c, E_BAD_RESPONSE);
            return;
        }
    }
}

static void tcp_read(struct conn *c, const char *p, size_t n)
{
    struct fl_load *l = c->l;
    if (!l->cfg.expect_len) { /* any reply will do; the rest of this read goes with it */
        complete(c, E_NONE);
        return;
    }
    size_t want = l->cfg.expect_len - c->got, k = n < want ? n : want;
    if (memcmp(p, l->cfg.expect + c->got, k) != 0) {
        /* The server answered, just not as expected: keep the connection (no backoff). */
        complete(c, E_MISMATCH);
        return;
    }
    c->got += k;
    if (c->got == l->cfg.expect_len)
        complete(c, E_NONE);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    struct fl_load *l = c->l;
    if (nread == 0 || c->st == C_CLOSING)
        return;
    if (nread < 0) {
        if (c->st != C_BUSY) {
            conn_close(c, nread != UV_EOF); /* an idle keep-alive connection timed out */
        } else if (nread == UV_EOF && c->head_done && c->until_close) {
            c->keep = false;
            http_done(c);
        } else {
            fail(c, nread == UV_EOF ? E_CLOSED : nread == UV_ETIMEDOUT ? E_TIMEOUT : E_RESET);
        }
        return;
    }
    if (c->st != C_BUSY) {
        if (!l->cfg.tcp) /* HTTP bytes with no request: out of step, start afresh */
            conn_close(c, false);
        return; /* tcp: the tail of an earlier reply */
    }
    if (l->cfg.tcp)
        tcp_read(c, buf->base, (size_t)nread);
    else
        http_read(c, buf->base, (size_t)nread);
}

static void connect_all(struct fl_load *l)
{
    while (l->n_retry) {
        struct conn *c = l->retry[--l->n_retry];
        c->on_retry = false;
        conn_connect(c);
    }
}

static void connect_failed(struct conn *c, int status)
{
    struct fl_load *l = c->l;
    int kind = status == UV_ECONNREFUSED ? E_REFUSED : status == UV_ETIMEDOUT ? E_TIMEOUT
                                                                              : E_CONNECT;
    int64_t now = fl_mono_ns();
    l->scouting = false;
    if (kind != E_TIMEOUT) {
        /* Nobody can get through: requests fail now, as the server's clients would. */
        l->connect_down = true;
        l->down_kind = kind;
        for (; l->q_n; q_pop(l))
            account(l, kind, now, 0);
    }
    if (l->cfg.rate == 0) /* closed loop: each attempt is the request that would follow */
        account(l, kind, now, now - c->deadline_ns + l->cfg.timeout_ns);
    c->st = C_CLOSING;
    c->retry_after_close = true;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct fl_load *l = c->l;
    if (status == UV_ECANCELED || c->st != C_CONNECTING)
        return;
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    if (l->connect_down) {
        l->connect_down = l->scouting = false;
        connect_all(l); /* the server is back: everyone reconnects now */
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0) {
        connect_failed(c, r);
        return;
    }
    conn_ready(c);
}

static void conn_connect(struct conn *c)
{
    struct fl_load *l = c->l;
    if (l->stopping)
        return;
    if (l->connect_down && l->scouting) { /* one scout at a time against a dead server */
        c->on_retry = true;
        l->retry[l->n_retry++] = c;
        arm_retry(l);
        return;
    }
    if (l->connect_down)
        l->scouting = true;
    int r = uv_tcp_init(&l->loop, &c->tcp);
    if (r < 0) { /* out of memory or descriptors before any socket exists */
        l->scouting = false;
        c->on_retry = true;
        l->retry[l->n_retry++] = c;
        arm_retry(l);
        return;
    }
    c->tcp.data = c;
    c->creq.data = c;
    c->st = C_CONNECTING;
    c->deadline_ns = fl_mono_ns() + l->cfg.timeout_ns;
    r = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&l->addr, on_connect);
    if (r < 0)
        connect_failed(c, r);
}

static void on_retry_timer(uv_timer_t *t)
{
    struct fl_load *l = t->data;
    l->retry_armed = false;
    if (!l->n_retry)
        return;
    if (l->connect_down) {
        struct conn *c = l->retry[--l->n_retry];
        c->on_retry = false;
        conn_connect(c);
        if (l->n_retry)
            arm_retry(l);
    } else {
        connect_all(l);
    }
}

static void arm_retry(struct fl_load *l)
{
    if (l->retry_armed || l->stopping)
        return;
    int64_t ns = l->retry_ns ? l->retry_ns : RETRY_MIN_NS;
    l->retry_armed = true;
    uv_timer_start(&l->retry_timer, on_retry_timer, (uint64_t)((ns + 999999) / 1000000), 0);
}

/* ---- the schedule ------------------------------------------------------------------------ */

static int64_t sched_of(const struct fl_load *l, uint64_t i)
{
    return l->start_ns + (int64_t)((double)i * 1e9 / l->cfg.rate);
}

static void dispatch(struct fl_load *l, int64_t sched, int64_t now)
{
    if (l->n_idle) {
        struct conn *c = l->idle[--l->n_idle];
        c->idle_pos = -1;
        send_request(c, sched);
    } else if (l->connect_down) {
        account(l, l->down_kind, now, 0);
    } else if (!q_push(l, sched)) {
        account(l, E_OVERLOAD, now, 0);
    }
}

static void arm_tick(struct fl_load *l, int64_t at)
{
    struct itimerspec its = {{0, 0}, {at / FL_NS_PER_SEC, at % FL_NS_PER_SEC}};
    (void)timerfd_settime(l->tick_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_tick(uv_poll_t *p, int status, int events)
{
    struct fl_load *l = p->data;
    /* No read(2) of the expiration count: arm_tick's timerfd_settime below clears it, one
     * syscall less per tick (this path runs once per request at moderate rates). */
    int64_t now = fl_mono_ns();
    for (int64_t s = sched_of(l, l->next_i); s <= now && !l->stopping;
         s = sched_of(l, l->next_i)) {
        l->next_i++;
        dispatch(l, s, now);
    }
    int64_t next = sched_of(l, l->next_i);
    arm_tick(l, next > now + MIN_TICK_NS ? next : now + MIN_TICK_NS);
}

static void on_sweep(uv_timer_t *t)
{
    struct fl_load *l = t->data;
    int64_t now = fl_mono_ns();
    window_roll(l, now);
    q_expire(l, now);
    for (int i = 0; i < l->cfg.conc; i++) {
        struct conn *c = &l->conns[i];
        if (c->st == C_BUSY && now >= c->deadline_ns) {
            fail(c, E_TIMEOUT);
        } else if (c->st == C_CONNECTING && now >= c->deadline_ns) {
            /* A connect that hangs (SYN dropped): the requests waiting for it time out in
             * the queue; in closed loop, the attempt is the request. */
            if (l->cfg.rate == 0)
                account(l, E_TIMEOUT, now, l->cfg.timeout_ns);
            l->scouting = false;
            conn_close(c, true);
        }
    }
}

/* ---- thread and lifecycle ---------------------------------------------------------------- */

static void on_stop(uv_async_t *a)
{
    struct fl_load *l = a->data;
    l->stopping = true;
    l->stop_ns = fl_mono_ns();
    l->unfinished = l->q_n;
    window_roll(l, l->stop_ns);
    if (l->win_requests)
        window_flush(l); /* the last, partial window */
    uv_close((uv_handle_t *)&l->stop_async, NULL);
    uv_close((uv_handle_t *)&l->sweep, NULL);
    uv_close((uv_handle_t *)&l->retry_timer, NULL);
    if (l->tick_fd >= 0)
        uv_close((uv_handle_t *)&l->tick_poll, NULL);
    for (int i = 0; i < l->cfg.conc; i++) {
        struct conn *c = &l->conns[i];
        if (c->st == C_CONNECTING || c->st == C_IDLE || c->st == C_BUSY) {
            l->unfinished += c->st == C_BUSY;
            idle_remove(c);
            c->st = C_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_closed);
        }
    }
}

static void *load_thread(void *arg)
{
    struct fl_load *l = arg;
    /* Signals belong to the caller's thread; a write to a reset socket must not raise
     * SIGPIPE in the process (it stays pending here, harmlessly). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (int i = 0; i < l->cfg.conc; i++)
        conn_connect(&l->conns[i]);
    if (l->tick_fd >= 0)
        arm_tick(l, l->start_ns);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void load_free(struct fl_load *l)
{
    if (!l)
        return;
    cfg_free(&l->cfg);
    if (l->tick_fd >= 0)
        close(l->tick_fd);
    free(l->conns);
    free(l->idle);
    free(l->retry);
    free(l->q);
    free(l->rbuf);
    free(l->windows);
    free(l);
}

int fl_load_start(const json_t *spec, int64_t t0_ns, struct fl_load **out, struct fl_err *err)
{
    *out = NULL;
    struct fl_load *l = calloc(1, sizeof(*l));
    if (!l)
        return fl_err_set(err, ENOMEM, "load: out of memory");
    l->tick_fd = -1;
    int rc = parse_spec(NULL, spec, &l->cfg, err);
    if (rc < 0) {
        load_free(l);
        return rc;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(l->cfg.host, l->cfg.port, &hints, &ai);
    if (g != 0 || !ai) {
        fl_err_set(err, EHOSTUNREACH, "load: cannot resolve '%s': %s", l->cfg.host,
                   g ? gai_strerror(g) : "no address");
        load_free(l);
        return -EHOSTUNREACH;
    }
    memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    int n = l->cfg.conc;
    l->conns = calloc((size_t)n, sizeof(*l->conns));
    l->idle = calloc((size_t)n, sizeof(*l->idle));
    l->retry = calloc((size_t)n, sizeof(*l->retry));
    l->rbuf = malloc(READ_BUF);
    if (!l->conns || !l->idle || !l->retry || !l->rbuf) {
        load_free(l);
        return fl_err_set(err, ENOMEM, "load: out of memory");
    }
    for (int i = 0; i < n; i++) {
        l->conns[i].l = l;
        l->conns[i].idle_pos = -1;
    }
    if (l->cfg.rate > 0) {
        l->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (l->tick_fd < 0) {
            rc = -errno;
            load_free(l);
            return fl_err_set(err, -rc, "load: timerfd_create: %s", strerror(-rc));
        }
    }
    if ((rc = uv_loop_init(&l->loop)) < 0) {
        load_free(l);
        return fl_err_set(err, -rc, "load: uv_loop_init: %s", uv_strerror(rc));
    }
    uv_async_init(&l->loop, &l->stop_async, on_stop);
    l->stop_async.data = l;
    uv_timer_init(&l->loop, &l->sweep);
    l->sweep.data = l;
    uv_timer_init(&l->loop, &l->retry_timer);
    l->retry_timer.data = l;
    if (l->tick_fd >= 0) {
        uv_poll_init(&l->loop, &l->tick_poll, l->tick_fd);
        l->tick_poll.data = l;
        uv_poll_start(&l->tick_poll, UV_READABLE, on_tick);
    }
    /* Timeouts are checked to within a twentieth of their length (5 to 100 ms). */
    int64_t sweep_ms = l->cfg.timeout_ns / 20 / 1000000;
    sweep_ms = sweep_ms < 5 ? 5 : sweep_ms > 100 ? 100 : sweep_ms;
    uv_timer_start(&l->sweep, on_sweep, (uint64_t)sweep_ms, (uint64_t)sweep_ms);

    l->start_ns = fl_mono_ns();
    l->t0_ns = t0_ns > 0 && t0_ns <= l->start_ns ? t0_ns : l->start_ns;
    l->win_idx = (l->start_ns - l->t0_ns) / WINDOW_NS;
    if ((rc = pthread_create(&l->thread, NULL, load_thread, l)) != 0) {
        uv_close((uv_handle_t *)&l->stop_async, NULL);
        uv_close((uv_handle_t *)&l->sweep, NULL);
        uv_close((uv_handle_t *)&l->retry_timer, NULL);
        if (l->tick_fd >= 0)
            uv_close((uv_handle_t *)&l->tick_poll, NULL);
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
        load_free(l);
        return fl_err_set(err, rc, "load: pthread_create: %s", strerror(rc));
    }
    *out = l;
    return 0;
}

/* ---- the report -------------------------------------------------------------------------- */

static json_t *ms_or_null(double us, bool have)
{
    return have ? json_real(round(us) / 1000.0) : json_null();
}

json_t *fl_load_stop(struct fl_load *l)
{
    if (!l)
        return NULL;
    uv_async_send(&l->stop_async);
    pthread_join(l->thread, NULL);
    uint64_t unfinished = l->unfinished;
    (void)uv_loop_close(&l->loop);

    const struct load_cfg *c = &l->cfg;
    double secs = (double)(l->stop_ns - l->start_ns) / 1e9;
    json_t *kinds = json_object();
    for (int k = 0; k < E_COUNT; k++)
        json_object_set_new(kinds, err_names[k], json_integer((json_int_t)l->by_kind[k]));
    bool have = l->hist.n > 0;
    json_t *lat = json_pack("{s:o, s:o, s:o, s:o}",
                            "p50", ms_or_null((double)hist_pct(&l->hist, 50), have),
                            "p90", ms_or_null((double)hist_pct(&l->hist, 90), have),
                            "p99", ms_or_null((double)hist_pct(&l->hist, 99), have),
                            "max", ms_or_null((double)l->hist.max, have));
    json_t *wins = json_array();
    for (size_t i = 0; i < l->n_windows; i++) {
        const struct window *w = &l->windows[i];
        json_array_append_new(wins, json_pack("{s:I, s:I, s:I, s:o}", "t_ms", (json_int_t)w->t_ms,
                                              "requests", (json_int_t)w->requests,
                                              "errors", (json_int_t)w->errors, "p99_ms",
                                              ms_or_null((double)w->p99_us, w->p99_us >= 0)));
    }
    /* Whole rates print as integers, as docs/results-format.md shows them. */
    json_t *rate = c->rate == floor(c->rate) ? json_integer((json_int_t)c->rate)
                                             : json_real(c->rate);
    json_t *r = json_pack(
        "{s:s, s:s, s:o, s:i, s:I, s:I, s:I, s:o, s:o, s:o, s:f, s:I, s:I, s:I, s:o, s:o, s:b}",
        "kind", c->tcp ? "tcp" : "http", "target", c->target, "rate", rate,
        "concurrency", c->conc, "requests", (json_int_t)l->requests, "ok", (json_int_t)l->ok,
        "errors", (json_int_t)l->errors,
        "error_rate", l->requests ? json_real((double)l->errors / (double)l->requests)
                                  : json_null(),
        "errors_by_kind", kinds,
        "status", c->tcp ? json_null()
                         : json_pack("{s:I, s:I, s:I, s:I, s:I}",
                                     "1xx", (json_int_t)l->status[1],
                                     "2xx", (json_int_t)l->status[2],
                                     "3xx", (json_int_t)l->status[3],
                                     "4xx", (json_int_t)l->status[4],
                                     "5xx", (json_int_t)l->status[5]),
        "achieved_rate", secs > 0 ? round((double)l->requests / secs * 10) / 10 : 0.0,
        "duration_ms", (json_int_t)llround(secs * 1000), "timeout_ms",
        (json_int_t)(c->timeout_ns / 1000000), "unfinished", (json_int_t)unfinished,
        "latency_ms", lat, "windows", wins, "windows_truncated", l->windows_truncated);
    load_free(l);
    return r;
}
