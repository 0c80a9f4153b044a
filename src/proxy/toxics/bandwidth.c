/* SPDX-License-Identifier: MIT */
/*
 * bandwidth.c - the `bandwidth` toxic: release bytes at rate KB/s (KB = 1000 bytes), per
 * connection and direction.
 *
 * Chunks larger than rate*100 bytes are cut into pieces of that size, one every 100 ms, so the
 * flow is smooth. Each piece gets the next free send slot (next_ns), which carries the
 * rounding over from chunk to chunk. rate must be > 0: the reference hangs on 0 and crashes
 * on a negative rate, so the API rejects both.
 */
#include "toxic.h"

#include <string.h>

static const struct fl_toxic_attr bandwidth_attrs[] = {
    {.name = "rate", .min = 1},
};

static void bandwidth_data(struct fl_stage *st, struct fl_item *it)
{
    uint64_t rate = (uint64_t)st->attr[0]; /* KB/s, >= 1 */
    size_t piece_max = rate * 100 > 0 && rate * 100 < it->len ? (size_t)(rate * 100) : it->len;
    uint64_t now = fl_now_ns();
    uint64_t slot = st->next_ns > now ? st->next_ns : now;
    size_t off = 0;
    while (off < it->len) {
        size_t n = it->len - off < piece_max ? it->len - off : piece_max;
        slot += (uint64_t)n * 1000000u / rate; /* n bytes at rate*1000 B/s, in ns */
        if (off == 0 && n == it->len) {
            fl_stage_queue(st, it, slot);
            st->next_ns = slot;
            return;
        }
        struct fl_item *piece = fl_item_new(it->link, FL_ITEM_DATA, n);
        if (!piece) {
            fl_stage_abort(st, false);
            fl_item_free(it);
            return;
        }
        memcpy(piece->data, it->data + off, n);
        piece->len = n;
        piece->ts_ns = it->ts_ns;
        fl_stage_queue(st, piece, slot);
        off += n;
    }
    st->next_ns = slot;
    fl_item_free(it);
}

const struct fl_toxic_ops fl_toxic_bandwidth = {
    .type = "bandwidth",
    .go_struct = "BandwidthToxic",
    .attrs = bandwidth_attrs,
    .n_attrs = 1,
    .on_data = bandwidth_data,
};
