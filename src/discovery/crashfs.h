/* SPDX-License-Identifier: MIT */
/*
 * crashfs.h - the disk states a power loss may leave, built from a snapshot of the trial
 * directory and the event log of one run (crashlog.h).
 *
 * A "cut" k means: events [0, k) had been issued when the power went (0 <= k <= n). At each
 * cut, every event is either durable (something the model trusts forced it to the disk before
 * the cut) or pending (it may or may not have reached the disk). A crash state is one choice
 * of which pending events reached the disk, the last write possibly torn at a page boundary.
 * The states are enumerated under a persistence model, the most informative first, capped,
 * in a fixed order (same snapshot + same log = same states, same labels); a state can be
 * materialised into an empty directory, classified, and explained in plain English.
 *
 * ## The models
 *
 * posix (default): only what POSIX plus the directory-fsync convention promise. These are the
 * ordering rules of ALICE's Abstract Persistence Model (Pillai et al., "All File Systems Are
 * Not Created Equal: On the Complexity of Crafting Crash-Consistent Applications", OSDI 2014):
 * a file's data is made durable only by an fsync of that file, a new or changed name only by
 * an fsync of its parent directory, sync makes everything durable, and nothing else is
 * ordered. ALICE's model goes further than this one (appends that expose garbage or zeros,
 * renames that persist half; see "Not modelled" below). The same paper measured six Linux
 * file systems and found they give more than this, and differ in what they give, so a failure
 * found under posix is a reliance on something POSIX does not promise, not necessarily a
 * state ext4 produces: run ext4-ordered to see which.
 *   - Data: every write, truncate (ftruncate, open(O_TRUNC)) and fallocate of a file since its
 *     last fsync/fdatasync (or sync) is pending, each independently of the others: kept or
 *     lost, and a write spanning several pages may be torn (its first pages kept).
 *   - fsync and fdatasync of a file make its data and size durable, not its name.
 *   - Names: create (open O_CREAT), mkdir, rename, link, unlink, rmdir are pending until an
 *     fsync of the directory they change (both directories for a rename across two) or a sync.
 *     The pending changes of one directory persist in program order (a prefix of them
 *     survives), independently of other directories and of file data.
 *   - sync_file_range guarantees nothing; msync(MS_SYNC) makes its range durable at once.
 * ext4-ordered: ext4 with data=ordered (the default), delayed allocation and auto_da_alloc
 * (both default), and without the fast_commit feature (not a mkfs default).
 *   - Metadata is journaled and commits in program order: creates, renames, links, unlinks,
 *     mkdir/rmdir, truncates and fallocates persist as a prefix (if a later one survived, all
 *     earlier ones did). What survives is cut by a commit point anywhere up to the crash.
 *   - A commit is forced by sync, by an fsync of a directory (everything up to its last
 *     change), and by an fsync of a file: up to the file's last change, or up to the fsync
 *     itself when the file has appended data not yet allocated (fsync allocates it in the
 *     running transaction). This follows ext4_sync_file committing the transaction recorded
 *     in the inode's i_sync_tid, which every inode update in a handle refreshes
 *     (ext4_do_update_inode -> ext4_update_inode_fsync_trans), including a rename's ctime and
 *     a write's mtime; fdatasync uses i_datasync_tid, refreshed only by size and block changes.
 *   - Data (ext4 docs: "data=ordered ... All data are forced directly out to the main file
 *     system prior to its metadata being committed to the journal"): with delayed allocation,
 *     a write that extends a file gets its blocks, and its new size, only when it is written
 *     back, in a transaction after the write. So an appending write can only survive if the
 *     commit point is past it, it never exposes garbage or stale blocks, and it may be lost
 *     (the size stays as committed). Overwrites of allocated blocks are written in place and
 *     may or may not have reached the disk, at any commit point.
 *   - auto_da_alloc (ext4 docs, mount option auto_da_alloc): rename() over an existing file
 *     first allocates the renamed file's delayed blocks (ext4_rename calls
 *     ext4_alloc_da_blocks before starting the rename's journal handle), so in data=ordered
 *     the data written before the rename is on disk whenever the rename is: replace-via-rename
 *     without fsync is safe on ext4. A rename to a name that did not exist gets no such flush.
 *     Truncating a file to 0 (open(O_TRUNC) of an existing file, ftruncate(0)) marks it, and
 *     its next close allocates its data (EXT4_STATE_DA_ALLOC_CLOSE, ext4_release_file): data
 *     written between the truncate and the close survives whenever the commit point is past the
 *     close. The window between the truncate's commit and that one is real, so an in-place
 *     rewrite is still caught on ext4, just in fewer states.
 *   - Not modelled on either: garbage or zeros in appended ranges (ALICE's weaker model allows
 *     them; ext4 ordered does not expose them), tears smaller than a page, a rename persisting
 *     half (both names, or neither, after a rename across directories), file attributes other
 *     than the mode, timestamps, xattrs, symlink creation (the log has no op for it).
 *
 * ## States at a cut, in order (deduplicated, then capped at limits.max_states)
 *   all-lost          every pending event lost (ext4: commit point at the last forced commit)
 *   none-lost         everything issued reached the disk: the trial directory at that moment
 *   data-lost:F       F's pending data lost, everything else kept
 *   op-lost:OP:P      posix: a pending name change lost, with the later changes of the same
 *                     directories; data kept
 *   commit-before:OP:P   ext4: the last journal commit just before the pending metadata
 *                     change OP (create, rename, ..., truncate, fallocate, or the close that
 *                     flushes a truncated file); data kept where the model allows
 *   torn:F            F's last pending write that spans pages torn at its middle page
 *                     boundary (its first half of pages kept), F's later writes lost
 *   op-lost+data-lost:OP:P, commit-before+data-lost:OP:P   the same, all pending data lost
 *   prefix:F:J/N      the first J of F's N pending data events kept, the rest lost
 *
 * Thread safety: none; one fl_crashfs per thread.
 */
