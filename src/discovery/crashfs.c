/* SPDX-License-Identifier: MIT */
/*
 * crashfs.c - crash states from a snapshot and an event log (see crashfs.h for the models).
 *
 * Divisions:
 *   1. names and limits
 *   2. open: load the snapshot, replay the whole log once against it ("the live replay"),
 *      resolving every event to inodes and directories, and learning per event what the
 *      models need (did a write extend the file, did a rename replace a file, ...)
 *   3. durability: for every event, the first event after which the model trusts it to be on
 *      disk (durable_at); posix from fsyncs, ext4 from journal commits
 *   4. states at a cut: the pending events, the recipes (all-lost, none-lost, ...), each
 *      turned into a set of lost events under the model's ordering rules, deduplicated, capped
 *   5. building a state (replay of the kept events on a clone of the base tree): materialise,
 *      digest, verify
 *   6. classify and explain
 *
 * The live replay is what makes the rest simple: after it every event names the inodes it
 * touches, so a state is only "which events to apply", and applying a subset can never fail
 * (names are set and removed by assignment; data goes to inodes, named or not).
 */
#include "crashfs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crashtree.h"
#include "err.h"

#define NEVER UINT32_MAX

/* What an event does to the tree when it is applied. */
enum act {
    A_NONE = 0,
    A_WRITE,    /* ino, off, len, data_off */
    A_TRUNC,    /* ino, len = the new size */
    A_ZERO,     /* ino, [off, off + len) reads as zeros; extend: the size may grow */
    A_EXTEND,   /* ino: the size becomes at least off + len (fallocate mode 0) */
    A_SET,      /* (dir, name) -> ino */
    A_UNSET,    /* (dir, name) removed; ino is what it named */
    A_RENAME,   /* (dir, name) -> (dir2, name2), ino moved, ino2 what it replaced or CT_NONE */
    A_EXCHANGE, /* (dir, name) <-> (dir2, name2): ino and ino2 swap */
};

/* What an event means for durability. */
enum cls {
    C_NONE = 0,
    C_DATA,      /* file contents: write, truncate, fallocate */
    C_NAME,      /* directory entries: create, mkdir, rename, link, unlink, rmdir */
    C_FLUSH,     /* ext4: a close that allocates a truncated file's delayed data */
    C_FSYNC,     /* ino */
    C_FDATASYNC, /* ino */
    C_DIRSYNC,   /* ino is the directory */
    C_SYNC,
    C_MARK,
};

struct evx {
    uint8_t act, cls;
    bool ordered;       /* ext4: part of the journal's ordered stream of metadata */
    bool allocating;    /* a write that extends its file (ext4: blocks allocated later) */
    bool flush;         /* ext4: allocates ino's delayed data first (rename over a file) */
    bool created;       /* A_SET that made its inode (open O_CREAT, mkdir), not a link */
    bool extend;        /* A_ZERO may grow the file */
    bool msync;         /* a WRITE that is durable once issued */
    uint32_t ino, ino2, dir, dir2;
    const char *name, *name2;
    uint32_t nlen, n2len;
    uint64_t off, len, data_off;
    uint64_t size_before, size_after; /* data events: the file's size around the call */
    uint32_t trunc_before; /* writes: the last truncate of the file before it, or NEVER */
    uint32_t durable_at;   /* the first event after which the model trusts this one */
    uint32_t flushed_by;   /* ext4 writes: the flush event that allocates them, or NEVER */
    const char *known;     /* the file's name when this happened, for labels: the event's own
                              path, else the last name the log gave the inode (fd-only calls) */
    uint32_t known_len;
};

struct fl_crashfs {
    enum fl_crash_model model;
    struct fl_crashfs_limits lim;
    struct ct_limits tlim;
    const struct fl_crashlog *log;
    char *snap_dir;
    char **snap_paths;
    uint32_t nsnap;
    void *pool;
    struct ct_tree base;  /* the snapshot plus every inode the log creates, unnamed */
    struct ct_tree final; /* base with every event applied */
    struct fl_crash_event *ev;
    struct evx *x;
    size_t n;
    uint64_t *stdout_upto; /* [k]: the largest MARK among events [0, k) */
};

struct fl_crash_state {
    size_t cut;
    uint64_t stdout_bytes;
    uint32_t torn;       /* the event torn, or NEVER */
    uint64_t torn_keep;  /* how many of its bytes reached the disk */
    uint32_t ndrop;      /* events lost whole */
    uint64_t *drop;      /* bitmap over events [0, cut) */
    uint64_t hash;       /* of drop + torn, for deduplication */
    char label[192];
};

struct fl_crash_states {
    struct fl_crash_state *v;
    size_t n, skipped;
};

/* --- 1. names and limits ----------------------------------------------------------------- */

void fl_crashfs_default_limits(struct fl_crashfs_limits *lim)
{
    lim->max_bytes = 256ull << 20;
    lim->max_file_size = 16ull << 30;
    lim->max_entries = 100000;
    lim->max_events = 1000000;
    lim->max_states = 64;
}

int fl_crash_model_parse(const char *name, enum fl_crash_model *out)
{
    if (!strcmp(name, "posix"))
        *out = FL_CRASH_MODEL_POSIX;
    else if (!strcmp(name, "ext4-ordered"))
        *out = FL_CRASH_MODEL_EXT4_ORDERED;
    else
        return -EINVAL;
    return 0;
}

const char *fl_crash_model_name(enum fl_crash_model model)
{
    return model == FL_CRASH_MODEL_EXT4_ORDERED ? "ext4-ordered" : "posix";
}

const char *fl_crash_pattern_name(enum fl_crash_pattern pattern)
{
    switch (pattern) {
    case FL_CRASH_PATTERN_IN_PLACE_REWRITE:
        return "in-place-rewrite";
    case FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC:
        return "rename-without-fsync";
    case FL_CRASH_PATTERN_MISSING_DIR_FSYNC:
        return "missing-dir-fsync";
    case FL_CRASH_PATTERN_UNSYNCED_APPEND:
        return "unsynced-append";
    case FL_CRASH_PATTERN_OTHER:
        break;
    }
    return "other";
}

size_t fl_crashfs_event_count(const struct fl_crashfs *fs)
{
    return fs->n;
}

const struct fl_crash_event *fl_crashfs_event(const struct fl_crashfs *fs, size_t i)
{
    return i < fs->n ? &fs->ev[i] : NULL;
}

enum fl_crash_model fl_crashfs_model(const struct fl_crashfs *fs)
{
    return fs->model;
}

/* --- 2. open and the live replay --------------------------------------------------------- */

/* (st_dev, st_ino) -> model inode, open addressing; 0/0 is never stored. */
struct idmap {
    uint64_t *dev, *ino;
    uint32_t *model;
    size_t cap, n;
};

static size_t id_slot(const struct idmap *m, uint64_t dev, uint64_t ino)
{
    uint64_t h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full);
    h ^= h >> 29;
    size_t i = (size_t)h & (m->cap - 1);
    while (m->model[i] != CT_NONE && (m->dev[i] != dev || m->ino[i] != ino))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint32_t id_get(const struct idmap *m, uint64_t dev, uint64_t ino)
{
    if (!m->cap || (dev == 0 && ino == 0))
        return CT_NONE;
    return m->model[id_slot(m, dev, ino)];
}

static int id_put(struct idmap *m, uint64_t dev, uint64_t ino, uint32_t model)
{
    if (dev == 0 && ino == 0)
        return 0;
    if ((m->n + 1) * 2 > m->cap) {
        struct idmap bigger = {.cap = m->cap ? m->cap * 2 : 64};
        bigger.dev = malloc(bigger.cap * sizeof(uint64_t));
        bigger.ino = malloc(bigger.cap * sizeof(uint64_t));
        bigger.model = malloc(bigger.cap * sizeof(uint32_t));
        if (!bigger.dev || !bigger.ino || !bigger.model) {
            free(bigger.dev);
            free(bigger.ino);
            free(bigger.model);
            return -ENOMEM;
        }
        memset(bigger.model, 0xff, bigger.cap * sizeof(uint32_t));
        for (size_t i = 0; i < m->cap; i++)
            if (m->model[i] != CT_NONE) {
                size_t s = id_slot(&bigger, m->dev[i], m->ino[i]);
                bigger.dev[s] = m->dev[i];
                bigger.ino[s] = m->ino[i];
                bigger.model[s] = m->model[i];
                bigger.n++;
            }
        free(m->dev);
        free(m->ino);
        free(m->model);
        *m = bigger;
    }
    size_t s = id_slot(m, dev, ino);
    if (m->model[s] == CT_NONE)
        m->n++;
    m->dev[s] = dev;
    m->ino[s] = ino;
    m->model[s] = model;
    return 0;
}

static void id_free(struct idmap *m)
{
    free(m->dev);
    free(m->ino);
    free(m->model);
}

