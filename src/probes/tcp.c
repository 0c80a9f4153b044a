/* SPDX-License-Identifier: MIT */
/*
 * probes/tcp.c - can a TCP connection be made (and does the peer answer)?
 *
 * For services without HTTP (Modbus-TCP, MQTT, Redis, PostgreSQL) the first question is
 * whether the port accepts; `send` and `reply` go one step further, for protocols with a
 * plain-text greeting or ping (Redis "PING" -> "+PONG"). A fresh connection per check: a kept
 * one would hide exactly the refusals an experiment is looking for.
 *
 * Everything, the connect included, is non-blocking and bounded by the probe's timeout. The
 * host should be an address: names go through getaddrinfo(), which cannot be bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

struct tcp_state {
    char *target;             /* as written: "127.0.0.1:1883", "[::1]:80", "localhost:6379" */
    char host[256];           /* without brackets */
    char port[16];
    char *send;               /* bytes to send after connecting, or NULL */
    struct fl_pu_match reply; /* condition on what comes back (text NULL: none) */
};

static void tcp_free(void *p)
{
    struct tcp_state *s = p;
    if (!s)
        return;
    free(s->target);
    free(s->send);
    fl_pu_match_free(&s->reply);
    free(s);
}

/* "host:port" or "[v6]:port" into host and port; false if malformed. */
static bool split_target(const char *t, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon;
    if (t[0] == '[') {
        const char *close = strchr(t, ']');
        if (!close || close[1] != ':' || close == t + 1 || (size_t)(close - t - 1) >= hl)
            return false;
        memcpy(host, t + 1, (size_t)(close - t - 1));
        host[close - t - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(t, ':');
        if (!colon || colon == t || memchr(t, ':', (size_t)(colon - t)) ||
            (size_t)(colon - t) >= hl)
            return false; /* a bare IPv6 address needs brackets */
        memcpy(host, t, (size_t)(colon - t));
        host[colon - t] = '\0';
    }
    const char *p = colon + 1;
    char *end;
    long n = strtol(p, &end, 10);
    if (!*p || *end || n < 1 || n > 65535 || strlen(p) >= pl)
        return false;
    snprintf(port, pl, "%ld", n);
    return true;
}

static int tcp_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                     struct fl_err *err)
{
    static const char *const keys[] = {"tcp", "send", "reply", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct tcp_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    if ((r = fl_pu_get_string(doc, spec, "tcp", &s->target, err)) <= 0 ||
        !split_target(s->target, s->host, sizeof(s->host), s->port, sizeof(s->port))) {
        if (r >= 0)
            r = fl_doc_error(doc, spec, "tcp", err,
                             "'tcp' must be HOST:PORT, like 127.0.0.1:1883 or [::1]:1883");
        goto fail;
    }
    json_t *snd = json_object_get(spec, "send");
    if (snd) {
        if (!json_is_string(snd) || json_string_length(snd) == 0) {
            r = fl_doc_error(doc, spec, "send", err, "'send' must be a non-empty string");
            goto fail;
        }
        if (!(s->send = strdup(json_string_value(snd)))) {
            r = fl_err_set(err, ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((r = fl_pu_get_match(doc, spec, "reply", &s->reply, err)) < 0)
        goto fail;
    *state = s;
    return 0;
fail:
    tcp_free(s);
    return r;
}

static int ms_left(int64_t deadline)
{
    int64_t left = deadline - fl_mono_ns();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

/* Connect one address before deadline: the fd, or -errno (-ETIMEDOUT at the deadline). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int n = poll(&pf, 1, ms_left(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return n == 0 ? -ETIMEDOUT : -errno;
        }
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) {
            close(fd);
            return -e;
        }
        return fd;
    }
}

static int tcp_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                     struct fl_probe_result *out)
{
    struct tcp_state *s = state;
    int64_t t0 = fl_mono_ns(), deadline = t0 + timeout_ns;
    char tbuf[32];
    out->ok = false;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(s->host, s->port, &hints, &res);
    if (g == EAI_ADDRFAMILY || g == EAI_NONAME) { /* [::1] without a v6 route configured */
        hints.ai_flags = 0;
        g = getaddrinfo(s->host, s->port, &hints, &res);
    }
    if (g) {
        fl_pu_detail(out, "%s: %s", s->host, gai_strerror(g));
        out->value = json_pack("{s:b}", "connected", 0);
        out->latency_ns = fl_mono_ns() - t0;
        return 0;
    }
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0 && fl_mono_ns() < deadline; ai = ai->ai_next)
        fd = connect_one(ai, deadline);
    freeaddrinfo(res);
    out->value = json_pack("{s:b}", "connected", fd >= 0);
    if (fd < 0) {
        out->latency_ns = fl_mono_ns() - t0;
        if (fd == -ETIMEDOUT)
            fl_pu_detail(out, "connect timed out after %s",
                         fl_format_duration(timeout_ns, tbuf, sizeof(tbuf)));
        else
            fl_pu_detail(out, "connect: %s", strerror(-fd));
        return 0;
    }
    if (!s->send && !s->reply.text) {
        out->latency_ns = fl_mono_ns() - t0;
        out->ok = true;
        close(fd);
        return 0;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const char *what = "";
    size_t sent = 0, slen = s->send ? strlen(s->send) : 0;
    while (sent < slen) {
        ssize_t n = send(fd, s->send + sent, slen - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            what = strerror(errno);
            break;
        }
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, ms_left(deadline)) == 0) {
            what = "timed out";
            break;
        }
    }
    char *buf = NULL;
    size_t len = 0;
    bool eof = false, timed_out = false;
    if (sent < slen) {
        fl_pu_detail(out, "send: %s", what);
    } else if (s->reply.text) {
        buf = malloc(FL_PU_CAPTURE_MAX + 1);
        /* Read until the reply satisfies the condition, the peer closes, the buffer is full
         * or time is up: a peer may answer in several segments. */
        while (buf && len < FL_PU_CAPTURE_MAX) {
            ssize_t n = recv(fd, buf + len, FL_PU_CAPTURE_MAX - len, 0);
            if (n > 0) {
                len += (size_t)n;
                buf[len] = '\0';
                if (fl_pu_match_test(&s->reply, buf, len))
                    break;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                eof = true;
                if (n < 0)
                    what = strerror(errno);
                break;
            }
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, ms_left(deadline)) == 0) {
                timed_out = true;
                break;
            }
        }
        char cond[128];
        fl_pu_match_describe(&s->reply, cond, sizeof(cond));
        if (buf && fl_pu_match_test(&s->reply, buf, len))
            out->ok = true;
        else if (timed_out)
            fl_pu_detail(out, "reply did not %s within %s (got %zu bytes)", cond,
                         fl_format_duration(timeout_ns, tbuf, sizeof(tbuf)), len);
        else if (eof && *what)
            fl_pu_detail(out, "recv: %s", what);
        else if (eof)
            fl_pu_detail(out, "peer closed; reply does not %s (got %zu bytes)", cond, len);
        else
            fl_pu_detail(out, "reply does not %s", cond);
        if (buf)
            json_object_set_new(out->value, "reply",
                                fl_pu_json_text(buf, len, FL_PU_VALUE_TEXT_MAX));
    } else {
        out->ok = true;
    }
    free(buf);
    close(fd);
    out->latency_ns = fl_mono_ns() - t0;
    (void)ctx;
    return 0;
}

static void tcp_describe(const void *state, char *buf, size_t len)
{
    const struct tcp_state *s = state;
    snprintf(buf, len, "tcp %s", s->target);
}

const struct fl_probe_ops fl_probe_tcp = {
    .name = "tcp",
    .summary = "connect to HOST:PORT within the timeout; optionally send and match the reply",
    .parse = tcp_parse,
    .check = tcp_check,
    .describe = tcp_describe,
    .free = tcp_free,
};
