/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the proxy's data path: listeners, connections, links, toxic stages, all on one
 * libuv loop.
 *
 * Why one thread: every proxy, toxic and connection is touched only here, so a toxic change
 * from the API is applied between two callbacks, never under a lock that a blocked socket
 * could hold (the reference server's recurring "API hangs while toxics are removed under
 * traffic" bug class). Stage wake-ups come from one timerfd (ns deadlines, a
 * min-heap of stages); nothing sleeps.
 *
 * Division map: time and items | stages and chains | writer | connections (with the pass-through
 * and splice paths) | listeners and proxies | toxics | server.
 *
 * Pass-through: a link with no toxic in effect (link_passthrough) does not build items. Small
 * reads are written straight from the server's read buffer (link_pass); a link that carries
 * bulk data moves it with splice(2) through a pipe, never copying it to user space
 * (link_splice_*). Both keep the order with anything queued for the same socket, and a link
 * leaves either the moment a toxic applies to it (link_splice_check after a chain change).
 *
 * A connection's life:
 *
 *   ACCEPTED --getaddrinfo(upstream)--> RESOLVING --uv_tcp_connect--> CONNECTING
 *       |                                   |                              |
 *       |   (error, proxy stopped)          v                              v
 *       +----------------------------> CLOSING <------------------- RUNNING (two links)
 *                                         |        error, CLOSE/RESET item, both links done
 *                                         v
 *                                 freed after every handle's close callback (refs == 0)
 *
 * RUNNING guarantees both sockets are open and both links have a chain matching the proxy's
 * toxics. CLOSING guarantees no callback touches the proxy again (the connection is already
 * unlinked from it) and every queued item has been freed.
 *
 * Half-close: when a link's source reads EOF, an EOF item follows the data through the
 * chain and the writer calls shutdown(SHUT_WR) on the destination after the queued writes.
 * The connection closes once both directions have done that, or at the first error. The
 * reference server closes both sockets at the first EOF instead, which loses the reply of a
 * client that half-closes and waits (spec §5.1); this is a deliberate fix.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

#include "prng.h"
#include "proxy.h"

struct fl_server {
    uv_loop_t loop;
    struct fl_prng prng;         /* the run's seed: toxicity rolls, jitter, slicer splits */
    struct fl_proxy *proxies;
    size_t n_proxies;
    uint64_t next_toxic_id;
    uv_signal_t sig_int, sig_term;
    bool stopping;
    void (*stop_hook)(void *);   /* api.c: stop taking requests before the loop winds down */
    void *stop_arg;
    void (*link_hook)(void *, const struct fl_link_stats *); /* api.c: /metrics byte counters */
    void *link_arg;
    /* Stage wake-ups: a min-heap of stages keyed by wake_ns, driving one absolute
     * CLOCK_MONOTONIC timerfd (nanosecond deadlines; uv timers are whole milliseconds). */
    struct fl_stage **heap;
    size_t heap_n, heap_cap;
    int tfd;                     /* -1: unavailable, stages fall back to their uv timers */
    uint64_t tfd_armed;          /* the deadline the timerfd holds, 0 = disarmed */
    uv_poll_t tfd_poll;
    bool tfd_poll_init;
    uv_idle_t spin;              /* running while the earliest deadline is under SPIN_NS away */
    bool spinning;
    uv_prepare_t prep;           /* syncs the timerfd with the heap just before the loop polls */
    /* Busy polling after I/O (fl_server_set_busy_poll): while busy_until is ahead, an idle
     * handle keeps the loop polling without sleeping, so the next message of an active
     * connection needs no wake-up (each costs 25 to 30 us across vCPUs on a VM). */
    uv_idle_t busy;
    uint64_t busy_ns;            /* how long to keep polling after I/O; 0: never (default) */
    uint64_t busy_until;
    bool busy_on;
    /* Every socket read lands here (libuv calls alloc, read and the read callback back to
     * back, and the callback consumes it): no per-read malloc, and a pass-through link
     * writes straight from it (link_pass). FL_FAST_READ bytes. */
    char *rbuf;
};

struct fl_link {
    struct fl_conn *conn;
    enum fl_dir dir;
    uv_stream_t *src, *dst;
    struct fl_stage **stages;    /* one per toxic of this direction, by toxic id */
    size_t n_stages;
    size_t queued;               /* bytes allocated for items of this link (backpressure) */
    bool reading;                /* uv_read_start is in effect */
    bool paused;                 /* reading stopped by backpressure */
    bool src_eof;                /* EOF read from the source */
    bool shut_issued;            /* shutdown(SHUT_WR) requested on dst */
    bool out_done;               /* ...and completed: this direction is finished */
    bool close_after_shut;       /* a CLOSE item: close the connection once shut down */
    bool write_err;              /* a write or shutdown on dst failed or was cancelled */
    uint8_t splice;              /* LINK_COPY, LINK_SPLICE or LINK_SPLICE_OFF (one byte: it
                                  * fits the padding, and idle links are counted in bytes) */
    uint64_t received;           /* bytes read from src */
    uint64_t sent;               /* bytes whose write to dst completed without error */
    uv_shutdown_t shut;
    /* The splice path of a pass-through link that carries bulk data (link_splice_*): bytes go
     * src -> pipe -> dst inside the kernel, never copied to user space. Set up on the first
     * pass-through read that fills FL_CHUNK_MAX, so small-message and idle connections
     * never spend the three extra descriptors. */
    struct link_splice *sp;      /* NULL until the first splice (kept apart: most links never
                                  * splice) */
};

/* fl_link.splice: how a pass-through link moves its bytes. */
#define LINK_COPY 0              /* read into the server's buffer, try-write (small messages) */
#define LINK_SPLICE 1            /* a read filled FL_CHUNK_MAX: splice from now on */
#define LINK_SPLICE_OFF 2        /* splice could not be set up or refused this socket: copy */

struct link_splice {
    uv_poll_t wpoll;             /* watches wfd for writability while piped bytes wait */
    struct fl_link *link;        /* the link it serves */
    int wfd;                     /* a dup of dst's descriptor: libuv watches dst itself only
                                  * for its own writes, and one fd takes one watcher */
    int pipe_rd, pipe_wr;        /* the pipe (non-blocking, FL_FAST_READ if the kernel allows) */
    size_t piped;                /* bytes in the pipe: read from src, not yet written to dst */
    bool blocked;                /* reading src stopped until the pipe drains into dst */
    bool eof_after;              /* src reached EOF: pass it on once the pipe has drained */
};

struct fl_conn {
    struct fl_server *srv;
    struct fl_proxy *proxy;      /* NULL once CLOSING */
    struct fl_conn *prev, *next; /* proxy->conns */
    uv_tcp_t client, server;
    bool server_init;            /* server handle initialised (needs a close) */
    bool running;                /* links set up */
    bool closing;
    int refs;                    /* handles and requests whose callbacks are still due */
    uv_getaddrinfo_t gai;
    uv_connect_t connect;
    uv_timer_t open_timer;       /* slow_open: the delayed dial */
    bool open_timer_init;
    struct fl_link link[2];      /* [FL_UPSTREAM], [FL_DOWNSTREAM] */
    /* The proxy's name, listen and upstream when the client was accepted, for the metrics
     * labels: the proxy may change or be freed before the connection's last callback. */
    char *label_proxy, *label_listen, *label_upstream;
};

struct write_req {
    uv_write_t req;
    struct fl_item *it;
    size_t off;                  /* bytes of it already written by uv_try_write */
};

static void conn_close(struct fl_conn *c, bool reset);
static void conn_free(struct fl_conn *c);
static void stage_input(struct fl_link *l, size_t idx, struct fl_item *it);
static void stage_arm(struct fl_stage *st);
static void link_splice_free(struct fl_link *l);
static void link_splice_check(struct fl_link *l);
static void link_splice_pump(struct fl_link *l);

/* ---- time and items ------------------------------------------------------------------------ */

uint64_t fl_now_ns(void) { return uv_hrtime(); }

