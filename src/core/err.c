/* SPDX-License-Identifier: MIT */
/* err.c - filling struct fl_err; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fl_err_set(struct fl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code > 0 ? -code : code;
}

void fl_err_prefix(struct fl_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[FL_ERR_MAX], old[FL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    size_t n = strnlen(prefix, sizeof(err->msg) - 3);
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    n += 2;
    size_t m = strnlen(old, sizeof(err->msg) - n - 1);
    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
}
