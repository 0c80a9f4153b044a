/* SPDX-License-Identifier: MIT */
/*
 * crashlog.h - the event log `faultline crash` records: every durability-relevant call the
 * target made in its trial directory, with the bytes it wrote, in the order it made them.
 *
 * The log exists so that crash states can be built offline from one run (as ALICE and
 * CrashMonkey do) instead of re-running the target for every power-loss point. It is written by
 * the preload, from many processes at once, and read by crashfs.c.
 *
 * Writing. The file is opened O_WRONLY|O_APPEND by every recording process. Each event is ONE
 * write() (or one writev(): head, then data) of a whole record: on a local file system a single
 * append holds the inode lock for the whole call, so records from different processes never
 * interleave, and file order is the order. A record is appended after its call returned and
 * before the wrapper returns to the program, so whenever one call happened-before another (the
 * same thread, or ordered through a pipe, a wait, a lock) its record comes first; concurrent
 * calls land in either order, as they could have executed. There is no sequence number: the
 * position in the file is the sequence. The writer half (fl_crashlog_format*) is libc-only and
 * allocation-free so the preload can call it from any wrapper, even inside malloc.
 *
 * Layout, all integers little-endian:
 *
 *   file header (FL_CRASHLOG_HEADER_SIZE = 32 bytes), written once by the command:
 *     0  magic "FLCRASH\0"       8  u32 version (1)      12 u32 file header size (32)
 *     16 u32 record header size (56)                    20 u32 page size used for tearing
 *     24 u64 reserved (0)
 *   records, back to back, each:
 *     0  u32 size of the whole record (header + paths + data)
 *     4  u16 op (enum fl_crash_op)      6  u16 flags (per op, below)
 *     8  u32 pid                        12 u32 path length      16 u32 path2 length
 *     20 u32 arg (per op: file mode, fallocate mode, untracked reason)
 *     24 u64 st_dev                     32 u64 st_ino   (file identity; both 0 when unknown)
 *     40 u64 offset                     48 u64 length
 *     56 path bytes, then path2 bytes, then data bytes (no NULs, no padding)
 *
 * Paths are relative to the trial directory and canonical: "." is the directory itself,
 * anything else is "a/b/c" with no empty, "." or ".." component and no leading or trailing
 * slash (fl_crashlog_relpath makes one from an absolute path). The data length is what is left
 * of the record after the paths; it must equal `length` for WRITE and MSYNC (0 when they have
 * the flag FL_CRASH_DATA_OMITTED) and be 0 otherwise.
 * The reader checks every length and field against the file's size and the op's rules, so a
 * truncated or corrupt log is an error naming the byte offset of the bad record, never a crash.
 */
#ifndef FL_CRASHLOG_H
#define FL_CRASHLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fl_err;

#define FL_CRASHLOG_MAGIC "FLCRASH" /* 7 characters and a NUL: the first 8 bytes of the file */
#define FL_CRASHLOG_VERSION 1u
#define FL_CRASHLOG_HEADER_SIZE 32u
#define FL_CRASHLOG_RECORD_HEADER_SIZE 56u
#define FL_CRASHLOG_PAGE_SIZE 4096u

/* Limits the reader enforces. A write larger than FL_CRASHLOG_DATA_MAX is recorded as several
 * WRITE records at consecutive offsets (a crash may tear it at page boundaries anyway). */
#define FL_CRASHLOG_PATH_MAX 4096u
#define FL_CRASHLOG_DATA_MAX (64u << 20)
#define FL_CRASHLOG_RECORD_MAX                                                                    \
    (FL_CRASHLOG_RECORD_HEADER_SIZE + 2 * FL_CRASHLOG_PATH_MAX + FL_CRASHLOG_DATA_MAX)

/* X(name, value, text): every op the recorder emits. Values are part of the file format: never
 * renumber, only add. */
