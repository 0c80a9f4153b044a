/* SPDX-License-Identifier: MIT */
/*
 * probes/http.c - one HTTP request, judged by status, body, a JSON field and latency.
 *
 * The health endpoint is the steady-state signal of most services, so this is the probe most
 * experiments run continuously. The libcurl easy handle lives in the state so that checks
 * reuse its connection (keep-alive, as a real client would) and its DNS cache; each instance
 * is used by one thread at a time (probe.h), which is all an easy handle asks.
 *
 * Redirects are not followed unless `follow: true`: a health check redirected to a login page
 * answering 200 is not healthy. Latency is curl's total time for the request. The body kept
 * for matching is capped (HTTP_BODY_MAX); a longer body is still read, so the connection
 * stays reusable, but a match over it is refused rather than guessed.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

#define HTTP_BODY_MAX (1u << 20)
#define HTTP_STATUS_MAX 16

struct http_status_rule {
    int lo, hi;               /* inclusive range: 200..200, or 200..299 for "2xx" */
};

struct http_state {
    char *url;
    char *method;             /* GET default; POST when a body is given */
    char *body;               /* request body, or NULL */
    struct curl_slist *headers;
    struct http_status_rule status[HTTP_STATUS_MAX];
    size_t n_status;
    char status_text[64];     /* as written, for details: "200", "2xx", "[200, 204]" */
    struct fl_pu_match body_match;
    struct fl_pu_json_cond json;
    int64_t max_latency_ns;   /* 0: no bound beyond the timeout */
    bool follow;
    bool insecure;            /* skip TLS verification (self-signed test services) */
    CURL *curl;               /* kept between checks for keep-alive; made on first check */
    char *resp;               /* response body buffer, HTTP_BODY_MAX + 1 */
    size_t resp_len;
    bool resp_over;
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_global_init(void)
{
    /* Not thread-safe in older libcurl, so once, before the first handle. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void http_free(void *p)
{
    struct http_state *s = p;
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->headers);
    free(s->url);
    free(s->method);
    free(s->body);
    free(s->resp);
    fl_pu_match_free(&s->body_match);
    fl_pu_json_cond_free(&s->json);
    free(s);
}

/* One status item: 200, "200", "2xx". */
static bool status_item(const json_t *v, struct http_status_rule *r)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 100 || n > 599)
            return false;
        r->lo = r->hi = (int)n;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *t = json_string_value(v);
    if (strlen(t) == 3 && t[0] >= '1' && t[0] <= '5' &&
        (!strcmp(t + 1, "xx") || !strcmp(t + 1, "XX"))) {
        r->lo = (t[0] - '0') * 100;
        r->hi = r->lo + 99;
        return true;
    }
    char *end;
    long n = strtol(t, &end, 10);
    if (!*t || *end || n < 100 || n > 599)
        return false;
    r->lo = r->hi = (int)n;
    return true;
}

static int parse_status(const struct fl_doc *doc, const json_t *spec, struct http_state *s,
                        struct fl_err *err)
{
    json_t *v = json_object_get(spec, "status");
    static const char *msg = "'status' must be an integer 100..599, a class like \"2xx\", or a "
                             "list of those";
    if (!v) {
        s->status[0] = (struct http_status_rule){200, 299};
        s->n_status = 1;
        snprintf(s->status_text, sizeof(s->status_text), "2xx");
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        if (json_array_size(v) == 0 || json_array_size(v) > HTTP_STATUS_MAX)
            return fl_doc_error(doc, spec, "status", err, "%s (1 to 16 items)", msg);
        json_array_foreach(v, i, x) {
            if (!status_item(x, &s->status[i]))
                return fl_doc_error(doc, x, NULL, err, "%s", msg);
        }
        s->n_status = json_array_size(v);
    } else {
        if (!status_item(v, &s->status[0]))
            return fl_doc_error(doc, spec, "status", err, "%s", msg);
        s->n_status = 1;
    }
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(s->status_text, sizeof(s->status_text), "%s", t ? t : "?");
    free(t);
    /* "\"2xx\"" reads better without its quotes */
    if (json_is_string(v))
        snprintf(s->status_text, sizeof(s->status_text), "%s", json_string_value(v));
    return 0;
}

