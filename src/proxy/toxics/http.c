/* SPDX-License-Identifier: MIT */
/*
 * http.c - the incremental HTTP/1.x framing parser behind the http_* toxics (see http.h).
 *
 * A byte-at-a-time state machine for the line parts and a counted skip for bodies, so cost is
 * linear and no message is ever buffered whole. Lines are kept only up to 255 bytes: the
 * parser needs the method, the status code, Content-Length and Transfer-Encoding, all short.
 */
#include "http.h"

#include "toxic.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    ST_IDLE,        /* between messages (stray CRLFs are skipped) */
    ST_FIRST,       /* request line or status line */
    ST_HEADER,
    ST_BODY,        /* Content-Length body */
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_CRLF,  /* the line end after a chunk's data */
    ST_TRAILER,
    ST_END_PENDING, /* HEAD_DONE reported, END is next (no body) */
    ST_RAW,         /* body until close, or after 101: no more framing */
    ST_BROKEN,
};

void fl_http_init(struct fl_http *h, bool response)
{
    memset(h, 0, sizeof(*h));
    h->response = response;
}

bool fl_http_final(const struct fl_http *h)
{
    return !h->response || h->status >= 200 || h->status == 101;
}

static void message_done(struct fl_http *h)
{
    h->state = ST_IDLE;
    h->began = false;
}

/* Headers ended: pick the body framing. */
static enum fl_http_ev headers_done(struct fl_http *h)
{
    if (h->response) {
        if (h->status == 101) {
            h->state = ST_RAW;
            return FL_HTTP_HEAD_DONE;
        }
        if (h->head_req || h->status < 200 || h->status == 204 || h->status == 304) {
            h->state = ST_END_PENDING;
            return FL_HTTP_HEAD_DONE;
        }
    }
    if (h->chunked) {
        h->state = ST_CHUNK_SIZE;
    } else if (h->has_len && h->clen > 0) {
        h->state = ST_BODY;
        h->remain = (uint64_t)h->clen;
    } else if (h->response && !h->has_len) {
        h->state = ST_RAW; /* the body runs until the server closes */
    } else {
        h->state = ST_END_PENDING;
    }
    return FL_HTTP_HEAD_DONE;
}

static enum fl_http_ev line_done(struct fl_http *h)
{
    char *line = h->line;
    switch (h->state) {
    case ST_FIRST:
        h->chunked = h->has_len = false;
        h->clen = 0;
        if (h->detect)
            h->response = !strncmp(line, "HTTP/1.", 7);
        if (h->response) {
            if (strncmp(line, "HTTP/1.", 7) || h->line_len < 12 || line[8] != ' ')
                return FL_HTTP_ERROR;
            h->status = atoi(line + 9);
            if (h->status < 100 || h->status > 999)
                return FL_HTTP_ERROR;
        } else {
            const char *sp = strchr(line, ' ');
            if (!sp || !strstr(line, " HTTP/1."))
                return FL_HTTP_ERROR;
            h->is_head = sp - line == 4 && !strncmp(line, "HEAD", 4);
        }
        h->state = ST_HEADER;
        return FL_HTTP_MORE;
    case ST_HEADER: {
        if (h->line_len == 0)
            return headers_done(h);
        char *colon = strchr(line, ':');
        if (!colon)
            return FL_HTTP_ERROR;
        *colon = '\0';
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!strcasecmp(line, "content-length")) {
            char *end;
            long long n = strtoll(v, &end, 10);
            while (*end == ' ' || *end == '\t')
                end++;
            if (end == v || *end || n < 0 || (h->has_len && n != h->clen))
                return FL_HTTP_ERROR;
            h->has_len = true;
            h->clen = n;
        } else if (!strcasecmp(line, "transfer-encoding")) {
            for (const char *p = v; *p; p++)
                if (!strncasecmp(p, "chunked", 7))
                    h->chunked = true;
        }
        return FL_HTTP_MORE;
    }
    case ST_CHUNK_SIZE: {
        char *end;
        unsigned long long n = strtoull(line, &end, 16);
        if (end == line || (*end && *end != ';' && *end != ' ' && *end != '\t'))
            return FL_HTTP_ERROR;
        if (n == 0) {
            h->state = ST_TRAILER;
        } else {
            h->state = ST_CHUNK_DATA;
            h->remain = n;
        }
        return FL_HTTP_MORE;
    }
    case ST_CHUNK_CRLF:
        if (h->line_len)
            return FL_HTTP_ERROR;
        h->state = ST_CHUNK_SIZE;
        return FL_HTTP_MORE;
    case ST_TRAILER:
        if (h->line_len)
            return FL_HTTP_MORE;
        message_done(h);
        return FL_HTTP_END;
    }
    return FL_HTTP_ERROR;
}

