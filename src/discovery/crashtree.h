/* SPDX-License-Identifier: MIT */
/*
 * crashtree.h - internal to src/discovery: a directory tree held symbolically, so that a crash
 * state can be computed without touching the disk and then written out in one pass.
 *
 * Files are inodes; names are entries (directory inode, name) -> inode, so hard links, renames
 * of open files and writes to unlinked or not-yet-named files all behave as on a real file
 * system. A regular file's bytes are a sorted list of segments, each pointing either into the
 * snapshot's copy of the file or into the event log's data; gaps are holes (zeros). So applying
 * a 1 MiB write costs one segment, and building a state costs memory proportional to the number
 * of events, not to the size of the files.
 *
 * Names point into memory that outlives every tree (the log mapping or the snapshot's name
 * pool); a tree owns only its arrays.
 */
#ifndef FL_CRASHTREE_H
#define FL_CRASHTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fl_err;

#define CT_NONE UINT32_MAX
#define CT_ROOT 0u /* inode 0 is the trial directory itself */

enum ct_type { CT_REG = 1, CT_DIR = 2, CT_LNK = 3 };
enum ct_src { CT_SRC_LOG = 1, CT_SRC_SNAP = 2 };

struct ct_seg {
    uint64_t off, len; /* the file's bytes [off, off + len) */
    uint64_t src_off;  /* LOG: offset in the log mapping; SNAP: offset in the snapshot file */
    uint32_t src;      /* enum ct_src */
};

struct ct_inode {
    uint8_t type;        /* enum ct_type */
    uint32_t mode;       /* permission bits (07777) */
    uint64_t size;       /* regular files: logical size; holes read as zeros */
    struct ct_seg *seg;  /* sorted by off, non-overlapping */
    uint32_t nseg, cap;  /* cap 0: seg points into the tree's seg_block (copy before growing) */
    uint32_t snap;       /* index into the snapshot's path table, CT_NONE if not from it */
    const char *link;    /* symlinks: the target (from the snapshot), NUL-terminated */
};

struct ct_entry {
    uint32_t dir, ino;   /* the directory it is in, the inode it names */
    const char *name;    /* not NUL-terminated */
    uint32_t len;
    uint32_t next;       /* hash chain */
    bool live;           /* false once removed (the slot is reused if the name comes back) */
};

struct ct_tree {
    const unsigned char *log;  /* base of the log mapping, for CT_SRC_LOG segments */
    const char *const *snap_path; /* snapshot-relative path of each snapshot file */
    struct ct_inode *ino;
    uint32_t nino, ino_cap;
    struct ct_entry *ent;
    uint32_t nent, ent_cap;
    uint32_t *bucket;          /* heads of hash chains; size nbucket, a power of two */
    uint32_t nbucket;
    struct ct_seg *seg_block;  /* a clone's segments, all in one allocation */
};

/* Limits on what a tree may hold and write out: a state never grows without bound. */
struct ct_limits {
    uint64_t max_bytes;     /* data bytes one materialisation may write */
    uint64_t max_file_size; /* logical size of any file (holes included) */
    uint32_t max_entries;   /* names in a tree */
};

void ct_free(struct ct_tree *t);
int ct_clone(struct ct_tree *dst, const struct ct_tree *src);

uint32_t ct_new_inode(struct ct_tree *t, uint8_t type, uint32_t mode); /* CT_NONE on ENOMEM */
uint32_t ct_lookup(const struct ct_tree *t, uint32_t dir, const char *name, uint32_t len);
int ct_set(struct ct_tree *t, uint32_t dir, const char *name, uint32_t len, uint32_t ino);
void ct_unset(struct ct_tree *t, uint32_t dir, const char *name, uint32_t len);

int ct_write(struct ct_tree *t, uint32_t ino, uint64_t off, uint64_t len, uint32_t src,
             uint64_t src_off);
int ct_truncate(struct ct_tree *t, uint32_t ino, uint64_t size);
int ct_zero(struct ct_tree *t, uint32_t ino, uint64_t off, uint64_t len, bool extend);

/* Resolve a canonical relative path to the inode it names (CT_NONE if absent). With
 * parent_out, resolve the parent instead and return the last component through name/len. */
uint32_t ct_resolve(const struct ct_tree *t, const char *path, uint32_t len);
uint32_t ct_resolve_parent(const struct ct_tree *t, const char *path, uint32_t len,
                           const char **name, uint32_t *name_len);

/* Load the snapshot at dir into an empty tree (inode 0 = dir). paths_out receives the path
 * table (free with ct_free_paths), pool_out the memory names and paths live in. */
int ct_load_snapshot(struct ct_tree *t, const char *dir, const struct ct_limits *lim,
                     char ***paths_out, uint32_t *npaths_out, void **pool_out,
                     struct fl_err *err);
void ct_free_pool(void *pool, char **paths);

/* Write the tree out into out_dir, which must exist and be empty. */
int ct_materialize(const struct ct_tree *t, const char *snap_dir, const char *out_dir,
                   const struct ct_limits *lim, struct fl_err *err);

/* Compare the tree with a real directory: names, types, sizes and every byte. 0 if equal,
 * -EBADMSG with err naming the first difference. */
int ct_compare(const struct ct_tree *t, const char *snap_dir, const char *real_dir,
               struct fl_err *err);

/* A 64-bit digest of what materialising the tree would produce (names, types, modes, sizes and
 * where every byte comes from), mixed with seed. Equal trees give equal digests. */
int ct_digest(const struct ct_tree *t, uint64_t seed, uint64_t *out);

/* The path of the first live name of ino ("." for the root), or false if it has none
 * reachable from the root. */
bool ct_path_of(const struct ct_tree *t, uint32_t ino, char *buf, size_t len);

#endif
