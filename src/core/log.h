/* SPDX-License-Identifier: MIT */
/*
 * log.h - user-facing messages of the CLI and the runner.
 *
 * Every line starts with "faultline: ". Errors and warnings go to stderr; --quiet hides
 * notices, --verbose shows info, -vv shows debug. Colour only when stderr is a terminal and
 * NO_COLOR is unset (https://no-color.org).
 */
#ifndef FL_LOG_H
#define FL_LOG_H

#include <stdbool.h>

enum fl_log_level {
    FL_LOG_ERROR = 0,
    FL_LOG_WARN = 1,
    FL_LOG_NOTICE = 2, /* default: what a user needs to know (the seed, a verdict) */
    FL_LOG_INFO = 3,   /* --verbose */
    FL_LOG_DEBUG = 4,  /* -vv */
};

void fl_log_init(enum fl_log_level level);
void fl_log_set_level(enum fl_log_level level);
enum fl_log_level fl_log_get_level(void);
bool fl_log_color(void); /* true when colour is allowed on stderr */
bool fl_color_for(int fd); /* true when colour is allowed on fd */

void fl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_noticef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_infof(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_debugf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
