/* SPDX-License-Identifier: MIT */
/*
 * record.c - faultline-record.so, the recorder `faultline crash` preloads: every
 * durability-relevant call the program makes inside the trial directory goes into the crash
 * event log (src/discovery/crashlog.h) with the bytes it wrote, in the order it was made.
 *
 * It is a library of its own, not a mode of faultline-preload.so, so that the fault
 * preload's hot paths stay as they are; both can be loaded at once (this one first: it then
 * sees what the faults let through). Like the fault preload it links only libc.
 *
 * Switched on by $FAULTLINE_CRASH_LOG (the log, header already written) and
 * $FAULTLINE_CRASH_ROOT (the trial directory, a real path); without them every wrapper is a
 * plain forward. $FAULTLINE_CRASH_EXE=GLOB records only programs whose executable's name
 * matches (or the name of the symlink to it that started it: src/core/exe_alias.h).
 *
 * What cannot be intercepted call by call is followed by content: a stdio stream's buffer
 * reaches its file through glibc's internal write, and a writable shared mapping changes the
 * file with no call at all. Such files are "watched": the recorder keeps a copy of what the
 * log says they hold and, before every record and at fflush, fclose, msync, munmap and exit,
 * compares the file with it page by page and logs what changed as writes. Order inside one
 * such file between two records is lost (the changes come out as one batch), never order
 * against the other calls, which is what crash states are built from.
 *
 * With $FAULTLINE_AUDIT_LOG as well (`faultline audit`), it also notes, one JSON line each, how
 * the program treats its sockets: every connect and accept (with the peer and the time),
 * the options that bound a wait (SO_RCVTIMEO, SO_SNDTIMEO, TCP_USER_TIMEOUT, SO_KEEPALIVE),
 * and, once per socket, whether it waited on it without a bound (poll/select with no timeout,
 * a blocking read with no SO_RCVTIMEO) or with one; and, per process, how much it asked of
 * malloc and its family (calls, bytes, NULLs). Files are the crash log's business.
 *
 * What cannot be followed at all (O_DIRECT, O_TMPFILE, symlink creation, a rename into the
 * directory from outside, a log append that failed) is logged as UNTRACKED, and the explorer
 * refuses to guess.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "crashlog.h"
#include "exe_alias.h"

#define EXPORT __attribute__((visibility("default")))
#define FD_MAX 65536
#define WATCH_MAX 64
#define MAP_MAX 256
#define WATCH_FILE_MAX (64u << 20) /* a watched file larger than this is untracked */

enum fd_kind { FD_UNKNOWN = 0, FD_OTHER = 1, FD_FILE = 2, FD_DIR = 3 };

static bool rec_on;
static char rec_root[PATH_MAX];
static int rec_log = -1;
static char rec_log_path[PATH_MAX];
static uint32_t rec_pid;
static _Atomic unsigned char fd_kind[FD_MAX];
static __thread int rec_busy; /* inside the recorder: calls it makes are not the program's */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static off_t stdout_marked; /* a mark says something once stdout has bytes */

/* ---- the real functions -------------------------------------------------------------------- */

static int audit_log = -1; /* $FAULTLINE_AUDIT_LOG, or -1 */
static void au_forget(int fd);
static void au_epoll_forget(int fd);
static void au_mapped(int fd);

static void *real(const char *name, void **slot)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}
#define REAL(type, name) ((type)real(#name, &real_##name))

static void *real_open, *real_open64, *real_openat, *real_openat64, *real_creat, *real_creat64,
    *real___open_2, *real___open64_2, *real___openat_2, *real___openat64_2, *real_write,
    *real_pwrite, *real_pwrite64, *real_writev, *real_pwritev, *real_pwritev64, *real_pwritev2,
    *real_pwritev64v2, *real_copy_file_range, *real_sendfile, *real_sendfile64, *real_ftruncate,
    *real_ftruncate64, *real_truncate, *real_truncate64, *real_fallocate, *real_fallocate64,
    *real_posix_fallocate, *real_posix_fallocate64, *real_fsync, *real_fdatasync,
    *real_sync_file_range, *real_syncfs, *real_sync, *real_msync, *real_mmap, *real_mmap64,
    *real_munmap, *real_rename, *real_renameat, *real_renameat2, *real_link, *real_linkat,
    *real_symlink, *real_symlinkat, *real_unlink, *real_unlinkat, *real_remove, *real_rmdir,
    *real_mkdir, *real_mkdirat, *real_close, *real_dup2, *real_dup3, *real_fopen, *real_fopen64,
    *real_fdopen, *real_freopen, *real_freopen64, *real_fflush, *real_fclose, *real_connect,
    *real_accept, *real_accept4, *real_setsockopt, *real_poll, *real_ppoll, *real_select,
    *real_pselect, *real_epoll_wait, *real_epoll_pwait, *real_epoll_pwait2, *real_epoll_ctl, *real_read, *real_recv,
    *real_recvfrom, *real_recvmsg, *real_execve, *real_execv, *real_execvp, *real_execvpe,
    *real_fexecve, *real__exit, *real__Exit;

/* ---- the log ------------------------------------------------------------------------------- */

static void open_log(void)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, rec_log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        return;
    /* high, out of the way of programs that dup2 onto low fds */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 1000);
    if (high >= 0) {
        syscall(SYS_close, fd);
        fd = high;
    }
    rec_log = fd;
}

static void append(struct iovec *iov, int n);

/* One record, one writev: header and paths, then the data pieces. */
static void emit_iov(struct fl_crash_event *ev, const struct iovec *data, int ndata)
{
    unsigned char head[FL_CRASHLOG_RECORD_HEADER_SIZE + 2 * FL_CRASHLOG_PATH_MAX];
    ev->pid = rec_pid;
    if (audit_log >= 0 && (ev->op == FL_CRASH_WRITE || ev->op == FL_CRASH_MSYNC)) {
        /* the audit asks how the program writes, not what: where and how much is enough */
        ev->flags |= FL_CRASH_DATA_OMITTED;
        ndata = 0;
    }
    size_t h = fl_crashlog_format_head(head, sizeof(head), ev);
    if (!h)
        return;
    struct iovec iov[1 + 16];
    iov[0] = (struct iovec){head, h};
    int n = 1;
    for (int i = 0; i < ndata && n < 17; i++)
        iov[n++] = data[i];
    append(iov, n);
}

/* The audit reads the log once the run is over and needs no record the moment it is made,
 * so it batches them: one write per 256 KiB or per 50 ms instead of one per call (sqlite's
 * 4 KiB page writes). A SIGKILL loses at most the last 50 ms. Crash mode never batches: its
 * file order is the program's order across processes. Under rec_lock. */
#define BATCH_CAP (256u << 10)
static unsigned char batch[BATCH_CAP];
static size_t batch_len;
static int64_t batch_since_ns;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void append_now(struct iovec *iov, int n);

static void au_flush(void);

static void batch_flush(void)
{
    au_flush();
    if (!batch_len)
        return;
    struct iovec v = {batch, batch_len};
    batch_len = 0;
    append_now(&v, 1);
}

static void append(struct iovec *iov, int n)
{
    if (audit_log < 0) {
        append_now(iov, n);
        return;
    }
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    if (batch_len + want > BATCH_CAP)
        batch_flush();
    if (want > BATCH_CAP) {
        append_now(iov, n);
        return;
    }
    if (!batch_len)
        batch_since_ns = mono_ns();
    for (int i = 0; i < n; i++) {
        memcpy(batch + batch_len, iov[i].iov_base, iov[i].iov_len);
        batch_len += iov[i].iov_len;
    }
    if (mono_ns() - batch_since_ns >= 50 * 1000000)
        batch_flush();
}

static void append_now(struct iovec *iov, int n)
{
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += iov[i].iov_len;
    for (int attempt = 0; attempt < 2; attempt++) {
        ssize_t w = syscall(SYS_writev, rec_log, iov, n);
        if (w == (ssize_t)want)
            return;
        if (w < 0 && errno == EBADF && attempt == 0) {
            open_log(); /* the program closed every fd it did not know */
            continue;
        }
        break;
    }
    /* a record is lost: say so, so that no state is built on a partial log */
    struct fl_crash_event lost = {.op = FL_CRASH_UNTRACKED, .arg = FL_CRASH_UNTRACKED_LOST,
                                  .pid = rec_pid};
    unsigned char buf[FL_CRASHLOG_RECORD_HEADER_SIZE];
    size_t h = fl_crashlog_format(buf, sizeof(buf), &lost);
    if (h)
        syscall(SYS_write, rec_log, buf, h);
}

static void emit(struct fl_crash_event *ev)
{
    emit_iov(ev, NULL, 0);
}

static void untracked(unsigned reason, const char *rel)
{
    struct fl_crash_event ev = {.op = FL_CRASH_UNTRACKED, .arg = reason};
    if (rel && fl_crashlog_path_ok(rel, strlen(rel))) {
        ev.path = rel;
        ev.path_len = (uint32_t)strlen(rel);
    }
    emit(&ev);
}

/* ---- paths --------------------------------------------------------------------------------- */

/* The canonical path of fd's file relative to the root, or false (outside, unnamed, not a
 * file or directory). st receives its fstat. */
static bool fd_rel(int fd, struct stat *st, char *rel, size_t cap)
{
    if (fstat(fd, st) < 0)
        return false;
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
        return false;
    char link[32], abs[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, abs, sizeof(abs) - 1);
    if (n <= 0)
        return false;
    abs[n] = '\0';
    if (S_ISREG(st->st_mode) && st->st_nlink == 0) {
        rel[0] = '\0'; /* unlinked: known by identity only */
        return strncmp(abs, rec_root, strlen(rec_root)) == 0;
    }
    return fl_crashlog_relpath(rec_root, abs, rel, cap) >= 0;
}

/* What a write needs to know about its fd, kept until the fd is closed or reopened, or any
 * name in the directory changes (name_gen): the hot path of a program that writes a lot is
 * then one lseek and the log's writev. */
#define NAME_CACHE_FDS 1024
struct fd_name {
    unsigned gen;      /* name_gen + 1 when filled; 0: empty */
    bool append;
    dev_t dev;
    ino_t ino;
    char rel[224];
};
static struct fd_name fd_names[NAME_CACHE_FDS];
static _Atomic unsigned name_gen;

static void names_changed(void)
{
    atomic_fetch_add_explicit(&name_gen, 1, memory_order_relaxed);
}

static void name_forget(int fd)
{
    if (fd >= 0 && fd < NAME_CACHE_FDS)
        fd_names[fd].gen = 0;
}

