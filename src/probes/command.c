/* SPDX-License-Identifier: MIT */
/*
 * probes/command.c - run a program and judge it by its exit status and its output.
 *
 * The lowest common denominator of health checks: anything a shell script can test
 * (`redis-cli ping`, `pg_isready`, a custom tool) becomes a probe. No shell is involved unless
 * `shell: true` asks for one, so arguments need no quoting and nothing is expanded by surprise.
 *
 * The program runs in a process group of its own, started with posix_spawn (safe in the
 * runner's threads, where fork() would copy every other thread's locks). Whatever happens,
 * the whole group is SIGKILLed when the leader exits or the timeout passes, so a probe never
 * leaves grandchildren behind, and a background child that keeps stdout open cannot stall the
 * probe. Output beyond FL_PU_CAPTURE_MAX per stream is read and dropped, so a chatty program
 * never blocks on a full pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

extern char **environ;

struct command_state {
    char **argv;              /* NULL-ended; with shell: {"/bin/sh", "-c", text, NULL} */
    char **env;               /* "K=V" additions, NULL-ended, or NULL */
    char *cwd;                /* relative to ctx->cwd, or NULL */
    int exit_code;            /* expected exit status; -1: any */
    struct fl_pu_match out;   /* stdout condition (text NULL: none) */
    struct fl_pu_match err;   /* stderr condition */
};

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void command_free(void *p)
{
    struct command_state *s = p;
    if (!s)
        return;
    strv_free(s->argv);
    strv_free(s->env);
    free(s->cwd);
    fl_pu_match_free(&s->out);
    fl_pu_match_free(&s->err);
    free(s);
}

static int parse_argv(const struct fl_doc *doc, const json_t *spec, bool shell,
                      struct command_state *s, struct fl_err *err)
{
    json_t *v = json_object_get(spec, "command");
    if (shell) {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return fl_doc_error(doc, spec, "command", err,
                                "with 'shell: true', 'command' must be one string");
        s->argv = calloc(4, sizeof(char *));
        if (!s->argv || !(s->argv[0] = strdup("/bin/sh")) || !(s->argv[1] = strdup("-c")) ||
            !(s->argv[2] = strdup(json_string_value(v))))
            return fl_err_set(err, ENOMEM, "out of memory");
        return 0;
    }
    if (json_is_string(v)) {
        /* Split on blanks only: no quoting rules to get wrong; a list or shell: true
         * covers everything else. */
        const char *t = json_string_value(v);
        size_t n = 0;
        s->argv = calloc(strlen(t) / 2 + 2, sizeof(char *));
        if (!s->argv)
            return fl_err_set(err, ENOMEM, "out of memory");
        while (*t) {
            t += strspn(t, " \t");
            size_t len = strcspn(t, " \t");
            if (!len)
                break;
            if (!(s->argv[n++] = strndup(t, len)))
                return fl_err_set(err, ENOMEM, "out of memory");
            t += len;
        }
        if (n == 0)
            return fl_doc_error(doc, spec, "command", err, "'command' is empty");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fl_doc_error(doc, spec, "command", err,
                            "'command' must be a list like [pg_isready, -h, 127.0.0.1] or a "
                            "string");
    s->argv = calloc(json_array_size(v) + 1, sizeof(char *));
    if (!s->argv)
        return fl_err_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a) {
        /* [true], [sleep, 1]: YAML turned words into booleans and numbers, but argv is
         * text, so every scalar goes back to the text it was written as. */
        char *t = json_is_string(a) ? strdup(json_string_value(a))
                  : json_is_null(a) || json_is_object(a) || json_is_array(a)
                      ? NULL
                      : json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!t || (i == 0 && !*t)) {
            free(t);
            return fl_doc_error(doc, spec, "command", err,
                                "'command' items must be strings (item %zu is not)", i + 1);
        }
        s->argv[i] = t;
    }
    return 0;
}

static int parse_env(const struct fl_doc *doc, const json_t *spec, struct command_state *s,
                     struct fl_err *err)
{
    json_t *v = json_object_get(spec, "env");
    if (!v)
        return 0;
    if (!json_is_object(v))
        return fl_doc_error(doc, spec, "env", err, "'env' must be a mapping of NAME: value");
    s->env = calloc(json_object_size(v) + 1, sizeof(char *));
    if (!s->env)
        return fl_err_set(err, ENOMEM, "out of memory");
    size_t n = 0;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!*k || strchr(k, '='))
            return fl_doc_error(doc, v, k, err, "'env': bad variable name '%s'", k);
        char *txt = json_is_string(x) ? strdup(json_string_value(x))
                                      : json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!txt || json_is_object(x) || json_is_array(x) || json_is_null(x)) {
            free(txt);
            return fl_doc_error(doc, v, k, err, "'env': '%s' must be a string or a number", k);
        }
        int r = asprintf(&s->env[n], "%s=%s", k, txt);
        free(txt);
        if (r < 0)
            return fl_err_set(err, ENOMEM, "out of memory");
        n++;
    }
    return 0;
}

