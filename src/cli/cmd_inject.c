/* SPDX-License-Identifier: MIT */
/*
 * cmd_inject.c - `faultline inject [options] -- CMD [ARGS...]`.
 *
 * parse rules (all errors before anything starts) -> choose the seed -> journal + create the
 * control block (fault kind "preload") -> fork/exec CMD with LD_PRELOAD and FAULTLINE_CTL ->
 * wait (forwarding signals sent to us, enforcing --timeout) -> counters -> revert -> CMD's
 * status. No shell is involved: CMD is exec'd directly. With --surface, the block is created
 * observing, a surface table (surface.h) beside it is named in FAULTLINE_SURFACE, and its
 * points are written as JSON when CMD ends.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "ctl.h"
#include "fault.h"
#include "fl_config.h"
#include "journal.h"
#include "log.h"
#include "prng.h"
#include "rule.h"
#include "surface.h"
#include "units.h"

static const char inject_help[] =
    "usage: faultline inject [options] -- CMD [ARGS...]\n"
    "\n"
    "Run CMD with faults in its libc calls, chosen by rules (see 'faultline help rules').\n"
    "Returns CMD's exit status; 128+N if it died of signal N; 124 if it outlived --timeout.\n"
    "\n"
    "  -r, --rule RULE        a rule, like io.sync:errno=EIO:nth=3 (repeatable)\n"
    "      --rules FILE       rules from FILE, one per line, '#' comments (repeatable)\n"
    "      --seed N           the seed for every random choice (default: fresh, printed)\n"
    "      --ctl PATH         put the control block at PATH, for 'faultline ctl PATH ...'\n"
    "      --no-follow        children (fork/exec) of CMD run without faults\n"
    "      --exe GLOB         only processes whose executable matches GLOB count calls and\n"
    "                         take faults (a path glob if it holds '/', else the file name;\n"
    "                         a script's executable is its interpreter)\n"
    "      --timeout DUR      stop CMD (TERM, then KILL after --kill-after) after DUR\n"
    "      --kill-after DUR   grace between TERM and KILL (default 2s)\n"
    "      --stats            print per-rule counters when CMD ends (stderr)\n"
    "      --json             print the counters as JSON (implies --stats)\n"
    "      --stats-file FILE  write the counters to FILE instead of stderr\n"
    "      --surface FILE     record every wrapped call CMD's processes make, by point (call,\n"
    "                         subject, call site), and write them as JSON to FILE when CMD\n"
    "                         ends; each point has the rule that selects it (add nth=K and an\n"
    "                         effect to fail its K-th call)\n"
    "      --surface-base DIR paths inside DIR are recorded relative to it (default: the\n"
    "                         current directory)\n"
    "      --state-dir DIR    journal directory (default $FAULTLINE_STATE_DIR,\n"
    "                         $XDG_STATE_HOME/faultline, ~/.local/state/faultline)\n"
    "  -q, --quiet            no notices (the seed line)\n"
    "  -v, --verbose          more detail\n"
    "\n"
    "Environment: FAULTLINE_PRELOAD overrides where the preload library is found.\n";

struct inject_config {
    struct fl_rule_set *rules;
    json_t *rule_texts;      /* the rules as given, for the journal */
    uint64_t seed;
    bool seed_given;
    const char *ctl_path;
    bool no_follow;
    const char *exe;         /* --exe GLOB, or NULL */
    int64_t timeout_ns;      /* 0: none */
    int64_t kill_after_ns;
    bool stats, json;
    const char *stats_file;
    const char *surface_file; /* --surface FILE, or NULL */
    const char *surface_base; /* --surface-base DIR, or NULL: the current directory */
    char **argv;             /* CMD and its arguments */
};

