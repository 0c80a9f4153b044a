/* SPDX-License-Identifier: MIT */
/*
 * clock.h - now, in nanoseconds: CLOCK_MONOTONIC for deadlines and durations, CLOCK_REALTIME
 * for what is shown or stored as a time of day (journal entries, reports).
 */
#ifndef FL_CLOCK_H
#define FL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t fl_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t fl_mono_ns(void) { return fl_clock_ns(CLOCK_MONOTONIC); }
static inline int64_t fl_wall_ns(void) { return fl_clock_ns(CLOCK_REALTIME); }
static inline int64_t fl_wall_ms(void) { return fl_wall_ns() / 1000000; }

#endif
