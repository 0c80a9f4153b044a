/* SPDX-License-Identifier: MIT */
/*
 * latency.c - the `latency` toxic: hold each chunk until read time + latency + jitter.
 *
 * The deadline counts from when the chunk was read (its ts_ns), and the toxic advances ts_ns,
 * so time spent queued counts towards it and several latency toxics in a row add up. Jitter is
 * a whole number of ms drawn uniformly from [-jitter, jitter-1] per chunk (the reference's
 * distribution). The stage queue is FIFO, so chunks never overtake each other; a chunk whose
 * deadline has passed leaves as soon as the one in front of it has.
 */
#include "toxic.h"

static const struct fl_toxic_attr latency_attrs[] = {
    {.name = "latency", .min = 0},
    {.name = "jitter", .min = 0},
};

static void latency_data(struct fl_stage *st, struct fl_item *it)
{
    int64_t ms = st->attr[0];
    if (st->attr[1] > 0)
        ms += (int64_t)fl_stage_below(st, (uint64_t)st->attr[1] * 2) - st->attr[1];
    if (ms > 0)
        it->ts_ns += (uint64_t)ms * 1000000u;
    fl_stage_queue(st, it, it->ts_ns);
}

const struct fl_toxic_ops fl_toxic_latency = {
    .type = "latency",
    .go_struct = "LatencyToxic",
    .attrs = latency_attrs,
    .n_attrs = 2,
    .on_data = latency_data,
};
