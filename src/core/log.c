/* SPDX-License-Identifier: MIT */
/* log.c - see log.h. One global (the level and colour choice), set once by the CLI. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static enum fl_log_level log_level = FL_LOG_NOTICE; /* the CLI sets it from -q/-v */
static int log_color = -1;                          /* -1: not decided yet */

bool fl_color_for(int fd)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return false;
    const char *term = getenv("TERM");
    if (term && !*term)
        return false;
    return isatty(fd) == 1;
}

void fl_log_init(enum fl_log_level level)
{
    log_level = level;
    log_color = fl_color_for(STDERR_FILENO);
}

void fl_log_set_level(enum fl_log_level level) { log_level = level; }
enum fl_log_level fl_log_get_level(void) { return log_level; }

bool fl_log_color(void)
{
    if (log_color < 0)
        log_color = fl_color_for(STDERR_FILENO);
    return log_color;
}

static void log_v(enum fl_log_level level, const char *tag, const char *color, const char *fmt,
                  va_list ap)
{
    if (level > log_level)
        return;
    /* One buffer, one write: lines from the CLI and the target interleave whole. */
    char line[2048];
    int n;
    if (tag && fl_log_color())
        n = snprintf(line, sizeof(line), "faultline: %s%s\033[0m ", color, tag);
    else if (tag)
        n = snprintf(line, sizeof(line), "faultline: %s ", tag);
    else
        n = snprintf(line, sizeof(line), "faultline: ");
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    /* one message, one line: control characters from user input are shown as '?' */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    fflush(stdout);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

#define FL_LOG_FN(fn, level, tag, color)                                                          \
    void fn(const char *fmt, ...)                                                                 \
    {                                                                                             \
        va_list ap;                                                                               \
        va_start(ap, fmt);                                                                        \
        log_v(level, tag, color, fmt, ap);                                                        \
        va_end(ap);                                                                               \
    }

FL_LOG_FN(fl_errorf, FL_LOG_ERROR, "error:", "\033[1;31m")
FL_LOG_FN(fl_warnf, FL_LOG_WARN, "warning:", "\033[1;33m")
FL_LOG_FN(fl_noticef, FL_LOG_NOTICE, NULL, "")
FL_LOG_FN(fl_infof, FL_LOG_INFO, NULL, "")
FL_LOG_FN(fl_debugf, FL_LOG_DEBUG, "debug:", "\033[2m")
