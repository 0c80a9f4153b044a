/* SPDX-License-Identifier: MIT */
/*
 * packet_loss.c - the `packet_loss` toxic (a faultline extension, accepted by newer Toxiproxy
 * clients): drop whole chunks, `loss_rate` percent of them, in bursts.
 *
 * Burstiness is a two-state Gilbert-Elliott chain over chunks: with probability `correlation`
 * percent a chunk shares the fate (dropped or passed) of the one before it; otherwise its fate
 * is drawn afresh with loss_rate. The long-run share dropped stays loss_rate, and correlation 0
 * gives independent losses. Over TCP a dropped chunk is lost bytes, not a retransmission: the
 * peer sees a stream with holes, which is the point of the toxic. EOF always passes.
 */
#include "toxic.h"

static const struct fl_toxic_attr packet_loss_attrs[] = {
    {.name = "loss_rate", .min = 0, .def = 0, .max = 100},
    {.name = "correlation", .min = 0, .def = 0, .max = 100},
};

static void packet_loss_data(struct fl_stage *st, struct fl_item *it)
{
    bool drop;
    /* counter: 0 before the first chunk; triggered: the previous chunk was dropped. */
    if (st->counter && fl_stage_below(st, 100) < (uint64_t)st->attr[1])
        drop = st->triggered;
    else
        drop = fl_stage_below(st, 100) < (uint64_t)st->attr[0];
    st->counter = 1;
    st->triggered = drop;
    if (drop)
        fl_item_free(it);
    else
        fl_stage_queue(st, it, 0);
}

const struct fl_toxic_ops fl_toxic_packet_loss = {
    .type = "packet_loss",
    .go_struct = "PacketLossToxic",
    .attrs = packet_loss_attrs,
    .n_attrs = 2,
    .on_data = packet_loss_data,
};
