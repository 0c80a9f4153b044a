/* SPDX-License-Identifier: MIT */
/* cmd_proc.c - placeholder until the commands land. */
#include "cli.h"
#include "err.h"

int cmd_kill(int argc, char **argv)
{
    return fl_usage_error("kill: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}

int cmd_lock(int argc, char **argv)
{
    return fl_usage_error("lock: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}

int cmd_stop(int argc, char **argv)
{
    return fl_usage_error("stop: not implemented yet") ? FL_EXIT_NOTIMPL : 0;
}
