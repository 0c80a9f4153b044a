/* SPDX-License-Identifier: MIT */
/*
 * faults/corrupt_sqlite.c - the SQLite-aware modes of the `corrupt` kind (faults/corrupt.c).
 *
 * Why: random bytes in a database mostly land in free space or row data and show nothing;
 * what breaks applications in the field is damage at the places SQLite itself checks. These
 * modes read the file format (https://sqlite.org/fileformat.html) and hit those places:
 *
 *   sqlite-header   the 16-byte magic, or the page size at offset 16, so that SQLite says
 *                   "file is not a database".
 *   sqlite-page     the page-type byte of one b-tree page (of the whole file, or of one table
 *                   or index), so that reading through it gives "database disk image is
 *                   malformed".
 *   sqlite-wal      the WAL header checksum, one frame's checksum, or a WAL cut inside a
 *                   frame: on the next open SQLite's recovery silently drops the frames from
 *                   that point on, so committed transactions disappear.
 *   sqlite-journal  a hot rollback journal whose page images are garbage with valid
 *                   checksums (a new one, or the existing one rewritten), so SQLite's own
 *                   rollback on the next open writes the garbage into the database.
 *
 * prepare (fl_corrupt_sqlite_prepare) checks the file really is SQLite, decides the target
 * (page, frame) from the params and the seed, and names the extra files to save (the -wal,
 * the -journal, which may not exist yet). apply follows that plan. Reading the schema uses
 * the sqlite3 library on an immutable=1 URI: it reads the main file only, takes no locks
 * and writes nothing, which is also the file these modes damage.
 *
 * Divisions: format helpers and the database header; choosing a b-tree page (walking the
 * trees from their roots); prepare (per mode, keeping atimes); apply (header, page, WAL,
 * journal).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corrupt.h"
#include "fault.h"
#include "prng.h"

#define SQLITE_MAGIC "SQLite format 3"     /* 16 bytes with its NUL */
#define WAL_HDR 32
#define WAL_FRAME_HDR 24
#define JOURNAL_SECTOR 512                 /* header size we write; SQLite reads it back */
#define MAX_BTREE_PAGES (1u << 20)         /* pages walked to choose a target */

static const unsigned char journal_magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* short: the caller checked the size, so the file shrank */
        got += (size_t)r;
    }
    return 0;
}

static int write_at(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        done += (size_t)w;
    }
    return 0;
}

/* What the database header says. */
struct sq_db {
    uint32_t page_size;  /* bytes */
    uint32_t pages;      /* pages in the file */
    bool wal;            /* read/write versions 2: WAL mode */
};

static int read_db_header(const char *path, const char *mode, struct sq_db *db,
                          struct fl_err *err)
{
    int fd = fl_corrupt_open_quietly(path);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    unsigned char h[100];
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && st.st_size >= 100)
        rc = read_at(fd, h, sizeof(h), 0);
    close(fd);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: %s", path, strerror(-rc));
    if (st.st_size < 100 || memcmp(h, SQLITE_MAGIC, 16) != 0)
        return fl_err_set(err, EINVAL, "%s: not an SQLite database (no '" SQLITE_MAGIC "' "
                                       "header); --mode %s needs one", path, mode);
    uint32_t ps = (uint32_t)h[16] << 8 | h[17];
    if (ps == 1)
        ps = 65536;
    if (ps < 512 || (ps & (ps - 1)))
        return fl_err_set(err, EINVAL, "%s: the header's page size %u is invalid (already "
                                       "damaged?)", path, ps);
    db->page_size = ps;
    db->pages = (uint32_t)((uint64_t)st.st_size / ps);
    db->wal = h[18] == 2 && h[19] == 2;
    return 0;
}

/* ---- choosing a b-tree page ----------------------------------------------------------- */

struct sq_pages {
    uint32_t *v;         /* b-tree pages found */
    size_t n;            /* how many in v */
    size_t cap;          /* room in v */
    unsigned char *seen; /* one byte per page number: walked already */
};

static int add_page(struct sq_pages *ps, uint32_t pg)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        uint32_t *v = realloc(ps->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->n++] = pg;
    return 0;
}