size_t fl_http_feed(struct fl_http *h, const char *buf, size_t len, enum fl_http_ev *ev)
{
    size_t i = 0;
    *ev = FL_HTTP_MORE;
    if (h->state == ST_END_PENDING) {
        message_done(h);
        *ev = FL_HTTP_END;
        return 0;
    }
    if (h->state == ST_BROKEN) {
        *ev = FL_HTTP_ERROR;
        return 0;
    }
    while (i < len) {
        char ch = buf[i];
        switch (h->state) {
        case ST_IDLE:
            if (ch == '\r' || ch == '\n') {
                i++;
                break;
            }
            if (!h->began) {
                /* A method or "HTTP/" starts with a capital letter: anything else is not
                 * HTTP/1.x, and saying so before BEGIN keeps its bytes from being acted on. */
                if (ch < 'A' || ch > 'Z') {
                    h->state = ST_BROKEN;
                    *ev = FL_HTTP_ERROR;
                    return i;
                }
                h->began = true;
                *ev = FL_HTTP_BEGIN;
                return i;
            }
            h->state = ST_FIRST;
            h->line_len = 0;
            break;
        case ST_FIRST:
        case ST_HEADER:
        case ST_CHUNK_SIZE:
        case ST_CHUNK_CRLF:
        case ST_TRAILER: {
            i++;
            if (ch != '\n') {
                if (ch != '\r' && h->line_len < sizeof(h->line) - 1)
                    h->line[h->line_len++] = ch;
                break;
            }
            h->line[h->line_len] = '\0';
            enum fl_http_ev r = line_done(h);
            h->line_len = 0;
            if (r == FL_HTTP_ERROR)
                h->state = ST_BROKEN;
            if (r != FL_HTTP_MORE) {
                *ev = r;
                return i;
            }
            break;
        }
        case ST_BODY:
        case ST_CHUNK_DATA: {
            size_t n = len - i < h->remain ? len - i : (size_t)h->remain;
            i += n;
            h->remain -= n;
            if (h->remain == 0) {
                if (h->state == ST_CHUNK_DATA) {
                    h->state = ST_CHUNK_CRLF;
                } else {
                    message_done(h);
                    *ev = FL_HTTP_END;
                    return i;
                }
            }
            break;
        }
        case ST_RAW:
            return len;
        default:
            *ev = FL_HTTP_ERROR;
            return i;
        }
    }
    return i;
}

bool fl_http_fifo_push(struct fl_http_fifo *f, bool v)
{
    if (f->head + f->n == f->cap) {
        if (f->head) {
            memmove(f->buf, f->buf + f->head, f->n);
            f->head = 0;
        } else {
            size_t cap = f->cap ? f->cap * 2 : 16;
            uint8_t *b = realloc(f->buf, cap);
            if (!b)
                return false;
            f->buf = b;
            f->cap = cap;
        }
    }
    f->buf[f->head + f->n++] = v;
    return true;
}

bool fl_http_fifo_peek(const struct fl_http_fifo *f) { return f->n && f->buf[f->head]; }

void fl_http_fifo_pop(struct fl_http_fifo *f)
{
    if (!f->n)
        return;
    f->head++;
    if (--f->n == 0)
        f->head = 0;
}

bool fl_http_queue_slice(struct fl_stage *st, const struct fl_item *it, size_t start, size_t end,
                         uint64_t release_ns)
{
    if (end <= start)
        return true;
    struct fl_item *piece = fl_item_new(it->link, FL_ITEM_DATA, end - start);
    if (!piece) {
        fl_stage_abort(st, false);
        return false;
    }
    memcpy(piece->data, it->data + start, end - start);
    piece->len = end - start;
    piece->ts_ns = it->ts_ns;
    fl_stage_queue(st, piece, release_ns);
    return true;
}
