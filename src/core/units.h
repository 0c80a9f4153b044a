/* SPDX-License-Identifier: MIT */
/*
 * units.h - durations and sizes with units, the same everywhere a user types one.
 *
 * Durations: a decimal number and a unit: ns, us, ms, s, m, h (250ms, 1.5s, 2m). "0" alone
 * is allowed; any other bare number is refused, because "delay=2" could mean anything.
 * Sizes: a number and B, K/KB (1000), KiB (1024), M/MB, MiB, G/GB, GiB, T/TB, TiB; a bare
 * number is bytes. Where a caller allows it, "40%" gives a share instead.
 * Every parser writes into err a message that says what was expected.
 */
#ifndef FL_UNITS_H
#define FL_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define FL_NS_PER_SEC INT64_C(1000000000)

/* Parse a duration into nanoseconds. allow_sign: accept a leading + or - (clock offsets). */
int fl_parse_duration(const char *s, bool allow_sign, int64_t *ns, struct fl_err *err);

/* A size, or with allow_percent a share: *is_percent tells which; a share is returned in
 * parts per million in *value (40% -> 400000). */
int fl_parse_size(const char *s, bool allow_percent, uint64_t *value, bool *is_percent,
                  struct fl_err *err);

/* A probability: 0.3, 30%, 1 -> parts of 2^64 in *threshold (UINT64_MAX = always). */
int fl_parse_probability(const char *s, uint64_t *threshold, double *p, struct fl_err *err);

/* A signal by name (TERM, SIGTERM, term) or number (9); *sig gets its number. */
int fl_parse_signal(const char *s, int *sig, struct fl_err *err);

/* A non-negative integer that fits in uint64_t; no sign, no units. */
int fl_parse_u64(const char *s, uint64_t *out, struct fl_err *err);

/* Format for people: "1.5s", "250ms", "12us"; "64KiB". buf of at least 32 bytes. */
const char *fl_format_duration(int64_t ns, char *buf, size_t len);
const char *fl_format_size(uint64_t bytes, char *buf, size_t len);

#endif
