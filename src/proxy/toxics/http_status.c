/* SPDX-License-Identifier: MIT */
/*
 * http_status.c - the `http_status` toxic (a faultline extension, upstream): answer `rate`
 * percent of HTTP/1.x requests with status `status` (and a Retry-After of `retry_after`
 * seconds when > 0) from the proxy itself, without forwarding them to the server.
 *
 * The request stream is framed incrementally (http.c: request line, headers, Content-Length
 * or chunked body), and the choice is drawn per request from the seeded generator at its
 * first byte. Chosen requests are dropped whole; the others are forwarded in order.
 *
 * Responses must reach the client in request order, so the stage also parses the responses
 * the downstream link writes to the client (on_peer_write) and counts the final ones. A
 * synthesized reply is written (fl_stage_inject, behind everything already written to the
 * client) once every request forwarded before it has been answered; until then the rest of
 * the client's input is held in the stage, still charged to the link, so backpressure stops
 * reading. If the server closes or its responses cannot be framed, the wait ends there. Input
 * that is not HTTP/1.x is passed through untouched from the point where framing failed.
 *
 * On the downstream stream (Toxiproxy's default, so what a toxic added without a stream gets)
 * the requests reach the server, and `rate` percent of its responses are replaced on their
 * way back: the response is dropped whole and the injected one takes its place, in order.
 * That is a gateway failing after the backend did the work. An interim response (1xx) that
 * is chosen takes the final one after it along. The requests the upstream link writes are
 * framed only to know which responses answer a HEAD (no body).
 */
#include "toxic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static const struct fl_toxic_attr http_status_attrs[] = {
    {.name = "status", .min = 200, .def = 503, .max = 599},
    {.name = "rate", .min = 0, .def = 100, .max = 100},
    {.name = "retry_after", .min = 0, .def = 0, .max = 86400},
};

struct http_status {
    struct fl_http req, resp;
    struct fl_http_fifo heads;  /* forwarded requests not yet answered: HEAD or not */
    bool synth;                 /* the request at hand is answered here (downstream: the
                                 * response at hand is being replaced) */
    struct fl_link *link;       /* downstream: the link of the response being replaced */
    int pending;                /* a reply waits for earlier responses (2: to a HEAD, no
                                 * body); meanwhile input is held */
    bool req_broken, resp_broken;
    uint64_t forwarded, answered;
    struct fl_item *hold_head, *hold_tail; /* held input, oldest first */
    size_t hold_off;            /* bytes of hold_head already handled */
};

static const char *reason(int64_t status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Injected";
    }
}

/* The injected response, into msg (512 bytes); returns its length. */
static size_t reply_text(const struct fl_stage *st, bool head, char *msg)
{
    char body[64], retry[48] = "";
    int blen = snprintf(body, sizeof(body), "faultline http_status %lld\n",
                        (long long)st->attr[0]);
    if (st->attr[2] > 0)
        snprintf(retry, sizeof(retry), "Retry-After: %lld\r\n", (long long)st->attr[2]);
    int n = snprintf(msg, 512,
                     "HTTP/1.1 %lld %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "%s\r\n%s",
                     (long long)st->attr[0], reason(st->attr[0]), blen, retry, head ? "" : body);
    return (size_t)n;
}

/* Upstream: the reply goes to the client behind everything already written to it. */
static void reply(struct fl_stage *st, bool head)
{
    char msg[512];
    fl_stage_inject(st, msg, reply_text(st, head, msg));
}

/* Downstream: the reply goes out through this stage, where the replaced response was. */
static bool reply_in_stream(struct fl_stage *st, const struct fl_item *it, bool head)
{
    char msg[512];
    size_t n = reply_text(st, head, msg);
    struct fl_item *r = fl_item_new(it->link, FL_ITEM_DATA, n);
    if (!r) {
        fl_stage_abort(st, false);
        return false;
    }
    memcpy(r->data, msg, n);
    r->len = n;
    r->ts_ns = it->ts_ns;
    fl_stage_queue(st, r, 0);
    return true;
}

static void hold_front(struct http_status *s, struct fl_item *it, size_t off)
{
    it->next = s->hold_head;
    s->hold_head = it;
    if (!s->hold_tail)
        s->hold_tail = it;
    s->hold_off = off;
}

static void hold_back(struct http_status *s, struct fl_item *it)
{
    it->next = NULL;
    if (s->hold_tail)
        s->hold_tail->next = it;
    else
        s->hold_head = it;
    s->hold_tail = it;
}