/* Walk the b-tree rooted at root and collect its pages (iteratively, with a stack). */
static int walk_btree(int fd, const struct sq_db *db, uint32_t root, struct sq_pages *ps,
                      const char *path, struct fl_err *err)
{
    unsigned char *page = malloc(db->page_size);
    uint32_t *stack = malloc(sizeof(uint32_t) * 4096);
    size_t sp = 0, stack_cap = 4096;
    int rc = 0;
    if (!page || !stack) {
        rc = fl_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    stack[sp++] = root;
    while (sp > 0 && rc == 0) {
        uint32_t pg = stack[--sp];
        if (pg < 1 || pg > db->pages) {
            rc = fl_err_set(err, EINVAL, "%s: b-tree points at page %u of %u (already damaged?)",
                            path, pg, db->pages);
            break;
        }
        if (ps->seen[pg])
            continue;
        ps->seen[pg] = 1;
        if (ps->n >= MAX_BTREE_PAGES)
            break;
        if ((rc = read_at(fd, page, db->page_size, (uint64_t)(pg - 1) * db->page_size)) < 0) {
            rc = fl_err_set(err, -rc, "%s: page %u: %s", path, pg, strerror(-rc));
            break;
        }
        const unsigned char *h = page + (pg == 1 ? 100 : 0);
        if (h[0] != 2 && h[0] != 5 && h[0] != 10 && h[0] != 13) {
            rc = fl_err_set(err, EINVAL, "%s: page %u is not a b-tree page (type %u; already "
                                         "damaged?)", path, pg, h[0]);
            break;
        }
        if ((rc = add_page(ps, pg)) < 0) {
            rc = fl_err_set(err, ENOMEM, "out of memory");
            break;
        }
        if (h[0] != 2 && h[0] != 5)
            continue; /* a leaf */
        unsigned cells = (unsigned)h[3] << 8 | h[4];
        if (sp + cells + 1 > stack_cap) {
            size_t cap = sp + cells + 1 + stack_cap;
            uint32_t *s = realloc(stack, cap * sizeof(*s));
            if (!s) {
                rc = fl_err_set(err, ENOMEM, "out of memory");
                break;
            }
            stack = s;
            stack_cap = cap;
        }
        stack[sp++] = get32(h + 8);
        for (unsigned c = 0; c < cells; c++) {
            size_t ptr = (size_t)(h - page) + 12 + 2 * c;
            unsigned off = ptr + 1 < db->page_size ? (unsigned)page[ptr] << 8 | page[ptr + 1] : 0;
            if (off + 4 > db->page_size) {
                rc = fl_err_set(err, EINVAL, "%s: page %u has a cell outside the page (already "
                                             "damaged?)", path, pg);
                break;
            }
            stack[sp++] = get32(page + off);
        }
    }
out:
    free(page);
    free(stack);
    return rc;
}

/* Root pages of every b-tree (table NULL), or of the table or index called table. */
static int find_roots(const char *path, const char *table, uint32_t **roots, size_t *n,
                      struct fl_err *err)
{
    /* The library reads an image of the file mapped through a descriptor opened without
     * atime (its own open could not be), never the file itself; like immutable=1, the WAL is
     * not consulted. */
    int fd = fl_corrupt_open_quietly(path);
    struct stat fst;
    if (fd < 0 || fstat(fd, &fst) < 0 || fst.st_size <= 0) {
        int e = fd < 0 || fst.st_size > 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return fl_err_set(err, e, "%s: cannot read its schema: %s", path, strerror(e));
    }
    void *image = mmap(NULL, (size_t)fst.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (image == MAP_FAILED)
        return fl_err_set(err, errno, "%s: cannot read its schema: %s", path, strerror(errno));
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_deserialize(db, "main", image, fst.st_size, fst.st_size,
                                 SQLITE_DESERIALIZE_READONLY);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, table ? "SELECT rootpage FROM sqlite_schema WHERE name = ?1 "
                                            "AND rootpage > 0"
                                          : "SELECT rootpage FROM sqlite_schema WHERE rootpage > 0",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int r = fl_err_set(err, EINVAL, "%s: cannot read its schema: %s", path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
    munmap(image, (size_t)fst.st_size);
        munmap(image, (size_t)fst.st_size);
        return r;
    }
    if (table)
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    *n = 0;
    *roots = malloc(sizeof(uint32_t) * 1025);
    if (!table)
        (*roots)[(*n)++] = 1; /* the schema's own b-tree */
    while (*roots && (rc = sqlite3_step(st)) == SQLITE_ROW && *n < 1025)
        (*roots)[(*n)++] = (uint32_t)sqlite3_column_int64(st, 0);
    int r = 0;
    if (!*roots)
        r = fl_err_set(err, ENOMEM, "out of memory");
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = fl_err_set(err, EINVAL, "%s: cannot read its schema: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (r == 0 && table && *n == 0) {
        /* name what there is, so a typo is easy to see */
        char names[300] = "";
        size_t k = 0;
        if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                   "ORDER BY name", -1, &st, NULL) == SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW && k + 2 < sizeof(names))
                k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", k ? ", " : "",
                                      (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        r = fl_err_set(err, EINVAL, "--table %s: no such table or index in %s (tables: %s)",
                       table, path, k ? names : "none");
    }
    sqlite3_close(db);
    munmap(image, (size_t)fst.st_size);
    if (r < 0) {
        free(*roots);
        *roots = NULL;
    }
    return r;
}

/* Choose the page to damage: --page if given (it must be a b-tree page of the tree asked for,
 * and not page 1, whose damage reads as "not a database" instead), else one drawn with p. */
static int pick_page(const char *path, const struct sq_db *db, const json_t *params,
                     struct fl_prng *p, uint32_t *page, struct fl_err *err)
{
    const char *table = json_string_value(json_object_get(params, "table"));
    uint32_t *roots = NULL;
    size_t nroots = 0;
    int rc = find_roots(path, table, &roots, &nroots, err);
    if (rc < 0)
        return rc;
    struct sq_pages ps = {0};
    ps.seen = calloc((size_t)db->pages + 1, 1);
    int fd = fl_corrupt_open_quietly(path);
    if (!ps.seen || fd < 0)
        rc = fl_err_set(err, fd < 0 ? errno : ENOMEM, "%s: %s", path,
                        strerror(fd < 0 ? errno : ENOMEM));
    for (size_t i = 0; i < nroots && rc == 0; i++)
        rc = walk_btree(fd, db, roots[i], &ps, path, err);
    if (fd >= 0)
        close(fd);
    /* drop page 1 */
    size_t k = 0;
    for (size_t i = 0; i < ps.n; i++)
        if (ps.v[i] != 1)
            ps.v[k++] = ps.v[i];
    ps.n = k;
    json_t *given = json_object_get(params, "page");
    if (rc == 0 && given) {
        json_int_t want = json_integer_value(given);
        bool found = false;
        for (size_t i = 0; i < ps.n && !found; i++)
            found = ps.v[i] == (uint64_t)want;
        if (!found)
            rc = fl_err_set(err, ERANGE, "--page %lld: not a b-tree page %s%s of %s (page 1 "
                                         "is never chosen; %zu candidates)", (long long)want,
                            table ? "of " : "", table ? table : "", path, ps.n);
        else
            *page = (uint32_t)want;
    } else if (rc == 0 && ps.n == 0) {
        rc = fl_err_set(err, EINVAL, "%s: no b-tree page besides page 1 to damage%s%s", path,
                        table ? " in " : " (no tables)", table ? table : "");
    } else if (rc == 0) {
        /* sorted first, so the choice depends on the seed and the file, not walk order */
        for (size_t i = 1; i < ps.n; i++)
            for (size_t j = i; j > 0 && ps.v[j - 1] > ps.v[j]; j--) {
                uint32_t t = ps.v[j];
                ps.v[j] = ps.v[j - 1];
                ps.v[j - 1] = t;
            }
        *page = ps.v[fl_prng_below(p, ps.n)];
    }
    free(ps.v);
    free(ps.seen);
    free(roots);
    return rc;
}

/* A page-type byte that no b-tree page has (2, 5, 10 and 13 are the valid ones). */
static unsigned char bad_page_type(struct fl_prng *p)
{
    for (;;) {
        unsigned char t = (unsigned char)fl_prng_below(p, 256);
        if (t != 2 && t != 5 && t != 10 && t != 13)
            return t;
    }
}

/* ---- prepare ---------------------------------------------------------------------------- */

static int prepare_wal(const char *path, const json_t *params, json_t *extra, json_t *detail,
                       struct fl_prng *p, struct fl_err *err)
{
    char wal[4200];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    const char *part = json_string_value(json_object_get(params, "part"));
    if (!part)
        part = "header";
    if (strcmp(part, "header") && strcmp(part, "frame") && strcmp(part, "truncate"))
        return fl_err_set(err, EINVAL, "--part '%s': expected header, frame or truncate "
                                       "for --mode sqlite-wal", part);
    if (json_object_get(params, "frame") && !strcmp(part, "header"))
        return fl_err_set(err, EINVAL, "--frame does not apply to --part header");
    int fd = fl_corrupt_open_quietly(wal);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s (--mode sqlite-wal needs a database in WAL mode "
                                      "with transactions not yet checkpointed)", wal,
                          errno == ENOENT ? "no such file" : strerror(errno));
    struct stat st;
    unsigned char h[WAL_HDR];
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && st.st_size >= WAL_HDR)
        rc = read_at(fd, h, sizeof(h), 0);
    close(fd);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: %s", wal, strerror(-rc));
    uint32_t magic = st.st_size >= WAL_HDR ? get32(h) : 0;
    if (magic != 0x377f0682 && magic != 0x377f0683)
        return fl_err_set(err, EINVAL, "%s: not a write-ahead log with frames (empty, or no WAL "
                                       "magic)", wal);
    uint32_t ps = get32(h + 8);
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)))
        return fl_err_set(err, EINVAL, "%s: WAL page size %u is invalid", wal, ps);
    uint64_t fsz = (uint64_t)ps + WAL_FRAME_HDR;
    uint64_t frames = ((uint64_t)st.st_size - WAL_HDR) / fsz;
    json_t *given = json_object_get(params, "frame");
    if (frames == 0 && strcmp(part, "header"))
        return fl_err_set(err, EINVAL, "%s: holds no whole frame to damage", wal);
    uint64_t frame = 0;
    if (given) {
        json_int_t f = json_integer_value(given);
        if (!json_is_integer(given) || f < 1 || (uint64_t)f > frames)
            return fl_err_set(err, ERANGE, "--frame %lld: %s holds frames 1 to %" PRIu64,
                              (long long)f, wal, frames);
        frame = (uint64_t)f;
    } else if (strcmp(part, "header")) {
        frame = 1 + fl_prng_below(p, frames);
    }
    json_array_append_new(extra, json_string(wal));
    json_object_set_new(detail, "part", json_string(part));
    json_object_set_new(detail, "wal", json_string(wal));
    json_object_set_new(detail, "wal_page_size", json_integer(ps));
    json_object_set_new(detail, "frames", json_integer((json_int_t)frames));
    if (frame)
        json_object_set_new(detail, "frame", json_integer((json_int_t)frame));
    return 0;
}

