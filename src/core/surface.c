/* SPDX-License-Identifier: MIT */
/*
 * surface.c - the CLI's side of the fault surface table (surface.h): create it, read its
 * points, and turn each point into the rule text that selects it.
 *
 * The preload fills the table (src/preload/observe.c); this side only creates, reads and
 * removes it. A point's rule must parse back with fl_rule_parse and select that point: its
 * call by name, its subject by the selector the preload matches on (path=, peer=, port=,
 * host= or kind=), its site by site=. Paths become globs, so their glob characters are
 * quoted for the glob ('\*'), and then every '\' and ':' for the rule's tokenizer ('\\*').
 */
#include "surface.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlblock.h"
#include "ops.h"
#include "prng.h"

/* ---- the table ------------------------------------------------------------------------------ */

int fl_surface_create(const char *path, const char *base, struct fl_surface_handle **out,
                      struct fl_err *err)
{
    if (strlen(path) >= sizeof((*out)->path))
        return fl_err_set(err, ENAMETOOLONG, "%s: path too long", path);
    char abs[PATH_MAX];
    if (!realpath(base, abs))
        return fl_err_set(err, errno, "%s: cannot use as the surface's base directory: %s", base,
                          strerror(errno));
    /* "/" is stored as "": every path is then inside it, relative to it */
    size_t blen = strlen(abs);
    if (blen == 1)
        blen = 0;
    if (blen >= FL_SURF_BASE_MAX)
        return fl_err_set(err, ENAMETOOLONG, "%s: base directory path too long (at most %d)",
                          abs, FL_SURF_BASE_MAX - 1);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: cannot create surface table: %s", path,
                          strerror(errno));
    int rc = 0;
    struct fl_surface *s = MAP_FAILED;
    if (ftruncate(fd, sizeof(*s)) < 0)
        rc = fl_err_set(err, errno, "%s: cannot size surface table: %s", path, strerror(errno));
    else if ((s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
        rc = fl_err_set(err, errno, "%s: cannot map surface table: %s", path, strerror(errno));
    close(fd);
    struct fl_surface_handle *h = rc ? NULL : calloc(1, sizeof(*h));
    if (!rc && !h)
        rc = fl_err_set(err, ENOMEM, "out of memory");
    if (rc) {
        if (s != MAP_FAILED)
            munmap(s, sizeof(*s));
        unlink(path);
        return rc;
    }
    /* a fresh file is all zeros: every point free, every counter 0 */
    s->version = FL_SURF_VERSION;
    s->size = sizeof(*s);
    memcpy(s->base, abs, blen);
    s->base[blen] = '\0';
    /* magic last: a preload that sees it sees a complete header */
    atomic_thread_fence(memory_order_release);
    s->magic = FL_SURF_MAGIC;
    h->s = s;
    snprintf(h->path, sizeof(h->path), "%s", path);
    *out = h;
    return 0;
}

int fl_surface_open(const char *path, struct fl_surface_handle **out, struct fl_err *err)
{
    if (strlen(path) >= sizeof((*out)->path))
        return fl_err_set(err, ENAMETOOLONG, "%s: path too long", path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: cannot open surface table: %s", path, strerror(errno));
    struct stat st;
    struct fl_surface *s = MAP_FAILED;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size == sizeof(*s))
        s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (s == MAP_FAILED)
        return fl_err_set(err, EINVAL, "%s: not a faultline surface table", path);
    if (s->magic != FL_SURF_MAGIC || s->version != FL_SURF_VERSION || s->size != sizeof(*s)) {
        munmap(s, sizeof(*s));
        return fl_err_set(err, EINVAL, "%s: not a faultline surface table of this version",
                          path);
    }
    struct fl_surface_handle *h = calloc(1, sizeof(*h));
    if (!h) {
        munmap(s, sizeof(*s));
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    h->s = s;
    snprintf(h->path, sizeof(h->path), "%s", path);
    *out = h;
    return 0;
}

void fl_surface_close(struct fl_surface_handle *h, bool remove)
{
    if (!h)
        return;
    munmap(h->s, sizeof(*h->s));
    if (remove)
        unlink(h->path);
    free(h);
}

void fl_surface_default_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/faultline-surface-%d-%016llx", fl_ctl_runtime_dir(), (int)getpid(),
             (unsigned long long)fl_seed_from_entropy());
}

/* ---- points -------------------------------------------------------------------------------- */

static int by_first_seq(const void *a, const void *b)
{
    const struct fl_surf_point *p = *(const struct fl_surf_point *const *)a;
    const struct fl_surf_point *q = *(const struct fl_surf_point *const *)b;
    uint64_t x = atomic_load_explicit(&((struct fl_surf_point *)p)->first_seq,
                                      memory_order_relaxed);
    uint64_t y = atomic_load_explicit(&((struct fl_surf_point *)q)->first_seq,
                                      memory_order_relaxed);
    if (x != y)
        return x < y ? -1 : 1;
    return p < q ? -1 : p > q;
}

