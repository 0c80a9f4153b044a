/* SPDX-License-Identifier: MIT */
/* cmd_corrupt.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_corrupt(int argc, char **argv)
{
    return fl_usage_error("corrupt: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}

int cmd_restore(int argc, char **argv)
{
    return fl_usage_error("restore: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
