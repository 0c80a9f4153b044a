/* SPDX-License-Identifier: MIT */
/*
 * fuzz-units.c - libFuzzer target for the value parsers: durations, sizes, probabilities and
 * plain integers (units.c).
 *
 * Every rule value and many CLI flags go through these parsers, which copy the number into a
 * fixed buffer and hand it to strtod. They must never crash, must leave the output alone when
 * they refuse, and what they accept must be consistent: a duration without a sign is not
 * negative and parses the same when a sign is allowed, a share is at most 100%, a probability
 * is in [0, 1] and maps 1 to "always", an integer prints back as the digits it came from. The
 * formatters are run on every accepted value and must stay inside their buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz-units: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,    \
                    #cond);                                                                       \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static void check_err(int rc, const struct fl_err *err)
{
    CHECK(rc == -EINVAL || rc == -ERANGE);
    CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
    CHECK(err->msg[0] != '\0');
}

static void check_format_duration(int64_t ns)
{
    char buf[40];
    memset(buf, 'Z', sizeof(buf));
    fl_format_duration(ns, buf, 32);
    CHECK(memchr(buf, '\0', 32) != NULL);
    CHECK(buf[32] == 'Z');
    CHECK(buf[0] != '\0');
    char tiny[8];
    memset(tiny, 'Z', sizeof(tiny));
    fl_format_duration(ns, tiny, 4);
    CHECK(memchr(tiny, '\0', 4) != NULL && tiny[4] == 'Z');
}

static void check_format_size(uint64_t v)
{
    char buf[40];
    memset(buf, 'Z', sizeof(buf));
    fl_format_size(v, buf, 32);
    CHECK(memchr(buf, '\0', 32) != NULL);
    CHECK(buf[32] == 'Z');
    CHECK(buf[0] != '\0');
}

static void fuzz_duration(const char *s)
{
    struct fl_err err;
    memset(&err, 0, sizeof(err));
    const int64_t untouched = INT64_C(0x5a5a5a5a5a5a5a5a);
    int64_t ns = untouched, sns = untouched;
    int rc = fl_parse_duration(s, false, &ns, &err);
    if (rc < 0) {
        check_err(rc, &err);
        CHECK(ns == untouched);
    } else {
        CHECK(rc == 0);
        CHECK(ns >= 0);
        check_format_duration(ns);
    }
    memset(&err, 0, sizeof(err));
    int src = fl_parse_duration(s, true, &sns, &err);
    if (src < 0) {
        check_err(src, &err);
        CHECK(sns == untouched);
        CHECK(rc < 0); /* allowing a sign never refuses what was accepted without one */
    } else {
        CHECK(sns >= -INT64_C(9200000000000000000) && sns <= INT64_C(9200000000000000000));
        if (rc == 0)
            CHECK(sns == ns);
        check_format_duration(sns);
    }
}

static void fuzz_size(const char *s)
{
    struct fl_err err;
    memset(&err, 0, sizeof(err));
    const uint64_t untouched = UINT64_C(0xa5a5a5a5a5a5a5a5);
    uint64_t v = untouched, pv = untouched;
    bool pct = true, ppct = false;
    int rc = fl_parse_size(s, false, &v, &pct, &err);
    if (rc < 0) {
        check_err(rc, &err);
        CHECK(v == untouched);
    } else {
        CHECK(rc == 0 && !pct);
        check_format_size(v);
    }
    memset(&err, 0, sizeof(err));
    int prc = fl_parse_size(s, true, &pv, &ppct, &err);
    if (prc < 0) {
        check_err(prc, &err);
        CHECK(pv == untouched);
        CHECK(rc < 0);
    } else if (ppct) {
        CHECK(pv <= 1000000);
        CHECK(rc < 0); /* a share is never a size */
    } else {
        CHECK(rc == 0 && pv == v);
    }
}

static void fuzz_probability(const char *s)
{
    struct fl_err err;
    memset(&err, 0, sizeof(err));
    const uint64_t untouched = UINT64_C(0x5a5a5a5a5a5a5a5a);
    uint64_t th = untouched;
    double p = -7;
    int rc = fl_parse_probability(s, &th, &p, &err);
    if (rc < 0) {
        check_err(rc, &err);
        CHECK(th == untouched);
        return;
    }
    CHECK(rc == 0);
    CHECK(p >= 0.0 && p <= 1.0);
    /* below 1 the largest threshold is 2^64 - 2^11: "always" only for 1 itself */
    CHECK((th == UINT64_MAX) == (p >= 1.0));
    if (p == 0.0)
        CHECK(th == 0);
}

static void fuzz_u64(const char *s)
{
    struct fl_err err;
    memset(&err, 0, sizeof(err));
    uint64_t v = 12345;
    int rc = fl_parse_u64(s, &v, &err);
    if (rc < 0) {
        check_err(rc, &err);
        CHECK(v == 12345);
        return;
    }
    CHECK(rc == 0);
    const char *digits = s;
    while (digits[0] == '0' && digits[1])
        digits++;
    char back[32];
    snprintf(back, sizeof(back), "%" PRIu64, v);
    CHECK(strcmp(back, digits) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    fuzz_duration(s);
    fuzz_size(s);
    fuzz_probability(s);
    fuzz_u64(s);
    free(s);
    return 0;
}