/* Planning reads the database, its WAL and journal, all through fl_corrupt_open_quietly
 * (the schema too: the sqlite3 library reads a mapped image). Where the kernel refuses
 * O_NOATIME (a file neither ours nor root's) a read may still move atime, which a restore
 * must put back exactly: so the times are taken before and the atime put back after, where
 * nothing but a read happened (same inode, same mtime). */
struct sq_atime {
    char path[4200];     /* the db, its -wal or its -journal */
    struct stat st;      /* before planning */
    bool have;           /* it existed as a regular file */
};

static void atimes_take(const char *db, struct sq_atime a[3])
{
    static const char *const suffix[3] = {"", "-wal", "-journal"};
    for (int i = 0; i < 3; i++) {
        snprintf(a[i].path, sizeof(a[i].path), "%s%s", db, suffix[i]);
        a[i].have = lstat(a[i].path, &a[i].st) == 0 && S_ISREG(a[i].st.st_mode);
    }
}

static void atimes_put_back(const struct sq_atime a[3])
{
    for (int i = 0; i < 3; i++) {
        struct stat now;
        if (!a[i].have || lstat(a[i].path, &now) < 0 || now.st_ino != a[i].st.st_ino ||
            now.st_mtim.tv_sec != a[i].st.st_mtim.tv_sec ||
            now.st_mtim.tv_nsec != a[i].st.st_mtim.tv_nsec)
            continue;
        if (now.st_atim.tv_sec == a[i].st.st_atim.tv_sec &&
            now.st_atim.tv_nsec == a[i].st.st_atim.tv_nsec)
            continue;
        struct timespec t[2] = {a[i].st.st_atim, {0, UTIME_OMIT}};
        (void)utimensat(AT_FDCWD, a[i].path, t, AT_SYMLINK_NOFOLLOW); /* best effort */
    }
}

