/* SPDX-License-Identifier: MIT */
/*
 * http.h - an incremental HTTP/1.x message framing parser shared by the http_* toxics.
 *
 * It only finds where messages begin and end (request or status line, headers,
 * Content-Length or chunked body, trailers), so a toxic can act per request or response
 * while the bytes flow through in chunks of any size. Anything it cannot frame (HTTP/2, a bad
 * length, a line it does not understand) puts it in the broken state for good, and the toxics
 * then pass the rest of the connection through untouched rather than guess.
 */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fl_http_ev {
    FL_HTTP_MORE,      /* every byte given was consumed, no boundary in them */
    FL_HTTP_BEGIN,     /* a message starts at the returned offset (nothing consumed yet) */
    FL_HTTP_HEAD_DONE, /* the header block ended with the consumed bytes */
    FL_HTTP_END,       /* the message ended with the consumed bytes */
    FL_HTTP_ERROR,     /* not HTTP/1.x framing: stay broken */
};

struct fl_http {
    bool response;      /* parse responses (status line) instead of requests */
    bool detect;        /* take a first line starting "HTTP/1." as a response (either way) */
    bool head_req;      /* response: it answers a HEAD request (set by the caller at BEGIN) */
    int state;
    bool began;         /* BEGIN reported for the message at hand */
    bool chunked;
    bool has_len;
    bool is_head;       /* request: the method is HEAD */
    int status;         /* response: the status code */
    int64_t clen;       /* the Content-Length header's value (has_len) */
    uint64_t remain;    /* bytes left in the body or the current chunk */
    size_t line_len;
    char line[256];     /* the current line, truncated: only short prefixes matter */
};

void fl_http_init(struct fl_http *h, bool response);
/* Consume from buf up to the next boundary; returns the bytes consumed, *ev says why it
 * stopped. Call again with the rest (also with len 0 after HEAD_DONE: END may follow). */
size_t fl_http_feed(struct fl_http *h, const char *buf, size_t len, enum fl_http_ev *ev);
/* A final response (not 1xx interim, 101 excepted) just ended. */
bool fl_http_final(const struct fl_http *h);

/* A FIFO of flags, one per request sent and not yet answered: "was it HEAD?", which decides
 * whether its response has a body. Grows as needed; the toxics free buf with their state. */
struct fl_http_fifo {
    uint8_t *buf;
    size_t head, n, cap;
};
bool fl_http_fifo_push(struct fl_http_fifo *f, bool v);
bool fl_http_fifo_peek(const struct fl_http_fifo *f); /* false when empty */
void fl_http_fifo_pop(struct fl_http_fifo *f);

struct fl_item;
struct fl_stage;
/* Queue bytes [start, end) of it on st as a new item read at the same time; false if out of
 * memory (the connection is then aborted). Nothing is queued for an empty range. */
bool fl_http_queue_slice(struct fl_stage *st, const struct fl_item *it, size_t start, size_t end,
                         uint64_t release_ns);

#endif
