/* SPDX-License-Identifier: MIT */
/*
 * http_body.c - the `http_body` toxic (a faultline extension, downstream): malformed HTTP/1.x
 * response bodies. `truncate` keeps that many body bytes of each response (-1: all);
 * `garble` flips that many distinct bits in the kept body; `keep_length` 1 leaves the
 * Content-Length header as the server sent it (the body then falls short of it), 0 rewrites
 * it to the truncated length so the response stays well-formed.
 *
 * Responses are framed incrementally (http.c); the header block is held until it is complete
 * so Content-Length can be rewritten, then body bytes stream through. A response cut short
 * against its framing (keep_length 1, a chunked body, a body until close) ends the
 * connection with FIN right after the kept bytes: that is what a client sees from a server
 * that dies mid-response, and nothing after it could be framed anyway. Bit positions are drawn
 * from the seeded generator over the kept body: over Content-Length bytes when the response
 * has one, otherwise over its first min(truncate, 4096) bytes as sent (chunk framing
 * included). Requests on the upstream link are followed (on_peer_write) only to know which
 * responses answer HEAD and so have no body. Not HTTP/1.x: passed through untouched. On the
 * upstream stream the toxic does nothing: responses flow downstream.
 */
#include "toxic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static const struct fl_toxic_attr http_body_attrs[] = {
    {.name = "truncate", .min = -1, .def = -1, .max = INT64_MAX},
    {.name = "garble", .min = 0, .def = 0, .max = 1024},
    {.name = "keep_length", .min = 0, .def = 1, .max = 1},
};

#define HEAD_MAX (64 * 1024) /* a longer header block is passed through unparsed */
#define GARBLE_SPAN 4096     /* bytes garbled over when the body length is unknown */

enum { PH_IDLE, PH_HEAD, PH_BODY };

