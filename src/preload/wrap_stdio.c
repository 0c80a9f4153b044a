/* SPDX-License-Identifier: MIT */
/*
 * wrap_stdio.c - wrappers for stdio.
 *
 * glibc's stdio writes and reads through internal entry points, not through the interposable
 * write() and read(), so a rule on io.write would never see fprintf's output. These wrappers
 * fail the stdio call itself, the way a real failure surfaces: the call returns its error value,
 * errno is set, and the stream's error flag is set so ferror() and a later fclose() agree.
 * fflush and fclose only count (and fail) when the stream holds unwritten data, because that is
 * the only time they write; a failed flush loses the buffered data, as a real one does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

/* glibc may define these as macros (extern inlines when optimising); we define the functions. */
#undef fread_unlocked
#undef fwrite_unlocked
#undef fgetc_unlocked
#undef fputc_unlocked
#undef fgets_unlocked
#undef fputs_unlocked
#undef getc
#undef putc
#undef putchar
#undef getline

/* Declarations glibc only gives under _FORTIFY_SOURCE. */
int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...);
int __printf_chk(int flag, const char *fmt, ...);
int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap);
int __vprintf_chk(int flag, const char *fmt, va_list ap);
size_t __fread_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp);
size_t __fread_unlocked_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp);
char *__fgets_chk(char *s, size_t size, int n, FILE *fp);
char *__fgets_unlocked_chk(char *s, size_t size, int n, FILE *fp);
ssize_t __getdelim(char **line, size_t *n, int delim, FILE *fp);

/* The stream's fd without taking its lock (fileno() locks). */
static inline int fl_fileno(FILE *fp) { return fp ? fp->_fileno : -1; }

/* eof: the stream's end-of-file flag, as feof() reports after a read that found the end. */
static void fl_stream_eof(FILE *fp)
{
    if (fp)
        fp->_flags |= _IO_EOF_SEEN;
}

static void fl_stream_error(FILE *fp, int err)
{
    if (fp) {
        fp->_flags |= _IO_ERR_SEEN;
        int fd = fl_fileno(fp);
        /* output streams only: their flush and close must fail too */
        if (fd >= 0 && fd < FL_FDTAB_SIZE && __fwritable(fp) && err > 0 &&
            err < 256)
            atomic_store_explicit(&fl_stdio_failed[fd], (unsigned char)err,
                                  memory_order_relaxed);
    }
    errno = err;
}

/* The errno of an earlier injected failure on this stream's fd, taken (0 if none). */
static int fl_take_stdio_failure(FILE *fp)
{
    int fd = fl_fileno(fp);
    if (fd < 0 || fd >= FL_FDTAB_SIZE ||
        !atomic_load_explicit(&fl_stdio_failed[fd], memory_order_relaxed))
        return 0;
    return atomic_exchange_explicit(&fl_stdio_failed[fd], 0, memory_order_relaxed);
}

/* A rule fired for this stream call? fills h. */
static FL_INLINE bool fl_stdio_hit(int op, FILE *fp, struct fl_hit *h)
{
    uint64_t cand = fl_cand(op);
    return FL_UNLIKELY(cand != 0) && fl_fire(fl_by_fd(cand, fl_fileno(fp)), h);
}

/* ---- open ---------------------------------------------------------------------------------- */

static FL_INLINE bool fl_fopen_fails(int op, const char *path)
{
    uint64_t cand = fl_cand(op);
    struct fl_hit h;
    if (FL_LIKELY(!cand) || !fl_fire(fl_by_path(cand, -100 /* AT_FDCWD */, path), &h))
        return false;
    errno = h.r->err;
    return true;
}

#define FL_FOPEN_BODY(op, path, realcall)                                                         \
    FL_POST_GUARD;                                                                                \
    if (fl_fopen_fails(FL_OP_##op, path))                                                         \
        return NULL;                                                                              \
    FILE *f = realcall;                                                                           \
    if (f)                                                                                        \
        fl_fd_forget(fl_fileno(f));                                                               \
    return f;

FL_EXPORT FILE *fopen(const char *path, const char *mode)
{
    FL_FOPEN_BODY(fopen, path, FL_REAL(fopen)(path, mode))
}
FL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    FL_FOPEN_BODY(fopen64, path, FL_REAL(fopen64)(path, mode))
}
FL_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    FL_FOPEN_BODY(freopen, path, FL_REAL(freopen)(path, mode, fp))
}
FL_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    FL_FOPEN_BODY(freopen64, path, FL_REAL(freopen64)(path, mode, fp))
}

