/* SPDX-License-Identifier: MIT */
/*
 * discover_args.c - what the discovery commands (sweep, crash) check the same way: hook
 * command lines, programs that must be runnable before any trial, the template directory.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "discover_args.h"
#include "err.h"
#include "ctlblock.h"
#include "trial.h"
#include "units.h"

/* A command on PATH, or a path, that can be run: the bad-input check before any trial. */
static bool runnable(const char *cmd, char *why, size_t len)
{
    if (strchr(cmd, '/')) {
        struct stat st;
        if (stat(cmd, &st) < 0) {
            snprintf(why, len, "%s", strerror(errno));
            return false;
        }
        if (!S_ISREG(st.st_mode) || access(cmd, X_OK) < 0) {
            snprintf(why, len, "not an executable file");
            return false;
        }
        return true;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%.*s/%s", (int)n, n ? path : ".", cmd);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    snprintf(why, len, "not found on PATH");
    return false;
}

int fl_parse_hook(const char *flag, const char *text, char ***out, char **keep)
{
    struct fl_err err = {""};
    char what[32];
    snprintf(what, sizeof(what), "%s", flag);
    fl_free_words(*out);
    *out = fl_split_words(text, what, &err);
    if (!*out)
        return fl_usage_error("%s", err.msg);
    free(*keep);
    *keep = strdup(text);
    return 0;
}

int fl_discovery_option(int opt, const char *arg, const struct fl_discovery_opts *o)
{
    struct fl_err err = {""};
    int rc;
    switch (opt) {
    case FL_DOPT_DIR:
        if (!o->template_dir)
            return 0;
        *o->template_dir = arg;
        return 1;
    case FL_DOPT_SETUP:
        if (!o->setup)
            return 0;
        return (rc = fl_parse_hook("--setup", arg, o->setup, o->setup_text)) ? rc : 1;
    case FL_DOPT_CHECK:
        if (!o->check)
            return 0;
        return (rc = fl_parse_hook("--check", arg, o->check, o->check_text)) ? rc : 1;
    case FL_DOPT_TEARDOWN:
        if (!o->teardown)
            return 0;
        return (rc = fl_parse_hook("--teardown", arg, o->teardown, o->teardown_text)) ? rc : 1;
    case FL_DOPT_EXE:
        if (!o->exe)
            return 0;
        if (!*arg || strlen(arg) >= FL_EXE_MAX)
            return fl_usage_error("--exe: expected a glob of 1 to %d characters, like "
                                  "'python3*' or '*/bin/myservice'", FL_EXE_MAX - 1);
        *o->exe = arg;
        return 1;
    case FL_DOPT_TIMEOUT:
        if (!o->timeout_ns)
            return 0;
        if (fl_parse_duration(arg, false, o->timeout_ns, &err) < 0 || *o->timeout_ns <= 0)
            return fl_usage_error("--timeout: %s", err.msg[0] ? err.msg
                                                               : "expected a duration above 0");
        return 1;
    case FL_DOPT_JSON:
        if (!o->json_path)
            return 0;
        *o->json_path = arg;
        return 1;
    case 'j': {
        if (!o->jobs)
            return 0;
        uint64_t n;
        if (fl_parse_u64(arg, &n, NULL) < 0 || n == 0 || n > 256)
            return fl_usage_error("-j: '%s' is not a number of jobs (expected 1..256)", arg);
        *o->jobs = (unsigned)n;
        return 1;
    }
    default:
        return 0;
    }
}

unsigned fl_discovery_default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 256 ? 256 : n > 0 ? (unsigned)n : 1;
}

int fl_discovery_bad_option(const char *cmd, int opt, char **argv)
{
    if (opt == ':')
        return fl_usage_error("%s: option '%s' needs a value (see faultline help %s)", cmd,
                              argv[optind - 1], cmd);
    if (optopt)
        return fl_usage_error("%s: unknown option '-%c' (see faultline help %s)", cmd, optopt,
                              cmd);
    return fl_usage_error("%s: unknown option '%s' (see faultline help %s)", cmd,
                          argv[optind - 1], cmd);
}

int fl_discovery_args(int argc, char **argv, int optind_now, const char *cmd, char ***target,
                      char **hooks[3], const char *template_dir)
{
    if (optind_now < argc && strcmp(argv[optind_now], "--") == 0)
        optind_now++;
    if (optind_now >= argc)
        return fl_usage_error("%s: no command given (expected: faultline %s [options] -- CMD "
                              "[ARGS...])", cmd, cmd);
    *target = argv + optind_now;
    /* trials run in their own directory: a relative ./prog must still name this one */
    char **progs[] = {*target, hooks[0], hooks[1], hooks[2]};
    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        char *p0 = progs[i] ? progs[i][0] : NULL;
        if (p0 && strchr(p0, '/') && p0[0] != '/') {
            char *abs = realpath(p0, NULL);
            if (abs) {
                if (i > 0)
                    free(p0);
                progs[i][0] = abs; /* the CMD's copy leaks on purpose: argv is not ours */
            }
        }
    }
    static const char *const flags[] = {"--setup", "--check", "--teardown"};
    char why[128];
    if (!runnable((*target)[0], why, sizeof(why)))
        return fl_usage_error("%s: cannot run '%s': %s", cmd, (*target)[0], why);
    for (int i = 0; i < 3; i++)
        if (hooks[i] && !runnable(hooks[i][0], why, sizeof(why)))
            return fl_usage_error("%s: cannot run '%s': %s", flags[i], hooks[i][0], why);
    if (template_dir) {
        struct stat st;
        if (stat(template_dir, &st) < 0)
            return fl_usage_error("--dir: %s: %s", template_dir, strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return fl_usage_error("--dir: %s: not a directory (expected the template of each "
                                  "trial directory)", template_dir);
    }
    return 0;
}

int fl_discovery_root(const char *cmd, char *root, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char made[PATH_MAX];
    snprintf(made, sizeof(made), "%s/faultline-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", cmd);
    if (!mkdtemp(made))
        return -errno;
    /* the real path: the recorder compares it with what /proc/self/fd says */
    if (!realpath(made, root)) {
        int e = errno;
        rmdir(made);
        return -e;
    }
    (void)len;
    return 0;
}


/* SIGINT, SIGTERM and SIGHUP stop the running trial (its process group is killed, its
 * directory removed) instead of faultline: the command then cleans up and exits 130.
 * SIGUSR2 is ours, to end the watcher. */
static sigset_t stop_signals;

static void *signal_watcher(void *arg)
{
    (void)arg;
    int sig;
    if (sigwait(&stop_signals, &sig) == 0 && sig != SIGUSR2)
        fl_trial_interrupt();
    return NULL;
}

void fl_discovery_signals_start(pthread_t *watcher)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    sigaddset(&stop_signals, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    pthread_create(watcher, NULL, signal_watcher, NULL);
}

void fl_discovery_signals_stop(pthread_t watcher)
{
    pthread_kill(watcher, SIGUSR2);
    pthread_join(watcher, NULL);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
}