/* Run the bytes of it from off through the request framing: forward, drop, or hold. */
static void process(struct fl_stage *st, struct http_status *s, struct fl_item *it, size_t off)
{
    size_t start = off; /* start of the run of bytes to forward */
    while (!s->req_broken) {
        enum fl_http_ev ev;
        size_t n = fl_http_feed(&s->req, it->data + off, it->len - off, &ev);
        if (s->synth) {
            /* Flush what was forwarded before, skip these bytes. */
            if (!fl_http_queue_slice(st, it, start, off, 0))
                goto done;
            start = off + n;
        }
        off += n;
        if (ev == FL_HTTP_MORE)
            break;
        if (ev == FL_HTTP_ERROR) {
            s->req_broken = true;
            break;
        }
        if (ev == FL_HTTP_BEGIN) {
            s->synth = fl_stage_below(st, 100) < (uint64_t)st->attr[1];
            if (s->synth) {
                if (!fl_http_queue_slice(st, it, start, off, 0))
                    goto done;
                start = off;
            }
        } else if (ev == FL_HTTP_HEAD_DONE && !s->synth) {
            s->forwarded++;
            if (!fl_http_fifo_push(&s->heads, s->req.is_head)) {
                fl_stage_abort(st, false);
                goto done;
            }
        } else if (ev == FL_HTTP_END && s->synth) {
            s->synth = false;
            start = off;
            if (s->answered >= s->forwarded || s->resp_broken) {
                reply(st, s->req.is_head);
                continue;
            }
            /* Earlier responses are still due: owe the reply, hold what follows. */
            s->pending = s->req.is_head ? 2 : 1;
            hold_front(s, it, off);
            return;
        }
    }
    if (start == 0) {
        fl_stage_queue(st, it, 0);
        return;
    }
    fl_http_queue_slice(st, it, start, it->len, 0);
done:
    fl_item_free(it);
}

static struct http_status *state(struct fl_stage *st)
{
    if (!st->priv) {
        struct http_status *s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        fl_http_init(&s->req, false);
        fl_http_init(&s->resp, true);
        st->priv = s;
    }
    return st->priv;
}

/* The owed reply can go now: write it, then run the held input until it owes again. */
static void resume(struct fl_stage *st, struct http_status *s)
{
    reply(st, s->pending == 2);
    s->pending = 0;
    while (!s->pending && s->hold_head && !st->dead) {
        struct fl_item *it = s->hold_head;
        size_t off = s->hold_off;
        s->hold_head = it->next;
        if (!s->hold_head)
            s->hold_tail = NULL;
        s->hold_off = 0;
        it->next = NULL;
        if (it->kind == FL_ITEM_DATA)
            process(st, s, it, off);
        else
            fl_stage_queue(st, it, 0);
    }
}

/* Downstream: run the server's bytes through the response framing; forward them, or drop a
 * chosen response and put the injected one in its place. */
static void replace_responses(struct fl_stage *st, struct http_status *s, struct fl_item *it)
{
    size_t off = 0, start = 0; /* start: first byte not yet forwarded or dropped */
    bool cut = false;          /* it is not forwarded as it is */
    while (!s->resp_broken) {
        enum fl_http_ev ev;
        size_t n = fl_http_feed(&s->resp, it->data + off, it->len - off, &ev);
        if (s->synth && n) {
            if (!fl_http_queue_slice(st, it, start, off, 0))
                goto done;
            start = off + n; /* part of a replaced response: dropped */
            cut = true;
        }
        off += n;
        if (ev == FL_HTTP_MORE)
            break;
        if (ev == FL_HTTP_ERROR) {
            s->resp_broken = true; /* not HTTP: the rest passes through */
            s->synth = false;
            break;
        }
        if (ev == FL_HTTP_BEGIN) {
            bool head = fl_http_fifo_peek(&s->heads);
            s->resp.head_req = head;
            if (!s->synth && fl_stage_below(st, 100) < (uint64_t)st->attr[1]) {
                if (!fl_http_queue_slice(st, it, start, off, 0) ||
                    !reply_in_stream(st, it, head))
                    goto done;
                s->synth = true;
                s->link = it->link;
                start = off;
                cut = true;
            }
        } else if (ev == FL_HTTP_END && fl_http_final(&s->resp)) {
            fl_http_fifo_pop(&s->heads);
            s->synth = false;
        }
    }
    if (!cut) {
        fl_stage_queue(st, it, 0);
        return;
    }
    if (!s->synth)
        fl_http_queue_slice(st, it, start, it->len, 0);
done:
    fl_item_free(it);
}