#define FL_CRASH_OPS(X)                                                                           \
    X(OPEN, 1, "open")                /* path, identity; flags CREATED, TRUNCATED; arg mode */   \
    X(WRITE, 2, "write")              /* identity, path, offset, length, data */                 \
    X(TRUNCATE, 3, "truncate")        /* identity and/or path; length = the new size */          \
    X(FALLOCATE, 4, "fallocate")      /* identity, offset, length, arg = FALLOC_FL_* mode */     \
    X(FSYNC, 5, "fsync")              /* identity and/or path of a regular file */               \
    X(FDATASYNC, 6, "fdatasync")      /* identity and/or path */                                 \
    X(SYNC_FILE_RANGE, 7, "sync_file_range") /* identity, offset, length: no guarantee */         \
    X(MSYNC, 8, "msync")              /* identity, offset, length, data: the range's contents */ \
    X(RENAME, 9, "rename")            /* path = old, path2 = new; flags NOREPLACE, EXCHANGE */   \
    X(LINK, 10, "link")               /* path = existing, path2 = new name */                    \
    X(UNLINK, 11, "unlink")           /* path */                                                 \
    X(MKDIR, 12, "mkdir")             /* path; arg mode; identity of the new directory */        \
    X(RMDIR, 13, "rmdir")             /* path */                                                 \
    X(DIRFSYNC, 14, "dirfsync")       /* path of the directory ("." for the trial directory) */  \
    X(SYNC, 15, "sync")               /* sync() or syncfs(): everything */                       \
    X(MARK, 16, "stdout")             /* length = bytes of stdout the program had printed */     \
    X(CLOSE, 17, "close")             /* identity and/or path (ext4's close heuristic) */        \
    X(UNTRACKED, 18, "untracked")     /* path; arg = FL_CRASH_UNTRACKED_*: states can't be built */

enum fl_crash_op {
#define FL_CRASH_OP_ENUM(name, value, text) FL_CRASH_##name = value,
    FL_CRASH_OPS(FL_CRASH_OP_ENUM)
#undef FL_CRASH_OP_ENUM
    FL_CRASH_OP_END, /* one past the last op */
};

/* OPEN flags */
#define FL_CRASH_OPEN_CREATED 0x1u   /* this open made the file (O_CREAT and it did not exist) */
#define FL_CRASH_OPEN_TRUNCATED 0x2u /* O_TRUNC on a file that existed */
/* WRITE and MSYNC flag: the record says where and how much was written but not the bytes
 * (`faultline audit` judges how a program writes, not what: copying every page it writes
 * into the log doubled the write volume of a database). Crash states cannot be built from such
 * a record; crashfs refuses it. */
#define FL_CRASH_DATA_OMITTED 0x1u
/* RENAME flags (renameat2); plain rename(2) replaces an existing target */
#define FL_CRASH_RENAME_NOREPLACE 0x1u
#define FL_CRASH_RENAME_EXCHANGE 0x2u

/* UNTRACKED reasons (arg): something happened in the trial directory that the log cannot
 * describe, so every state built from it would be a guess. The explorer refuses such a log. */
enum fl_crash_untracked {
    FL_CRASH_UNTRACKED_OTHER = 0,
    FL_CRASH_UNTRACKED_MMAP = 1,   /* a writable MAP_SHARED mapping the recorder cannot follow */
    FL_CRASH_UNTRACKED_DIRECT = 2, /* O_DIRECT I/O */
    FL_CRASH_UNTRACKED_CALL = 3,   /* a call with no record type (symlink, io_uring, ...) */
    FL_CRASH_UNTRACKED_LOST = 4,   /* the recorder could not append a record (ENOSPC, ...) */
};