int fl_surface_points(const struct fl_surface_handle *h, const struct fl_surf_point ***out,
                      size_t *n)
{
    struct fl_surface *s = h->s;
    const struct fl_surf_point **v = malloc(sizeof(*v) * FL_SURF_POINTS_MAX);
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < FL_SURF_POINTS_MAX; i++)
        if (atomic_load_explicit(&s->points[i].ready, memory_order_acquire))
            v[k++] = &s->points[i];
    qsort(v, k, sizeof(*v), by_first_seq);
    *out = v;
    *n = k;
    return 0;
}

/* ---- rule text ------------------------------------------------------------------------------ */

static const char *const subject_names[FL_SURF_SUBJECT_KINDS] = {
    [FL_SURF_NONE] = "none",         [FL_SURF_PATH_REL] = "path_rel",
    [FL_SURF_PATH_ABS] = "path_abs", [FL_SURF_PEER] = "peer",
    [FL_SURF_LISTEN] = "listen",     [FL_SURF_SOCKET] = "socket",
    [FL_SURF_HOST] = "host",         [FL_SURF_STDIO] = "stdio",
    [FL_SURF_OTHER] = "other",
};

const char *fl_surf_subject_name(unsigned kind)
{
    return kind < FL_SURF_SUBJECT_KINDS ? subject_names[kind] : "?";
}

const char *fl_surf_fd_kind_name(unsigned fd_kind)
{
    switch (fd_kind) {
    case FL_KIND_FILE:
        return "file";
    case FL_KIND_PIPE:
        return "pipe";
    case FL_KIND_SOCKET:
        return "socket";
    case FL_KIND_OTHER:
        return "other";
    default:
        return NULL;
    }
}

/* A bounded string builder: once something did not fit, `ok` stays false. */
struct rbuf {
    char *buf;
    size_t len, n;
    bool ok;
};

static void rb_putc(struct rbuf *b, char c)
{
    if (b->n + 1 >= b->len) {
        b->ok = false;
        return;
    }
    b->buf[b->n++] = c;
    b->buf[b->n] = '\0';
}

static void rb_puts(struct rbuf *b, const char *s)
{
    while (*s)
        rb_putc(b, *s++);
}

/* A literal string as a glob inside a rule: glob characters quoted for the glob, then '\',
 * ':', and the blank and '#' a rules file would take for a comment, quoted for the tokenizer;
 * control characters (a tab, a newline: no rules file can carry them) become '?', which
 * matches them.
 * Adds to *glob_len the glob's length as the parser will see it (its limit is FL_GLOB_MAX). */
static void rb_put_glob_literal(struct rbuf *b, const char *s, size_t *glob_len)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char c = (char)*p;
        if (*p < 0x20 || *p == 0x7f) {
            rb_putc(b, '?');
            *glob_len += 1;
        } else if (c == '*' || c == '?' || c == '[' || c == '\\') {
            rb_puts(b, "\\\\"); /* the glob's '\', quoted for the tokenizer */
            if (c == '\\')
                rb_putc(b, '\\'); /* ... followed by the '\' itself, quoted too */
            rb_putc(b, c);
            *glob_len += 2;
        } else if (c == ':' || c == ' ' || c == '#') {
            rb_putc(b, '\\');
            rb_putc(b, c);
            *glob_len += 1;
        } else {
            rb_putc(b, c);
            *glob_len += 1;
        }
    }
}

/* The name the rule's WHERE uses: the base name when it is itself a call (write, read,
 * open), else the recorded symbol (__uflow), which covers the same variants. */
static const char *where_name(const struct fl_surf_point *p)
{
    if (p->op >= FL_OP_COUNT)
        return NULL;
    for (int i = 0; i < FL_OP_COUNT; i++)
        if (strcmp(fl_op_table[i].name, p->call) == 0)
            return p->call;
    return fl_op_table[p->op].name;
}