/* fd_rel through the cache (called under rec_lock); *append: the fd has O_APPEND. */
static bool fd_rel_cached(int fd, struct stat *st, char *rel, size_t cap, bool *append)
{
    unsigned gen = atomic_load_explicit(&name_gen, memory_order_relaxed) + 1;
    struct fd_name *c = fd >= 0 && fd < NAME_CACHE_FDS ? &fd_names[fd] : NULL;
    if (c && c->gen == gen) {
        memset(st, 0, sizeof(*st));
        st->st_dev = c->dev;
        st->st_ino = c->ino;
        snprintf(rel, cap, "%s", c->rel);
        *append = c->append;
        return true;
    }
    if (!fd_rel(fd, st, rel, cap))
        return false;
    int fl = fcntl(fd, F_GETFL);
    *append = fl >= 0 && (fl & O_APPEND);
    if (c && rel[0] && strlen(rel) < sizeof(c->rel)) {
        *c = (struct fd_name){gen, *append, st->st_dev, st->st_ino, ""};
        snprintf(c->rel, sizeof(c->rel), "%s", rel);
    }
    return true;
}

/* The canonical path, relative to the root, that (dirfd, path) names, its last component not
 * followed (as rename, unlink and mkdir treat it). The parent must exist. */
static bool path_rel(int dirfd, const char *path, char *rel, size_t cap)
{
    if (!path || !*path)
        return false;
    char abs[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(abs, sizeof(abs), "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof(base)))
                return false;
        } else {
            char link[32];
            snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof(base) - 1);
            if (n <= 0)
                return false;
            base[n] = '\0';
        }
        snprintf(abs, sizeof(abs), "%s/%s", base, path);
    }
    /* the parent through realpath (symlinks in it resolved), the last component as given */
    size_t len = strlen(abs);
    while (len > 1 && abs[len - 1] == '/')
        abs[--len] = '\0';
    char *slash = strrchr(abs, '/');
    const char *last = slash + 1;
    char parent[PATH_MAX], joined[PATH_MAX * 2];
    /* a bare name under the working directory or a dirfd: getcwd and /proc/self/fd give the
     * canonical parent already, so no realpath (a readlink per component) per rename */
    bool parent_canonical = path[0] != '/' && !strchr(path, '/');
    if (parent_canonical && strcmp(last, ".") && strcmp(last, "..")) {
        *slash = '\0';
        snprintf(joined, sizeof(joined), "%s/%s", abs[0] ? abs : "", last);
        *slash = '/';
        return fl_crashlog_relpath(rec_root, joined, rel, cap) >= 0;
    }
    if (slash == abs) {
        snprintf(parent, sizeof(parent), "/");
    } else {
        *slash = '\0';
        if (!realpath(abs, parent))
            return false;
    }
    if (!strcmp(last, ".") || !strcmp(last, "..")) {
        snprintf(joined, sizeof(joined), "%s/%s", parent, last);
        char resolved[PATH_MAX];
        if (!realpath(joined, resolved))
            return false;
        return fl_crashlog_relpath(rec_root, resolved, rel, cap) >= 0;
    }
    snprintf(joined, sizeof(joined), "%s/%s", strcmp(parent, "/") ? parent : "", last);
    return fl_crashlog_relpath(rec_root, joined, rel, cap) >= 0;
}

static void set_path(struct fl_crash_event *ev, const char *rel)
{
    ev->path = rel;
    ev->path_len = rel[0] ? (uint32_t)strlen(rel) : 0;
}

/* What fd is, cached until it is closed or replaced. */
static enum fd_kind kind_of(int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return FD_OTHER;
    unsigned char k = atomic_load_explicit(&fd_kind[fd], memory_order_relaxed);
    if (k != FD_UNKNOWN)
        return (enum fd_kind)k;
    struct stat st;
    char rel[PATH_MAX];
    k = FD_OTHER;
    if (fd != rec_log && fd != audit_log && fd_rel(fd, &st, rel, sizeof(rel)))
        k = S_ISDIR(st.st_mode) ? FD_DIR : FD_FILE;
    atomic_store_explicit(&fd_kind[fd], k, memory_order_relaxed);
    return (enum fd_kind)k;
}

static void name_forget(int fd);

static void forget_fd(int fd)
{
    name_forget(fd);
    if (fd >= 0 && fd < FD_MAX)
        atomic_store_explicit(&fd_kind[fd], FD_UNKNOWN, memory_order_relaxed);
}

/* ---- watched files ------------------------------------------------------------------------- */

struct watch {
    bool used;
    dev_t dev;
    ino_t ino;
    int fd;             /* our own read-only fd on the file */
    unsigned refs;      /* streams and mappings on it */
    unsigned char *copy; /* what the log says the file holds (an anonymous mapping) */
    unsigned char *now;  /* scratch: what it holds now (same capacity) */
    size_t size, cap;
};

struct map {
    bool used;
    uintptr_t addr;
    size_t len;
    int watch;
    off_t off; /* the file offset it starts at */
};

static struct watch watches[WATCH_MAX];
static unsigned n_watched; /* watches in use: none, and no scan is needed */
static struct map maps[MAP_MAX];

static void write_record(const struct stat *st, const char *rel, uint64_t off, const void *data,
                         size_t len);

/* Where the file's current bytes can be read without a call: a shared mapping of it that
 * covers [0, size) of the file (sqlite's -shm). NULL if there is none. */
static const unsigned char *mapped_bytes(int watch, size_t size)
{
    for (int i = 0; i < MAP_MAX; i++)
        if (maps[i].used && maps[i].watch == watch && maps[i].off == 0 && maps[i].len >= size)
            return (const unsigned char *)maps[i].addr;
    return NULL;
}

/* Compare one watched file with its copy and log what changed (log false: only learn it).
 * This runs before every record while a file is watched, so it costs one fstat, and one
 * pread of the whole file unless a mapping shows its bytes; the path is looked up only when
 * something changed. */
static void scan_one(struct watch *w, bool log)
{
    struct stat st;
    if (fstat(w->fd, &st) < 0)
        return;
    size_t size = (size_t)st.st_size;
    if (size > WATCH_FILE_MAX) {
        untracked(FL_CRASH_UNTRACKED_MMAP, NULL);
        return;
    }
    if (size > w->cap) {
        size_t cap = (size + 65535) & ~(size_t)65535;
        void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        void *b = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || b == MAP_FAILED) {
            untracked(FL_CRASH_UNTRACKED_LOST, NULL);
            return;
        }
        if (w->copy) {
            memcpy(m, w->copy, w->size);
            munmap(w->copy, w->cap);
            munmap(w->now, w->cap);
        }
        w->copy = m;
        w->now = b;
        w->cap = cap;
    }
    const unsigned char *now = mapped_bytes((int)(w - watches), size);
    if (!now) {
        size_t got = 0;
        while (got < size) {
            ssize_t r = pread(w->fd, w->now + got, size - got, (off_t)got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        size = got;
        now = w->now;
    }
    char rel[PATH_MAX];
    bool named = false;
    if (size < w->size && log) {
        struct stat ns;
        named = fd_rel(w->fd, &ns, rel, sizeof(rel));
        if (!named)
            rel[0] = '\0';
        struct fl_crash_event ev = {.op = FL_CRASH_TRUNCATE, .dev = st.st_dev, .ino = st.st_ino,
                                    .length = size};
        set_path(&ev, rel);
        emit(&ev);
    }
    const size_t page = FL_CRASHLOG_PAGE_SIZE;
    size_t run_start = SIZE_MAX, run_end = 0;
    for (size_t off = 0; off < size + page; off += page) { /* the last turn, n == 0, ends a run */
        size_t n = off < size ? (size - off < page ? size - off : page) : 0;
        bool differs = n && (off + n > w->size || memcmp(now + off, w->copy + off, n) != 0);
        if (differs) {
            memcpy(w->copy + off, now + off, n);
            if (run_start == SIZE_MAX)
                run_start = off;
            run_end = off + n;
        } else if (run_start != SIZE_MAX) {
            if (log) {
                if (!named) {
                    struct stat ns;
                    named = fd_rel(w->fd, &ns, rel, sizeof(rel));
                    if (!named)
                        rel[0] = '\0';
                    named = true;
                }
                write_record(&st, rel, run_start, w->copy + run_start, run_end - run_start);
            }
            run_start = SIZE_MAX;
        }
    }
    w->size = size;
}

static void scan_all(void)
{
    if (!n_watched)
        return;
    for (int i = 0; i < WATCH_MAX; i++)
        if (watches[i].used)
            scan_one(&watches[i], true);
}

/* Start watching fd's file (or take another reference); the copy starts as the file is. */
static int watch_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    int free_slot = -1;
    for (int i = 0; i < WATCH_MAX; i++) {
        if (watches[i].used && watches[i].dev == st.st_dev && watches[i].ino == st.st_ino) {
            watches[i].refs++;
            return i;
        }
        if (!watches[i].used && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0) {
        untracked(FL_CRASH_UNTRACKED_OTHER, NULL);
        return -1;
    }
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    int own = (int)syscall(SYS_openat, AT_FDCWD, link, O_RDONLY | O_CLOEXEC);
    if (own < 0)
        return -1;
    int high = fcntl(own, F_DUPFD_CLOEXEC, 1000);
    if (high >= 0) {
        syscall(SYS_close, own);
        own = high;
    }
    n_watched++;
    struct watch *w = &watches[free_slot];
    *w = (struct watch){.used = true, .dev = st.st_dev, .ino = st.st_ino, .fd = own, .refs = 1};
    /* the copy starts as the file is: what the log already says it holds */
    scan_one(w, false);
    return free_slot;
}

static void unwatch(int i)
{
    if (i < 0 || !watches[i].used || --watches[i].refs)
        return;
    scan_one(&watches[i], true);
    syscall(SYS_close, watches[i].fd);
    if (watches[i].copy)
        munmap(watches[i].copy, watches[i].cap), munmap(watches[i].now, watches[i].cap);
    watches[i] = (struct watch){0};
    n_watched--;
}

static int watch_of_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    for (int i = 0; i < WATCH_MAX; i++)
        if (watches[i].used && watches[i].dev == st.st_dev && watches[i].ino == st.st_ino)
            return i;
    return -1;
}

/* ---- around every record ------------------------------------------------------------------- */

/* stdout is a file the command made: log how much of it the program had printed, so that a
 * check can hold a crash state to what had been acknowledged by then. */