/* ---- reads --------------------------------------------------------------------------------- */

#define FL_FREAD_BODY(op, ptr, size, n, fp, call_with_n)                                          \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h))) {                                           \
        size_t n_ = n;                                                                            \
        return call_with_n;                                                                       \
    }                                                                                             \
    unsigned e = h.r->effects;                                                                    \
    size_t n_ = n;                                                                                \
    if (e & FL_EFF_EOF) {                                                                         \
        fl_stream_eof(fp);                                                                        \
        return 0;                                                                                 \
    }                                                                                             \
    if (e & FL_EFF_SHORT)                                                                         \
        n_ = size ? fl_short_len(h.r, size * n) / size : 0;                                       \
    else if (!(e & FL_EFF_CORRUPT)) {                                                             \
        fl_stream_error(fp, h.r->err);                                                            \
        return 0;                                                                                 \
    }                                                                                             \
    size_t got = call_with_n;                                                                     \
    if (e & FL_EFF_CORRUPT)                                                                       \
        fl_flip_bits(&h, ptr, got * size);                                                        \
    return got;

FL_EXPORT size_t fread(void *ptr, size_t size, size_t n, FILE *fp)
{
    FL_FREAD_BODY(fread, ptr, size, n, fp, FL_REAL(fread)(ptr, size, n_, fp))
}
FL_EXPORT size_t fread_unlocked(void *ptr, size_t size, size_t n, FILE *fp)
{
    FL_FREAD_BODY(fread_unlocked, ptr, size, n, fp, FL_REAL(fread_unlocked)(ptr, size, n_, fp))
}
FL_EXPORT size_t __fread_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp)
{
    FL_FREAD_BODY(__fread_chk, ptr, size, n, fp, FL_REAL(__fread_chk)(ptr, ptrlen, size, n_, fp))
}
FL_EXPORT size_t __fread_unlocked_chk(void *ptr, size_t ptrlen, size_t size, size_t n, FILE *fp)
{
    FL_FREAD_BODY(__fread_unlocked_chk, ptr, size, n, fp,
                  FL_REAL(__fread_unlocked_chk)(ptr, ptrlen, size, n_, fp))
}

#define FL_FGETS_BODY(op, s, fp, realcall)                                                        \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h)))                                             \
        return realcall;                                                                          \
    if (h.r->effects & FL_EFF_EOF) {                                                              \
        fl_stream_eof(fp);                                                                        \
        return NULL;                                                                              \
    }                                                                                             \
    if (!(h.r->effects & FL_EFF_CORRUPT)) {                                                       \
        fl_stream_error(fp, h.r->err);                                                            \
        return NULL;                                                                              \
    }                                                                                             \
    char *r = realcall;                                                                           \
    if (r)                                                                                        \
        fl_flip_bits(&h, r, strlen(r));                                                           \
    return r;

FL_EXPORT char *fgets(char *s, int n, FILE *fp)
{
    FL_FGETS_BODY(fgets, s, fp, FL_REAL(fgets)(s, n, fp))
}
FL_EXPORT char *fgets_unlocked(char *s, int n, FILE *fp)
{
    FL_FGETS_BODY(fgets_unlocked, s, fp, FL_REAL(fgets_unlocked)(s, n, fp))
}
FL_EXPORT char *__fgets_chk(char *s, size_t size, int n, FILE *fp)
{
    FL_FGETS_BODY(__fgets_chk, s, fp, FL_REAL(__fgets_chk)(s, size, n, fp))
}
FL_EXPORT char *__fgets_unlocked_chk(char *s, size_t size, int n, FILE *fp)
{
    FL_FGETS_BODY(__fgets_unlocked_chk, s, fp, FL_REAL(__fgets_unlocked_chk)(s, size, n, fp))
}

