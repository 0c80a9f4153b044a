/* SPDX-License-Identifier: MIT */
/*
 * test-probes.c - the probe kinds, against real things.
 *
 * A probe that says "ok" when the service is down hides the outage an experiment exists to
 * see, and one that hangs stalls the run. So these tests run every kind against real
 * processes, a real listening socket, a small HTTP/1.1 server thread (keep-alive, a redirect,
 * an endpoint that accepts and never answers), real SQLite files (one with its header
 * overwritten, one with its schema page broken) and real files in a private mkdtemp()
 * directory. Each kind is checked for: parse errors naming file:line:col, ok and not-ok
 * results with their detail text, and a timeout that is respected (the only timing
 * assertion: it returned before the deadline plus generous slack).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "doc.h"
#include "probe.h"

#define MS (INT64_C(1000000))
#define SLACK_NS (3000 * MS) /* generous: CI machines stall */

extern char **environ;

/* ---- helpers: load a probe from YAML, run it ---- */

struct loaded {
    struct fl_doc doc;
    const struct fl_probe_ops *ops;
    void *state;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Parse yaml as one probe; returns the parse result, err holds the message. */
static int load(struct loaded *l, const char *yaml, struct fl_err *err)
{
    memset(l, 0, sizeof(*l));
    err->msg[0] = '\0';
    int r = fl_doc_load_string(&l->doc, "t.yaml", yaml, strlen(yaml), err);
    assert_int_equal(r, 0);
    l->ops = fl_probe_select(&l->doc, l->doc.root, err);
    if (!l->ops)
        return -EINVAL;
    return l->ops->parse(&l->doc, l->doc.root, &l->state, err);
}

static void unload(struct loaded *l)
{
    if (l->state)
        l->ops->free(l->state);
    fl_doc_free(&l->doc);
}

static struct loaded must_load(const char *yaml)
{
    struct loaded l;
    struct fl_err err;
    int r = load(&l, yaml, &err);
    if (r != 0)
        fail_msg("parse failed: %s\n%s", err.msg, yaml);
    return l;
}

/* The parse must fail with a message starting "t.yaml:LINE:COL: " and containing want. */
static void parse_fails(const char *yaml, int line, int col, const char *want)
{
    struct loaded l;
    struct fl_err err;
    int r = load(&l, yaml, &err);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t.yaml:%d:%d: ", line, col);
    if (r != -EINVAL || strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg, want))
        fail_msg("for:\n%s\nexpected %s...%s, got %d: %s", yaml, prefix, want, r, err.msg);
    assert_null(l.state);
    unload(&l);
}

static const char *g_cwd = NULL; /* ctx->cwd for checks */
static pid_t g_target = 0;

/* Load, check once with timeout, keep the result; asserts the check returned in time. */
static void run(const char *yaml, int64_t timeout, struct fl_probe_result *res)
{
    struct loaded l = must_load(yaml);
    struct fl_probe_ctx ctx = {.cwd = g_cwd, .target_pid = g_target};
    memset(res, 0, sizeof(*res));
    int64_t t0 = now_ns();
    int r = l.ops->check(l.state, &ctx, timeout, res);
    int64_t took = now_ns() - t0;
    if (took > timeout + SLACK_NS)
        fail_msg("check took %lld ms with a timeout of %lld ms", (long long)(took / MS),
                 (long long)(timeout / MS));
    assert_int_equal(r, 0);
    assert_true(res->latency_ns >= 0);
    unload(&l);
}

static void expect_ok(const char *yaml)
{
    struct fl_probe_result res;
    run(yaml, 2000 * MS, &res);
    if (!res.ok)
        fail_msg("expected ok for:\n%s\ngot: %s", yaml, res.detail);
    fl_probe_result_clear(&res);
}

/* Not ok, with detail containing want. */
static void expect_fail(const char *yaml, int64_t timeout, const char *want)
{
    struct fl_probe_result res;
    run(yaml, timeout, &res);
    if (res.ok || !strstr(res.detail, want))
        fail_msg("expected a failure with '%s' for:\n%s\ngot ok=%d: %s", want, yaml, res.ok,
                 res.detail);
    assert_null(strchr(res.detail, '\n'));
    fl_probe_result_clear(&res);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char bufs[4][2048];
    static int i;
    char *b = bufs[i++ % 4];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof(bufs[0]), f, ap);
    va_end(ap);
    return b;
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* ---- the registry ---- */

