/* SPDX-License-Identifier: MIT */
/*
 * slow_close.c - the `slow_close` toxic: data passes unchanged; the EOF (and so the close) is held
 * back by delay ms.
 */
#include "toxic.h"

static const struct fl_toxic_attr slow_close_attrs[] = {
    {.name = "delay", .min = 0},
};

static void slow_close_data(struct fl_stage *st, struct fl_item *it) { fl_stage_queue(st, it, 0); }

static void slow_close_eof(struct fl_stage *st, struct fl_item *it)
{
    fl_stage_queue(st, it, fl_now_ns() + (uint64_t)st->attr[0] * 1000000u);
}

const struct fl_toxic_ops fl_toxic_slow_close = {
    .type = "slow_close",
    .go_struct = "SlowCloseToxic",
    .attrs = slow_close_attrs,
    .n_attrs = 1,
    .on_data = slow_close_data,
    .on_eof = slow_close_eof,
};