#define FL_GETDELIM_BODY(op, line, fp, realcall)                                                  \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h)))                                             \
        return realcall;                                                                          \
    if (h.r->effects & FL_EFF_EOF) {                                                              \
        fl_stream_eof(fp);                                                                        \
        return -1;                                                                                \
    }                                                                                             \
    if (!(h.r->effects & FL_EFF_CORRUPT)) {                                                       \
        fl_stream_error(fp, h.r->err);                                                            \
        return -1;                                                                                \
    }                                                                                             \
    ssize_t r = realcall;                                                                         \
    if (r > 0)                                                                                    \
        fl_flip_bits(&h, *line, (size_t)r);                                                       \
    return r;

FL_EXPORT ssize_t getline(char **line, size_t *n, FILE *fp)
{
    FL_GETDELIM_BODY(getline, line, fp, FL_REAL(getline)(line, n, fp))
}
FL_EXPORT ssize_t getdelim(char **line, size_t *n, int delim, FILE *fp)
{
    FL_GETDELIM_BODY(getdelim, line, fp, FL_REAL(getdelim)(line, n, delim, fp))
}
FL_EXPORT ssize_t __getdelim(char **line, size_t *n, int delim, FILE *fp)
{
    FL_GETDELIM_BODY(__getdelim, line, fp, FL_REAL(__getdelim)(line, n, delim, fp))
}

#define FL_GETC_BODY(op, fp, realcall)                                                            \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h)))                                             \
        return realcall;                                                                          \
    if (h.r->effects & FL_EFF_EOF) {                                                              \
        fl_stream_eof(fp);                                                                        \
        return EOF;                                                                               \
    }                                                                                             \
    if (!(h.r->effects & FL_EFF_CORRUPT)) {                                                       \
        fl_stream_error(fp, h.r->err);                                                            \
        return EOF;                                                                               \
    }                                                                                             \
    int c = realcall;                                                                             \
    if (c != EOF) {                                                                               \
        unsigned char b = (unsigned char)c;                                                       \
        fl_flip_bits(&h, &b, 1);                                                                  \
        c = b;                                                                                    \
    }                                                                                             \
    return c;

/* getc_unlocked/putc_unlocked are macros on the stream's buffer; when the buffer runs dry or
 * full they call __uflow/__overflow, which is where their reads and writes really happen. */
int __uflow(FILE *fp);
int __overflow(FILE *fp, int ch);
FL_EXPORT int __uflow(FILE *fp) { FL_GETC_BODY(__uflow, fp, FL_REAL(__uflow)(fp)) }
FL_EXPORT int fgetc(FILE *fp) { FL_GETC_BODY(fgetc, fp, FL_REAL(fgetc)(fp)) }
FL_EXPORT int getc(FILE *fp) { FL_GETC_BODY(getc, fp, FL_REAL(getc)(fp)) }

/* ---- writes -------------------------------------------------------------------------------- */

#define FL_FWRITE_BODY(op, size, n, fp, call_with_n)                                              \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h))) {                                           \
        size_t n_ = n;                                                                            \
        return call_with_n;                                                                       \
    }                                                                                             \
    unsigned e = h.r->effects;                                                                    \
    if (e & FL_EFF_DROP)                                                                          \
        return n;                                                                                 \
    size_t n_ = 0;                                                                                \
    if (e & FL_EFF_SHORT)                                                                         \
        n_ = size ? fl_short_len(h.r, size * n) / size : 0;                                       \
    else if (e & FL_EFF_TORN)                                                                     \
        n_ = size ? (h.r->torn_bytes < size * n ? h.r->torn_bytes : size * n) / size : 0;        \
    size_t done = n_ ? call_with_n : 0;                                                           \
    fl_stream_error(fp, h.r->err);                                                                \
    return done;

FL_EXPORT size_t fwrite(const void *ptr, size_t size, size_t n, FILE *fp)
{
    FL_FWRITE_BODY(fwrite, size, n, fp, FL_REAL(fwrite)(ptr, size, n_, fp))
}
FL_EXPORT size_t fwrite_unlocked(const void *ptr, size_t size, size_t n, FILE *fp)
{
    FL_FWRITE_BODY(fwrite_unlocked, size, n, fp, FL_REAL(fwrite_unlocked)(ptr, size, n_, fp))
}

