/* SPDX-License-Identifier: MIT */
/* trial.c - see trial.h. */
#include "trial.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "elfsym.h"
#include "fault.h"
#include "surface.h"

#define FL_HOOK_TIMEOUT_NS (60 * INT64_C(1000000000))
#define FL_SAMPLE_NS (20 * INT64_C(1000000)) /* how often a running target is looked at */
#define FL_BUSY_WINDOW_NS INT64_C(1000000000)

extern char **environ;

static _Atomic bool fl_stop_all;

void fl_trial_interrupt(void) { atomic_store(&fl_stop_all, true); }
bool fl_trial_interrupted(void) { return atomic_load(&fl_stop_all); }

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- words and environments -------------------------------------------------------------- */

void fl_free_words(char **words)
{
    for (size_t i = 0; words && words[i]; i++)
        free(words[i]);
    free(words);
}

char **fl_split_words(const char *line, const char *what, struct fl_err *err)
{
    size_t cap = 8, n = 0, len = strlen(line);
    char **out = calloc(cap, sizeof(*out));
    char *word = malloc(len + 1);
    if (!out || !word)
        goto oom;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        size_t w = 0;
        char quote = 0;
        const char *start = p;
        while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '\n'))) {
            if (quote) {
                if (*p == quote)
                    quote = 0;
                else if (*p == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\'))
                    word[w++] = *++p;
                else
                    word[w++] = *p;
            } else if (*p == '\'' || *p == '"') {
                quote = *p;
            } else if (*p == '\\' && p[1]) {
                word[w++] = *++p;
            } else {
                word[w++] = *p;
            }
            p++;
        }
        if (quote) {
            fl_err_set(err, EINVAL, "%s: col %d: unclosed %c (quote the whole argument, or "
                                    "escape the quote with \\)",
                       what, (int)(start - line) + 1, quote);
            goto fail;
        }
        word[w] = '\0';
        if (n + 2 > cap) {
            char **grown = realloc(out, (cap *= 2) * sizeof(*out));
            if (!grown)
                goto oom;
            out = grown;
        }
        if (!(out[n++] = strdup(word)))
            goto oom;
        out[n] = NULL;
    }
    if (n == 0) {
        fl_err_set(err, EINVAL, "%s: expected a command, got an empty line", what);
        goto fail;
    }
    free(word);
    return out;
oom:
    fl_err_set(err, ENOMEM, "%s: out of memory", what);
fail:
    free(word);
    fl_free_words(out);
    return NULL;
}

char **fl_clean_environ(void)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; out && i < n; i++) {
        if (!strncmp(environ[i], "LD_PRELOAD=", 11) || !strncmp(environ[i], "FAULTLINE_", 10))
            continue;
        out[k++] = strdup(environ[i]);
    }
    return out;
}

/* base + the extra NAME=VALUE strings (NULL-terminated list); the caller frees the array
 * only (the strings belong to base and extra). */
static char **env_with(char **base, char **extra)
{
    size_t nb = 0, ne = 0;
    while (base[nb])
        nb++;
    while (extra[ne])
        ne++;
    char **out = calloc(nb + ne + 1, sizeof(*out));
    if (!out)
        return NULL;
    memcpy(out, base, nb * sizeof(*out));
    memcpy(out + nb, extra, ne * sizeof(*out));
    return out;
}

/* argv with every "{dir}" replaced by dir; free with fl_free_words. */
static char **substitute(char **argv, const char *dir)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **out = calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++) {
        size_t need = strlen(argv[i]) + 1, dl = strlen(dir);
        for (const char *q = argv[i]; (q = strstr(q, "{dir}")); q += 5)
            need += dl;
        char *w = malloc(need), *o = w;
        if (!w)
            break;
        for (const char *q = argv[i]; *q;) {
            if (!strncmp(q, "{dir}", 5)) {
                memcpy(o, dir, dl);
                o += dl;
                q += 5;
            } else {
                *o++ = *q++;
            }
        }
        *o = '\0';
        out[i] = w;
    }
    return out;
}

/* ---- trees ------------------------------------------------------------------------------- */

