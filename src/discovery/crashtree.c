/* SPDX-License-Identifier: MIT */
/*
 * crashtree.c - the symbolic directory tree behind every crash state (see crashtree.h).
 *
 * Divisions:
 *   1. the tree: inodes, the (directory, name) hash, cloning
 *   2. file contents as segments: write, truncate, zero
 *   3. paths
 *   4. loading the snapshot
 *   5. walking a tree in a fixed order (sorted names), shared by the three consumers:
 *      materialise (write it out), compare (with a real directory), digest
 *
 * Everything that touches the disk works relative to directory descriptors opened with
 * O_NOFOLLOW, so a symlink in the snapshot or a hostile name can never make a state land
 * outside the directory it is built in; names come from the log, whose paths the reader has
 * already checked for "..", "/" and NUL.
 */
#include "crashtree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define CT_MAX_DEPTH 256   /* directory nesting a snapshot or state may have */
#define CT_COPY_CHUNK (256u << 10)

/* --- 1. the tree ------------------------------------------------------------------------- */

static uint32_t name_hash(uint32_t dir, const char *name, uint32_t len)
{
    uint32_t h = 2166136261u ^ dir;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    return h ^ (h >> 15);
}

void ct_free(struct ct_tree *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nino; i++)
        if (t->ino[i].cap)
            free(t->ino[i].seg);
    free(t->ino);
    free(t->ent);
    free(t->bucket);
    free(t->seg_block);
    memset(t, 0, sizeof(*t));
}

static int rehash(struct ct_tree *t, uint32_t nbucket)
{
    uint32_t *b = malloc((size_t)nbucket * sizeof(*b));
    if (!b)
        return -ENOMEM;
    memset(b, 0xff, (size_t)nbucket * sizeof(*b));
    for (uint32_t i = 0; i < t->nent; i++) {
        struct ct_entry *e = &t->ent[i];
        uint32_t h = name_hash(e->dir, e->name, e->len) & (nbucket - 1);
        e->next = b[h];
        b[h] = i;
    }
    free(t->bucket);
    t->bucket = b;
    t->nbucket = nbucket;
    return 0;
}

int ct_clone(struct ct_tree *dst, const struct ct_tree *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->log = src->log;
    dst->snap_path = src->snap_path;
    size_t nseg = 0;
    for (uint32_t i = 0; i < src->nino; i++)
        nseg += src->ino[i].nseg;
    dst->ino = malloc(((size_t)src->ino_cap + 1) * sizeof(*dst->ino));
    dst->ent = malloc(((size_t)src->ent_cap + 1) * sizeof(*dst->ent));
    dst->bucket = malloc(((size_t)src->nbucket + 1) * sizeof(*dst->bucket));
    dst->seg_block = nseg ? malloc(nseg * sizeof(*dst->seg_block)) : NULL;
    if (!dst->ino || !dst->ent || !dst->bucket || (nseg && !dst->seg_block)) {
        free(dst->ino);
        free(dst->ent);
        free(dst->bucket);
        free(dst->seg_block);
        memset(dst, 0, sizeof(*dst));
        return -ENOMEM;
    }
    /* an empty snapshot has no entries and no buckets yet: memcpy may not see NULL */
    if (src->nino)
        memcpy(dst->ino, src->ino, (size_t)src->nino * sizeof(*dst->ino));
    if (src->nent)
        memcpy(dst->ent, src->ent, (size_t)src->nent * sizeof(*dst->ent));
    if (src->nbucket)
        memcpy(dst->bucket, src->bucket, (size_t)src->nbucket * sizeof(*dst->bucket));
    dst->nino = src->nino;
    dst->ino_cap = src->ino_cap;
    dst->nent = src->nent;
    dst->ent_cap = src->ent_cap;
    dst->nbucket = src->nbucket;
    /* every inode's segments go into one block; an inode copies its own out the first time a
     * write needs room (cap 0 marks "borrowed") */
    struct ct_seg *p = dst->seg_block;
    for (uint32_t i = 0; i < dst->nino; i++) {
        struct ct_inode *n = &dst->ino[i];
        if (n->nseg) {
            memcpy(p, src->ino[i].seg, (size_t)n->nseg * sizeof(*p));
            n->seg = p;
            p += n->nseg;
        } else {
            n->seg = NULL;
        }
        n->cap = 0;
    }
    return 0;
}

uint32_t ct_new_inode(struct ct_tree *t, uint8_t type, uint32_t mode)
{
    if (t->nino == t->ino_cap) {
        uint32_t cap = t->ino_cap ? t->ino_cap * 2 : 16;
        struct ct_inode *n = realloc(t->ino, (size_t)cap * sizeof(*n));
        if (!n)
            return CT_NONE;
        t->ino = n;
        t->ino_cap = cap;
    }
    struct ct_inode *n = &t->ino[t->nino];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->mode = mode & 07777u;
    n->snap = CT_NONE;
    return t->nino++;
}

uint32_t ct_lookup(const struct ct_tree *t, uint32_t dir, const char *name, uint32_t len)
{
    if (!t->nbucket)
        return CT_NONE;
    uint32_t h = name_hash(dir, name, len) & (t->nbucket - 1);
    for (uint32_t i = t->bucket[h]; i != CT_NONE; i = t->ent[i].next) {
        const struct ct_entry *e = &t->ent[i];
        if (e->dir == dir && e->len == len && memcmp(e->name, name, len) == 0)
            return e->live ? e->ino : CT_NONE;
    }
    return CT_NONE;
}