struct fl_item *fl_item_new(struct fl_link *link, enum fl_item_kind kind, size_t cap)
{
    struct fl_item *it = malloc(sizeof(*it) + cap);
    if (!it)
        return NULL;
    memset(it, 0, sizeof(*it));
    it->link = link;
    it->kind = kind;
    it->cap = cap;
    it->ts_ns = fl_now_ns();
    link->queued += cap + sizeof(*it);
    return it;
}

static void link_maybe_resume(struct fl_link *l);

void fl_item_free(struct fl_item *it)
{
    if (!it)
        return;
    struct fl_link *l = it->link;
    l->queued -= it->cap + sizeof(*it);
    free(it);
    link_maybe_resume(l);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

static void link_maybe_resume(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    if (!l->paused || c->closing || l->src_eof || l->queued >= FL_LINK_LOW)
        return;
    l->paused = false;
    if (uv_read_start(l->src, on_alloc, on_read) == 0)
        l->reading = true;
}

/* ---- stages and chains --------------------------------------------------------------------- */

uint64_t fl_stage_below(struct fl_stage *st, uint64_t bound)
{
    return bound ? fl_prng_below(&st->link->conn->srv->prng, bound) : 0;
}

bool fl_stage_upstream(const struct fl_stage *st) { return st->link->dir == FL_UPSTREAM; }

uint64_t fl_server_below(struct fl_server *srv, uint64_t bound)
{
    return bound ? fl_prng_below(&srv->prng, bound) : 0;
}

void fl_stage_queue(struct fl_stage *st, struct fl_item *it, uint64_t release_ns)
{
    it->release_ns = release_ns;
    it->next = NULL;
    if (st->tail)
        st->tail->next = it;
    else
        st->head = it;
    st->tail = it;
    stage_arm(st);
}

void fl_stage_set_deadline(struct fl_stage *st, uint64_t deadline_ns)
{
    st->deadline_ns = deadline_ns;
    stage_arm(st);
}

void fl_stage_abort(struct fl_stage *st, bool reset) { conn_close(st->link->conn, reset); }

/* Items are released at (never before) their release time: the timerfd has ns resolution. */
#define RELEASE_SLACK_NS 0

static size_t stage_index(struct fl_stage *st)
{
    struct fl_link *l = st->link;
    for (size_t i = 0; i < l->n_stages; i++)
        if (l->stages[i] == st)
            return i;
    return SIZE_MAX;
}

/* ---- the stage timer heap ---- */

static void heap_set(struct fl_server *srv, size_t i, struct fl_stage *st)
{
    srv->heap[i] = st;
    st->heap_idx = i;
}

static void heap_up(struct fl_server *srv, size_t i)
{
    struct fl_stage *st = srv->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (srv->heap[p]->wake_ns <= st->wake_ns)
            break;
        heap_set(srv, i, srv->heap[p]);
        i = p;
    }
    heap_set(srv, i, st);
}

static void heap_down(struct fl_server *srv, size_t i)
{
    struct fl_stage *st = srv->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= srv->heap_n)
            break;
        if (c + 1 < srv->heap_n && srv->heap[c + 1]->wake_ns < srv->heap[c]->wake_ns)
            c++;
        if (srv->heap[c]->wake_ns >= st->wake_ns)
            break;
        heap_set(srv, i, srv->heap[c]);
        i = c;
    }
    heap_set(srv, i, st);
}

static void heap_remove(struct fl_server *srv, struct fl_stage *st)
{
    size_t i = st->heap_idx;
    if (i == SIZE_MAX)
        return;
    st->heap_idx = SIZE_MAX;
    struct fl_stage *last = srv->heap[--srv->heap_n];
    if (i == srv->heap_n)
        return;
    heap_set(srv, i, last);
    heap_up(srv, i);
    heap_down(srv, last->heap_idx);
}

/* Insert or move st to key wake_ns; false when the heap cannot grow. */
static bool heap_update(struct fl_server *srv, struct fl_stage *st, uint64_t wake_ns)
{
    if (st->heap_idx != SIZE_MAX) {
        uint64_t old = st->wake_ns;
        st->wake_ns = wake_ns;
        if (wake_ns < old)
            heap_up(srv, st->heap_idx);
        else if (wake_ns > old)
            heap_down(srv, st->heap_idx);
        return true;
    }
    if (srv->heap_n == srv->heap_cap) {
        size_t cap = srv->heap_cap ? srv->heap_cap * 2 : 64;
        struct fl_stage **v = realloc(srv->heap, cap * sizeof(*v));
        if (!v)
            return false;
        srv->heap = v;
        srv->heap_cap = cap;
    }
    st->wake_ns = wake_ns;
    heap_set(srv, srv->heap_n++, st);
    heap_up(srv, st->heap_idx);
    return true;
}

/* Waking a sleeping thread takes 100 to 300 us on a VM (even a timerfd with 1 ns slack). So
 * the timerfd fires SPIN_NS before the earliest deadline, and from then until it the loop
 * polls without blocking (an idle handle: I/O is still served) and releases on time. */
#define SPIN_NS 300000

/* Point the timerfd at the heap's earliest key (absolute CLOCK_MONOTONIC, like uv_hrtime),
 * less SPIN_NS; disarmed while spinning (the idle handle checks every loop turn). */
