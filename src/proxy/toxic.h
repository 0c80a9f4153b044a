/* SPDX-License-Identifier: MIT */
/*
 * toxic.h - the contract between the proxy engine and one kind of toxic.
 *
 * A toxic kind is a `const struct fl_toxic_ops` in src/proxy/toxics/<type>.c, listed once in
 * FL_TOXICS(X) below; the API's type check, the attribute parser and `faultline help proxy`
 * all come from that list. Each live connection runs, per direction, a chain of stages: one
 * stage per toxic of that direction, in the order the toxics were created. A stage owns a FIFO
 * of items (data chunks, EOF, close, reset), each with a release time; the engine hands an
 * item to the next stage (or to the socket writer after the last one) when its time comes, so
 * order is kept and nothing ever sleeps: one uv timer per stage drives its releases and its
 * kind's own deadline (timeout, reset_peer).
 *
 * Ownership: an item belongs to exactly one place at a time (a stage queue, a pending write,
 * or the function it was passed to, which must queue it or free it with fl_item_free). Every
 * item's allocation is charged to its link, which is how backpressure sees bytes held by
 * toxics as well as bytes waiting on the socket.
 */
#ifndef FL_TOXIC_H
#define FL_TOXIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_TOXIC_MAX_ATTRS 4

struct fl_stage;
struct fl_link;
struct fl_server;
struct fl_toxic_stats;

enum fl_item_kind {
    FL_ITEM_DATA,  /* bytes to forward */
    FL_ITEM_EOF,   /* the source half-closed: shut down the destination's write side */
    FL_ITEM_CLOSE, /* close the whole connection with FIN once this item is written */
    FL_ITEM_RESET, /* close the whole connection with RST (SO_LINGER 0) */
};

struct fl_item {
    struct fl_item *next;    /* FIFO link inside a stage queue */
    struct fl_link *link;    /* the link the allocation is charged to */
    enum fl_item_kind kind;
    uint64_t ts_ns;          /* read time, advanced by latency toxics (so several add up) */
    uint64_t release_ns;     /* when the owning stage may pass it on; 0 = at once */
    size_t len;              /* bytes of data */
    size_t cap;              /* bytes allocated after the header (charged to the link) */
    char data[];
};

/* One integer attribute of a toxic kind. Values below `min` are rejected by the API with a
 * 400 naming the attribute (the reference server crashes or hangs on some of them). */
struct fl_toxic_attr {
    const char *name;        /* JSON key, also the output order */
    int64_t min;             /* smallest accepted value */
    int64_t def;             /* value when the client omits it (extension toxics; 0 otherwise) */
    int64_t max;             /* largest accepted value; max <= min means no bound */
};

/* What a connection-setup hook decides for a new connection (refuse, slow_open). */
enum fl_accept_verdict {
    FL_ACCEPT_GO,            /* dial the upstream (after *delay_ms, which hooks add to) */
    FL_ACCEPT_CLOSE,         /* close the client at once with FIN, never dial */
    FL_ACCEPT_RESET,         /* close the client at once with RST, never dial */
};

struct fl_toxic_ops {
    const char *type;                    /* "latency" */
    const char *go_struct;               /* "LatencyToxic": used in Go-style error messages */
    const char *go_int;                  /* the Go type of its attributes; NULL: "int64" */
    const struct fl_toxic_attr *attrs;   /* n_attrs entries */
    int n_attrs;
    /* An active stage was created (on a new connection or after a chain change). */
    void (*on_start)(struct fl_stage *st);
    /* A data item arrives at an active stage. Queue it (fl_stage_queue), split it, or free it. */
    void (*on_data)(struct fl_stage *st, struct fl_item *it);
    /* An EOF item arrives at an active stage. NULL: queue it at once (keeps order). */
    void (*on_eof)(struct fl_stage *st, struct fl_item *it);
    /* The stage's own deadline (fl_stage_set_deadline) passed. */
    void (*on_deadline)(struct fl_stage *st);
    /* An item of the opposite link was just handed to its socket writer (after the last stage
     * of that link), so a kind can follow the other direction's framing: http_status counts
     * responses, http_body notes HEAD requests. Injected bytes (fl_stage_inject) are not seen. */
    void (*on_peer_write)(struct fl_stage *st, const struct fl_item *it);
    /* Connection setup, before the upstream is dialled: called once per accepted connection for
     * each toxic of the kind (either stream) that wins its toxicity roll, in toxic order. attr
     * are the toxic's attributes; the hook may add to *delay_ms. Stages of such kinds are
     * created as usual and should pass data through. */
    enum fl_accept_verdict (*on_accept)(const int64_t *attr, struct fl_server *srv,
                                        uint64_t *delay_ms);
    /* The stage leaves its chain (toxic changed or removed, or the connection closes): move
     * items the kind holds in priv to the stage queue (they are passed on, or freed when the
     * connection is closing) and free what priv owns besides; the engine then free()s priv. */
    void (*on_retire)(struct fl_stage *st);
};

