/* SPDX-License-Identifier: MIT */
/* cmd_resource.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_fill(int argc, char **argv)
{
    return fl_usage_error("fill: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}

int cmd_hog(int argc, char **argv)
{
    return fl_usage_error("hog: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