static void test_registry(void **unused)
{
    (void)unused;
    assert_int_equal(fl_probe_kind_count, 6);
    for (size_t i = 0; i < fl_probe_kind_count; i++) {
        const struct fl_probe_ops *o = fl_probe_kinds[i];
        assert_non_null(o->parse);
        assert_non_null(o->check);
        assert_non_null(o->describe);
        assert_non_null(o->free);
        assert_null(strstr(o->summary, "not implemented"));
    }
    parse_fails("tcp: 127.0.0.1:1\nbogus: 1\n", 2, 1, "unknown key 'bogus'");
    /* common keys are the runner's: accepted by every kind */
    struct loaded l = must_load("tcp: 127.0.0.1:1\nname: x\nevery: 1s\ntimeout: 2s\n"
                                "expect: fail\n");
    char buf[128];
    l.ops->describe(l.state, buf, sizeof(buf));
    assert_string_equal(buf, "tcp 127.0.0.1:1");
    unload(&l);
}

/* ---- command ---- */

static void test_command_parse(void **unused)
{
    (void)unused;
    parse_fails("command: 5\n", 1, 1, "'command' must be a list");
    parse_fails("command: [true]\nexit: 300\n", 2, 1, "'exit' must be an integer 0..255");
    parse_fails("command: [true]\nstdout: '/([/'\n", 2, 9, "bad regular expression");
    parse_fails("command: [true]\nshell: true\n", 1, 1, "must be one string");
    parse_fails("command: [true]\nshell: yes\n", 2, 1, "'shell' must be true or false");
    parse_fails("command: [true]\nenv: {A: [1]}\n", 2, 7, "'A' must be a string");
    parse_fails("command: '   '\n", 1, 1, "'command' is empty");
    parse_fails("command: [sleep, null]\n", 1, 1, "item 2 is not");
    expect_ok("command: [true]\n");
    expect_ok("command: [sh, -c, 'exit $0', 4]\nexit: 4\n");
    struct loaded l = must_load("command: 'echo  a   b'\n");
    char buf[128];
    l.ops->describe(l.state, buf, sizeof(buf));
    assert_string_equal(buf, "echo a b");
    unload(&l);
}

static void test_command_checks(void **unused)
{
    (void)unused;
    expect_ok("command: [/bin/sh, -c, 'echo hello; echo warn >&2']\n"
              "stdout: hello\nstderr: '/^w.rn$/'\n");
    expect_ok("command: 'echo  one two'\nstdout: one two\n");
    expect_ok("command: 'echo a | tr a b'\nshell: true\nstdout: '/^b$/'\n");
    expect_ok("command: [sh, -c, 'exit 3']\nexit: 3\n");
    expect_ok("command: [sh, -c, 'exit 3']\nexit: any\n");
    expect_ok("command: 'echo $FL_T'\nshell: true\nenv: {FL_T: 42}\nstdout: '42'\n");
    expect_fail("command: [sh, -c, 'echo boom >&2; exit 3']\n", 2000 * MS,
                "exit status 3, expected 0: boom");
    expect_fail("command: [echo, hi]\nstdout: xyz\n", 2000 * MS, "stdout does not contain 'xyz'");
    expect_fail("command: [echo, hi]\nstderr: '/x+/'\n", 2000 * MS, "stderr does not match /x+/");
    expect_fail("command: [/nonexistent/prog]\n", 2000 * MS,
                "cannot run /nonexistent/prog: No such file or directory");
    expect_fail("command: [sh, -c, 'kill -9 $$']\n", 2000 * MS, "killed by signal 9");

    /* The value carries what was seen; big output is capped, not blocking. */
    struct fl_probe_result res;
    run("command: 'head -c 300000 /dev/zero | tr \"\\0\" a'\nshell: true\n", 5000 * MS, &res);
    assert_true(res.ok);
    json_t *out = json_object_get(res.value, "stdout");
    assert_true(json_is_string(out));
    assert_true(json_string_length(out) <= 1024 + 3);
    assert_int_equal(json_integer_value(json_object_get(res.value, "exit")), 0);
    fl_probe_result_clear(&res);

    /* Output that is not UTF-8 still makes a JSON value: bad bytes become U+FFFD. */
    run("command: [printf, '\\377ok\\0x']\n", 2000 * MS, &res);
    assert_true(res.ok);
    assert_string_equal(json_string_value(json_object_get(res.value, "stdout")),
                        "\xef\xbf\xbdok\xef\xbf\xbdx");
    fl_probe_result_clear(&res);
}

static bool gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[2] == 'Z';
}

static bool wait_gone(pid_t pid)
{
    for (int i = 0; i < 300; i++) {
        if (gone(pid))
            return true;
        usleep(10000);
    }
    return false;
}

