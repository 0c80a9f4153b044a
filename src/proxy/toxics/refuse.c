/* SPDX-License-Identifier: MIT */
/*
 * refuse.c - the `refuse` toxic (a faultline extension): an intermittent outage. A share of
 * new connections (`rate` percent, default 100) is closed right after accept, before the
 * upstream is dialled: with FIN, or with RST when `reset` is 1 (what a client sees from a
 * port with nothing listening, as near as a listening proxy can get).
 *
 * It acts at accept time through the engine's connection-setup hook, drawing from the seeded
 * generator; connections already open are left alone, and its stages pass data through.
 */
#include "toxic.h"

static const struct fl_toxic_attr refuse_attrs[] = {
    {.name = "rate", .min = 0, .def = 100, .max = 100},
    {.name = "reset", .min = 0, .def = 0, .max = 1},
};

static void refuse_data(struct fl_stage *st, struct fl_item *it) { fl_stage_queue(st, it, 0); }

static enum fl_accept_verdict refuse_accept(const int64_t *attr, struct fl_server *srv,
                                            uint64_t *delay_ms)
{
    (void)delay_ms;
    if (fl_server_below(srv, 100) >= (uint64_t)attr[0])
        return FL_ACCEPT_GO;
    return attr[1] ? FL_ACCEPT_RESET : FL_ACCEPT_CLOSE;
}

const struct fl_toxic_ops fl_toxic_refuse = {
    .type = "refuse",
    .go_struct = "RefuseToxic",
    .attrs = refuse_attrs,
    .n_attrs = 2,
    .on_data = refuse_data,
    .on_accept = refuse_accept,
};