/* Per-inode facts the live replay keeps while it walks the log. */
struct live_ino {
    uint32_t last_trunc; /* the last truncate of the file */
    bool armed;          /* ext4: truncated to 0 since its last close (EXT4_STATE_DA_ALLOC_CLOSE) */
    const char *name;    /* the last path the log named it by */
    uint32_t name_len;
};

struct replay {
    struct fl_crashfs *fs;
    struct ct_tree *t;
    struct idmap ids;
    struct live_ino *li;
    uint32_t li_cap;
    struct fl_err *err;
    size_t i; /* the event being replayed */
};

static int bad_event(struct replay *r, int code, const char *why, const char *hint)
{
    const struct fl_crash_event *ev = &r->fs->ev[r->i];
    char call[320];
    fl_crash_event_format(ev, call, sizeof(call));
    return fl_err_set(r->err, code, "event %zu (log offset %" PRIu64 ", pid %" PRIu32 ") %s: %s%s",
                      r->i, ev->log_offset, ev->pid, call, why, hint ? hint : "");
}

static struct live_ino *live(struct replay *r, uint32_t ino)
{
    if (ino >= r->li_cap) {
        uint32_t cap = r->li_cap ? r->li_cap : 64;
        while (cap <= ino)
            cap *= 2;
        struct live_ino *li = realloc(r->li, (size_t)cap * sizeof(*li));
        if (!li)
            return NULL;
        for (uint32_t k = r->li_cap; k < cap; k++)
            li[k] = (struct live_ino){.last_trunc = NEVER};
        r->li = li;
        r->li_cap = cap;
    }
    return &r->li[ino];
}

/* The file an fd-based event is about: by identity first (the name may have changed since the
 * open), else by path; the identity is learnt on first sight. */
static int subject(struct replay *r, uint32_t *out)
{
    const struct fl_crash_event *ev = &r->fs->ev[r->i];
    uint32_t ino = id_get(&r->ids, ev->dev, ev->ino);
    if (ino == CT_NONE && ev->path_len) {
        ino = ct_resolve(r->t, ev->path, ev->path_len);
        if (ino != CT_NONE && id_put(&r->ids, ev->dev, ev->ino, ino) < 0)
            return fl_err_set(r->err, ENOMEM, "out of memory");
    }
    if (ino == CT_NONE)
        return bad_event(r, EBADMSG, "a file the log never opened and the snapshot does not have",
                         " (was a call missed by the recorder?)");
    *out = ino;
    return 0;
}

static int parent_of(struct replay *r, const char *path, uint32_t len, uint32_t *dir,
                     const char **name, uint32_t *nlen)
{
    if (len == 1 && path[0] == '.')
        return bad_event(r, EBADMSG, "the trial directory itself has no parent", NULL);
    *dir = ct_resolve_parent(r->t, path, len, name, nlen);
    if (*dir == CT_NONE)
        return bad_event(r, EBADMSG, "its directory does not exist in the replay", NULL);
    return 0;
}

/* Apply one event to a tree, keep bytes of it if it is a torn write (0: all of it). */
static int apply(struct ct_tree *t, const struct evx *x, uint64_t keep)
{
    switch ((enum act)x->act) {
    case A_NONE:
        return 0;
    case A_WRITE:
        return ct_write(t, x->ino, x->off, keep ? keep : x->len, CT_SRC_LOG, x->data_off);
    case A_TRUNC:
        return ct_truncate(t, x->ino, x->len);
    case A_ZERO:
        return ct_zero(t, x->ino, x->off, x->len, x->extend);
    case A_EXTEND: {
        uint64_t size = t->ino[x->ino].size, end = x->off + x->len;
        return end > size ? ct_zero(t, x->ino, size, end - size, true) : 0;
    }
    case A_SET:
        return ct_set(t, x->dir, x->name, x->nlen, x->ino);
    case A_UNSET:
        ct_unset(t, x->dir, x->name, x->nlen);
        return 0;
    case A_RENAME:
        ct_unset(t, x->dir, x->name, x->nlen);
        return ct_set(t, x->dir2, x->name2, x->n2len, x->ino);
    case A_EXCHANGE: {
        int rc = ct_set(t, x->dir, x->name, x->nlen, x->ino2);
        return rc < 0 ? rc : ct_set(t, x->dir2, x->name2, x->n2len, x->ino);
    }
    }
    return 0;
}

static bool dir_is_empty(const struct ct_tree *t, uint32_t dir)
{
    for (uint32_t i = 0; i < t->nent; i++)
        if (t->ent[i].live && t->ent[i].dir == dir)
            return false;
    return true;
}

#define FL_FALLOC_KEEP_SIZE 0x01u
#define FL_FALLOC_PUNCH_HOLE 0x02u
#define FL_FALLOC_COLLAPSE_RANGE 0x08u
#define FL_FALLOC_ZERO_RANGE 0x10u
#define FL_FALLOC_INSERT_RANGE 0x20u

