/* SPDX-License-Identifier: MIT */
/* prng.c - see prng.h. */
#include "prng.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void fl_prng_seed(struct fl_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += UINT64_C(0x9e3779b97f4a7c15);
        p->s[i] = fl_mix64(x);
    }
    if (!(p->s[0] | p->s[1] | p->s[2] | p->s[3]))
        p->s[0] = 1;
}

uint64_t fl_prng_next(struct fl_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t fl_prng_below(struct fl_prng *p, uint64_t bound)
{
    uint64_t x = fl_prng_next(p);
    __uint128_t m = (__uint128_t)x * bound;
    uint64_t l = (uint64_t)m;
    if (l < bound) {
        uint64_t t = -bound % bound;
        while (l < t) {
            x = fl_prng_next(p);
            m = (__uint128_t)x * bound;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double fl_prng_unit(struct fl_prng *p) { return (double)(fl_prng_next(p) >> 11) * 0x1.0p-53; }

uint64_t fl_seed_from_entropy(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = fl_mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
    }
    /* Keep seeds short enough to type: 1 .. 2^53, printed in decimal. */
    seed &= (UINT64_C(1) << 53) - 1;
    return seed ? seed : 1;
}
