/* SPDX-License-Identifier: MIT */
/*
 * libresilience: the patterns that make a small service survive what faultline breaks.
 * Callers own every struct; nothing here starts a thread, and nothing allocates after init.
 *
 * Errors: every call that can fail returns 0 or a negative errno value, and fills the
 * caller's struct rs_err (when given) with the same code and one line that names the
 * argument or the step that failed. No call aborts the process.
 */
#ifndef RESILIENCE_COMMON_H
#define RESILIENCE_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RS_VERSION_MAJOR 0
#define RS_VERSION_MINOR 1
#define RS_VERSION_PATCH 0

struct rs_err {
    int code;      /* the negative errno the call returned, 0 when it succeeded */
    char msg[256]; /* one line: what failed and why */
};

/* "0.1.0": the library's version, which may differ from the headers' RS_VERSION_*. */
const char *rs_version(void);

#ifdef __cplusplus
}
#endif

#endif
