/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the subcommands share: global options (arg_*), the command table entry, and
 * small helpers for errors that name the flag and the expectation.
 */
#ifndef FL_CLI_H
#define FL_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct fl_cmd {
    const char *name;
    const char *summary;                       /* one line for `faultline help` */
    int (*run)(int argc, char **argv);         /* argv[0] is the subcommand name */
};

/* Global options, set by main before the subcommand runs. */
extern const char *arg_state_dir;              /* --state-dir, or NULL */

int cmd_inject(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_crash(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_corrupt(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_fill(int argc, char **argv);
int cmd_hog(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Print "faultline: error: <msg>" and return FL_EXIT_USAGE. */
int fl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The long options every subcommand takes, for the end of its getopt_long table; their
 * values go to fl_common_option (and 'h' to the command's own help). */
#define FL_OPT_STATE_DIR 0x1000
#define FL_COMMON_LONG_OPTIONS                                                                    \
    {"state-dir", required_argument, NULL, FL_OPT_STATE_DIR}, {"quiet", no_argument, NULL, 'q'},   \
        {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}

/* Handle the options every subcommand takes (-q, -v, --state-dir). Returns true if consumed. */
bool fl_common_option(int opt, const char *optarg_value);

/* The preload library: $FAULTLINE_PRELOAD, next to this binary, in the build tree, installed.
 * 0, or -ENOENT (with an error printed unless quiet). */
int fl_find_preload(char *out, size_t len, bool quiet);
/* The recorder `faultline crash` preloads ($FAULTLINE_RECORDER, then the same places). */
int fl_find_recorder(char *out, size_t len, bool quiet);

/* The command of that name, or NULL. */
const struct fl_cmd *fl_find_cmd(const char *name);

/* Print a subcommand's help text to stdout. */
void fl_print_help(const char *text);

#endif
