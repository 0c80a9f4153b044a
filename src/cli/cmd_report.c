/* SPDX-License-Identifier: MIT */
/* cmd_report.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_report(int argc, char **argv)
{
    return fl_usage_error("report: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