static void tfd_sync(struct fl_server *srv)
{
    if (srv->tfd < 0)
        return;
    uint64_t when = 0;
    if (srv->heap_n && !srv->spinning) {
        when = srv->heap[0]->wake_ns;
        when = when > SPIN_NS + 1 ? when - SPIN_NS : 1;
    }
    if (when == srv->tfd_armed)
        return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(when / 1000000000u);
    its.it_value.tv_nsec = (long)(when % 1000000000u);
    if (timerfd_settime(srv->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        srv->tfd_armed = when;
}

/* Pass on every due item, then arm the timer for the next release or deadline. */
static void stage_pump(struct fl_stage *st)
{
    uint64_t now = fl_now_ns();
    while (!st->dead && st->head && st->head->release_ns <= now + RELEASE_SLACK_NS) {
        struct fl_item *it = st->head;
        st->head = it->next;
        if (!st->head)
            st->tail = NULL;
        it->next = NULL;
        stage_input(st->link, stage_index(st) + 1, it);
    }
    if (!st->dead)
        stage_arm(st);
}

static void stage_fire(struct fl_stage *st)
{
    if (st->dead)
        return;
    if (st->deadline_ns && st->deadline_ns <= fl_now_ns() + RELEASE_SLACK_NS) {
        st->deadline_ns = 0;
        if (st->ops->on_deadline)
            st->ops->on_deadline(st);
        if (st->dead)
            return;
    }
    stage_pump(st);
}

static void on_stage_timer(uv_timer_t *t) { stage_fire(t->data); }

static void on_spin(uv_idle_t *h);

/* Spin or arm the timerfd for the heap's earliest key. Stages change the heap freely (an item
 * that a stage queues and releases in the same callback, as latency 0 or an inactive stage
 * does, adds and removes a key); this runs once before the loop polls (on_prepare), so only
 * the key the loop will actually sleep on reaches the timerfd. Each timerfd_settime that
 * moves the earliest deadline reprograms the CPU's timer, a VM exit on a VM: with two per
 * chunk, a zero-hold stage cost about 22 us per round trip; about 1 us now (with the
 * writer's try-write; bench/RESULTS.md). */
static void timers_sched(struct fl_server *srv)
{
    bool near = srv->heap_n && srv->heap[0]->wake_ns <= fl_now_ns() + SPIN_NS;
    if (near && !srv->spinning) {
        srv->spinning = true;
        uv_idle_start(&srv->spin, on_spin);
    } else if (!near && srv->spinning) {
        srv->spinning = false;
        uv_idle_stop(&srv->spin);
    }
    tfd_sync(srv);
}

/* Fire every stage whose wake-up is due, then spin or arm the timerfd for the next one. */
static void timers_run(struct fl_server *srv)
{
    uint64_t now = fl_now_ns();
    while (srv->heap_n && srv->heap[0]->wake_ns <= now) {
        struct fl_stage *st = srv->heap[0];
        heap_remove(srv, st);
        stage_fire(st); /* may re-arm st or other stages */
    }
    timers_sched(srv);
}

static void on_spin(uv_idle_t *h) { timers_run(h->data); }

static void on_prepare(uv_prepare_t *h) { timers_sched(h->data); }

static void on_busy(uv_idle_t *h)
{
    struct fl_server *srv = h->data;
    if (fl_now_ns() >= srv->busy_until) {
        srv->busy_on = false;
        uv_idle_stop(&srv->busy);
    }
}

/* A connection moved bytes: keep polling for busy_ns from now. */
static void server_io(struct fl_server *srv)
{
    if (!srv->busy_ns)
        return;
    srv->busy_until = fl_now_ns() + srv->busy_ns;
    if (!srv->busy_on) {
        srv->busy_on = true;
        uv_idle_start(&srv->busy, on_busy);
    }
}

static void on_tfd(uv_poll_t *h, int status, int events)
{
    struct fl_server *srv = h->data;
    uint64_t expirations;
    (void)status;
    (void)events;
    if (read(srv->tfd, &expirations, sizeof(expirations)) < 0) {
        /* EAGAIN: spurious; the deadlines are checked against the clock anyway. */
    }
    srv->tfd_armed = 0; /* expired (or re-armed below) */
    timers_run(srv);
}

static void stage_arm(struct fl_stage *st)
{
    uv_timer_t *t = st->timer;
    if (st->dead)
        return;
    struct fl_server *srv = st->link->conn->srv;
    uint64_t when = 0;
    /* A due item (release 0) queued outside stage_input, e.g. from another link's callback,
     * still needs the timer to be pumped: arm it for "now" (fires on the next loop turn). */
    if (st->head)
        when = st->head->release_ns ? st->head->release_ns : 1;
    if (st->deadline_ns && (!when || st->deadline_ns < when))
        when = st->deadline_ns;
    /* The timerfd follows the heap in on_prepare, before the loop next sleeps. */
    if (!when) {
        heap_remove(srv, st);
        uv_timer_stop(t);
        return;
    }
    if (srv->tfd >= 0 && heap_update(srv, st, when)) {
        uv_timer_stop(t);
        return;
    }
    /* Fallback (no timerfd, or no memory for the heap): a millisecond uv timer. */
    heap_remove(srv, st);
    uint64_t now = fl_now_ns();
    uint64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
    uv_timer_start(t, on_stage_timer, ms, 0);
}

/* Hand an item to stage idx of the link, or to the writer past the last stage. */
static void link_write(struct fl_link *l, struct fl_item *it, bool notify);

static void stage_input(struct fl_link *l, size_t idx, struct fl_item *it)
{
    if (l->conn->closing) {
        fl_item_free(it);
        return;
    }
    if (idx >= l->n_stages) {
        link_write(l, it, true);
        return;
    }
    struct fl_stage *st = l->stages[idx];
    if (!st->active || (it->kind != FL_ITEM_DATA && it->kind != FL_ITEM_EOF)) {
        /* Inactive stages pass through, but never ahead of items they still hold. */
        if (st->head)
            fl_stage_queue(st, it, 0);
        else
            stage_input(l, idx + 1, it);
        return;
    }
    if (it->kind == FL_ITEM_DATA && st->stats)
        st->stats->bytes += it->len; /* NULL only if retired: belt and braces */
    if (it->kind == FL_ITEM_DATA)
        st->ops->on_data(st, it);
    else if (st->ops->on_eof)
        st->ops->on_eof(st, it);
    else
        fl_stage_queue(st, it, 0);
    if (!st->dead && st->head)
        stage_pump(st);
}

static void on_stage_closed(uv_handle_t *h)
{
    struct fl_stage *st = h->data;
    struct fl_conn *c = st->link->conn;
    free(h);
    free(st->priv);
    free(st);
    if (--c->refs == 0)
        conn_free(c);
}

static void stage_free_queue(struct fl_stage *st)
{
    while (st->head) {
        struct fl_item *it = st->head;
        st->head = it->next;
        fl_item_free(it);
    }
    st->tail = NULL;
}

/* Mark dead and close the timer; the memory goes in the close callback. */
static void stage_retire(struct fl_stage *st)
{
    st->dead = true;
    st->stats = NULL; /* the toxic may be freed before the timer's close callback */
    heap_remove(st->link->conn->srv, st);
    uv_timer_stop(st->timer);
    uv_close((uv_handle_t *)st->timer, on_stage_closed);
}

static struct fl_stage *stage_new(struct fl_link *l, struct fl_toxic *t)
{
    struct fl_conn *c = l->conn;
    struct fl_stage *st = calloc(1, sizeof(*st));
    uv_timer_t *timer = malloc(sizeof(*timer));
    if (!st || !timer) {
        free(st);
        free(timer);
        return NULL;
    }
    uv_timer_init(&c->srv->loop, timer);
    timer->data = st;
    c->refs++;
    st->timer = timer;
    st->heap_idx = SIZE_MAX;
    st->ops = t->ops;
    st->link = l;
    st->toxic_id = t->id;
    st->toxic_version = t->version;
    st->stats = &t->stats;
    memcpy(st->attr, t->attr, sizeof(st->attr));
    /* Toxicity is decided once per link and stage start, as in the reference (spec §5.3). */
    st->active = t->toxicity >= 1.0 || (t->toxicity > 0 && fl_prng_unit(&c->srv->prng) <
                                                               t->toxicity);
    return st;
}

/* A stage for t was just made on this link: count the connection for t. remade: the link had
 * a stage of t before (t was updated), so the connection is counted already, and only a first
 * win of the roll is new. Kinds with on_accept were counted when the client was accepted. */
static void stage_count(struct fl_stage *st, struct fl_toxic *t, bool remade)
{
    if (t->ops->on_accept)
        return;
    if (!remade)
        t->stats.connections_seen++;
    if (st->active && !st->counted_active) {
        st->counted_active = true;
        t->stats.connections_active++;
    }
}

/*
 * Make the link's chain match the proxy's toxics for its direction. Stages whose toxic is
 * unchanged are kept with their queues and timers; a changed or removed toxic's stage is
 * retired and the items it held go on at once to the next stage (the in-flight chunk of an
 * interrupted latency is sent right away, as in the reference). Since chains are ordered by
 * toxic id, "the next stage" is the first new stage with a larger id, and retired stages are
 * flushed from the last to the first, so older bytes always go downstream first. limit_data
 * keeps its count across updates.
 */
static void link_rebuild(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    struct fl_proxy *p = c->proxy;
    struct fl_stage **old = l->stages;
    size_t n_old = l->n_stages;
    struct fl_stage **neu = calloc(p->n_toxics + 1, sizeof(*neu));
    bool *kept = calloc(n_old + 1, sizeof(bool));
    bool close_conn = false;
    size_t n = 0;
    if (!neu || !kept) {
        free(neu);
        free(kept);
        conn_close(c, false);
        return;
    }
    for (size_t i = 0; i < p->n_toxics; i++) {
        struct fl_toxic *t = p->toxics[i];
        if (t->dir != l->dir)
            continue;
        struct fl_stage *st = NULL, *prev = NULL;
        for (size_t j = 0; j < n_old; j++) {
            if (old[j]->toxic_id != t->id)
                continue;
            if (old[j]->toxic_version == t->version) {
                st = old[j];
                kept[j] = true;
            } else {
                prev = old[j];
            }
        }
        if (!st) {
            st = stage_new(l, t);
            if (!st) {
                close_conn = true;
                continue;
            }
            if (prev) {
                st->counter = prev->counter;
                st->counted_active = prev->counted_active;
            }
            stage_count(st, t, prev != NULL);
        }
        neu[n++] = st;
    }
    l->stages = neu;
    l->n_stages = n;
    /* Start the new stages. */
    for (size_t i = 0; i < n; i++) {
        bool was_old = false;
        for (size_t j = 0; j < n_old; j++)
            if (old[j] == neu[i])
                was_old = true;
        if (!was_old && neu[i]->active && neu[i]->ops->on_start)
            neu[i]->ops->on_start(neu[i]);
    }
    /* Retire what is gone, flushing its items forward, last stage first. */
    for (size_t j = n_old; j-- > 0;) {
        if (kept[j])
            continue;
        struct fl_stage *st = old[j];
        if (st->ops->on_retire)
            st->ops->on_retire(st);
        if (c->closing) {
            /* A flushed CLOSE/RESET ended the connection: neu is gone, drop the rest. */
            stage_free_queue(st);
            stage_retire(st);
            continue;
        }
        bool removed = true;
        for (size_t i = 0; i < p->n_toxics; i++)
            if (p->toxics[i]->id == st->toxic_id)
                removed = false;
        /* The reference closes every connection a removed timeout toxic was attached to
         * (spec §4, §6.8); clients' tests rely on it. */
        if (removed && st->active && st->ops == &fl_toxic_timeout)
            close_conn = true;
        size_t next = 0;
        while (next < n && neu[next]->toxic_id < st->toxic_id)
            next++;
        struct fl_item *it = st->head;
        st->head = st->tail = NULL;
        stage_retire(st);
        while (it) {
            struct fl_item *following = it->next;
            it->next = NULL;
            stage_input(l, next, it);
            it = following;
        }
    }
    free(old);
    free(kept);
    if (close_conn)
        conn_close(c, false);
}

/* ---- writer -------------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct fl_link *l = w->it->link;
    struct fl_conn *c = l->conn;
    /* Also after conn_close: uv_close still reports writes that completed before it. */
    if (status < 0)
        l->write_err = true;
    else
        l->sent += w->it->len - w->off;
    fl_item_free(w->it);
    free(w);
    if (status < 0 && !c->closing)
        conn_close(c, status == UV_ECONNRESET);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct fl_link *l = req->data;
    struct fl_conn *c = l->conn;
    if (status < 0)
        l->write_err = true;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c, false);
        return;
    }
    l->out_done = true;
    if (l->close_after_shut || (c->link[0].out_done && c->link[1].out_done))
        conn_close(c, false);
}