static void mark_stdout(void)
{
    if (audit_log >= 0)
        return; /* the audit does not judge crash states: no marks, one fstat less a call */
    struct stat st;
    if (fstat(1, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= stdout_marked)
        return;
    stdout_marked = st.st_size;
    struct fl_crash_event ev = {.op = FL_CRASH_MARK, .length = (uint64_t)st.st_size};
    emit(&ev);
}

static bool enter(void)
{
    if (!rec_on || rec_busy)
        return false;
    rec_busy++;
    pthread_mutex_lock(&rec_lock);
    /* what watched files got since the last record comes before this one */
    scan_all();
    /* and so does what the program printed since: stdout that left through glibc's own write
     * (a line-buffered or full stream flushed inside printf) passes no wrapper, and marked
     * only at leave() it would follow this record, so an "ack" printed before an fsync would
     * look printed after it */
    mark_stdout();
    return true;
}

static void leave(void)
{
    mark_stdout();
    pthread_mutex_unlock(&rec_lock);
    rec_busy--;
}

static void write_record(const struct stat *st, const char *rel, uint64_t off, const void *data,
                         size_t len)
{
    while (len > 0) {
        size_t n = len > FL_CRASHLOG_DATA_MAX ? FL_CRASHLOG_DATA_MAX : len;
        struct fl_crash_event ev = {.op = FL_CRASH_WRITE, .dev = st->st_dev, .ino = st->st_ino,
                                    .offset = off, .length = n};
        set_path(&ev, rel);
        struct iovec d = {(void *)data, n};
        emit_iov(&ev, &d, 1);
        off += n;
        data = (const char *)data + n;
        len -= n;
    }
}

/* ---- writes -------------------------------------------------------------------------------- */

/* A write of `done` bytes from iov to fd has returned. at: the offset it wrote at, or -1 for
 * "the file position" (where it ended, minus done; the end of the file with O_APPEND). */
static void record_write(int fd, const struct iovec *iov, int cnt, ssize_t done, off_t at)
{
    if (done <= 0 || kind_of(fd) != FD_FILE || !enter())
        return;
    struct stat st;
    char rel[PATH_MAX];
    bool append;
    if (!fd_rel_cached(fd, &st, rel, sizeof(rel), &append))
        goto out;
    if (n_watched) {
        int w = watch_of_fd(fd);
        if (w >= 0) {
            scan_one(&watches[w], true); /* a watched file's copy follows every change */
            goto out;
        }
    }
    off_t off;
    if (append) {
        struct stat now;
        /* Linux appends even for pwrite with O_APPEND */
        off = fstat(fd, &now) == 0 ? now.st_size - done : 0;
    }
    else if (at >= 0)
        off = at;
    else
        off = lseek(fd, 0, SEEK_CUR) - done;
    if (off < 0)
        off = 0;
    /* the data, in pieces of at most one record each */
    size_t left = (size_t)done, piece = 0;
    int i = 0;
    size_t skip = 0;
    while (left > 0 && i < cnt) {
        struct iovec d[16];
        int nd = 0;
        size_t rec = 0;
        while (left > 0 && i < cnt && nd < 16 && rec < FL_CRASHLOG_DATA_MAX) {
            size_t avail = iov[i].iov_len - skip;
            size_t take = avail < left ? avail : left;
            if (take > FL_CRASHLOG_DATA_MAX - rec)
                take = FL_CRASHLOG_DATA_MAX - rec;
            if (take)
                d[nd++] = (struct iovec){(char *)iov[i].iov_base + skip, take};
            rec += take;
            left -= take;
            skip += take;
            if (skip == iov[i].iov_len) {
                i++;
                skip = 0;
            }
        }
        struct fl_crash_event ev = {.op = FL_CRASH_WRITE, .dev = st.st_dev, .ino = st.st_ino,
                                    .offset = (uint64_t)off + piece, .length = rec};
        set_path(&ev, rel);
        emit_iov(&ev, d, nd);
        piece += rec;
    }
out:
    leave();
}

/* Bytes the kernel copied into fd (sendfile, copy_file_range): read them back from the file. */
static void record_copied(int fd, ssize_t done, off_t at)
{
    if (done <= 0 || kind_of(fd) != FD_FILE || !enter())
        return;
    struct stat st;
    char rel[PATH_MAX];
    if (fd_rel(fd, &st, rel, sizeof(rel))) {
        off_t off = at >= 0 ? at : lseek(fd, 0, SEEK_CUR) - done;
        void *buf = mmap(NULL, (size_t)done, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) {
            untracked(FL_CRASH_UNTRACKED_LOST, rel);
        } else {
            ssize_t got = pread(fd, buf, (size_t)done, off);
            if (got == done)
                write_record(&st, rel, (uint64_t)off, buf, (size_t)done);
            else
                untracked(FL_CRASH_UNTRACKED_LOST, rel);
            munmap(buf, (size_t)done);
        }
    }
    leave();
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t r = REAL(ssize_t (*)(int, const void *, size_t), write)(fd, buf, n);
    if (rec_on && r > 0) {
        struct iovec v = {(void *)buf, (size_t)r};
        record_write(fd, &v, 1, r, -1);
        if (fd == 1 && !rec_busy && enter())
            leave(); /* leave() marks what stdout now holds */
    }
    return r;
}

#define PWRITE(name, offt)                                                                        \
    EXPORT ssize_t name(int fd, const void *buf, size_t n, offt off)                              \
    {                                                                                             \
        ssize_t r = REAL(ssize_t (*)(int, const void *, size_t, offt), name)(fd, buf, n, off);    \
        if (rec_on && r > 0) {                                                                    \
            struct iovec v = {(void *)buf, (size_t)r};                                            \
            record_write(fd, &v, 1, r, (off_t)off);                                               \
        }                                                                                         \
        return r;                                                                                 \
    }
PWRITE(pwrite, off_t)
PWRITE(pwrite64, off64_t)

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    ssize_t r = REAL(ssize_t (*)(int, const struct iovec *, int), writev)(fd, iov, cnt);
    if (rec_on && r > 0)
        record_write(fd, iov, cnt, r, -1);
    return r;
}

#define PWRITEV(name, offt)                                                                       \
    EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, offt off)                       \
    {                                                                                             \
        ssize_t r = REAL(ssize_t (*)(int, const struct iovec *, int, offt), name)(fd, iov, cnt,   \
                                                                                  off);           \
        if (rec_on && r > 0)                                                                      \
            record_write(fd, iov, cnt, r, (off_t)off);                                            \
        return r;                                                                                 \
    }
PWRITEV(pwritev, off_t)
PWRITEV(pwritev64, off64_t)

#define PWRITEV2(name, offt)                                                                      \
    EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, offt off, int flags)            \
    {                                                                                             \
        ssize_t r = REAL(ssize_t (*)(int, const struct iovec *, int, offt, int), name)(           \
            fd, iov, cnt, off, flags);                                                            \
        if (rec_on && r > 0)                                                                      \
            record_write(fd, iov, cnt, r, (off_t)off);                                            \
        return r;                                                                                 \
    }
PWRITEV2(pwritev2, off_t)
PWRITEV2(pwritev64v2, off64_t)

EXPORT ssize_t copy_file_range(int in, off64_t *off_in, int out, off64_t *off_out, size_t n,
                               unsigned flags)
{
    off64_t at = off_out ? *off_out : -1;
    ssize_t r = REAL(ssize_t (*)(int, off64_t *, int, off64_t *, size_t, unsigned),
                     copy_file_range)(in, off_in, out, off_out, n, flags);
    if (rec_on && r > 0)
        record_copied(out, r, (off_t)at);
    return r;
}

EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    ssize_t r = REAL(ssize_t (*)(int, int, off_t *, size_t), sendfile)(out, in, off, n);
    if (rec_on && r > 0)
        record_copied(out, r, -1);
    return r;
}

EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
    ssize_t r = REAL(ssize_t (*)(int, int, off64_t *, size_t), sendfile64)(out, in, off, n);
    if (rec_on && r > 0)
        record_copied(out, r, -1);
    return r;
}

/* ---- sizes --------------------------------------------------------------------------------- */

static void record_fd_op(int fd, unsigned op, uint64_t off, uint64_t len, uint32_t arg)
{
    enum fd_kind k = kind_of(fd);
    if ((k != FD_FILE && k != FD_DIR) || !enter())
        return;
    struct stat st;
    char rel[PATH_MAX];
    if (fd_rel(fd, &st, rel, sizeof(rel))) {
        struct fl_crash_event ev = {.op = (uint16_t)op, .dev = st.st_dev, .ino = st.st_ino,
                                    .offset = off, .length = len, .arg = arg};
        if (S_ISDIR(st.st_mode)) {
            /* an fsync of a directory makes its names durable */
            if (op == FL_CRASH_FSYNC || op == FL_CRASH_FDATASYNC) {
                ev = (struct fl_crash_event){.op = FL_CRASH_DIRFSYNC};
                set_path(&ev, rel[0] ? rel : ".");
                emit(&ev);
            }
        } else {
            set_path(&ev, rel);
            int w = watch_of_fd(fd);
            if (w >= 0 && op == FL_CRASH_TRUNCATE)
                scan_one(&watches[w], true); /* its copy learns the size; the scan logs it */
            else
                emit(&ev);
        }
    }
    leave();
}

EXPORT int ftruncate(int fd, off_t len)
{
    int r = REAL(int (*)(int, off_t), ftruncate)(fd, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_TRUNCATE, 0, (uint64_t)len, 0);
    return r;
}

EXPORT int ftruncate64(int fd, off64_t len)
{
    int r = REAL(int (*)(int, off64_t), ftruncate64)(fd, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_TRUNCATE, 0, (uint64_t)len, 0);
    return r;
}

static void record_path_truncate(const char *p, uint64_t len)
{
    char rel[PATH_MAX];
    if (!path_rel(AT_FDCWD, p, rel, sizeof(rel)) || !enter())
        return;
    struct stat st;
    if (stat(p, &st) == 0) {
        struct fl_crash_event ev = {.op = FL_CRASH_TRUNCATE, .dev = st.st_dev, .ino = st.st_ino,
                                    .length = len};
        set_path(&ev, rel);
        emit(&ev);
    }
    leave();
}

EXPORT int truncate(const char *p, off_t len)
{
    int r = REAL(int (*)(const char *, off_t), truncate)(p, len);
    if (rec_on && r == 0)
        record_path_truncate(p, (uint64_t)len);
    return r;
}

EXPORT int truncate64(const char *p, off64_t len)
{
    int r = REAL(int (*)(const char *, off64_t), truncate64)(p, len);
    if (rec_on && r == 0)
        record_path_truncate(p, (uint64_t)len);
    return r;
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    int r = REAL(int (*)(int, int, off_t, off_t), fallocate)(fd, mode, off, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FALLOCATE, (uint64_t)off, (uint64_t)len, (uint32_t)mode);
    return r;
}

EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    int r = REAL(int (*)(int, int, off64_t, off64_t), fallocate64)(fd, mode, off, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FALLOCATE, (uint64_t)off, (uint64_t)len, (uint32_t)mode);
    return r;
}

EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
    int r = REAL(int (*)(int, off_t, off_t), posix_fallocate)(fd, off, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FALLOCATE, (uint64_t)off, (uint64_t)len, 0);
    return r;
}

EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    int r = REAL(int (*)(int, off64_t, off64_t), posix_fallocate64)(fd, off, len);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FALLOCATE, (uint64_t)off, (uint64_t)len, 0);
    return r;
}

/* ---- syncs --------------------------------------------------------------------------------- */

EXPORT int fsync(int fd)
{
    int r = REAL(int (*)(int), fsync)(fd);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FSYNC, 0, 0, 0);
    return r;
}