static int command_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                         struct fl_err *err)
{
    static const char *const keys[] = {"command", "shell", "exit", "stdout", "stderr", "env",
                                       "cwd", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct command_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    bool shell = false;
    int64_t code = 0;
    if ((r = fl_pu_get_bool(doc, spec, "shell", &shell, err)) < 0 ||
        (r = parse_argv(doc, spec, shell, s, err)) < 0 || (r = parse_env(doc, spec, s, err)) < 0)
        goto fail;
    json_t *ex = json_object_get(spec, "exit");
    if (json_is_string(ex) && !strcmp(json_string_value(ex), "any"))
        code = -1;
    else if ((r = fl_pu_get_int(doc, spec, "exit", 0, 255, &code, err)) < 0)
        goto fail;
    s->exit_code = (int)code;
    if ((r = fl_pu_get_match(doc, spec, "stdout", &s->out, err)) < 0 ||
        (r = fl_pu_get_match(doc, spec, "stderr", &s->err, err)) < 0 ||
        (r = fl_pu_get_string(doc, spec, "cwd", &s->cwd, err)) < 0)
        goto fail;
    *state = s;
    return 0;
fail:
    command_free(s);
    return r;
}

/* environ plus the additions (which win), for posix_spawn: built in the parent. */
static char **make_env(char **add)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (add && add[m])
        m++;
    char **e = calloc(n + m + 1, sizeof(char *));
    if (!e)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < m && !replaced; j++) {
            size_t kl = strcspn(add[j], "=") + 1;
            replaced = !strncmp(environ[i], add[j], kl);
        }
        if (!replaced)
            e[o++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        e[o++] = add[j];
    return e;
}

struct capture {
    int fd;                   /* read end, -1 once at EOF */
    char *buf;                /* FL_PU_CAPTURE_MAX + 1 bytes, NUL-terminated */
    size_t len;
    bool truncated;
};

