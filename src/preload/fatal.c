/* SPDX-License-Identifier: MIT */
/* Where a program crashed. A sweep's trial that dies by SIGSEGV, SIGBUS, SIGFPE or SIGILL is
 * reported at the call whose fault set it off, but the reader's next question is where the
 * program then went wrong: the unchecked NULL is dereferenced somewhere else. With
 * $FAULTLINE_FATAL_LOG set, those signals get a handler (only where the program left the
 * default, so its own handlers win) that appends one line to that file, then lets the
 * signal kill the process as it would have:
 *
 *     fatal sig=11 pid=1234 pc=0x55d0c2a01355 off=0x1355 addr=0x0 module=/usr/bin/prog
 *
 * `off` is the program counter minus the load address of the file mapped there (its first
 * mapping), as the sweep's call sites are; module is that file ("?" and no off when the
 * counter is in no file: JIT code, a smashed stack). The handler is async-signal-safe: raw
 * system calls, /proc/self/maps read in pieces, numbers formatted by hand. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "preload.h"

static char fatal_log[512];

#define FATAL_LINE_MAX 4352 /* a maps line: addresses, flags and a path of up to PATH_MAX */

static uintptr_t pc_of(const void *ucv)
{
    const ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__i386__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_EIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#elif defined(__arm__)
    return (uintptr_t)uc->uc_mcontext.arm_pc;
#else
    (void)uc;
    return 0;
#endif
}

struct line_buf {
    char s[640];
    size_t n;
};

static void put_str(struct line_buf *b, const char *s)
{
    while (*s && b->n + 1 < sizeof(b->s))
        b->s[b->n++] = *s++;
}

static void put_hex(struct line_buf *b, uintptr_t v)
{
    char tmp[2 + 2 * sizeof(v)];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    while (i < (int)sizeof(tmp) && b->n + 1 < sizeof(b->s))
        b->s[b->n++] = tmp[i++];
}

static void put_dec(struct line_buf *b, unsigned long v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i < (int)sizeof(tmp) && b->n + 1 < sizeof(b->s))
        b->s[b->n++] = tmp[i++];
}

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* The file mapped at pc and its load address (the start of the first mapping of the run of
 * mappings of that file that contains pc). false when pc is in no file mapping. */
static bool module_of(uintptr_t pc, char *path, size_t cap, uintptr_t *base)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[4096], line[FATAL_LINE_MAX];
    size_t ln = 0;
    char run_path[sizeof(line)] = "";
    uintptr_t run_base = 0;
    bool found = false, overlong = false;
    for (;;) {
        ssize_t got = syscall(SYS_read, fd, buf, sizeof(buf));
        if (got <= 0)
            break;
        for (ssize_t i = 0; i < got && !found; i++) {
            if (buf[i] != '\n') {
                if (ln + 1 < sizeof(line))
                    line[ln++] = buf[i];
                else
                    overlong = true;
                continue;
            }
            line[ln] = '\0';
            ln = 0;
            if (overlong) {
                overlong = false;
                continue;
            }
            /* start-end perms offset dev inode   path */
            const char *p = line;
            uintptr_t start = parse_hex(&p);
            if (*p++ != '-')
                continue;
            uintptr_t end = parse_hex(&p);
            const char *file = NULL;
            for (int field = 0; *p && field < 5; field++) {
                while (*p == ' ')
                    p++;
                if (field == 4 && *p) {
                    file = p;
                    break;
                }
                while (*p && *p != ' ')
                    p++;
            }
            bool is_file = file && file[0] == '/';
            if (is_file && strcmp(file, run_path) != 0) {
                size_t fl = strlen(file);
                if (fl >= sizeof(run_path))
                    fl = sizeof(run_path) - 1;
                memcpy(run_path, file, fl);
                run_path[fl] = '\0';
                run_base = start;
            }
            if (pc >= start && pc < end) {
                if (is_file) {
                    size_t fl = strlen(file);
                    if (fl >= cap)
                        fl = cap - 1;
                    memcpy(path, file, fl);
                    path[fl] = '\0';
                    *base = run_base;
                    found = true;
                }
                goto done;
            }
        }
        if (found)
            break;
    }
done:
    syscall(SYS_close, fd);
    return found;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    uintptr_t pc = pc_of(uc), base = 0;
    char module[sizeof(((struct line_buf *)0)->s) - 160];
    bool in_file = pc && module_of(pc, module, sizeof(module), &base);
    struct line_buf b = {.n = 0};
    put_str(&b, "fatal sig=");
    put_dec(&b, (unsigned long)sig);
    put_str(&b, " pid=");
    put_dec(&b, (unsigned long)syscall(SYS_getpid));
    put_str(&b, " pc=");
    put_hex(&b, pc);
    if (in_file) {
        put_str(&b, " off=");
        put_hex(&b, pc - base);
    }
    put_str(&b, " addr=");
    put_hex(&b, (uintptr_t)si->si_addr);
    put_str(&b, " module=");
    put_str(&b, in_file ? module : "?");
    b.s[b.n++] = '\n';
    int fd = (int)syscall(SYS_openat, AT_FDCWD, fatal_log,
                          O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        syscall(SYS_write, fd, b.s, b.n);
        syscall(SYS_close, fd);
    }
    errno = saved;
    /* SA_RESETHAND put the default back: a fault caught on its instruction faults again when
     * the handler returns; one sent by kill() is sent again and arrives once this returns */
    if (si->si_code <= 0)
        syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), sig);
}

void fl_fatal_init(void)
{
    const char *log = getenv("FAULTLINE_FATAL_LOG");
    if (!log || log[0] != '/' || strlen(log) >= sizeof(fatal_log))
        return;
    memcpy(fatal_log, log, strlen(log) + 1);
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) < 0 || (old.sa_flags & SA_SIGINFO) ||
            old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK; /* a stack overflow needs the
                                                               program's own altstack */
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}