int ct_set(struct ct_tree *t, uint32_t dir, const char *name, uint32_t len, uint32_t ino)
{
    if (t->nbucket) {
        uint32_t h = name_hash(dir, name, len) & (t->nbucket - 1);
        for (uint32_t i = t->bucket[h]; i != CT_NONE; i = t->ent[i].next) {
            struct ct_entry *e = &t->ent[i];
            if (e->dir == dir && e->len == len && memcmp(e->name, name, len) == 0) {
                e->ino = ino;
                e->live = true;
                return 0;
            }
        }
    }
    if (t->nent == t->ent_cap) {
        uint32_t cap = t->ent_cap ? t->ent_cap * 2 : 16;
        struct ct_entry *e = realloc(t->ent, (size_t)cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        t->ent = e;
        t->ent_cap = cap;
    }
    struct ct_entry *e = &t->ent[t->nent++];
    *e = (struct ct_entry){.dir = dir, .ino = ino, .name = name, .len = len, .live = true};
    if (t->nent * 2 > t->nbucket)
        return rehash(t, t->nbucket ? t->nbucket * 2 : 32);
    uint32_t h = name_hash(dir, name, len) & (t->nbucket - 1);
    e->next = t->bucket[h];
    t->bucket[h] = t->nent - 1;
    return 0;
}

void ct_unset(struct ct_tree *t, uint32_t dir, const char *name, uint32_t len)
{
    if (!t->nbucket)
        return;
    uint32_t h = name_hash(dir, name, len) & (t->nbucket - 1);
    for (uint32_t i = t->bucket[h]; i != CT_NONE; i = t->ent[i].next) {
        struct ct_entry *e = &t->ent[i];
        if (e->dir == dir && e->len == len && memcmp(e->name, name, len) == 0) {
            e->live = false;
            return;
        }
    }
}

/* --- 2. contents ------------------------------------------------------------------------- */

static int reserve(struct ct_inode *n, uint32_t want)
{
    if (n->cap >= want)
        return 0;
    uint32_t cap = n->cap ? n->cap : 4;
    while (cap < want)
        cap *= 2;
    struct ct_seg *s = malloc((size_t)cap * sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (n->nseg)
        memcpy(s, n->seg, (size_t)n->nseg * sizeof(*s));
    if (n->cap)
        free(n->seg);
    n->seg = s;
    n->cap = cap;
    return 0;
}

/* Remove whatever covers [off, end) and put ins (if any) in its place; segments partly inside
 * keep their outside parts. */
static int cover(struct ct_inode *n, uint64_t off, uint64_t end, const struct ct_seg *ins)
{
    uint32_t lo = 0, hi = n->nseg;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (n->seg[mid].off + n->seg[mid].len <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t i = lo, k = lo;
    while (k < n->nseg && n->seg[k].off < end)
        k++;
    struct ct_seg left = {0}, right = {0};
    bool has_left = false, has_right = false;
    if (i < k && n->seg[i].off < off) {
        left = n->seg[i];
        left.len = off - left.off;
        has_left = true;
    }
    if (i < k) {
        const struct ct_seg *last = &n->seg[k - 1];
        uint64_t last_end = last->off + last->len;
        if (last_end > end) {
            right = *last;
            right.off = end;
            right.src_off += end - last->off;
            right.len = last_end - end;
            has_right = true;
        }
    }
    uint32_t nnew = (uint32_t)has_left + (ins != NULL) + (uint32_t)has_right;
    uint32_t nold = k - i;
    if (nnew == 0 && nold == 0)
        return 0;
    uint32_t total = n->nseg - nold + nnew;
    int rc = reserve(n, total > n->nseg ? total : n->nseg);
    if (rc < 0)
        return rc;
    memmove(n->seg + i + nnew, n->seg + k, (size_t)(n->nseg - k) * sizeof(*n->seg));
    uint32_t at = i;
    if (has_left)
        n->seg[at++] = left;
    if (ins)
        n->seg[at++] = *ins;
    if (has_right)
        n->seg[at++] = right;
    n->nseg = total;
    return 0;
}

int ct_write(struct ct_tree *t, uint32_t ino, uint64_t off, uint64_t len, uint32_t src,
             uint64_t src_off)
{
    if (len == 0)
        return 0;
    struct ct_inode *n = &t->ino[ino];
    struct ct_seg s = {.off = off, .len = len, .src_off = src_off, .src = src};
    int rc;
    /* appends are the common case (logs, new files): no search, no move */
    if (n->nseg == 0 || n->seg[n->nseg - 1].off + n->seg[n->nseg - 1].len <= off) {
        if ((rc = reserve(n, n->nseg + 1)) < 0)
            return rc;
        n->seg[n->nseg++] = s;
    } else if ((rc = cover(n, off, off + len, &s)) < 0) {
        return rc;
    }
    if (off + len > n->size)
        n->size = off + len;
    return 0;
}

int ct_truncate(struct ct_tree *t, uint32_t ino, uint64_t size)
{
    struct ct_inode *n = &t->ino[ino];
    int rc = size < n->size ? cover(n, size, UINT64_MAX, NULL) : 0;
    if (rc == 0)
        n->size = size;
    return rc;
}

int ct_zero(struct ct_tree *t, uint32_t ino, uint64_t off, uint64_t len, bool extend)
{
    struct ct_inode *n = &t->ino[ino];
    uint64_t end = off + len;
    if (!extend && end > n->size)
        end = n->size;
    int rc = off < end ? cover(n, off, end, NULL) : 0;
    if (rc == 0 && extend && off + len > n->size)
        n->size = off + len;
    return rc;
}

/* --- 3. paths ---------------------------------------------------------------------------- */

uint32_t ct_resolve_parent(const struct ct_tree *t, const char *path, uint32_t len,
                           const char **name, uint32_t *name_len)
{
    uint32_t dir = CT_ROOT, start = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (path[i] != '/')
            continue;
        dir = ct_lookup(t, dir, path + start, i - start);
        if (dir == CT_NONE || t->ino[dir].type != CT_DIR)
            return CT_NONE;
        start = i + 1;
    }
    *name = path + start;
    *name_len = len - start;
    return dir;
}

uint32_t ct_resolve(const struct ct_tree *t, const char *path, uint32_t len)
{
    if (len == 1 && path[0] == '.')
        return CT_ROOT;
    const char *name;
    uint32_t nlen;
    uint32_t dir = ct_resolve_parent(t, path, len, &name, &nlen);
    return dir == CT_NONE ? CT_NONE : ct_lookup(t, dir, name, nlen);
}

static uint32_t first_name(const struct ct_tree *t, uint32_t ino)
{
    for (uint32_t i = 0; i < t->nent; i++)
        if (t->ent[i].live && t->ent[i].ino == ino)
            return i;
    return CT_NONE;
}

bool ct_path_of(const struct ct_tree *t, uint32_t ino, char *buf, size_t len)
{
    if (len < 2)
        return false;
    if (ino == CT_ROOT) {
        snprintf(buf, len, ".");
        return true;
    }
    /* collect the chain of entries up to the root, then print it from the top */
    uint32_t chain[CT_MAX_DEPTH];
    int depth = 0;
    for (uint32_t cur = ino; cur != CT_ROOT; depth++) {
        if (depth == CT_MAX_DEPTH)
            return false;
        uint32_t e = first_name(t, cur);
        if (e == CT_NONE)
            return false;
        chain[depth] = e;
        cur = t->ent[e].dir;
    }
    size_t at = 0;
    for (int d = depth - 1; d >= 0; d--) {
        const struct ct_entry *e = &t->ent[chain[d]];
        int n = snprintf(buf + at, len - at, "%s%.*s", at ? "/" : "", (int)e->len, e->name);
        if (n < 0 || (size_t)n >= len - at)
            return false;
        at += (size_t)n;
    }
    return true;
}

/* --- 4. the snapshot --------------------------------------------------------------------- */

struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    char data[];
};

static char *pool_dup(struct pool_chunk **pool, const char *s, size_t len)
{
    struct pool_chunk *c = *pool;
    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > 65536 ? len + 1 : 65536;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = *pool;
        c->used = 0;
        c->cap = cap;
        *pool = c;
    }
    char *p = c->data + c->used;
    memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

void ct_free_pool(void *pool, char **paths)
{
    for (struct pool_chunk *c = pool, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(paths);
}

struct hardlink {
    dev_t dev;
    ino_t ino;
    uint32_t model;
};

struct loader {
    struct ct_tree *t;
    const struct ct_limits *lim;
    struct pool_chunk *pool;
    char **paths;
    uint32_t npaths, paths_cap;
    struct hardlink *links; /* snapshot files with more than one name */
    size_t nlinks, links_cap;
    uint64_t bytes;
    struct fl_err *err;
    char rel[4200];       /* the path being loaded, relative to the snapshot */
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_file(struct loader *L, int dfd, const char *name, uint32_t dir, size_t rel_len,
                     int depth);

static int load_dir(struct loader *L, int dfd, uint32_t dir, size_t rel_len, int depth)
{
    if (depth > CT_MAX_DEPTH)
        return fl_err_set(L->err, ELOOP, "%s: snapshot nested deeper than %d directories",
                          L->rel, CT_MAX_DEPTH);
    int fd = dup(dfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fl_err_set(L->err, e, "%s: %s", L->rel, strerror(e));
    }
    /* names sorted, so that the same snapshot always gives the same inode numbers and the
     * states built from it are reproducible whatever order readdir returns */
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = pool_dup(&L->pool, de->d_name, strlen(de->d_name)))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 1)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = load_file(L, dfd, names[i], dir, rel_len, depth);
    free(names);
    if (rc == -ENOMEM)
        return fl_err_set(L->err, ENOMEM, "out of memory loading the snapshot");
    return rc;
}

static int load_file(struct loader *L, int dfd, const char *name, uint32_t dir, size_t rel_len,
                     int depth)
{
    size_t nlen = strlen(name);
    if (rel_len + 1 + nlen + 1 > sizeof(L->rel) || rel_len + 1 + nlen > 4096)
        return fl_err_set(L->err, ENAMETOOLONG, "%s/%s: path too long", L->rel, name);
    size_t at = rel_len;
    if (at)
        L->rel[at++] = '/';
    memcpy(L->rel + at, name, nlen + 1);
    size_t child_len = at + nlen;
    int rc = 0;
    if (L->t->nent >= L->lim->max_entries) {
        rc = fl_err_set(L->err, EFBIG, "the snapshot has more than %" PRIu32 " names",
                        L->lim->max_entries);
        goto out;
    }
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        rc = fl_err_set(L->err, errno, "%s: %s", L->rel, strerror(errno));
        goto out;
    }
    uint32_t ino = CT_NONE;
    if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1)
            for (size_t i = 0; i < L->nlinks; i++)
                if (L->links[i].dev == st.st_dev && L->links[i].ino == st.st_ino)
                    ino = L->links[i].model;
        if (ino == CT_NONE) {
            L->bytes += (uint64_t)st.st_size;
            if (L->bytes > L->lim->max_bytes) {
                rc = fl_err_set(L->err, EFBIG, "the snapshot holds more than %" PRIu64 " bytes",
                                L->lim->max_bytes);
                goto out;
            }
            if ((ino = ct_new_inode(L->t, CT_REG, st.st_mode)) == CT_NONE)
                goto nomem;
            if (L->npaths == L->paths_cap) {
                uint32_t cap = L->paths_cap ? L->paths_cap * 2 : 32;
                char **p = realloc(L->paths, (size_t)cap * sizeof(*p));
                if (!p)
                    goto nomem;
                L->paths = p;
                L->paths_cap = cap;
            }
            if (!(L->paths[L->npaths] = pool_dup(&L->pool, L->rel, child_len)))
                goto nomem;
            struct ct_inode *n = &L->t->ino[ino];
            n->snap = L->npaths++;
            if (st.st_size > 0 && (rc = ct_write(L->t, ino, 0, (uint64_t)st.st_size, CT_SRC_SNAP,
                                                 0)) < 0)
                goto nomem;
            if (st.st_nlink > 1) {
                if (L->nlinks == L->links_cap) {
                    size_t cap = L->links_cap ? L->links_cap * 2 : 8;
                    struct hardlink *l = realloc(L->links, cap * sizeof(*l));
                    if (!l)
                        goto nomem;
                    L->links = l;
                    L->links_cap = cap;
                }
                L->links[L->nlinks++] = (struct hardlink){st.st_dev, st.st_ino, ino};
            }
        }
    } else if (S_ISDIR(st.st_mode)) {
        if ((ino = ct_new_inode(L->t, CT_DIR, st.st_mode)) == CT_NONE)
            goto nomem;
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n < 0) {
            rc = fl_err_set(L->err, errno, "%s: readlink: %s", L->rel, strerror(errno));
            goto out;
        }
        if ((ino = ct_new_inode(L->t, CT_LNK, 0777)) == CT_NONE)
            goto nomem;
        if (!(L->t->ino[ino].link = pool_dup(&L->pool, target, (size_t)n)))
            goto nomem;
    } else {
        rc = fl_err_set(L->err, ENOTSUP, "%s: only regular files, directories and symlinks can "
                        "be part of a trial directory", L->rel);
        goto out;
    }
    if ((rc = ct_set(L->t, dir, name, (uint32_t)nlen, ino)) < 0)
        goto nomem;
    if (S_ISDIR(st.st_mode)) {
        int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            rc = fl_err_set(L->err, errno, "%s: %s", L->rel, strerror(errno));
            goto out;
        }
        rc = load_dir(L, cfd, ino, child_len, depth + 1);
        close(cfd);
    }
    goto out;
