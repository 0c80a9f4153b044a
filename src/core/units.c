/* SPDX-License-Identifier: MIT */
/* units.c - see units.h. Parsing is strict: trailing junk, overflow and empty input fail. */
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Split "12.5ms" into the number part and the unit part. Returns -EINVAL if no digits. */
static int split_number(const char *s, double *num, const char **unit, bool allow_sign)
{
    const char *p = s;
    if (allow_sign && (*p == '+' || *p == '-'))
        p++;
    const char *digits = p;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    if (p == digits)
        return -EINVAL;
    char tmp[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof(tmp))
        return -ERANGE;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || errno || !isfinite(v))
        return -EINVAL;
    *num = v;
    *unit = p;
    return 0;
}

int fl_parse_duration(const char *s, bool allow_sign, int64_t *ns, struct fl_err *err)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    double v;
    const char *unit;
    if (!s || split_number(s, &v, &unit, allow_sign) < 0)
        return fl_err_set(err, EINVAL, "'%s' is not a duration (expected a number and a unit, "
                                       "like 250ms, 2s or 1m)", s ? s : "");
    if (*unit == '\0') {
        if (v == 0) {
            *ns = 0;
            return 0;
        }
        return fl_err_set(err, EINVAL, "'%s' has no unit (expected a duration like %sms or %ss)",
                          s, s, s);
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) == 0) {
            double total = v * units[i].ns;
            if (fabs(total) > 9.2e18)
                return fl_err_set(err, ERANGE, "'%s' is too long a duration", s);
            *ns = (int64_t)llround(total);
            return 0;
        }
    }
    return fl_err_set(err, EINVAL, "'%s' has an unknown unit '%s' (expected ns, us, ms, s, m or h)",
                      s, unit);
}

/* An exact decimal: "16.1" -> mantissa 161, scale 1. Returns -EINVAL without digits or with
 * more than 18 significant digits. */
static int split_decimal(const char *s, uint64_t *mantissa, unsigned *scale, const char **unit)
{
    uint64_t m = 0;
    unsigned sc = 0, digits = 0;
    bool dot = false;
    const char *p = s;
    for (; (*p >= '0' && *p <= '9') || (*p == '.' && !dot); p++) {
        if (*p == '.') {
            dot = true;
            continue;
        }
        if (m == 0 && *p == '0' && !dot)
            continue; /* leading zeros */
        if (++digits > 18)
            return -ERANGE;
        m = m * 10 + (uint64_t)(*p - '0');
        if (dot)
            sc++;
    }
    if (p == s || (p == s + 1 && *s == '.'))
        return -EINVAL;
    *mantissa = m;
    *scale = sc;
    *unit = p;
    return 0;
}

int fl_parse_size(const char *s, bool allow_percent, uint64_t *value, bool *is_percent,
                  struct fl_err *err)
{
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"B", 1},
        {"K", UINT64_C(1000)},
        {"KB", UINT64_C(1000)},
        {"k", UINT64_C(1000)},
        {"kB", UINT64_C(1000)},
        {"KiB", UINT64_C(1) << 10},
        {"M", UINT64_C(1000000)},
        {"MB", UINT64_C(1000000)},
        {"MiB", UINT64_C(1) << 20},
        {"G", UINT64_C(1000000000)},
        {"GB", UINT64_C(1000000000)},
        {"GiB", UINT64_C(1) << 30},
        {"T", UINT64_C(1000000000000)},
        {"TB", UINT64_C(1000000000000)},
        {"TiB", UINT64_C(1) << 40},
    };
    uint64_t m;
    unsigned scale;
    const char *unit;
    if (is_percent)
        *is_percent = false;
    int rc = s ? split_decimal(s, &m, &scale, &unit) : -EINVAL;
    if (rc == -ERANGE)
        return fl_err_set(err, ERANGE, "'%s' has too many digits", s);
    if (rc < 0)
        return fl_err_set(err, EINVAL, "'%s' is not a size (expected a number with an optional "
                                       "unit, like 512, 64KiB or 10MB%s)",
                          s ? s : "", allow_percent ? ", or a share like 40%" : "");
    __uint128_t pow10 = 1;
    for (unsigned i = 0; i < scale; i++)
        pow10 *= 10;
    if (strcmp(unit, "%") == 0) {
        if (!allow_percent)
            return fl_err_set(err, EINVAL, "'%s': a share is not allowed here (expected a size "
                                           "like 64KiB)", s);
        /* parts per million, rounded: 100% = 1000000 */
        __uint128_t ppm = ((__uint128_t)m * 10000 * 2 + pow10) / (pow10 * 2);
        if ((__uint128_t)m > pow10 * 100)
            return fl_err_set(err, ERANGE, "'%s' is more than 100%%", s);
        *value = (uint64_t)ppm;
        if (is_percent)
            *is_percent = true;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) != 0)
            continue;
        __uint128_t total = (__uint128_t)m * units[i].mult;
        if (total % pow10 != 0)
            return fl_err_set(err, EINVAL, "'%s' is not a whole number of bytes", s);
        total /= pow10;
        if (total > UINT64_MAX)
            return fl_err_set(err, ERANGE, "'%s' is too large a size", s);
        *value = (uint64_t)total;
        return 0;
    }
    return fl_err_set(err, EINVAL, "'%s' has an unknown unit '%s' (expected B, K/KB, KiB, M/MB, "
                                   "MiB, G/GB, GiB, T/TB, TiB%s)", s, unit,
                      allow_percent ? " or %" : "");
}

