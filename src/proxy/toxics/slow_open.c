/* SPDX-License-Identifier: MIT */
/*
 * slow_open.c - the `slow_open` toxic (a faultline extension): a slow handshake. The proxy
 * accepts at once but dials the upstream only `delay` ms later, so the server sees the
 * connection late and whatever the client sends meanwhile waits (unread) in the proxy's socket.
 *
 * It acts at accept time through the engine's connection-setup hook; several slow_open toxics
 * add up. Connections already open are left alone, and its stages pass data through.
 */
#include "toxic.h"

static const struct fl_toxic_attr slow_open_attrs[] = {
    {.name = "delay", .min = 0, .def = 1000, .max = 3600000},
};

static void slow_open_data(struct fl_stage *st, struct fl_item *it)
{
    fl_stage_queue(st, it, 0);
}

static enum fl_accept_verdict slow_open_accept(const int64_t *attr, struct fl_server *srv,
                                               uint64_t *delay_ms)
{
    (void)srv;
    *delay_ms += (uint64_t)attr[0];
    return FL_ACCEPT_GO;
}

const struct fl_toxic_ops fl_toxic_slow_open = {
    .type = "slow_open",
    .go_struct = "SlowOpenToxic",
    .attrs = slow_open_attrs,
    .n_attrs = 1,
    .on_data = slow_open_data,
    .on_accept = slow_open_accept,
};