#ifndef FL_CRASHFS_H
#define FL_CRASHFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crashlog.h"

struct fl_err;
struct fl_crashfs;
struct fl_crash_states;
struct fl_crash_state;

enum fl_crash_model {
    FL_CRASH_MODEL_POSIX = 0,
    FL_CRASH_MODEL_EXT4_ORDERED = 1,
};

/* What a failing state says about the program's update protocol, as the classifier names it
 * (fl_crashfs_classify). Ordered by how specific the diagnosis is. */
enum fl_crash_pattern {
    FL_CRASH_PATTERN_OTHER = 0,
    FL_CRASH_PATTERN_UNSYNCED_APPEND,      /* appended data lost (no fsync after the append) */
    FL_CRASH_PATTERN_MISSING_DIR_FSYNC,    /* a create/rename/link/unlink lost: no dir fsync */
    FL_CRASH_PATTERN_IN_PLACE_REWRITE,     /* a file truncated or overwritten in place lost
                                              its new data (empty, torn or mixed) */
    FL_CRASH_PATTERN_RENAME_WITHOUT_FSYNC, /* a rename reached the disk before the renamed
                                              file's data did */
};

struct fl_crashfs_limits {
    uint64_t max_bytes;     /* snapshot size, and data bytes one state may write */
    uint64_t max_file_size; /* logical size of any file in a state (holes included) */
    uint32_t max_entries;   /* names in the snapshot */
    uint32_t max_events;    /* events in the log */
    uint32_t max_states;    /* states per cut */
};

/* 256 MiB, 16 GiB, 100 000 names, 1 000 000 events, 64 states. */
void fl_crashfs_default_limits(struct fl_crashfs_limits *lim);

/* "posix" / "ext4-ordered". parse returns 0 or -EINVAL. */
int fl_crash_model_parse(const char *name, enum fl_crash_model *out);
const char *fl_crash_model_name(enum fl_crash_model model);
/* "in-place-rewrite", "rename-without-fsync", "missing-dir-fsync", "unsynced-append", "other" */
const char *fl_crash_pattern_name(enum fl_crash_pattern pattern);