static void link_shutdown(struct fl_link *l)
{
    if (l->shut_issued)
        return;
    l->shut_issued = true;
    l->shut.data = l;
    if (uv_shutdown(&l->shut, l->dst, on_shutdown) < 0) {
        l->write_err = true;
        conn_close(l->conn, false);
    }
}

/* Tell the opposite link's active stages about an item handed to this link's writer. */
static void link_notify_peers(struct fl_link *l, const struct fl_item *it)
{
    struct fl_conn *c = l->conn;
    struct fl_link *o = &c->link[l->dir == FL_UPSTREAM ? FL_DOWNSTREAM : FL_UPSTREAM];
    for (size_t i = 0; i < o->n_stages && !c->closing; i++) {
        struct fl_stage *st = o->stages[i];
        if (st->active && !st->dead && st->ops->on_peer_write)
            st->ops->on_peer_write(st, it);
    }
}

void fl_stage_inject(struct fl_stage *st, const char *data, size_t len)
{
    struct fl_conn *c = st->link->conn;
    struct fl_link *o = &c->link[st->link->dir == FL_UPSTREAM ? FL_DOWNSTREAM : FL_UPSTREAM];
    if (c->closing || !len)
        return;
    struct fl_item *it = fl_item_new(o, FL_ITEM_DATA, len);
    if (!it) {
        conn_close(c, false);
        return;
    }
    memcpy(it->data, data, len);
    it->len = len;
    link_write(o, it, false);
}

static void link_write(struct fl_link *l, struct fl_item *it, bool notify)
{
    struct fl_conn *c = l->conn;
    switch (it->kind) {
    case FL_ITEM_DATA: {
        if (l->shut_issued || it->len == 0) {
            fl_item_free(it);
            return;
        }
        /* Write at once when the socket takes it: no request, no callback on the next loop
         * turn. uv_try_write refuses while earlier writes are queued, which keeps the order. */
        uv_buf_t buf = uv_buf_init(it->data, (unsigned)it->len);
        int n = uv_try_write(l->dst, &buf, 1);
        if (n == UV_EAGAIN)
            n = 0;
        if (n < 0) {
            /* As a failed uv_write reports in on_write. */
            l->write_err = true;
            fl_item_free(it);
            conn_close(c, n == UV_ECONNRESET);
            return;
        }
        l->sent += (uint64_t)n;
        if ((size_t)n == it->len) {
            if (notify)
                link_notify_peers(l, it);
            fl_item_free(it);
            return;
        }
        struct write_req *w = malloc(sizeof(*w));
        if (!w) {
            fl_item_free(it);
            conn_close(c, false);
            return;
        }
        w->it = it;
        w->off = (size_t)n;
        buf = uv_buf_init(it->data + n, (unsigned)(it->len - (size_t)n));
        if (uv_write(&w->req, l->dst, &buf, 1, on_write) < 0) {
            l->write_err = true;
            free(w);
            fl_item_free(it);
            conn_close(c, false);
            return;
        }
        /* The write callback never runs synchronously, so the item is still ours to show
         * (whole: peers see what was handed over, injected replies go after the rest). */
        if (notify)
            link_notify_peers(l, it);
        return;
    }
    case FL_ITEM_EOF:
        if (notify)
            link_notify_peers(l, it);
        if (c->closing) {
            fl_item_free(it);
            return;
        }
        fl_item_free(it);
        link_shutdown(l);
        return;
    case FL_ITEM_CLOSE:
        fl_item_free(it);
        /* Stop taking data in both directions, flush what is written, then FIN both ways. */
        for (int d = 0; d < 2; d++) {
            if (c->link[d].reading)
                uv_read_stop(c->link[d].src);
            c->link[d].reading = false;
            c->link[d].src_eof = true;
        }
        l->close_after_shut = true;
        if (l->out_done)
            conn_close(c, false);
        else
            link_shutdown(l);
        return;
    case FL_ITEM_RESET:
        fl_item_free(it);
        conn_close(c, true);
        return;
    }
}

/* ---- connections --------------------------------------------------------------------------- */

/* The last callback has run: report each link's counts (only links that ran: a connection
 * refused or never dialled has none, as in the reference), then free. */
static void conn_free(struct fl_conn *c)
{
    struct fl_server *srv = c->srv;
    if (c->running && srv->link_hook) {
        for (int d = 0; d < 2; d++) {
            const struct fl_link *l = &c->link[d];
            struct fl_link_stats st = {.proxy = c->label_proxy, .listener = c->label_listen,
                                       .upstream = c->label_upstream, .dir = l->dir,
                                       .received = l->received, .sent = l->sent,
                                       .write_ok = !l->write_err};
            srv->link_hook(srv->link_arg, &st);
        }
    }
    free(c->label_proxy);
    free(c->label_listen);
    free(c->label_upstream);
    free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct fl_conn *c = h->data;
    if (--c->refs == 0)
        conn_free(c);
}

static void set_linger0(uv_tcp_t *h)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)h, &fd) == 0) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
}

/* Enter CLOSING: unlink from the proxy, free every held item, close every handle. With reset,
 * both sockets close with RST (SO_LINGER 0) instead of FIN. */
static void conn_close(struct fl_conn *c, bool reset)
{
    if (c->closing)
        return;
    c->closing = true;
    struct fl_proxy *p = c->proxy;
    if (p) {
        if (c->prev)
            c->prev->next = c->next;
        else
            p->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->proxy = NULL;
    }
    for (int d = 0; d < 2; d++) {
        struct fl_link *l = &c->link[d];
        for (size_t i = 0; i < l->n_stages; i++) {
            if (l->stages[i]->ops->on_retire)
                l->stages[i]->ops->on_retire(l->stages[i]);
            stage_free_queue(l->stages[i]);
            stage_retire(l->stages[i]);
        }
        free(l->stages);
        l->stages = NULL;
        l->n_stages = 0;
        if (l->reading)
            uv_read_stop(l->src);
        l->reading = false;
        link_splice_free(l);
    }
    if (c->open_timer_init) {
        uv_timer_stop(&c->open_timer);
        uv_close((uv_handle_t *)&c->open_timer, on_conn_handle_closed);
    }
    if (reset) {
        set_linger0(&c->client);
        if (c->server_init)
            set_linger0(&c->server);
    }
    uv_close((uv_handle_t *)&c->client, on_conn_handle_closed);
    if (c->server_init)
        uv_close((uv_handle_t *)&c->server, on_conn_handle_closed);
}

