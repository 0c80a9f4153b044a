/* SPDX-License-Identifier: MIT */
/*
 * observe.c - call sites, and the observer that records a run's fault surface (surface.h).
 *
 * A call's site is its wrapper's return address (fl_call.ret, stored by fl_cand), made
 * relative to the module that holds it with _dl_find_object, so that ASLR does not move it,
 * and hashed with the module's file name. site= rules compare that hash; the observer
 * records it.
 *
 * The observer runs when the control block has FL_CTL_OBSERVE: its bit (63) is a candidate
 * of every call, so every wrapper reaches fl_fire_slow, which calls fl_observe_call with
 * fl_guard held (nothing the observer calls is recorded or faulted). A call is counted at
 * its point, the key hash of (call's base name, subject, site), in the shared table:
 *   1. the subject: for an fd, a hash cached per fd (fstat, readlink, getpeername once per
 *      fd, forgotten with fl_fd_forget), with its text kept by hash for the points claimed
 *      later (a socket's peer is gone once the connection ended: its name is what it was
 *      when first seen); else the path, address or host of this call;
 *   2. the point: open addressing from the key; a free slot is claimed by a compare-and-swap
 *      of its key from 0, and its claimer writes the strings, then publishes `ready`
 *      (release); a point found by key is only counted, ready or not;
 *   3. count, first_seq (an atomic minimum) and last_seq (an atomic maximum).
 * No lock, no allocation: it runs inside malloc and in fork children of threaded programs.
 * Calls the preload makes on its own behalf (reallocarray calling realloc) have their site
 * inside the preload and are not recorded: the program's call was.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fl_config.h"
#include "preload.h"
#include "prng.h"
#include "surface.h"

#define FL_SURF_PROBE_MAX 512 /* slots tried from a key's home before the call is overflow */
#define FL_SITE_MEMO 16       /* per-thread memo of return address -> site hash */
#define FL_SUBJ_HASH_BITS 52
#define FL_SUBJ_HASH_MASK ((UINT64_C(1) << FL_SUBJ_HASH_BITS) - 1)
#define FL_OBS_VALID (UINT64_C(1) << 63)
#define FL_SUBJ_NAMES 2048    /* fd subjects' texts kept per process, by entry (a power of two) */
#define FL_SUBJ_NAME_PROBES 64

static struct fl_surface *fl_surf;        /* NULL: not observing */
static size_t fl_surf_base_len;
/* Per fd: FL_OBS_VALID | fd kind << 56 | subject kind << 52 | the subject's 52-bit hash. */
static _Atomic uint64_t *fl_obs_fdtab;
static uint16_t fl_op_base[FL_OP_COUNT];  /* the first op with the same base name */
static uintptr_t fl_self_start, fl_self_end; /* the preload's own mapping */
static _Atomic int fl_surf_counted;       /* this process is counted in `processes` */

struct fl_site_memo {
    const void *pc;
    uint32_t site;
};
static FL_TLS struct fl_site_memo fl_site_memo[FL_SITE_MEMO];

/* ---- sites ------------------------------------------------------------------------------- */