static int resolve_event(struct replay *r)
{
    struct fl_crashfs *fs = r->fs;
    const struct fl_crash_event *ev = &fs->ev[r->i];
    struct evx *x = &fs->x[r->i];
    bool ext4 = fs->model == FL_CRASH_MODEL_EXT4_ORDERED;
    struct ct_tree *t = r->t;
    struct live_ino *li;
    int rc = 0;
    *x = (struct evx){.ino = CT_NONE, .ino2 = CT_NONE, .dir = CT_NONE, .dir2 = CT_NONE,
                      .trunc_before = NEVER, .durable_at = NEVER, .flushed_by = NEVER};
    switch ((enum fl_crash_op)ev->op) {
    case FL_CRASH_OPEN: {
        if (ev->path_len == 1 && ev->path[0] == '.') {
            x->ino = CT_ROOT;
            break;
        }
        if ((rc = parent_of(r, ev->path, ev->path_len, &x->dir, &x->name, &x->nlen)) < 0)
            return rc;
        if (ev->flags & FL_CRASH_OPEN_CREATED) {
            x->ino = ct_new_inode(t, CT_REG, ev->arg);
            if (x->ino == CT_NONE)
                return fl_err_set(r->err, ENOMEM, "out of memory");
            x->act = A_SET;
            x->cls = C_NAME;
            x->created = true;
            x->ordered = ext4;
        } else {
            x->ino = ct_lookup(t, x->dir, x->name, x->nlen);
            if (x->ino == CT_NONE)
                return bad_event(r, EBADMSG, "opens a file that does not exist in the replay",
                                 " (a create the recorder missed, or not the snapshot the run "
                                 "started from?)");
            if (ev->flags & FL_CRASH_OPEN_TRUNCATED) {
                if (t->ino[x->ino].type != CT_REG)
                    return bad_event(r, EBADMSG, "O_TRUNC on something that is not a file", NULL);
                x->act = A_TRUNC;
                x->cls = C_DATA;
                x->ordered = ext4;
                x->len = 0;
                x->size_before = t->ino[x->ino].size;
                if (!(li = live(r, x->ino)))
                    return fl_err_set(r->err, ENOMEM, "out of memory");
                li->last_trunc = (uint32_t)r->i;
                li->armed = true;
            }
        }
        if (id_put(&r->ids, ev->dev, ev->ino, x->ino) < 0)
            return fl_err_set(r->err, ENOMEM, "out of memory");
        break;
    }
    case FL_CRASH_WRITE:
    case FL_CRASH_MSYNC:
        if ((rc = subject(r, &x->ino)) < 0)
            return rc;
        if (t->ino[x->ino].type != CT_REG)
            return bad_event(r, EBADMSG, "writes to something that is not a regular file", NULL);
        if (ev->flags & FL_CRASH_DATA_OMITTED)
            return bad_event(r, EBADMSG, "a write recorded without its data (an audit's log): "
                             "no crash state can be built from it", NULL);
        x->act = A_WRITE;
        x->cls = C_DATA;
        x->msync = ev->op == FL_CRASH_MSYNC;
        x->off = ev->offset;
        x->len = ev->length;
        x->data_off = ev->length ? (uint64_t)((const unsigned char *)ev->data - fs->log->base) : 0;
        x->size_before = t->ino[x->ino].size;
        x->allocating = ev->offset + ev->length > x->size_before;
        if (!(li = live(r, x->ino)))
            return fl_err_set(r->err, ENOMEM, "out of memory");
        x->trunc_before = li->last_trunc;
        break;
    case FL_CRASH_TRUNCATE:
        if ((rc = subject(r, &x->ino)) < 0)
            return rc;
        if (t->ino[x->ino].type != CT_REG)
            return bad_event(r, EBADMSG, "truncates something that is not a regular file", NULL);
        x->act = A_TRUNC;
        x->cls = C_DATA;
        x->ordered = ext4;
        x->len = ev->length;
        x->size_before = t->ino[x->ino].size;
        if (!(li = live(r, x->ino)))
            return fl_err_set(r->err, ENOMEM, "out of memory");
        if (ev->length < x->size_before)
            li->last_trunc = (uint32_t)r->i;
        if (ev->length == 0)
            li->armed = true;
        break;
    case FL_CRASH_FALLOCATE: {
        if ((rc = subject(r, &x->ino)) < 0)
            return rc;
        if (t->ino[x->ino].type != CT_REG)
            return bad_event(r, EBADMSG, "fallocate on something that is not a regular file", NULL);
        uint32_t mode = ev->arg;
        if (mode & (FL_FALLOC_COLLAPSE_RANGE | FL_FALLOC_INSERT_RANGE))
            return bad_event(r, ENOTSUP, "collapse and insert ranges move data: not modelled",
                             NULL);
        x->off = ev->offset;
        x->len = ev->length;
        x->size_before = t->ino[x->ino].size;
        if (mode & FL_FALLOC_PUNCH_HOLE) {
            x->act = A_ZERO;
        } else if (mode & FL_FALLOC_ZERO_RANGE) {
            x->act = A_ZERO;
            x->extend = !(mode & FL_FALLOC_KEEP_SIZE);
        } else if (!(mode & FL_FALLOC_KEEP_SIZE)) {
            x->act = A_EXTEND; /* allocation: no byte changes, the size may grow */
        }
        if (x->act != A_NONE) {
            x->cls = C_DATA;
            x->ordered = ext4;
        }
        break;
    }
    case FL_CRASH_FSYNC:
    case FL_CRASH_FDATASYNC:
        if ((rc = subject(r, &x->ino)) < 0)
            return rc;
        if (t->ino[x->ino].type == CT_DIR)
            x->cls = C_DIRSYNC;
        else
            x->cls = ev->op == FL_CRASH_FSYNC ? C_FSYNC : C_FDATASYNC;
        break;
    case FL_CRASH_SYNC_FILE_RANGE:
        break; /* no durability guarantee: the range may be written or not, like any dirty data */
    case FL_CRASH_RENAME: {
        if ((rc = parent_of(r, ev->path, ev->path_len, &x->dir, &x->name, &x->nlen)) < 0 ||
            (rc = parent_of(r, ev->path2, ev->path2_len, &x->dir2, &x->name2, &x->n2len)) < 0)
            return rc;
        x->ino = ct_lookup(t, x->dir, x->name, x->nlen);
        if (x->ino == CT_NONE)
            return bad_event(r, EBADMSG, "renames a name that does not exist in the replay", NULL);
        x->ino2 = ct_lookup(t, x->dir2, x->name2, x->n2len);
        if ((ev->flags & FL_CRASH_RENAME_EXCHANGE) && x->ino2 == CT_NONE)
            return bad_event(r, EBADMSG, "RENAME_EXCHANGE with a missing second name", NULL);
        if ((ev->flags & FL_CRASH_RENAME_NOREPLACE) && x->ino2 != CT_NONE)
            return bad_event(r, EBADMSG, "RENAME_NOREPLACE over an existing name", NULL);
        if (x->ino2 == x->ino)
            break; /* two names of one file: rename(2) does nothing */
        x->act = ev->flags & FL_CRASH_RENAME_EXCHANGE ? A_EXCHANGE : A_RENAME;
        x->cls = C_NAME;
        x->ordered = ext4;
        x->size_before = t->ino[x->ino].size;
        /* auto_da_alloc: ext4_rename allocates the source's delayed blocks when the target
         * exists; only plain rename goes through that path */
        x->flush = ext4 && x->act == A_RENAME && x->ino2 != CT_NONE &&
                   t->ino[x->ino].type == CT_REG && t->ino[x->ino2].type == CT_REG;
        break;
    }
    case FL_CRASH_LINK:
        x->ino = ct_resolve(t, ev->path, ev->path_len);
        if (x->ino == CT_NONE || t->ino[x->ino].type == CT_DIR)
            return bad_event(r, EBADMSG, "links a name that is missing or a directory", NULL);
        if ((rc = parent_of(r, ev->path2, ev->path2_len, &x->dir, &x->name, &x->nlen)) < 0)
            return rc;
        if (ct_lookup(t, x->dir, x->name, x->nlen) != CT_NONE)
            return bad_event(r, EBADMSG, "links over an existing name", NULL);
        x->act = A_SET;
        x->cls = C_NAME;
        x->ordered = ext4;
        break;
    case FL_CRASH_UNLINK:
    case FL_CRASH_RMDIR: {
        if ((rc = parent_of(r, ev->path, ev->path_len, &x->dir, &x->name, &x->nlen)) < 0)
            return rc;
        x->ino = ct_lookup(t, x->dir, x->name, x->nlen);
        bool rmdir = ev->op == FL_CRASH_RMDIR;
        if (x->ino == CT_NONE || (t->ino[x->ino].type == CT_DIR) != rmdir)
            return bad_event(r, EBADMSG, rmdir ? "removes a directory the replay does not have"
                                               : "unlinks a file the replay does not have", NULL);
        if (rmdir && !dir_is_empty(t, x->ino))
            return bad_event(r, EBADMSG, "removes a directory that is not empty in the replay",
                             NULL);
        x->act = A_UNSET;
        x->cls = C_NAME;
        x->ordered = ext4;
        break;
    }
    case FL_CRASH_MKDIR:
        if ((rc = parent_of(r, ev->path, ev->path_len, &x->dir, &x->name, &x->nlen)) < 0)
            return rc;
        if (ct_lookup(t, x->dir, x->name, x->nlen) != CT_NONE)
            return bad_event(r, EBADMSG, "mkdir over an existing name", NULL);
        if ((x->ino = ct_new_inode(t, CT_DIR, ev->arg)) == CT_NONE)
            return fl_err_set(r->err, ENOMEM, "out of memory");
        if (id_put(&r->ids, ev->dev, ev->ino, x->ino) < 0)
            return fl_err_set(r->err, ENOMEM, "out of memory");
        x->act = A_SET;
        x->cls = C_NAME;
        x->ordered = ext4;
        x->created = true;
        break;
    case FL_CRASH_DIRFSYNC:
        x->ino = ct_resolve(t, ev->path, ev->path_len);
        if (x->ino == CT_NONE || t->ino[x->ino].type != CT_DIR)
            return bad_event(r, EBADMSG, "not a directory in the replay", NULL);
        x->cls = C_DIRSYNC;
        break;
    case FL_CRASH_SYNC:
        x->cls = C_SYNC;
        break;
    case FL_CRASH_MARK:
        x->cls = C_MARK;
        break;
    case FL_CRASH_CLOSE: {
        /* closes of files the log knows nothing about are harmless: nothing to flush */
        uint32_t ino = id_get(&r->ids, ev->dev, ev->ino);
        if (ino == CT_NONE && ev->path_len)
            ino = ct_resolve(t, ev->path, ev->path_len);
        if (ino == CT_NONE || !ext4 || t->ino[ino].type != CT_REG)
            break;
        if (!(li = live(r, ino)))
            return fl_err_set(r->err, ENOMEM, "out of memory");
        if (li->armed) {
            li->armed = false;
            x->ino = ino;
            x->cls = C_FLUSH;
            x->ordered = true;
            x->flush = true;
        }
        break;
    }
    case FL_CRASH_UNTRACKED: {
        static const char *const what[] = {
            [FL_CRASH_UNTRACKED_OTHER] = "a rename into the directory from outside, or more "
                                         "watched files than it can follow",
            [FL_CRASH_UNTRACKED_MMAP] = "a writable shared mapping it cannot follow",
            [FL_CRASH_UNTRACKED_DIRECT] = "O_DIRECT I/O",
            [FL_CRASH_UNTRACKED_CALL] = "a call the log has no record for: symlink creation, "
                                        "O_TMPFILE, io_uring, ...",
            [FL_CRASH_UNTRACKED_LOST] = "a record it could not append to the log",
        };
        char why[256];
        snprintf(why, sizeof(why), "the recorder saw something it cannot log (%s), so no crash "
                 "state built from this log could be trusted",
                 ev->arg < sizeof(what) / sizeof(what[0]) ? what[ev->arg] : "an unknown reason");
        return bad_event(r, ENOTSUP, why, NULL);
    }
    case FL_CRASH_OP_END:
        break;
    }
    if (x->ino != CT_NONE) {
        if (!(li = live(r, x->ino)))
            return fl_err_set(r->err, ENOMEM, "out of memory");
        bool renames = ev->op == FL_CRASH_RENAME || ev->op == FL_CRASH_LINK;
        const char *named = renames ? ev->path2 : ev->path;
        uint32_t named_len = renames ? ev->path2_len : ev->path_len;
        x->known = ev->path_len ? named : li->name;
        x->known_len = ev->path_len ? named_len : li->name_len;
        if (ev->path_len && x->act != A_UNSET) {
            li->name = named;
            li->name_len = named_len;
        }
    }
    if ((rc = apply(t, x, 0)) < 0)
        return fl_err_set(r->err, -rc, "event %zu: %s", r->i, strerror(-rc));
    if (x->cls == C_DATA)
        x->size_after = t->ino[x->ino].size;
    if (t->ino[x->ino == CT_NONE ? CT_ROOT : x->ino].size > fs->lim.max_file_size)
        return bad_event(r, EFBIG, "the file grows over the size limit", NULL);
    return 0;
}

