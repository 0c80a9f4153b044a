/* SPDX-License-Identifier: MIT */
/*
 * http_latency.c - the `http_latency` toxic (a faultline extension): delay each HTTP/1.x
 * message once, at its first byte, by latency ms (+- jitter ms), instead of every chunk.
 *
 * On the upstream stream that is per request; on downstream, per response. The framing
 * parser (http.c) finds where each message starts; a chunk holding several pipelined
 * messages is split there, and each message's bytes are released at the time its first byte
 * was read plus its own delay, so a long body sent in many chunks is not delayed many times
 * and pipelined requests are not delayed cumulatively. Once the framing fails (not HTTP/1.x)
 * the rest of the connection passes on as it comes, with no further delay.
 */
#include "toxic.h"

#include <stdlib.h>

#include "http.h"

static const struct fl_toxic_attr http_latency_attrs[] = {
    {.name = "latency", .min = 0, .def = 0, .max = 3600000},
    {.name = "jitter", .min = 0, .def = 0, .max = 3600000},
};

struct http_latency {
    struct fl_http parse;
    uint64_t release_ns;  /* of the message at hand */
};

static void http_latency_data(struct fl_stage *st, struct fl_item *it)
{
    struct http_latency *s = st->priv;
    if (!s) {
        s = st->priv = calloc(1, sizeof(*s));
        if (!s) {
            fl_item_free(it);
            fl_stage_abort(st, false);
            return;
        }
        fl_http_init(&s->parse, false);
        s->parse.detect = true; /* requests or responses, whichever the first line is */
    }
    size_t off = 0, start = 0;
    for (;;) {
        enum fl_http_ev ev;
        off += fl_http_feed(&s->parse, it->data + off, it->len - off, &ev);
        if (ev == FL_HTTP_BEGIN) {
            if (!fl_http_queue_slice(st, it, start, off, s->release_ns))
                goto out;
            start = off;
            int64_t ms = st->attr[0];
            if (st->attr[1] > 0)
                ms += (int64_t)fl_stage_below(st, (uint64_t)st->attr[1] * 2) - st->attr[1];
            s->release_ns = it->ts_ns + (ms > 0 ? (uint64_t)ms * 1000000u : 0);
        }
        if (ev == FL_HTTP_MORE || ev == FL_HTTP_ERROR)
            break;
    }
    if (start == 0) {
        fl_stage_queue(st, it, s->release_ns);
        return;
    }
    fl_http_queue_slice(st, it, start, it->len, s->release_ns);
out:
    fl_item_free(it);
}

const struct fl_toxic_ops fl_toxic_http_latency = {
    .type = "http_latency",
    .go_struct = "HttpLatencyToxic",
    .attrs = http_latency_attrs,
    .n_attrs = 2,
    .on_data = http_latency_data,
};