static int sqlite_prepare(const char *path, const char *mode, const json_t *params,
                          json_t *extra_paths, json_t *detail, struct fl_err *err);

int fl_corrupt_sqlite_prepare(const char *path, const char *mode, const json_t *params,
                              json_t *extra_paths, json_t *detail, struct fl_err *err)
{
    struct sq_atime a[3];
    atimes_take(path, a);
    int rc = sqlite_prepare(path, mode, params, extra_paths, detail, err);
    atimes_put_back(a);
    return rc;
}

static int sqlite_prepare(const char *path, const char *mode, const json_t *params,
                          json_t *extra_paths, json_t *detail, struct fl_err *err)
{
    struct sq_db db = {0};
    int rc = read_db_header(path, mode, &db, err);
    if (rc < 0)
        return rc;
    struct fl_prng p;
    /* a stream of its own, so choices made here do not shift the bytes apply draws */
    fl_prng_seed(&p, fl_mix3((uint64_t)json_integer_value(json_object_get(params, "seed")), 1,
                             0));
    json_object_set_new(detail, "page_size", json_integer(db.page_size));
    json_object_set_new(detail, "pages", json_integer(db.pages));
    if (!strcmp(mode, "sqlite-header")) {
        const char *part = json_string_value(json_object_get(params, "part"));
        if (part && strcmp(part, "magic") && strcmp(part, "pagesize"))
            return fl_err_set(err, EINVAL, "--part '%s': expected magic or pagesize for --mode "
                                           "sqlite-header", part);
        json_object_set_new(detail, "part", json_string(part ? part : "magic"));
        return 0;
    }
    if (!strcmp(mode, "sqlite-wal")) /* the db is saved too: recovery may checkpoint into it */
        return prepare_wal(path, params, extra_paths, detail, &p, err);
    if (!strcmp(mode, "sqlite-page")) {
        uint32_t page;
        if ((rc = pick_page(path, &db, params, &p, &page, err)) < 0)
            return rc;
        json_object_set_new(detail, "page", json_integer(page));
        return 0;
    }
    /* sqlite-journal */
    if (db.wal)
        return fl_err_set(err, EINVAL, "%s: is in WAL mode, where a rollback journal is "
                                       "ignored; use --mode sqlite-wal", path);
    char journal[4200];
    snprintf(journal, sizeof(journal), "%s-journal", path);
    json_array_append_new(extra_paths, json_string(journal));
    json_object_set_new(detail, "journal", json_string(journal));
    /* an existing hot journal (a writer died mid-transaction) is rewritten in place */
    int fd = fl_corrupt_open_quietly(journal);
    unsigned char h[28];
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= 28 + 8 &&
        read_at(fd, h, sizeof(h), 0) == 0 && !memcmp(h, journal_magic, 8)) {
        uint32_t sector = get32(h + 20), ps = get32(h + 24);
        uint64_t rec = (uint64_t)ps + 8;
        if (ps == db.page_size && sector >= 32 && sector <= 65536 && !(sector & (sector - 1)) &&
            (uint64_t)st.st_size >= sector + rec) {
            json_object_set_new(detail, "existing", json_true());
            json_object_set_new(detail, "records",
                                json_integer((json_int_t)(((uint64_t)st.st_size - sector) /
                                                          rec)));
        }
    }
    if (fd >= 0)
        close(fd);
    if (json_is_true(json_object_get(detail, "existing"))) {
        if (json_object_get(params, "table") || json_object_get(params, "page"))
            return fl_err_set(err, EINVAL, "%s: a hot journal exists already; its own pages "
                                           "are damaged, so --table and --page do not apply",
                              journal);
        return 0;
    }
    uint32_t page;
    if ((rc = pick_page(path, &db, params, &p, &page, err)) < 0)
        return rc;
    json_object_set_new(detail, "page", json_integer(page));
    return 0;
}