/* Does the link carry bytes unchanged and unobserved? True when none of its stages is active
 * or holds an item (an inactive, empty stage passes everything straight on) and no active
 * stage of the opposite link watches this link's writes (on_peer_write). Checked per read,
 * so a toxic added or removed applies from the next read on. */
static bool link_passthrough(const struct fl_link *l)
{
    for (size_t i = 0; i < l->n_stages; i++)
        if (l->stages[i]->active || l->stages[i]->head)
            return false;
    const struct fl_link *o = &l->conn->link[l->dir == FL_UPSTREAM ? FL_DOWNSTREAM
                                                                    : FL_UPSTREAM];
    for (size_t i = 0; i < o->n_stages; i++)
        if (o->stages[i]->active && o->stages[i]->ops->on_peer_write)
            return false;
    return true;
}

static struct fl_link *stream_link(struct fl_conn *c, const void *h)
{
    return h == (const void *)&c->client ? &c->link[FL_UPSTREAM] : &c->link[FL_DOWNSTREAM];
}

static bool link_splice_ready(struct fl_link *l);

/* Pass-through links read FL_FAST_READ at a time (fewer reads and writes per byte); links
 * with stages keep Toxiproxy's 32 KiB chunks, which is what toxics such as slicer and
 * bandwidth are defined on. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct fl_conn *c = h->data;
    struct fl_link *l = stream_link(c, h);
    if (!link_passthrough(l)) {
        *buf = uv_buf_init(c->srv->rbuf, FL_CHUNK_MAX);
        return;
    }
    /* A zero-length buffer makes libuv call on_read with UV_ENOBUFS without reading: the
     * documented way to take the read over, here with splice(2). */
    if (l->splice == LINK_SPLICE && link_splice_ready(l)) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(c->srv->rbuf, FL_FAST_READ);
}

/* Forward bytes of a pass-through link: write them now if the socket takes them (nothing is
 * queued before them: uv_try_write refuses while writes are pending, which keeps the order),
 * and queue only what is left, copied into an item. */
static void link_pass(struct fl_link *l, const char *data, size_t len)
{
    struct fl_conn *c = l->conn;
    if (l->shut_issued)
        return; /* as link_write: nothing goes out after the FIN */
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int w = uv_try_write(l->dst, &b, 1);
    if (w == UV_EAGAIN)
        w = 0;
    if (w < 0) {
        /* As a failed uv_write reports in on_write. */
        l->write_err = true;
        conn_close(c, w == UV_ECONNRESET);
        return;
    }
    l->sent += (uint64_t)w;
    if ((size_t)w == len)
        return;
    struct fl_item *it = fl_item_new(l, FL_ITEM_DATA, len - (size_t)w);
    if (!it) {
        conn_close(c, false);
        return;
    }
    memcpy(it->data, data + w, len - (size_t)w);
    it->len = len - (size_t)w;
    link_write(l, it, false);
}

/* ---- the splice path ----------------------------------------------------------------------- */

static void on_wpoll_closed(uv_handle_t *h)
{
    struct link_splice *sp = h->data;
    struct fl_conn *c = sp->link->conn;
    close(sp->wfd);
    free(sp);
    if (--c->refs == 0)
        conn_free(c);
}

/* Give the splice resources back (conn_close): bytes still in the pipe are dropped, as items
 * still queued are. */
static void link_splice_free(struct fl_link *l)
{
    struct link_splice *sp = l->sp;
    if (!sp)
        return;
    l->sp = NULL;
    close(sp->pipe_rd);
    close(sp->pipe_wr);
    uv_poll_stop(&sp->wpoll);
    uv_close((uv_handle_t *)&sp->wpoll, on_wpoll_closed);
}

/* Set up the pipe and the writability watch; false (and copy from then on) if that fails. */
static bool link_splice_setup(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    int p[2], wfd = -1;
    uv_os_fd_t dfd;
    struct link_splice *sp = NULL;
    if (uv_fileno((uv_handle_t *)l->dst, &dfd) < 0 || pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        l->splice = LINK_SPLICE_OFF;
        return false;
    }
    /* A bigger pipe moves more per splice; the default (64 KiB) still works if refused. */
    (void)fcntl(p[1], F_SETPIPE_SZ, FL_FAST_READ);
    wfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    sp = wfd >= 0 ? calloc(1, sizeof(*sp)) : NULL;
    if (!sp || uv_poll_init(&c->srv->loop, &sp->wpoll, wfd) < 0) {
        free(sp);
        if (wfd >= 0)
            close(wfd);
        close(p[0]);
        close(p[1]);
        l->splice = LINK_SPLICE_OFF;
        return false;
    }
    sp->wpoll.data = sp;
    sp->link = l;
    sp->wfd = wfd;
    sp->pipe_rd = p[0];
    sp->pipe_wr = p[1];
    c->refs++; /* the poll handle's close callback */
    l->sp = sp;
    return true;
}

/* May the next read of this pass-through link be spliced? Only with nothing of the link
 * queued for dst, so spliced bytes never overtake written ones. */
static bool link_splice_ready(struct fl_link *l)
{
    if (l->splice != LINK_SPLICE || l->shut_issued || l->queued || (l->sp && l->sp->piped) ||
        uv_stream_get_write_queue_size(l->dst))
        return false;
    return l->sp || link_splice_setup(l);
}

/* Move the pipe's bytes into an item for the writer: the link stopped being pass-through (a
 * toxic now applies), or something was queued for dst meanwhile. They were read before, so
 * they go straight to the writer, ahead of anything read from now on. */
static void link_splice_flush(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    struct link_splice *sp = l->sp;
    uv_poll_stop(&sp->wpoll);
    if (sp->piped) {
        struct fl_item *it = fl_item_new(l, FL_ITEM_DATA, sp->piped);
        if (!it) {
            conn_close(c, false);
            return;
        }
        while (it->len < sp->piped) {
            ssize_t r = read(sp->pipe_rd, it->data + it->len, sp->piped - it->len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                fl_item_free(it);
                conn_close(c, false);
                return;
            }
            it->len += (size_t)r;
        }
        sp->piped = 0;
        link_write(l, it, false);
        if (c->closing)
            return;
    }
    if (sp->eof_after) {
        sp->eof_after = false;
        struct fl_item *eof = fl_item_new(l, FL_ITEM_EOF, 0);
        if (!eof) {
            conn_close(c, false);
            return;
        }
        link_write(l, eof, false);
        return;
    }
    if (sp->blocked) {
        sp->blocked = false;
        /* Resume through the usual backpressure: now charged to the link like any item. */
        l->paused = true;
        link_maybe_resume(l);
    }
}

static void on_splice_writable(uv_poll_t *h, int status, int events);

/* Write the pipe's bytes to dst. True when the pipe is empty; false when dst is full (reading
 * src stops until on_splice_writable), or the connection closed. */
