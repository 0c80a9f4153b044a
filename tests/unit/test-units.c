/* SPDX-License-Identifier: MIT */
/*
 * test-units.c - durations, sizes, probabilities and plain integers as users type them.
 *
 * Every rule value and most CLI flags go through units.c, so a parser that quietly accepts
 * "delay=2" (two what?), rounds 1.5 bytes or wraps on overflow would turn a typo into a fault
 * nobody asked for. These tests pin the accepted forms, the refusals and the wording of the
 * messages that tell the user what was expected, plus the formatters' round trips.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "units.h"

static int64_t duration_ok(const char *s, bool allow_sign)
{
    int64_t ns = -12345;
    struct fl_err err = {{0}};
    int rc = fl_parse_duration(s, allow_sign, &ns, &err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", s, err.msg);
    return ns;
}

static int duration_bad(const char *s, bool allow_sign, struct fl_err *err)
{
    int64_t ns = -12345;
    memset(err, 0, sizeof(*err));
    int rc = fl_parse_duration(s, allow_sign, &ns, err);
    assert_true(rc < 0);
    assert_true(ns == -12345); /* untouched on failure */
    assert_true(err->msg[0] != '\0');
    return rc;
}

static void test_duration_units(void **state)
{
    (void)state;
    assert_true(duration_ok("250ms", false) == 250 * INT64_C(1000000));
    assert_true(duration_ok("1.5s", false) == 1500 * INT64_C(1000000));
    assert_true(duration_ok("2m", false) == 120 * FL_NS_PER_SEC);
    assert_true(duration_ok("1h", false) == 3600 * FL_NS_PER_SEC);
    assert_true(duration_ok("12us", false) == 12000);
    assert_true(duration_ok("7ns", false) == 7);
    assert_true(duration_ok("0", false) == 0);
    assert_true(duration_ok("0.0", false) == 0);
    assert_true(duration_ok("0s", false) == 0);
    assert_true(duration_ok(".5s", false) == 500 * INT64_C(1000000));
}

static void test_duration_bare_number(void **state)
{
    (void)state;
    struct fl_err err;
    assert_int_equal(duration_bad("2", false, &err), -EINVAL);
    /* the message names the problem and proposes units built from what was typed */
    assert_non_null(strstr(err.msg, "'2' has no unit"));
    assert_non_null(strstr(err.msg, "2ms"));
    assert_non_null(strstr(err.msg, "2s"));
}