nomem:
    rc = fl_err_set(L->err, ENOMEM, "out of memory loading the snapshot");
out:
    L->rel[rel_len] = '\0';
    return rc;
}

int ct_load_snapshot(struct ct_tree *t, const char *dir, const struct ct_limits *lim,
                     char ***paths_out, uint32_t *npaths_out, void **pool_out,
                     struct fl_err *err)
{
    struct loader *L = calloc(1, sizeof(*L));
    if (!L)
        return fl_err_set(err, ENOMEM, "out of memory");
    L->t = t;
    L->lim = lim;
    L->err = err;
    int rc = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = fl_err_set(err, errno, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (ct_new_inode(t, CT_DIR, st.st_mode) != CT_ROOT) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    rc = load_dir(L, fd, CT_ROOT, 0, 0);
    if (rc < 0)
        fl_err_prefix(err, "snapshot %s", dir);
out:
    if (fd >= 0)
        close(fd);
    free(L->links);
    if (rc < 0) {
        ct_free_pool(L->pool, L->paths);
        *paths_out = NULL;
        *pool_out = NULL;
        *npaths_out = 0;
    } else {
        *paths_out = L->paths;
        *npaths_out = L->npaths;
        *pool_out = L->pool;
    }
    free(L);
    return rc;
}

/* --- 5. walking in order ----------------------------------------------------------------- */

/* Live entries sorted by (directory, name): the children of any directory are one run. */
struct ct_index {
    uint32_t *order;
    uint32_t n;
    const struct ct_tree *t;
};

static int cmp_entries(const void *a, const void *b, void *tree)
{
    const struct ct_tree *t = tree;
    const struct ct_entry *x = &t->ent[*(const uint32_t *)a];
    const struct ct_entry *y = &t->ent[*(const uint32_t *)b];
    if (x->dir != y->dir)
        return x->dir < y->dir ? -1 : 1;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int build_index(const struct ct_tree *t, struct ct_index *ix)
{
    ix->t = t;
    ix->n = 0;
    ix->order = malloc(((size_t)t->nent + 1) * sizeof(*ix->order));
    if (!ix->order)
        return -ENOMEM;
    for (uint32_t i = 0; i < t->nent; i++)
        if (t->ent[i].live)
            ix->order[ix->n++] = i;
    qsort_r(ix->order, ix->n, sizeof(*ix->order), cmp_entries, (void *)t);
    return 0;
}

/* The run of children of dir: [*lo, *hi) in ix->order. */
static void children(const struct ct_index *ix, uint32_t dir, uint32_t *lo, uint32_t *hi)
{
    uint32_t a = 0, b = ix->n;
    while (a < b) {
        uint32_t m = a + (b - a) / 2;
        if (ix->t->ent[ix->order[m]].dir < dir)
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    b = ix->n;
    while (a < b) {
        uint32_t m = a + (b - a) / 2;
        if (ix->t->ent[ix->order[m]].dir <= dir)
            a = m + 1;
        else
            b = m;
    }
    *hi = a;
}

/* Bytes [off, off + len) of a regular file into buf (for compare). */
static int read_content(const struct ct_tree *t, uint32_t ino, int snap_fd, uint64_t off,
                        unsigned char *buf, size_t len)
{
    const struct ct_inode *n = &t->ino[ino];
    memset(buf, 0, len);
    uint64_t end = off + len;
    for (uint32_t i = 0; i < n->nseg; i++) {
        const struct ct_seg *s = &n->seg[i];
        uint64_t a = s->off > off ? s->off : off;
        uint64_t b = s->off + s->len < end ? s->off + s->len : end;
        if (a >= b)
            continue;
        unsigned char *dst = buf + (a - off);
        uint64_t from = s->src_off + (a - s->off);
        if (s->src == CT_SRC_LOG) {
            memcpy(dst, t->log + from, (size_t)(b - a));
        } else {
            size_t want = (size_t)(b - a), got = 0;
            while (got < want) {
                ssize_t r = pread(snap_fd, dst + got, want - got, (off_t)(from + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    return r < 0 ? -errno : -EIO;
                got += (size_t)r;
            }
        }
    }
    return 0;
}

static int open_snap(const struct ct_tree *t, int snap_dir, uint32_t ino)
{
    const struct ct_inode *n = &t->ino[ino];
    if (n->snap == CT_NONE)
        return -1;
    return openat(snap_dir, t->snap_path[n->snap], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

static bool uses_snapshot(const struct ct_inode *n)
{
    for (uint32_t i = 0; i < n->nseg; i++)
        if (n->seg[i].src == CT_SRC_SNAP)
            return true;
    return false;
}

/* -- materialise -- */

struct mat {
    const struct ct_tree *t;
    const struct ct_index *ix;
    const struct ct_limits *lim;
    int snap_dir, out_dir;
    uint64_t bytes;
    uint8_t *visited;     /* directories already written (a state may name one twice) */
    uint32_t *nlink;      /* names of each inode in this state */
    char **first_path;    /* where a multiply-linked inode was written first */
    unsigned char *buf;   /* copy buffer for file systems without copy_file_range */
    struct fl_err *err;
    char path[4200];
};

static int write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int copy_range(struct mat *m, int from, uint64_t from_off, int to, uint64_t to_off,
                      uint64_t len)
{
    /* copy_file_range first: in the kernel, and a reflink where the file system shares
     * extents; plain reads and writes when it is refused (across file systems on old kernels,
     * or a file system without it) */
    while (len > 0) {
        loff_t in = (loff_t)from_off, out = (loff_t)to_off;
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n = copy_file_range(from, &in, to, &out, chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                      errno == EOPNOTSUPP || errno == EBADF || errno == EPERM))
            break;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* the snapshot file is shorter than it was: it changed under us */
        from_off += (uint64_t)n;
        to_off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    while (len > 0) {
        if (!m->buf && !(m->buf = malloc(CT_COPY_CHUNK)))
            return -ENOMEM;
        size_t want = len > CT_COPY_CHUNK ? CT_COPY_CHUNK : (size_t)len;
        ssize_t r = pread(from, m->buf, want, (off_t)from_off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        int rc = write_all(to, m->buf, (size_t)r, to_off);
        if (rc < 0)
            return rc;
        from_off += (uint64_t)r;
        to_off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}

static int write_file(struct mat *m, int dfd, const char *name, uint32_t ino)
{
    const struct ct_inode *n = &m->t->ino[ino];
    if (n->size > m->lim->max_file_size)
        return fl_err_set(m->err, EFBIG, "%s: %" PRIu64 " bytes, over the %" PRIu64 " byte limit",
                          m->path, n->size, m->lim->max_file_size);
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fl_err_set(m->err, errno, "%s: %s", m->path, strerror(errno));
    int snap = -1, rc = 0;
    if (uses_snapshot(n) && (snap = open_snap(m->t, m->snap_dir, ino)) < 0) {
        rc = fl_err_set(m->err, errno, "snapshot copy of %s: %s", m->path, strerror(errno));
        goto out;
    }
    for (uint32_t i = 0; i < n->nseg && rc == 0; i++) {
        const struct ct_seg *s = &n->seg[i];
        m->bytes += s->len;
        if (m->bytes > m->lim->max_bytes) {
            rc = fl_err_set(m->err, EFBIG, "the state holds more than %" PRIu64 " bytes",
                            m->lim->max_bytes);
            break;
        }
        if (s->src == CT_SRC_LOG)
            rc = write_all(fd, m->t->log + s->src_off, (size_t)s->len, s->off);
        else
            rc = copy_range(m, snap, s->src_off, fd, s->off, s->len);
        if (rc < 0)
            rc = fl_err_set(m->err, -rc, "%s: %s", m->path, strerror(-rc));
    }
    /* the size last: it makes trailing holes, and never cuts a segment (all lie below it) */
    if (rc == 0 && ftruncate(fd, (off_t)n->size) < 0)
        rc = fl_err_set(m->err, errno, "%s: ftruncate: %s", m->path, strerror(errno));
    if (rc == 0 && fchmod(fd, n->mode) < 0)
        rc = fl_err_set(m->err, errno, "%s: chmod: %s", m->path, strerror(errno));
out:
    if (snap >= 0)
        close(snap);
    close(fd);
    return rc;
}

static int mat_dir(struct mat *m, int dfd, uint32_t dir, size_t plen, int depth);

static int mat_entry(struct mat *m, int dfd, const struct ct_entry *e, size_t plen, int depth)
{
    if (plen + 1 + e->len + 1 > sizeof(m->path))
        return fl_err_set(m->err, ENAMETOOLONG, "a path in the state is too long");
    size_t at = plen;
    if (at)
        m->path[at++] = '/';
    memcpy(m->path + at, e->name, e->len);
    m->path[at + e->len] = '\0';
    size_t child_len = at + e->len;
    char name[NAME_MAX + 1];
    if (e->len > NAME_MAX)
        return fl_err_set(m->err, ENAMETOOLONG, "%s: name too long", m->path);
    memcpy(name, e->name, e->len);
    name[e->len] = '\0';
    const struct ct_inode *n = &m->t->ino[e->ino];
    int rc = 0;
    switch (n->type) {
    case CT_REG:
        if (m->first_path[e->ino]) {
            if (linkat(m->out_dir, m->first_path[e->ino], dfd, name, 0) < 0)
                rc = fl_err_set(m->err, errno, "%s: link: %s", m->path, strerror(errno));
            break;
        }
        rc = write_file(m, dfd, name, e->ino);
        if (rc == 0 && m->nlink[e->ino] > 1 && !(m->first_path[e->ino] = strdup(m->path)))
            rc = fl_err_set(m->err, ENOMEM, "out of memory");
        break;
    case CT_LNK:
        if (symlinkat(n->link, dfd, name) < 0)
            rc = fl_err_set(m->err, errno, "%s: symlink: %s", m->path, strerror(errno));
        break;
    case CT_DIR: {
        if (m->visited[e->ino])
            break; /* a second name for a directory cannot exist on disk: keep the first */
        m->visited[e->ino] = 1;
        if (depth >= CT_MAX_DEPTH) {
            rc = fl_err_set(m->err, ELOOP, "%s: nested too deep", m->path);
            break;
        }
        if (mkdirat(dfd, name, 0700) < 0) {
            rc = fl_err_set(m->err, errno, "%s: mkdir: %s", m->path, strerror(errno));
            break;
        }
        int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            rc = fl_err_set(m->err, errno, "%s: %s", m->path, strerror(errno));
            break;
        }
        rc = mat_dir(m, cfd, e->ino, child_len, depth + 1);
        /* the owner keeps rwx so the explorer can always remove the state afterwards */
        if (rc == 0 && fchmod(cfd, n->mode | 0700) < 0)
            rc = fl_err_set(m->err, errno, "%s: chmod: %s", m->path, strerror(errno));
        close(cfd);
        break;
    }
    }
    m->path[plen] = '\0';
    return rc;
}

static int mat_dir(struct mat *m, int dfd, uint32_t dir, size_t plen, int depth)
{
    uint32_t lo, hi;
    children(m->ix, dir, &lo, &hi);
    for (uint32_t i = lo; i < hi; i++) {
        int rc = mat_entry(m, dfd, &m->t->ent[m->ix->order[i]], plen, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int ct_materialize(const struct ct_tree *t, const char *snap_dir, const char *out_dir,
                   const struct ct_limits *lim, struct fl_err *err)
{
    struct ct_index ix = {0};
    struct mat *m = calloc(1, sizeof(*m));
    int rc = 0;
    if (!m || build_index(t, &ix) < 0) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    m->t = t;
    m->ix = &ix;
    m->lim = lim;
    m->err = err;
    m->snap_dir = m->out_dir = -1;
    m->visited = calloc(t->nino + 1, 1);
    m->nlink = calloc(t->nino + 1, sizeof(*m->nlink));
    m->first_path = calloc(t->nino + 1, sizeof(*m->first_path));
    if (!m->visited || !m->nlink || !m->first_path) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < ix.n; i++)
        m->nlink[t->ent[ix.order[i]].ino]++;
    m->out_dir = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->out_dir < 0) {
        rc = fl_err_set(err, errno, "%s: %s", out_dir, strerror(errno));
        goto out;
    }
    int probe = dup(m->out_dir);
    DIR *d = probe < 0 ? NULL : fdopendir(probe);
    if (!d) {
        if (probe >= 0)
            close(probe);
        rc = fl_err_set(err, errno, "%s: %s", out_dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            break;
    closedir(d);
    if (de) {
        rc = fl_err_set(err, ENOTEMPTY, "%s: a state is only built in an empty directory",
                        out_dir);
        goto out;
    }
    m->snap_dir = open(snap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->snap_dir < 0) {
        rc = fl_err_set(err, errno, "%s: %s", snap_dir, strerror(errno));
        goto out;
    }
    m->visited[CT_ROOT] = 1;
    rc = mat_dir(m, m->out_dir, CT_ROOT, 0, 0);
out:
    if (m) {
        if (m->first_path)
            for (uint32_t i = 0; i < t->nino; i++)
                free(m->first_path[i]);
        free(m->first_path);
        free(m->nlink);
        free(m->visited);
        free(m->buf);
        if (m->out_dir >= 0)
            close(m->out_dir);
        if (m->snap_dir >= 0)
            close(m->snap_dir);
        free(m);
    }
    free(ix.order);
    return rc;
}

/* -- compare -- */

struct cmp {
    const struct ct_tree *t;
    const struct ct_index *ix;
    int snap_dir;
    uint8_t *visited;
    unsigned char *a, *b;
    struct fl_err *err;
    char path[4200];
};

static int cmp_file(struct cmp *c, int dfd, const char *name, uint32_t ino)
{
    const struct ct_inode *n = &c->t->ino[ino];
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(c->err, errno, "%s: %s", c->path, strerror(errno));
    int snap = -1, rc = 0;
    if (uses_snapshot(n) && (snap = open_snap(c->t, c->snap_dir, ino)) < 0) {
        rc = fl_err_set(c->err, errno, "snapshot copy of %s: %s", c->path, strerror(errno));
        goto out;
    }
    for (uint64_t off = 0; off < n->size && rc == 0;) {
        size_t want = n->size - off > CT_COPY_CHUNK ? CT_COPY_CHUNK : (size_t)(n->size - off);
        ssize_t r = pread(fd, c->a, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = fl_err_set(c->err, errno, "%s: %s", c->path, strerror(errno));
            break;
        }
        if (r == 0) {
            rc = fl_err_set(c->err, EBADMSG, "%s: shorter on disk than the replay", c->path);
            break;
        }
        if ((rc = read_content(c->t, ino, snap, off, c->b, (size_t)r)) < 0) {
            rc = fl_err_set(c->err, -rc, "snapshot copy of %s: %s", c->path, strerror(-rc));
            break;
        }
        if (memcmp(c->a, c->b, (size_t)r) != 0) {
            size_t i = 0;
            while (c->a[i] == c->b[i])
                i++;
            rc = fl_err_set(c->err, EBADMSG, "%s: byte %" PRIu64 " differs between the disk and "
                            "the replay of the log", c->path, off + i);
            break;
        }
        off += (uint64_t)r;
    }
out:
    if (snap >= 0)
        close(snap);
    close(fd);
    return rc;
}

static int cmp_dir(struct cmp *c, int dfd, uint32_t dir, size_t plen, int depth)
{
    uint32_t lo, hi;
    children(c->ix, dir, &lo, &hi);
    int rc = 0;
    for (uint32_t i = lo; i < hi && rc == 0; i++) {
        const struct ct_entry *e = &c->t->ent[c->ix->order[i]];
        const struct ct_inode *n = &c->t->ino[e->ino];
        char name[NAME_MAX + 1];
        if (e->len > NAME_MAX || plen + 1 + e->len + 1 > sizeof(c->path))
            return fl_err_set(c->err, ENAMETOOLONG, "a path in the replay is too long");
        memcpy(name, e->name, e->len);
        name[e->len] = '\0';
        snprintf(c->path + plen, sizeof(c->path) - plen, "%s%s", plen ? "/" : "", name);
        size_t child_len = strlen(c->path);
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = fl_err_set(c->err, EBADMSG, "%s: in the replay of the log but not on disk (%s)",
                            c->path, strerror(errno));
            break;
        }
        bool same_type = (n->type == CT_REG && S_ISREG(st.st_mode)) ||
                         (n->type == CT_DIR && S_ISDIR(st.st_mode)) ||
                         (n->type == CT_LNK && S_ISLNK(st.st_mode));
        if (!same_type) {
            rc = fl_err_set(c->err, EBADMSG, "%s: not the same kind of file on disk and in the "
                            "replay", c->path);
            break;
        }
        if (n->type == CT_REG) {
            if ((uint64_t)st.st_size != n->size)
                rc = fl_err_set(c->err, EBADMSG, "%s: %jd bytes on disk, %" PRIu64 " in the "
                                "replay of the log", c->path, (intmax_t)st.st_size, n->size);
            else
                rc = cmp_file(c, dfd, name, e->ino);
        } else if (n->type == CT_DIR && !c->visited[e->ino] && depth < CT_MAX_DEPTH) {
            c->visited[e->ino] = 1;
            int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                rc = fl_err_set(c->err, errno, "%s: %s", c->path, strerror(errno));
                break;
            }
            rc = cmp_dir(c, cfd, e->ino, child_len, depth + 1);
            close(cfd);
        }
        c->path[plen] = '\0';
    }
    if (rc < 0)
        return rc;
    /* and nothing on disk that the replay does not have */
    int fd = dup(dfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fl_err_set(c->err, errno, "%s: %s", plen ? c->path : ".", strerror(errno));
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (ct_lookup(c->t, dir, de->d_name, (uint32_t)strlen(de->d_name)) == CT_NONE) {
            rc = fl_err_set(c->err, EBADMSG, "%s%s%s: on disk but not in the replay of the log",
                            c->path, plen ? "/" : "", de->d_name);
            break;
        }
    }
    closedir(d);
    return rc;
}

int ct_compare(const struct ct_tree *t, const char *snap_dir, const char *real_dir,
               struct fl_err *err)
{
    struct ct_index ix = {0};
    struct cmp c = {.t = t, .ix = &ix, .err = err, .snap_dir = -1};
    int rc = 0, real = -1;
    c.visited = calloc(t->nino + 1, 1);
    c.a = malloc(CT_COPY_CHUNK);
    c.b = malloc(CT_COPY_CHUNK);
    if (!c.visited || !c.a || !c.b || build_index(t, &ix) < 0) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if ((c.snap_dir = open(snap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (real = open(real_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = fl_err_set(err, errno, "%s: %s", c.snap_dir < 0 ? snap_dir : real_dir,
                        strerror(errno));
        goto out;
    }
    c.visited[CT_ROOT] = 1;
    rc = cmp_dir(&c, real, CT_ROOT, 0, 0);
out:
    if (real >= 0)
        close(real);
    if (c.snap_dir >= 0)
        close(c.snap_dir);
    free(c.visited);
    free(c.a);
    free(c.b);
    free(ix.order);
    return rc;
}

/* -- digest -- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    /* one round of a 64-bit multiply-xorshift: cheap, and every input bit reaches the state */
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t mix_bytes(uint64_t h, const char *p, uint32_t len)
{
    uint64_t w = 0;
    for (uint32_t i = 0; i < len; i++) {
        w = w << 8 | (unsigned char)p[i];
        if ((i & 7) == 7) {
            h = mix(h, w);
            w = 0;
        }
    }
    return mix(h, w ^ len);
}

struct dig {
    const struct ct_tree *t;
    const struct ct_index *ix;
    uint32_t *seen; /* order in which inodes were first reached, +1 (hard links hash as one) */
    uint32_t next;
    uint64_t h;
};

static void dig_dir(struct dig *g, uint32_t dir, int depth)
{
    uint32_t lo, hi;
    children(g->ix, dir, &lo, &hi);
    g->h = mix(g->h, 0xd1d1d1d1u ^ (uint64_t)(hi - lo));
    for (uint32_t i = lo; i < hi; i++) {
        const struct ct_entry *e = &g->t->ent[g->ix->order[i]];
        const struct ct_inode *n = &g->t->ino[e->ino];
        g->h = mix_bytes(g->h, e->name, e->len);
        if (g->seen[e->ino]) {
            g->h = mix(g->h, 0x11a4u ^ ((uint64_t)g->seen[e->ino] << 8));
            continue;
        }
        g->seen[e->ino] = ++g->next;
        g->h = mix(g->h, (uint64_t)n->type << 32 | n->mode);
        if (n->type == CT_REG) {
            g->h = mix(g->h, n->size);
            for (uint32_t s = 0; s < n->nseg; s++) {
                const struct ct_seg *sg = &n->seg[s];
                g->h = mix(mix(mix(g->h, sg->off), sg->len), sg->src_off ^ (uint64_t)sg->src << 62);
                if (sg->src == CT_SRC_SNAP)
                    g->h = mix(g->h, n->snap);
            }
        } else if (n->type == CT_LNK) {
            g->h = mix_bytes(g->h, n->link, (uint32_t)strlen(n->link));
        } else if (depth < CT_MAX_DEPTH) {
            dig_dir(g, e->ino, depth + 1);
        }
    }
}

int ct_digest(const struct ct_tree *t, uint64_t seed, uint64_t *out)
{
    struct ct_index ix = {0};
    struct dig g = {.t = t, .ix = &ix, .h = mix(0x6a09e667f3bcc909ull, seed)};
    g.seen = calloc(t->nino + 1, sizeof(*g.seen));
    if (!g.seen || build_index(t, &ix) < 0) {
        free(g.seen);
        free(ix.order);
        return -ENOMEM;
    }
    g.seen[CT_ROOT] = ++g.next;
    dig_dir(&g, CT_ROOT, 0);
    *out = g.h;
    free(g.seen);
    free(ix.order);
    return 0;
}