static void test_command_timeout_and_group(void **unused)
{
    (void)unused;
    char dir[128], pidfile[256];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "probes-cmd"), 0);
    snprintf(pidfile, sizeof(pidfile), "%s/bg.pid", dir);
    /* A background grandchild keeps stdout open and the leader never ends: the timeout must
     * still hold, and the whole group must die. */
    expect_fail(fmt("command: 'sleep 30 & echo $! > %s; wait'\nshell: true\n", pidfile),
                300 * MS, "timed out after 300ms");
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int bg = 0;
    assert_int_equal(fscanf(f, "%d", &bg), 1);
    fclose(f);
    assert_true(wait_gone(bg));

    /* The leader exits at once but leaves a child holding the pipe: not a stall, and the
     * straggler is killed. */
    struct fl_probe_result res;
    int64_t t0 = now_ns();
    run(fmt("command: 'sleep 30 & echo $! > %s'\nshell: true\n", pidfile), 10000 * MS, &res);
    assert_true(res.ok);
    assert_true(now_ns() - t0 < 5000 * MS);
    fl_probe_result_clear(&res);
    f = fopen(pidfile, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &bg), 1);
    fclose(f);
    assert_true(wait_gone(bg));

    /* cwd: ctx->cwd, and a relative cwd key under it */
    assert_int_equal(mkdir(fmt("%s/sub", dir), 0700), 0);
    g_cwd = dir;
    expect_ok(fmt("command: [pwd]\nstdout: '%s'\n", dir));
    expect_ok(fmt("command: [pwd]\ncwd: sub\nstdout: '%s/sub'\n", dir));
    expect_fail("command: [pwd]\ncwd: nope\n", 2000 * MS, "/nope: No such file or directory");
    g_cwd = NULL;
    fl_test_rmtree(dir);
}

/* ---- servers for tcp and http ---- */

enum srv_mode { SRV_SILENT, SRV_PONG, SRV_HTTP };

struct server {
    int fd;
    int port;
    enum srv_mode mode;
    int accepted;             /* connections accepted (atomic) */
    pthread_t thread;
};

struct conn {
    struct server *srv;
    int fd;
};

static ssize_t read_request(int fd, char *buf, size_t len, size_t *have)
{
    /* Read until the header ends and the body (Content-Length) is complete. */
    for (;;) {
        buf[*have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - buf);
            const char *cl = strcasestr(buf, "\ncontent-length:");
            size_t body = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
            if (*have >= head + body)
                return (ssize_t)(head + body);
        }
        if (*have + 1 >= len)
            return -1;
        ssize_t n = recv(fd, buf + *have, len - 1 - *have, 0);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
}

static void respond(int fd, int status, const char *extra, const char *body)
{
    char out[4096];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%s", status, strlen(body),
                     extra, body);
    (void)!send(fd, out, (size_t)n, MSG_NOSIGNAL);
}

static void *conn_main(void *p)
{
    struct conn *c = p;
    char buf[8192];
    size_t have = 0;
    if (c->srv->mode == SRV_PONG) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0 && memmem(buf, (size_t)n, "PING", 4)) {
            (void)!send(c->fd, "+PO", 3, MSG_NOSIGNAL);
            usleep(50000); /* the reply comes in two segments */
            (void)!send(c->fd, "NG\r\n", 4, MSG_NOSIGNAL);
        }
    }
    while (c->srv->mode == SRV_HTTP) {
        ssize_t n = read_request(c->fd, buf, sizeof(buf), &have);
        if (n < 0)
            break;
        char method[16] = "", path[256] = "";
        sscanf(buf, "%15s %255s", method, path);
        const char *body = strstr(buf, "\r\n\r\n") + 4;
        if (!strcmp(path, "/ok"))
            respond(c->fd, 200, "Content-Type: application/json\r\n",
                    "{\"a\": {\"b\": [1, 2]}, \"s\": \"up\", \"f\": 1.0}");
        else if (!strcmp(path, "/fail"))
            respond(c->fd, 503, "", "down for maintenance\nsecond line");
        else if (!strcmp(path, "/redir"))
            respond(c->fd, 302, "Location: /ok\r\n", "");
        else if (!strcmp(path, "/echo"))
            respond(c->fd, 200, "", fmt("%s %.*s", method, (int)(n - (body - buf)), body));
        else if (!strcmp(path, "/notjson"))
            respond(c->fd, 200, "", "{\"a\": ");
        else if (!strcmp(path, "/slow"))
            while (recv(c->fd, buf, sizeof(buf), 0) > 0) /* never answer */
                ;
        else
            respond(c->fd, 404, "", "no");
        memmove(buf, buf + n, have - (size_t)n);
        have -= (size_t)n;
    }
    if (c->srv->mode == SRV_SILENT)
        while (recv(c->fd, buf, sizeof(buf), 0) > 0)
            ;
    close(c->fd);
    free(c);
    return NULL;
}

