/* SPDX-License-Identifier: MIT */
/* cmd_load.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_load(int argc, char **argv)
{
    return fl_usage_error("load: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
