/* SPDX-License-Identifier: MIT */
/*
 * noop.c - the `noop` toxic: passes data through unchanged; a valid type that clients use as a
 * placeholder.
 */
#include "toxic.h"

static void noop_data(struct fl_stage *st, struct fl_item *it) { fl_stage_queue(st, it, 0); }

const struct fl_toxic_ops fl_toxic_noop = {
    .type = "noop",
    .go_struct = "NoopToxic",
    .on_data = noop_data,
};