static bool link_splice_out(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    struct link_splice *sp = l->sp;
    uv_os_fd_t dfd;
    if (uv_fileno((uv_handle_t *)l->dst, &dfd) < 0) {
        conn_close(c, false);
        return false;
    }
    while (sp->piped) {
        if (uv_stream_get_write_queue_size(l->dst)) {
            link_splice_flush(l); /* keep the order behind libuv's queue */
            return false;
        }
        ssize_t w = splice(sp->pipe_rd, NULL, dfd, NULL, sp->piped,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (w > 0) {
            sp->piped -= (size_t)w;
            l->sent += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            if (l->reading) {
                uv_read_stop(l->src);
                l->reading = false;
                sp->blocked = true;
            }
            if (uv_poll_start(&sp->wpoll, UV_WRITABLE, on_splice_writable) < 0)
                link_splice_flush(l);
            return false;
        }
        /* As a failed uv_write reports in on_write. */
        l->write_err = true;
        conn_close(c, w < 0 && errno == ECONNRESET);
        return false;
    }
    return true;
}

/* src reached its end: the EOF enters the link's chain behind its data. */
static void link_input_eof(struct fl_link *l)
{
    struct fl_item *eof = fl_item_new(l, FL_ITEM_EOF, 0);
    if (!eof) {
        conn_close(l->conn, false);
        return;
    }
    stage_input(l, 0, eof);
}

/* src reached EOF: pass it on now, or after the pipe has drained. */
static void link_splice_eof(struct fl_link *l)
{
    if (l->reading)
        uv_read_stop(l->src);
    l->reading = false;
    l->sp->blocked = false;
    l->src_eof = true;
    if (l->sp->piped) {
        l->sp->eof_after = true;
        return;
    }
    link_input_eof(l);
}

/* src is readable (on_read with UV_ENOBUFS): move what it holds to dst through the pipe. A
 * bounded number of rounds, as libuv bounds its own reads, so one busy link cannot starve
 * the others; level-triggered polling brings the rest on the next turn. */
static void link_splice_pump(struct fl_link *l)
{
    struct fl_conn *c = l->conn;
    struct link_splice *sp = l->sp;
    uv_os_fd_t sfd;
    if (uv_fileno((uv_handle_t *)l->src, &sfd) < 0) {
        conn_close(c, false);
        return;
    }
    for (int round = 0; round < 16; round++) {
        if (sp->piped && !link_splice_out(l))
            return;
        ssize_t r = splice(sfd, NULL, sp->pipe_wr, NULL, FL_FAST_READ,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (r > 0) {
            l->received += (uint64_t)r;
            sp->piped += (size_t)r;
            continue;
        }
        if (r == 0) {
            link_splice_eof(l);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            break;
        if (errno == EINVAL || errno == ENOSYS) {
            l->splice = LINK_SPLICE_OFF; /* not spliceable: copy (src stays readable) */
            break;
        }
        conn_close(c, errno == ECONNRESET);
        return;
    }
    if (sp->piped)
        (void)link_splice_out(l);
}

static void on_splice_writable(uv_poll_t *h, int status, int events)
{
    struct link_splice *sp = h->data;
    struct fl_link *l = sp->link;
    struct fl_conn *c = l->conn;
    (void)events;
    if (c->closing)
        return;
    uv_poll_stop(h);
    if (status < 0) {
        /* libuv reports a socket error (POLLERR) as UV_EBADF: take the real one, so that a
         * reset is passed on as a reset, as a failed uv_write does. */
        int e = 0;
        socklen_t elen = sizeof(e);
        (void)getsockopt(sp->wfd, SOL_SOCKET, SO_ERROR, &e, &elen);
        l->write_err = true;
        conn_close(c, e == ECONNRESET);
        return;
    }
    if (!link_splice_out(l))
        return;
    if (sp->eof_after) {
        sp->eof_after = false;
        link_input_eof(l);
        return;
    }
    if (sp->blocked && !l->src_eof) {
        sp->blocked = false;
        if (uv_read_start(l->src, on_alloc, on_read) == 0)
            l->reading = true;
    }
}

/* After a chain change: a link that is no longer pass-through hands its piped bytes to the
 * writer, so the new stages see only what is read from now on. */
static void link_splice_check(struct fl_link *l)
{
    struct link_splice *sp = l->sp;
    if (l->conn->closing || !sp || (!sp->piped && !sp->eof_after && !sp->blocked))
        return;
    if (!link_passthrough(l))
        link_splice_flush(l);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct fl_conn *c = s->data;
    struct fl_link *l = stream_link(c, s);
    if (nread == 0 || c->closing)
        return;
    server_io(c->srv);
    if (nread == UV_ENOBUFS) {
        if (l->sp)
            link_splice_pump(l);
        else
            conn_close(c, false);
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            /* The peer reset or the socket failed: pass an abort on as an abort. */
            conn_close(c, nread == UV_ECONNRESET);
            return;
        }
        uv_read_stop(s);
        l->reading = false;
        l->src_eof = true;
        link_input_eof(l);
        return;
    }
    l->received += (uint64_t)nread;
    if (link_passthrough(l)) {
        if ((size_t)nread >= FL_CHUNK_MAX && l->splice == LINK_COPY)
            l->splice = LINK_SPLICE;
        link_pass(l, buf->base, (size_t)nread);
    } else {
        /* Items are allocated at the size read, so small chunks held by a toxic are charged
         * (and cost) only what they hold. A read is at most FL_CHUNK_MAX here (on_alloc),
         * unless the chain changed since; then it goes on in chunks of that size. */
        uint64_t ts = fl_now_ns();
        for (size_t off = 0; off < (size_t)nread && !c->closing;) {
            size_t n = (size_t)nread - off < FL_CHUNK_MAX ? (size_t)nread - off : FL_CHUNK_MAX;
            struct fl_item *it = fl_item_new(l, FL_ITEM_DATA, n);
            if (!it) {
                conn_close(c, false);
                return;
            }
            memcpy(it->data, buf->base + off, n);
            it->len = n;
            it->ts_ns = ts;
            stage_input(l, 0, it);
            off += n;
        }
    }
    if (!c->closing && l->reading && l->queued > FL_LINK_HIGH) {
        uv_read_stop(s);
        l->reading = false;
        l->paused = true;
    }
}

static void link_init(struct fl_conn *c, enum fl_dir dir)
{
    struct fl_link *l = &c->link[dir];
    l->conn = c;
    l->dir = dir;
    l->src = (uv_stream_t *)(dir == FL_UPSTREAM ? &c->client : &c->server);
    l->dst = (uv_stream_t *)(dir == FL_UPSTREAM ? &c->server : &c->client);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct fl_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c, false);
        return;
    }
    uv_tcp_nodelay(&c->server, 1);
    c->running = true;
    for (int d = 0; d < 2; d++) {
        link_rebuild(&c->link[d]);
        if (c->closing)
            return;
    }
    for (int d = 0; d < 2; d++) {
        if (uv_read_start(c->link[d].src, on_alloc, on_read) < 0) {
            conn_close(c, false);
            return;
        }
        c->link[d].reading = true;
    }
}