static void test_duration_refused(void **state)
{
    (void)state;
    struct fl_err err;
    assert_int_equal(duration_bad("5sec", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown unit 'sec'"));
    assert_int_equal(duration_bad("5d", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown unit 'd'"));
    assert_int_equal(duration_bad("5S", false, &err), -EINVAL); /* units are case-sensitive */
    assert_int_equal(duration_bad("", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a duration"));
    assert_int_equal(duration_bad("ms", false, &err), -EINVAL);
    assert_int_equal(duration_bad("1.2.3s", false, &err), -EINVAL);
    assert_int_equal(duration_bad(".", false, &err), -EINVAL);
    assert_int_equal(duration_bad(" 1s", false, &err), -EINVAL);
    assert_int_equal(duration_bad("1s ", false, &err), -EINVAL);
    assert_int_equal(duration_bad("1e3ms", false, &err), -EINVAL);
    assert_int_equal(duration_bad(NULL, false, &err), -EINVAL);
}

static void test_duration_overflow(void **state)
{
    (void)state;
    struct fl_err err;
    assert_int_equal(duration_bad("3000000h", false, &err), -ERANGE);
    assert_non_null(strstr(err.msg, "too long"));
    assert_int_equal(duration_bad("9300000000s", false, &err), -ERANGE);
    /* just below the limit still fits */
    assert_true(duration_ok("9000000000s", false) == INT64_C(9000000000) * FL_NS_PER_SEC);
    /* a number too long to be sensible is refused, not truncated */
    char longnum[80];
    memset(longnum, '1', 70);
    strcpy(longnum + 70, "ns");
    duration_bad(longnum, false, &err);
}

static void test_duration_sign(void **state)
{
    (void)state;
    struct fl_err err;
    duration_bad("-5s", false, &err);
    duration_bad("+5s", false, &err);
    assert_true(duration_ok("-5s", true) == -5 * FL_NS_PER_SEC);
    assert_true(duration_ok("+3600s", true) == 3600 * FL_NS_PER_SEC);
    assert_true(duration_ok("-1.5m", true) == -90 * FL_NS_PER_SEC);
    duration_bad("--5s", true, &err);
    duration_bad("-", true, &err);
}

static uint64_t size_ok(const char *s, bool allow_percent, bool *is_percent)
{
    uint64_t v = 12345;
    bool pct = true;
    struct fl_err err = {{0}};
    if (fl_parse_size(s, allow_percent, &v, &pct, &err) != 0)
        fail_msg("'%s' refused: %s", s, err.msg);
    if (is_percent)
        *is_percent = pct;
    else
        assert_false(pct);
    return v;
}

static int size_bad(const char *s, bool allow_percent, struct fl_err *err)
{
    uint64_t v = 12345;
    memset(err, 0, sizeof(*err));
    int rc = fl_parse_size(s, allow_percent, &v, NULL, err);
    assert_true(rc < 0);
    assert_true(v == 12345);
    assert_true(err->msg[0] != '\0');
    return rc;
}

static void test_size_units(void **state)
{
    (void)state;
    assert_true(size_ok("512", false, NULL) == 512);
    assert_true(size_ok("0", false, NULL) == 0);
    assert_true(size_ok("512B", false, NULL) == 512);
    assert_true(size_ok("64KiB", false, NULL) == 65536);
    assert_true(size_ok("64K", false, NULL) == 64000);
    assert_true(size_ok("64KB", false, NULL) == 64000);
    assert_true(size_ok("64kB", false, NULL) == 64000);
    assert_true(size_ok("10MB", false, NULL) == 10000000);
    assert_true(size_ok("10MiB", false, NULL) == 10485760);
    assert_true(size_ok("2GiB", false, NULL) == UINT64_C(2147483648));
    assert_true(size_ok("3G", false, NULL) == UINT64_C(3000000000));
    assert_true(size_ok("1TiB", false, NULL) == UINT64_C(1099511627776));
    assert_true(size_ok("1.5KiB", false, NULL) == 1536); /* fractional unit, whole bytes */
    assert_true(size_ok("16000000T", false, NULL) == UINT64_C(16000000000000000000));
}

static void test_size_percent(void **state)
{
    (void)state;
    bool pct = false;
    assert_true(size_ok("40%", true, &pct) == 400000);
    assert_true(pct);
    assert_true(size_ok("100%", true, &pct) == 1000000);
    assert_true(pct);
    assert_true(size_ok("0.5%", true, &pct) == 5000);
    assert_true(size_ok("0%", true, &pct) == 0);
    assert_true(pct);
    /* a size where shares are allowed is still a size */
    assert_true(size_ok("64KiB", true, &pct) == 65536);
    assert_false(pct);

    struct fl_err err;
    assert_int_equal(size_bad("100.5%", true, &err), -ERANGE);
    assert_non_null(strstr(err.msg, "more than 100%"));
    assert_int_equal(size_bad("150%", true, &err), -ERANGE);
    assert_int_equal(size_bad("40%", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "share is not allowed"));
    /* the hint mentions shares only where they are allowed */
    size_bad("lots", true, &err);
    assert_non_null(strstr(err.msg, "40%"));
    size_bad("lots", false, &err);
    assert_null(strstr(err.msg, "%"));
}

static void test_size_refused(void **state)
{
    (void)state;
    struct fl_err err;
    assert_int_equal(size_bad("1.5", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "whole number of bytes"));
    assert_int_equal(size_bad("0.0001KB", false, &err), -EINVAL);
    assert_true(size_ok("0.5KB", false, NULL) == 500);
    assert_int_equal(size_bad("1.0001KiB", false, &err), -EINVAL);
    assert_int_equal(size_bad("10XB", false, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown unit 'XB'"));
    assert_int_equal(size_bad("10kib", false, &err), -EINVAL);
    assert_int_equal(size_bad("-1", false, &err), -EINVAL);
    assert_int_equal(size_bad("", false, &err), -EINVAL);
    assert_int_equal(size_bad("KiB", false, &err), -EINVAL);
    assert_int_equal(size_bad(NULL, true, &err), -EINVAL);
    /* overflow: 2^64 bytes and beyond */
    assert_int_equal(size_bad("16EiB", false, &err), -EINVAL);
    assert_int_equal(size_bad("20000000T", false, &err), -ERANGE);
    assert_non_null(strstr(err.msg, "too large"));
    assert_int_equal(size_bad("18446744073709551616", false, &err), -ERANGE);
}

static void test_size_decimal_exact(void **state)
{
    (void)state;
    /* A decimal size with no more decimals than its unit has zeros is a whole number of
     * bytes: 16.1KB is 16100. Computed in binary floating point, 16.1 * 1000 is
     * 16100.000000000002, which the parser refuses as "not a whole number of bytes". */
    static const struct {
        const char *text;
        uint64_t bytes;
    } cases[] = {
        {"1.1KB", 1100}, {"0.3MB", 300000}, {"16.1KB", 16100}, {"2.01KB", 2010},
        {"4.07KB", 4070}, {"64.9KB", 64900}, {"1.001GB", 1001000000},
    };
    bool known_bug = false;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        struct fl_err err = {{0}};
        int rc = fl_parse_size(cases[i].text, false, &v, NULL, &err);
        if (rc < 0 && strstr(err.msg, "not a whole number of bytes")) {
            print_message("known bug: %s\n", err.msg);
            known_bug = true;
            continue;
        }
        if (rc != 0)
            fail_msg("'%s' refused: %s", cases[i].text, err.msg);
        assert_true(v == cases[i].bytes);
    }
    assert_false(known_bug);
}

static void test_size_is_percent_optional(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(fl_parse_size("30%", true, &v, NULL, NULL), 0);
    assert_true(v == 300000);
    assert_int_equal(fl_parse_size("4KiB", false, &v, NULL, NULL), 0);
    assert_true(v == 4096);
    assert_int_equal(fl_parse_size("x", false, &v, NULL, NULL), -EINVAL); /* err may be NULL */
}

static void test_probability(void **state)
{
    (void)state;
    uint64_t th = 0;
    double p = -1;
    struct fl_err err = {{0}};
    assert_int_equal(fl_parse_probability("0.3", &th, &p, &err), 0);
    assert_true(p == 0.3);
    assert_true(th == (uint64_t)(0.3 * 18446744073709551616.0));
    uint64_t th30 = 0;
    assert_int_equal(fl_parse_probability("30%", &th30, &p, &err), 0);
    assert_true(p > 0.2999999 && p < 0.3000001);
    /* 0.3 and 30% land within a hair of each other (30/100 rounds differently) */
    uint64_t diff = th30 > th ? th30 - th : th - th30;
    assert_true(diff < (UINT64_C(1) << 12));
    assert_int_equal(fl_parse_probability("1", &th, NULL, &err), 0);
    assert_true(th == UINT64_MAX);
    assert_int_equal(fl_parse_probability("100%", &th, NULL, &err), 0);
    assert_true(th == UINT64_MAX);
    assert_int_equal(fl_parse_probability("1.0", &th, NULL, &err), 0);
    assert_true(th == UINT64_MAX);
    assert_int_equal(fl_parse_probability("0", &th, &p, &err), 0);
    assert_true(th == 0);
    assert_true(p == 0);
    assert_int_equal(fl_parse_probability("0.5", &th, NULL, &err), 0);
    assert_true(th == UINT64_C(1) << 63);

    assert_int_equal(fl_parse_probability("1.5", &th, NULL, &err), -ERANGE);
    assert_non_null(strstr(err.msg, "between 0 and 1"));
    assert_int_equal(fl_parse_probability("101%", &th, NULL, &err), -ERANGE);
    assert_int_equal(fl_parse_probability("-0.1", &th, NULL, &err), -EINVAL);
    assert_int_equal(fl_parse_probability("0.3x", &th, NULL, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a probability"));
    assert_int_equal(fl_parse_probability("half", &th, NULL, &err), -EINVAL);
    assert_int_equal(fl_parse_probability("", &th, NULL, &err), -EINVAL);
}

static void test_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    struct fl_err err = {{0}};
    assert_int_equal(fl_parse_u64("0", &v, &err), 0);
    assert_true(v == 0);
    assert_int_equal(fl_parse_u64("1000", &v, &err), 0);
    assert_true(v == 1000);
    assert_int_equal(fl_parse_u64("18446744073709551615", &v, &err), 0);
    assert_true(v == UINT64_MAX);
    v = 7;
    assert_int_equal(fl_parse_u64("18446744073709551616", &v, &err), -ERANGE);
    assert_non_null(strstr(err.msg, "too large"));
    assert_int_equal(fl_parse_u64("99999999999999999999", &v, &err), -ERANGE);
    assert_int_equal(fl_parse_u64("184467440737095516150", &v, &err), -ERANGE);
    assert_true(v == 7);
    assert_int_equal(fl_parse_u64("", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "got nothing"));
    assert_int_equal(fl_parse_u64("-1", &v, &err), -EINVAL);
    assert_int_equal(fl_parse_u64("+1", &v, &err), -EINVAL);
    assert_int_equal(fl_parse_u64("12k", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'12k' is not a whole number"));
    assert_int_equal(fl_parse_u64(" 1", &v, &err), -EINVAL);
    assert_int_equal(fl_parse_u64(NULL, &v, &err), -EINVAL);
    assert_true(v == 7);
}

static void test_format_duration(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(fl_format_duration(1500 * INT64_C(1000000), buf, sizeof(buf)), "1.5s");
    assert_string_equal(fl_format_duration(250 * INT64_C(1000000), buf, sizeof(buf)), "250ms");
    assert_string_equal(fl_format_duration(12000, buf, sizeof(buf)), "12us");
    assert_string_equal(fl_format_duration(0, buf, sizeof(buf)), "0ns");
    assert_string_equal(fl_format_duration(999, buf, sizeof(buf)), "999ns");
    assert_string_equal(fl_format_duration(120 * FL_NS_PER_SEC, buf, sizeof(buf)), "2m");
    assert_string_equal(fl_format_duration(7200 * FL_NS_PER_SEC, buf, sizeof(buf)), "2h");
    assert_string_equal(fl_format_duration(90 * FL_NS_PER_SEC, buf, sizeof(buf)), "90s");
    assert_string_equal(fl_format_duration(-3600 * FL_NS_PER_SEC, buf, sizeof(buf)), "-1h");
    assert_string_equal(fl_format_duration(-250 * INT64_C(1000000), buf, sizeof(buf)), "-250ms");
    /* the most negative value has no positive twin: still printed, not garbage */
    fl_format_duration(INT64_MIN, buf, sizeof(buf));
    assert_true(buf[0] == '-');
    assert_non_null(strstr(buf, "s"));
    /* a small buffer truncates instead of overflowing */
    char tiny[4];
    fl_format_duration(250 * INT64_C(1000000), tiny, sizeof(tiny));
    assert_string_equal(tiny, "250");
}

static void test_duration_round_trip(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "250ms", "1.5s", "2m", "1h", "12us", "7ns", "90s", "3.25ms", "45m", "2.5us",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        int64_t ns = duration_ok(texts[i], false);
        char buf[32];
        fl_format_duration(ns, buf, sizeof(buf));
        assert_string_equal(buf, texts[i]);
        assert_true(duration_ok(buf, false) == ns);
    }
    static const char *const signed_texts[] = {"-5s", "-2h", "-750ms"};
    for (size_t i = 0; i < sizeof(signed_texts) / sizeof(signed_texts[0]); i++) {
        int64_t ns = duration_ok(signed_texts[i], true);
        char buf[32];
        assert_string_equal(fl_format_duration(ns, buf, sizeof(buf)), signed_texts[i]);
    }
}

static void test_format_duration_no_exponent(void **state)
{
    (void)state;
    /* Listings show durations in the same form rules take them; "%.3g" turns 1001s into
     * "1e+03s", which is neither what was typed nor a duration faultline accepts. */
    static const int64_t values[] = {
        1001 * FL_NS_PER_SEC, 3601 * FL_NS_PER_SEC, 999999999, 1500 * FL_NS_PER_SEC + 1,
    };
    bool known_bug = false;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char buf[32];
        fl_format_duration(values[i], buf, sizeof(buf));
        if (strchr(buf, 'e') && strchr(buf, '+')) {
            print_message("known bug: %lld ns formats as '%s'\n", (long long)values[i], buf);
            known_bug = true;
            continue;
        }
        int64_t back = 0;
        struct fl_err err = {{0}};
        if (fl_parse_duration(buf, false, &back, &err) != 0)
            fail_msg("'%s' does not parse back: %s", buf, err.msg);
    }
    assert_false(known_bug);
}

static void test_format_size(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(fl_format_size(0, buf, sizeof(buf)), "0B");
    assert_string_equal(fl_format_size(512, buf, sizeof(buf)), "512B");
    assert_string_equal(fl_format_size(1023, buf, sizeof(buf)), "1023B");
    assert_string_equal(fl_format_size(1024, buf, sizeof(buf)), "1KiB");
    assert_string_equal(fl_format_size(65536, buf, sizeof(buf)), "64KiB");
    assert_string_equal(fl_format_size(1536, buf, sizeof(buf)), "1.5KiB");
    assert_string_equal(fl_format_size(10485760, buf, sizeof(buf)), "10MiB");
    assert_string_equal(fl_format_size(UINT64_C(1) << 50, buf, sizeof(buf)), "1PiB");
    /* beyond PiB the largest unit stays */
    assert_string_equal(fl_format_size(UINT64_C(1) << 60, buf, sizeof(buf)), "1024PiB");
}

static void test_size_round_trip(void **state)
{
    (void)state;
    static const char *const texts[] = {"512B", "64KiB", "1.5KiB", "10MiB", "3GiB", "2TiB"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        uint64_t v = size_ok(texts[i], false, NULL);
        char buf[32];
        fl_format_size(v, buf, sizeof(buf));
        assert_string_equal(buf, texts[i]);
        assert_true(size_ok(buf, false, NULL) == v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_bare_number),
        cmocka_unit_test(test_duration_refused),
        cmocka_unit_test(test_duration_overflow),
        cmocka_unit_test(test_duration_sign),
        cmocka_unit_test(test_size_units),
        cmocka_unit_test(test_size_percent),
        cmocka_unit_test(test_size_refused),
        cmocka_unit_test(test_size_decimal_exact),
        cmocka_unit_test(test_size_is_percent_optional),
        cmocka_unit_test(test_probability),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_duration_round_trip),
        cmocka_unit_test(test_format_duration_no_exponent),
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_size_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