static void *server_main(void *p)
{
    struct server *s = p;
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        __atomic_add_fetch(&s->accepted, 1, __ATOMIC_SEQ_CST);
        struct conn *c = malloc(sizeof(*c));
        assert_non_null(c);
        *c = (struct conn){s, fd};
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        assert_int_equal(pthread_create(&t, &a, conn_main, c), 0);
        pthread_attr_destroy(&a);
    }
}

static int listen_on(int family, int *port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof(*a);
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void server_start(struct server *s, enum srv_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->fd = listen_on(AF_INET, &s->port);
    assert_true(s->fd >= 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* A port nothing listens on: bound then closed. */
static int dead_port(void)
{
    int port;
    int fd = listen_on(AF_INET, &port);
    assert_true(fd >= 0);
    close(fd);
    return port;
}

/* ---- tcp ---- */

static void test_tcp(void **unused)
{
    (void)unused;
    parse_fails("tcp: localhost\n", 1, 1, "'tcp' must be HOST:PORT");
    parse_fails("tcp: 127.0.0.1:99999\n", 1, 1, "'tcp' must be HOST:PORT");
    parse_fails("tcp: '::1:80'\n", 1, 1, "'tcp' must be HOST:PORT");
    parse_fails("tcp: 127.0.0.1:80\nreply: ''\n", 2, 1, "'reply' must be a substring");

    struct server silent, pong;
    server_start(&silent, SRV_SILENT);
    server_start(&pong, SRV_PONG);
    expect_ok(fmt("tcp: 127.0.0.1:%d\n", silent.port));
    expect_ok(fmt("tcp: 127.0.0.1:%d\nsend: \"PING\\r\\n\"\nreply: +PONG\n", pong.port));
    expect_ok(fmt("tcp: 127.0.0.1:%d\nsend: \"PING\\r\\n\"\nreply: '/^\\+PONG/'\n", pong.port));
    expect_fail(fmt("tcp: 127.0.0.1:%d\n", dead_port()), 2000 * MS,
                "connect: Connection refused");
    /* accepts, never answers: the reply wait is bounded by the timeout */
    expect_fail(fmt("tcp: 127.0.0.1:%d\nsend: \"PING\\r\\n\"\nreply: +PONG\n", silent.port),
                300 * MS, "reply did not contain '+PONG' within 300ms (got 0 bytes)");
    /* answers, then closes: the wrong answer is named */
    expect_fail(fmt("tcp: 127.0.0.1:%d\nsend: \"PING\\r\\n\"\nreply: '+OK'\n", pong.port),
                2000 * MS, "peer closed; reply does not contain '+OK' (got 7 bytes)");

    /* IPv6 loopback, when the host has it */
    int port6;
    int fd6 = listen_on(AF_INET6, &port6);
    if (fd6 >= 0) {
        expect_ok(fmt("tcp: '[::1]:%d'\n", port6));
        close(fd6);
    }
    server_stop(&silent);
    server_stop(&pong);
}

/* ---- http ---- */

static void test_http_parse(void **unused)
{
    (void)unused;
    parse_fails("http: ftp://x/\n", 1, 1, "'http' must be a URL");
    parse_fails("http: http://x/\nstatus: 99\n", 2, 1, "'status' must be an integer 100..599");
    parse_fails("http: http://x/\nstatus: [200, 7xx]\n", 2, 15, "'status' must be");
    parse_fails("http: http://x/\njson: {path: '$..a', equals: 1}\n", 2, 14,
                "'path': expected a path like");
    parse_fails("http: http://x/\njson: {path: a}\n", 2, 7, "needs one of 'equals' or 'exists'");
    parse_fails("http: http://x/\njson: yes\n", 2, 1, "'json' must be 'valid'");
    parse_fails("http: http://x/\nmax_latency: 200\n", 2, 1, "'max_latency' must be a duration");
    parse_fails("http: http://x/\nmethod: get\n", 2, 1, "'method' must be an upper-case");
    parse_fails("http: http://x/\nheaders: {'X-A': \"a\\nb\"}\n", 2, 11, "one-line string");
    struct loaded l = must_load("http: http://127.0.0.1:1/h\nbody: x\n");
    char buf[128];
    l.ops->describe(l.state, buf, sizeof(buf));
    assert_string_equal(buf, "POST http://127.0.0.1:1/h");
    unload(&l);
}

static void test_http_checks(void **unused)
{
    (void)unused;
    struct server s;
    server_start(&s, SRV_HTTP);
    const char *u = fmt("http://127.0.0.1:%d", s.port);
    char base[64];
    snprintf(base, sizeof(base), "%s", u);

    expect_ok(fmt("http: %s/ok\n", base));
    expect_ok(fmt("http: %s/ok\nstatus: 200\nbody_match: '\"s\": \"up\"'\n", base));
    expect_ok(fmt("http: %s/ok\njson: valid\n", base));
    expect_ok(fmt("http: %s/ok\njson: {path: '$.a.b[1]', equals: 2}\n", base));
    expect_ok(fmt("http: %s/ok\njson: {path: 'a.b[0]', equals: 1.0}\n", base));
    expect_ok(fmt("http: %s/ok\njson: {path: s, equals: up}\n", base));
    expect_ok(fmt("http: %s/ok\njson: {path: $.nope, exists: false}\n", base));
    expect_ok(fmt("http: %s/fail\nstatus: [200, 503]\n", base));
    expect_ok(fmt("http: %s/fail\nstatus: 5xx\nbody_match: '/^down/'\n", base));
    expect_ok(fmt("http: %s/redir\nfollow: true\njson: {path: s, equals: up}\n", base));
    expect_ok(fmt("http: %s/echo\nbody: hello\nbody_match: POST hello\n", base));
    expect_ok(fmt("http: %s/echo\nmethod: PUT\nbody: x\nbody_match: PUT x\n", base));
    expect_ok(fmt("http: %s/echo\nmethod: DELETE\nbody_match: DELETE\n", base));
    expect_ok(fmt("http: %s/ok\nmax_latency: 5s\n", base));

    expect_fail(fmt("http: %s/fail\n", base), 2000 * MS,
                "status 503, expected 2xx: down for maintenance");
    expect_fail(fmt("http: %s/ok\nstatus: [201, 204]\n", base), 2000 * MS,
                "status 200, expected [201,204]");
    expect_fail(fmt("http: %s/redir\n", base), 2000 * MS, "status 302, expected 2xx");
    expect_fail(fmt("http: %s/ok\nbody_match: down\n", base), 2000 * MS,
                "body does not contain 'down'");
    expect_fail(fmt("http: %s/ok\njson: {path: '$.a.b[1]', equals: 3}\n", base), 2000 * MS,
                "$.a.b[1] is 2, expected 3");
    expect_fail(fmt("http: %s/ok\njson: {path: '$.x', exists: true}\n", base), 2000 * MS,
                "$.x is absent");
    expect_fail(fmt("http: %s/notjson\njson: valid\n", base), 2000 * MS, "invalid JSON at line 1");
    expect_fail(fmt("http: %s/ok\nmax_latency: 1ns\n", base), 2000 * MS, "over 1ns");
    expect_fail(fmt("http: http://127.0.0.1:%d/\n", dead_port()), 2000 * MS,
                "connect: Connection refused");
    /* accepts, never answers */
    expect_fail(fmt("http: %s/slow\n", base), 300 * MS, "timed out after 300ms");

    /* The handle is kept between checks: keep-alive, one connection for both requests. */
    struct loaded l = must_load(fmt("http: %s/ok\njson: {path: s, equals: up}\n", base));
    struct fl_probe_ctx ctx = {0};
    struct fl_probe_result res = {0};
    int before = __atomic_load_n(&s.accepted, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(l.ops->check(l.state, &ctx, 2000 * MS, &res), 0);
        assert_true(res.ok);
        assert_int_equal(json_integer_value(json_object_get(res.value, "status")), 200);
        assert_string_equal(json_string_value(json_object_get(res.value, "json")), "up");
        assert_true(res.latency_ns > 0);
        fl_probe_result_clear(&res);
    }
    assert_int_equal(__atomic_load_n(&s.accepted, __ATOMIC_SEQ_CST) - before, 1);
    unload(&l);
    server_stop(&s);
}

/* ---- file ---- */

static void test_file(void **unused)
{
    (void)unused;
    parse_fails("file: x\nexists: maybe\n", 2, 1, "'exists' must be true or false");
    parse_fails("file: x\nini: yes\n", 2, 1, "'ini' must be 'valid'");
    parse_fails("file: x\nmin_size: lots\n", 2, 1, "'min_size' must be a size");
    parse_fails("file: x\nexists: false\njson: valid\n", 2, 1, "cannot be combined");
    parse_fails("file: [x]\n", 1, 1, "'file' must be a non-empty string");

    char dir[128];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "probes-file"), 0);
    g_cwd = dir;
    write_file(dir, "ok.json", "{\"mode\": \"auto\", \"n\": [1, 2, 3]}\n", 33);
    write_file(dir, "torn.json", "{\"mode\": \"au", 12);
    write_file(dir, "ok.ini", "\xef\xbb\xbf; comment\n# also\n[main]\nkey = value\n"
               "empty=\r\nurl: http://x\n\n[other] ; note\nk=v", 79);
    write_file(dir, "bad.ini", "[main]\nkey = value\njust words\n", 30);
    write_file(dir, "nul.ini", "[main]\nk=v\n\0\0\0\0", 15);
    write_file(dir, "bad2.ini", "[]\n", 3);

    expect_ok("file: ok.json\n");
    expect_ok(fmt("file: %s/ok.json\n", dir)); /* absolute */
    expect_ok("file: missing.json\nexists: false\n");
    expect_ok("file: ok.json\njson: valid\n");
    expect_ok("file: ok.json\njson: {path: mode, equals: auto}\n");
    expect_ok("file: ok.json\njson: {path: 'n[2]', equals: 3}\n");
    expect_ok("file: ok.json\nmatch: '/\"mode\": *\"auto\"/'\nmin_size: 10\nmax_size: 1KiB\n");
    expect_ok("file: ok.ini\nini: valid\n");

    expect_fail("file: missing.json\n", 2000 * MS, "missing.json: no such file");
    expect_fail("file: ok.json\nexists: false\n", 2000 * MS, "ok.json exists");
    expect_fail("file: torn.json\njson: valid\n", 2000 * MS, "torn.json: invalid JSON at line 1");
    expect_fail("file: ok.json\njson: {path: mode, equals: manual}\n", 2000 * MS,
                "ok.json: mode is \"auto\", expected \"manual\"");
    expect_fail("file: bad.ini\nini: true\n", 2000 * MS,
                "bad.ini: invalid INI at line 3: expected key = value");
    expect_fail("file: nul.ini\nini: valid\n", 2000 * MS, "invalid INI at line 3: NUL byte");
    expect_fail("file: bad2.ini\nini: valid\n", 2000 * MS, "line 1: expected [section]");
    expect_fail("file: ok.json\nmatch: manual\n", 2000 * MS, "ok.json does not contain 'manual'");
    expect_fail("file: torn.json\nmin_size: 1KB\n", 2000 * MS, "torn.json is 12B, less than");
    expect_fail("file: ok.json\nmax_size: 10\n", 2000 * MS, "ok.json is 33B, more than 10B");

    struct fl_probe_result res;
    run("file: ok.json\njson: {path: n, exists: true}\n", 2000 * MS, &res);
    assert_true(res.ok);
    assert_int_equal(json_integer_value(json_object_get(res.value, "size")), 33);
    assert_int_equal(json_array_size(json_object_get(res.value, "json")), 3);
    fl_probe_result_clear(&res);
    g_cwd = NULL;
    fl_test_rmtree(dir);
}

/* ---- sqlite ---- */

static void make_db(const char *path, int rows)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x INTEGER, s TEXT);"
                                      "CREATE INDEX t_s ON t(s);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 1; i <= rows; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%d, 'row %d')", i, i);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void patch(const char *path, long off, const char *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void test_sqlite(void **unused)
{
    (void)unused;
    parse_fails("sqlite: x.db\nintegrity: maybe\n", 2, 1, "'integrity' must be true");
    parse_fails("sqlite: x.db\nequals: 3\n", 2, 1, "'equals' needs a 'query'");
    parse_fails("sqlite: x.db\nquery: select 1\nrows: -1\n", 3, 1, "'rows' must be an integer");
    parse_fails("sqlite: x.db\nquery: select 1\nequals: [1]\n", 3, 1, "single value");

    char dir[128];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "probes-sqlite"), 0);
    g_cwd = dir;
    make_db(fmt("%s/good.db", dir), 3);
    make_db(fmt("%s/notadb.db", dir), 3);
    patch(fmt("%s/notadb.db", dir), 0, "garbage garbage!", 16);
    make_db(fmt("%s/malformed.db", dir), 3);
    patch(fmt("%s/malformed.db", dir), 100, "\x01\x02\x03\x04", 4); /* schema page header */
    make_db(fmt("%s/broken-index.db", dir), 2000);

    expect_ok("sqlite: good.db\n");
    expect_ok("sqlite: good.db\nintegrity: true\n");
    expect_ok("sqlite: good.db\nintegrity: quick\n");
    expect_ok("sqlite: good.db\nquery: SELECT count(*) FROM t\nequals: 3\n");
    expect_ok("sqlite: good.db\nquery: SELECT count(*) FROM t\nequals: '3'\n");
    expect_ok("sqlite: good.db\nquery: SELECT s FROM t WHERE x = 2\nequals: row 2\n");
    expect_ok("sqlite: good.db\nquery: SELECT x FROM t\nrows: 3\nintegrity: true\n");
    expect_ok("sqlite: good.db\nquery: SELECT NULL\nequals: null\n");

    expect_fail("sqlite: good.db\nquery: SELECT count(*) FROM t\nequals: 4\n", 2000 * MS,
                "query returned 3, expected 4");
    expect_fail("sqlite: good.db\nquery: SELECT x FROM t\nrows: 2\n", 2000 * MS,
                "query returned 3 rows, expected 2");
    expect_fail("sqlite: good.db\nquery: SELECT nope FROM t\n", 2000 * MS, "no such column: nope");
    expect_fail("sqlite: good.db\nquery: DELETE FROM t\n", 2000 * MS, "readonly database");
    expect_fail("sqlite: nope.db\n", 2000 * MS, "nope.db: no such file");
    struct stat st;
    assert_int_equal(stat(fmt("%s/nope.db", dir), &st), -1); /* never created */
    expect_fail("sqlite: notadb.db\n", 2000 * MS, "file is not a database");
    expect_fail("sqlite: notadb.db\nquery: SELECT 1 FROM t\n", 2000 * MS,
                "file is not a database");
    expect_fail("sqlite: malformed.db\n", 2000 * MS, "database disk image is malformed");

    /* A b-tree page of the index overwritten: integrity_check names the first problem. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fmt("%s/broken-index.db", dir), &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE "
                                            "name = 't_s'", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int root = sqlite3_column_int(q, 0), psize = 4096;
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    psize = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    char junk[64];
    memset(junk, 0x5a, sizeof(junk));
    patch(fmt("%s/broken-index.db", dir), (long)(root - 1) * psize + 8, junk, sizeof(junk));
    struct fl_probe_result res;
    run("sqlite: broken-index.db\n", 5000 * MS, &res);
    assert_false(res.ok);
    assert_true(res.detail[0] != '\0');
    assert_null(strstr(res.detail, "***"));
    assert_null(strchr(res.detail, '\n'));
    assert_string_not_equal(json_string_value(json_object_get(res.value, "integrity")), "ok");
    fl_probe_result_clear(&res);

    /* A row whose text no longer matches its index entry: integrity_check reports it as a
     * row of its result, and the first such row is the detail. */
    make_db(fmt("%s/index-mismatch.db", dir), 20);
    FILE *f = fopen(fmt("%s/index-mismatch.db", dir), "rb");
    assert_non_null(f);
    static char img[1 << 16];
    size_t n = fread(img, 1, sizeof(img), f);
    fclose(f);
    char *hit = memmem(img, n, "row 15", 6); /* the table's page comes before the index's */
    assert_non_null(hit);
    patch(fmt("%s/index-mismatch.db", dir), hit - img, "rxw", 3);
    expect_fail("sqlite: index-mismatch.db\n", 2000 * MS, "row 15 missing from index t_s");
    run("sqlite: index-mismatch.db\n", 2000 * MS, &res);
    assert_int_equal(json_integer_value(json_object_get(res.value, "problems")), 1);
    fl_probe_result_clear(&res);
    expect_ok("sqlite: index-mismatch.db\nintegrity: false\nquery: SELECT count(*) FROM t\n"
              "equals: 20\n");

    /* A query that never ends is interrupted at the timeout. */
    expect_fail("sqlite: good.db\nquery: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                "SELECT x + 1 FROM c) SELECT count(*) FROM c'\n", 300 * MS,
                "query timed out after 300ms");

    run("sqlite: good.db\nquery: SELECT x, s FROM t ORDER BY x\n", 2000 * MS, &res);
    assert_true(res.ok);
    assert_int_equal(json_integer_value(json_object_get(res.value, "rows")), 3);
    json_t *first = json_object_get(res.value, "first");
    assert_int_equal(json_integer_value(json_array_get(first, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(first, 1)), "row 1");
    fl_probe_result_clear(&res);
    g_cwd = NULL;
    fl_test_rmtree(dir);
}