EXPORT int fdatasync(int fd)
{
    int r = REAL(int (*)(int), fdatasync)(fd);
    if (rec_on && r == 0)
        record_fd_op(fd, FL_CRASH_FDATASYNC, 0, 0, 0);
    return r;
}

EXPORT int sync_file_range(int fd, off64_t off, off64_t n, unsigned flags)
{
    int r = REAL(int (*)(int, off64_t, off64_t, unsigned), sync_file_range)(fd, off, n, flags);
    if (rec_on && r == 0 && kind_of(fd) == FD_FILE) {
        uint64_t len = (uint64_t)n;
        if (n == 0) { /* to the end of the file */
            struct stat st;
            len = fstat(fd, &st) == 0 && st.st_size > off ? (uint64_t)(st.st_size - off) : 0;
        }
        record_fd_op(fd, FL_CRASH_SYNC_FILE_RANGE, (uint64_t)off, len, 0);
    }
    return r;
}

static void record_sync(void)
{
    if (!enter())
        return;
    struct fl_crash_event ev = {.op = FL_CRASH_SYNC};
    emit(&ev);
    leave();
}

EXPORT int syncfs(int fd)
{
    int r = REAL(int (*)(int), syncfs)(fd);
    if (rec_on && r == 0)
        record_sync();
    return r;
}

EXPORT void sync(void)
{
    REAL(void (*)(void), sync)();
    if (rec_on)
        record_sync();
}

/* ---- mappings ------------------------------------------------------------------------------ */

static void *record_mmap(void *r, size_t len, int prot, int flags, int fd, off_t off)
{
    if (r == MAP_FAILED || !(prot & PROT_WRITE) || (flags & MAP_TYPE) != MAP_SHARED ||
        (flags & MAP_ANONYMOUS) || kind_of(fd) != FD_FILE)
        return r;
    if (audit_log >= 0) {
        /* the audit does not build crash states: following a mapping's bytes before every
         * record (sqlite's -shm: a scan per commit) would cost more than the program's run */
        au_mapped(fd);
        return r;
    }
    if (!enter())
        return r;
    int w = watch_fd(fd);
    if (w >= 0) {
        int slot = -1;
        for (int i = 0; i < MAP_MAX && slot < 0; i++)
            if (!maps[i].used)
                slot = i;
        if (slot >= 0)
            maps[slot] = (struct map){true, (uintptr_t)r, len, w, off};
        else
            untracked(FL_CRASH_UNTRACKED_MMAP, NULL);
    }
    leave();
    return r;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *r = REAL(void *(*)(void *, size_t, int, int, int, off_t), mmap)(addr, len, prot, flags,
                                                                        fd, off);
    return rec_on ? record_mmap(r, len, prot, flags, fd, off) : r;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    void *r = REAL(void *(*)(void *, size_t, int, int, int, off64_t), mmap64)(addr, len, prot,
                                                                            flags, fd, off);
    return rec_on ? record_mmap(r, len, prot, flags, fd, (off_t)off) : r;
}

EXPORT int munmap(void *addr, size_t len)
{
    bool mine = rec_on && !rec_busy;
    if (mine && enter()) {
        /* the mapping's last changes are the file's before it goes */
        uintptr_t a = (uintptr_t)addr;
        for (int i = 0; i < MAP_MAX; i++) {
            if (!maps[i].used || a + len <= maps[i].addr || a >= maps[i].addr + maps[i].len)
                continue;
            scan_one(&watches[maps[i].watch], true);
            if (a <= maps[i].addr && a + len >= maps[i].addr + maps[i].len) {
                int w = maps[i].watch;
                maps[i] = (struct map){0};
                unwatch(w);
            }
        }
        leave();
    }
    return REAL(int (*)(void *, size_t), munmap)(addr, len);
}

EXPORT int msync(void *addr, size_t len, int flags)
{
    int r = REAL(int (*)(void *, size_t, int), msync)(addr, len, flags);
    if (!rec_on || r != 0 || !(flags & MS_SYNC) || !enter())
        return r;
    /* enter() logged the mapping's changes as writes; MS_SYNC makes them durable */
    uintptr_t a = (uintptr_t)addr;
    for (int i = 0; i < MAP_MAX; i++) {
        if (!maps[i].used || a + len <= maps[i].addr || a >= maps[i].addr + maps[i].len)
            continue;
        struct watch *w = &watches[maps[i].watch];
        struct stat st;
        char rel[PATH_MAX];
        if (!fd_rel(w->fd, &st, rel, sizeof(rel)))
            continue;
        struct fl_crash_event ev = {.op = FL_CRASH_FDATASYNC, .dev = st.st_dev,
                                    .ino = st.st_ino};
        set_path(&ev, rel);
        emit(&ev);
    }
    leave();
    return r;
}

/* ---- opens --------------------------------------------------------------------------------- */

struct pre_open {
    bool existed, regular;
};

static struct pre_open before_open(int dirfd, const char *path, int flags)
{
    struct pre_open p = {0};
    if (!rec_on || !(flags & (O_CREAT | O_TRUNC)))
        return p;
    struct stat st;
    if (fstatat(dirfd, path, &st, 0) == 0) {
        p.existed = true;
        p.regular = S_ISREG(st.st_mode);
    }
    return p;
}

static void record_open(int fd, int flags, struct pre_open pre)
{
    forget_fd(fd);
    /* an open that can neither write nor create nor truncate changes nothing on disk (an
     * interpreter's hundreds of module reads): no record, and no fstat and readlink to find
     * its path */
    if ((flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_TRUNC)))
        return;
    if (fd < 0 || kind_of(fd) == FD_OTHER || !enter())
        return;
    struct stat st;
    char rel[PATH_MAX];
    if (!fd_rel(fd, &st, rel, sizeof(rel)))
        goto out;
    bool writes = (flags & O_ACCMODE) != O_RDONLY;
#ifdef __O_TMPFILE
    if ((flags & __O_TMPFILE) == __O_TMPFILE) {
        untracked(FL_CRASH_UNTRACKED_CALL, NULL);
        goto out;
    }
#endif
    if ((flags & O_DIRECT) && writes) {
        untracked(FL_CRASH_UNTRACKED_DIRECT, rel);
        goto out;
    }
    if (S_ISDIR(st.st_mode) || !rel[0])
        goto out;
    unsigned fl = 0;
    if ((flags & O_CREAT) && !pre.existed)
        fl |= FL_CRASH_OPEN_CREATED;
    if ((flags & O_TRUNC) && pre.existed && pre.regular)
        fl |= FL_CRASH_OPEN_TRUNCATED;
    if (writes || fl) {
        struct fl_crash_event ev = {.op = FL_CRASH_OPEN, .flags = (uint16_t)fl,
                                    .dev = st.st_dev, .ino = st.st_ino,
                                    .arg = st.st_mode & 07777};
        set_path(&ev, rel);
        emit(&ev);
    }
out:
    leave();
}

