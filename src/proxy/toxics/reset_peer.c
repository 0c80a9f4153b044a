/* SPDX-License-Identifier: MIT */
/*
 * reset_peer.c - the `reset_peer` toxic: after the first chunk or EOF, wait timeout ms and reset
 * the connection.
 *
 * Until data or EOF arrives nothing happens, so idle connections are not reset. Then that
 * chunk and everything after it is dropped, and after timeout ms both sockets are closed with
 * SO_LINGER 0, i.e. with an RST. Unlike the reference, the RST comes from the toxic itself and
 * not from a linger setting made at accept time, so it also works on connections that were
 * open before the toxic was added, and toxicity 0 never resets (reference issue #603).
 */
#include "toxic.h"

static const struct fl_toxic_attr reset_peer_attrs[] = {
    {.name = "timeout", .min = 0},
};

static void reset_peer_trigger(struct fl_stage *st, struct fl_item *it)
{
    fl_item_free(it);
    if (st->triggered)
        return;
    st->triggered = true;
    uint64_t at = fl_now_ns() + (uint64_t)st->attr[0] * 1000000u;
    fl_stage_set_deadline(st, at ? at : 1);
}

static void reset_peer_deadline(struct fl_stage *st) { fl_stage_abort(st, true); }

const struct fl_toxic_ops fl_toxic_reset_peer = {
    .type = "reset_peer",
    .go_struct = "ResetToxic",
    .attrs = reset_peer_attrs,
    .n_attrs = 1,
    .on_data = reset_peer_trigger,
    .on_eof = reset_peer_trigger,
    .on_deadline = reset_peer_deadline,
};