int fl_surface_point_rule(const struct fl_surf_point *p, char *buf, size_t len)
{
    if (!buf || len == 0)
        return -1;
    buf[0] = '\0';
    const char *where = where_name(p);
    if (!where)
        return -1;
    /* the fields are fixed-size; never trust their terminators */
    char subject[FL_SURF_SUBJECT_MAX];
    memcpy(subject, p->subject, sizeof(subject));
    subject[sizeof(subject) - 1] = '\0';
    bool cut = p->flags & FL_SURF_CUT;
    struct rbuf b = {buf, len, 0, true};
    rb_puts(&b, where);
    size_t glob_len = 0;
    const char *kind = fl_surf_fd_kind_name(p->fd_kind);
    switch (p->subject_kind) {
    case FL_SURF_PATH_REL:
    case FL_SURF_PATH_ABS:
        if (p->flags & FL_SURF_BASE) {
            if (kind) {
                rb_puts(&b, ":kind=");
                rb_puts(&b, kind);
            }
            break;
        }
        rb_puts(&b, ":path=");
        if (p->subject_kind == FL_SURF_PATH_REL) {
            /* inside the base: any directory that holds this relative path */
            rb_puts(&b, "*/");
            glob_len += 2;
        }
        rb_put_glob_literal(&b, subject, &glob_len);
        if (cut) {
            rb_putc(&b, '*'); /* the rest of a path too long to keep */
            glob_len++;
        }
        if (glob_len >= FL_GLOB_MAX)
            return -1;
        break;
    case FL_SURF_PEER:
        if (cut || !subject[0])
            return -1;
        rb_puts(&b, ":peer=");
        rb_puts(&b, subject); /* 127.0.0.1:6379 and [::1]:80 are what peer= reads */
        break;
    case FL_SURF_LISTEN: {
        const char *colon = strrchr(subject, ':');
        if (cut || !colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
            return -1;
        rb_puts(&b, ":port=");
        rb_puts(&b, colon + 1);
        break;
    }
    case FL_SURF_HOST:
        if (!subject[0])
            break; /* getaddrinfo(NULL, service): any host= would exclude it */
        rb_puts(&b, ":host=");
        rb_put_glob_literal(&b, subject, &glob_len);
        if (cut) {
            rb_putc(&b, '*');
            glob_len++;
        }
        if (glob_len >= FL_HOST_MAX)
            return -1;
        break;
    case FL_SURF_SOCKET:
    case FL_SURF_STDIO:
    case FL_SURF_OTHER:
        /* no name to match: the fd's kind narrows the site's calls to this one's */
        if (kind) {
            rb_puts(&b, ":kind=");
            rb_puts(&b, kind);
        }
        break;
    case FL_SURF_NONE:
        break;
    default:
        return -1;
    }
    char site[24];
    snprintf(site, sizeof(site), ":site=%08x", (unsigned)p->site);
    rb_puts(&b, site);
    return b.ok ? (int)b.n : -1;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

/* A fixed-size field as a JSON string (cut at its end if the writer left no terminator). */
static json_t *field_string(const char *f, size_t size)
{
    size_t n = strnlen(f, size);
    return json_stringn(f, n);
}

json_t *fl_surface_json(const struct fl_surface_handle *h)
{
    struct fl_surface *s = h->s;
    const struct fl_surf_point **v;
    size_t n;
    if (fl_surface_points(h, &v, &n) < 0)
        return NULL;
    json_t *points = json_array();
    for (size_t i = 0; i < n; i++) {
        struct fl_surf_point *p = (struct fl_surf_point *)v[i];
        char site[16], rule[2048];
        snprintf(site, sizeof(site), "%08x", (unsigned)p->site);
        const char *fd_kind = fl_surf_fd_kind_name(p->fd_kind);
        json_t *o = json_object();
        json_object_set_new(o, "call", field_string(p->call, sizeof(p->call)));
        json_object_set_new(o, "subject", field_string(p->subject, sizeof(p->subject)));
        json_object_set_new(o, "subject_kind", json_string(fl_surf_subject_name(p->subject_kind)));
        json_object_set_new(o, "fd_kind", fd_kind ? json_string(fd_kind) : json_null());
        json_object_set_new(o, "site", json_string(site));
        json_object_set_new(o, "module", field_string(p->module, sizeof(p->module)));
        json_object_set_new(o, "offset", json_integer((json_int_t)p->site_offset));
        json_object_set_new(o, "count", json_integer((json_int_t)atomic_load(&p->count)));
        json_object_set_new(o, "first_seq", json_integer((json_int_t)atomic_load(&p->first_seq)));
        json_object_set_new(o, "last_seq", json_integer((json_int_t)atomic_load(&p->last_seq)));
        if (p->flags & FL_SURF_CUT)
            json_object_set_new(o, "subject_cut", json_true());
        json_object_set_new(o, "rule", fl_surface_point_rule(p, rule, sizeof(rule)) >= 0
                                           ? json_string(rule)
                                           : json_null());
        json_array_append_new(points, o);
    }
    free(v);
    json_t *totals = json_pack("{s:I, s:I, s:I, s:I}", "calls", (json_int_t)atomic_load(&s->seq),
                               "points", (json_int_t)atomic_load(&s->npoints), "overflow",
                               (json_int_t)atomic_load(&s->overflow), "processes",
                               (json_int_t)atomic_load(&s->processes));
    char base[FL_SURF_BASE_MAX + 1];
    memcpy(base, s->base, FL_SURF_BASE_MAX);
    base[FL_SURF_BASE_MAX] = '\0';
    return json_pack("{s:s, s:o, s:o}", "base", base[0] ? base : "/", "totals", totals,
                     "points", points);
}