static mode_t va_mode(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN(name)                                                                                \
    EXPORT int name(const char *path, int flags, ...)                                             \
    {                                                                                             \
        va_list ap;                                                                               \
        va_start(ap, flags);                                                                      \
        mode_t mode = va_mode(flags, ap);                                                         \
        va_end(ap);                                                                               \
        struct pre_open pre = before_open(AT_FDCWD, path, flags);                                 \
        int fd = REAL(int (*)(const char *, int, ...), name)(path, flags, mode);                  \
        if (rec_on)                                                                               \
            record_open(fd, flags, pre);                                                          \
        return fd;                                                                                \
    }
OPEN(open)
OPEN(open64)

#define OPENAT(name)                                                                              \
    EXPORT int name(int dirfd, const char *path, int flags, ...)                                  \
    {                                                                                             \
        va_list ap;                                                                               \
        va_start(ap, flags);                                                                      \
        mode_t mode = va_mode(flags, ap);                                                         \
        va_end(ap);                                                                               \
        struct pre_open pre = before_open(dirfd, path, flags);                                    \
        int fd = REAL(int (*)(int, const char *, int, ...), name)(dirfd, path, flags, mode);      \
        if (rec_on)                                                                               \
            record_open(fd, flags, pre);                                                          \
        return fd;                                                                                \
    }
OPENAT(openat)
OPENAT(openat64)

#define CREAT(name)                                                                               \
    EXPORT int name(const char *path, mode_t mode)                                                \
    {                                                                                             \
        int flags = O_CREAT | O_WRONLY | O_TRUNC;                                                 \
        struct pre_open pre = before_open(AT_FDCWD, path, flags);                                 \
        int fd = REAL(int (*)(const char *, mode_t), name)(path, mode);                           \
        if (rec_on)                                                                               \
            record_open(fd, flags, pre);                                                          \
        return fd;                                                                                \
    }
CREAT(creat)
CREAT(creat64)

/* the fortified opens (no mode: they are used only without O_CREAT) */
#define OPEN2(name)                                                                               \
    EXPORT int name(const char *path, int flags)                                                  \
    {                                                                                             \
        struct pre_open pre = before_open(AT_FDCWD, path, flags);                                 \
        int fd = REAL(int (*)(const char *, int), name)(path, flags);                             \
        if (rec_on)                                                                               \
            record_open(fd, flags, pre);                                                          \
        return fd;                                                                                \
    }
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
OPEN2(__open_2)
OPEN2(__open64_2)

#define OPENAT2(name)                                                                             \
    EXPORT int name(int dirfd, const char *path, int flags)                                       \
    {                                                                                             \
        struct pre_open pre = before_open(dirfd, path, flags);                                    \
        int fd = REAL(int (*)(int, const char *, int), name)(dirfd, path, flags);                 \
        if (rec_on)                                                                               \
            record_open(fd, flags, pre);                                                          \
        return fd;                                                                                \
    }
OPENAT2(__openat_2)
OPENAT2(__openat64_2)

/* ---- stdio --------------------------------------------------------------------------------- */

static int stdio_flags(const char *mode)
{
    int f = 0;
    switch (mode[0]) {
    case 'w':
        f = O_WRONLY | O_CREAT | O_TRUNC;
        break;
    case 'a':
        f = O_WRONLY | O_CREAT | O_APPEND;
        break;
    default:
        f = O_RDONLY;
    }
    if (strchr(mode, '+'))
        f = (f & ~O_ACCMODE) | O_RDWR;
    return f;
}

/* A stream's buffer reaches the file through glibc's own write: watch the file instead. */
static void record_stream(FILE *f, int flags, struct pre_open pre)
{
    if (!f)
        return;
    int fd = fileno(f);
    record_open(fd, flags, pre);
    if ((flags & O_ACCMODE) != O_RDONLY && kind_of(fd) == FD_FILE && enter()) {
        watch_fd(fd);
        leave();
    }
}

#define FOPEN(name)                                                                               \
    EXPORT FILE *name(const char *path, const char *mode)                                         \
    {                                                                                             \
        int flags = mode ? stdio_flags(mode) : 0;                                                 \
        struct pre_open pre = before_open(AT_FDCWD, path, flags);                                 \
        FILE *f = REAL(FILE * (*)(const char *, const char *), name)(path, mode);                 \
        if (rec_on)                                                                               \
            record_stream(f, flags, pre);                                                         \
        return f;                                                                                 \
    }
FOPEN(fopen)
FOPEN(fopen64)

EXPORT FILE *fdopen(int fd, const char *mode)
{
    FILE *f = REAL(FILE * (*)(int, const char *), fdopen)(fd, mode);
    if (rec_on && f && (stdio_flags(mode) & O_ACCMODE) != O_RDONLY && kind_of(fd) == FD_FILE &&
        enter()) {
        watch_fd(fd);
        leave();
    }
    return f;
}

static void stream_closing(FILE *f)
{
    if (!f || !enter())
        return;
    REAL(int (*)(FILE *), fflush)(f); /* its buffer reaches the file now, not inside fclose */
    int fd = fileno(f);
    unwatch(watch_of_fd(fd));
    leave();
}

static void record_close(int fd, enum fd_kind was, const struct stat *st, const char *rel)
{
    if (was != FD_FILE || !enter())
        return;
    struct fl_crash_event ev = {.op = FL_CRASH_CLOSE, .dev = st->st_dev, .ino = st->st_ino};
    set_path(&ev, rel);
    emit(&ev);
    leave();
    (void)fd;
}

#define FREOPEN(name)                                                                             \
    EXPORT FILE *name(const char *path, const char *mode, FILE *f)                                \
    {                                                                                             \
        if (rec_on)                                                                               \
            stream_closing(f);                                                                    \
        int flags = mode ? stdio_flags(mode) : 0;                                                 \
        struct pre_open pre = path ? before_open(AT_FDCWD, path, flags) : (struct pre_open){0};   \
        FILE *r = REAL(FILE * (*)(const char *, const char *, FILE *), name)(path, mode, f);      \
        if (rec_on)                                                                               \
            record_stream(r, flags, pre);                                                         \
        return r;                                                                                 \
    }
FREOPEN(freopen)
FREOPEN(freopen64)

EXPORT int fflush(FILE *f)
{
    int r = REAL(int (*)(FILE *), fflush)(f);
    if (rec_on && enter())
        leave(); /* enter() scanned the watched files; leave() marks stdout */
    return r;
}

EXPORT int fclose(FILE *f)
{
    if (!rec_on || !f)
        return REAL(int (*)(FILE *), fclose)(f);
    int fd = fileno(f);
    enum fd_kind was = kind_of(fd);
    struct stat st;
    char rel[PATH_MAX] = "";
    if (was == FD_FILE && !fd_rel(fd, &st, rel, sizeof(rel)))
        was = FD_OTHER;
    stream_closing(f);
    int r = REAL(int (*)(FILE *), fclose)(f);
    forget_fd(fd);
    record_close(fd, was, &st, rel);
    return r;
}

/* ---- closes and dups ----------------------------------------------------------------------- */

EXPORT int close(int fd)
{
    if (audit_log >= 0 && fd != audit_log) {
        au_forget(fd);
        au_epoll_forget(fd);
    }
    if (!rec_on || fd == rec_log || fd == audit_log)
        return REAL(int (*)(int), close)(fd);
    enum fd_kind was = kind_of(fd);
    struct stat st;
    char rel[PATH_MAX] = "";
    if (was == FD_FILE && !fd_rel(fd, &st, rel, sizeof(rel)))
        was = FD_OTHER;
    int r = REAL(int (*)(int), close)(fd);
    forget_fd(fd);
    record_close(fd, was, &st, rel);
    return r;
}

EXPORT int dup2(int fd, int nfd)
{
    if (audit_log >= 0 && nfd == audit_log) {
        int moved = fcntl(audit_log, F_DUPFD_CLOEXEC, audit_log + 1);
        if (moved >= 0)
            audit_log = moved;
    }
    if (rec_on && nfd == rec_log) { /* keep the log: move it out of the program's way first */
        int moved = fcntl(rec_log, F_DUPFD_CLOEXEC, rec_log + 1);
        if (moved >= 0)
            rec_log = moved;
    }
    int r = REAL(int (*)(int, int), dup2)(fd, nfd);
    forget_fd(nfd);
    au_forget(nfd);
    if (r >= 0 && fd != nfd)
        au_epoll_forget(nfd);
    return r;
}

EXPORT int dup3(int fd, int nfd, int flags)
{
    if (rec_on && nfd == rec_log) {
        int moved = fcntl(rec_log, F_DUPFD_CLOEXEC, rec_log + 1);
        if (moved >= 0)
            rec_log = moved;
    }
    int r = REAL(int (*)(int, int, int), dup3)(fd, nfd, flags);
    forget_fd(nfd);
    au_forget(nfd);
    if (r >= 0)
        au_epoll_forget(nfd);
    return r;
}

/* ---- names --------------------------------------------------------------------------------- */

static void record_names(unsigned op, bool ok, bool in1, const char *rel1, bool in2,
                         const char *rel2, unsigned flags)
{
    if (!ok || (!in1 && !in2) || !enter())
        return;
    names_changed();
    struct fl_crash_event ev = {.op = (uint16_t)op, .flags = (uint16_t)flags};
    if (in1 && in2) {
        set_path(&ev, rel1);
        ev.path2 = rel2;
        ev.path2_len = (uint32_t)strlen(rel2);
        emit(&ev);
    } else if (in1) {
        /* moved out of the directory: gone, as far as a crash state can tell */
        if (op == FL_CRASH_RENAME) {
            ev = (struct fl_crash_event){.op = FL_CRASH_UNLINK};
            set_path(&ev, rel1);
            emit(&ev);
        }
    } else {
        /* came in from outside: its contents are not in the log */
        untracked(op == FL_CRASH_RENAME ? FL_CRASH_UNTRACKED_OTHER : FL_CRASH_UNTRACKED_CALL,
                  rel2);
    }
    leave();
}

#define NAMES_PRE(da, a, db, b)                                                                   \
    char rel1[PATH_MAX], rel2[PATH_MAX];                                                          \
    bool in1 = rec_on && !rec_busy && path_rel(da, a, rel1, sizeof(rel1));                        \
    bool in2 = rec_on && !rec_busy && path_rel(db, b, rel2, sizeof(rel2));

EXPORT int rename(const char *a, const char *b)
{
    NAMES_PRE(AT_FDCWD, a, AT_FDCWD, b)
    int r = REAL(int (*)(const char *, const char *), rename)(a, b);
    record_names(FL_CRASH_RENAME, r == 0, in1, rel1, in2, rel2, 0);
    return r;
}

EXPORT int renameat(int da, const char *a, int db, const char *b)
{
    NAMES_PRE(da, a, db, b)
    int r = REAL(int (*)(int, const char *, int, const char *), renameat)(da, a, db, b);
    record_names(FL_CRASH_RENAME, r == 0, in1, rel1, in2, rel2, 0);
    return r;
}

EXPORT int renameat2(int da, const char *a, int db, const char *b, unsigned flags)
{
    NAMES_PRE(da, a, db, b)
    int r = REAL(int (*)(int, const char *, int, const char *, unsigned), renameat2)(da, a, db,
                                                                                     b, flags);
    unsigned fl = 0;
    if (flags & RENAME_NOREPLACE)
        fl |= FL_CRASH_RENAME_NOREPLACE;
    if (flags & RENAME_EXCHANGE)
        fl |= FL_CRASH_RENAME_EXCHANGE;
    record_names(FL_CRASH_RENAME, r == 0, in1, rel1, in2, rel2, fl);
    return r;
}

EXPORT int link(const char *a, const char *b)
{
    NAMES_PRE(AT_FDCWD, a, AT_FDCWD, b)
    int r = REAL(int (*)(const char *, const char *), link)(a, b);
    record_names(FL_CRASH_LINK, r == 0, in1, rel1, in2, rel2, 0);
    return r;
}

EXPORT int linkat(int da, const char *a, int db, const char *b, int flags)
{
    /* AT_EMPTY_PATH names an fd (an O_TMPFILE file): its contents were never in the log */
    bool by_fd = (flags & AT_EMPTY_PATH) && a && !*a;
    char rel1[PATH_MAX], rel2[PATH_MAX];
    bool in1 = rec_on && !rec_busy && !by_fd && path_rel(da, a, rel1, sizeof(rel1));
    bool in2 = rec_on && !rec_busy && path_rel(db, b, rel2, sizeof(rel2));
    int r = REAL(int (*)(int, const char *, int, const char *, int), linkat)(da, a, db, b, flags);
    record_names(FL_CRASH_LINK, r == 0, in1, rel1, in2, rel2, 0);
    return r;
}

/* Symlink creation has no record type: a crash state could not have it right. */
EXPORT int symlink(const char *target, const char *b)
{
    char rel[PATH_MAX];
    bool in = rec_on && !rec_busy && path_rel(AT_FDCWD, b, rel, sizeof(rel));
    int r = REAL(int (*)(const char *, const char *), symlink)(target, b);
    record_names(FL_CRASH_LINK, r == 0, false, NULL, in, rel, 0);
    return r;
}

EXPORT int symlinkat(const char *target, int db, const char *b)
{
    char rel[PATH_MAX];
    bool in = rec_on && !rec_busy && path_rel(db, b, rel, sizeof(rel));
    int r = REAL(int (*)(const char *, int, const char *), symlinkat)(target, db, b);
    record_names(FL_CRASH_LINK, r == 0, false, NULL, in, rel, 0);
    return r;
}

static void record_one_name(unsigned op, bool ok, bool in, const char *rel, int dirfd,
                            const char *path, uint32_t mode)
{
    if (!ok || !in || !enter())
        return;
    names_changed();
    struct fl_crash_event ev = {.op = (uint16_t)op, .arg = mode};
    set_path(&ev, rel);
    struct stat st;
    if (op == FL_CRASH_MKDIR && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        ev.dev = st.st_dev;
        ev.ino = st.st_ino;
        ev.arg = st.st_mode & 07777;
    }
    emit(&ev);
    leave();
}

#define NAME_PRE(d, p)                                                                            \
    char rel[PATH_MAX];                                                                           \
    bool in = rec_on && !rec_busy && path_rel(d, p, rel, sizeof(rel));

EXPORT int unlink(const char *p)
{
    NAME_PRE(AT_FDCWD, p)
    int r = REAL(int (*)(const char *), unlink)(p);
    record_one_name(FL_CRASH_UNLINK, r == 0, in, rel, AT_FDCWD, p, 0);
    return r;
}

EXPORT int unlinkat(int d, const char *p, int flags)
{
    NAME_PRE(d, p)
    int r = REAL(int (*)(int, const char *, int), unlinkat)(d, p, flags);
    record_one_name((flags & AT_REMOVEDIR) ? FL_CRASH_RMDIR : FL_CRASH_UNLINK, r == 0, in, rel,
                    d, p, 0);
    return r;
}

EXPORT int rmdir(const char *p)
{
    NAME_PRE(AT_FDCWD, p)
    int r = REAL(int (*)(const char *), rmdir)(p);
    record_one_name(FL_CRASH_RMDIR, r == 0, in, rel, AT_FDCWD, p, 0);
    return r;
}

/* remove() is unlink or rmdir inside glibc, where no wrapper sees it */
EXPORT int remove(const char *p)
{
    NAME_PRE(AT_FDCWD, p)
    struct stat st;
    bool dir = in && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
    int r = REAL(int (*)(const char *), remove)(p);
    record_one_name(dir ? FL_CRASH_RMDIR : FL_CRASH_UNLINK, r == 0, in, rel, AT_FDCWD, p, 0);
    return r;
}

EXPORT int mkdir(const char *p, mode_t mode)
{
    NAME_PRE(AT_FDCWD, p)
    int r = REAL(int (*)(const char *, mode_t), mkdir)(p, mode);
    record_one_name(FL_CRASH_MKDIR, r == 0, in, rel, AT_FDCWD, p, mode & 07777);
    return r;
}

EXPORT int mkdirat(int d, const char *p, mode_t mode)
{
    NAME_PRE(d, p)
    int r = REAL(int (*)(int, const char *, mode_t), mkdirat)(d, p, mode);
    record_one_name(FL_CRASH_MKDIR, r == 0, in, rel, d, p, mode & 07777);
    return r;
}


/* ---- audit: sockets and the bounds on their waits ------------------------------------------ */

/* per fd: what the audit already said about it */
#define AU_SOCK 0x01      /* known to be a socket */
#define AU_NOTSOCK 0x02   /* known not to be one */
#define AU_UNBOUNDED 0x04 /* an unbounded wait on it was logged */
#define AU_BOUNDED 0x08   /* a bounded wait was logged */
#define AU_BLOCKREAD 0x10 /* a blocking read was logged */
static _Atomic unsigned char au_fd[FD_MAX];

static void au_forget(int fd)
{
    if (fd >= 0 && fd < FD_MAX)
        atomic_store_explicit(&au_fd[fd], 0, memory_order_relaxed);
}

static bool au_is_sock(int fd)
{
    if (fd < 0 || fd >= FD_MAX)
        return false;
    unsigned char f = atomic_load_explicit(&au_fd[fd], memory_order_relaxed);
    if (!(f & (AU_SOCK | AU_NOTSOCK))) {
        struct stat st;
        f |= fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? AU_SOCK : AU_NOTSOCK;
        atomic_store_explicit(&au_fd[fd], f, memory_order_relaxed);
    }
    return f & AU_SOCK;
}

/* Whether bit was already set for fd (and set it). */
static bool au_once(int fd, unsigned char bit)
{
    if (fd < 0 || fd >= FD_MAX)
        return true;
    return atomic_fetch_or_explicit(&au_fd[fd], bit, memory_order_relaxed) & bit;
}

static double au_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The audit's lines are batched like its crash records (one write per 64 KiB or 50 ms, and at
 * fork, exec, exit and _exit), each line whole, under rec_lock. */
