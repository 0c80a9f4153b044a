/* SPDX-License-Identifier: MIT */
/*
 * cmd_proxyctl.c - the client half of `faultline proxy`: list, create, toggle, delete, inspect
 * and toxic add|update|remove|stats against a running proxy's HTTP API, in the spirit of
 * toxiproxy-cli (stats is faultline's own: it needs a faultline proxy).
 *
 * Why a hand-written HTTP/1.1 client: the API is on loopback and every exchange is one small
 * request with `Connection: close` and a Content-Length reply, so a socket, a write and a read
 * to EOF are enough, and faultline needs no libcurl. It speaks only to the Toxiproxy API, so
 * it works against a real toxiproxy-server too.
 *
 * Exit codes: 0 done, 1 the API refused (the line says `HTTP <status>: <error>` as the Go
 * client words it), 2 usage error, 3 the API cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "err.h"
#include "log.h"
#include "toxic.h"
#include "units.h"

#define CTL_DEFAULT_API "127.0.0.1:8474"
#define CTL_TIMEOUT_S 30           /* the server answers within a loop turn; this is generous */
#define CTL_REPLY_MAX (64 << 20)   /* a list of 1024 proxies with 64 toxics each fits easily */

bool fl_proxyctl_is_command(const char *name);
int fl_proxyctl(int argc, char **argv);

struct ctl {
    char host[256];
    char port[16];
    const char *api;               /* as given, for messages */
    bool json;                     /* --json: print the API's body as is */
};

struct reply {
    int status;
    char *body;                    /* NUL-terminated */
    size_t len;
};

/* ---- HTTP ---------------------------------------------------------------------------------- */