static int parse_headers(const struct fl_doc *doc, const json_t *spec, struct http_state *s,
                         struct fl_err *err)
{
    json_t *v = json_object_get(spec, "headers");
    if (!v)
        return 0;
    if (!json_is_object(v))
        return fl_doc_error(doc, spec, "headers", err,
                            "'headers' must be a mapping of Name: value");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!*k || strpbrk(k, ": \t\r\n"))
            return fl_doc_error(doc, v, k, err, "'headers': bad header name '%s'", k);
        char num[32];
        const char *val = json_is_string(x) ? json_string_value(x) : NULL;
        if (json_is_integer(x))
            val = (snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(x)), num);
        if (!val || strpbrk(val, "\r\n"))
            return fl_doc_error(doc, v, k, err, "'headers': '%s' must be a one-line string",
                                k);
        char *line;
        if (asprintf(&line, *val ? "%s: %s" : "%s;", k, val) < 0)
            return fl_err_set(err, ENOMEM, "out of memory");
        struct curl_slist *l = curl_slist_append(s->headers, line);
        free(line);
        if (!l)
            return fl_err_set(err, ENOMEM, "out of memory");
        s->headers = l;
    }
    return 0;
}

static int http_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    static const char *const keys[] = {"http", "method", "headers", "body", "status",
                                       "body_match", "json", "max_latency", "follow",
                                       "insecure", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct http_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    s->json.exists = -1;
    if ((r = fl_pu_get_string(doc, spec, "http", &s->url, err)) < 0)
        goto fail;
    if (r == 0 || (strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8))) {
        r = fl_doc_error(doc, spec, "http", err,
                         "'http' must be a URL like http://127.0.0.1:8080/health");
        goto fail;
    }
    if ((r = fl_pu_get_string(doc, spec, "method", &s->method, err)) < 0 ||
        (r = fl_pu_get_string(doc, spec, "body", &s->body, err)) < 0)
        goto fail;
    if (s->method) {
        for (char *c = s->method; *c; c++) {
            if (*c < 'A' || *c > 'Z') {
                r = fl_doc_error(doc, spec, "method", err,
                                 "'method' must be an upper-case HTTP method like GET");
                goto fail;
            }
        }
    }
    if ((r = parse_headers(doc, spec, s, err)) < 0 || (r = parse_status(doc, spec, s, err)) < 0 ||
        (r = fl_pu_get_match(doc, spec, "body_match", &s->body_match, err)) < 0 ||
        (r = fl_pu_get_json_cond(doc, spec, "json", &s->json, err)) < 0 ||
        (r = fl_pu_get_duration(doc, spec, "max_latency", &s->max_latency_ns, err)) < 0 ||
        (r = fl_pu_get_bool(doc, spec, "follow", &s->follow, err)) < 0 ||
        (r = fl_pu_get_bool(doc, spec, "insecure", &s->insecure, err)) < 0)
        goto fail;
    *state = s;
    return 0;
fail:
    http_free(s);
    return r;
}

static size_t http_write(char *data, size_t size, size_t n, void *user)
{
    struct http_state *s = user;
    size_t len = size * n, room = HTTP_BODY_MAX - s->resp_len;
    size_t take = len < room ? len : room;
    memcpy(s->resp + s->resp_len, data, take);
    s->resp_len += take;
    if (take < len)
        s->resp_over = true;
    return len;
}

static bool status_ok(const struct http_state *s, long code)
{
    for (size_t i = 0; i < s->n_status; i++)
        if (code >= s->status[i].lo && code <= s->status[i].hi)
            return true;
    return false;
}