/* --- 3. durability ----------------------------------------------------------------------- */

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* posix: data is durable after an fsync/fdatasync of its file, a name change after an fsync of
 * every directory it changed; sync makes everything durable. MSYNC is durable at once. */
static int durability_posix(struct fl_crashfs *fs, uint32_t nino)
{
    uint32_t *next_fsync = malloc((size_t)nino * sizeof(uint32_t));
    uint32_t *next_dirsync = malloc((size_t)nino * sizeof(uint32_t));
    if (!next_fsync || !next_dirsync) {
        free(next_fsync);
        free(next_dirsync);
        return -ENOMEM;
    }
    memset(next_fsync, 0xff, (size_t)nino * sizeof(uint32_t));
    memset(next_dirsync, 0xff, (size_t)nino * sizeof(uint32_t));
    uint32_t next_sync = NEVER;
    for (size_t k = fs->n; k-- > 0;) {
        struct evx *x = &fs->x[k];
        if (x->cls == C_DATA) {
            x->durable_at = x->msync ? (uint32_t)k : min32(next_sync, next_fsync[x->ino]);
        } else if (x->cls == C_NAME) {
            uint32_t d = next_dirsync[x->dir];
            if (x->dir2 != CT_NONE && x->dir2 != x->dir && next_dirsync[x->dir2] > d)
                d = next_dirsync[x->dir2];
            x->durable_at = min32(next_sync, d);
        } else if (x->cls == C_FSYNC || x->cls == C_FDATASYNC) {
            next_fsync[x->ino] = (uint32_t)k;
        } else if (x->cls == C_DIRSYNC) {
            next_dirsync[x->ino] = (uint32_t)k;
        } else if (x->cls == C_SYNC) {
            next_sync = (uint32_t)k;
        }
    }
    free(next_fsync);
    free(next_dirsync);
    return 0;
}

/* ext4: metadata commits in order, pushed by commits (see crashfs.h for when fsyncs commit);
 * data by fsync/fdatasync of its file, sync, or the commit of the flush that allocated it. */
static int durability_ext4(struct fl_crashfs *fs, uint32_t nino)
{
    int64_t *last_change = malloc((size_t)nino * sizeof(int64_t));
    int64_t *last_size = malloc((size_t)nino * sizeof(int64_t));
    bool *alloc_pending = calloc(nino, sizeof(bool));
    uint32_t *fifo = malloc((fs->n + 1) * sizeof(uint32_t));
    uint32_t *next_sync_of = malloc((size_t)nino * sizeof(uint32_t));
    uint32_t *next_flush = malloc((size_t)nino * sizeof(uint32_t));
    int rc = 0;
    if (!last_change || !last_size || !alloc_pending || !fifo || !next_sync_of || !next_flush) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < nino; i++)
        last_change[i] = last_size[i] = -1;
    size_t head = 0, tail = 0;
    int64_t committed = -1;
    for (size_t j = 0; j < fs->n; j++) {
        struct evx *x = &fs->x[j];
        int64_t at = (int64_t)j;
        if (x->ordered) {
            fifo[tail++] = (uint32_t)j;
            uint32_t touched[4] = {x->ino, x->ino2, x->dir, x->dir2};
            for (int k = 0; k < 4; k++)
                if (touched[k] != CT_NONE)
                    last_change[touched[k]] = at;
            if (x->created || x->cls == C_DATA)
                last_size[x->ino] = at;
            if (x->flush) {
                last_size[x->ino] = at;
                alloc_pending[x->ino] = false; /* the flush allocates it here */
            }
        }
        if (x->act == A_WRITE) {
            last_change[x->ino] = at; /* the write's mtime update dirties the inode */
            if (x->allocating && !x->msync)
                alloc_pending[x->ino] = true;
        }
        int64_t h = -1;
        if (x->cls == C_FSYNC) {
            h = alloc_pending[x->ino] ? at : last_change[x->ino];
            alloc_pending[x->ino] = false;
        } else if (x->cls == C_FDATASYNC || x->msync) {
            /* msync(MS_SYNC) is an fdatasync of the range (vfs_fsync_range, datasync) */
            h = alloc_pending[x->ino] || x->msync ? at : last_size[x->ino];
            alloc_pending[x->ino] = false;
        } else if (x->cls == C_DIRSYNC) {
            h = last_change[x->ino];
        } else if (x->cls == C_SYNC) {
            h = at;
            memset(alloc_pending, 0, nino * sizeof(bool));
        }
        if (h > committed) {
            while (head < tail && (int64_t)fifo[head] <= h)
                fs->x[fifo[head++]].durable_at = (uint32_t)j;
            committed = h;
        }
    }
    /* data: own fsyncs and syncs, from the end backwards */
    memset(next_sync_of, 0xff, (size_t)nino * sizeof(uint32_t));
    memset(next_flush, 0xff, (size_t)nino * sizeof(uint32_t));
    uint32_t next_sync = NEVER;
    for (size_t k = fs->n; k-- > 0;) {
        struct evx *x = &fs->x[k];
        if (x->act == A_WRITE) {
            x->flushed_by = next_flush[x->ino];
            x->durable_at = x->msync ? (uint32_t)k : min32(next_sync, next_sync_of[x->ino]);
        }
        if (x->flush)
            next_flush[x->ino] = (uint32_t)k;
        if (x->cls == C_FSYNC || x->cls == C_FDATASYNC)
            next_sync_of[x->ino] = (uint32_t)k;
        else if (x->cls == C_SYNC)
            next_sync = (uint32_t)k;
    }
    /* and a write is on disk once the flush that allocated it has committed */
    for (size_t k = 0; k < fs->n; k++) {
        struct evx *x = &fs->x[k];
        if (x->act == A_WRITE && x->flushed_by != NEVER)
            x->durable_at = min32(x->durable_at, fs->x[x->flushed_by].durable_at);
    }
out:
    free(last_change);
    free(last_size);
    free(alloc_pending);
    free(fifo);
    free(next_sync_of);
    free(next_flush);
    return rc;
}

void fl_crashfs_free(struct fl_crashfs *fs)
{
    if (!fs)
        return;
    ct_free(&fs->base);
    ct_free(&fs->final);
    ct_free_pool(fs->pool, fs->snap_paths);
    free(fs->snap_dir);
    free(fs->ev);
    free(fs->x);
    free(fs->stdout_upto);
    free(fs);
}

static int read_events(struct fl_crashfs *fs, struct fl_err *err)
{
    size_t pos = 0, cap = 0;
    struct fl_crash_event ev;
    int rc;
    while ((rc = fl_crashlog_next(fs->log, &pos, &ev, err)) > 0) {
        if (fs->n == fs->lim.max_events)
            return fl_err_set(err, EFBIG, "the log has more than %" PRIu32 " events",
                              fs->lim.max_events);
        if (fs->n == cap) {
            cap = cap ? cap * 2 : 256;
            struct fl_crash_event *v = realloc(fs->ev, cap * sizeof(*v));
            if (!v)
                return fl_err_set(err, ENOMEM, "out of memory");
            fs->ev = v;
        }
        fs->ev[fs->n++] = ev;
    }
    return rc;
}

int fl_crashfs_open(struct fl_crashfs **out, const char *snapshot_dir,
                    const struct fl_crashlog *log, enum fl_crash_model model,
                    const struct fl_crashfs_limits *lim, struct fl_err *err)
{
    *out = NULL;
    if (model != FL_CRASH_MODEL_POSIX && model != FL_CRASH_MODEL_EXT4_ORDERED)
        return fl_err_set(err, EINVAL, "unknown persistence model %d", (int)model);
    struct fl_crashfs *fs = calloc(1, sizeof(*fs));
    if (!fs)
        return fl_err_set(err, ENOMEM, "out of memory");
    fs->model = model;
    fs->log = log;
    if (lim)
        fs->lim = *lim;
    else
        fl_crashfs_default_limits(&fs->lim);
    if (fs->lim.max_states == 0)
        fs->lim.max_states = 1;
    fs->tlim = (struct ct_limits){.max_bytes = fs->lim.max_bytes,
                                  .max_file_size = fs->lim.max_file_size,
                                  .max_entries = fs->lim.max_entries};
    struct replay r = {.fs = fs, .err = err};
    int rc = 0;
    if (!(fs->snap_dir = strdup(snapshot_dir))) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = ct_load_snapshot(&fs->base, snapshot_dir, &fs->tlim, &fs->snap_paths, &fs->nsnap,
                               &fs->pool, err)) < 0)
        goto fail;
    fs->base.log = log->base;
    fs->base.snap_path = (const char *const *)fs->snap_paths;
    if ((rc = read_events(fs, err)) < 0)
        goto fail;
    fs->x = calloc(fs->n + 1, sizeof(*fs->x));
    fs->stdout_upto = calloc(fs->n + 1, sizeof(*fs->stdout_upto));
    if (!fs->x || !fs->stdout_upto || ct_clone(&fs->final, &fs->base) < 0) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    r.t = &fs->final;
    uint32_t snapshot_inodes = fs->base.nino;
    for (r.i = 0; r.i < fs->n; r.i++) {
        if ((rc = resolve_event(&r)) < 0)
            goto fail;
        const struct fl_crash_event *ev = &fs->ev[r.i];
        uint64_t seen = fs->stdout_upto[r.i];
        fs->stdout_upto[r.i + 1] = ev->op == FL_CRASH_MARK && ev->length > seen ? ev->length : seen;
    }
    /* the base tree gets every inode the log creates, empty and nameless: a state names the
     * ones whose creation it keeps */
    for (uint32_t i = snapshot_inodes; i < fs->final.nino; i++)
        if (ct_new_inode(&fs->base, fs->final.ino[i].type, fs->final.ino[i].mode) != i) {
            rc = fl_err_set(err, ENOMEM, "out of memory");
            goto fail;
        }
    rc = model == FL_CRASH_MODEL_POSIX ? durability_posix(fs, fs->final.nino)
                                       : durability_ext4(fs, fs->final.nino);
    if (rc < 0) {
        rc = fl_err_set(err, -rc, "out of memory");
        goto fail;
    }
    id_free(&r.ids);
    free(r.li);
    *out = fs;
    return 0;