static int parse_api(const char *spec, struct ctl *c)
{
    c->api = spec;
    if (!strncmp(spec, "http://", 7)) /* toxiproxy-cli's -host takes a URL */
        spec += 7;
    size_t n = strlen(spec);
    if (n && spec[n - 1] == '/')
        n--;
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (spec[i] == ':')
            colon = spec + i;
    if (!colon || colon == spec || (size_t)(spec + n - colon - 1) >= sizeof(c->port) ||
        colon + 1 == spec + n)
        return -1;
    const char *h = spec, *he = colon;
    if (*h == '[' && he[-1] == ']') { /* [::1]:8474 */
        h++;
        he--;
    }
    if (he <= h || (size_t)(he - h) >= sizeof(c->host))
        return -1;
    memcpy(c->host, h, (size_t)(he - h));
    c->host[he - h] = '\0';
    memcpy(c->port, colon + 1, (size_t)(spec + n - colon - 1));
    c->port[spec + n - colon - 1] = '\0';
    for (const char *p = c->port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    long port = strtol(c->port, NULL, 10);
    return port >= 1 && port <= 65535 ? 0 : -1;
}

static int dial(const struct ctl *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(c->host, c->port, &hints, &res);
    if (g != 0) {
        fl_errorf("cannot reach the proxy API at %s: %s", c->api, gai_strerror(g));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = CTL_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fl_errorf("cannot reach the proxy API at %s: %s", c->api, strerror(e));
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A request path: /proxies/NAME[/toxics[/TOXIC[TAIL]]], names percent-encoded (they are free
 * text: spaces, '%', '?'). Returns 0, or a usage error when the names do not fit a sane path. */
static int make_path(char *out, size_t cap, const char *proxy, const char *mid,
                     const char *toxic, const char *tail)
{
    const char *parts[] = {"/proxies/", proxy, mid, toxic, tail};
    size_t n = 0;
    for (int i = 0; i < 5 && parts[i]; i++) {
        bool raw = i % 2 == 0;
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            if (n + 4 >= cap)
                return fl_usage_error("proxy: the name '%.40s...' is too long for a request "
                                      "path (%zu bytes at most once percent-encoded)", proxy,
                                      cap - 64);
            if (raw || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("-._~", *p))
                out[n++] = (char)*p;
            else
                n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
        }
    }
    out[n] = '\0';
    return 0;
}

/* One request. Returns 0 with *rp filled, or an exit code (3: unreachable, 1: bad reply). */
static int http(const struct ctl *c, const char *method, const char *path, json_t *body,
                struct reply *rp)
{
    memset(rp, 0, sizeof(*rp));
    char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !payload) {
        fl_errorf("out of memory");
        return FL_EXIT_FAILED;
    }
    size_t plen = payload ? strlen(payload) : 0;
    bool v6 = strchr(c->host, ':') != NULL;
    char head[4096 + 512];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: faultline-proxy-cli\r\n"
                      "Accept: application/json\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, v6 ? "[" : "", c->host, v6 ? "]" : "", c->port, plen);
    if (hn < 0 || (size_t)hn >= sizeof(head)) { /* make_path bounds the path; belt and braces */
        free(payload);
        fl_errorf("the request for %s is too long", path);
        return FL_EXIT_USAGE;
    }
    int fd = dial(c);
    if (fd < 0) {
        free(payload);
        return FL_EXIT_NORESOURCE;
    }
    int bad = write_all(fd, head, (size_t)hn) < 0 || (plen && write_all(fd, payload, plen) < 0);
    free(payload);
    if (bad) {
        fl_errorf("cannot send the request to the proxy API at %s: %s", c->api, strerror(errno));
        close(fd);
        return FL_EXIT_NORESOURCE;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            fl_errorf("out of memory");
            return FL_EXIT_FAILED;
        }
        if (len + 1 >= cap) {
            if (cap >= CTL_REPLY_MAX) {
                close(fd);
                free(buf);
                fl_errorf("the reply from %s is larger than %d bytes", c->api, CTL_REPLY_MAX);
                return FL_EXIT_FAILED;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            fl_errorf("no reply from the proxy API at %s: %s", c->api,
                      e == EAGAIN ? "timed out" : strerror(e));
            return FL_EXIT_NORESOURCE;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    char *eoh = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!eoh || sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599) {
        free(buf);
        fl_errorf("the reply from %s is not HTTP (is it a faultline or Toxiproxy API?)", c->api);
        return FL_EXIT_FAILED;
    }
    /* Bodies come with Content-Length and the connection closes after them; a chunked reply
     * (not sent by either server) would show its framing and fail to decode below. */
    size_t blen = len - (size_t)(eoh + 4 - buf);
    memmove(buf, eoh + 4, blen);
    buf[blen] = '\0';
    rp->status = status;
    rp->body = buf;
    rp->len = blen;
    return 0;
}

/* A non-2xx reply as one line, worded as the Go client does: HTTP <status>: <error>. */
static int api_error(const struct reply *rp)
{
    json_t *o = json_loadb(rp->body, rp->len, JSON_DISABLE_EOF_CHECK, NULL);
    const char *msg = json_string_value(json_object_get(o, "error"));
    if (msg) {
        fl_errorf("HTTP %d: %s", rp->status, msg);
    } else {
        /* The router's plain-text replies (404 page not found) or an empty 405. */
        size_t n = strcspn(rp->body, "\r\n");
        if (n)
            fl_errorf("HTTP %d: %.*s", rp->status, (int)n, rp->body);
        else
            fl_errorf("HTTP %d", rp->status);
    }
    json_decref(o);
    return FL_EXIT_FAILED;
}

/* Run a request; on success decode the JSON reply into *out (when out is given). */
static int call(const struct ctl *c, const char *method, const char *path, json_t *body,
                struct reply *rp, json_t **out)
{
    int rc = http(c, method, path, body, rp);
    if (rc)
        return rc;
    if (rp->status < 200 || rp->status > 299) {
        rc = api_error(rp);
        free(rp->body);
        rp->body = NULL;
        return rc;
    }
    if (out) {
        json_error_t e;
        *out = json_loadb(rp->body, rp->len, JSON_DECODE_ANY, &e);
        if (!*out) {
            fl_errorf("the reply from %s is not JSON: %s", c->api, e.text);
            free(rp->body);
            rp->body = NULL;
            return FL_EXIT_FAILED;
        }
    }
    return 0;
}

static void print_raw(const struct reply *rp)
{
    if (!rp->len)
        return;
    fwrite(rp->body, 1, rp->len, stdout);
    if (rp->body[rp->len - 1] != '\n')
        putchar('\n');
}

/* ---- output -------------------------------------------------------------------------------- */

static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void attrs_text(json_t *attrs, char *out, size_t cap)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    out[0] = '\0';
    json_object_foreach(attrs, k, v) {
        char *val = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%s=%s", n ? " " : "", k,
                              val ? val : "?");
        free(val);
        if (n >= cap)
            break;
    }
    if (!out[0])
        snprintf(out, cap, "-");
}