/* ---- finding things ------------------------------------------------------------------------ */

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* CMD's path as execvp would find it, for the static-binary check. */
static bool resolve_cmd(const char *cmd, char *out, size_t len)
{
    if (strchr(cmd, '/')) {
        snprintf(out, len, "%s", cmd);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, len, "%.*s/%s", (int)n, n ? path : ".", cmd);
        if (access(out, X_OK) == 0 && file_exists(out))
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* What the preload cannot reach: a static binary, or Go (raw syscalls). */
static bool warned_unreachable; /* warn_unreachable said why the preload cannot attach */

static void warn_unreachable(const char *cmd)
{
    char path[PATH_MAX];
    if (!resolve_cmd(cmd, path, sizeof(path)))
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) {
        close(fd);
        return;
    }
    bool dynamic = false;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
            (ssize_t)sizeof(ph))
            break;
        if (ph.p_type == PT_INTERP)
            dynamic = true;
    }
    bool go = false;
    if (eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shnum < 4096 && eh.e_shstrndx < eh.e_shnum) {
        Elf64_Shdr strsh;
        if (pread(fd, &strsh, sizeof(strsh),
                  (off_t)(eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(strsh))) ==
                (ssize_t)sizeof(strsh) && strsh.sh_size < (1u << 20)) {
            char *names = malloc(strsh.sh_size + 1);
            if (names && pread(fd, names, strsh.sh_size, (off_t)strsh.sh_offset) ==
                             (ssize_t)strsh.sh_size) {
                names[strsh.sh_size] = '\0';
                for (int i = 0; i < eh.e_shnum && !go; i++) {
                    Elf64_Shdr sh;
                    if (pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff + (uint64_t)i * sizeof(sh))) !=
                        (ssize_t)sizeof(sh))
                        break;
                    if (sh.sh_name < strsh.sh_size &&
                        (!strcmp(names + sh.sh_name, ".go.buildinfo") ||
                         !strcmp(names + sh.sh_name, ".note.go.buildid")))
                        go = true;
                }
            }
            free(names);
        }
    }
    close(fd);
    warned_unreachable = !dynamic;
    if (!dynamic)
        fl_warnf("%s is statically linked: LD_PRELOAD cannot reach it, so no fault will be "
                 "injected (see README, 'What inject cannot reach')", path);
    else if (go)
        fl_warnf("%s is a Go program: Go makes most system calls itself, not through libc, so "
                 "most rules will not fire (see README, 'What inject cannot reach')", path);
}

/* ---- running ------------------------------------------------------------------------------- */

struct run_result {
    int status;         /* from waitpid */
    bool timed_out;
    bool exec_failed;
    int exec_errno;
};

static void set_child_env(const char *preload, const char *ctl, const char *surface)
{
    if (surface)
        setenv(FL_SURF_ENV, surface, 1);
    else
        unsetenv(FL_SURF_ENV);
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(preload) + strlen(old) + 2;
        char *v = malloc(n);
        if (v) {
            snprintf(v, n, "%s:%s", preload, old);
            setenv("LD_PRELOAD", v, 1);
            free(v);
        }
    } else {
        setenv("LD_PRELOAD", preload, 1);
    }
    setenv("FAULTLINE_CTL", ctl, 1);
}

/* Send sig to pid and every process below it (what --timeout stops: a shell's children too). */
static void kill_tree(pid_t root, int sig)
{
    pid_t pids[4096], ppids[4096];
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d)) && n < 4096) {
        pid_t p = (pid_t)strtol(de->d_name, NULL, 10);
        if (p <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid;
        char state;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2) {
            pids[n] = p;
            ppids[n++] = (pid_t)ppid;
        }
    }
    if (d)
        closedir(d);
    /* breadth-first from root; descendants get the signal before their parents */
    pid_t tree[4096];
    size_t nt = 0;
    tree[nt++] = root;
    for (size_t head = 0; head < nt; head++)
        for (size_t i = 0; i < n && nt < 4096; i++)
            if (ppids[i] == tree[head] && pids[i] != root)
                tree[nt++] = pids[i];
    for (size_t i = nt; i-- > 0;)
        kill(tree[i], sig);
}

