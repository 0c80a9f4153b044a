/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

int rs_fail(struct rs_err *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void rs_ok(struct rs_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *rs_version(void)
{
    return RS_VERSION_STRING;
}