static int copy_file(const char *src, const char *dst, mode_t mode, struct fl_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fl_err_set(err, errno, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
    if (out < 0) {
        int e = errno;
        close(in);
        return fl_err_set(err, e, "%s: %s", dst, strerror(e));
    }
    int rc = 0;
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n == 0)
            break;
        if (n > 0)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
            rc = fl_err_set(err, errno, "%s: %s", dst, strerror(errno));
            break;
        }
        char buf[65536];
        ssize_t r;
        while ((r = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)r) != r) {
                rc = fl_err_set(err, errno ? errno : EIO, "%s: %s", dst, strerror(errno));
                break;
            }
        if (r < 0)
            rc = fl_err_set(err, errno, "%s: %s", src, strerror(errno));
        break;
    }
    close(in);
    close(out);
    return rc;
}

int fl_copy_tree(const char *src, const char *dst, struct fl_err *err)
{
    DIR *d = opendir(src);
    if (!d)
        return fl_err_set(err, errno, "%s: %s", src, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        if (snprintf(s, sizeof(s), "%s/%s", src, de->d_name) >= (int)sizeof(s) ||
            snprintf(t, sizeof(t), "%s/%s", dst, de->d_name) >= (int)sizeof(t)) {
            rc = fl_err_set(err, ENAMETOOLONG, "%s/%s: path too long", src, de->d_name);
            break;
        }
        struct stat st;
        if (lstat(s, &st) < 0) {
            rc = fl_err_set(err, errno, "%s: %s", s, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (mkdir(t, st.st_mode & 07777) < 0)
                rc = fl_err_set(err, errno, "%s: %s", t, strerror(errno));
            else
                rc = fl_copy_tree(s, t, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(s, target, sizeof(target) - 1);
            if (n < 0 || (target[n] = '\0', symlink(target, t) < 0))
                rc = fl_err_set(err, errno, "%s: %s", t, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(s, t, st.st_mode, err);
        } /* sockets, fifos, devices: not part of a template */
    }
    closedir(d);
    return rc;
}


/* ---- processes --------------------------------------------------------------------------- */

/* Start argv in its own process group, cwd dir, stdin from /dev/null, stdout and stderr to
 * the given files. Returns 0 with *pid, or an errno (exec failures included: glibc's
 * posix_spawn reports them). */
static int spawn(char **argv, char **envp, const char *dir, const char *out, const char *errf,
                 pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* /proc/PID/stat of the process named by a /proc entry into buf; 0 when it cannot be read. */
static size_t read_proc_stat(const char *pid_name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%s/stat", pid_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (size_t)n;
}

/* User + system CPU seconds of every process in a process group. */
static double group_cpu(pid_t pgid)
{
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    double total = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char buf[1024];
        if (!read_proc_stat(de->d_name, buf, sizeof(buf)))
            continue;
        char *rp = strrchr(buf, ')');
        int ppid, pgrp;
        char state;
        unsigned long ut, st;
        /* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime */
        if (rp && sscanf(rp + 1, " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state,
                         &ppid, &pgrp, &ut, &st) == 5 && pgrp == pgid)
            total += (double)(ut + st) / (double)hz;
    }
    if (d)
        closedir(d);
    return total;
}

/* The first process of group pgid whose executable matches glob (its path or file name, or
 * its comm: a program started by a symlink's name, as exe_alias.h explains), or 0. */
static pid_t group_process_named(pid_t pgid, const char *glob)
{
    pid_t found = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (!found && d && (de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[64], buf[1024], exe[PATH_MAX];
        if (!read_proc_stat(de->d_name, buf, sizeof(buf)))
            continue;
        char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
        int pgrp;
        if (!lp || !rp || sscanf(rp + 1, " %*c %*d %d", &pgrp) != 1 || pgrp != pgid)
            continue;
        *rp = '\0';
        bool match = fnmatch(glob, lp + 1, 0) == 0; /* comm */
        snprintf(path, sizeof(path), "/proc/%s/exe", de->d_name);
        ssize_t el = readlink(path, exe, sizeof(exe) - 1);
        if (!match && el > 0) {
            exe[el] = '\0';
            const char *base = strrchr(exe, '/');
            match = fnmatch(glob, exe, 0) == 0 || fnmatch(glob, base ? base + 1 : exe, 0) == 0;
        }
        if (match)
            found = (pid_t)atoi(de->d_name);
    }
    if (d)
        closedir(d);
    return found;
}

/* The target's main process now: its open fds, threads and resident memory; peaks kept in
 * *fds, *threads and *hwm_kb, the sample appended to series when there is one. */
static void sample_counts(pid_t pid, int *fds, int *threads, long *hwm_kb,
                          struct fl_trial_series *series, double t_s)
{
    char path[64];
    int nfd = -1, nthr = -1;
    long rss = -1;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
            n += de->d_name[0] != '.';
        closedir(d);
        nfd = n;
        if (n > *fds)
            *fds = n;
    }
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f) {
        char line[128];
        while (fgets(line, sizeof(line), f)) {
            int t;
            long kb;
            if (sscanf(line, "Threads: %d", &t) == 1) {
                nthr = t;
                if (t > *threads)
                    *threads = t;
            } else if (sscanf(line, "VmRSS: %ld", &kb) == 1) {
                rss = kb;
            } else if (sscanf(line, "VmHWM: %ld", &kb) == 1 && kb > *hwm_kb) {
                *hwm_kb = kb;
            }
        }
        fclose(f);
    }
    if (series && nfd >= 0 && series->n < FL_TRIAL_SERIES_MAX) {
        struct fl_trial_sample *sm = &series->s[series->n++];
        *sm = (struct fl_trial_sample){t_s, nfd, nthr, rss};
    }
}

/* Processes that carry `marker` (NAME=VALUE, unique to one trial) in their environment: the
 * target's, wherever they went. A daemon leaves its process group (setsid) and outlives its
 * parent, so the group kill misses it; its environment still says whose it is. Kill them;
 * return how many there were. */
static unsigned kill_escaped(const char *marker, int *one)
{
    unsigned n = 0;
    size_t mlen = strlen(marker);
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        char buf[65536];
        ssize_t len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1) {
            if (!strncmp(buf + i, marker, mlen) && buf[i + (ssize_t)mlen] == '\0') {
                int pid = atoi(de->d_name);
                if (pid != getpid() && kill(pid, SIGKILL) == 0) {
                    n++;
                    *one = pid;
                }
                break;
            }
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* The preload's line for a fatal signal (src/preload/fatal.c), the leader's if it wrote one,
 * else the first; the function is looked up in the module's symbols. */
static void read_fatal(const char *path, pid_t leader, struct fl_trial_fatal *f)
{
    memset(f, 0, sizeof(*f));
    FILE *in = fopen(path, "re");
    if (!in)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), in)) {
        struct fl_trial_fatal got = {.seen = true};
        unsigned long pid = 0;
        int at = 0;
        if (sscanf(line, "fatal sig=%d pid=%lu pc=%" SCNx64 "%n", &got.sig, &pid, &got.pc,
                   &at) != 3)
            continue;
        const char *rest = line + at;
        const char *off = strstr(rest, " off=");
        const char *addr = strstr(rest, " addr=");
        const char *module = strstr(rest, " module=");
        if (!addr || !module)
            continue;
        got.in_file = off && sscanf(off, " off=%" SCNx64, &got.offset) == 1;
        sscanf(addr, " addr=%" SCNx64, &got.addr);
        module += strlen(" module=");
        snprintf(got.module, sizeof(got.module), "%.*s", (int)strcspn(module, "\n"), module);
        if (!got.in_file)
            got.module[0] = '\0';
        bool is_leader = pid == (unsigned long)leader;
        if (!f->seen || is_leader)
            *f = got;
        if (is_leader)
            break;
    }
    fclose(in);
    if (f->seen && f->in_file &&
        fl_elf_function_at(f->module, f->offset, f->function, sizeof(f->function)) < 0)
        f->function[0] = '\0';
}