static int split_host_port(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (n > 0 && addr[0] == '[') {
        if (addr[n - 1] != ']')
            return -1;
        h = addr + 1;
        n -= 2;
    } else if (memchr(addr, ':', n)) {
        return -2; /* too many colons */
    }
    if (n >= hlen || strlen(colon + 1) >= plen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(port, plen, "%s", colon + 1);
    return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct fl_conn *c = req->data;
    c->refs--;
    if (c->closing || status < 0 || !res) {
        if (res)
            uv_freeaddrinfo(res);
        if (!c->closing)
            conn_close(c, false);
        else if (c->refs == 0)
            conn_free(c);
        return;
    }
    uv_tcp_init(&c->srv->loop, &c->server);
    c->server.data = c;
    c->server_init = true;
    c->refs++;
    c->connect.data = c;
    int r = uv_tcp_connect(&c->connect, &c->server, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (r < 0)
        conn_close(c, false);
}

static void conn_dial(struct fl_conn *c);

static void on_open_timer(uv_timer_t *t)
{
    struct fl_conn *c = t->data;
    if (!c->closing && c->proxy)
        conn_dial(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct fl_proxy *p = listener->data;
    if (status < 0 || !p)
        return;
    struct fl_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = p->srv;
    uv_tcp_init(&p->srv->loop, &c->client);
    c->client.data = c;
    c->refs = 1;
    if (uv_accept(listener, (uv_stream_t *)&c->client) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->client, on_conn_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->client, 1);
    c->label_proxy = strdup(p->name);
    c->label_listen = strdup(p->listen);
    c->label_upstream = strdup(p->upstream);
    c->proxy = p;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    link_init(c, FL_UPSTREAM);
    link_init(c, FL_DOWNSTREAM);
    if (!c->label_proxy || !c->label_listen || !c->label_upstream) {
        conn_close(c, false);
        return;
    }
    /* Connection-setup toxics (refuse, slow_open) decide before anything is dialled; their
     * toxicity is rolled here, once per connection, from the seeded generator. This is where
     * they count the connection (their pass-through stages do not: stage_count); a toxic
     * after one that refused it was never rolled for, so it does not. */
    uint64_t delay_ms = 0;
    for (size_t i = 0; i < p->n_toxics; i++) {
        struct fl_toxic *t = p->toxics[i];
        if (!t->ops->on_accept)
            continue;
        t->stats.connections_seen++;
        if (!(t->toxicity >= 1.0 || (t->toxicity > 0 && fl_prng_unit(&p->srv->prng) <
                                                           t->toxicity)))
            continue;
        t->stats.connections_active++;
        enum fl_accept_verdict v = t->ops->on_accept(t->attr, p->srv, &delay_ms);
        if (v != FL_ACCEPT_GO) {
            conn_close(c, v == FL_ACCEPT_RESET);
            return;
        }
    }
    if (delay_ms > 0) {
        uv_timer_init(&p->srv->loop, &c->open_timer);
        c->open_timer.data = c;
        c->open_timer_init = true;
        c->refs++;
        uv_timer_start(&c->open_timer, on_open_timer, delay_ms, 0);
        return;
    }
    conn_dial(c);
}

/* Resolve the upstream and connect to it. */
static void conn_dial(struct fl_conn *c)
{
    struct fl_proxy *p = c->proxy;
    /* The upstream is resolved again for every connection, as the reference does. */
    char host[256], port[32];
    if (split_host_port(p->upstream, host, sizeof(host), port, sizeof(port)) < 0) {
        conn_close(c, false);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->refs++;
    if (uv_getaddrinfo(&p->srv->loop, &c->gai, on_resolved, host[0] ? host : "localhost",
                       port, &hints) < 0) {
        c->refs--;
        conn_close(c, false);
    }
}

/* ---- listeners and proxies ----------------------------------------------------------------- */

static void lower_first(char *s)
{
    if (s[0] >= 'A' && s[0] <= 'Z')
        s[0] = (char)(s[0] - 'A' + 'a');
}

/* Resolve a listen address the way Go's net.Listen reads it. "" and ":N" mean every
 * interface, dual-stack ([::]). */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss, struct fl_err *err)
{
    char host[256], port[32];
    const char *a = listen[0] ? listen : ":0";
    int r = split_host_port(a, host, sizeof(host), port, sizeof(port));
    if (r == -2)
        return fl_err_set(err, EINVAL, "listen tcp: address %s: too many colons in address",
                          a);
    if (r < 0)
        return fl_err_set(err, EINVAL, "listen tcp: address %s: missing port in address", a);
    char *end;
    long pn = strtol(port, &end, 10);
    if (!port[0] || *end || pn < 0 || pn > 65535)
        return fl_err_set(err, EINVAL, "listen tcp: address %s: invalid port", a);
    memset(ss, 0, sizeof(*ss));
    if (!host[0]) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons((uint16_t)pn);
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return fl_err_set(err, EINVAL, "listen tcp: lookup %s: no such host", host);
    /* Prefer IPv4, as Go does for "localhost". */
    struct addrinfo *pick = res;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pn);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pn);
    freeaddrinfo(res);
    return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(s4->sin_port));
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
    }
}

int fl_proxy_same_listen(struct fl_proxy *p, const char *listen, bool *same, struct fl_err *err)
{
    if (!strcmp(listen, p->listen)) {
        *same = true;
        return 0;
    }
    struct sockaddr_storage ss;
    int r = resolve_listen(listen, &ss, err);
    if (r < 0)
        return r;
    char canon[128];
    format_addr(&ss, canon, sizeof(canon));
    *same = strcmp(canon, p->listen) == 0;
    return 0;
}

static void on_listener_closed(uv_handle_t *h) { free(h); }

int fl_proxy_start(struct fl_proxy *p, struct fl_err *err)
{
    if (p->listener)
        return 0;
    struct sockaddr_storage ss;
    int r = resolve_listen(p->listen, &ss, err);
    if (r < 0)
        return r;
    uv_tcp_t *h = malloc(sizeof(*h));
    if (!h)
        return fl_err_set(err, ENOMEM, "out of memory");
    uv_tcp_init(&p->srv->loop, h);
    h->data = p;
    char want[128];
    format_addr(&ss, want, sizeof(want));
    r = uv_tcp_bind(h, (const struct sockaddr *)&ss, 0);
    if (r == UV_EAFNOSUPPORT && ss.ss_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)) {
        /* "Every interface" on a host without IPv6: fall back to 0.0.0.0. */
        struct sockaddr_in any4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY),
                                   .sin_port = ((struct sockaddr_in6 *)&ss)->sin6_port};
        memset(&ss, 0, sizeof(ss));
        memcpy(&ss, &any4, sizeof(any4));
        format_addr(&ss, want, sizeof(want));
        r = uv_tcp_bind(h, (const struct sockaddr *)&ss, 0);
    }
    if (r == 0)
        r = uv_listen((uv_stream_t *)h, 511, on_accept);
    if (r < 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s", uv_strerror(r));
        lower_first(msg);
        h->data = NULL;
        uv_close((uv_handle_t *)h, on_listener_closed);
        return fl_err_set(err, -r, "listen tcp %s: bind: %s", want, msg);
    }
    int len = sizeof(ss);
    uv_tcp_getsockname(h, (struct sockaddr *)&ss, &len);
    char bound[128];
    format_addr(&ss, bound, sizeof(bound));
    char *copy = strdup(bound);
    if (!copy) {
        h->data = NULL;
        uv_close((uv_handle_t *)h, on_listener_closed);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    free(p->listen);
    p->listen = copy;
    p->listener = h;
    p->enabled = true;
    return 0;
}

static void proxy_close_conns(struct fl_proxy *p)
{
    while (p->conns)
        conn_close(p->conns, false);
}

void fl_proxy_stop(struct fl_proxy *p)
{
    if (p->listener) {
        uv_tcp_t *h = p->listener;
        h->data = NULL;
        uv_close((uv_handle_t *)h, on_listener_closed);
        p->listener = NULL;
    }
    p->enabled = false;
    proxy_close_conns(p);
}