/* Load the snapshot (read-only; it must stay unchanged while fs lives) and replay the whole
 * log against it, resolving every event to the files it touches. log must outlive fs. Fails
 * with -EBADMSG when the log does not fit the snapshot (a call the recorder missed: an open of
 * a file that does not exist, a rename of a missing name), -ENOTSUP on an UNTRACKED event or
 * an fallocate mode that cannot be replayed (collapse, insert), -EFBIG over a limit. lim may be
 * NULL for the defaults. */
int fl_crashfs_open(struct fl_crashfs **out, const char *snapshot_dir,
                    const struct fl_crashlog *log, enum fl_crash_model model,
                    const struct fl_crashfs_limits *lim, struct fl_err *err);
void fl_crashfs_free(struct fl_crashfs *fs);

/* n: the log's event count. Cuts are 0..n. */
size_t fl_crashfs_event_count(const struct fl_crashfs *fs);
const struct fl_crash_event *fl_crashfs_event(const struct fl_crashfs *fs, size_t i);
enum fl_crash_model fl_crashfs_model(const struct fl_crashfs *fs);

/* Check the replay of the whole log against the directory the target really left (the trial
 * directory after the run): same names, kinds, sizes and bytes. A difference means the
 * recorder missed a call and every state would be wrong; run this before exploring. */
int fl_crashfs_verify(struct fl_crashfs *fs, const char *trial_dir, struct fl_err *err);

/* The states at one cut. */
int fl_crashfs_states(struct fl_crashfs *fs, size_t cut, struct fl_crash_states **out,
                      struct fl_err *err);
size_t fl_crash_states_count(const struct fl_crash_states *set);
const struct fl_crash_state *fl_crash_states_get(const struct fl_crash_states *set, size_t i);
/* Candidate states not built because the cap was reached (0: the list is complete). */
size_t fl_crash_states_skipped(const struct fl_crash_states *set);
void fl_crash_states_free(struct fl_crash_states *set);

size_t fl_crash_state_cut(const struct fl_crash_state *st);
/* A short machine label, e.g. "data-lost:state.json" (see the header comment). */
const char *fl_crash_state_label(const struct fl_crash_state *st);
/* How many bytes of stdout the program had printed before the cut (the largest MARK issued):
 * what it had acknowledged, for the check to hold it to. */
uint64_t fl_crash_state_stdout_bytes(const struct fl_crash_state *st);
/* Whether event i (< cut) did not reach the disk in this state, whole or in part (torn). */
bool fl_crash_state_lost(const struct fl_crash_state *st, size_t i);
/* Whether this state loses anything at all (false only for none-lost-like states). */
bool fl_crash_state_loses(const struct fl_crash_state *st);

/* Build the state in dir, which must exist and be empty: the snapshot's files (copied with
 * copy_file_range where the file system allows, read/write otherwise) with the kept events
 * applied. No fork, no exec; at most limits.max_bytes of data are written. */
int fl_crashfs_materialize(struct fl_crashfs *fs, const struct fl_crash_state *st,
                           const char *dir, struct fl_err *err);

/* A digest of what materialising st would produce, including its stdout byte count: states
 * with equal digests (at any cuts) need checking once. */
int fl_crashfs_digest(struct fl_crashfs *fs, const struct fl_crash_state *st, uint64_t *out);

/* Name the pattern behind a failing state (see enum fl_crash_pattern): the most specific
 * pattern among what the state lost, restricted to files still visible in the state. */
enum fl_crash_pattern fl_crashfs_classify(struct fl_crashfs *fs, const struct fl_crash_state *st);

/* Plain English: what was lost and what the disk shows because of it, one sentence per loss,
 * e.g. "rename(tmp, state.json) reached the disk but tmp's data was not fsynced before it:
 * state.json is empty (rename without fsync of the new file)". Returns what snprintf does, or
 * -ENOMEM. */
int fl_crashfs_explain(struct fl_crashfs *fs, const struct fl_crash_state *st, char *buf,
                       size_t len);

#endif