static int http_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                      struct fl_probe_result *out)
{
    struct http_state *s = state;
    int64_t t0 = fl_mono_ns();
    char errbuf[CURL_ERROR_SIZE] = "", tbuf[32], tbuf2[32];
    (void)ctx;
    out->ok = false;
    pthread_once(&http_once, http_global_init);
    if (!s->resp && !(s->resp = malloc(HTTP_BODY_MAX + 1))) {
        fl_pu_detail(out, "out of memory");
        return -ENOMEM;
    }
    if (!s->curl && !(s->curl = curl_easy_init())) {
        fl_pu_detail(out, "curl_easy_init failed");
        return -ENOMEM;
    }
    CURL *c = s->curl;
    s->resp_len = 0;
    s->resp_over = false;
    long tmo = (long)((timeout_ns + 999999) / 1000000);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo > 0 ? tmo : 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, tmo > 0 ? tmo : 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, s->follow ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "faultline-probe");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* whatever curl can decode */
    if (s->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (s->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, s->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(s->body));
    }
    const char *method = s->method ? s->method : s->body ? "POST" : "GET";
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, s->body ? "POST" : "GET"))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    if (!s->body && strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);

    CURLcode rc = curl_easy_perform(c);
    curl_off_t total_us = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    out->latency_ns = total_us > 0 ? (int64_t)total_us * 1000 : fl_mono_ns() - t0;
    out->value = json_object();
    json_object_set_new(out->value, "latency_ms",
                        json_real((double)out->latency_ns / 1e6));
    if (rc != CURLE_OK) {
        long oserr = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
        if (rc == CURLE_OPERATION_TIMEDOUT)
            fl_pu_detail(out, "timed out after %s",
                         fl_format_duration(timeout_ns, tbuf, sizeof(tbuf)));
        else if (rc == CURLE_COULDNT_CONNECT && oserr)
            fl_pu_detail(out, "connect: %s", strerror((int)oserr));
        else
            fl_pu_detail(out, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        json_object_set_new(out->value, "error", json_string(out->detail));
        /* A failed transfer may leave the connection in any state: start the next afresh. */
        curl_easy_cleanup(c);
        s->curl = NULL;
        return 0;
    }
    json_object_set_new(out->value, "status", json_integer(code));
    s->resp[s->resp_len] = '\0';
    json_t *observed = NULL;
    char cond[128];
    if (!status_ok(s, code)) {
        char line[120] = "";
        fl_pu_first_line(s->resp, line, sizeof(line));
        fl_pu_detail(out, "status %ld, expected %s%s%s", code, s->status_text,
                     line[0] ? ": " : "", line);
    } else if (s->max_latency_ns && out->latency_ns > s->max_latency_ns) {
        fl_pu_detail(out, "latency %s over %s",
                     fl_format_duration(out->latency_ns, tbuf, sizeof(tbuf)),
                     fl_format_duration(s->max_latency_ns, tbuf2, sizeof(tbuf2)));
    } else if ((s->body_match.text || s->json.enabled) && s->resp_over) {
        fl_pu_detail(out, "body larger than 1MiB, too large to check");
    } else if (!fl_pu_match_test(&s->body_match, s->resp, s->resp_len)) {
        fl_pu_match_describe(&s->body_match, cond, sizeof(cond));
        fl_pu_detail(out, "body does not %s", cond);
    } else if (s->json.enabled && !fl_pu_json_cond_eval(&s->json, s->resp, s->resp_len,
                                                        &observed, out->detail,
                                                        sizeof(out->detail))) {
        /* detail filled */
    } else {
        out->ok = true;
    }
    if (observed)
        json_object_set_new(out->value, "json", observed);
    json_object_set_new(out->value, "body",
                        fl_pu_json_text(s->resp, s->resp_len, FL_PU_VALUE_TEXT_MAX));
    return 0;
}

static void http_describe(const void *state, char *buf, size_t len)
{
    const struct http_state *s = state;
    snprintf(buf, len, "%s %s", s->method ? s->method : s->body ? "POST" : "GET", s->url);
}

const struct fl_probe_ops fl_probe_http = {
    .name = "http",
    .summary = "an HTTP request: status, body match, a JSON field, latency",
    .parse = http_parse,
    .check = http_check,
    .describe = http_describe,
    .free = http_free,
};