/* ---- apply ------------------------------------------------------------------------------ */

/* Random bytes into buf, different from what it held at [0] so the damage always shows. */
static void garbage(struct fl_prng *p, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = fl_prng_next(p);
        for (size_t k = 0; k < 8 && i + k < n; k++)
            buf[i + k] = (unsigned char)(r >> (8 * k));
    }
}

/* A page image for a journal record: garbage, with a page-type byte no b-tree page has, so
 * the rolled-back page is reported as corrupt rather than read as plausible rows. Page 1
 * keeps its original 100-byte file header so the damage reads as "malformed", not as
 * "not a database". */
static void garbage_page(struct fl_prng *p, unsigned char *page, size_t ps, uint32_t pgno,
                         const unsigned char *orig_hdr)
{
    garbage(p, page, ps);
    if (pgno == 1 && orig_hdr)
        memcpy(page, orig_hdr, 100);
    page[pgno == 1 ? 100 : 0] = bad_page_type(p);
}

/* SQLite's journal checksum: the nonce plus every 200th byte from the end of the page. */
static uint32_t journal_cksum(uint32_t nonce, const unsigned char *page, uint32_t ps)
{
    uint32_t sum = nonce;
    for (int i = (int)ps - 200; i > 0; i -= 200)
        sum += page[i];
    return sum;
}