struct waited {
    int status;              /* shell style */
    bool timed_out, interrupted;
    double wall_s, cpu_s, cpu_last_s, cpu_window_s;
    int fds_peak, threads_peak;
    long maxrss_kb;          /* the leader's peak resident memory (wait4's rusage) */
    unsigned escaped;        /* with a marker: its processes left when the leader ended */
    int escaped_pid;
};

/* Wait for pid (leader of its group) up to timeout_ns; kill the group at the timeout or on
 * an interrupt; after it ends, kill what is left of the group. With a marker, first look for
 * (and kill) what is left anywhere: a daemon's child may not have left the group yet. */
static void wait_group(pid_t pid, int64_t timeout_ns, bool sample, const char *sample_exe,
                       const char *marker, struct fl_trial_series *series, struct waited *w)
{
    memset(w, 0, sizeof(*w));
    pid_t sampled = sample_exe ? 0 : pid; /* 0: the process sample_exe names is not found yet */
    long hwm_kb = 0;
    int64_t start = mono_ns(), deadline = start + timeout_ns;
    int64_t window = timeout_ns / 2 < FL_BUSY_WINDOW_NS ? timeout_ns / 2 : FL_BUSY_WINDOW_NS;
    double cpu_at_window = -1;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    for (;;) {
        pid_t r = wait4(pid, &status, WNOHANG, &ru);
        if (r == pid)
            break;
        int64_t now = mono_ns();
        if (atomic_load(&fl_stop_all) || now >= deadline) {
            w->interrupted = atomic_load(&fl_stop_all);
            w->timed_out = !w->interrupted;
            if (w->timed_out) {
                double cpu = group_cpu(pid);
                w->cpu_s = cpu;
                if (cpu_at_window >= 0) {
                    w->cpu_last_s = cpu - cpu_at_window;
                    w->cpu_window_s = (double)window / 1e9;
                }
            }
            kill(-pid, SIGKILL);
            wait4(pid, &status, 0, &ru);
            break;
        }
        if (cpu_at_window < 0 && now >= deadline - window)
            cpu_at_window = group_cpu(pid);
        if (sample && sample_exe && (!sampled || kill(sampled, 0) != 0))
            sampled = group_process_named(pid, sample_exe);
        if (sample && sampled && now - start >= FL_SAMPLE_NS)
            sample_counts(sampled, &w->fds_peak, &w->threads_peak, &hwm_kb, series,
                          (double)(now - start) / 1e9);
        int64_t slice = deadline - now;
        if (cpu_at_window < 0 && deadline - window - now < slice)
            slice = deadline - window - now;
        if (slice > FL_SAMPLE_NS)
            slice = FL_SAMPLE_NS;
        if (slice < 1000000)
            slice = 1000000;
        if (pidfd >= 0) {
            struct pollfd p = {pidfd, POLLIN, 0};
            poll(&p, 1, (int)(slice / 1000000));
        } else {
            struct timespec ts = {0, (long)(slice < 5000000 ? slice : 5000000)};
            nanosleep(&ts, NULL);
        }
    }
    /* the target's run ends at its reaping, not after the escape search below */
    w->wall_s = (double)(mono_ns() - start) / 1e9;
    if (pidfd >= 0)
        close(pidfd);
    if (marker && !w->timed_out && !w->interrupted) {
        /* a daemonizing parent exits at once; give its child the moment it needs to fork */
        struct timespec settle = {0, 20 * 1000 * 1000};
        nanosleep(&settle, NULL);
        w->escaped = kill_escaped(marker, &w->escaped_pid);
    }
    kill(-pid, SIGKILL); /* what the target left running in its group */
    if (!w->timed_out)
        w->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    w->maxrss_kb = sample_exe ? hwm_kb : ru.ru_maxrss; /* the leader is not the one watched */
    if (w->timed_out)
        w->status = FL_EXIT_TIMEOUT;
    else if (WIFSIGNALED(status))
        w->status = 128 + WTERMSIG(status);
    else
        w->status = WEXITSTATUS(status);
}