#define AU_BATCH_CAP (64u << 10)
static char au_batch[AU_BATCH_CAP];
static size_t au_batch_len;
static int64_t au_batch_since_ns;

static void au_flush(void)
{
    if (au_batch_len && audit_log >= 0)
        syscall(SYS_write, audit_log, au_batch, au_batch_len);
    au_batch_len = 0;
}

static void au_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void au_line(const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "{\"pid\":%u,\"t_ms\":%.3f,", (unsigned)rec_pid,
                     au_now_ms());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '}';
    buf[n++] = '\n';
    rec_busy++;
    pthread_mutex_lock(&rec_lock);
    if (au_batch_len + (size_t)n > AU_BATCH_CAP)
        au_flush();
    if (!au_batch_len)
        au_batch_since_ns = mono_ns();
    memcpy(au_batch + au_batch_len, buf, (size_t)n);
    au_batch_len += (size_t)n;
    if (mono_ns() - au_batch_since_ns >= 50 * 1000000)
        au_flush();
    pthread_mutex_unlock(&rec_lock);
    rec_busy--;
}

/* "1.2.3.4:80", "[::1]:6379", "unix:/run/x.sock" (JSON-safe: quotes and backslashes dropped) */
static void au_peer(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (!sa || len < sizeof(sa_family_t)) {
        snprintf(out, cap, "?");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const void *)sa;
        snprintf(out, cap, "unix:%.100s", un->sun_path[0] ? un->sun_path : "@abstract");
    } else {
        snprintf(out, cap, "family-%d", sa->sa_family);
    }
    for (char *c = out; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '_';
}

static void au_wait(int fd, const char *call, long timeout_ms)
{
    if (!au_is_sock(fd))
        return;
    if (timeout_ms < 0 ? au_once(fd, AU_UNBOUNDED) : au_once(fd, AU_BOUNDED))
        return;
    au_line("\"ev\":\"wait\",\"fd\":%d,\"call\":\"%s\",\"timeout_ms\":%ld", fd, call, timeout_ms);
}

static void au_mapped(int fd)
{
    struct stat st;
    char rel[PATH_MAX];
    if (!rec_busy && fd_rel(fd, &st, rel, sizeof(rel)) && rel[0] && !strchr(rel, '"') &&
        !strchr(rel, '\\'))
        au_line("\"ev\":\"mmap_shared\",\"path\":\"%s\"", rel);
}

EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    int r = REAL(int (*)(int, const struct sockaddr *, socklen_t), connect)(fd, sa, len);
    if (audit_log >= 0 && !rec_busy) {
        int e = errno;
        char peer[160];
        au_peer(sa, len, peer, sizeof(peer));
        au_forget(fd);
        au_line("\"ev\":\"connect\",\"fd\":%d,\"peer\":\"%s\",\"ok\":%s,\"errno\":%d", fd, peer,
                r == 0 || e == EINPROGRESS ? "true" : "false", r == 0 ? 0 : e);
        errno = e;
    }
    return r;
}

static void au_accepted(int r, const struct sockaddr *sa, socklen_t *len)
{
    if (r < 0 || audit_log < 0 || rec_busy)
        return;
    char peer[160];
    struct sockaddr_storage own;
    socklen_t own_len = sizeof(own);
    if (!sa || !len) {
        /* accept(fd, NULL, NULL), as mosquitto calls it: the kernel still knows the peer */
        int e = errno;
        if (getpeername(r, (struct sockaddr *)&own, &own_len) == 0) {
            sa = (const struct sockaddr *)&own;
            len = &own_len;
        }
        errno = e;
    }
    au_peer(sa, len ? *len : 0, peer, sizeof(peer));
    au_forget(r);
    au_line("\"ev\":\"accept\",\"fd\":%d,\"peer\":\"%s\"", r, peer);
}

EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int r = REAL(int (*)(int, struct sockaddr *, socklen_t *), accept)(fd, sa, len);
    au_accepted(r, sa, len);
    return r;
}

EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int r = REAL(int (*)(int, struct sockaddr *, socklen_t *, int), accept4)(fd, sa, len, flags);
    au_accepted(r, sa, len);
    return r;
}

EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
    int r = REAL(int (*)(int, int, int, const void *, socklen_t), setsockopt)(fd, level, opt,
                                                                             val, len);
    if (audit_log < 0 || rec_busy || r != 0 || !val)
        return r;
    const char *name = NULL;
    long v = 0;
    if (level == SOL_SOCKET && (opt == SO_RCVTIMEO || opt == SO_SNDTIMEO) &&
        len >= sizeof(struct timeval)) {
        const struct timeval *tv = val;
        name = opt == SO_RCVTIMEO ? "SO_RCVTIMEO" : "SO_SNDTIMEO";
        v = (long)tv->tv_sec * 1000 + tv->tv_usec / 1000;
    } else if (level == SOL_SOCKET && opt == SO_KEEPALIVE && len >= sizeof(int)) {
        name = "SO_KEEPALIVE";
        v = *(const int *)val;
    } else if (level == IPPROTO_TCP && opt == TCP_USER_TIMEOUT && len >= sizeof(unsigned)) {
        name = "TCP_USER_TIMEOUT";
        v = (long)*(const unsigned *)val;
    }
    if (name)
        au_line("\"ev\":\"sockopt\",\"fd\":%d,\"opt\":\"%s\",\"value\":%ld", fd, name, v);
    return r;
}

static void au_poll(const struct pollfd *fds, nfds_t n, long timeout_ms, const char *call)
{
    if (audit_log < 0 || rec_busy)
        return;
    for (nfds_t i = 0; i < n && i < 1024; i++)
        if (fds[i].fd >= 0 && (fds[i].events & POLLIN))
            au_wait(fds[i].fd, call, timeout_ms);
}

/* glibc declares poll's array write-only (access attribute); the kernel reads its fds and
 * events, and so does the audit: GCC's "may be used uninitialized" there is wrong */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    au_poll(fds, n, timeout_ms < 0 ? -1 : timeout_ms, "poll");
    return REAL(int (*)(struct pollfd *, nfds_t, int), poll)(fds, n, timeout_ms);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *m)
{
    au_poll(fds, n, tmo ? (long)tmo->tv_sec * 1000 + tmo->tv_nsec / 1000000 : -1, "ppoll");
    return REAL(int (*)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *),
                ppoll)(fds, n, tmo, m);
}
#pragma GCC diagnostic pop

static void au_select(int nfds, const fd_set *rd, long timeout_ms, const char *call)
{
    if (audit_log < 0 || rec_busy || !rd || nfds > FD_SETSIZE)
        return;
    for (int fd = 0; fd < nfds; fd++)
        if (FD_ISSET(fd, rd))
            au_wait(fd, call, timeout_ms);
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    au_select(nfds, rd, tv ? (long)tv->tv_sec * 1000 + tv->tv_usec / 1000 : -1, "select");
    return REAL(int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *), select)(nfds, rd,
                                                                                    wr, ex, tv);
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *tmo,
                   const sigset_t *m)
{
    au_select(nfds, rd, tmo ? (long)tmo->tv_sec * 1000 + tmo->tv_nsec / 1000000 : -1,
              "pselect");
    return REAL(int (*)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                        const sigset_t *), pselect)(nfds, rd, wr, ex, tmo, m);
}

/* epoll: each socket's epoll fd (+1) as epoll_ctl last added it for reading, logged as
 * epoll_add/epoll_del, so the audit can tie a wait on the epoll fd to the sockets behind it.
 * An add lets the next bounded and unbounded wait on that epoll fd be logged again: the
 * socket added after the first wait of each kind is waited on too. */
static _Atomic int au_ep[FD_MAX];

