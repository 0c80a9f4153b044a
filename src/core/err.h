/* SPDX-License-Identifier: MIT */
/*
 * err.h - the one way errors carry human detail out of library code.
 *
 * Library functions return >= 0 on success and -errno on failure. When the caller wants to
 * know more (which place, what was expected) it passes a struct fl_err, which the failing
 * function fills with one line. Library code never prints: only src/cli/ does.
 */
#ifndef FL_ERR_H
#define FL_ERR_H

#include <stddef.h>

#define FL_ERR_MAX 512

struct fl_err {
    char msg[FL_ERR_MAX]; /* one line, no trailing newline; empty when nothing was set */
};

/* Exit statuses shared by every subcommand (documented in README.md). */
enum {
    FL_EXIT_OK = 0,
    FL_EXIT_FAILED = 1,      /* a verdict or hypothesis failed */
    FL_EXIT_USAGE = 2,       /* usage or configuration error */
    FL_EXIT_NORESOURCE = 3,  /* missing resource or privilege */
    FL_EXIT_NOTIMPL = 4,     /* not implemented on this host */
    FL_EXIT_TIMEOUT = 124,   /* inject: the target outlived --timeout (as timeout(1)) */
};

/* Fill err (if not NULL) with a printf-style message; returns -code so callers can
 * `return fl_err_set(err, EINVAL, "...")`. */
int fl_err_set(struct fl_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with "prefix: ". */
void fl_err_prefix(struct fl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
