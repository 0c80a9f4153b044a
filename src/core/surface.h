/* SPDX-License-Identifier: MIT */
/*
 * surface.h - a program's fault surface: every interposed call it made, by fault point.
 *
 * `faultline sweep` first runs the target once with no fault and the preload observing: each
 * call is counted against its point, the triple (call, subject, site):
 *   call     the rule language's base name of the wrapped call (fl_op_base_name in ops.c:
 *            open64 and openat are "open", __read_chk is "read"; write, pwrite, fwrite,
 *            fsync, rename, connect, recv, malloc, ... stay apart)
 *   subject  what the call is on: a path (relative to the surface's base directory when it
 *            is inside it, so two trial directories give the same subject), a peer address,
 *            a host name for dns, or nothing (malloc)
 *   site     where in the program it was called from: a hash of the return address relative
 *            to the module that holds it (so ASLR does not change it), which is what the
 *            rule selector site=HEX matches
 * so "the 3rd write to state.json from save_state()" is one point with a count, and the 4 000
 * writes of one loop are one point with count 4 000.
 *
 * The table is a small shared-memory file (like the control block): the CLI creates it, names
 * it in FAULTLINE_SURFACE, and every process of the target's tree adds to it without locks
 * (open addressing, a point is claimed by a compare-and-swap on its key). The CLI reads it
 * after the run, even if the target was killed.
 *
 * How to observe a run (what `inject --surface` does; sweep does the same):
 *   1. fl_surface_create(path, base, ...)            the table, on tmpfs
 *   2. fl_ctl_create(..., flags | FL_CTL_OBSERVE, ...) a control block whose every call is a
 *      candidate of the observer's bit (ctlblock.h), with or without rules
 *   3. run CMD with LD_PRELOAD, FAULTLINE_CTL and FAULTLINE_SURFACE=path
 *   4. fl_surface_points / fl_surface_json, fl_surface_point_rule for each point
 *   5. fl_surface_close(h, true)
 * A point's rule selects that point and no other in a run that repeats the observed one, so
 * RULE:nth=K:errno=EIO fails its K-th call, and the rule's `seen` equals the point's count
 * as long as the program goes on as before after the fault. It may not: a retry, a rollback
 * makes more calls at the point (seen > count), giving up makes fewer (seen < count).
 * Limits of a subject: two sites' calls that differ only by a subject no selector names
 * (stdio, pipes, AF_UNIX sockets: kind= only) share their rule's calls; a file named at
 * random (mkstemp) has another name in the next run, so its rule will not match there.
 */
#ifndef FL_SURFACE_H
#define FL_SURFACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_SURF_ENV "FAULTLINE_SURFACE"
#define FL_SURF_MAGIC UINT64_C(0x31304652555346) /* "FSURF01" */
#define FL_SURF_VERSION 1u
#define FL_SURF_POINTS_MAX 4096 /* a power of two; more points are counted in `overflow` */
#define FL_SURF_CALL_MAX 32
#define FL_SURF_SUBJECT_MAX 240
#define FL_SURF_MODULE_MAX 64
#define FL_SURF_BASE_MAX 1024

enum fl_surf_subject {
    FL_SURF_NONE = 0,  /* no subject (malloc, msync) */
    FL_SURF_PATH_REL,  /* a path inside the base directory, relative to it: "state.json" */
    FL_SURF_PATH_ABS,  /* any other path, absolute: "/etc/hosts" */
    FL_SURF_PEER,      /* an IP socket's remote address: "127.0.0.1:6379", "[::1]:80" */
    FL_SURF_LISTEN,    /* a listening socket (accept): its local address */
    FL_SURF_SOCKET,    /* another socket (AF_UNIX, unconnected): "unix" or "socket" */
    FL_SURF_HOST,      /* the name a dns call looked up */
    FL_SURF_STDIO,     /* fd 0, 1 or 2 that is not a regular file: "stdin", "stdout", "stderr" */
    FL_SURF_OTHER,     /* a pipe, tty or device that is none of the above: "pipe", "tty" */
    FL_SURF_SUBJECT_KINDS,
};

#define FL_SURF_CUT 0x1u  /* the subject was longer than subject[]: it holds the start */
#define FL_SURF_BASE 0x2u /* the subject is the base directory itself ("."): no glob names it
                           * in every trial directory, so its rule selects by site (and kind) */