/* A stage: one toxic on one link. Kinds keep their state in the fields below. */
struct fl_stage {
    const struct fl_toxic_ops *ops;
    struct fl_link *link;
    uint64_t toxic_id;       /* position in the chain: toxics are ordered by creation id */
    uint64_t toxic_version;  /* bumped on every update: a changed toxic gets a new stage */
    int64_t attr[FL_TOXIC_MAX_ATTRS];
    bool active;             /* toxicity roll won: apply the kind; otherwise pass through */
    struct fl_item *head, *tail; /* FIFO of items waiting for release_ns */
    uint64_t deadline_ns;    /* the kind's own timer (0: none) */
    uint64_t next_ns;        /* bandwidth/slicer: the next free send slot */
    int64_t counter;         /* limit_data: bytes forwarded; carried over across updates */
    bool triggered;          /* reset_peer: first chunk/EOF seen */
    bool dead;               /* removed from the chain; timer closing */
    void *timer;             /* uv_timer_t *, owned by the engine (lifetime; fallback) */
    uint64_t wake_ns;        /* engine: this stage's key in the server's timer heap */
    size_t heap_idx;         /* engine: position in that heap, SIZE_MAX when not in it */
    void *priv;              /* the kind's own state (malloc'd by it, free()d by the engine) */
    /* engine: the toxic's counters while the stage is in a chain; NULL once retired, since a
     * retired stage can outlive its toxic (its timer closes on a later loop turn) */
    struct fl_toxic_stats *stats;
    bool counted_active;     /* engine: this link is in stats->connections_active (carried
                              * over when the stage is re-made for an update, as counter is) */
};

/* Engine services for toxic kinds (engine.c). */
uint64_t fl_now_ns(void);
void fl_stage_queue(struct fl_stage *st, struct fl_item *it, uint64_t release_ns);
void fl_stage_set_deadline(struct fl_stage *st, uint64_t deadline_ns); /* 0 cancels */
struct fl_item *fl_item_new(struct fl_link *link, enum fl_item_kind kind, size_t cap);
void fl_item_free(struct fl_item *it);
/* Close the stage's connection now: FIN, or RST when reset is true. */
void fl_stage_abort(struct fl_stage *st, bool reset);
/* Uniform draws from the server's seeded generator. */
uint64_t fl_stage_below(struct fl_stage *st, uint64_t bound);
uint64_t fl_server_below(struct fl_server *srv, uint64_t bound);
/* Does the stage's link carry client -> server bytes? */
bool fl_stage_upstream(const struct fl_stage *st);
/* Write bytes straight to the opposite link's socket (for an upstream stage: to the client),
 * after what that link has already written, bypassing its stages: synthesized replies. */
void fl_stage_inject(struct fl_stage *st, const char *data, size_t len);

/* The registry. Keep it sorted by type name. */
#define FL_TOXICS(X) \
    X(bandwidth)     \
    X(corrupt)       \
    X(http_body)     \
    X(http_latency)  \
    X(http_status)   \
    X(latency)       \
    X(limit_data)    \
    X(noop)          \
    X(packet_loss)   \
    X(refuse)        \
    X(reset_peer)    \
    X(slicer)        \
    X(slow_close)    \
    X(slow_open)     \
    X(timeout)

#define FL_TOXIC_DECLARE(t) extern const struct fl_toxic_ops fl_toxic_##t;
FL_TOXICS(FL_TOXIC_DECLARE)
#undef FL_TOXIC_DECLARE

/* Look a type up by name; NULL when unknown. */
const struct fl_toxic_ops *fl_toxic_find(const char *type);
extern const struct fl_toxic_ops *const fl_toxic_registry[];
extern const size_t fl_toxic_count;

#endif