/* Calls that write a string or a char: fail with EOF, or drop with a success value. */
#define FL_PUT_BODY(op, fp, ok_value, realcall)                                                   \
    FL_POST_GUARD;                                                                                \
    struct fl_hit h;                                                                              \
    if (FL_LIKELY(!fl_stdio_hit(FL_OP_##op, fp, &h)))                                             \
        return realcall;                                                                          \
    if (h.r->effects & FL_EFF_DROP)                                                               \
        return ok_value;                                                                          \
    fl_stream_error(fp, h.r->err);                                                                \
    return EOF;

FL_EXPORT int __overflow(FILE *fp, int ch)
{
    FL_PUT_BODY(__overflow, fp, (unsigned char)ch, FL_REAL(__overflow)(fp, ch))
}
FL_EXPORT int fputs(const char *s, FILE *fp) { FL_PUT_BODY(fputs, fp, 1, FL_REAL(fputs)(s, fp)) }
FL_EXPORT int fputs_unlocked(const char *s, FILE *fp)
{
    FL_PUT_BODY(fputs_unlocked, fp, 1, FL_REAL(fputs_unlocked)(s, fp))
}
FL_EXPORT int fputc(int c, FILE *fp)
{
    FL_PUT_BODY(fputc, fp, (unsigned char)c, FL_REAL(fputc)(c, fp))
}
FL_EXPORT int fputc_unlocked(int c, FILE *fp)
{
    FL_PUT_BODY(fputc_unlocked, fp, (unsigned char)c, FL_REAL(fputc_unlocked)(c, fp))
}
FL_EXPORT int putc(int c, FILE *fp) { FL_PUT_BODY(putc, fp, (unsigned char)c, FL_REAL(putc)(c, fp)) }
FL_EXPORT int puts(const char *s) { FL_PUT_BODY(puts, stdout, 1, FL_REAL(puts)(s)) }
FL_EXPORT int putchar(int c)
{
    FL_PUT_BODY(putchar, stdout, (unsigned char)c, FL_REAL(putchar)(c))
}

/* printf family: fail with -1, or drop and report the length that would have been written. */
static FL_INLINE int fl_vprintf_common(int op, FILE *fp, const char *fmt, va_list ap,
                                       bool *handled)
{
    struct fl_hit h;
    *handled = false;
    if (FL_LIKELY(!fl_stdio_hit(op, fp, &h)))
        return 0;
    *handled = true;
    if (h.r->effects & FL_EFF_DROP)
        return vsnprintf(NULL, 0, fmt, ap);
    fl_stream_error(fp, h.r->err);
    return -1;
}

FL_EXPORT int vfprintf(FILE *fp, const char *fmt, va_list ap)
{
    FL_POST_GUARD;
    bool handled;
    va_list aq;
    va_copy(aq, ap);
    int rc = fl_vprintf_common(FL_OP_vfprintf, fp, fmt, aq, &handled);
    va_end(aq);
    return handled ? rc : FL_REAL(vfprintf)(fp, fmt, ap);
}
FL_EXPORT int vprintf(const char *fmt, va_list ap)
{
    FL_POST_GUARD;
    bool handled;
    va_list aq;
    va_copy(aq, ap);
    int rc = fl_vprintf_common(FL_OP_vprintf, stdout, fmt, aq, &handled);
    va_end(aq);
    return handled ? rc : FL_REAL(vfprintf)(stdout, fmt, ap);
}
FL_EXPORT int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap)
{
    FL_POST_GUARD;
    bool handled;
    va_list aq;
    va_copy(aq, ap);
    int rc = fl_vprintf_common(FL_OP___vfprintf_chk, fp, fmt, aq, &handled);
    va_end(aq);
    return handled ? rc : FL_REAL(__vfprintf_chk)(fp, flag, fmt, ap);
}
FL_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
    FL_POST_GUARD;
    bool handled;
    va_list aq;
    va_copy(aq, ap);
    int rc = fl_vprintf_common(FL_OP___vprintf_chk, stdout, fmt, aq, &handled);
    va_end(aq);
    return handled ? rc : FL_REAL(__vfprintf_chk)(stdout, flag, fmt, ap);
}

#define FL_VARIADIC_PRINTF(op, fp, fmt, realv_call)                                               \
    FL_POST_GUARD;                                                                                \
    va_list ap, aq;                                                                               \
    va_start(ap, fmt);                                                                            \
    va_copy(aq, ap);                                                                              \
    bool handled;                                                                                 \
    int rc = fl_vprintf_common(FL_OP_##op, fp, fmt, aq, &handled);                                \
    va_end(aq);                                                                                   \
    if (!handled)                                                                                 \
        rc = realv_call;                                                                          \
    va_end(ap);                                                                                   \
    return rc;

FL_EXPORT int fprintf(FILE *fp, const char *fmt, ...)
{
    FL_VARIADIC_PRINTF(fprintf, fp, fmt, FL_REAL(vfprintf)(fp, fmt, ap))
}
FL_EXPORT int printf(const char *fmt, ...)
{
    FL_VARIADIC_PRINTF(printf, stdout, fmt, FL_REAL(vfprintf)(stdout, fmt, ap))
}
FL_EXPORT int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...)
{
    FL_VARIADIC_PRINTF(__fprintf_chk, fp, fmt, FL_REAL(__vfprintf_chk)(fp, flag, fmt, ap))
}
FL_EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
    FL_VARIADIC_PRINTF(__printf_chk, stdout, fmt, FL_REAL(__vfprintf_chk)(stdout, flag, fmt, ap))
}