static int run_child(const struct inject_config *cfg, const char *preload, const char *ctl,
                     const char *surface, struct run_result *res)
{
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGQUIT);
    sigprocmask(SIG_BLOCK, &mask, &old);

    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0)
        return -errno;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(errpipe[0]);
        close(errpipe[1]);
        return -e;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(errpipe[0]);
        set_child_env(preload, ctl, surface);
        execvp(cfg->argv[0], cfg->argv);
        int e = errno;
        ssize_t w = write(errpipe[1], &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    close(errpipe[1]);
    int e = 0;
    ssize_t r;
    do
        r = read(errpipe[0], &e, sizeof(e));
    while (r < 0 && errno == EINTR);
    close(errpipe[0]);
    if (r == (ssize_t)sizeof(e)) {
        waitpid(pid, &res->status, 0);
        res->exec_failed = true;
        res->exec_errno = e;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 0;
    }

    int64_t deadline = cfg->timeout_ns ? fl_mono_ns() + cfg->timeout_ns : 0;
    int64_t kill_at = 0;
    for (;;) {
        pid_t w = waitpid(pid, &res->status, WNOHANG);
        if (w == pid)
            break;
        struct timespec ts = {1, 0};
        int64_t now = fl_mono_ns();
        int64_t next = kill_at ? kill_at : deadline;
        if (next) {
            int64_t left = next - now;
            if (left <= 0) {
                if (!kill_at) {
                    res->timed_out = true;
                    kill_tree(pid, SIGTERM);
                    kill_at = now + cfg->kill_after_ns;
                } else {
                    kill_tree(pid, SIGKILL);
                    kill_at = now + 3600 * FL_NS_PER_SEC; /* wait for it to be reaped */
                }
                continue;
            }
            if (left < 1000000000) {
                ts.tv_sec = 0;
                ts.tv_nsec = left;
            }
        }
        siginfo_t si;
        int sig = sigtimedwait(&mask, &si, &ts);
        if (sig < 0 || sig == SIGCHLD)
            continue;
        /* A signal typed at the terminal reached CMD too (same process group); one sent to
         * faultline by a process (kill, a supervisor) is passed on. */
        if (si.si_code <= 0)
            kill(pid, sig);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}

/* ---- counters ------------------------------------------------------------------------------ */

static void print_stats(const struct inject_config *cfg, struct fl_ctl_handle *h,
                        const struct run_result *res, FILE *out)
{
    int n = fl_ctl_count(h);
    if (cfg->json) {
        json_t *rules = json_array();
        for (int i = 0; i < n; i++) {
            struct fl_rule_stats s;
            fl_ctl_stats(h, i, &s);
            json_array_append_new(rules, json_pack("{s:s, s:s, s:b, s:I, s:I}", "id", s.id,
                                                   "rule", s.text, "enabled", s.enabled, "seen",
                                                   (json_int_t)s.seen, "injected",
                                                   (json_int_t)s.injected));
        }
        json_t *exitj = json_object();
        if (res->timed_out)
            json_object_set_new(exitj, "timed_out", json_true());
        if (WIFEXITED(res->status))
            json_object_set_new(exitj, "status", json_integer(WEXITSTATUS(res->status)));
        if (WIFSIGNALED(res->status))
            json_object_set_new(exitj, "signal", json_integer(WTERMSIG(res->status)));
        json_t *doc = json_pack("{s:I, s:o, s:o}", "seed", (json_int_t)cfg->seed, "exit", exitj,
                                "rules", rules);
        char *text = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_COMPACT);
        fprintf(out, "%s\n", text);
        free(text);
        json_decref(doc);
    } else {
        fprintf(out, "%-4s %-12s %10s %10s  %s\n", "on", "rule", "seen", "injected", "text");
        for (int i = 0; i < n; i++) {
            struct fl_rule_stats s;
            fl_ctl_stats(h, i, &s);
            fprintf(out, "%-4s %-12s %10" PRIu64 " %10" PRIu64 "  %s\n", s.enabled ? "on" : "off",
                    s.id, s.seen, s.injected, s.text);
        }
    }
    if (out != stderr && out != stdout)
        fclose(out);
    else
        fflush(out);
}

/* Rules that never fired are the failure this tool exists to prevent: say so, with the
 * likely reason. */
static void warn_silent_rules(const struct inject_config *cfg, struct fl_ctl_handle *h)
{
    if (atomic_load(&h->ctl->attached) == 0) {
        if (cfg->rules->n && cfg->exe)
            fl_warnf("no process whose executable matches --exe '%s' ran, so no fault was "
                     "injected (a script's executable is its interpreter, like python3.11)",
                     cfg->exe);
        else if (cfg->rules->n && !warned_unreachable)
            fl_warnf("the preload never attached to %s, so no fault was injected (a static or "
                     "setuid program, one that clears its environment or drops privileges, or "
                     "a FAULTLINE_PRELOAD that is not faultline's)", cfg->argv[0]);
        return;
    }
    for (int i = 0; i < fl_ctl_count(h); i++) {
        struct fl_rule_stats s;
        fl_ctl_stats(h, i, &s);
        if (s.seen == 0)
            fl_noticef("rule %s '%s' matched no call: the program may use other calls (--stats "
                     "and 'faultline help rules' list them), or none on that path or peer",
                     s.id, s.text);
    }
}