static const char *fl_basename(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* The site of ret: its module's file name and offset (for the table), and its hash. */
static uint32_t fl_site_resolve(const void *ret, uint64_t *offset, char *module, size_t len)
{
    const char *name = "?";
    uint64_t off = (uintptr_t)ret;
#if FL_HAVE_DL_FIND_OBJECT
    struct dl_find_object fo;
    if (_dl_find_object((void *)ret, &fo) == 0 && fo.dlfo_link_map) {
        const struct link_map *lm = fo.dlfo_link_map;
        off = (uintptr_t)ret - (uintptr_t)lm->l_addr;
        /* the main program's link map has no name */
        name = lm->l_name && lm->l_name[0] ? fl_basename(lm->l_name) : fl_exe_name;
        if (!name[0])
            name = "?";
    }
#endif
    if (offset)
        *offset = off;
    if (module && len) {
        size_t n = strlen(name);
        if (n >= len)
            n = len - 1;
        memcpy(module, name, n);
        module[n] = '\0';
    }
    return fl_surf_site_hash(name, off);
}

uint32_t fl_site_of(const void *ret)
{
    uintptr_t pc = (uintptr_t)ret;
    struct fl_site_memo *m = &fl_site_memo[(pc ^ (pc >> 6) ^ (pc >> 12)) % FL_SITE_MEMO];
    if (FL_LIKELY(m->pc == ret))
        return m->site;
    uint32_t site = fl_site_resolve(ret, NULL, NULL, 0);
    m->pc = ret;
    m->site = site;
    return site;
}

/* ---- subjects ---------------------------------------------------------------------------- */

struct fl_subject {
    uint8_t kind;                     /* enum fl_surf_subject */
    uint8_t fd_kind;                  /* FL_KIND_*, 0 when not an fd */
    uint8_t flags;                    /* FL_SURF_CUT, FL_SURF_BASE */
    char text[FL_SURF_SUBJECT_MAX];
};

/* The text of an fd subject, by its entry: written once by whoever claims the slot, then
 * read only, so a reader that sees `ready` sees the whole text. */
struct fl_subject_name {
    _Atomic uint64_t entry;           /* 0: free */
    _Atomic uint32_t ready;
    struct fl_subject subject;
};
static struct fl_subject_name *fl_subject_names; /* FL_SUBJ_NAMES, private to the process */

static void fl_subject_set(struct fl_subject *t, unsigned kind, const char *text)
{
    t->kind = (uint8_t)kind;
    size_t n = strlen(text);
    if (n >= sizeof(t->text)) {
        n = sizeof(t->text) - 1;
        t->flags |= FL_SURF_CUT;
    }
    memcpy(t->text, text, n);
    t->text[n] = '\0';
}

/* A path as its subject: relative to the base directory when inside it. */
static void fl_subject_path(struct fl_subject *t, const char *abs)
{
    const char *base = fl_surf->base;
    size_t bl = fl_surf_base_len;
    if (abs[0] == '/' && strncmp(abs, base, bl) == 0 && (abs[bl] == '/' || abs[bl] == '\0')) {
        const char *rel = abs[bl] ? abs + bl + 1 : abs + bl;
        if (!rel[0]) {
            t->flags |= FL_SURF_BASE;
            rel = ".";
        }
        fl_subject_set(t, FL_SURF_PATH_REL, rel);
    } else {
        fl_subject_set(t, FL_SURF_PATH_ABS, abs);
    }
}

static char *fl_put_uint(char *p, unsigned long v)
{
    char d[24];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(d));
    while (n)
        *p++ = d[--n];
    *p = '\0';
    return p;
}

/* "1.2.3.4:80", "[::1]:80"; false for a family with no address of that form. */
static bool fl_format_inet(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port;
    char *p = out;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
            return false;
        port = ntohs(in->sin_port);
        if (strlen(ip) + 8 > cap)
            return false;
        p = stpcpy(p, ip);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
            return false;
        port = ntohs(in6->sin6_port);
        if (strlen(ip) + 10 > cap)
            return false;
        *p++ = '[';
        p = stpcpy(p, ip);
        *p++ = ']';
    } else {
        return false;
    }
    *p++ = ':';
    fl_put_uint(p, port);
    return true;
}

static void fl_subject_addr(struct fl_subject *t, const struct sockaddr *sa, socklen_t len)
{
    char text[INET6_ADDRSTRLEN + 16];
    t->fd_kind = FL_KIND_SOCKET;
    if (sa && fl_format_inet(sa, len, text, sizeof(text)))
        fl_subject_set(t, FL_SURF_PEER, text);
    else
        fl_subject_set(t, FL_SURF_SOCKET, sa && sa->sa_family == AF_UNIX ? "unix" : "socket");
}

