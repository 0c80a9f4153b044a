/* SPDX-License-Identifier: MIT */
/*
 * prng.h - faultline's own random numbers: one seed per run drives every random choice.
 *
 * Two shapes over the same mixing function:
 *  - struct fl_prng, a stream (xoshiro256**, seeded through splitmix64), for code that draws
 *    in sequence (which victim, which byte);
 *  - fl_mix3(seed, a, b), stateless and lock-free, for the preload: the k-th draw of rule r is
 *    fl_mix3(seed, r, k), so threads never share a generator state and a deterministic target
 *    gets the same faults for the same seed.
 * Neither ever touches the C library's rand()/random() state.
 */
#ifndef FL_PRNG_H
#define FL_PRNG_H

#include <stdint.h>

struct fl_prng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
};

/* splitmix64 finaliser: a bijective 64-bit mix. */
static inline uint64_t fl_mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static inline uint64_t fl_mix3(uint64_t seed, uint64_t a, uint64_t b)
{
    return fl_mix64(fl_mix64(seed ^ fl_mix64(a)) ^ b);
}

void fl_prng_seed(struct fl_prng *p, uint64_t seed);
uint64_t fl_prng_next(struct fl_prng *p);
/* Uniform in [0, bound); bound > 0. Unbiased (Lemire's method). */
uint64_t fl_prng_below(struct fl_prng *p, uint64_t bound);
/* Uniform double in [0, 1). */
double fl_prng_unit(struct fl_prng *p);

/* A fresh seed from the kernel (getrandom), falling back to time and pid. Never 0. */
uint64_t fl_seed_from_entropy(void);

#endif