static int apply_journal(const char *path, const json_t *detail, struct fl_prng *p,
                         struct fl_err *err)
{
    const char *journal = json_string_value(json_object_get(detail, "journal"));
    uint32_t ps = (uint32_t)json_integer_value(json_object_get(detail, "page_size"));
    bool existing = json_is_true(json_object_get(detail, "existing"));
    unsigned char *page = malloc(ps), dbhdr[100];
    if (!page)
        return fl_err_set(err, ENOMEM, "out of memory");
    int dbfd = fl_corrupt_open_quietly(path);
    int rc = dbfd < 0 ? -errno : read_at(dbfd, dbhdr, sizeof(dbhdr), 0);
    if (dbfd >= 0)
        close(dbfd);
    int fd = rc < 0 ? -1
                    : open(journal, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (rc == 0 && fd < 0)
        rc = -errno;
    if (rc < 0) {
        free(page);
        return fl_err_set(err, -rc, "%s: %s", rc == -EIO || dbfd < 0 ? path : journal,
                          strerror(-rc));
    }
    if (existing) {
        unsigned char h[28];
        rc = read_at(fd, h, sizeof(h), 0);
        uint32_t nonce = get32(h + 12), sector = get32(h + 20);
        uint64_t records = (uint64_t)json_integer_value(json_object_get(detail, "records"));
        for (uint64_t r = 0; r < records && rc == 0; r++) {
            uint64_t off = sector + r * ((uint64_t)ps + 8);
            unsigned char num[4], ck[4];
            if ((rc = read_at(fd, num, 4, off)) < 0)
                break;
            garbage_page(p, page, ps, get32(num), dbhdr);
            put32(ck, journal_cksum(nonce, page, ps));
            if ((rc = write_at(fd, page, ps, off + 4)) == 0)
                rc = write_at(fd, ck, 4, off + 4 + ps);
        }
        /* a header whose count is 0 (never synced) plays back nothing: make them count */
        unsigned char n[4];
        put32(n, (uint32_t)records);
        if (rc == 0)
            rc = write_at(fd, n, 4, 8);
    } else {
        uint32_t pgno = (uint32_t)json_integer_value(json_object_get(detail, "page"));
        uint32_t nonce = (uint32_t)fl_prng_next(p);
        unsigned char *buf = calloc(1, JOURNAL_SECTOR + 8 + ps);
        if (!buf) {
            rc = -ENOMEM;
        } else {
            memcpy(buf, journal_magic, 8);
            put32(buf + 8, 1);                                   /* records */
            put32(buf + 12, nonce);                              /* checksum nonce */
            put32(buf + 16, (uint32_t)json_integer_value(       /* pages before the txn */
                                json_object_get(detail, "pages")));
            put32(buf + 20, JOURNAL_SECTOR);
            put32(buf + 24, ps);
            put32(buf + JOURNAL_SECTOR, pgno);
            garbage_page(p, buf + JOURNAL_SECTOR + 4, ps, pgno, dbhdr);
            put32(buf + JOURNAL_SECTOR + 4 + ps, journal_cksum(nonce, buf + JOURNAL_SECTOR + 4,
                                                               ps));
            rc = write_at(fd, buf, JOURNAL_SECTOR + 8 + ps, 0);
            if (rc == 0 && ftruncate(fd, JOURNAL_SECTOR + 8 + (off_t)ps) < 0)
                rc = -errno;
            free(buf);
        }
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    free(page);
    return rc < 0 ? fl_err_set(err, -rc, "%s: %s", journal, strerror(-rc)) : 0;
}

static int apply_wal(const json_t *detail, struct fl_prng *p, struct fl_err *err)
{
    const char *wal = json_string_value(json_object_get(detail, "wal"));
    const char *part = json_string_value(json_object_get(detail, "part"));
    uint64_t fsz = (uint64_t)json_integer_value(json_object_get(detail, "wal_page_size")) +
                   WAL_FRAME_HDR;
    uint64_t frame = (uint64_t)json_integer_value(json_object_get(detail, "frame"));
    int fd = open(wal, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s", wal, strerror(errno));
    int rc = 0;
    if (!strcmp(part, "truncate")) {
        /* cut inside the frame: it and every later frame are gone, the ones before intact */
        uint64_t at = WAL_HDR + (frame - 1) * fsz + 1 + fl_prng_below(p, fsz - 1);
        rc = ftruncate(fd, (off_t)at) < 0 ? -errno : 0;
    } else {
        /* the 8 checksum bytes: of the header (24..31), or of the frame's header (16..23) */
        uint64_t off = !strcmp(part, "header") ? 24 : WAL_HDR + (frame - 1) * fsz + 16;
        unsigned char old[8], b[8];
        if ((rc = read_at(fd, old, 8, off)) == 0) {
            do
                garbage(p, b, 8);
            while (!memcmp(b, old, 8));
            rc = write_at(fd, b, 8, off);
        }
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc < 0 ? fl_err_set(err, -rc, "%s: %s", wal, strerror(-rc)) : 0;
}

int fl_corrupt_sqlite_apply(const char *path, const char *mode, const json_t *params,
                            const json_t *detail, struct fl_err *err)
{
    struct fl_prng p;
    fl_prng_seed(&p, (uint64_t)json_integer_value(json_object_get(params, "seed")));
    if (!strcmp(mode, "sqlite-wal"))
        return apply_wal(detail, &p, err);
    if (!strcmp(mode, "sqlite-journal"))
        return apply_journal(path, detail, &p, err);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    int rc;
    if (!strcmp(mode, "sqlite-header")) {
        if (!strcmp(json_string_value(json_object_get(detail, "part")), "magic")) {
            unsigned char b[16];
            do
                garbage(&p, b, sizeof(b));
            while (!memcmp(b, SQLITE_MAGIC, 16));
            rc = write_at(fd, b, sizeof(b), 0);
        } else {
            /* a page size SQLite refuses: not a power of two, so never 512..65536 */
            uint32_t v;
            do
                v = 2 + (uint32_t)fl_prng_below(&p, 65534);
            while (!(v & (v - 1)));
            unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
            rc = write_at(fd, b, 2, 16);
        }
    } else { /* sqlite-page */
        uint32_t pg = (uint32_t)json_integer_value(json_object_get(detail, "page"));
        uint32_t ps = (uint32_t)json_integer_value(json_object_get(detail, "page_size"));
        unsigned char t = bad_page_type(&p);
        rc = write_at(fd, &t, 1, (uint64_t)(pg - 1) * ps + (pg == 1 ? 100 : 0));
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc < 0 ? fl_err_set(err, -rc, "%s: %s: %s", path, mode, strerror(-rc)) : 0;
}