struct fl_surf_point {
    _Atomic uint64_t key;          /* 0: free; else a hash of (call, subject, site), never 0 */
    _Atomic uint32_t ready;        /* 1 once the fields below are written (release/acquire) */
    uint16_t op;                   /* FL_OP_x of the first call seen at this point */
    uint8_t subject_kind;          /* enum fl_surf_subject */
    uint8_t fd_kind;               /* FL_KIND_* of the fd, 0 for calls on a path or none */
    uint32_t site;                 /* the site hash, as site=%08x matches it */
    uint8_t flags;                 /* FL_SURF_CUT, FL_SURF_BASE */
    uint8_t pad_[3];
    uint64_t site_offset;          /* the return address minus its module's load address (the
                                    * ELF address after the call: addr2line -e MODULE OFF-1) */
    char call[FL_SURF_CALL_MAX];   /* the base name: "write", "fsync", "recv" */
    char module[FL_SURF_MODULE_MAX];   /* the module's file name: "myprog", "libc.so.6" */
    char subject[FL_SURF_SUBJECT_MAX]; /* as enum fl_surf_subject says */
    _Atomic uint64_t count;        /* calls at this point, all processes */
    _Atomic uint64_t first_seq;    /* the run-wide sequence number of its first call (from 1) */
    _Atomic uint64_t last_seq;     /* ... and of its last */
};

struct fl_surface {
    uint64_t magic;                /* FL_SURF_MAGIC, written last */
    uint32_t version;              /* FL_SURF_VERSION */
    uint32_t size;                 /* sizeof(struct fl_surface) */
    char base[FL_SURF_BASE_MAX];   /* the base directory, absolute, no trailing '/' ("/" is "") */
    _Atomic uint64_t seq;          /* calls seen (the sequence numbers come from here) */
    _Atomic uint32_t npoints;      /* points claimed */
    _Atomic uint32_t overflow;     /* calls whose point found no free slot */
    _Atomic uint32_t processes;    /* process images that recorded (a fork is one, so is an
                                    * exec: the new image counts again) */
    uint32_t pad_;
    struct fl_surf_point points[FL_SURF_POINTS_MAX];
};

/* The site hash of a return address: 32 bits of FNV-1a over the module's file name and the
 * 8 bytes of its offset. The preload computes it; it is here so that tests can too. */
static inline uint32_t fl_surf_site_hash(const char *module, uint64_t offset)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)module; *p; p++)
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    for (int i = 0; i < 8; i++)
        h = (h ^ ((offset >> (8 * i)) & 0xff)) * UINT64_C(0x100000001b3);
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- the CLI's side (surface.c) --------------------------------------------------------- */

#include "err.h"

struct fl_surface_handle {
    struct fl_surface *s;
    char path[4096];
};

/* Create the table at path (O_EXCL) for a run whose trial directory is base (made absolute;
 * symlinks resolved, as /proc/self/fd shows paths). */
int fl_surface_create(const char *path, const char *base, struct fl_surface_handle **out,
                      struct fl_err *err);
/* Open an existing table; checks magic, version and size (-EINVAL if it is not one). */
int fl_surface_open(const char *path, struct fl_surface_handle **out, struct fl_err *err);
/* Unmap; unlink the file too when `remove` is set. NULL is fine. */
void fl_surface_close(struct fl_surface_handle *h, bool remove);
/* A default place for a table, beside the control blocks: $XDG_RUNTIME_DIR, /dev/shm, /tmp. */
void fl_surface_default_path(char *buf, size_t len);

/* The points whose fields are written (ready), sorted by first_seq: *out is an array of
 * pointers into the table, to free(); *n its length. -ENOMEM. */
int fl_surface_points(const struct fl_surface_handle *h, const struct fl_surf_point ***out,
                      size_t *n);
/* The rule text that selects exactly this point's calls, without an effect or occurrence:
 * "write:path=*\/state.json:site=1a2b3c4d" (the path glob escaped as the rule language wants),
 * "connect:peer=127.0.0.1:6379:site=...", "malloc:site=...". Returns the length, or -1 if
 * it did not fit (in len, or in the rule language's limits). */
int fl_surface_point_rule(const struct fl_surf_point *p, char *buf, size_t len);
/* Names for JSON and listings: "path_rel", "peer", ...; "file", "socket", ... (NULL for 0). */
const char *fl_surf_subject_name(unsigned kind);
const char *fl_surf_fd_kind_name(unsigned fd_kind);

/* The table as JSON (what `inject --surface FILE` writes): {"base", "totals": {"calls",
 * "points", "overflow", "processes"}, "points": [{"call", "subject", "subject_kind",
 * "fd_kind", "site", "module", "offset", "count", "first_seq", "last_seq", "rule"}, ...]}
 * with the points by first_seq. NULL on ENOMEM. */
struct json_t;
struct json_t *fl_surface_json(const struct fl_surface_handle *h);

#endif