fail:
    id_free(&r.ids);
    free(r.li);
    fl_crashfs_free(fs);
    return rc;
}

/* --- 4. states at a cut ------------------------------------------------------------------ */

static bool bit(const uint64_t *b, size_t i)
{
    return b[i / 64] >> (i % 64) & 1;
}

static void set_bit(uint64_t *b, size_t i)
{
    b[i / 64] |= 1ull << (i % 64);
}

static void clear_bit(uint64_t *b, size_t i)
{
    b[i / 64] &= ~(1ull << (i % 64));
}

/* The pending events at a cut and how they group. */
struct pending {
    uint32_t *all, nall;     /* every pending event */
    uint32_t *names, nnames; /* posix: pending name changes; ext4: the ordered stream (M) */
    uint32_t *data, ndata;   /* posix: pending data events; ext4: pending writes */
    /* data grouped by file, files in order of their first pending event */
    uint32_t *group_of;      /* per data index: its group */
    uint32_t *group_ino, ngroups;
    uint32_t *group_start, *group_members; /* members of group g: group_members[start[g]..] */
    uint32_t *group_count;
    uint32_t *rank;          /* per data index: its position within its group */
    uint8_t *blocked;        /* posix closure: directories whose later changes are lost */
    uint32_t nino;
};

static void pending_free(struct pending *p)
{
    free(p->all);
    free(p->names);
    free(p->data);
    free(p->group_of);
    free(p->group_ino);
    free(p->group_start);
    free(p->group_members);
    free(p->group_count);
    free(p->rank);
    free(p->blocked);
}

static int pending_build(const struct fl_crashfs *fs, size_t cut, struct pending *p)
{
    memset(p, 0, sizeof(*p));
    bool ext4 = fs->model == FL_CRASH_MODEL_EXT4_ORDERED;
    p->nino = fs->final.nino;
    size_t n = cut + 1;
    p->all = malloc(n * sizeof(uint32_t));
    p->names = malloc(n * sizeof(uint32_t));
    p->data = malloc(n * sizeof(uint32_t));
    p->group_of = malloc(n * sizeof(uint32_t));
    p->group_ino = malloc(n * sizeof(uint32_t));
    p->group_start = malloc(n * sizeof(uint32_t));
    p->group_members = malloc(n * sizeof(uint32_t));
    p->group_count = calloc(n, sizeof(uint32_t));
    p->rank = malloc(n * sizeof(uint32_t));
    p->blocked = calloc(p->nino + 1, 1);
    uint32_t *group_at = calloc(p->nino + 1, sizeof(uint32_t)); /* ino -> group + 1 */
    if (!p->all || !p->names || !p->data || !p->group_of || !p->group_ino || !p->group_start ||
        !p->group_members || !p->group_count || !p->rank || !p->blocked || !group_at) {
        free(group_at);
        pending_free(p);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cut; i++) {
        const struct evx *x = &fs->x[i];
        bool pend = (x->cls == C_DATA || x->cls == C_NAME || x->cls == C_FLUSH) &&
                    x->durable_at >= cut;
        if (!pend)
            continue;
        p->all[p->nall++] = (uint32_t)i;
        bool is_data = ext4 ? x->act == A_WRITE : x->cls == C_DATA;
        bool is_name = ext4 ? x->ordered : x->cls == C_NAME;
        if (is_name)
            p->names[p->nnames++] = (uint32_t)i;
        if (is_data) {
            if (!group_at[x->ino]) {
                p->group_ino[p->ngroups] = x->ino;
                group_at[x->ino] = ++p->ngroups;
            }
            uint32_t g = group_at[x->ino] - 1;
            p->group_of[p->ndata] = g;
            p->group_count[g]++;
            p->data[p->ndata++] = (uint32_t)i;
        }
    }
    uint32_t at = 0;
    for (uint32_t g = 0; g < p->ngroups; g++) {
        p->group_start[g] = at;
        at += p->group_count[g];
        p->group_count[g] = 0;
    }
    for (uint32_t d = 0; d < p->ndata; d++) {
        uint32_t g = p->group_of[d];
        p->rank[d] = p->group_count[g];
        p->group_members[p->group_start[g] + p->group_count[g]++] = p->data[d];
    }
    free(group_at);
    return 0;
}

enum recipe_kind {
    R_ALL_LOST,
    R_NONE_LOST,
    R_DATA_LOST,    /* a: group */
    R_OP_LOST,      /* a: index in names */
    R_TORN,         /* a: group */
    R_OP_DATA_LOST, /* a: index in names */
    R_PREFIX,       /* a: group, b: how many of its members are kept */
    R_END,
};

struct recipe {
    enum recipe_kind kind;
    uint32_t a, b;
};

/* Step through the recipes in their fixed order; false when there are no more. */
static bool next_recipe(const struct pending *p, struct recipe *r)
{
    for (;;) {
        switch (r->kind) {
        case R_ALL_LOST:
            r->kind = R_NONE_LOST;
            return true;
        case R_NONE_LOST:
            r->kind = R_DATA_LOST;
            r->a = 0;
            if (p->ngroups)
                return true;
            continue;
        case R_DATA_LOST:
            if (++r->a < p->ngroups)
                return true;
            r->kind = R_OP_LOST;
            r->a = 0;
            if (p->nnames)
                return true;
            continue;
        case R_OP_LOST:
            if (++r->a < p->nnames)
                return true;
            r->kind = R_TORN;
            r->a = 0;
            if (p->ngroups)
                return true;
            continue;
        case R_TORN:
            if (++r->a < p->ngroups)
                return true;
            r->kind = R_OP_DATA_LOST;
            r->a = 0;
            if (p->nnames && p->ndata)
                return true;
            continue;
        case R_OP_DATA_LOST:
            if (p->ndata && ++r->a < p->nnames)
                return true;
            r->kind = R_PREFIX;
            r->a = 0;
            r->b = 0;
            /* on to the first group with two members or more */
            __attribute__((fallthrough));
        case R_PREFIX:
            for (;;) {
                if (r->a >= p->ngroups)
                    break;
                if (++r->b < p->group_count[r->a])
                    return true;
                r->a++;
                r->b = 0;
            }
            r->kind = R_END;
            return false;
        case R_END:
            return false;
        }
    }
}

static bool tearable(const struct fl_crashfs *fs, uint32_t e, uint64_t *keep)
{
    const struct evx *x = &fs->x[e];
    if (x->act != A_WRITE || x->len == 0)
        return false;
    uint64_t page = fs->log->page_size;
    uint64_t first = x->off / page, last = (x->off + x->len - 1) / page;
    uint64_t pages = last - first + 1;
    if (pages < 2)
        return false;
    /* the first half of its pages (rounded up) reached the disk */
    *keep = (first + (pages + 1) / 2) * page - x->off;
    return true;
}

/* The last member of group g that can tear (several pages) and may (ext4: not forced by a
 * kept flush). The state tears it as the write in flight when the power went, so the file's
 * later pending writes are lost with it; a one-page write cannot tear and is skipped. */
static uint32_t last_tearable(const struct fl_crashfs *fs, const struct pending *p, uint32_t g,
                              const uint64_t *forced, uint64_t *keep)
{
    for (uint32_t k = p->group_count[g]; k-- > 0;) {
        uint32_t e = p->group_members[p->group_start[g] + k];
        if (!(forced && bit(forced, e)) && tearable(fs, e, keep))
            return e;
    }
    return NEVER;
}

