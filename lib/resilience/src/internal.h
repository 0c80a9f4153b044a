/* SPDX-License-Identifier: MIT */
/* What the library's parts share and its users do not see. */
#ifndef RESILIENCE_INTERNAL_H
#define RESILIENCE_INTERNAL_H

#include "resilience/common.h"

/* err's code and message; returns code (a negative errno). err may be NULL. */
int rs_fail(struct rs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), visibility("hidden")));

/* err says success */
void rs_ok(struct rs_err *err) __attribute__((visibility("hidden")));

#endif