/* ---- flush and close ----------------------------------------------------------------------- */

/* Only a stream with unwritten data writes when flushed or closed. */
static FL_INLINE bool fl_flush_hit(int op, FILE *fp, struct fl_hit *h)
{
    uint64_t cand = fl_cand(op);
    if (FL_LIKELY(!cand) || !fp || __fpending(fp) == 0)
        return false;
    return fl_fire(fl_by_fd(cand, fl_fileno(fp)), h);
}

/* What a failing flush does: a torn or short one writes part of the buffer first; then the
 * buffered data is gone, as after a real failed write(2). Returns fflush's result. */
static int fl_flush_fault(FILE *fp, const struct fl_hit *h)
{
    unsigned e = h->r->effects;
    if (e & (FL_EFF_TORN | FL_EFF_SHORT)) {
        size_t pending = (size_t)(fp->_IO_write_ptr - fp->_IO_write_base);
        size_t n = e & FL_EFF_TORN ? (h->r->torn_bytes < pending ? (size_t)h->r->torn_bytes : pending)
                                   : fl_short_len(h->r, pending);
        fl_guard++;
        ssize_t w = n ? FL_REAL(write)(fl_fileno(fp), fp->_IO_write_base, n) : 0;
        fl_guard--;
        (void)w;
    }
    __fpurge(fp);
    if (e & FL_EFF_DROP)
        return 0;
    fl_stream_error(fp, h->r->err);
    return EOF;
}

/* After faultline failed a write on the stream, its flush fails once with the same errno. */
static int fl_flush_after_failure(FILE *fp, int rc)
{
    int e = fp ? fl_take_stdio_failure(fp) : 0;
    if (!e)
        return rc;
    errno = e;
    return EOF;
}

FL_EXPORT int fflush(FILE *fp)
{
    FL_POST_GUARD;
    struct fl_hit h;
    if (FL_LIKELY(!fl_flush_hit(FL_OP_fflush, fp, &h)))
        return fl_flush_after_failure(fp, FL_REAL(fflush)(fp));
    fl_take_stdio_failure(fp);
    return fl_flush_fault(fp, &h);
}
FL_EXPORT int fflush_unlocked(FILE *fp)
{
    FL_POST_GUARD;
    struct fl_hit h;
    if (FL_LIKELY(!fl_flush_hit(FL_OP_fflush_unlocked, fp, &h)))
        return fl_flush_after_failure(fp, FL_REAL(fflush_unlocked)(fp));
    fl_take_stdio_failure(fp);
    return fl_flush_fault(fp, &h);
}
FL_EXPORT int fclose(FILE *fp)
{
    FL_POST_GUARD;
    struct fl_hit h;
    bool fire = fl_flush_hit(FL_OP_fclose, fp, &h);
    int earlier = fp ? fl_take_stdio_failure(fp) : 0;
    fl_fd_forget(fl_fileno(fp));
    if (!fire) {
        int rc = FL_REAL(fclose)(fp);
        if (!earlier)
            return rc;
        errno = earlier; /* the data that failed never reached the file: close says so */
        return EOF;
    }
    int frc = fl_flush_fault(fp, &h);
    int rc = FL_REAL(fclose)(fp); /* the stream is gone either way, as with a real failure */
    if (frc == 0)
        return rc;
    errno = h.r->err;
    return EOF;
}
