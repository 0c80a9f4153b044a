/* SPDX-License-Identifier: MIT */
/*
 * ops.h - every libc call the preload wraps, in one X-macro list.
 *
 * The rule parser (names, families), the preload (one wrapper per row, indexed by FL_OP_x),
 * `faultline help rules` and the tests all come from this list, so adding a call is one row
 * here and one wrapper in src/preload/. Columns:
 *   sym     the exported symbol, also the name a rule uses (open64, __read_chk, ...)
 *   fam     the family it belongs to (io.read, net.connect, ...)
 *   fam2    a second family or NONE: read/readv/write/writev on a socket are net.recv/net.send
 *   cls     what the call does, which decides the subject it is matched on and the effects
 *           it can take (see fl_class_effects in rule.c)
 *   flags   FL_OPF_SHORT: can return a short count (short=, torn=);
 *           FL_OPF_STDIO: a stdio call, failed by setting the stream's error flag;
 *           FL_OPF_NOSUBJECT: no fd or path to match (msync), so path/kind rules skip it;
 *           FL_OPF_NOBUF: the data never reaches user space (copy_file_range), so no corrupt=.
 * Rows named X__in are the read side of a call that copies between two fds: the same call,
 * matched on its source fd (io.read) while the plain row matches its destination (io.write).
 * A name in a rule covers its variants: open covers open64, __open_2 and __open64_2; fread
 * covers fread_unlocked and __fread_chk; copy_file_range covers copy_file_range__in (see
 * fl_op_base_name).
 */
#ifndef FL_OPS_H
#define FL_OPS_H

#include <stddef.h>

enum fl_family {
    FL_FAM_NONE = 0,
    FL_FAM_IO_OPEN,
    FL_FAM_IO_READ,
    FL_FAM_IO_WRITE,
    FL_FAM_IO_SYNC,
    FL_FAM_IO_META,
    FL_FAM_IO_LOCK,
    FL_FAM_NET_CONNECT,
    FL_FAM_NET_ACCEPT,
    FL_FAM_NET_SEND,
    FL_FAM_NET_RECV,
    FL_FAM_DNS,
    FL_FAM_MEM,
    FL_FAM_TIME,
    FL_FAM_COUNT,
};

enum fl_class {
    FL_CLS_OPEN,      /* matched on the path argument */
    FL_CLS_READ,      /* matched on the fd */
    FL_CLS_WRITE,     /* matched on the fd (the destination for copy_file_range & co.) */
    FL_CLS_SYNC,      /* matched on the fd */
    FL_CLS_METAFD,    /* close, ftruncate, fallocate: matched on the fd */
    FL_CLS_METAPATH,  /* rename, unlink, mkdir: matched on the path argument(s) */
    FL_CLS_LOCK,      /* fcntl locks, flock, lockf: matched on the fd */
    FL_CLS_CONNECT,   /* matched on the address argument */
    FL_CLS_ACCEPT,    /* matched on the listening fd */
    FL_CLS_DNS,       /* matched on the host name */
    FL_CLS_MEM,       /* no subject */
    FL_CLS_TIME,      /* no subject */
    FL_CLS_COUNT,
};

#define FL_OPF_SHORT 0x1u
#define FL_OPF_STDIO 0x2u
#define FL_OPF_NOSUBJECT 0x4u
#define FL_OPF_NOBUF 0x8u

