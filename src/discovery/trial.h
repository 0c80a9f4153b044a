/* SPDX-License-Identifier: MIT */
/*
 * trial.h - one trial of a discovery command: a fresh directory, the hooks, the target under
 * one set of rules, and how it ended.
 *
 * A trial: copy the template into a new directory under the sweep's root; run --setup there;
 * run the target with the preload, the trial's control block and its cwd in the directory;
 * supervise it (the timeout, its CPU time near the end, its fd and thread counts); run --check
 * with the environment that says how the target ended; run --teardown, always; remove the
 * directory. Hooks run without the preload. Processes are spawned with posix_spawn into their
 * own process group, so trials can run on several threads and a timeout or an interrupt
 * stops a whole tree. Nothing here prints: the caller decides what a result means.
 */
#ifndef FL_TRIAL_H
#define FL_TRIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "rule.h"

#define FL_TRIAL_OUTPUT_MAX 2048 /* bytes of the check's output and the target's stderr kept */

struct fl_trial_result;

/* The target's main process (or the one sample_exe names) over time, sampled every 20 ms
 * while it runs (audit). */
#define FL_TRIAL_SERIES_MAX 3000
struct fl_trial_sample {
    double t_s;        /* since the start */
    int fds, threads;
    long rss_kb;       /* -1 when unknown */
};
struct fl_trial_series {
    size_t n;
    struct fl_trial_sample s[FL_TRIAL_SERIES_MAX];
};

/* What every trial of a run shares. Strings and argv arrays are borrowed. */
struct fl_trial_env {
    char **argv;             /* the target; "{dir}" in any word becomes the trial directory */
    char **setup, **check, **teardown; /* hooks (NULL: none), "{dir}" substituted too */
    const char *template_dir; /* copied into each trial directory; NULL: start empty */
    const char *root;        /* where trial directories and control blocks are made */
    const char *preload;     /* the preload library */
    const char *exe;         /* --exe GLOB, or NULL */
    char **base_env;         /* the environment without LD_PRELOAD and FAULTLINE_* */
    int64_t timeout_ns;      /* the target's; the hooks get FL_HOOK_TIMEOUT_NS each */
    uint64_t seed;
    /* Optional, for commands that do more around the target (crash): more NAME=VALUE for the
     * target's environment; a call after --setup, before the target starts (nonzero: the
     * trial stops, the error is the trial's); a call after --check, before --teardown, while
     * the trial directory and the target's stdout file still exist. */
    char **target_extra_env;
    struct fl_trial_series *series; /* NULL: no time series, peaks only */
    const char *sample_exe;  /* sample (peaks and series) the first process of the target's
                                group whose executable matches this glob, not its leader
                                (audit --exe: the daemon, not the script that starts it) */
    bool find_escaped;       /* look for the target's processes that left its group (a scan of
                                /proc: the baseline's job, not every trial's) */
    int (*before_target)(void *ctx, const char *dir, struct fl_err *err);
    int (*after_check)(void *ctx, const char *dir, const char *stdout_path,
                       const struct fl_trial_result *res, struct fl_err *err);
    void *ctx;
};

struct fl_trial_result {
    bool setup_failed;       /* --setup exited nonzero (hook_status, hook_output say how) */
    bool exec_failed;        /* the target could not be started (exec_errno) */
    int exec_errno;
    int status;              /* as a shell reports it: 128+N killed by N, 124 past the timeout */
    bool timed_out;
    bool interrupted;        /* stopped because the caller asked (fl_trial_interrupt) */
    double wall_s, cpu_s;    /* the target tree's wall and CPU (user + system) seconds */
    double cpu_last_s;       /* CPU seconds in the last second before the timeout */
    double cpu_window_s;     /* ... over how long a window */
    int fds_peak, threads_peak; /* the target's main process (or sample_exe's), sampled */
    long maxrss_kb;          /* its peak resident memory */
    uint64_t seen[FL_RULES_MAX], injected[FL_RULES_MAX]; /* the rules' counters at the end */
    unsigned attached;       /* processes the preload attached to */
    int check_status;        /* --check's status (0 when there is none) */
    char check_output[FL_TRIAL_OUTPUT_MAX]; /* what --check printed, stdout then stderr */
    char target_stderr[FL_TRIAL_OUTPUT_MAX]; /* the end of what the target printed there */
    size_t stdout_bytes, stderr_bytes;
    int hook_status;         /* for setup_failed: its status */
    unsigned escaped;        /* with find_escaped: processes of the target still running when
                                it ended, in its group or out of it (it daemonized), found by
                                their environment, and killed */
    int escaped_pid;         /* one of them */
    struct fl_trial_fatal {  /* a process of the target killed by SIGSEGV, SIGBUS, SIGFPE or
                                SIGILL, as the preload saw it (the leader's when it was one) */
        bool seen;
        int sig;
        uint64_t pc, addr;   /* the program counter, and the address that faulted */
        bool in_file;        /* the counter was in a mapped file: */
        char module[256];    /* that file */
        uint64_t offset;     /* the counter minus its load address */
        char function[128];  /* the function there, "" when the file's symbols do not say */
    } fatal;
};

struct fl_surface_handle;

/* Run one trial. rules may be NULL or empty (a run without faults). With `surface` set, the
 * run also records its fault surface (observer mode) into a table made for it, whose base is
 * the trial directory; *surface is then the caller's to read and close. Returns 0, or -errno
 * with err set when the trial itself could not be made (no directory, no control block): a
 * result that says nothing about the target. */
int fl_trial_run(const struct fl_trial_env *env, const struct fl_rule_set *rules,
                 struct fl_surface_handle **surface, unsigned trial_no,
                 struct fl_trial_result *res, struct fl_err *err);

/* Run env's --check in dir (its cwd; "{dir}" becomes dir) with FAULTLINE_TRIAL_DIR=dir and the
 * extra NAME=VALUE strings. *status is its exit status (127 when it cannot be started);
 * output receives the start of what it printed. Returns 0 or -ENOMEM. */
int fl_trial_check(const struct fl_trial_env *env, const char *dir, char **extra, int *status,
                   char *output, size_t cap);

/* Ask every running trial to stop now (from a signal-watching thread): their process groups
 * are killed and their directories removed; fl_trial_run returns with res->interrupted. */
void fl_trial_interrupt(void);
bool fl_trial_interrupted(void);

/* Split a hook's command line into words: blanks separate, '...' and "..." quote, \ escapes;
 * no shell, no expansion. NULL with err set on an unclosed quote or an empty line. */
char **fl_split_words(const char *line, const char *what, struct fl_err *err);
void fl_free_words(char **words);

/* The environment of this process without LD_PRELOAD and FAULTLINE_* (the caller frees it
 * with fl_free_words). */
char **fl_clean_environ(void);

/* Copy a directory tree (regular files, directories, symlinks) into dst, which must exist. */
int fl_copy_tree(const char *src, const char *dst, struct fl_err *err);

#endif