/* ---- process ---- */

static pid_t spawn(const char *const argv[])
{
    pid_t pid;
    posix_spawnattr_t a;
    posix_spawnattr_init(&a);
    posix_spawnattr_setpgroup(&a, 0);
    posix_spawnattr_setflags(&a, POSIX_SPAWN_SETPGROUP);
    assert_int_equal(posix_spawn(&pid, argv[0], NULL, &a, (char *const *)argv, environ), 0);
    posix_spawnattr_destroy(&a);
    return pid;
}

static void reap_group(pid_t pid)
{
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void *idle_thread(void *p)
{
    int fd = *(int *)p;
    char c;
    (void)!read(fd, &c, 1);
    return NULL;
}

static void test_process(void **unused)
{
    (void)unused;
    parse_fails("process: [1]\n", 1, 1, "'process' must be 'target', a pid, or a name");
    parse_fails("process: target\nmax_rss: lots\n", 2, 1, "'max_rss' must be a size");
    parse_fails("process: target\nmax_fds: -1\n", 2, 1, "'max_fds' must be an integer 0..");
    parse_fails("process: target\nalive: false\nmax_fds: 3\n", 2, 1, "cannot be combined");

    /* A child with two children of its own. */
    const char *const sh[] = {"/bin/sh", "-c", "sleep 30 & sleep 30 & wait", NULL};
    pid_t pid = spawn(sh);
    for (int i = 0; i < 300; i++) { /* until both children exist */
        struct fl_probe_result res;
        run(fmt("process: %d\n", (int)pid), 2000 * MS, &res);
        json_int_t n = json_integer_value(json_object_get(res.value, "children"));
        fl_probe_result_clear(&res);
        if (n == 2)
            break;
        usleep(10000);
    }
    expect_ok(fmt("process: %d\nmax_children: 2\nmax_fds: 100\nmax_rss: 1GiB\nmax_threads: 1\n",
                  (int)pid));
    expect_fail(fmt("process: %d\nmax_children: 1\n", (int)pid), 2000 * MS,
                fmt("pid %d has 2 children, more than 1", (int)pid));
    expect_fail(fmt("process: %d\nmax_fds: 0\n", (int)pid), 2000 * MS, "open fds, more than 0");
    expect_fail(fmt("process: %d\nmax_rss: 1KiB\n", (int)pid), 2000 * MS,
                "resident, more than 1KiB");
    expect_fail(fmt("process: %d\nalive: false\n", (int)pid), 2000 * MS,
                fmt("pid %d is alive", (int)pid));
    g_target = pid;
    expect_ok("process: target\n");
    g_target = 0;
    expect_fail("process: target\n", 2000 * MS, "target: no target process");
    expect_ok("process: target\nalive: false\n");

    struct fl_probe_result res;
    run(fmt("process: %d\n", (int)pid), 2000 * MS, &res);
    assert_true(res.ok);
    assert_true(json_integer_value(json_object_get(res.value, "fds")) >= 0);
    assert_true(json_integer_value(json_object_get(res.value, "rss")) > 0);
    assert_int_equal(json_integer_value(json_object_get(res.value, "threads")), 1);
    assert_int_equal(json_integer_value(json_object_get(res.value, "children")), 2);
    fl_probe_result_clear(&res);

    /* A zombie is not alive; a reaped process is gone. */
    kill(pid, SIGKILL);
    assert_true(wait_gone(pid));
    expect_fail(fmt("process: %d\n", (int)pid), 2000 * MS,
                fmt("pid %d is not running (zombie)", (int)pid));
    reap_group(pid);
    expect_fail(fmt("process: %d\n", (int)pid), 2000 * MS, "is not running");
    expect_ok(fmt("process: %d\nalive: false\n", (int)pid));

    /* By name: a uniquely named link to sleep, so no other process on the host matches. */
    char dir[128], link[256], name[32];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "probes-proc"), 0);
    snprintf(name, sizeof(name), "flpz%d", (int)getpid());
    snprintf(link, sizeof(link), "%s/%s", dir, name);
    assert_int_equal(symlink("/bin/sleep", link), 0);
    const char *const sl[] = {link, "30", NULL};
    pid_t named = spawn(sl);
    bool found = false;
    for (int i = 0; i < 300 && !found; i++) {
        run(fmt("process: '%s*'\n", name), 2000 * MS, &res);
        found = res.ok && json_integer_value(json_object_get(res.value, "pid")) == named;
        fl_probe_result_clear(&res);
        if (!found)
            usleep(10000);
    }
    assert_true(found);
    reap_group(named);
    expect_fail(fmt("process: '%s*'\n", name), 2000 * MS, "no such process");
    expect_ok(fmt("process: '%s*'\nalive: false\n", name));
    fl_test_rmtree(dir);

    /* Threads, on ourselves. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, idle_thread, &p[0]), 0);
    expect_fail(fmt("process: %d\nmax_threads: 1\n", (int)getpid()), 2000 * MS,
                "threads, more than 1");
    (void)!write(p[1], "x", 1);
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_command_parse),
        cmocka_unit_test(test_command_checks),
        cmocka_unit_test(test_command_timeout_and_group),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_http_parse),
        cmocka_unit_test(test_http_checks),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