static void au_epoll_forget(int fd)
{
    if (audit_log < 0 || fd < 0 || fd >= FD_MAX)
        return;
    int ep = atomic_exchange_explicit(&au_ep[fd], 0, memory_order_relaxed);
    if (ep && !rec_busy)
        au_line("\"ev\":\"epoll_del\",\"fd\":%d,\"epfd\":%d", fd, ep - 1);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    int r = REAL(int (*)(int, int, int, struct epoll_event *), epoll_ctl)(epfd, op, fd, event);
    if (r != 0 || audit_log < 0 || rec_busy || fd < 0 || fd >= FD_MAX || epfd < 0 ||
        epfd >= FD_MAX)
        return r;
    int e = errno;
    bool reads = op != EPOLL_CTL_DEL && event && (event->events & EPOLLIN);
    if (!reads) {
        if (atomic_load_explicit(&au_ep[fd], memory_order_relaxed) == epfd + 1)
            au_epoll_forget(fd);
    } else if (au_is_sock(fd) &&
               atomic_exchange_explicit(&au_ep[fd], epfd + 1, memory_order_relaxed) != epfd + 1) {
        atomic_fetch_and_explicit(&au_fd[epfd], (unsigned char)~(AU_BOUNDED | AU_UNBOUNDED),
                                  memory_order_relaxed);
        au_line("\"ev\":\"epoll_add\",\"fd\":%d,\"epfd\":%d", fd, epfd);
    }
    errno = e;
    return r;
}

static void au_epoll(int epfd, int timeout_ms)
{
    if (audit_log < 0 || rec_busy || epfd < 0 || epfd >= FD_MAX)
        return;
    if (timeout_ms < 0 ? au_once(epfd, AU_UNBOUNDED) : au_once(epfd, AU_BOUNDED))
        return;
    au_line("\"ev\":\"epoll_wait\",\"fd\":%d,\"timeout_ms\":%d", epfd,
            timeout_ms < 0 ? -1 : timeout_ms);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout_ms)
{
    au_epoll(epfd, timeout_ms);
    return REAL(int (*)(int, struct epoll_event *, int, int), epoll_wait)(epfd, ev, max,
                                                                         timeout_ms);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout_ms,
                       const sigset_t *m)
{
    au_epoll(epfd, timeout_ms);
    return REAL(int (*)(int, struct epoll_event *, int, int, const sigset_t *), epoll_pwait)(
        epfd, ev, max, timeout_ms, m);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *tmo,
                        const sigset_t *m)
{
    long ms = tmo ? (long)tmo->tv_sec * 1000 + tmo->tv_nsec / 1000000 : -1;
    au_epoll(epfd, ms > INT_MAX ? INT_MAX : (int)ms);
    return REAL(int (*)(int, struct epoll_event *, int, const struct timespec *,
                        const sigset_t *), epoll_pwait2)(epfd, ev, max, tmo, m);
}

/* A read that blocks on a socket with no SO_RCVTIMEO waits as long as the peer wants. */
static void au_read(int fd, int flags)
{
    if (__builtin_expect(audit_log < 0, 1) || rec_busy || !au_is_sock(fd) || (flags & MSG_DONTWAIT))
        return;
    unsigned char f = atomic_load_explicit(&au_fd[fd], memory_order_relaxed);
    if (f & AU_BLOCKREAD)
        return;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return;
    struct timeval tv = {0, 0};
    socklen_t tl = sizeof(tv);
    bool bounded = getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 &&
                   (tv.tv_sec || tv.tv_usec);
    if (au_once(fd, AU_BLOCKREAD))
        return;
    au_line("\"ev\":\"blocking_read\",\"fd\":%d,\"rcvtimeo_ms\":%ld", fd,
            bounded ? (long)tv.tv_sec * 1000 + tv.tv_usec / 1000 : -1L);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    au_read(fd, 0);
    return REAL(ssize_t (*)(int, void *, size_t), read)(fd, buf, n);
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    au_read(fd, flags);
    return REAL(ssize_t (*)(int, void *, size_t, int), recv)(fd, buf, n, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                        socklen_t *len)
{
    au_read(fd, flags);
    return REAL(ssize_t (*)(int, void *, size_t, int, struct sockaddr *, socklen_t *),
                recvfrom)(fd, buf, n, flags, sa, len);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    au_read(fd, flags);
    return REAL(ssize_t (*)(int, struct msghdr *, int), recvmsg)(fd, msg, flags);
}

/* ---- audit: allocation volume -------------------------------------------------------------- */

/* How much the program asks of malloc and its family: calls, bytes requested by the calls that
 * succeeded (a failed request, often absurd, would drown the volume: it is counted in `failed`
 * only), and calls that returned NULL. Only in audit mode; in crash mode the wrappers are plain
 * forwards.
 *
 * The hot path is three adds to this thread's counters (initial-exec TLS): no lock, no atomic,
 * no reentrancy guard. A thread joins the list of live threads at its first counted call (a
 * lock, once) and registers a pthread key whose destructor folds its counts into
 * au_alloc_gone and takes it off the list when it ends; a call after that (another key's
 * destructor) folds at once. A report sums the ended threads and the live ones (reading their
 * counters while they run: a statistic, not an invariant) and writes one line with what the
 * process asked for since its last line, so lines add up whatever the order: at exit, and
 * before exec and _exit (flush_before_leaving; an exec that fails goes on counting). A fork
 * child starts at 0 (at_fork_child). Allocations made before the constructor ran (the
 * dynamic loader's, other libraries' constructors') are not counted.
 *
 * The real functions come from dlsym(RTLD_NEXT), so that another interposer (the fault
 * preload, an allocator library) still gets the call and free() stays its match. dlsym may
 * allocate (not on success in glibc 2.36, but on failure and in older ones): while it runs on
 * a thread, that thread's calls go to glibc's own __libc_* entry points. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void *__libc_valloc(size_t n);
extern void *__libc_pvalloc(size_t n);

struct au_alloc_count {
    uint64_t calls, bytes, failed;
};

enum au_alloc_state { AU_ALLOC_NEW = 0, AU_ALLOC_LISTED, AU_ALLOC_ENDED };

struct au_alloc_thread {
    struct au_alloc_count c;             /* this thread's counts, not folded yet */
    unsigned char state;                 /* enum au_alloc_state */
    struct au_alloc_thread *prev, *next; /* the live threads (under au_alloc_lock) */
};

static __thread struct au_alloc_thread au_alloc_mine __attribute__((tls_model("initial-exec")));
static __thread int alloc_resolving __attribute__((tls_model("initial-exec"))); /* in dlsym */
static pthread_mutex_t au_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct au_alloc_thread *au_alloc_threads; /* live threads that counted something */
static struct au_alloc_count au_alloc_gone;      /* folded from threads that ended */
static struct au_alloc_count au_alloc_said;      /* already in this process's alloc lines */
static pthread_key_t au_alloc_key;
static bool au_alloc_keyed;
static int rec_ppid; /* the parent when this process (image) started: the audit's main
                        process is the one faultline started */

static void au_alloc_add(struct au_alloc_count *to, const struct au_alloc_count *c)
{
    to->calls += c->calls;
    to->bytes += c->bytes;
    to->failed += c->failed;
}

/* The key's destructor: the thread ends, its counts stay with the process. */
static void au_alloc_thread_end(void *p)
{
    struct au_alloc_thread *t = p;
    pthread_mutex_lock(&au_alloc_lock);
    if (t->state == AU_ALLOC_LISTED) {
        if (t->prev)
            t->prev->next = t->next;
        else
            au_alloc_threads = t->next;
        if (t->next)
            t->next->prev = t->prev;
        t->prev = t->next = NULL;
    }
    au_alloc_add(&au_alloc_gone, &t->c);
    t->c = (struct au_alloc_count){0};
    t->state = AU_ALLOC_ENDED;
    pthread_mutex_unlock(&au_alloc_lock);
}

/* A thread's first counted call, or one after its destructor ran. */
static __attribute__((noinline, cold)) void au_alloc_join(struct au_alloc_thread *t)
{
    int e = errno;
    if (t->state == AU_ALLOC_ENDED) {
        au_alloc_thread_end(t); /* it is off the list: fold at once */
    } else {
        t->state = AU_ALLOC_LISTED; /* first: pthread_setspecific may allocate */
        pthread_mutex_lock(&au_alloc_lock);
        t->prev = NULL;
        t->next = au_alloc_threads;
        if (t->next)
            t->next->prev = t;
        au_alloc_threads = t;
        pthread_mutex_unlock(&au_alloc_lock);
        if (au_alloc_keyed)
            pthread_setspecific(au_alloc_key, t);
    }
    errno = e;
}

/* A failed call, or the thread's first (its bytes were added already). */
static __attribute__((noinline, cold)) void au_alloc_slow(struct au_alloc_thread *t, size_t n,
                                                          bool ok)
{
    if (!ok && n) { /* a NULL for 0 bytes is no failure */
        t->c.bytes -= n;
        t->c.failed++;
    }
    if (t->state != AU_ALLOC_LISTED)
        au_alloc_join(t);
}

/* ok: the call gave what was asked (p != NULL, posix_memalign returned 0) */
static inline __attribute__((always_inline)) void au_alloc_count(size_t n, bool ok)
{
    if (audit_log < 0)
        return;
    struct au_alloc_thread *t = &au_alloc_mine;
    t->c.calls++;
    t->c.bytes += n;
    if (__builtin_expect(!ok || t->state != AU_ALLOC_LISTED, 0))
        au_alloc_slow(t, n, ok);
}

/* One line with what this process asked for since its last one. */
static void au_alloc_report(void)
{
    if (audit_log < 0)
        return;
    pthread_mutex_lock(&au_alloc_lock);
    struct au_alloc_count now = au_alloc_gone;
    for (struct au_alloc_thread *t = au_alloc_threads; t; t = t->next) {
        now.calls += __atomic_load_n(&t->c.calls, __ATOMIC_RELAXED);
        now.bytes += __atomic_load_n(&t->c.bytes, __ATOMIC_RELAXED);
        now.failed += __atomic_load_n(&t->c.failed, __ATOMIC_RELAXED);
    }
    struct au_alloc_count d = {now.calls - au_alloc_said.calls,
                               now.bytes - au_alloc_said.bytes,
                               now.failed - au_alloc_said.failed};
    au_alloc_said = now;
    pthread_mutex_unlock(&au_alloc_lock);
    au_line("\"ev\":\"alloc\",\"ppid\":%d,\"calls\":%llu,\"bytes\":%llu,\"failed\":%llu",
            rec_ppid, (unsigned long long)d.calls, (unsigned long long)d.bytes,
            (unsigned long long)d.failed);
}

