/* SPDX-License-Identifier: MIT */
/*
 * slicer.c - the `slicer` toxic: cut each chunk into smaller writes, delay us apart.
 *
 * The split is the reference's recursive halving: a piece is final when its length minus
 * average_size is at most size_variation, and each split point moves by a uniform integer in
 * [-variation, variation-1]. Split points are clamped inside the piece, and average_size must
 * be >= 1 (0 makes the reference recurse forever and crash), so the recursion always ends;
 * its depth is log2(32 KiB). Every piece is a separate write.
 */
#include "toxic.h"

#include <stdlib.h>
#include <string.h>

static const struct fl_toxic_attr slicer_attrs[] = {
    {.name = "average_size", .min = 1},
    {.name = "size_variation", .min = 0},
    {.name = "delay", .min = 0},
};

/* Append the end offsets of the pieces of [start, end) to cuts. */
static void slicer_split(struct fl_stage *st, size_t start, size_t end, size_t *cuts, size_t *n)
{
    uint64_t avg = (uint64_t)st->attr[0], var = (uint64_t)st->attr[1];
    size_t len = end - start;
    if (len <= avg + var || len < 2) {
        cuts[(*n)++] = end;
        return;
    }
    int64_t mid = (int64_t)(start + len / 2);
    if (var > 0)
        mid += (int64_t)fl_stage_below(st, var * 2) - (int64_t)var;
    if (mid <= (int64_t)start)
        mid = (int64_t)start + 1;
    if (mid >= (int64_t)end)
        mid = (int64_t)end - 1;
    slicer_split(st, start, (size_t)mid, cuts, n);
    slicer_split(st, (size_t)mid, end, cuts, n);
}

static void slicer_data(struct fl_stage *st, struct fl_item *it)
{
    size_t cuts_stack[64];
    size_t *cuts = it->len <= 64 ? cuts_stack : malloc(it->len * sizeof(*cuts));
    if (!cuts) {
        fl_item_free(it);
        fl_stage_abort(st, false);
        return;
    }
    size_t n = 0;
    slicer_split(st, 0, it->len, cuts, &n);
    uint64_t now = fl_now_ns();
    uint64_t slot = st->next_ns > now ? st->next_ns : now;
    uint64_t step = (uint64_t)st->attr[2] * 1000u;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = cuts[i] - start;
        struct fl_item *piece = fl_item_new(it->link, FL_ITEM_DATA, len);
        if (!piece) {
            fl_stage_abort(st, false);
            break;
        }
        memcpy(piece->data, it->data + start, len);
        piece->len = len;
        piece->ts_ns = it->ts_ns;
        fl_stage_queue(st, piece, slot);
        slot += step;
        start = cuts[i];
    }
    st->next_ns = slot;
    if (cuts != cuts_stack)
        free(cuts);
    fl_item_free(it);
}

const struct fl_toxic_ops fl_toxic_slicer = {
    .type = "slicer",
    .go_struct = "SlicerToxic",
    .go_int = "int", /* the reference declares slicer's fields int, the others int64 */
    .attrs = slicer_attrs,
    .n_attrs = 3,
    .on_data = slicer_data,
};
