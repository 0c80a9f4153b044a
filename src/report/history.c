/* SPDX-License-Identifier: MIT */
/* report/history.c - placeholder until the history database lands. */
#include <errno.h>

#include "report.h"

int fl_history_record(const char *db_path, const json_t *results, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "history: not implemented yet");
}

int fl_history_show(const char *db_path, FILE *out, bool html, int limit, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "history: not implemented yet");
}