/* Run a hook to its end (bounded by FL_HOOK_TIMEOUT_NS); its output goes to out. */
static int run_hook(char **argv, char **envp, const char *dir, const char *out, int *status)
{
    pid_t pid;
    int rc = spawn(argv, envp, dir, out, out, &pid);
    if (rc)
        return rc;
    struct waited w;
    wait_group(pid, FL_HOOK_TIMEOUT_NS, false, NULL, NULL, NULL, &w);
    *status = w.status;
    return 0;
}

static void read_tail(const char *path, char *buf, size_t cap, size_t *total, bool head)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    off_t size = fstat(fd, &st) == 0 ? st.st_size : 0;
    if (total)
        *total = (size_t)size;
    off_t from = head || size < (off_t)cap ? 0 : size - (off_t)cap + 1;
    ssize_t n = pread(fd, buf, cap - 1, from);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

/* ---- a trial ----------------------------------------------------------------------------- */

int fl_trial_check(const struct fl_trial_env *env, const char *dir, char **extra, int *status,
                   char *output, size_t cap)
{
    static _Atomic unsigned checks;
    char trial_var[PATH_MAX + 32], out[PATH_MAX];
    snprintf(trial_var, sizeof(trial_var), "FAULTLINE_TRIAL_DIR=%s", dir);
    snprintf(out, sizeof(out), "%s/check-%u.out", env->root, atomic_fetch_add(&checks, 1));
    size_t ne = 0;
    while (extra && extra[ne])
        ne++;
    char **all = calloc(ne + 2, sizeof(*all));
    char **argv = substitute(env->check, dir);
    char **envp = NULL;
    if (all) {
        all[0] = trial_var;
        if (ne)
            memcpy(all + 1, extra, ne * sizeof(*all));
        envp = env_with(env->base_env, all);
    }
    int rc = 0;
    if (!argv || !envp) {
        rc = -ENOMEM;
    } else {
        int e = run_hook(argv, envp, dir, out, status);
        if (e) {
            *status = 127;
            snprintf(output, cap, "cannot run %s: %s", argv[0], strerror(e));
        } else {
            read_tail(out, output, cap, NULL, true);
        }
    }
    unlink(out);
    fl_free_words(argv);
    free(all);
    free(envp);
    return rc;
}