static void fl_subject_socket(struct fl_subject *t, int fd)
{
    struct sockaddr_storage ss;
    socklen_t l = sizeof(ss);
    char text[INET6_ADDRSTRLEN + 16];
    if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0 &&
        fl_format_inet((struct sockaddr *)&ss, l, text, sizeof(text))) {
        fl_subject_set(t, FL_SURF_PEER, text);
        return;
    }
    l = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &l) == 0) {
        int listening = 0;
        socklen_t al = sizeof(listening);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &al) == 0 && listening &&
            fl_format_inet((struct sockaddr *)&ss, l, text, sizeof(text))) {
            fl_subject_set(t, FL_SURF_LISTEN, text);
            return;
        }
        if (ss.ss_family == AF_UNIX) {
            fl_subject_set(t, FL_SURF_SOCKET, "unix");
            return;
        }
    }
    fl_subject_set(t, FL_SURF_SOCKET, "socket");
}

static void fl_subject_fd(struct fl_subject *t, int fd)
{
    static const char *const stdio_names[] = {"stdin", "stdout", "stderr"};
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fl_subject_set(t, FL_SURF_OTHER, "badfd");
        return;
    }
    unsigned kind = fl_kind_of(st.st_mode);
    t->fd_kind = (uint8_t)kind;
    if (fd <= 2 && !S_ISREG(st.st_mode)) {
        fl_subject_set(t, FL_SURF_STDIO, stdio_names[fd]);
        return;
    }
    if (kind == FL_KIND_SOCKET) {
        fl_subject_socket(t, fd);
        return;
    }
    if (kind == FL_KIND_PIPE) {
        fl_subject_set(t, FL_SURF_OTHER, "pipe");
        return;
    }
    char link[32] = "/proc/self/fd/", path[PATH_MAX];
    fl_put_uint(link + 14, (unsigned long)fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0) {
        fl_subject_set(t, FL_SURF_OTHER, kind == FL_KIND_FILE ? "file" : "other");
        return;
    }
    path[n] = '\0';
    if (n > 10 && strcmp(path + n - 10, " (deleted)") == 0)
        path[n - 10] = '\0';
    if (kind == FL_KIND_OTHER) {
        /* a terminal's name changes from run to run; /dev/null does not */
        if (!strncmp(path, "/dev/pts/", 9) || !strncmp(path, "/dev/tty", 8) ||
            !strcmp(path, "/dev/console"))
            fl_subject_set(t, FL_SURF_OTHER, "tty");
        else if (path[0] == '/')
            fl_subject_path(t, path);
        else
            fl_subject_set(t, FL_SURF_OTHER, path); /* anon_inode:[eventfd] */
        return;
    }
    fl_subject_path(t, path);
}

/* The subject of the current call (fl_call), as text. */
static void fl_subject_now(struct fl_subject *t)
{
    memset(t, 0, offsetof(struct fl_subject, text) + 1);
    switch (fl_call.subj) {
    case FL_SUBJ_FD:
        fl_subject_fd(t, fl_call.fd);
        break;
    case FL_SUBJ_PATH: {
        char buf[PATH_MAX];
        fl_subject_path(t, fl_abs_path(fl_call.dirfd, fl_call.path, buf, sizeof(buf)));
        break;
    }
    case FL_SUBJ_ADDR:
        fl_subject_addr(t, fl_call.addr, fl_call.addrlen);
        break;
    case FL_SUBJ_HOST:
        fl_subject_set(t, FL_SURF_HOST, fl_call.path ? fl_call.path : "");
        break;
    default:
        fl_subject_set(t, FL_SURF_NONE, "");
    }
}

static uint64_t fl_subject_hash(const struct fl_subject *t)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ t->kind;
    for (const unsigned char *p = (const unsigned char *)t->text; *p; p++)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    return fl_mix64(h) & FL_SUBJ_HASH_MASK;
}

static uint64_t fl_subject_entry(const struct fl_subject *t)
{
    return FL_OBS_VALID | (uint64_t)t->fd_kind << 56 | (uint64_t)t->kind << 52 |
           fl_subject_hash(t);
}

