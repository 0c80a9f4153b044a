/* SPDX-License-Identifier: MIT */
/* cmd_run.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_run(int argc, char **argv)
{
    return fl_usage_error("run: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}

int cmd_validate(int argc, char **argv)
{
    return fl_usage_error("validate: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