/* ---- the fault surface --------------------------------------------------------------------- */

/* --surface FILE is written when CMD ends: find out now whether it can be. */
static bool surface_file_writable(const char *file)
{
    if (access(file, F_OK) == 0)
        return access(file, W_OK) == 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return access(".", W_OK) == 0;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return access(dir, W_OK) == 0;
}

static int write_surface(const char *file, const struct fl_surface_handle *sh)
{
    json_t *doc = fl_surface_json(sh);
    if (!doc)
        return -ENOMEM;
    int rc = json_dump_file(doc, file, JSON_PRESERVE_ORDER | JSON_INDENT(1)) == 0 ? 0 : -EIO;
    json_decref(doc);
    return rc;
}

/* ---- options ------------------------------------------------------------------------------- */

enum {
    OPT_RULES = 0x100,
    OPT_SEED,
    OPT_CTL,
    OPT_NO_FOLLOW,
    OPT_EXE,
    OPT_TIMEOUT,
    OPT_KILL_AFTER,
    OPT_STATS,
    OPT_JSON,
    OPT_STATS_FILE,
    OPT_SURFACE,
    OPT_SURFACE_BASE,
    OPT_HELP,
    OPT_STATE_DIR = FL_OPT_STATE_DIR,
};

static const struct option inject_options[] = {
    {"rule", required_argument, NULL, 'r'},
    {"rules", required_argument, NULL, OPT_RULES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"ctl", required_argument, NULL, OPT_CTL},
    {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
    {"exe", required_argument, NULL, OPT_EXE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"kill-after", required_argument, NULL, OPT_KILL_AFTER},
    {"stats", no_argument, NULL, OPT_STATS},
    {"json", no_argument, NULL, OPT_JSON},
    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
    {"surface", required_argument, NULL, OPT_SURFACE},
    {"surface-base", required_argument, NULL, OPT_SURFACE_BASE},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static int parse_inject(int argc, char **argv, struct inject_config *cfg)
{
    struct fl_err err = {""}; /* read even when no parser filled it (--timeout 0s) */
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:r:qvh", inject_options, NULL)) != -1) {
        switch (opt) {
        case 'r': {
            char origin[96];
            if (strlen(optarg) > 60)
                snprintf(origin, sizeof(origin), "--rule '%.50s...'", optarg);
            else
                snprintf(origin, sizeof(origin), "--rule '%s'", optarg);
            if (fl_rule_set_add(cfg->rules, optarg, origin, 0, &err) < 0)
                return fl_usage_error("%s", err.msg);
            json_array_append_new(cfg->rule_texts, json_string(optarg));
            break;
        }
        case OPT_RULES: {
            unsigned before = cfg->rules->n;
            if (fl_rule_set_load_file(cfg->rules, optarg, &err) < 0)
                return fl_usage_error("%s", err.msg);
            for (unsigned i = before; i < cfg->rules->n; i++)
                json_array_append_new(cfg->rule_texts, json_string(cfg->rules->source[i]));
            break;
        }
        case OPT_SEED:
            if (fl_parse_u64(optarg, &cfg->seed, &err) < 0)
                return fl_usage_error("--seed: %s", err.msg);
            cfg->seed_given = true;
            break;
        case OPT_CTL:
            cfg->ctl_path = optarg;
            break;
        case OPT_NO_FOLLOW:
            cfg->no_follow = true;
            break;
        case OPT_EXE:
            if (!*optarg || strlen(optarg) >= FL_EXE_MAX)
                return fl_usage_error("--exe: expected a glob of 1 to %d characters, like "
                                      "'python3*' or '*/bin/myservice'", FL_EXE_MAX - 1);
            cfg->exe = optarg;
            break;
        case OPT_TIMEOUT:
            if (fl_parse_duration(optarg, false, &cfg->timeout_ns, &err) < 0 || cfg->timeout_ns <= 0)
                return fl_usage_error("--timeout: %s", cfg->timeout_ns <= 0 && !err.msg[0]
                                                           ? "expected a duration above 0"
                                                           : err.msg);
            break;
        case OPT_KILL_AFTER:
            if (fl_parse_duration(optarg, false, &cfg->kill_after_ns, &err) < 0)
                return fl_usage_error("--kill-after: %s", err.msg);
            break;
        case OPT_STATS:
            cfg->stats = true;
            break;
        case OPT_JSON:
            cfg->json = cfg->stats = true;
            break;
        case OPT_STATS_FILE:
            cfg->stats_file = optarg;
            cfg->stats = true;
            break;
        case OPT_SURFACE:
            cfg->surface_file = optarg;
            break;
        case OPT_SURFACE_BASE:
            cfg->surface_base = optarg;
            break;
        case 'h':
            fl_print_help(inject_help);
            return -1;
        case '?':
            if (optopt)
                return fl_usage_error("inject: unknown option '-%c' (see faultline help inject)",
                                      optopt);
            return fl_usage_error("inject: unknown option '%s' (see faultline help inject)",
                                  argv[optind - 1]);
        case ':':
            return fl_usage_error("inject: option '%s' needs a value (see faultline help inject)",
                                  argv[optind - 1]);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("inject: unexpected option");
        }
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    if (optind >= argc)
        return fl_usage_error("inject: no command given (expected: faultline inject [options] "
                              "-- CMD [ARGS...])");
    if (cfg->surface_base && !cfg->surface_file)
        return fl_usage_error("inject: --surface-base needs --surface FILE");
    cfg->argv = argv + optind;
    return 0;
}

int cmd_inject(int argc, char **argv)
{
    struct inject_config cfg = {.kill_after_ns = 2 * FL_NS_PER_SEC};
    cfg.rules = calloc(1, sizeof(*cfg.rules));
    cfg.rule_texts = json_array();
    int rc = parse_inject(argc, argv, &cfg);
    if (rc) {
        free(cfg.rules);
        json_decref(cfg.rule_texts);
        return rc < 0 ? 0 : rc;
    }
    if (!cfg.seed_given)
        cfg.seed = fl_seed_from_entropy();
    if (cfg.rules->n == 0 && !cfg.surface_file)
        fl_warnf("no rules given: %s runs without faults", cfg.argv[0]);

    /* the counters' destination is checked before CMD runs, not discovered broken after */
    FILE *stats_out = stderr;
    if (cfg.stats_file) {
        stats_out = strcmp(cfg.stats_file, "-") == 0 ? stdout : fopen(cfg.stats_file, "we");
        if (!stats_out) {
            rc = fl_usage_error("--stats-file %s: %s", cfg.stats_file, strerror(errno));
            goto out_free;
        }
    }
    if (cfg.surface_file && !surface_file_writable(cfg.surface_file)) {
        rc = fl_usage_error("--surface %s: cannot be written: %s", cfg.surface_file,
                            strerror(errno));
        goto out_free;
    }
    char preload[PATH_MAX];
    if (fl_find_preload(preload, sizeof(preload), false) < 0) {
        rc = FL_EXIT_NORESOURCE;
        goto out_free;
    }
    /* the loader splits LD_PRELOAD at blanks and ':', so such a path can never be preloaded */
    if (strpbrk(preload, " \t:")) {
        fl_errorf("the preload library's path '%s' holds a blank or ':', which LD_PRELOAD cannot "
                  "carry; install or build faultline under a path without them", preload);
        rc = FL_EXIT_NORESOURCE;
        goto out_free;
    }
    warn_unreachable(cfg.argv[0]);

    char state[PATH_MAX];
    struct fl_err err;
    struct fl_journal journal;
    if (fl_state_dir(arg_state_dir, state, sizeof(state), &err) < 0 ||
        fl_journal_open(&journal, state, &err) < 0) {
        fl_errorf("%s", err.msg);
        rc = FL_EXIT_NORESOURCE;
        goto out_free;
    }

    char ctl_path[PATH_MAX];
    if (cfg.ctl_path) {
        if (cfg.ctl_path[0] != '/') {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd))) {
                rc = fl_usage_error("--ctl: cannot resolve relative path");
                goto out_free;
            }
            snprintf(ctl_path, sizeof(ctl_path), "%s/%s", cwd, cfg.ctl_path);
        } else {
            snprintf(ctl_path, sizeof(ctl_path), "%s", cfg.ctl_path);
        }
    } else {
        fl_ctl_default_path(ctl_path, sizeof(ctl_path));
    }

    json_t *params = json_pack("{s:s, s:O, s:I, s:b}", "path", ctl_path, "rules", cfg.rule_texts,
                               "seed", (json_int_t)cfg.seed, "no_follow", cfg.no_follow);
    if (cfg.exe)
        json_object_set_new(params, "exe", json_string(cfg.exe));
    /* the table's path is journaled before it exists, so that 'recover' removes it too */
    char surface_path[PATH_MAX];
    if (cfg.surface_file) {
        fl_surface_default_path(surface_path, sizeof(surface_path));
        json_object_set_new(params, "observe", json_true());
        json_object_set_new(params, "surface", json_string(surface_path));
    }
    struct fl_applied applied = {0};
    rc = fl_fault_apply(&journal, "preload", params, 0, &applied, &err);
    json_decref(params);
    if (rc < 0) {
        fl_errorf("%s", err.msg);
        rc = rc == -EEXIST ? FL_EXIT_USAGE : FL_EXIT_NORESOURCE;
        goto out_free;
    }
    struct fl_ctl_handle *h = NULL;
    struct fl_surface_handle *sh = NULL;
    if (fl_ctl_open(ctl_path, &h, &err) < 0 ||
        (cfg.surface_file &&
         fl_surface_create(surface_path, cfg.surface_base ? cfg.surface_base : ".", &sh,
                           &err) < 0)) {
        fl_errorf("%s", err.msg);
        fl_ctl_close(h);
        fl_fault_revert(&journal, &applied, NULL);
        rc = FL_EXIT_NORESOURCE;
        goto out_free;
    }
    fl_noticef("seed %" PRIu64 " (replay with --seed %" PRIu64 ")", cfg.seed, cfg.seed);
    fl_infof("%u rule%s, control block %s", cfg.rules->n, cfg.rules->n == 1 ? "" : "s", ctl_path);

    struct run_result res = {0};
    rc = run_child(&cfg, preload, ctl_path, sh ? surface_path : NULL, &res);
    if (rc < 0) {
        fl_errorf("cannot start %s: %s", cfg.argv[0], strerror(-rc));
        rc = FL_EXIT_NORESOURCE;
    } else if (res.exec_failed) {
        fl_errorf("cannot run '%s': %s", cfg.argv[0], strerror(res.exec_errno));
        rc = res.exec_errno == ENOENT ? 127 : 126;
    } else {
        char dur[32];
        if (res.timed_out) {
            fl_errorf("%s was still running after %s (--timeout) and was stopped", cfg.argv[0],
                      fl_format_duration(cfg.timeout_ns, dur, sizeof(dur)));
            rc = FL_EXIT_TIMEOUT;
        } else if (WIFSIGNALED(res.status)) {
            int sig = WTERMSIG(res.status);
            fl_errorf("%s was killed by signal %d (SIG%s)%s", cfg.argv[0], sig,
                      sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
                      WCOREDUMP(res.status) ? ", core dumped" : "");
            rc = 128 + sig;
        } else {
            rc = WEXITSTATUS(res.status);
        }
        if (sh && write_surface(cfg.surface_file, sh) < 0) {
            fl_errorf("--surface %s: cannot write the points: %s", cfg.surface_file,
                      strerror(errno));
            if (rc == 0)
                rc = FL_EXIT_NORESOURCE;
        }
        /* last, so that the JSON is the last line on stderr */
        warn_silent_rules(&cfg, h);
        if (cfg.stats)
            print_stats(&cfg, h, &res, stats_out);
        stats_out = NULL; /* print_stats closed it */
    }
    fl_ctl_close(h);
    fl_surface_close(sh, true);
    if (fl_fault_revert(&journal, &applied, &err) < 0)
        fl_warnf("could not revert: %s (run 'faultline recover')", err.msg);
out_free:
    if (stats_out && stats_out != stderr && stats_out != stdout)
        fclose(stats_out);
    free(cfg.rules);
    json_decref(cfg.rule_texts);
    return rc;
}