static void toxicity_text(json_t *t, char *out, size_t cap)
{
    json_t *v = json_object_get(t, "toxicity");
    snprintf(out, cap, "%g", json_is_number(v) ? json_number_value(v) : 1.0);
}

/* Toxics as a table, columns sized to their content. */
static void print_toxics(json_t *toxics, const char *indent)
{
    int wn = 4, wt = 4, ws = 6;
    size_t i;
    json_t *t;
    json_array_foreach(toxics, i, t) {
        int n = (int)strlen(str_of(t, "name")), ty = (int)strlen(str_of(t, "type")),
            st = (int)strlen(str_of(t, "stream"));
        wn = n > wn ? n : wn;
        wt = ty > wt ? ty : wt;
        ws = st > ws ? st : ws;
    }
    printf("%s%-*s  %-*s  %-*s  %-8s  %s\n", indent, wn, "NAME", wt, "TYPE", ws, "STREAM",
           "TOXICITY", "ATTRIBUTES");
    json_array_foreach(toxics, i, t) {
        char attrs[1024], tox[32];
        attrs_text(json_object_get(t, "attributes"), attrs, sizeof(attrs));
        toxicity_text(t, tox, sizeof(tox));
        printf("%s%-*s  %-*s  %-*s  %-8s  %s\n", indent, wn, str_of(t, "name"), wt,
               str_of(t, "type"), ws, str_of(t, "stream"), tox, attrs);
    }
}

static void print_proxy(json_t *p)
{
    printf("name:      %s\n", str_of(p, "name"));
    printf("listen:    %s\n", str_of(p, "listen"));
    printf("upstream:  %s\n", str_of(p, "upstream"));
    printf("enabled:   %s\n", json_is_true(json_object_get(p, "enabled")) ? "yes" : "no");
    json_t *toxics = json_object_get(p, "toxics");
    if (!json_array_size(toxics)) {
        printf("toxics:    none\n");
        return;
    }
    printf("toxics:\n");
    print_toxics(toxics, "  ");
}

static void print_proxy_list(json_t *map)
{
    if (!json_object_size(map)) {
        printf("no proxies\n");
        return;
    }
    int wn = 4, wl = 6, wu = 8;
    const char *k;
    json_t *p;
    json_object_foreach(map, k, p) {
        int n = (int)strlen(str_of(p, "name")), l = (int)strlen(str_of(p, "listen")),
            u = (int)strlen(str_of(p, "upstream"));
        wn = n > wn ? n : wn;
        wl = l > wl ? l : wl;
        wu = u > wu ? u : wu;
    }
    printf("%-*s  %-*s  %-*s  %-7s  %s\n", wn, "NAME", wl, "LISTEN", wu, "UPSTREAM", "ENABLED",
           "TOXICS");
    /* jansson keeps insertion order, and the server sends the keys sorted. */
    json_object_foreach(map, k, p) {
        printf("%-*s  %-*s  %-*s  %-7s  %zu\n", wn, str_of(p, "name"), wl, str_of(p, "listen"),
               wu, str_of(p, "upstream"), json_is_true(json_object_get(p, "enabled")) ? "yes"
                                                                                         : "no",
               json_array_size(json_object_get(p, "toxics")));
    }
}

/* ---- subcommands --------------------------------------------------------------------------- */