static void fl_subject_keep(uint64_t entry, const struct fl_subject *t)
{
    for (unsigned i = 0; fl_subject_names && i < FL_SUBJ_NAME_PROBES; i++) {
        struct fl_subject_name *n = &fl_subject_names[(entry + i) & (FL_SUBJ_NAMES - 1)];
        uint64_t e = atomic_load_explicit(&n->entry, memory_order_acquire);
        if (e == entry)
            return;
        if (e == 0 && atomic_compare_exchange_strong(&n->entry, &e, entry)) {
            n->subject = *t;
            atomic_store_explicit(&n->ready, 1, memory_order_release);
            return;
        }
        if (e == entry)
            return;
    }
}

/* The text kept for an fd subject's entry; false if none (the table was full). */
static bool fl_subject_recall(uint64_t entry, struct fl_subject *t)
{
    for (unsigned i = 0; fl_subject_names && i < FL_SUBJ_NAME_PROBES; i++) {
        struct fl_subject_name *n = &fl_subject_names[(entry + i) & (FL_SUBJ_NAMES - 1)];
        uint64_t e = atomic_load_explicit(&n->entry, memory_order_acquire);
        if (e == 0)
            return false;
        if (e == entry) {
            if (!atomic_load_explicit(&n->ready, memory_order_acquire))
                return false;
            *t = n->subject;
            return true;
        }
    }
    return false;
}

/* The fd's cached subject entry, computed on first use. */
static uint64_t fl_fd_subject(int fd)
{
    bool cached = fl_obs_fdtab && fd >= 0 && fd < FL_FDTAB_SIZE;
    if (cached) {
        uint64_t v = atomic_load_explicit(&fl_obs_fdtab[fd], memory_order_relaxed);
        if (FL_LIKELY(v & FL_OBS_VALID))
            return v;
    }
    struct fl_subject t;
    memset(&t, 0, offsetof(struct fl_subject, text) + 1);
    fl_subject_fd(&t, fd);
    uint64_t v = fl_subject_entry(&t);
    fl_subject_keep(v, &t);
    if (cached)
        atomic_store_explicit(&fl_obs_fdtab[fd], v, memory_order_relaxed);
    return v;
}

void fl_observe_fd_forget(int fd)
{
    if (fl_obs_fdtab && fd >= 0 && fd < FL_FDTAB_SIZE)
        atomic_store_explicit(&fl_obs_fdtab[fd], 0, memory_order_relaxed);
}

/* ---- points ------------------------------------------------------------------------------ */

