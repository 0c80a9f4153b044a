/* SPDX-License-Identifier: MIT */
/* kill.h - what the kill kind offers beyond its ops table: one round of the chaos monkey. */
#ifndef FL_KILL_H
#define FL_KILL_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

/* One round of the monkey: the victim (round k picks by the seed, k and the number of matches
 * alone), its orphans and any refusals are added to report's "hits", "orphans" and "refused"
 * arrays (made if missing; report may be NULL). 0, or -errno with err. */
int fl_kill_round(const json_t *params, uint64_t round, json_t *report, struct fl_err *err);

#endif