static void http_status_data(struct fl_stage *st, struct fl_item *it)
{
    struct http_status *s = state(st);
    if (!s) {
        fl_item_free(it);
        fl_stage_abort(st, false);
        return;
    }
    if (!fl_stage_upstream(st)) {
        replace_responses(st, s, it);
        return;
    }
    if (s->pending || s->hold_head)
        hold_back(s, it);
    else
        process(st, s, it, 0);
}

static void http_status_eof(struct fl_stage *st, struct fl_item *it)
{
    struct http_status *s = st->priv;
    if (s && (s->pending || s->hold_head))
        hold_back(s, it);
    else
        fl_stage_queue(st, it, 0);
}

/* Downstream: a request chunk went to the server. Note which requests are HEAD. */
static void note_requests(struct http_status *s, const struct fl_item *it)
{
    for (size_t off = 0; it->kind == FL_ITEM_DATA && !s->req_broken;) {
        enum fl_http_ev ev;
        off += fl_http_feed(&s->req, it->data + off, it->len - off, &ev);
        if (ev == FL_HTTP_MORE)
            break;
        if (ev == FL_HTTP_ERROR)
            s->req_broken = true;
        else if (ev == FL_HTTP_HEAD_DONE && !fl_http_fifo_push(&s->heads, s->req.is_head))
            s->req_broken = true; /* out of memory: every response taken as having a body */
    }
}

/* Upstream: a response chunk (or the server's EOF) went to the client: count final
 * responses. Downstream: a request chunk went to the server. */
static void http_status_peer(struct fl_stage *st, const struct fl_item *it)
{
    struct http_status *s = state(st);
    if (!s)
        return;
    if (!fl_stage_upstream(st)) {
        note_requests(s, it);
        return;
    }
    if (it->kind != FL_ITEM_DATA) {
        s->resp_broken = true; /* nothing more will be answered */
    } else {
        size_t off = 0;
        while (!s->resp_broken) {
            enum fl_http_ev ev;
            off += fl_http_feed(&s->resp, it->data + off, it->len - off, &ev);
            if (ev == FL_HTTP_MORE)
                break;
            if (ev == FL_HTTP_ERROR)
                s->resp_broken = true;
            else if (ev == FL_HTTP_BEGIN)
                s->resp.head_req = fl_http_fifo_peek(&s->heads);
            else if (ev == FL_HTTP_END && fl_http_final(&s->resp)) {
                s->answered++;
                fl_http_fifo_pop(&s->heads);
            }
        }
    }
    if (s->pending && (s->answered >= s->forwarded || s->resp_broken))
        resume(st, s);
}

/* Leaving the chain (toxic changed or removed) while a reply is owed: the chosen request is
 * gone and its reply cannot be put in order any more, so the held input is dropped and the
 * connection closes with FIN after what is ahead, as a server closing a keep-alive connection
 * does; clients retry. Without an owed reply nothing is held. */
static void http_status_retire(struct fl_stage *st)
{
    struct http_status *s = st->priv;
    if (!s)
        return;
    struct fl_link *link = NULL;
    while (s->hold_head) {
        struct fl_item *it = s->hold_head;
        s->hold_head = it->next;
        link = it->link;
        fl_item_free(it);
    }
    s->hold_tail = NULL;
    if (!s->pending && s->synth && s->link) {
        /* Downstream, in the middle of a replaced response: its rest must not follow the
         * injected reply, so the connection ends there, as above. */
        s->pending = 1;
        link = s->link;
    }
    if (s->pending && link) {
        struct fl_item *close = fl_item_new(link, FL_ITEM_CLOSE, 0);
        if (close)
            fl_stage_queue(st, close, 0);
        else
            fl_stage_abort(st, false);
    }
    s->pending = 0;
    free(s->heads.buf);
    s->heads.buf = NULL;
}

const struct fl_toxic_ops fl_toxic_http_status = {
    .type = "http_status",
    .go_struct = "HttpStatusToxic",
    .attrs = http_status_attrs,
    .n_attrs = 3,
    .on_data = http_status_data,
    .on_eof = http_status_eof,
    .on_peer_write = http_status_peer,
    .on_retire = http_status_retire,
};