static void fl_atomic_min(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while ((cur == 0 || v < cur) &&
           !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static void fl_atomic_max(_Atomic uint64_t *a, uint64_t v)
{
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

/* Write a point just claimed, then publish it. t: the call's subject, or NULL for an fd's
 * (found by its entry). */
static void fl_point_fill(struct fl_surf_point *p, int op, uint32_t site, const void *ret,
                          const struct fl_subject *t, uint64_t entry)
{
    struct fl_subject now;
    if (!t) {
        if (!fl_subject_recall(entry, &now))
            fl_subject_now(&now);
        t = &now;
    }
    p->op = (uint16_t)op;
    p->subject_kind = t->kind;
    p->fd_kind = t->fd_kind;
    p->flags = t->flags;
    p->site = site;
    fl_site_resolve(ret, &p->site_offset, p->module, sizeof(p->module));
    fl_op_base_name(fl_op_table[op].name, p->call, sizeof(p->call));
    memcpy(p->subject, t->text, sizeof(p->subject));
    atomic_fetch_add_explicit(&fl_surf->npoints, 1, memory_order_relaxed);
    atomic_store_explicit(&p->ready, 1, memory_order_release);
}

static struct fl_surf_point *fl_point_find(uint64_t key, int op, uint32_t site, const void *ret,
                                           const struct fl_subject *t, uint64_t entry)
{
    for (uint64_t i = 0; i < FL_SURF_PROBE_MAX; i++) {
        struct fl_surf_point *p = &fl_surf->points[(key + i) & (FL_SURF_POINTS_MAX - 1)];
        uint64_t k = atomic_load_explicit(&p->key, memory_order_acquire);
        if (k == key)
            return p;
        if (k != 0)
            continue;
        if (atomic_compare_exchange_strong(&p->key, &k, key)) {
            fl_point_fill(p, op, site, ret, t, entry);
            return p;
        }
        if (k == key) /* claimed for this very point meanwhile */
            return p;
    }
    return NULL;
}

void fl_observe_call(void)
{
    struct fl_surface *s = fl_surf;
    const void *ret = fl_call.ret;
    int op = fl_call.op;
    if (!s || (unsigned)op >= FL_OP_COUNT ||
        ((uintptr_t)ret >= fl_self_start && (uintptr_t)ret < fl_self_end))
        return;
    if (!atomic_load_explicit(&fl_surf_counted, memory_order_relaxed) &&
        !atomic_exchange(&fl_surf_counted, 1))
        atomic_fetch_add(&s->processes, 1);
    uint64_t seq = atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed) + 1;
    uint32_t site = fl_site_of(ret);
    struct fl_subject t;
    const struct fl_subject *text = NULL;
    uint64_t entry;
    if (fl_call.subj == FL_SUBJ_FD) {
        entry = fl_fd_subject(fl_call.fd);
    } else {
        fl_subject_now(&t);
        entry = fl_subject_entry(&t);
        text = &t;
    }
    uint64_t key = fl_mix3(entry & ~FL_OBS_VALID, fl_op_base[op], site);
    key += !key; /* 0 marks a free slot */
    struct fl_surf_point *p = fl_point_find(key, op, site, ret, text, entry);
    if (!p) {
        atomic_fetch_add_explicit(&s->overflow, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&p->count, 1, memory_order_relaxed);
    fl_atomic_min(&p->first_seq, seq);
    fl_atomic_max(&p->last_seq, seq);
}

/* ---- start-up ------------------------------------------------------------------------------ */

/* A forked child records as a process of its own (counted at its first call). */
static void fl_observe_atfork_child(void)
{
    atomic_store(&fl_surf_counted, 0);
}

void fl_observe_init(void)
{
    const char *path = getenv(FL_SURF_ENV);
    if (!path || !*path)
        return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    struct fl_surface *s = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == sizeof(*s))
        s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    syscall(SYS_close, fd);
    if (s == MAP_FAILED)
        return;
    size_t bl = strnlen(s->base, sizeof(s->base));
    if (s->magic != FL_SURF_MAGIC || s->version != FL_SURF_VERSION || s->size != sizeof(*s) ||
        bl == sizeof(s->base)) {
        munmap(s, sizeof(*s));
        return;
    }
    fl_surf_base_len = bl;
    void *tab = mmap(NULL, FL_FDTAB_SIZE * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fl_obs_fdtab = tab == MAP_FAILED ? NULL : tab;
    void *names = mmap(NULL, FL_SUBJ_NAMES * sizeof(struct fl_subject_name),
                       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fl_subject_names = names == MAP_FAILED ? NULL : names;
    /* a point is named by its call's base name: op's variants share one */
    char bases[FL_OP_COUNT][FL_SURF_CALL_MAX];
    for (int op = 0; op < FL_OP_COUNT; op++) {
        fl_op_base_name(fl_op_table[op].name, bases[op], sizeof(bases[op]));
        fl_op_base[op] = (uint16_t)op;
        for (int j = 0; j < op; j++)
            if (strcmp(bases[j], bases[op]) == 0) {
                fl_op_base[op] = (uint16_t)j;
                break;
            }
    }
#if FL_HAVE_DL_FIND_OBJECT
    struct dl_find_object fo;
    if (_dl_find_object((void *)fl_observe_init, &fo) == 0) {
        fl_self_start = (uintptr_t)fo.dlfo_map_start;
        fl_self_end = (uintptr_t)fo.dlfo_map_end;
    }
#endif
    pthread_atfork(NULL, NULL, fl_observe_atfork_child);
    fl_surf = s;
}
