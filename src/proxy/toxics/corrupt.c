/* SPDX-License-Identifier: MIT */
/*
 * corrupt.c - the `corrupt` toxic (a faultline extension): flip bits in the data passing, at
 * `rate` bit flips per million bytes (1000000 = one flipped bit per byte on average).
 *
 * Each chunk of n bytes gets floor(n * rate / 1e6) flips, plus one more with probability equal
 * to the fractional part, each at a uniform bit of the chunk, all drawn from the seeded
 * generator; so the expected count is exact at any chunk size and `--seed` replays the flips.
 * The length never changes: this models a bad link under TCP, not a lossy one.
 */
#include "toxic.h"

static const struct fl_toxic_attr corrupt_attrs[] = {
    {.name = "rate", .min = 0, .def = 1000, .max = 8000000},
};

static void corrupt_data(struct fl_stage *st, struct fl_item *it)
{
    uint64_t expect = (uint64_t)it->len * (uint64_t)st->attr[0]; /* flips, in millionths */
    uint64_t flips = expect / 1000000u;
    if (fl_stage_below(st, 1000000u) < expect % 1000000u)
        flips++;
    for (uint64_t i = 0; i < flips && it->len; i++) {
        uint64_t bit = fl_stage_below(st, (uint64_t)it->len * 8u);
        it->data[bit / 8] = (char)(it->data[bit / 8] ^ (1u << (bit % 8)));
    }
    fl_stage_queue(st, it, 0);
}

const struct fl_toxic_ops fl_toxic_corrupt = {
    .type = "corrupt",
    .go_struct = "CorruptToxic",
    .attrs = corrupt_attrs,
    .n_attrs = 1,
    .on_data = corrupt_data,
};