int fl_parse_probability(const char *s, uint64_t *threshold, double *p, struct fl_err *err)
{
    double v;
    const char *unit;
    if (!s || split_number(s, &v, &unit, false) < 0 || (*unit && strcmp(unit, "%") != 0))
        return fl_err_set(err, EINVAL, "'%s' is not a probability (expected 0..1 like 0.3, or a "
                                       "share like 30%%)", s ? s : "");
    if (*unit == '%')
        v /= 100.0;
    if (v < 0 || v > 1)
        return fl_err_set(err, ERANGE, "'%s' is not between 0 and 1", s);
    if (p)
        *p = v;
    *threshold = v >= 1.0 ? UINT64_MAX : (uint64_t)(v * 18446744073709551616.0);
    return 0;
}

int fl_parse_u64(const char *s, uint64_t *out, struct fl_err *err)
{
    if (!s || !*s)
        return fl_err_set(err, EINVAL, "expected a whole number, got nothing");
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return fl_err_set(err, EINVAL, "'%s' is not a whole number", s);
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return fl_err_set(err, ERANGE, "'%s' is too large", s);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* "%.3f" without trailing zeros: 1.500 -> 1.5, 2.000 -> 2 (never an exponent). */
static void format_trimmed(char *buf, size_t len, const char *sign, double v, const char *unit)
{
    char num[64];
    snprintf(num, sizeof(num), "%.3f", v);
    char *dot = strchr(num, '.');
    if (dot) {
        char *end = num + strlen(num) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    snprintf(buf, len, "%s%s%s", sign, num, unit);
}

const char *fl_format_duration(int64_t ns, char *buf, size_t len)
{
    const char *sign = ns < 0 ? "-" : "";
    uint64_t a = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
    const uint64_t hour = UINT64_C(3600000000000), minute = UINT64_C(60000000000);
    if (a >= hour && a % hour == 0)
        snprintf(buf, len, "%s%" PRIu64 "h", sign, a / hour);
    else if (a >= minute && a % minute == 0)
        snprintf(buf, len, "%s%" PRIu64 "m", sign, a / minute);
    else if (a >= 1000000000ULL)
        format_trimmed(buf, len, sign, (double)a / 1e9, "s");
    else if (a >= 1000000ULL)
        format_trimmed(buf, len, sign, (double)a / 1e6, "ms");
    else if (a >= 1000ULL)
        format_trimmed(buf, len, sign, (double)a / 1e3, "us");
    else
        snprintf(buf, len, "%s%" PRIu64 "ns", sign, a);
    return buf;
}

const char *fl_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    size_t i = 0;
    while (v >= 1024 && i + 1 < sizeof(names) / sizeof(names[0])) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, len, "%" PRIu64 "B", bytes);
    else
        snprintf(buf, len, "%.4g%s", v, names[i]);
    return buf;
}

int fl_parse_signal(const char *s, int *sig, struct fl_err *err)
{
    if (!s || !*s)
        return fl_err_set(err, EINVAL, "expected a signal name or number, got nothing");
    uint64_t n;
    if (s[0] >= '0' && s[0] <= '9') {
        if (fl_parse_u64(s, &n, NULL) < 0 || n < 1 || n >= (uint64_t)NSIG)
            return fl_err_set(err, EINVAL, "'%s' is not a signal number (1..%d)", s, NSIG - 1);
        *sig = (int)n;
        return 0;
    }
    const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && strcasecmp(abbrev, name) == 0) {
            *sig = i;
            return 0;
        }
    }
    return fl_err_set(err, EINVAL, "'%s' is not a signal (expected a name like TERM, KILL, "
                                   "HUP, USR1, or a number)", s);
}