static void capture_read(struct capture *c)
{
    char tmp[8192];
    ssize_t n = read(c->fd, tmp, sizeof(tmp));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    size_t room = FL_PU_CAPTURE_MAX - c->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(c->buf + c->len, tmp, take);
    c->len += take;
    c->buf[c->len] = '\0';
    if (take < (size_t)n)
        c->truncated = true;
}

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static int command_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                         struct fl_probe_result *out)
{
    struct command_state *s = state;
    int64_t t0 = fl_mono_ns(), deadline = t0 + timeout_ns;
    struct capture cap[2] = {{-1, NULL, 0, false}, {-1, NULL, 0, false}};
    int wfd[2] = {-1, -1}, devnull = -1, pidfd = -1, r = 0;
    char **env = NULL;
    char dir[4096] = "";
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_init = false, attr_init = false;
    pid_t pid = -1;

    for (int i = 0; i < 2; i++) {
        int p[2];
        cap[i].buf = malloc(FL_PU_CAPTURE_MAX + 1);
        if (!cap[i].buf || pipe2(p, O_CLOEXEC) < 0) {
            r = -errno;
            fl_pu_detail(out, "pipe: %s", strerror(errno));
            goto done;
        }
        cap[i].buf[0] = '\0';
        cap[i].fd = p[0];
        wfd[i] = p[1];
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    env = make_env(s->env);
    if (devnull < 0 || !env) {
        r = devnull < 0 ? -errno : -ENOMEM;
        fl_pu_detail(out, "cannot prepare the command: %s", strerror(-r));
        goto done;
    }
    if (s->cwd)
        fl_pu_resolve(ctx->cwd, s->cwd, dir, sizeof(dir));
    else if (ctx->cwd)
        snprintf(dir, sizeof(dir), "%s", ctx->cwd);
    if (dir[0]) {
        /* Said here: posix_spawn would blame the program for a missing directory. */
        struct stat st;
        const char *why = NULL;
        if (stat(dir, &st) < 0)
            why = strerror(errno);
        else if (!S_ISDIR(st.st_mode))
            why = "not a directory";
        if (why) {
            fl_pu_detail(out, "cwd %s: %s", dir, why);
            goto done;
        }
    }
    posix_spawn_file_actions_init(&fa);
    fa_init = true;
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, wfd[0], 1);
    posix_spawn_file_actions_adddup2(&fa, wfd[1], 2);
    if (dir[0])
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawnattr_init(&attr);
    attr_init = true;
    /* Own group (to kill it whole), default signals and an empty mask: the runner's threads
     * may block or ignore signals the program must not inherit. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int e = posix_spawnp(&pid, s->argv[0], &fa, &attr, s->argv, env);
    close(wfd[0]);
    close(wfd[1]);
    wfd[0] = wfd[1] = -1;
    if (e) {
        pid = -1;
        out->ok = false;
        fl_pu_detail(out, "cannot run %s: %s", s->argv[0], strerror(e));
        out->value = json_pack("{s:s}", "error", strerror(e));
        goto done;
    }
    pidfd = pidfd_open_(pid);

    bool exited = false, timed_out = false, lost = false;
    int status = 0;
    while (!exited || cap[0].fd >= 0 || cap[1].fd >= 0) {
        int64_t now = fl_mono_ns();
        if (now >= deadline && !exited) {
            timed_out = true;
            kill(-pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            exited = true;
        }
        if (exited && cap[0].fd < 0 && cap[1].fd < 0)
            break;
        struct pollfd pf[3];
        int np = 0, ix[3];
        for (int i = 0; i < 2; i++)
            if (cap[i].fd >= 0) {
                pf[np] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
                ix[np++] = i;
            }
        if (!exited && pidfd >= 0) {
            pf[np] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            ix[np++] = 2;
        }
        int64_t left = deadline - now;
        int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        if (!exited && pidfd < 0 && ms > 10)
            ms = 10; /* no pidfd: look at the child every 10ms */
        if (exited)
            ms = ms > 100 ? 100 : ms; /* the group is dead: what remains is buffered */
        int n = poll(pf, (nfds_t)np, ms);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; n > 0 && i < np; i++)
            if (pf[i].revents && ix[i] < 2)
                capture_read(&cap[ix[i]]);
        if (!exited) {
            /* The leader is reaped only after its group is killed: until then its pid, which
             * is the group id, cannot be reused by an unrelated process. */
            siginfo_t si = {0};
            int w = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
            if (w < 0 && errno == ECHILD) {
                /* Reaped behind our back (SIGCHLD ignored, or a waitpid(-1) elsewhere). */
                kill(-pid, SIGKILL);
                exited = lost = true;
            } else if (w == 0 && si.si_pid == pid) {
                kill(-pid, SIGKILL);
                (void)waitpid(pid, &status, 0);
                exited = true;
            }
        } else if (n == 0 || fl_mono_ns() >= deadline + 100 * 1000000LL) {
            break; /* something outside the group holds the pipe: stop listening */
        }
    }
    out->latency_ns = fl_mono_ns() - t0;

    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    out->value = json_object();
    if (out->value) {
        json_object_set_new(out->value, "exit",
                            code >= 0 && !lost ? json_integer(code) : json_null());
        if (sig && !timed_out)
            json_object_set_new(out->value, "signal", json_string(strsignal(sig)));
        json_object_set_new(out->value, "stdout",
                            fl_pu_json_text(cap[0].buf, cap[0].len, FL_PU_VALUE_TEXT_MAX));
        json_object_set_new(out->value, "stderr",
                            fl_pu_json_text(cap[1].buf, cap[1].len, FL_PU_VALUE_TEXT_MAX));
        if (timed_out)
            json_object_set_new(out->value, "timed_out", json_true());
    }
    char buf[32], what[128];
    out->ok = false;
    if (timed_out) {
        fl_pu_detail(out, "timed out after %s", fl_format_duration(timeout_ns, buf, 32));
    } else if (lost) {
        fl_pu_detail(out, "exit status lost: the program was reaped elsewhere");
    } else if (sig) {
        fl_pu_detail(out, "killed by signal %d (%s)", sig, strsignal(sig));
    } else if (s->exit_code >= 0 && code != s->exit_code) {
        char line[160] = "";
        fl_pu_first_line(cap[1].len ? cap[1].buf : cap[0].buf, line, sizeof(line));
        fl_pu_detail(out, "exit status %d, expected %d%s%s", code, s->exit_code,
                     line[0] ? ": " : "", line);
    } else if (!fl_pu_match_test(&s->out, cap[0].buf, cap[0].len)) {
        fl_pu_match_describe(&s->out, what, sizeof(what));
        fl_pu_detail(out, "stdout does not %s", what);
    } else if (!fl_pu_match_test(&s->err, cap[1].buf, cap[1].len)) {
        fl_pu_match_describe(&s->err, what, sizeof(what));
        fl_pu_detail(out, "stderr does not %s", what);
    } else {
        out->ok = true;
    }
    if (!out->ok && (cap[0].truncated || cap[1].truncated)) {
        size_t l = strlen(out->detail);
        snprintf(out->detail + l, sizeof(out->detail) - l, " (output over 64KiB was dropped)");
    }

done:
    for (int i = 0; i < 2; i++) {
        if (cap[i].fd >= 0)
            close(cap[i].fd);
        if (wfd[i] >= 0)
            close(wfd[i]);
        free(cap[i].buf);
    }
    if (devnull >= 0)
        close(devnull);
    if (pidfd >= 0)
        close(pidfd);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    free(env);
    return r;
}

static void command_describe(const void *state, char *buf, size_t len)
{
    const struct command_state *s = state;
    const char *const *a = (const char *const *)s->argv;
    if (!strcmp(a[0], "/bin/sh") && a[1] && !strcmp(a[1], "-c") && a[2] && !a[3]) {
        snprintf(buf, len, "sh -c %s", a[2]);
        return;
    }
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; a[i] && n + 1 < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "", a[i]);
}

const struct fl_probe_ops fl_probe_command = {
    .name = "command",
    .summary = "run a program: exit status, stdout/stderr substring or /regex/",
    .parse = command_parse,
    .check = command_check,
    .describe = command_describe,
    .free = command_free,
};
