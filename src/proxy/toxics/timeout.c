/* SPDX-License-Identifier: MIT */
/*
 * timeout.c - the `timeout` toxic: drop every chunk; close the connection after timeout ms without
 * data.
 *
 * The countdown restarts on each chunk received (and dropped) and whenever the stage starts,
 * as in the reference; timeout 0 black-holes the data and never closes.
 */
#include "toxic.h"

static const struct fl_toxic_attr timeout_attrs[] = {
    {.name = "timeout", .min = 0},
};

static void timeout_arm(struct fl_stage *st)
{
    if (st->attr[0] > 0)
        fl_stage_set_deadline(st, fl_now_ns() + (uint64_t)st->attr[0] * 1000000u);
}

static void timeout_data(struct fl_stage *st, struct fl_item *it)
{
    fl_item_free(it);
    timeout_arm(st);
}

static void timeout_deadline(struct fl_stage *st) { fl_stage_abort(st, false); }

const struct fl_toxic_ops fl_toxic_timeout = {
    .type = "timeout",
    .go_struct = "TimeoutToxic",
    .attrs = timeout_attrs,
    .n_attrs = 1,
    .on_start = timeout_arm,
    .on_data = timeout_data,
    .on_deadline = timeout_deadline,
};