struct http_body {
    struct fl_http req, resp;
    struct fl_http_fifo heads;
    int phase;
    bool broken, cut;       /* cut: truncated against the framing, connection closing */
    char *hdr;              /* the header block being collected */
    size_t hdr_len, hdr_cap;
    int64_t keep;           /* body bytes to keep of this response; -1 all */
    bool close_on_cut;      /* truncation breaks the framing: close after the kept bytes */
    uint64_t body_pos;      /* body bytes seen of this response */
    uint64_t *flips;        /* sorted bit positions to flip, relative to the body start */
    size_t n_flips, next_flip;
    uint64_t ts;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool emit(struct fl_stage *st, struct fl_item *like, const char *p, size_t n)
{
    if (!n)
        return true;
    struct fl_item *it = fl_item_new(like->link, FL_ITEM_DATA, n);
    if (!it) {
        fl_stage_abort(st, false);
        return false;
    }
    memcpy(it->data, p, n);
    it->len = n;
    it->ts_ns = like->ts_ns;
    fl_stage_queue(st, it, 0);
    return true;
}

/* Rewrite every Content-Length line of the held header block to keep bytes. */
static void rewrite_length(struct http_body *s, int64_t keep)
{
    char *out = malloc(s->hdr_len + 32);
    if (!out)
        return;
    size_t o = 0;
    for (size_t i = 0; i < s->hdr_len;) {
        char *nl = memchr(s->hdr + i, '\n', s->hdr_len - i);
        size_t end = nl ? (size_t)(nl - s->hdr) + 1 : s->hdr_len;
        if (end - i > 15 && !strncasecmp(s->hdr + i, "content-length:", 15))
            o += (size_t)sprintf(out + o, "Content-Length: %lld\r\n", (long long)keep);
        else {
            memcpy(out + o, s->hdr + i, end - i);
            o += end - i;
        }
        i = end;
    }
    free(s->hdr);
    s->hdr = out;
    s->hdr_len = o;
    s->hdr_cap = s->hdr_len + 32;
}

/* The header block is complete: decide this response's fate, then send the block on. */
static bool head_done(struct fl_stage *st, struct http_body *s, struct fl_item *like,
                      bool has_body)
{
    s->body_pos = 0;
    s->n_flips = s->next_flip = 0;
    s->keep = has_body ? st->attr[0] : -1;
    s->close_on_cut = true;
    if (has_body && s->resp.has_len) {
        int64_t len = s->resp.clen;
        if (s->keep >= 0 && s->keep < len && !st->attr[2]) {
            rewrite_length(s, s->keep);
            s->close_on_cut = false;
        }
    }
    uint64_t span = 0;
    if (has_body) {
        if (s->resp.has_len)
            span = (uint64_t)s->resp.clen;
        else
            span = GARBLE_SPAN;
        if (s->keep >= 0 && (uint64_t)s->keep < span)
            span = (uint64_t)s->keep;
    }
    uint64_t want = (uint64_t)st->attr[1];
    if (want > span * 8)
        want = span * 8;
    if (want) {
        uint64_t *f = realloc(s->flips, want * sizeof(*f));
        if (!f) {
            fl_stage_abort(st, false);
            return false;
        }
        s->flips = f;
        while (s->n_flips < want) {
            uint64_t bit = fl_stage_below(st, span * 8);
            bool dup = false;
            for (size_t i = 0; i < s->n_flips; i++)
                dup = dup || f[i] == bit;
            if (!dup)
                f[s->n_flips++] = bit;
        }
        qsort(f, s->n_flips, sizeof(*f), cmp_u64);
    }
    bool ok = emit(st, like, s->hdr, s->hdr_len);
    s->hdr_len = 0;
    return ok;
}

/* Body bytes p[0..n) of the response at hand: garble, truncate, send. */
static bool body(struct fl_stage *st, struct http_body *s, struct fl_item *it, size_t off,
                 size_t n)
{
    uint64_t keep_n = n;
    if (s->keep >= 0)
        keep_n = s->body_pos >= (uint64_t)s->keep ? 0
                 : ((uint64_t)s->keep - s->body_pos < n ? (uint64_t)s->keep - s->body_pos : n);
    char *p = it->data + off;
    while (s->next_flip < s->n_flips && s->flips[s->next_flip] / 8 < s->body_pos + keep_n) {
        uint64_t bit = s->flips[s->next_flip++];
        p[bit / 8 - s->body_pos] = (char)(p[bit / 8 - s->body_pos] ^ (1u << (bit % 8)));
    }
    if (!emit(st, it, p, (size_t)keep_n))
        return false;
    s->body_pos += n;
    if (keep_n < n && s->close_on_cut) {
        s->cut = true;
        struct fl_item *close = fl_item_new(it->link, FL_ITEM_CLOSE, 0);
        if (!close) {
            fl_stage_abort(st, false);
            return false;
        }
        fl_stage_queue(st, close, 0);
    }
    return true;
}

static bool hdr_add(struct fl_stage *st, struct http_body *s, struct fl_item *it,
                    const char *p, size_t n)
{
    if (s->hdr_len + n > HEAD_MAX) {
        /* Too long to hold: give up on this connection's framing. */
        s->broken = true;
        bool ok = emit(st, it, s->hdr, s->hdr_len);
        s->hdr_len = 0;
        return ok && emit(st, it, p, n);
    }
    if (s->hdr_len + n > s->hdr_cap) {
        size_t cap = s->hdr_len + n + 1024;
        char *h = realloc(s->hdr, cap);
        if (!h) {
            fl_stage_abort(st, false);
            return false;
        }
        s->hdr = h;
        s->hdr_cap = cap;
    }
    memcpy(s->hdr + s->hdr_len, p, n);
    s->hdr_len += n;
    return true;
}

static struct http_body *state(struct fl_stage *st)
{
    if (!st->priv) {
        struct http_body *s = calloc(1, sizeof(*s));
        if (!s)
            return NULL;
        fl_http_init(&s->req, false);
        fl_http_init(&s->resp, true);
        s->keep = -1;
        st->priv = s;
    }
    return st->priv;
}

static void http_body_data(struct fl_stage *st, struct fl_item *it)
{
    if (fl_stage_upstream(st)) {
        fl_stage_queue(st, it, 0); /* responses only flow downstream */
        return;
    }
    struct http_body *s = state(st);
    if (!s) {
        fl_item_free(it);
        fl_stage_abort(st, false);
        return;
    }
    size_t off = 0;
    while (off < it->len || s->phase == PH_HEAD) {
        if (s->cut)
            break; /* the rest is dropped; the connection is closing */
        if (s->broken) {
            if (!emit(st, it, s->hdr, s->hdr_len) || !emit(st, it, it->data + off, it->len - off))
                break;
            s->hdr_len = 0;
            break;
        }
        enum fl_http_ev ev;
        size_t n = fl_http_feed(&s->resp, it->data + off, it->len - off, &ev);
        bool ok = true;
        if (s->phase == PH_HEAD)
            ok = hdr_add(st, s, it, it->data + off, n);
        else if (s->phase == PH_BODY)
            ok = body(st, s, it, off, n);
        else
            ok = emit(st, it, it->data + off, n);
        off += n;
        if (!ok)
            break;
        if (ev == FL_HTTP_ERROR) {
            s->broken = true;
        } else if (ev == FL_HTTP_BEGIN) {
            s->resp.head_req = fl_http_fifo_peek(&s->heads);
            s->phase = PH_HEAD;
        } else if (ev == FL_HTTP_HEAD_DONE && s->phase == PH_HEAD) {
            /* Whether a body follows: the parser says END at once when there is none. */
            enum fl_http_ev next;
            fl_http_feed(&s->resp, it->data + off, 0, &next);
            bool has_body = next != FL_HTTP_END;
            if (!head_done(st, s, it, has_body))
                break;
            s->phase = has_body ? PH_BODY : PH_IDLE;
            if (!has_body && fl_http_final(&s->resp))
                fl_http_fifo_pop(&s->heads);
        } else if (ev == FL_HTTP_END) {
            s->phase = PH_IDLE;
            if (fl_http_final(&s->resp))
                fl_http_fifo_pop(&s->heads);
        } else if (ev == FL_HTTP_MORE) {
            break;
        }
    }
    fl_item_free(it);
}

/* A request went to the server: note whether it was HEAD (its response has no body). */
static void http_body_peer(struct fl_stage *st, const struct fl_item *it)
{
    if (fl_stage_upstream(st))
        return;
    struct http_body *s = state(st);
    if (!s || it->kind != FL_ITEM_DATA)
        return;
    size_t off = 0;
    for (;;) {
        enum fl_http_ev ev;
        off += fl_http_feed(&s->req, it->data + off, it->len - off, &ev);
        if (ev == FL_HTTP_MORE || ev == FL_HTTP_ERROR)
            break;
        if (ev == FL_HTTP_HEAD_DONE)
            fl_http_fifo_push(&s->heads, s->req.is_head);
    }
}

static void http_body_retire(struct fl_stage *st)
{
    struct http_body *s = st->priv;
    if (!s)
        return;
    free(s->hdr);
    free(s->flips);
    free(s->heads.buf);
    s->hdr = NULL;
    s->flips = NULL;
    s->heads.buf = NULL;
}

const struct fl_toxic_ops fl_toxic_http_body = {
    .type = "http_body",
    .go_struct = "HttpBodyToxic",
    .attrs = http_body_attrs,
    .n_attrs = 3,
    .on_data = http_body_data,
    .on_peer_write = http_body_peer,
    .on_retire = http_body_retire,
};