static int need_args(int have, int want, const char *usage)
{
    if (have < want)
        return fl_usage_error("proxy %s: missing argument (usage: faultline proxy %s)", usage,
                              usage);
    if (have > want)
        return fl_usage_error("proxy %s: too many arguments (usage: faultline proxy %s)", usage,
                              usage);
    return 0;
}

/* Call the API and show its answer: the raw body with --json, otherwise through show(). What
 * list, inspect and create share. */
static int call_and_show(const struct ctl *c, const char *method, const char *path,
                         json_t *body, void (*show)(json_t *v))
{
    struct reply rp;
    json_t *v = NULL;
    int rc = call(c, method, path, body, &rp, c->json ? NULL : &v);
    if (rc)
        return rc;
    if (c->json)
        print_raw(&rp);
    else
        show(v);
    json_decref(v);
    free(rp.body);
    return FL_EXIT_OK;
}

static int do_list(const struct ctl *c)
{
    return call_and_show(c, "GET", "/proxies", NULL, print_proxy_list);
}

static int do_inspect(const struct ctl *c, const char *name)
{
    char path[4096];
    if (make_path(path, sizeof(path), name, NULL, NULL, NULL))
        return FL_EXIT_USAGE;
    return call_and_show(c, "GET", path, NULL, print_proxy);
}

static void print_created(json_t *v)
{
    printf("created proxy %s: %s -> %s%s\n", str_of(v, "name"), str_of(v, "listen"),
           str_of(v, "upstream"),
           json_is_true(json_object_get(v, "enabled")) ? "" : " (disabled)");
}

static int do_create(const struct ctl *c, const char *name, const char *listen,
                     const char *upstream)
{
    json_t *b = json_pack("{s:s, s:s, s:s}", "name", name, "listen", listen, "upstream",
                          upstream);
    int rc = call_and_show(c, "POST", "/proxies", b, print_created);
    json_decref(b);
    return rc;
}

static int do_toggle(const struct ctl *c, const char *name)
{
    char path[4096];
    if (make_path(path, sizeof(path), name, NULL, NULL, NULL))
        return FL_EXIT_USAGE;
    struct reply rp;
    json_t *v = NULL;
    int rc = call(c, "GET", path, NULL, &rp, &v);
    if (rc)
        return rc;
    free(rp.body);
    /* Read, then flip: two requests, as toxiproxy-cli does; a concurrent toggle can race. */
    json_t *b = json_pack("{s:b}", "enabled", !json_is_true(json_object_get(v, "enabled")));
    json_decref(v);
    v = NULL;
    rc = call(c, "POST", path, b, &rp, c->json ? NULL : &v);
    json_decref(b);
    if (rc)
        return rc;
    if (c->json)
        print_raw(&rp);
    else
        printf("proxy %s is now %s\n", str_of(v, "name"),
               json_is_true(json_object_get(v, "enabled")) ? "enabled" : "disabled");
    json_decref(v);
    free(rp.body);
    return FL_EXIT_OK;
}

static int do_delete(const struct ctl *c, const char *name)
{
    char path[4096];
    if (make_path(path, sizeof(path), name, NULL, NULL, NULL))
        return FL_EXIT_USAGE;
    struct reply rp;
    int rc = call(c, "DELETE", path, NULL, &rp, NULL);
    if (rc)
        return rc;
    if (c->json)
        print_raw(&rp);
    else
        printf("deleted proxy %s\n", name);
    free(rp.body);
    return FL_EXIT_OK;
}

/* -a KEY=VALUE: the value is a JSON number (attributes are integers; the server says which
 * ones and how a value is wrong). */
static int add_attribute(json_t *attrs, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return fl_usage_error("-a '%s': expected KEY=NUMBER (e.g. -a latency=100)", spec);
    char key[256];
    if ((size_t)(eq - spec) >= sizeof(key))
        return fl_usage_error("-a '%s': the key is longer than %zu characters", spec,
                              sizeof(key) - 1);
    memcpy(key, spec, (size_t)(eq - spec));
    key[eq - spec] = '\0';
    char *end;
    errno = 0;
    long long i = strtoll(eq + 1, &end, 10);
    if (!*end && !errno) {
        json_object_set_new(attrs, key, json_integer(i));
        return 0;
    }
    double d = strtod(eq + 1, &end);
    if (*end || !isfinite(d))
        return fl_usage_error("-a '%s': expected KEY=NUMBER (e.g. -a latency=100)", spec);
    json_object_set_new(attrs, key, json_real(d));
    return 0;
}