int fl_trial_run(const struct fl_trial_env *env, const struct fl_rule_set *rules,
                 struct fl_surface_handle **surface, unsigned trial_no,
                 struct fl_trial_result *res, struct fl_err *err)
{
    memset(res, 0, sizeof(*res));
    char dir[PATH_MAX], ctl[PATH_MAX], out[PATH_MAX], errf[PATH_MAX], hook_out[PATH_MAX],
        surface_path[PATH_MAX], fatal[PATH_MAX];
    snprintf(surface_path, sizeof(surface_path), "%s/t%u.surface", env->root, trial_no);
    if (surface)
        *surface = NULL;
    snprintf(dir, sizeof(dir), "%s/t%u", env->root, trial_no);
    snprintf(ctl, sizeof(ctl), "%s/t%u.ctl", env->root, trial_no);
    snprintf(out, sizeof(out), "%s/t%u.out", env->root, trial_no);
    snprintf(errf, sizeof(errf), "%s/t%u.err", env->root, trial_no);
    snprintf(hook_out, sizeof(hook_out), "%s/t%u.hook", env->root, trial_no);
    snprintf(fatal, sizeof(fatal), "%s/t%u.fatal", env->root, trial_no);
    if (mkdir(dir, 0700) < 0)
        return fl_err_set(err, errno, "%s: cannot make the trial directory: %s", dir,
                          strerror(errno));
    int rc = 0;
    struct fl_ctl_handle *h = NULL;
    char **argv = NULL, **setup = NULL, **check = NULL, **teardown = NULL;
    char **hook_env = NULL, **target_env = NULL, **check_env = NULL;
    char trial_var[PATH_MAX + 32], preload_var[PATH_MAX + 16], ctl_var[PATH_MAX + 16],
        surf_var[PATH_MAX + 24], fatal_var[PATH_MAX + 24];
    snprintf(trial_var, sizeof(trial_var), "FAULTLINE_TRIAL_DIR=%s", dir);
    snprintf(preload_var, sizeof(preload_var), "LD_PRELOAD=%s", env->preload);
    snprintf(ctl_var, sizeof(ctl_var), "FAULTLINE_CTL=%s", ctl);
    snprintf(surf_var, sizeof(surf_var), "FAULTLINE_SURFACE=%s", surface_path);
    snprintf(fatal_var, sizeof(fatal_var), "FAULTLINE_FATAL_LOG=%s", fatal);

    if (env->template_dir && (rc = fl_copy_tree(env->template_dir, dir, err)) < 0)
        goto out;
    static const struct fl_rule_set no_rules;
    if (surface && (rc = fl_surface_create(surface_path, dir, surface, err)) < 0)
        goto out;
    if ((rc = fl_ctl_create(ctl, rules ? rules : &no_rules, env->seed, trial_no,
                            surface ? FL_CTL_OBSERVE : 0, &h, err)) < 0)
        goto out;
    if (env->exe)
        snprintf(h->ctl->exe, sizeof(h->ctl->exe), "%s", env->exe);

