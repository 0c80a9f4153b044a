/* SPDX-License-Identifier: MIT */
/*
 * proxy.h - the TCP chaos proxy engine behind `faultline proxy`: servers, proxies, toxics.
 *
 * One libuv loop thread owns every object declared here: proxies, their listeners, their
 * toxics and every live connection. Nothing in this header is thread-safe; the HTTP API
 * (api.c) runs its requests on the loop thread through a queue, so the data path never takes
 * a lock and the API never waits behind a busy connection.
 *
 * A proxy listens on `listen` and, for each accepted client, dials `upstream` (resolved
 * again for every connection) and runs two links: upstream (client -> server) and
 * downstream (server -> client). Each link is read -> stages (one per toxic) -> write, with
 * bounded buffering: the link stops reading its source while more than FL_LINK_HIGH bytes
 * are held by its stages and pending writes, and resumes under FL_LINK_LOW. A link with no
 * toxic in effect skips the stages: it writes what it reads at once, or splices it (engine.c).
 */
#ifndef FL_PROXY_H
#define FL_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "toxic.h"

#define FL_PROXY_MAX 1024         /* proxies per server */
#define FL_TOXIC_MAX 64           /* toxics per proxy */
#define FL_CHUNK_MAX (32 * 1024)  /* one read, as Toxiproxy's io.Copy buffer */
#define FL_FAST_READ (256 * 1024) /* one read on a link with no toxic in effect */
#define FL_LINK_HIGH (1024 * 1024) /* stop reading a link's source above this many bytes */
#define FL_LINK_LOW (256 * 1024)  /* ...and resume below this */

enum fl_dir { FL_UPSTREAM = 0, FL_DOWNSTREAM = 1 };

struct fl_server;
struct fl_conn;

/* What a toxic met, for GET /proxies/{proxy}/toxics/{toxic}/stats (a faultline extension), so
 * that a caller such as the experiment runner can tell a toxic that took effect from one that
 * nothing went through. Counted on the loop thread from the toxic's creation on, kept across
 * updates. A connection counts once per toxic, however often the toxic is updated. */
struct fl_toxic_stats {
    uint64_t connections_seen;   /* connections its toxicity was rolled for: a stage made on
                                  * the link of its direction, or (kinds with on_accept) the
                                  * accept-time roll */
    uint64_t connections_active; /* ...of which it won the roll (an active stage at some point,
                                  * or the on_accept hook ran) */
    uint64_t bytes;              /* data bytes that reached an active stage of it */
};

struct fl_toxic {
    uint64_t id;             /* creation order: the chain order within a direction */
    uint64_t version;        /* bumped by every update */
    char *name;
    char *stream;            /* as the client spelled it ("UPSTREAM" stays upper case) */
    enum fl_dir dir;
    const struct fl_toxic_ops *ops;
    double toxicity;         /* probability per link and stage start; >= 1 always, <= 0 never */
    int64_t attr[FL_TOXIC_MAX_ATTRS]; /* in ops->attrs order */
    struct fl_toxic_stats stats; /* live stages point here (fl_stage.stats) */
};

struct fl_proxy {
    struct fl_server *srv;
    struct fl_proxy *next;   /* server's list, unordered */
    char *name;
    char *listen;            /* bound address while enabled; as given otherwise */
    char *upstream;          /* as given, resolved per connection */
    bool enabled;            /* true while the listener runs */
    void *listener;          /* uv_tcp_t *, NULL when stopped */
    struct fl_toxic **toxics; /* sorted by id: upstream and downstream mixed */
    size_t n_toxics;
    struct fl_conn *conns;   /* live connections (doubly linked through fl_conn) */
};

/* Server lifetime (the calling thread becomes the loop thread in fl_server_run). */
struct fl_server *fl_server_new(uint64_t seed);
void *fl_server_loop(struct fl_server *srv);         /* the uv_loop_t * */
/* Run until fl_server_request_stop or SIGINT/SIGTERM; returns 0 after a graceful stop. */
int fl_server_run(struct fl_server *srv);
void fl_server_request_stop(struct fl_server *srv);  /* loop thread only */
void fl_server_free(struct fl_server *srv);
void fl_server_set_stop_hook(struct fl_server *srv, void (*hook)(void *), void *arg);

/* What one link moved, for /metrics. The labels are copies taken when the client was accepted
 * (a proxy may be renamed, moved or deleted before its connections end). received: bytes read
 * from the link's source; sent: bytes whose write to the destination completed; write_ok: no
 * write or shutdown on the destination failed or was cancelled. */
struct fl_link_stats {
    const char *proxy, *listener, *upstream;
    enum fl_dir dir;
    uint64_t received, sent;
    bool write_ok;
};
/* Called on the loop thread once per link of every connection that reached RUNNING, when the
 * connection is freed (after its last write callback, so the counts are final). */
void fl_server_set_link_hook(struct fl_server *srv,
                             void (*hook)(void *, const struct fl_link_stats *), void *arg);

/* Keep the loop polling, without sleeping, for ns after each read (0, the default: off).
 * Trades CPU for latency: on a VM every sleep of the loop costs the next message a wake-up
 * (bench/RESULTS.md). `faultline proxy --busy-poll DUR`. */
void fl_server_set_busy_poll(struct fl_server *srv, uint64_t ns);

/* Proxies (loop thread only). Functions returning int give 0 or -errno with err filled. */
struct fl_proxy *fl_proxy_find(struct fl_server *srv, const char *name);
size_t fl_proxy_list(struct fl_server *srv, struct fl_proxy ***out); /* sorted by name */
size_t fl_proxy_count(struct fl_server *srv);
int fl_proxy_create(struct fl_server *srv, const char *name, const char *listen,
                    const char *upstream, bool enabled, struct fl_proxy **out, struct fl_err *err);
/* Apply an update: NULL/-1 fields keep their value. */
int fl_proxy_update(struct fl_proxy *p, const char *listen, const char *upstream, int enabled,
                    struct fl_err *err);
void fl_proxy_delete(struct fl_proxy *p);
int fl_proxy_start(struct fl_proxy *p, struct fl_err *err);
void fl_proxy_stop(struct fl_proxy *p);
/* Would `listen`, resolved, bind the address the proxy holds now? (populate/update). */
int fl_proxy_same_listen(struct fl_proxy *p, const char *listen, bool *same, struct fl_err *err);

/* Toxics. add takes ownership of t (id assigned here); changed/remove apply to live links. */
struct fl_toxic *fl_toxic_find_in(struct fl_proxy *p, const char *name);
int fl_toxic_add(struct fl_proxy *p, struct fl_toxic *t);
void fl_toxic_changed(struct fl_proxy *p, struct fl_toxic *t);
void fl_toxic_remove(struct fl_proxy *p, struct fl_toxic *t);
void fl_toxic_free(struct fl_toxic *t);

/* The HTTP control API (api.c). fl_api_start binds host:port (port 0: ephemeral, reported in
 * *bound_port) and serves from its own threads; fl_api_free joins them after the loop ended. */
struct fl_api;
struct fl_api *fl_api_start(struct fl_server *srv, const char *host, int port, int *bound_port,
                            struct fl_err *err);
void fl_api_free(struct fl_api *api);
/* Apply a /populate body from a file, on the loop thread before it runs. */
int fl_api_load_config(struct fl_server *srv, const char *path, struct fl_err *err);

#endif
