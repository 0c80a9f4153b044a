/* SPDX-License-Identifier: MIT */
/*
 * ctlblock.h - the control block: compiled rules in a small shared-memory file.
 *
 * The CLI (or the runner) parses rules once and writes them here; the preload in the target
 * (and in every child that follows) maps the same file MAP_SHARED and only reads it, except for
 * the per-rule counters and the enabled mask, which are atomics. So switching a rule on or off
 * from outside takes effect at the target's next call, and counters are totals across the
 * target's whole process tree and all its threads.
 *
 * Layout rules: only fixed-size fields, no pointers; `magic`, `version` and `size` are checked
 * by the preload, which refuses a block it does not understand (and then injects nothing).
 */
#ifndef FL_CTLBLOCK_H
#define FL_CTLBLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "ops.h"

#define FL_CTL_MAGIC UINT64_C(0x31304c5443544c46) /* "FLTCTL01" */
#define FL_CTL_VERSION 3u
#define FL_RULES_MAX 63 /* one bit each in a 64-bit mask; bit 63: the observer, a valid fd-cache entry */
#define FL_RULE_ID_MAX 32
#define FL_RULE_TEXT_MAX 256
#define FL_GLOB_MAX 256
#define FL_HOST_MAX 128

#define FL_CTL_NO_FOLLOW 0x1u /* children (fork, exec) run without faults */
#define FL_CTL_OBSERVE 0x2u   /* record every call into the fault surface ($FAULTLINE_SURFACE) */
/* The observer's bit: with FL_CTL_OBSERVE, bit 63 is set in every op_rules[op] and in
 * `enabled`, so that every wrapper reaches fl_fire_slow, which records the call. It is no
 * rule (rules[] has 63 entries): every loop over candidate rules must leave it out. */
#define FL_CTL_OBSERVE_BIT (UINT64_C(1) << 63)
#define FL_CTL_RULE_BITS (~FL_CTL_OBSERVE_BIT)
#define FL_EXE_MAX 256

/* Effects: a rule has at most one terminal effect (errno alone, short, torn, drop, corrupt,
 * eai, offset, eof, silent) and may add one wait (delay or hang) that happens before it, and a
 * signal sent to the calling process before the call or after it returned. */
#define FL_EFF_ERRNO 0x001u
#define FL_EFF_DELAY 0x002u
#define FL_EFF_SHORT 0x004u
#define FL_EFF_TORN 0x008u
#define FL_EFF_DROP 0x010u
#define FL_EFF_CORRUPT 0x020u
#define FL_EFF_HANG 0x040u
#define FL_EFF_EAI 0x080u
#define FL_EFF_OFFSET 0x100u
#define FL_EFF_EOF 0x200u    /* a read returns 0: the peer closed, the file ended */
#define FL_EFF_SIGNAL 0x400u /* kill(getpid(), signo) at the call */
#define FL_EFF_SILENT 0x800u /* a peer that never answers: never readable, connect never done */
#define FL_EFF_WAITS (FL_EFF_DELAY | FL_EFF_HANG)
/* Effects that happen at the call and let it go on as it would (or with the terminal one). */
#define FL_EFF_NONTERMINAL (FL_EFF_WAITS | FL_EFF_SIGNAL)

/* fd kinds, as a mask */
#define FL_KIND_FILE 0x1u   /* regular files, directories, block devices */
#define FL_KIND_PIPE 0x2u   /* FIFOs and pipes */
#define FL_KIND_SOCKET 0x4u /* sockets of any family */
#define FL_KIND_OTHER 0x8u  /* terminals, character devices, eventfd and other anonymous fds */
#define FL_KIND_ALL 0xfu

struct fl_ctl_rule {
    char id[FL_RULE_ID_MAX];        /* "1".."63", or the rule's id= */
    char text[FL_RULE_TEXT_MAX];    /* the rule as the user wrote it (cut if longer) */
    uint64_t ops[FL_OPS_WORDS];     /* bit FL_OP_x: this rule applies to that call */
    uint32_t effects;               /* FL_EFF_* bits */
    uint32_t kinds;                 /* FL_KIND_* the fd must be; FL_KIND_ALL: any */
    char path[FL_GLOB_MAX];         /* glob on the path; "" = any path */
    uint8_t path_has_slash;         /* path glob matches the whole path, not the last part */
    uint8_t peer_family;            /* 0: no peer selector; AF_INET or AF_INET6 */
    uint16_t peer_port;             /* with peer_family: 0 = any port */
    uint8_t peer_addr[16];          /* network byte order; 4 bytes used for AF_INET */
    uint16_t port;                  /* 0: no port selector; else local or remote port */
    char host[FL_HOST_MAX];         /* glob on the host name (dns); "" = any */
    uint64_t prob;                  /* fire when draw < prob; UINT64_MAX = always */
    uint64_t after;                 /* skip the first `after` matching calls */
    uint64_t count;                 /* at most this many faults; 0 = no limit */
    int32_t err;                    /* errno to report (errno, torn, stdio short) */
    int32_t eai;                    /* EAI_* for dns */
    int64_t delay_ns;               /* wait before the call (delay) */
    uint64_t short_value;           /* bytes, or parts per million when short_is_share */
    uint8_t short_is_share;
    uint8_t signal_after;           /* signal: after the call returned, not before it */
    uint8_t site_set;               /* site= given: only calls from that site match */
    uint8_t pad_;
    uint32_t site;                  /* with site_set: the call site's hash (surface.h) */
    uint64_t torn_bytes;            /* write this much, then fail */
    uint32_t corrupt_bits;          /* bits to flip in what was read */
    int32_t signo;                  /* signal: which one */
    int64_t offset_ns;              /* added to the wall clock (time) */
    _Atomic uint64_t seen;          /* calls that matched the selectors while enabled */
    _Atomic uint64_t injected;      /* faults this rule caused */
};

struct fl_ctl {
    uint64_t magic;                 /* FL_CTL_MAGIC */
    uint32_t version;               /* FL_CTL_VERSION */
    uint32_t size;                  /* sizeof(struct fl_ctl) */
    uint64_t seed;                  /* the run's seed: every random draw derives from it */
    uint64_t token;                 /* which run created the block: revert only touches its own */
    uint32_t nrules;
    uint32_t flags;                 /* FL_CTL_* */
    _Atomic uint64_t enabled;       /* bit i: rule i is on */
    _Atomic uint64_t generation;    /* bumped at each switch, for observers */
    _Atomic uint64_t attached;      /* processes whose preload mapped this block */
    uint64_t selective;             /* rules whose selectors depend on the fd (path, kind, peer) */
    char exe[FL_EXE_MAX];           /* glob on the executable; "" = every process (--exe) */
    uint64_t op_rules[FL_OP_COUNT]; /* rules that apply to each call */
    struct fl_ctl_rule rules[FL_RULES_MAX];
};

#endif
