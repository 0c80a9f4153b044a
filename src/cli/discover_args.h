/* SPDX-License-Identifier: MIT */
/* discover_args.h - argument checks the discovery commands (sweep, crash) share. */
#ifndef FL_DISCOVER_ARGS_H
#define FL_DISCOVER_ARGS_H

#include <pthread.h>
#include <stddef.h>

/* Split a hook's command line (flag names it in errors); keep receives a copy of the text.
 * 0, or FL_EXIT_USAGE with the error printed. */
int fl_parse_hook(const char *flag, const char *text, char ***out, char **keep);

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