struct fl_proxy *fl_proxy_find(struct fl_server *srv, const char *name)
{
    for (struct fl_proxy *p = srv->proxies; p; p = p->next)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

size_t fl_proxy_count(struct fl_server *srv) { return srv->n_proxies; }

static int cmp_proxy(const void *a, const void *b)
{
    return strcmp((*(struct fl_proxy *const *)a)->name, (*(struct fl_proxy *const *)b)->name);
}

size_t fl_proxy_list(struct fl_server *srv, struct fl_proxy ***out)
{
    *out = NULL;
    if (!srv->n_proxies)
        return 0;
    struct fl_proxy **v = malloc(srv->n_proxies * sizeof(*v));
    if (!v)
        return 0;
    size_t n = 0;
    for (struct fl_proxy *p = srv->proxies; p; p = p->next)
        v[n++] = p;
    qsort(v, n, sizeof(*v), cmp_proxy);
    *out = v;
    return n;
}

static void proxy_free(struct fl_proxy *p)
{
    for (size_t i = 0; i < p->n_toxics; i++)
        fl_toxic_free(p->toxics[i]);
    free(p->toxics);
    free(p->name);
    free(p->listen);
    free(p->upstream);
    free(p);
}

int fl_proxy_create(struct fl_server *srv, const char *name, const char *listen,
                    const char *upstream, bool enabled, struct fl_proxy **out, struct fl_err *err)
{
    if (srv->n_proxies >= FL_PROXY_MAX)
        return fl_err_set(err, ENOSPC, "too many proxies (at most %d)", FL_PROXY_MAX);
    struct fl_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return fl_err_set(err, ENOMEM, "out of memory");
    p->srv = srv;
    p->name = strdup(name);
    p->listen = strdup(listen ? listen : "");
    p->upstream = strdup(upstream);
    if (!p->name || !p->listen || !p->upstream) {
        proxy_free(p);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    if (enabled) {
        int r = fl_proxy_start(p, err);
        if (r < 0) {
            proxy_free(p);
            return r;
        }
    }
    p->next = srv->proxies;
    srv->proxies = p;
    srv->n_proxies++;
    *out = p;
    return 0;
}

int fl_proxy_update(struct fl_proxy *p, const char *listen, const char *upstream, int enabled,
                    struct fl_err *err)
{
    bool same_listen = true;
    if (listen) {
        /* Resolve before touching anything (as Toxiproxy 2.12 does). */
        int r = fl_proxy_same_listen(p, listen, &same_listen, err);
        if (r < 0)
            return r;
    }
    bool same_upstream = !upstream || !strcmp(upstream, p->upstream);
    bool want = enabled < 0 ? p->enabled : enabled != 0;
    if (!same_listen || !same_upstream) {
        char *nl = listen && !same_listen ? strdup(listen) : NULL;
        char *nu = upstream && !same_upstream ? strdup(upstream) : NULL;
        if ((listen && !same_listen && !nl) || (upstream && !same_upstream && !nu)) {
            free(nl);
            free(nu);
            return fl_err_set(err, ENOMEM, "out of memory");
        }
        fl_proxy_stop(p);
        if (nl) {
            free(p->listen);
            p->listen = nl;
        }
        if (nu) {
            free(p->upstream);
            p->upstream = nu;
        }
        return want ? fl_proxy_start(p, err) : 0;
    }
    if (want && !p->enabled)
        return fl_proxy_start(p, err);
    if (!want && p->enabled)
        fl_proxy_stop(p);
    return 0;
}

void fl_proxy_delete(struct fl_proxy *p)
{
    struct fl_server *srv = p->srv;
    fl_proxy_stop(p);
    for (struct fl_proxy **pp = &srv->proxies; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    srv->n_proxies--;
    proxy_free(p);
}

/* ---- toxics -------------------------------------------------------------------------------- */

void fl_toxic_free(struct fl_toxic *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->stream);
    free(t);
}

struct fl_toxic *fl_toxic_find_in(struct fl_proxy *p, const char *name)
{
    for (size_t i = 0; i < p->n_toxics; i++)
        if (!strcmp(p->toxics[i]->name, name))
            return p->toxics[i];
    return NULL;
}

static void rebuild_dir(struct fl_proxy *p, enum fl_dir dir)
{
    /* conn_close unlinks from p->conns, so walk with the next pointer saved. */
    struct fl_conn *c = p->conns;
    while (c) {
        struct fl_conn *next = c->next;
        if (c->running && !c->closing)
            link_rebuild(&c->link[dir]);
        /* Either link may have stopped being pass-through (on_peer_write watches the
         * opposite direction). */
        for (int d = 0; d < 2; d++)
            if (c->running)
                link_splice_check(&c->link[d]);
        c = next;
    }
}

int fl_toxic_add(struct fl_proxy *p, struct fl_toxic *t)
{
    if (p->n_toxics >= FL_TOXIC_MAX)
        return -ENOSPC;
    struct fl_toxic **v = realloc(p->toxics, (p->n_toxics + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    p->toxics = v;
    t->id = ++p->srv->next_toxic_id;
    t->version = 1;
    v[p->n_toxics++] = t;
    rebuild_dir(p, t->dir);
    return 0;
}

void fl_toxic_changed(struct fl_proxy *p, struct fl_toxic *t)
{
    t->version++;
    rebuild_dir(p, t->dir);
}

void fl_toxic_remove(struct fl_proxy *p, struct fl_toxic *t)
{
    for (size_t i = 0; i < p->n_toxics; i++)
        if (p->toxics[i] == t) {
            memmove(&p->toxics[i], &p->toxics[i + 1], (p->n_toxics - i - 1) * sizeof(t));
            p->n_toxics--;
            break;
        }
    rebuild_dir(p, t->dir);
    fl_toxic_free(t);
}

/* ---- server -------------------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum) { fl_server_request_stop(h->data); }

struct fl_server *fl_server_new(uint64_t seed)
{
    struct fl_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    if (uv_loop_init(&srv->loop) < 0) {
        free(srv);
        return NULL;
    }
    fl_prng_seed(&srv->prng, seed);
    /* Staged chunks are items of up to 32 KiB malloc'd and freed at line rate: keep glibc
     * from trimming the heap top (and from mmap'ing) so freed chunks are reused without
     * faults. */
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    srv->rbuf = malloc(FL_FAST_READ);
    if (!srv->rbuf) {
        uv_loop_close(&srv->loop);
        free(srv);
        return NULL;
    }
    srv->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (srv->tfd >= 0 && uv_poll_init(&srv->loop, &srv->tfd_poll, srv->tfd) == 0) {
        srv->tfd_poll.data = srv;
        srv->tfd_poll_init = true;
        uv_poll_start(&srv->tfd_poll, UV_READABLE, on_tfd);
        uv_unref((uv_handle_t *)&srv->tfd_poll); /* stages' connections keep the loop alive */
        uv_idle_init(&srv->loop, &srv->spin);
        srv->spin.data = srv;
        uv_unref((uv_handle_t *)&srv->spin);
        uv_prepare_init(&srv->loop, &srv->prep);
        srv->prep.data = srv;
        uv_prepare_start(&srv->prep, on_prepare);
        uv_unref((uv_handle_t *)&srv->prep);
        uv_idle_init(&srv->loop, &srv->busy);
        srv->busy.data = srv;
        uv_unref((uv_handle_t *)&srv->busy);
    } else if (srv->tfd >= 0) {
        close(srv->tfd);
        srv->tfd = -1;
    }
    /* Signals are caught from here on, so a SIGTERM right after start-up is graceful too. */
    uv_signal_init(&srv->loop, &srv->sig_int);
    uv_signal_init(&srv->loop, &srv->sig_term);
    srv->sig_int.data = srv->sig_term.data = srv;
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    return srv;
}

void *fl_server_loop(struct fl_server *srv) { return &srv->loop; }

void fl_server_set_stop_hook(struct fl_server *srv, void (*hook)(void *), void *arg)
{
    srv->stop_hook = hook;
    srv->stop_arg = arg;
}

void fl_server_set_busy_poll(struct fl_server *srv, uint64_t ns)
{
    if (srv->tfd_poll_init) /* the idle handle is set up with the timerfd's */
        srv->busy_ns = ns;
}

void fl_server_set_link_hook(struct fl_server *srv,
                             void (*hook)(void *, const struct fl_link_stats *), void *arg)
{
    srv->link_hook = hook;
    srv->link_arg = arg;
}

void fl_server_request_stop(struct fl_server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    if (srv->stop_hook)
        srv->stop_hook(srv->stop_arg);
    while (srv->proxies)
        fl_proxy_delete(srv->proxies);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
}

int fl_server_run(struct fl_server *srv)
{
    /* The loop thread sleeps until the next stage deadline: no default 50 us slack. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    return 0;
}

void fl_server_free(struct fl_server *srv)
{
    if (!srv)
        return;
    /* Not stopped through the loop (a start-up error): wind down here. */
    fl_server_request_stop(srv);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (srv->tfd_poll_init) {
        uv_close((uv_handle_t *)&srv->tfd_poll, NULL);
        uv_close((uv_handle_t *)&srv->spin, NULL);
        uv_close((uv_handle_t *)&srv->prep, NULL);
        uv_close((uv_handle_t *)&srv->busy, NULL);
        uv_run(&srv->loop, UV_RUN_DEFAULT);
    }
    if (srv->tfd >= 0)
        close(srv->tfd);
    free(srv->heap);
    free(srv->rbuf);
    uv_loop_close(&srv->loop);
    free(srv);
}