/* X(sym, fam, fam2, cls, flags) */
#define FL_OPS(X)                                                                                 \
    X(open, IO_OPEN, NONE, OPEN, 0)                                                               \
    X(open64, IO_OPEN, NONE, OPEN, 0)                                                             \
    X(openat, IO_OPEN, NONE, OPEN, 0)                                                             \
    X(openat64, IO_OPEN, NONE, OPEN, 0)                                                           \
    X(creat, IO_OPEN, NONE, OPEN, 0)                                                              \
    X(creat64, IO_OPEN, NONE, OPEN, 0)                                                            \
    X(__open_2, IO_OPEN, NONE, OPEN, 0)                                                           \
    X(__open64_2, IO_OPEN, NONE, OPEN, 0)                                                         \
    X(__openat_2, IO_OPEN, NONE, OPEN, 0)                                                         \
    X(__openat64_2, IO_OPEN, NONE, OPEN, 0)                                                       \
    X(fopen, IO_OPEN, NONE, OPEN, FL_OPF_STDIO)                                                   \
    X(fopen64, IO_OPEN, NONE, OPEN, FL_OPF_STDIO)                                                 \
    X(freopen, IO_OPEN, NONE, OPEN, FL_OPF_STDIO)                                                 \
    X(freopen64, IO_OPEN, NONE, OPEN, FL_OPF_STDIO)                                               \
    X(read, IO_READ, NET_RECV, READ, FL_OPF_SHORT)                                                \
    X(pread, IO_READ, NONE, READ, FL_OPF_SHORT)                                                   \
    X(pread64, IO_READ, NONE, READ, FL_OPF_SHORT)                                                 \
    X(readv, IO_READ, NET_RECV, READ, FL_OPF_SHORT)                                               \
    X(preadv, IO_READ, NONE, READ, FL_OPF_SHORT)                                                  \
    X(preadv64, IO_READ, NONE, READ, FL_OPF_SHORT)                                                \
    X(preadv2, IO_READ, NONE, READ, FL_OPF_SHORT)                                                 \
    X(preadv64v2, IO_READ, NONE, READ, FL_OPF_SHORT)                                              \
    X(__read_chk, IO_READ, NET_RECV, READ, FL_OPF_SHORT)                                          \
    X(__pread_chk, IO_READ, NONE, READ, FL_OPF_SHORT)                                             \
    X(__pread64_chk, IO_READ, NONE, READ, FL_OPF_SHORT)                                           \
    X(fread, IO_READ, NET_RECV, READ, FL_OPF_SHORT | FL_OPF_STDIO)                                    \
    X(fread_unlocked, IO_READ, NET_RECV, READ, FL_OPF_SHORT | FL_OPF_STDIO)                           \
    X(__fread_chk, IO_READ, NET_RECV, READ, FL_OPF_SHORT | FL_OPF_STDIO)                              \
    X(__fread_unlocked_chk, IO_READ, NET_RECV, READ, FL_OPF_SHORT | FL_OPF_STDIO)                     \
    X(fgets, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                   \
    X(fgets_unlocked, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                          \
    X(__fgets_chk, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                             \
    X(__fgets_unlocked_chk, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                    \
    X(getline, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                 \
    X(getdelim, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                \
    X(__getdelim, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                              \
    X(fgetc, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                   \
    X(getc, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                    \
    X(__uflow, IO_READ, NET_RECV, READ, FL_OPF_STDIO)                                                 \
    X(write, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT)                                             \
    X(pwrite, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                                \
    X(pwrite64, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                              \
    X(writev, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT)                                            \
    X(pwritev, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                               \
    X(pwritev64, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                             \
    X(pwritev2, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                              \
    X(pwritev64v2, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                           \
    X(copy_file_range, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                       \
    X(sendfile, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                              \
    X(sendfile64, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                            \
    X(splice, IO_WRITE, NONE, WRITE, FL_OPF_SHORT)                                                \
    X(copy_file_range__in, IO_READ, NONE, READ, FL_OPF_SHORT | FL_OPF_NOBUF)                      \
    X(sendfile__in, IO_READ, NONE, READ, FL_OPF_SHORT | FL_OPF_NOBUF)                             \
    X(sendfile64__in, IO_READ, NONE, READ, FL_OPF_SHORT | FL_OPF_NOBUF)                           \
    X(splice__in, IO_READ, NONE, READ, FL_OPF_SHORT | FL_OPF_NOBUF)                               \
    X(fwrite, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT | FL_OPF_STDIO)                                 \
    X(fwrite_unlocked, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT | FL_OPF_STDIO)                        \
    X(fputs, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                                 \
    X(fputs_unlocked, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                        \
    X(fputc, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                                 \
    X(fputc_unlocked, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                        \
    X(putc, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                                  \
    X(puts, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                                  \
    X(putchar, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                               \
    X(fprintf, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                               \
    X(printf, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                                \
    X(vfprintf, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                              \
    X(vprintf, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                               \
    X(__fprintf_chk, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                         \
    X(__printf_chk, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                          \
    X(__vfprintf_chk, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                        \
    X(__vprintf_chk, IO_WRITE, NONE, WRITE, FL_OPF_STDIO)                                         \
    X(dprintf, IO_WRITE, NONE, WRITE, 0)                                                          \
    X(vdprintf, IO_WRITE, NONE, WRITE, 0)                                                         \
    X(__dprintf_chk, IO_WRITE, NONE, WRITE, 0)                                                    \
    X(__vdprintf_chk, IO_WRITE, NONE, WRITE, 0)                                                   \
    X(fflush, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT | FL_OPF_STDIO)                                 \
    X(fflush_unlocked, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT | FL_OPF_STDIO)                        \
    X(fclose, IO_WRITE, NET_SEND, WRITE, FL_OPF_SHORT | FL_OPF_STDIO)                                 \
    X(__overflow, IO_WRITE, NET_SEND, WRITE, FL_OPF_STDIO)                                            \
    X(fsync, IO_SYNC, NONE, SYNC, 0)                                                              \
    X(fdatasync, IO_SYNC, NONE, SYNC, 0)                                                          \
    X(sync_file_range, IO_SYNC, NONE, SYNC, 0)                                                    \
    X(syncfs, IO_SYNC, NONE, SYNC, 0)                                                             \
    X(msync, IO_SYNC, NONE, SYNC, FL_OPF_NOSUBJECT)                                               \
    X(close, IO_META, NONE, METAFD, 0)                                                            \
    X(ftruncate, IO_META, NONE, METAFD, 0)                                                        \
    X(ftruncate64, IO_META, NONE, METAFD, 0)                                                      \
    X(fallocate, IO_META, NONE, METAFD, 0)                                                        \
    X(fallocate64, IO_META, NONE, METAFD, 0)                                                      \
    X(posix_fallocate, IO_META, NONE, METAFD, 0)                                                  \
    X(posix_fallocate64, IO_META, NONE, METAFD, 0)                                                \
    X(rename, IO_META, NONE, METAPATH, 0)                                                         \
    X(renameat, IO_META, NONE, METAPATH, 0)                                                       \
    X(renameat2, IO_META, NONE, METAPATH, 0)                                                      \
    X(unlink, IO_META, NONE, METAPATH, 0)                                                         \
    X(unlinkat, IO_META, NONE, METAPATH, 0)                                                       \
    X(mkdir, IO_META, NONE, METAPATH, 0)                                                          \
    X(mkdirat, IO_META, NONE, METAPATH, 0)                                                        \
    X(rmdir, IO_META, NONE, METAPATH, 0)                                                          \
    X(truncate, IO_META, NONE, METAPATH, 0)                                                       \
    X(truncate64, IO_META, NONE, METAPATH, 0)                                                     \
    X(fcntl, IO_LOCK, NONE, LOCK, 0)                                                              \
    X(fcntl64, IO_LOCK, NONE, LOCK, 0)                                                            \
    X(flock, IO_LOCK, NONE, LOCK, 0)                                                              \
    X(lockf, IO_LOCK, NONE, LOCK, 0)                                                              \
    X(lockf64, IO_LOCK, NONE, LOCK, 0)                                                            \
    X(connect, NET_CONNECT, NONE, CONNECT, 0)                                                     \
    X(accept, NET_ACCEPT, NONE, ACCEPT, 0)                                                        \
    X(accept4, NET_ACCEPT, NONE, ACCEPT, 0)                                                       \
    X(send, NET_SEND, NONE, WRITE, FL_OPF_SHORT)                                                  \
    X(sendto, NET_SEND, NONE, WRITE, FL_OPF_SHORT)                                                \
    X(sendmsg, NET_SEND, NONE, WRITE, FL_OPF_SHORT)                                               \
    X(recv, NET_RECV, NONE, READ, FL_OPF_SHORT)                                                   \
    X(recvfrom, NET_RECV, NONE, READ, FL_OPF_SHORT)                                               \
    X(recvmsg, NET_RECV, NONE, READ, FL_OPF_SHORT)                                                \
    X(__recv_chk, NET_RECV, NONE, READ, FL_OPF_SHORT)                                             \
    X(__recvfrom_chk, NET_RECV, NONE, READ, FL_OPF_SHORT)                                         \
    X(getaddrinfo, DNS, NONE, DNS, 0)                                                             \
    X(gethostbyname, DNS, NONE, DNS, 0)                                                           \
    X(malloc, MEM, NONE, MEM, 0)                                                                  \
    X(calloc, MEM, NONE, MEM, 0)                                                                  \
    X(realloc, MEM, NONE, MEM, 0)                                                                 \
    X(reallocarray, MEM, NONE, MEM, 0)                                                            \
    X(posix_memalign, MEM, NONE, MEM, 0)                                                          \
    X(aligned_alloc, MEM, NONE, MEM, 0)                                                           \
    X(clock_gettime, TIME, NONE, TIME, 0)                                                         \
    X(gettimeofday, TIME, NONE, TIME, 0)                                                          \
    X(time, TIME, NONE, TIME, 0)

enum fl_op {
#define FL_OP_ENUM(sym, fam, fam2, cls, flags) FL_OP_##sym,
    FL_OPS(FL_OP_ENUM)
#undef FL_OP_ENUM
    FL_OP_COUNT
};

#define FL_OPS_WORDS ((FL_OP_COUNT + 63) / 64)

struct fl_op_info {
    const char *name;
    enum fl_family fam, fam2;
    enum fl_class cls;
    unsigned flags;
};

/* Defined in ops.c; the preload compiles ops.c in too (it links only libc). */
extern const struct fl_op_info fl_op_table[FL_OP_COUNT];
extern const char *const fl_family_names[FL_FAM_COUNT];

/* The call a symbol is a variant of, as rules and the fault surface name it: strip "__",
 * "_chk", "_2", "_unlocked", "__in", the large-file "64" and the "at" of the *at forms
 * (open64, openat, __open_2 -> open; __read_chk -> read; preadv64v2 -> preadv2). */
void fl_op_base_name(const char *name, char *out, size_t len);

#endif