/* One event, decoded. Strings point into the log and are NOT NUL-terminated. */
struct fl_crash_event {
    uint16_t op;          /* enum fl_crash_op */
    uint16_t flags;       /* FL_CRASH_OPEN_*, FL_CRASH_RENAME_* */
    uint32_t pid;         /* the process that made the call */
    uint32_t arg;         /* OPEN/MKDIR: st_mode & 07777; FALLOCATE: mode; UNTRACKED: reason */
    uint64_t dev, ino;    /* the file's st_dev/st_ino, 0/0 when the recorder had none */
    uint64_t offset;      /* WRITE, MSYNC, FALLOCATE, SYNC_FILE_RANGE: first byte */
    uint64_t length;      /* WRITE/MSYNC: data bytes; TRUNCATE: new size; MARK: stdout bytes */
    const char *path;     /* see the header comment; NULL when path_len is 0 */
    uint32_t path_len;
    const char *path2;    /* RENAME/LINK: the new name */
    uint32_t path2_len;
    const void *data;     /* WRITE/MSYNC: `length` bytes; NULL with FL_CRASH_DATA_OMITTED */
    uint64_t log_offset;  /* reader: where the record starts in the log file */
};

/* --- writer (libc only, no allocation, async-signal-safe) ----------------------------------- */

/* Format the file header into buf (at least FL_CRASHLOG_HEADER_SIZE bytes). Returns its size. */
size_t fl_crashlog_format_header(void *buf, size_t cap);

/* The size of ev's whole record, or 0 if ev breaks a limit or the op's rules (see the reader). */
size_t fl_crashlog_record_size(const struct fl_crash_event *ev);

/* Format ev's whole record (header, paths, data) into buf. Returns the record size, or 0 when
 * cap is too small or ev is invalid. For large writes use fl_crashlog_format_head + writev. */
size_t fl_crashlog_format(void *buf, size_t cap, const struct fl_crash_event *ev);

/* Format the record's header and paths only (the data is sent as a second iovec by the caller,
 * in the same writev, so the record stays one append). Returns the bytes formatted, or 0. */
size_t fl_crashlog_format_head(void *buf, size_t cap, const struct fl_crash_event *ev);

/* Turn an absolute, already resolved path (readlink of /proc/self/fd/N, realpath of the parent)
 * into the canonical form relative to root (also absolute): "." for root itself. Collapses "//"
 * and "/./" and resolves ".." lexically. Returns the length written to out (NUL-terminated), or
 * -EXDEV when path is outside root, -ENAMETOOLONG when out is too small, -EINVAL otherwise. */
int fl_crashlog_relpath(const char *root, const char *path, char *out, size_t cap);

/* Whether p[0..len) is a canonical relative path as defined above. */
bool fl_crashlog_path_ok(const char *p, size_t len);

/* NULL when ev obeys its op's rules (which fields it needs, which it must leave empty, valid
 * paths, lengths within limits), else a static string saying what is wrong. The writer and the
 * reader apply the same rules, so whatever the writer formats the reader accepts. */
const char *fl_crashlog_event_problem(const struct fl_crash_event *ev);

/* --- reader ------------------------------------------------------------------------------ */

struct fl_crashlog {
    const unsigned char *base; /* the whole log (a mapping, or the caller's buffer) */
    size_t size;               /* bytes in base */
    size_t mapped;             /* bytes to munmap on close (0: base is the caller's) */
    uint32_t version;          /* from the header */
    uint32_t page_size;        /* from the header: tearing granularity */
};

/* Map and check the log at path. A log with no record is valid (the target did nothing). */
int fl_crashlog_open(struct fl_crashlog *log, const char *path, struct fl_err *err);

/* The same over a buffer the caller keeps alive (tests, fuzzing). */
int fl_crashlog_from_buffer(struct fl_crashlog *log, const void *buf, size_t len,
                            struct fl_err *err);

void fl_crashlog_close(struct fl_crashlog *log);

/* Iterate: *pos starts at 0 and is advanced past each record. Returns 1 with ev filled, 0 at
 * the end of the log, or -EBADMSG with err saying which byte offset is bad and why. */
int fl_crashlog_next(const struct fl_crashlog *log, size_t *pos, struct fl_crash_event *ev,
                     struct fl_err *err);

/* "open", "write", ... or NULL for an unknown op. */
const char *fl_crash_op_name(unsigned op);

/* One line describing the call, as a report lists the sequence: `rename("tmp", "state.json")`,
 * `write("log", 512 bytes at 4096)`. Returns what snprintf returns. */
int fl_crash_event_format(const struct fl_crash_event *ev, char *buf, size_t len);

#endif
