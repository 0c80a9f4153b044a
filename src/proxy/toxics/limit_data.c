/* SPDX-License-Identifier: MIT */
/*
 * limit_data.c - the `limit_data` toxic: forward at most `bytes` bytes per connection and
 * direction, then close.
 *
 * The count lives in the stage and is carried over when the toxic is updated. The chunk that
 * crosses the limit is cut short, then a CLOSE item follows it: the writer flushes it and
 * closes the connection with FIN. As in the reference the check runs when data arrives, so
 * bytes 0 closes on the first chunk.
 */
#include "toxic.h"

static const struct fl_toxic_attr limit_data_attrs[] = {
    {.name = "bytes", .min = 0},
};

static void limit_data_data(struct fl_stage *st, struct fl_item *it)
{
    if (st->triggered) {
        fl_item_free(it);
        return;
    }
    int64_t left = st->attr[0] - st->counter;
    if (left < 0)
        left = 0;
    if ((int64_t)it->len > left)
        it->len = (size_t)left;
    st->counter += (int64_t)it->len;
    struct fl_link *link = it->link;
    fl_stage_queue(st, it, 0);
    if (st->counter >= st->attr[0]) {
        st->triggered = true;
        struct fl_item *close = fl_item_new(link, FL_ITEM_CLOSE, 0);
        if (close)
            fl_stage_queue(st, close, 0);
        else
            fl_stage_abort(st, false);
    }
}

const struct fl_toxic_ops fl_toxic_limit_data = {
    .type = "limit_data",
    .go_struct = "LimitDataToxic",
    .attrs = limit_data_attrs,
    .n_attrs = 1,
    .on_data = limit_data_data,
};
