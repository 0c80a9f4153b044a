/* SPDX-License-Identifier: MIT */
/*
 * surface.h - a program's fault surface: every interposed call it made, by fault point.
 *
 * `faultline sweep` first runs the target once with no fault and the preload observing: each
 * call is counted against its point, the triple (call, subject, site):
 *   call     the rule language's base name of the wrapped call (fl_op_base_name in rule.c:
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
 */
#ifndef FL_SURFACE_H
#define FL_SURFACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
};

struct fl_surf_point {
    _Atomic uint64_t key;          /* 0: free; else a hash of (call, subject, site), never 0 */
    _Atomic uint32_t ready;        /* 1 once the fields below are written (release/acquire) */
    uint16_t op;                   /* FL_OP_x of the first call seen at this point */
    uint8_t subject_kind;          /* enum fl_surf_subject */
    uint8_t fd_kind;               /* FL_KIND_* of the fd, 0 for calls on a path or none */
    uint32_t site;                 /* the site hash, as site=%08x matches it */
    uint32_t pad_;
    uint64_t site_offset;          /* the return address minus its module's load address */
    char call[FL_SURF_CALL_MAX];   /* the base name: "write", "fsync", "recv" */
    char module[FL_SURF_MODULE_MAX];   /* the module's file name: "myprog", "libc.so.6" */
    char subject[FL_SURF_SUBJECT_MAX]; /* as enum fl_surf_subject says */
    _Atomic uint64_t count;        /* calls at this point, all processes */
    _Atomic uint64_t first_seq;    /* the run-wide sequence number of its first call */
    _Atomic uint64_t last_seq;     /* ... and of its last */
};

struct fl_surface {
    uint64_t magic;                /* FL_SURF_MAGIC */
    uint32_t version;              /* FL_SURF_VERSION */
    uint32_t size;                 /* sizeof(struct fl_surface) */
    char base[FL_SURF_BASE_MAX];   /* the base directory, absolute, no trailing '/' */
    _Atomic uint64_t seq;          /* calls seen (the sequence numbers come from here) */
    _Atomic uint32_t npoints;      /* points claimed */
    _Atomic uint32_t overflow;     /* calls whose point found no free slot */
    _Atomic uint32_t processes;    /* processes that recorded into this table */
    uint32_t pad_;
    struct fl_surf_point points[FL_SURF_POINTS_MAX];
};

/* ---- the CLI's side (surface.c) --------------------------------------------------------- */

#include "err.h"

struct fl_surface_handle {
    struct fl_surface *s;
    char path[4096];
};

/* Create the table at path (O_EXCL) for a run whose trial directory is base. */
int fl_surface_create(const char *path, const char *base, struct fl_surface_handle **out,
                      struct fl_err *err);
/* Unmap; unlink the file too when `remove` is set. NULL is fine. */
void fl_surface_close(struct fl_surface_handle *h, bool remove);
/* The rule text that selects exactly this point's calls, without an effect or occurrence:
 * "write:path=*\/state.json:site=1a2b3c4d" (the path glob escaped as the rule language wants),
 * "connect:peer=127.0.0.1:6379:site=...", "malloc:site=...". Returns the length, or -1 if
 * it did not fit. */
int fl_surface_point_rule(const struct fl_surf_point *p, char *buf, size_t len);

#endif