    argv = substitute(env->argv, dir);
    setup = env->setup ? substitute(env->setup, dir) : NULL;
    check = env->check ? substitute(env->check, dir) : NULL;
    teardown = env->teardown ? substitute(env->teardown, dir) : NULL;
    char *hook_extra[] = {trial_var, NULL};
    char *target_extra[] = {trial_var, preload_var, ctl_var, fatal_var,
                            surface ? surf_var : NULL, NULL};
    hook_env = env_with(env->base_env, hook_extra);
    char **with_vars = env_with(env->base_env, target_extra);
    if (with_vars && env->target_extra_env) {
        target_env = env_with(with_vars, env->target_extra_env);
        free(with_vars);
    } else {
        target_env = with_vars;
    }
    if (!argv || (env->setup && !setup) || (env->check && !check) ||
        (env->teardown && !teardown) || !hook_env || !target_env) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }

    if (setup) {
        int e = run_hook(setup, hook_env, dir, hook_out, &res->hook_status);
        if (e || res->hook_status != 0) {
            res->setup_failed = true;
            if (e)
                snprintf(res->check_output, sizeof(res->check_output), "cannot run %s: %s",
                         setup[0], strerror(e));
            else
                read_tail(hook_out, res->check_output, sizeof(res->check_output), NULL, true);
            goto teardown;
        }
    }

    if (env->before_target && (rc = env->before_target(env->ctx, dir, err)) < 0)
        goto teardown;
    pid_t pid;
    int e = spawn(argv, target_env, dir, out, errf, &pid);
    if (e) {
        res->exec_failed = true;
        res->exec_errno = e;
        res->status = e == ENOENT ? 127 : 126;
        goto teardown;
    }
    struct waited w;
    wait_group(pid, env->timeout_ns, true, env->sample_exe,
               env->find_escaped ? ctl_var : NULL, env->series, &w);
    res->status = w.status;
    res->timed_out = w.timed_out;
    res->interrupted = w.interrupted;
    res->wall_s = w.wall_s;
    res->cpu_s = w.cpu_s;
    res->cpu_last_s = w.cpu_last_s;
    res->cpu_window_s = w.cpu_window_s;
    res->fds_peak = w.fds_peak;
    res->threads_peak = w.threads_peak;
    res->attached = (unsigned)atomic_load(&h->ctl->attached);
    /* the control block's path is in the environment of every process of this target */
    res->maxrss_kb = w.maxrss_kb;
    res->escaped = w.escaped;
    res->escaped_pid = w.escaped_pid;
    for (unsigned i = 0; rules && i < rules->n; i++) {
        struct fl_rule_stats s;
        if (fl_ctl_stats(h, (int)i, &s) == 0) {
            res->seen[i] = s.seen;
            res->injected[i] = s.injected;
        }
    }
    read_tail(errf, res->target_stderr, sizeof(res->target_stderr), &res->stderr_bytes, false);
    read_fatal(fatal, pid, &res->fatal);
    struct stat st;
    res->stdout_bytes = stat(out, &st) == 0 ? (size_t)st.st_size : 0;
    if (res->interrupted)
        goto teardown;

    if (check) {
        char status_var[48], cpu_var[48], out_var[PATH_MAX + 24], err_var[PATH_MAX + 24];
        snprintf(status_var, sizeof(status_var), "FAULTLINE_STATUS=%d", res->status);
        snprintf(cpu_var, sizeof(cpu_var), "FAULTLINE_CPU_S=%.3f", res->cpu_s);
        snprintf(out_var, sizeof(out_var), "FAULTLINE_STDOUT=%s", out);
        snprintf(err_var, sizeof(err_var), "FAULTLINE_STDERR=%s", errf);
        char *check_extra[] = {trial_var, status_var, cpu_var, out_var, err_var, NULL};
        check_env = env_with(env->base_env, check_extra);
        int ce = check_env ? run_hook(check, check_env, dir, hook_out, &res->check_status)
                           : ENOMEM;
        if (ce) {
            res->check_status = 127;
            snprintf(res->check_output, sizeof(res->check_output), "cannot run %s: %s", check[0],
                     strerror(ce));
        } else {
            read_tail(hook_out, res->check_output, sizeof(res->check_output), NULL, true);
        }
    }
    if (env->after_check)
        rc = env->after_check(env->ctx, dir, out, res, err);
teardown:
    if (teardown) {
        int ts;
        run_hook(teardown, hook_env, dir, hook_out, &ts);
    }
out:
    fl_ctl_close(h);
    unlink(ctl);
    unlink(out);
    unlink(errf);
    unlink(hook_out);
    unlink(fatal);
    fl_remove_tree(dir);
    fl_free_words(argv);
    fl_free_words(setup);
    fl_free_words(check);
    fl_free_words(teardown);
    free(hook_env);
    free(target_env);
    free(check_env);
    return rc;
}