static const char *event_path(const struct fl_crashfs *fs, uint32_t e, char *buf, size_t len)
{
    const struct evx *x = &fs->x[e];
    if (x->known_len)
        snprintf(buf, len, "%.*s", (int)x->known_len, x->known);
    else if (fs->ev[e].path_len)
        snprintf(buf, len, "%.*s", (int)fs->ev[e].path_len, fs->ev[e].path);
    else
        snprintf(buf, len, "inode-%" PRIu32, x->ino);
    return buf;
}

static const char *op_word(const struct fl_crashfs *fs, uint32_t e)
{
    const struct fl_crash_event *ev = &fs->ev[e];
    if (ev->op == FL_CRASH_OPEN)
        return fs->x[e].created ? "create" : "truncate";
    return fl_crash_op_name(ev->op);
}

/* posix: lose name change names[i] and, transitively, every later pending change of the
 * directories it touches (one directory's changes persist in order). */
static void drop_name_closure(const struct fl_crashfs *fs, struct pending *p, uint32_t i,
                              uint64_t *drop)
{
    memset(p->blocked, 0, p->nino + 1);
    for (uint32_t k = i; k < p->nnames; k++) {
        const struct evx *x = &fs->x[p->names[k]];
        bool hit = k == i || p->blocked[x->dir] || (x->dir2 != CT_NONE && p->blocked[x->dir2]);
        if (!hit)
            continue;
        set_bit(drop, p->names[k]);
        p->blocked[x->dir] = 1;
        if (x->dir2 != CT_NONE)
            p->blocked[x->dir2] = 1;
    }
}

/* Fill st (drop bitmap, torn write, label) for recipe r. False if the recipe gives nothing
 * here (a torn state for a group whose writes cannot tear). */
static bool build_recipe(const struct fl_crashfs *fs, struct pending *p, const struct recipe *r,
                         struct fl_crash_state *st, uint64_t *scratch)
{
    bool ext4 = fs->model == FL_CRASH_MODEL_EXT4_ORDERED;
    size_t words = (st->cut + 63) / 64;
    uint64_t *drop = st->drop;
    memset(drop, 0, words * sizeof(uint64_t));
    st->torn = NEVER;
    st->torn_keep = 0;
    char path[160];
    uint32_t commit = p->nnames; /* ext4: names[0..commit) are kept */
    bool drop_all_data = false;
    uint32_t drop_group = NEVER, keep_in_group = 0, tear_group = NEVER;

    switch (r->kind) {
    case R_ALL_LOST:
        snprintf(st->label, sizeof(st->label), "all-lost");
        commit = 0;
        drop_all_data = true;
        break;
    case R_NONE_LOST:
        snprintf(st->label, sizeof(st->label), "none-lost");
        break;
    case R_DATA_LOST:
        drop_group = r->a;
        snprintf(st->label, sizeof(st->label), "data-lost:%s",
                 event_path(fs, p->group_members[p->group_start[r->a]], path, sizeof(path)));
        break;
    case R_OP_LOST:
    case R_OP_DATA_LOST: {
        uint32_t e = p->names[r->a];
        snprintf(st->label, sizeof(st->label), "%s%s:%s:%s", ext4 ? "commit-before" : "op-lost",
                 r->kind == R_OP_DATA_LOST ? "+data-lost" : "", op_word(fs, e),
                 event_path(fs, e, path, sizeof(path)));
        commit = r->a;
        drop_all_data = r->kind == R_OP_DATA_LOST;
        break;
    }
    case R_TORN:
        tear_group = r->a;
        snprintf(st->label, sizeof(st->label), "torn:%s",
                 event_path(fs, p->group_members[p->group_start[r->a]], path, sizeof(path)));
        break;
    case R_PREFIX:
        drop_group = r->a;
        keep_in_group = r->b;
        snprintf(st->label, sizeof(st->label), "prefix:%s:%" PRIu32 "/%" PRIu32,
                 event_path(fs, p->group_members[p->group_start[r->a]], path, sizeof(path)), r->b,
                 p->group_count[r->a]);
        break;
    case R_END:
        return false;
    }

    /* name changes (posix) / the ordered stream (ext4) */
    if (!ext4) {
        if (r->kind == R_ALL_LOST)
            for (uint32_t k = 0; k < p->nnames; k++)
                set_bit(drop, p->names[k]);
        else if (r->kind == R_OP_LOST || r->kind == R_OP_DATA_LOST)
            drop_name_closure(fs, p, r->a, drop);
    } else {
        for (uint32_t k = commit; k < p->nnames; k++)
            set_bit(drop, p->names[k]);
    }

    /* ext4: writes forced by a flush that is kept (allocated before a commit we keep) */
    uint64_t *forced = NULL;
    if (ext4) {
        forced = scratch;
        memset(forced, 0, words * sizeof(uint64_t));
        uint32_t limit = commit < p->nnames ? p->names[commit] : UINT32_MAX;
        for (uint32_t d = 0; d < p->ndata; d++) {
            uint32_t e = p->data[d];
            uint32_t f = fs->x[e].flushed_by;
            if (f != NEVER && f < st->cut && f < limit)
                set_bit(forced, e);
        }
    }

    /* data */
    for (uint32_t d = 0; d < p->ndata; d++) {
        uint32_t e = p->data[d], g = p->group_of[d];
        if (drop_all_data)
            set_bit(drop, e);
        else if (g == drop_group && p->rank[d] >= keep_in_group)
            set_bit(drop, e);
    }
    if (tear_group != NEVER) {
        uint64_t keep;
        uint32_t e = last_tearable(fs, p, tear_group, forced, &keep);
        if (e == NEVER)
            return false;
        st->torn = e;
        st->torn_keep = keep;
        /* the power went during that write: the file's later pending writes never happened */
        for (uint32_t k = 0; k < p->group_count[tear_group]; k++) {
            uint32_t later = p->group_members[p->group_start[tear_group] + k];
            if (later > e)
                set_bit(drop, later);
        }
    }
    if (ext4) {
        uint32_t limit = commit < p->nnames ? p->names[commit] : UINT32_MAX;
        for (uint32_t d = 0; d < p->ndata; d++) {
            uint32_t e = p->data[d];
            if (bit(forced, e)) {
                clear_bit(drop, e);
                if (st->torn == e)
                    return false;
            } else if (fs->x[e].allocating && e > limit) {
                /* its blocks would be allocated in a transaction after the last commit */
                set_bit(drop, e);
                if (st->torn == e)
                    return false;
            }
        }
    }
    if (st->torn != NEVER && bit(drop, st->torn))
        return false;
    st->ndrop = 0;
    uint64_t h = 0x51ed270b27be7d3full ^ st->cut;
    for (size_t w = 0; w < words; w++) {
        st->ndrop += (uint32_t)__builtin_popcountll(drop[w]);
        h = (h ^ drop[w]) * 0x100000001b3ull;
        h ^= h >> 31;
    }
    st->hash = (h ^ st->torn) * 0x9e3779b97f4a7c15ull ^ st->torn_keep;
    return true;
}

static bool same_state(const struct fl_crash_state *a, const struct fl_crash_state *b)
{
    size_t words = (a->cut + 63) / 64;
    return a->hash == b->hash && a->torn == b->torn && a->torn_keep == b->torn_keep &&
           memcmp(a->drop, b->drop, words * sizeof(uint64_t)) == 0;
}

void fl_crash_states_free(struct fl_crash_states *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i].drop);
    free(set->v);
    free(set);
}