static int print_toxic_reply(const struct ctl *c, const struct reply *rp, json_t *v,
                             const char *verb, const char *proxy)
{
    if (c->json) {
        print_raw(rp);
        return FL_EXIT_OK;
    }
    printf("%s toxic %s on proxy %s\n", verb, str_of(v, "name"), proxy);
    json_t *one = json_pack("[O]", v);
    print_toxics(one, "  ");
    json_decref(one);
    return FL_EXIT_OK;
}

/* POST a new toxic (toxic NULL) or PATCH an existing one with body b (consumed), and print the
 * reply: what `toxic add` and `toxic update` share. */
static int send_toxic(struct ctl *c, const char *method, const char *proxy, const char *toxic,
                      json_t *b, const char *verb)
{
    char path[4096];
    if (make_path(path, sizeof(path), proxy, toxic ? "/toxics/" : "/toxics", toxic, NULL)) {
        json_decref(b);
        return FL_EXIT_USAGE;
    }
    struct reply rp;
    json_t *v = NULL;
    int rc = call(c, method, path, b, &rp, c->json ? NULL : &v);
    json_decref(b);
    if (!rc) {
        rc = print_toxic_reply(c, &rp, v, verb, proxy);
        free(rp.body);
    }
    json_decref(v);
    return rc;
}

/* One line for a toxic's counters (GET .../toxics/TOXIC/stats): the connections it acted on,
 * of those it was rolled for, and the bytes that went through it. */
static void print_toxic_stats(json_t *v)
{
    json_int_t active = json_integer_value(json_object_get(v, "connections_active"));
    json_int_t seen = json_integer_value(json_object_get(v, "connections_seen"));
    json_int_t bytes = json_integer_value(json_object_get(v, "bytes"));
    char size[32];
    fl_format_size(bytes > 0 ? (uint64_t)bytes : 0, size, sizeof(size));
    printf("%s: %lld connection%s (%lld seen), %s\n", str_of(v, "name"), (long long)active,
           active == 1 ? "" : "s", (long long)seen, size);
}

static int do_toxic_stats(const struct ctl *c, const char *proxy, const char *toxic)
{
    char path[4096];
    if (make_path(path, sizeof(path), proxy, "/toxics/", toxic, "/stats"))
        return FL_EXIT_USAGE;
    return call_and_show(c, "GET", path, NULL, print_toxic_stats);
}

enum { OPT_API = 0x100, OPT_JSON, OPT_LISTEN, OPT_UPSTREAM, OPT_TYPE, OPT_STREAM, OPT_TOXICITY,
       OPT_NAME };

