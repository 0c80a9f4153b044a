/* SPDX-License-Identifier: MIT */
/* discover_args.h - argument checks the discovery commands (sweep, crash) share. */
#ifndef FL_DISCOVER_ARGS_H
#define FL_DISCOVER_ARGS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Split a hook's command line (flag names it in errors); keep receives a copy of the text.
 * 0, or FL_EXIT_USAGE with the error printed. */
int fl_parse_hook(const char *flag, const char *text, char ***out, char **keep);

/* The options sweep, crash and audit share, with the same ids in their getopt tables; a
 * command's own options start at FL_DOPT_END. */
enum {
    FL_DOPT_DIR = 0x100,
    FL_DOPT_SETUP,
    FL_DOPT_CHECK,
    FL_DOPT_TEARDOWN,
    FL_DOPT_EXE,
    FL_DOPT_TIMEOUT,
    FL_DOPT_JSON,
    FL_DOPT_END,
};

/* Where a command keeps them (NULL: the command has no such option). */
struct fl_discovery_opts {
    const char **template_dir, **exe, **json_path;
    char ***setup, ***check, ***teardown;
    char **setup_text, **check_text, **teardown_text;
    int64_t *timeout_ns;
    unsigned *jobs; /* -j N (its getopt id is 'j'), 1..256 */
};

/* Handle one of the shared options: 1 if it was one, 0 if not, FL_EXIT_USAGE with the error
 * printed if its value is wrong. */
int fl_discovery_option(int opt, const char *arg, const struct fl_discovery_opts *o);

/* -j's default: the number of CPUs online (1..256). */
unsigned fl_discovery_default_jobs(void);

/* The error for getopt's '?' (unknown option) or ':' (missing value): one line, naming cmd's
 * help. Returns FL_EXIT_USAGE. */
int fl_discovery_bad_option(const char *cmd, int opt, char **argv);

/* After the options: the target is argv[optind..] (past a "--"); relative program paths of it
 * and of the hooks (setup, check, teardown; NULL when not given) become absolute, and every
 * one of them must be runnable; the template, when given, must be a directory. 0, or
 * FL_EXIT_USAGE with one line printed. */
int fl_discovery_args(int argc, char **argv, int optind_now, const char *cmd, char ***target,
                      char **hooks[3], const char *template_dir);

/* A fresh scratch directory $TMPDIR/faultline-CMD-XXXXXX, as a real path (root: PATH_MAX). */
int fl_discovery_root(const char *cmd, char *root, size_t len);


/* While a discovery command runs: SIGINT, SIGTERM, SIGHUP interrupt its trials
 * (fl_trial_interrupt) instead of killing faultline, so it can clean up and exit 130. */
void fl_discovery_signals_start(pthread_t *watcher);
void fl_discovery_signals_stop(pthread_t watcher);

#endif