/* In a fork child: its own counts, from 0; only the forking thread is left. */
static void au_alloc_forked(void)
{
    pthread_mutex_init(&au_alloc_lock, NULL);
    au_alloc_threads = NULL;
    au_alloc_gone = au_alloc_said = (struct au_alloc_count){0};
    struct au_alloc_thread *t = &au_alloc_mine;
    t->c = (struct au_alloc_count){0};
    t->prev = t->next = NULL;
    if (t->state == AU_ALLOC_LISTED)
        au_alloc_threads = t;
    rec_ppid = (int)getppid();
}

static void au_alloc_start(void)
{
    rec_ppid = (int)getppid();
    au_alloc_keyed = pthread_key_create(&au_alloc_key, au_alloc_thread_end) == 0;
}

/* ---- the allocator's real entry points ---- */

static int fallback_posix_memalign(void **out, size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

static void *(*alloc_malloc)(size_t);
static void *(*alloc_calloc)(size_t, size_t);
static void *(*alloc_realloc)(void *, size_t);
static void *(*alloc_reallocarray)(void *, size_t, size_t);
static int (*alloc_posix_memalign)(void **, size_t, size_t);
static void *(*alloc_aligned_alloc)(size_t, size_t);
static void *(*alloc_memalign)(size_t, size_t);
static void *(*alloc_valloc)(size_t);
static void *(*alloc_pvalloc)(size_t);

#define ALLOC_LOOKUP(name, fallback)                                                          \
    do {                                                                                      \
        __typeof__(alloc_##name) f_ = (__typeof__(alloc_##name))dlsym(RTLD_NEXT, #name);      \
        __atomic_store_n(&alloc_##name, f_ ? f_ : (fallback), __ATOMIC_RELAXED);              \
    } while (0)

/* All of them at once, on the first call of any (on any thread: twice does no harm). A
 * wrapper checks its own pointer, except reallocarray's, which may be NULL. */
static __attribute__((noinline, cold)) void alloc_resolve(void)
{
    alloc_resolving++;
    ALLOC_LOOKUP(reallocarray, NULL); /* NULL: realloc is enough */
    ALLOC_LOOKUP(posix_memalign, fallback_posix_memalign);
    ALLOC_LOOKUP(aligned_alloc, __libc_memalign);
    ALLOC_LOOKUP(memalign, __libc_memalign);
    ALLOC_LOOKUP(valloc, __libc_valloc);
    ALLOC_LOOKUP(pvalloc, __libc_pvalloc);
    ALLOC_LOOKUP(calloc, __libc_calloc);
    ALLOC_LOOKUP(realloc, __libc_realloc);
    ALLOC_LOOKUP(malloc, __libc_malloc);
    alloc_resolving--;
}

/* f_: the real `name`; while dlsym runs on this thread, return `boot` instead. */
#define ALLOC_REAL(name, boot)                                                                \
    __typeof__(alloc_##name) f_ = __atomic_load_n(&alloc_##name, __ATOMIC_RELAXED);            \
    if (__builtin_expect(!f_, 0)) {                                                           \
        if (alloc_resolving)                                                                  \
            return boot;                                                                      \
        alloc_resolve();                                                                      \
        f_ = __atomic_load_n(&alloc_##name, __ATOMIC_RELAXED);                                \
    }

EXPORT void *malloc(size_t n)
{
    ALLOC_REAL(malloc, __libc_malloc(n))
    void *p = f_(n);
    au_alloc_count(n, p != NULL);
    return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
    ALLOC_REAL(calloc, __libc_calloc(n, size))
    void *p = f_(n, size);
    if (audit_log >= 0) {
        size_t bytes;
        bool overflow = __builtin_mul_overflow(n, size, &bytes);
        au_alloc_count(overflow ? SIZE_MAX : bytes, p != NULL);
    }
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    ALLOC_REAL(realloc, __libc_realloc(old, n))
    void *p = f_(old, n);
    au_alloc_count(n, p != NULL); /* realloc(p, 0) frees p and returns NULL: no failure */
    return p;
}

static void *reallocarray_boot(void *old, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(old, bytes);
}

/* glibc's reallocarray is realloc through the PLT, which would count it twice: in audit mode
 * it is done here as glibc does it, and counted once. */
EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    ALLOC_REAL(realloc, reallocarray_boot(old, n, size))
    if (audit_log < 0) {
        void *(*ra)(void *, size_t, size_t) =
            __atomic_load_n(&alloc_reallocarray, __ATOMIC_RELAXED);
        return ra ? ra(old, n, size) : reallocarray_boot(old, n, size);
    }
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        au_alloc_count(SIZE_MAX, false);
        errno = ENOMEM;
        return NULL;
    }
    void *p = f_(old, bytes);
    au_alloc_count(bytes, p != NULL);
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    ALLOC_REAL(posix_memalign, fallback_posix_memalign(out, align, n))
    int r = f_(out, align, n);
    au_alloc_count(n, r == 0);
    return r;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    ALLOC_REAL(aligned_alloc, __libc_memalign(align, n))
    void *p = f_(align, n);
    au_alloc_count(n, p != NULL);
    return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
    ALLOC_REAL(memalign, __libc_memalign(align, n))
    void *p = f_(align, n);
    au_alloc_count(n, p != NULL);
    return p;
}

EXPORT void *valloc(size_t n)
{
    ALLOC_REAL(valloc, __libc_valloc(n))
    void *p = f_(n);
    au_alloc_count(n, p != NULL);
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    ALLOC_REAL(pvalloc, __libc_pvalloc(n))
    void *p = f_(n);
    au_alloc_count(n, p != NULL);
    return p;
}

/* ---- start and end ------------------------------------------------------------------------- */

static void at_fork_prepare(void)
{
    pthread_mutex_lock(&rec_lock);
    batch_flush(); /* or the child would write the parent's records again */
}
static void at_fork_parent(void) { pthread_mutex_unlock(&rec_lock); }
static void at_fork_child(void)
{
    pthread_mutex_init(&rec_lock, NULL);
    rec_pid = (uint32_t)getpid();
    au_alloc_forked();
}

/* What is batched leaves before the process image does: an exec or an _exit runs no atexit
 * handler. glibc's execl, execlp and execle call execve inside libc, past any preload, so
 * they are wrapped too, by building their argv. */
static void flush_before_leaving(void)
{
    if (audit_log < 0 || rec_busy)
        return;
    au_alloc_report();
    rec_busy++;
    pthread_mutex_lock(&rec_lock);
    batch_flush();
    pthread_mutex_unlock(&rec_lock);
    rec_busy--;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    flush_before_leaving();
    return REAL(int (*)(const char *, char *const[], char *const[]), execve)(path, argv, envp);
}
EXPORT int execv(const char *path, char *const argv[])
{
    flush_before_leaving();
    return REAL(int (*)(const char *, char *const[]), execv)(path, argv);
}
EXPORT int execvp(const char *file, char *const argv[])
{
    flush_before_leaving();
    return REAL(int (*)(const char *, char *const[]), execvp)(file, argv);
}
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    flush_before_leaving();
    return REAL(int (*)(const char *, char *const[], char *const[]), execvpe)(file, argv, envp);
}
EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    flush_before_leaving();
    return REAL(int (*)(int, char *const[], char *const[]), fexecve)(fd, argv, envp);
}

#define EXECL_ARGS_MAX 4096
/* argv of an execl-style call, arg0 first, into out (EXECL_ARGS_MAX + 1 slots); false when
 * there are more (E2BIG, as the kernel would say for far fewer than that). */
static bool execl_argv(const char *arg0, va_list ap, char **out, char ***envp)
{
    int n = 0;
    out[n++] = (char *)arg0;
    while (out[n - 1]) {
        if (n > EXECL_ARGS_MAX)
            return false;
        out[n++] = va_arg(ap, char *);
    }
    if (envp)
        *envp = va_arg(ap, char **);
    return true;
}

#define EXECL(name, call, with_env)                                                              \
    EXPORT int name(const char *path, const char *arg0, ...)                                      \
    {                                                                                             \
        char *argv[EXECL_ARGS_MAX + 1];                                                           \
        char **envp = environ;                                                                    \
        va_list ap;                                                                               \
        va_start(ap, arg0);                                                                       \
        bool ok = execl_argv(arg0, ap, argv, with_env ? &envp : NULL);                            \
        va_end(ap);                                                                               \
        if (!ok) {                                                                                \
            errno = E2BIG;                                                                        \
            return -1;                                                                            \
        }                                                                                         \
        return call;                                                                              \
    }
EXECL(execl, execve(path, argv, envp), false)
EXECL(execle, execve(path, argv, envp), true)
EXECL(execlp, execvp(path, argv), false)

EXPORT void _exit(int status)
{
    flush_before_leaving();
    REAL(void (*)(int), _exit)(status);
    __builtin_unreachable();
}
EXPORT void _Exit(int status)
{
    flush_before_leaving();
    REAL(void (*)(int), _Exit)(status);
    __builtin_unreachable();
}

/* Registered first, so it runs after the program's own exit handlers, just before glibc
 * flushes the streams the program left open: flush them now, so their bytes are logged. */
static void at_exit(void)
{
    if (!rec_on)
        return;
    REAL(int (*)(FILE *), fflush)(NULL);
    au_alloc_report();
    if (enter()) {
        scan_all();
        batch_flush();
        leave();
    }
}

__attribute__((constructor)) static void record_init(void)
{
    const char *log = getenv("FAULTLINE_CRASH_LOG");
    const char *root = getenv("FAULTLINE_CRASH_ROOT");
    if (!log || !*log || !root || root[0] != '/')
        return;
    const char *exe = getenv("FAULTLINE_CRASH_EXE");
    if (exe && *exe) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
            self[n] = '\0';
            const char *base = strrchr(self, '/');
            const char *alias = fl_exe_alias(); /* started by a symlink's name */
            const char *abase = alias ? strrchr(alias, '/') : NULL;
            if (fnmatch(exe, base ? base + 1 : self, 0) != 0 && fnmatch(exe, self, 0) != 0 &&
                (!alias || (fnmatch(exe, abase ? abase + 1 : alias, 0) != 0 &&
                            fnmatch(exe, alias, 0) != 0)))
                return;
        }
    }
    snprintf(rec_root, sizeof(rec_root), "%s", root);
    snprintf(rec_log_path, sizeof(rec_log_path), "%s", log);
    rec_pid = (uint32_t)getpid();
    open_log();
    if (rec_log < 0)
        return;
    const char *audit = getenv("FAULTLINE_AUDIT_LOG");
    if (audit && *audit) {
        au_alloc_start(); /* before audit_log is set: the first counted call may join */
        int fd = (int)syscall(SYS_openat, AT_FDCWD, audit, O_WRONLY | O_APPEND | O_CLOEXEC);
        int high = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 1000) : -1;
        if (high >= 0) {
            syscall(SYS_close, fd);
            fd = high;
        }
        audit_log = fd;
        if (fd >= 0)
            au_line("\"ev\":\"start\"");
    }
    pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
    atexit(at_exit);
    rec_on = true;
}