int fl_crashfs_states(struct fl_crashfs *fs, size_t cut, struct fl_crash_states **out,
                      struct fl_err *err)
{
    *out = NULL;
    if (cut > fs->n)
        return fl_err_set(err, EINVAL, "cut %zu beyond the log's %zu events", cut, fs->n);
    struct fl_crash_states *set = calloc(1, sizeof(*set));
    struct pending p;
    size_t words = (cut + 63) / 64 + 1;
    uint64_t *scratch = calloc(words, sizeof(uint64_t));
    struct fl_crash_state cand = {.cut = cut};
    cand.drop = calloc(words, sizeof(uint64_t));
    if (!set || !scratch || !cand.drop ||
        !(set->v = calloc(fs->lim.max_states, sizeof(*set->v)))) {
        free(scratch);
        free(cand.drop);
        fl_crash_states_free(set);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    if (pending_build(fs, cut, &p) < 0) {
        free(scratch);
        free(cand.drop);
        fl_crash_states_free(set);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    cand.stdout_bytes = fs->stdout_upto[cut];
    /* with nothing pending there is one state, and it is not "all-lost" */
    struct recipe r = {.kind = p.nall ? R_ALL_LOST : R_NONE_LOST};
    int rc = 0;
    do {
        if (set->n == fs->lim.max_states) {
            set->skipped++;
            continue;
        }
        if (!build_recipe(fs, &p, &r, &cand, scratch))
            continue;
        bool dup = false;
        for (size_t i = 0; i < set->n && !dup; i++)
            dup = same_state(&set->v[i], &cand);
        if (dup)
            continue;
        struct fl_crash_state *st = &set->v[set->n];
        *st = cand;
        if (!(st->drop = malloc(words * sizeof(uint64_t)))) {
            rc = fl_err_set(err, ENOMEM, "out of memory");
            break;
        }
        memcpy(st->drop, cand.drop, words * sizeof(uint64_t));
        set->n++;
    } while (next_recipe(&p, &r));
    pending_free(&p);
    free(scratch);
    free(cand.drop);
    if (rc < 0) {
        fl_crash_states_free(set);
        return rc;
    }
    *out = set;
    return 0;
}

size_t fl_crash_states_count(const struct fl_crash_states *set)
{
    return set->n;
}

const struct fl_crash_state *fl_crash_states_get(const struct fl_crash_states *set, size_t i)
{
    return i < set->n ? &set->v[i] : NULL;
}

size_t fl_crash_states_skipped(const struct fl_crash_states *set)
{
    return set->skipped;
}

size_t fl_crash_state_cut(const struct fl_crash_state *st)
{
    return st->cut;
}

const char *fl_crash_state_label(const struct fl_crash_state *st)
{
    return st->label;
}

uint64_t fl_crash_state_stdout_bytes(const struct fl_crash_state *st)
{
    return st->stdout_bytes;
}

bool fl_crash_state_lost(const struct fl_crash_state *st, size_t i)
{
    return i < st->cut && (bit(st->drop, i) || st->torn == i);
}

bool fl_crash_state_loses(const struct fl_crash_state *st)
{
    return st->ndrop > 0 || st->torn != NEVER;
}

/* --- 5. building a state ----------------------------------------------------------------- */

static int build_tree(const struct fl_crashfs *fs, const struct fl_crash_state *st,
                      struct ct_tree *t)
{
    int rc = ct_clone(t, &fs->base);
    for (size_t i = 0; rc == 0 && i < st->cut; i++) {
        if (bit(st->drop, i))
            continue;
        rc = apply(t, &fs->x[i], st->torn == i ? st->torn_keep : 0);
    }
    if (rc < 0)
        ct_free(t);
    return rc;
}

int fl_crashfs_materialize(struct fl_crashfs *fs, const struct fl_crash_state *st,
                           const char *dir, struct fl_err *err)
{
    struct ct_tree t;
    int rc = build_tree(fs, st, &t);
    if (rc < 0)
        return fl_err_set(err, -rc, "building state %s: %s", st->label, strerror(-rc));
    rc = ct_materialize(&t, fs->snap_dir, dir, &fs->tlim, err);
    ct_free(&t);
    return rc;
}

int fl_crashfs_digest(struct fl_crashfs *fs, const struct fl_crash_state *st, uint64_t *out)
{
    struct ct_tree t;
    int rc = build_tree(fs, st, &t);
    if (rc < 0)
        return rc;
    rc = ct_digest(&t, st->stdout_bytes, out);
    ct_free(&t);
    return rc;
}

int fl_crashfs_verify(struct fl_crashfs *fs, const char *trial_dir, struct fl_err *err)
{
    int rc = ct_compare(&fs->final, fs->snap_dir, trial_dir, err);
    if (rc < 0)
        fl_err_prefix(err, "the log does not reproduce %s", trial_dir);
    return rc;
}

/* --- 6. classify and explain ------------------------------------------------------------- */

#define MAX_FINDINGS 8

struct finding {
    enum fl_crash_pattern pattern;
    char text[640];
};

struct findings {
    struct finding f[MAX_FINDINGS];
    size_t n, more;
    enum fl_crash_pattern worst;
};

static void note(struct findings *out, enum fl_crash_pattern pattern, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(struct findings *out, enum fl_crash_pattern pattern, const char *fmt, ...)
{
    if (pattern > out->worst)
        out->worst = pattern;
    if (out->n == MAX_FINDINGS) {
        out->more++;
        return;
    }
    struct finding *f = &out->f[out->n++];
    f->pattern = pattern;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

static bool kept(const struct fl_crash_state *st, size_t i)
{
    return i < st->cut && !bit(st->drop, i);
}

/* "the old state.json is back", "state.json does not exist", ... for a lost name change. */
static void name_outcome(const struct fl_crashfs *fs, uint32_t e, char *buf, size_t len)
{
    const struct fl_crash_event *ev = &fs->ev[e];
    const struct evx *x = &fs->x[e];
    int p = (int)ev->path_len, p2 = (int)ev->path2_len;
    switch (ev->op) {
    case FL_CRASH_RENAME:
        if (x->act == A_EXCHANGE)
            snprintf(buf, len, "%.*s and %.*s have not swapped", p, ev->path, p2, ev->path2);
        else if (x->ino2 != CT_NONE)
            snprintf(buf, len, "the old %.*s is back", p2, ev->path2);
        else
            snprintf(buf, len, "%.*s does not exist", p2, ev->path2);
        break;
    case FL_CRASH_LINK:
        snprintf(buf, len, "%.*s does not exist", p2, ev->path2);
        break;
    case FL_CRASH_UNLINK:
    case FL_CRASH_RMDIR:
        snprintf(buf, len, "%.*s is back", p, ev->path);
        break;
    case FL_CRASH_MKDIR:
        snprintf(buf, len, "%.*s does not exist, nor anything made in it", p, ev->path);
        break;
    default:
        snprintf(buf, len, "%.*s does not exist", p, ev->path);
        break;
    }
}

static void name_change(const struct fl_crashfs *fs, uint32_t e, char *buf, size_t len)
{
    const struct fl_crash_event *ev = &fs->ev[e];
    int p = (int)ev->path_len, p2 = (int)ev->path2_len;
    switch (ev->op) {
    case FL_CRASH_RENAME:
        snprintf(buf, len, "rename of %.*s to %.*s", p, ev->path, p2, ev->path2);
        break;
    case FL_CRASH_LINK:
        snprintf(buf, len, "link of %.*s as %.*s", p, ev->path, p2, ev->path2);
        break;
    case FL_CRASH_OPEN:
        snprintf(buf, len, "creation of %.*s", p, ev->path);
        break;
    default:
        snprintf(buf, len, "%s of %.*s", fl_crash_op_name(ev->op), p, ev->path);
        break;
    }
}

/* The size the program had given ino by the cut (its last data event before it). */
static uint64_t size_at_cut(const struct fl_crashfs *fs, uint32_t ino, size_t cut)
{
    for (size_t k = cut; k-- > 0;)
        if (fs->x[k].cls == C_DATA && fs->x[k].ino == ino)
            return fs->x[k].size_after;
    return fs->base.ino[ino].size;
}

static void data_losses(const struct fl_crashfs *fs, const struct fl_crash_state *st,
                        const struct ct_tree *t, uint32_t ino, struct findings *out)
{
    char name[512];
    if (!ct_path_of(t, ino, name, sizeof(name)))
        return; /* nothing visible has lost anything: the file has no name in this state */
    bool ext4 = fs->model == FL_CRASH_MODEL_EXT4_ORDERED;
    uint64_t lost_bytes = 0, appended = 0;
    bool overwrite = false, after_kept_trunc = false, lost_trunc = false, any = false;
    uint32_t first_lost = NEVER, trunc_event = NEVER;
    for (size_t i = 0; i < st->cut; i++) {
        const struct evx *x = &fs->x[i];
        if (x->cls != C_DATA || x->ino != ino || !fl_crash_state_lost(st, i))
            continue;
        if (ext4 && x->act != A_WRITE)
            continue; /* ext4's lost truncates are reported with the journal's losses */
        any = true;
        if (first_lost == NEVER)
            first_lost = (uint32_t)i;
        if (x->act == A_TRUNC) {
            lost_trunc = true;
            continue;
        }
        uint64_t lost = st->torn == i ? x->len - st->torn_keep : x->len;
        lost_bytes += lost;
        if (x->off >= x->size_before)
            appended += lost;
        else
            overwrite = true;
        if (x->trunc_before != NEVER && kept(st, x->trunc_before)) {
            after_kept_trunc = true;
            trunc_event = x->trunc_before;
        }
    }
    if (!any)
        return;
    uint64_t size = t->ino[ino].size, want = size_at_cut(fs, ino, st->cut);
    /* a kept rename that moved this file onto its name after the lost data: of the file
     * itself, or of a directory it is in (a snapshot directory swapped into place) */
    for (size_t i = first_lost + 1; i < st->cut; i++) {
        const struct evx *x = &fs->x[i];
        if ((x->act != A_RENAME && x->act != A_EXCHANGE) || !kept(st, i))
            continue;
        const struct fl_crash_event *ev = &fs->ev[i];
        bool itself = x->ino == ino || (x->act == A_EXCHANGE && x->ino2 == ino);
        const char *dir = NULL;
        if (!itself && t->ino[x->ino].type == CT_DIR &&
            !strncmp(name, ev->path2, ev->path2_len) && name[ev->path2_len] == '/') {
            dir = ev->path2;
        } else if (!itself && x->act == A_EXCHANGE && !strncmp(name, ev->path, ev->path_len) &&
                   name[ev->path_len] == '/') {
            dir = ev->path;
        }
        if (!itself && !dir)
            continue;
        char shows[160];
        if (size == 0)
            snprintf(shows, sizeof(shows), "is empty");
        else if (size < x->size_before)
            snprintf(shows, sizeof(shows), "has only %" PRIu64 " of its %" PRIu64 " bytes", size,
                     x->size_before);
        else
            snprintf(shows, sizeof(shows), "has pages that never got their new data");
        if (dir)
            note(out, FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC,
                 "%s(%.*s, %.*s) of a directory reached the disk but the data of %s, in it, was "
                 "not fsynced before: %s %s (rename without fsync of the new file)",
                 x->act == A_EXCHANGE ? "renameat2 RENAME_EXCHANGE" : "rename",
                 (int)ev->path_len, ev->path, (int)ev->path2_len, ev->path2, name, name, shows);
        else
            note(out, FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC,
                 "rename(%.*s, %.*s) reached the disk but %.*s's data was not fsynced before "
                 "it: %.*s %s (rename without fsync of the new file)",
                 (int)ev->path_len, ev->path, (int)ev->path2_len, ev->path2, (int)ev->path_len,
                 ev->path, (int)ev->path2_len, ev->path2, shows);
        goto torn;
    }
    if (after_kept_trunc) {
        const struct fl_crash_event *tev = &fs->ev[trunc_event];
        char leaves[160];
        if (size == 0)
            snprintf(leaves, sizeof(leaves), "empty");
        else
            snprintf(leaves, sizeof(leaves), "with %" PRIu64 " of the %" PRIu64 " bytes written",
                     size, want);
        note(out, FL_CRASH_PATTERN_IN_PLACE_REWRITE,
             "%s was truncated by %s and its new data was never fsynced: power loss leaves it %s "
             "(in-place rewrite)",
             name, tev->op == FL_CRASH_OPEN ? "open(O_TRUNC)" : "ftruncate", leaves);
    } else if (lost_trunc) {
        note(out, FL_CRASH_PATTERN_IN_PLACE_REWRITE,
             "the truncation of %s never reached the disk%s: it holds %" PRIu64 " bytes where the "
             "program left %" PRIu64 ", old bytes mixed with new (in-place rewrite)",
             name, lost_bytes ? " and neither did all of its new data" : " though its new data did",
             size, want);
    } else if (overwrite) {
        note(out, FL_CRASH_PATTERN_IN_PLACE_REWRITE,
             "%s was overwritten in place and %" PRIu64 " bytes of the new data were never "
             "fsynced: power loss leaves a mix of old and new bytes (in-place rewrite)",
             name, lost_bytes);
    } else if (appended) {
        note(out, FL_CRASH_PATTERN_UNSYNCED_APPEND,
             "%" PRIu64 " bytes appended to %s were never fsynced: power loss drops them, and %s "
             "ends at %" PRIu64 " bytes instead of %" PRIu64 " (unsynced append)",
             appended, name, name, size, want);
    } else {
        note(out, FL_CRASH_PATTERN_OTHER,
             "%" PRIu64 " bytes written to %s were never fsynced and are lost", lost_bytes, name);
    }
torn:
    if (st->torn != NEVER && fs->x[st->torn].ino == ino) {
        const struct evx *x = &fs->x[st->torn];
        note(out, FL_CRASH_PATTERN_OTHER,
             "the last write to %s (%" PRIu64 " bytes at offset %" PRIu64 ") was torn at a page "
             "boundary: only its first %" PRIu64 " bytes reached the disk",
             name, x->len, x->off, st->torn_keep);
    }
}

static int analyse(struct fl_crashfs *fs, const struct fl_crash_state *st, struct findings *out)
{
    memset(out, 0, sizeof(*out));
    struct ct_tree t;
    int rc = build_tree(fs, st, &t);
    if (rc < 0)
        return rc;
    bool ext4 = fs->model == FL_CRASH_MODEL_EXT4_ORDERED;
    /* lost name changes, and ext4's lost journal entries */
    for (size_t i = 0; i < st->cut; i++) {
        const struct evx *x = &fs->x[i];
        if (!bit(st->drop, i))
            continue;
        char change[640], outcome[640];
        if (x->cls == C_NAME) {
            name_change(fs, (uint32_t)i, change, sizeof(change));
            name_outcome(fs, (uint32_t)i, outcome, sizeof(outcome));
            if (ext4)
                note(out, FL_CRASH_PATTERN_MISSING_DIR_FSYNC,
                     "the %s was never committed to the journal (no fsync of its directory or "
                     "file, and no sync, came after it): after power loss %s (missing directory "
                     "fsync)", change, outcome);
            else
                note(out, FL_CRASH_PATTERN_MISSING_DIR_FSYNC,
                     "the %s was not followed by an fsync of the directory: after power loss %s "
                     "(missing directory fsync)", change, outcome);
        } else if (ext4 && x->cls == C_DATA && x->act != A_WRITE) {
            char name[512];
            if (!ct_path_of(&t, x->ino, name, sizeof(name)))
                continue;
            bool trunc = x->act == A_TRUNC;
            note(out, trunc ? FL_CRASH_PATTERN_IN_PLACE_REWRITE : FL_CRASH_PATTERN_OTHER,
                 "the %s of %s was never committed to the journal: it keeps its old size and "
                 "content%s", trunc ? "truncation" : "fallocate", name,
                 trunc ? " (in-place rewrite)" : "");
        }
    }
    /* lost data, file by file in order of first loss */
    uint8_t *done = calloc(t.nino + 1, 1);
    if (!done) {
        ct_free(&t);
        return -ENOMEM;
    }
    for (size_t i = 0; i < st->cut; i++) {
        const struct evx *x = &fs->x[i];
        if (x->cls != C_DATA || done[x->ino] || !fl_crash_state_lost(st, i))
            continue;
        done[x->ino] = 1;
        data_losses(fs, st, &t, x->ino, out);
    }
    /* a cut in the middle of an in-place rewrite loses nothing the model could have kept, yet
     * the file is empty or partial: the program's protocol, not the disk, is at fault. Files
     * with losses of their own were explained above (done 1); 2 marks "looked at". */
    for (size_t i = st->cut; i-- > 0;) {
        const struct evx *x = &fs->x[i];
        if (x->act != A_TRUNC || done[x->ino] || !kept(st, i))
            continue;
        done[x->ino] = 2;
        bool rewritten_later = false, written_since = false;
        for (size_t k = i + 1; k < fs->n; k++)
            if (fs->x[k].act == A_WRITE && fs->x[k].ino == x->ino) {
                if (k < st->cut)
                    written_since = true;
                else
                    rewritten_later = true;
            }
        char name[512];
        if (rewritten_later && x->size_before > x->len &&
            ct_path_of(&t, x->ino, name, sizeof(name)))
            note(out, FL_CRASH_PATTERN_IN_PLACE_REWRITE,
                 "the cut falls after %s was truncated and before the program finished writing "
                 "it again: even with every call on disk it holds %" PRIu64 " bytes%s (in-place "
                 "rewrite)", name, t.ino[x->ino].size,
                 written_since ? " of its new content" : "");
    }
    free(done);
    ct_free(&t);
    return 0;
}

enum fl_crash_pattern fl_crashfs_classify(struct fl_crashfs *fs, const struct fl_crash_state *st)
{
    struct findings *f = malloc(sizeof(*f));
    if (!f || analyse(fs, st, f) < 0) {
        free(f);
        return FL_CRASH_PATTERN_OTHER;
    }
    enum fl_crash_pattern worst = f->worst;
    free(f);
    return worst;
}

int fl_crashfs_explain(struct fl_crashfs *fs, const struct fl_crash_state *st, char *buf,
                       size_t len)
{
    struct findings *f = malloc(sizeof(*f));
    if (!f || analyse(fs, st, f) < 0) {
        free(f);
        return -ENOMEM;
    }
    int n = 0;
    if (f->n == 0) {
        n = snprintf(buf, len, fl_crash_state_loses(st)
                     ? "only data of files that no longer have a name in this state was lost; "
                       "every visible file is as the program left it at the cut"
                     : "nothing was lost: every call issued before the cut reached the disk, so "
                       "this is the trial directory as the program left it at that moment");
    } else {
        size_t at = 0;
        for (size_t i = 0; i < f->n; i++) {
            int w = snprintf(buf + at, at < len ? len - at : 0, "%s%s", i ? "; " : "",
                             f->f[i].text);
            if (w > 0)
                at += (size_t)w;
        }
        if (f->more) {
            int w = snprintf(buf + at, at < len ? len - at : 0, "; and %zu more losses", f->more);
            if (w > 0)
                at += (size_t)w;
        }
        n = (int)at;
    }
    free(f);
    return n;
}