static const struct option ctl_options[] = {
    {"api", required_argument, NULL, OPT_API},
    {"json", no_argument, NULL, OPT_JSON},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"upstream", required_argument, NULL, OPT_UPSTREAM},
    {"type", required_argument, NULL, OPT_TYPE},
    {"stream", required_argument, NULL, OPT_STREAM},
    {"toxicity", required_argument, NULL, OPT_TOXICITY},
    {"name", required_argument, NULL, OPT_NAME},
    {"attribute", required_argument, NULL, 'a'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *const ctl_commands[] = {"list", "create", "toggle", "delete", "inspect",
                                           "toxic"};

bool fl_proxyctl_is_command(const char *name)
{
    for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
        if (!strcmp(name, ctl_commands[i]))
            return true;
    return false;
}

/* Which flags each subcommand takes, so a misplaced one is an error rather than ignored. */
static bool flag_allowed(const char *cmd, int opt)
{
    if (opt == OPT_API || opt == OPT_JSON || opt == 'q' || opt == 'v' || opt == 'h')
        return true;
    if (!strcmp(cmd, "create"))
        return opt == OPT_LISTEN || opt == OPT_UPSTREAM;
    if (!strcmp(cmd, "toxic add"))
        return opt == OPT_TYPE || opt == OPT_STREAM || opt == OPT_TOXICITY ||
               opt == OPT_NAME || opt == 'a';
    if (!strcmp(cmd, "toxic update"))
        return opt == OPT_TOXICITY || opt == 'a';
    return false;
}

/* argv[0] is the client subcommand (list, create, ..., toxic). */
int fl_proxyctl(int argc, char **argv)
{
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "%s", argv[0]);
    int first = 1;
    if (!strcmp(argv[0], "toxic")) {
        if (argc < 2 || argv[1][0] == '-') {
            if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
                goto help;
            return fl_usage_error("proxy toxic: expected add, update, remove or stats");
        }
        if (strcmp(argv[1], "add") && strcmp(argv[1], "update") && strcmp(argv[1], "remove") &&
            strcmp(argv[1], "stats"))
            return fl_usage_error("proxy toxic: unknown action '%s' (expected add, update, "
                                  "remove or stats)", argv[1]);
        snprintf(cmd, sizeof(cmd), "toxic %s", argv[1]);
        first = 2;
    }
    struct ctl c = {0};
    const char *api = getenv("FAULTLINE_PROXY_API");
    const char *api_from = "FAULTLINE_PROXY_API";
    if (!api || !api[0]) {
        api = CTL_DEFAULT_API;
        api_from = NULL;
    }
    const char *listen = NULL, *upstream = NULL, *type = NULL, *stream = NULL, *tname = NULL;
    double toxicity = 1.0;
    bool toxicity_given = false;
    json_t *attrs = json_object();
    int rc = FL_EXIT_OK;

    /* getopt permutes, so flags may come before or after the names. */
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    int nargs = 0;
    if (!args) {
        json_decref(attrs);
        fl_errorf("out of memory");
        return FL_EXIT_FAILED;
    }
    optind = first;
    opterr = 0;
    int opt, li = -1;
    while ((opt = getopt_long(argc, argv, "-a:qvh", ctl_options, &li)) != -1) {
        if (opt == 1) {
            args[nargs++] = optarg;
            continue;
        }
        if (opt == '?') {
            rc = fl_usage_error("proxy %s: unknown or incomplete option '%s' (try 'faultline "
                                "help proxy')", cmd, argv[optind - 1]);
            goto out;
        }
        if (!flag_allowed(cmd, opt)) {
            char flag[32];
            if (li >= 0)
                snprintf(flag, sizeof(flag), "--%s", ctl_options[li].name);
            else
                snprintf(flag, sizeof(flag), "-%c", opt);
            rc = fl_usage_error("proxy %s: %s does not apply here (try 'faultline help proxy')",
                                cmd, flag);
            goto out;
        }
        li = -1;
        switch (opt) {
        case OPT_API:
            api = optarg;
            api_from = "--api";
            break;
        case OPT_JSON:
            c.json = true;
            break;
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_UPSTREAM:
            upstream = optarg;
            break;
        case OPT_TYPE:
            type = optarg;
            break;
        case OPT_STREAM:
            if (!strcasecmp(optarg, "up") || !strcasecmp(optarg, "upstream"))
                stream = "upstream";
            else if (!strcasecmp(optarg, "down") || !strcasecmp(optarg, "downstream"))
                stream = "downstream";
            else {
                rc = fl_usage_error("--stream '%s': expected up or down", optarg);
                goto out;
            }
            break;
        case OPT_TOXICITY: {
            char *end;
            toxicity = strtod(optarg, &end);
            if (!optarg[0] || *end || !isfinite(toxicity) || toxicity < 0 || toxicity > 1) {
                rc = fl_usage_error("--toxicity '%s': expected a probability 0-1", optarg);
                goto out;
            }
            toxicity_given = true;
            break;
        }
        case OPT_NAME:
            tname = optarg;
            break;
        case 'a':
            if ((rc = add_attribute(attrs, optarg)))
                goto out;
            break;
        case 'h':
            json_decref(attrs);
            free(args);
            goto help;
        default:
            fl_common_option(opt, optarg);
        }
    }
    if (parse_api(api, &c) < 0) {
        rc = fl_usage_error("%s '%s': expected HOST:PORT (e.g. 127.0.0.1:8474)",
                            api_from ? api_from : "--api", api);
        goto out;
    }

    if (!strcmp(cmd, "list")) {
        if (!(rc = need_args(nargs, 0, "list")))
            rc = do_list(&c);
    } else if (!strcmp(cmd, "inspect")) {
        if (!(rc = need_args(nargs, 1, "inspect NAME")))
            rc = do_inspect(&c, args[0]);
    } else if (!strcmp(cmd, "toggle")) {
        if (!(rc = need_args(nargs, 1, "toggle NAME")))
            rc = do_toggle(&c, args[0]);
    } else if (!strcmp(cmd, "delete")) {
        if (!(rc = need_args(nargs, 1, "delete NAME")))
            rc = do_delete(&c, args[0]);
    } else if (!strcmp(cmd, "create")) {
        if ((rc = need_args(nargs, 1, "create NAME --listen ADDR --upstream ADDR")))
            goto out;
        if (!listen)
            rc = fl_usage_error("proxy create: --listen ADDR is required (e.g. 127.0.0.1:0)");
        else if (!upstream || !upstream[0])
            rc = fl_usage_error("proxy create: --upstream ADDR is required (e.g. "
                                "127.0.0.1:6379)");
        else
            rc = do_create(&c, args[0], listen, upstream);
    } else if (!strcmp(cmd, "toxic add")) {
        if ((rc = need_args(nargs, 1, "toxic add NAME --type T")))
            goto out;
        if (!type || !type[0]) {
            /* The list comes from the registry this binary serves, so it cannot go stale. */
            char types[512] = "";
            for (size_t i = 0; i < fl_toxic_count; i++)
                snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s",
                         i ? ", " : "", fl_toxic_registry[i]->type);
            rc = fl_usage_error("proxy toxic add: --type T is required (one of: %s)", types);
            goto out;
        }
        json_t *b = json_pack("{s:s, s:s, s:f, s:O}", "type", type, "stream",
                              stream ? stream : "downstream", "toxicity", toxicity,
                              "attributes", attrs);
        if (tname)
            json_object_set_new(b, "name", json_string(tname));
        rc = send_toxic(&c, "POST", args[0], NULL, b, "added");
    } else if (!strcmp(cmd, "toxic update")) {
        if ((rc = need_args(nargs, 2, "toxic update NAME TOXIC")))
            goto out;
        if (!json_object_size(attrs) && !toxicity_given) {
            rc = fl_usage_error("proxy toxic update: nothing to change (give -a KEY=VALUE or "
                                "--toxicity F)");
            goto out;
        }
        json_t *b = json_pack("{s:O}", "attributes", attrs);
        if (toxicity_given)
            json_object_set_new(b, "toxicity", json_real(toxicity));
        rc = send_toxic(&c, "PATCH", args[0], args[1], b, "updated");
    } else if (!strcmp(cmd, "toxic stats")) {
        if (!(rc = need_args(nargs, 2, "toxic stats NAME TOXIC")))
            rc = do_toxic_stats(&c, args[0], args[1]);
    } else { /* toxic remove */
        if ((rc = need_args(nargs, 2, "toxic remove NAME TOXIC")))
            goto out;
        char path[4096];
        if (make_path(path, sizeof(path), args[0], "/toxics/", args[1], NULL)) {
            rc = FL_EXIT_USAGE;
            goto out;
        }
        struct reply rp;
        rc = call(&c, "DELETE", path, NULL, &rp, NULL);
        if (!rc) {
            if (c.json)
                print_raw(&rp);
            else
                printf("removed toxic %s from proxy %s\n", args[1], args[0]);
            free(rp.body);
        }
    }
out:
    json_decref(attrs);
    free(args);
    return rc;
help:;
    extern int fl_help_topic(const char *topic);
    return fl_help_topic("proxy");
}
