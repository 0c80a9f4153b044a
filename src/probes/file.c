/* SPDX-License-Identifier: MIT */
/*
 * probes/file.c - is a file there, and is it still readable as what it claims to be?
 *
 * The state files of small devices (settings.json, an INI config) are what power cuts and
 * SD cards break; after a fault an experiment wants to know that the program left them
 * parseable. This kind checks existence, size bounds, a content match, JSON validity (or a
 * value inside it) and INI validity. The file is opened afresh on every check and read whole
 * (up to FILE_READ_MAX), because a rename-based writer replaces the inode under any cached fd.
 *
 * The INI grammar accepted is deliberately small and written down in docs/probes.md: it is
 * what the common hand-written INI readers agree on, so "valid" means "any of them reads it".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "probe.h"
#include "putil.h"
#include "units.h"

#define FILE_READ_MAX (16u << 20)

struct file_state {
    char *path;               /* as written; relative paths start at ctx->cwd */
    bool exists;              /* expected existence (default true) */
    struct fl_pu_json_cond json;
    bool ini;                 /* must parse as INI */
    struct fl_pu_match match; /* content condition (text NULL: none) */
    bool has_min, has_max;
    uint64_t min_size, max_size;
};

static void file_free(void *p)
{
    struct file_state *s = p;
    if (!s)
        return;
    free(s->path);
    fl_pu_json_cond_free(&s->json);
    fl_pu_match_free(&s->match);
    free(s);
}

static int file_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    static const char *const keys[] = {"file", "exists", "json", "ini", "match", "min_size",
                                       "max_size", NULL};
    int r = fl_pu_check_keys(doc, spec, keys, err);
    if (r < 0)
        return r;
    struct file_state *s = calloc(1, sizeof(*s));
    if (!s)
        return fl_err_set(err, ENOMEM, "out of memory");
    s->exists = true;
    s->json.exists = -1;
    if ((r = fl_pu_get_string(doc, spec, "file", &s->path, err)) < 0)
        goto fail;
    if (r == 0) {
        r = fl_doc_error(doc, spec, "file", err, "'file' must be a path");
        goto fail;
    }
    if ((r = fl_pu_get_bool(doc, spec, "exists", &s->exists, err)) < 0 ||
        (r = fl_pu_get_json_cond(doc, spec, "json", &s->json, err)) < 0 ||
        (r = fl_pu_get_match(doc, spec, "match", &s->match, err)) < 0)
        goto fail;
    json_t *ini = json_object_get(spec, "ini");
    if (ini) {
        if (!json_is_true(ini) &&
            !(json_is_string(ini) && !strcmp(json_string_value(ini), "valid"))) {
            r = fl_doc_error(doc, spec, "ini", err, "'ini' must be 'valid' (or true)");
            goto fail;
        }
        s->ini = true;
    }
    if ((r = fl_pu_get_size(doc, spec, "min_size", &s->min_size, err)) < 0)
        goto fail;
    s->has_min = r > 0;
    if ((r = fl_pu_get_size(doc, spec, "max_size", &s->max_size, err)) < 0)
        goto fail;
    s->has_max = r > 0;
    if (!s->exists && (s->json.enabled || s->ini || s->match.text || s->has_min || s->has_max)) {
        r = fl_doc_error(doc, spec, "exists", err,
                         "'exists: false' cannot be combined with content checks");
        goto fail;
    }
    *state = s;
    return 0;
fail:
    file_free(s);
    return r;
}

/*
 * INI: lines end in \n (a \r before it is dropped). After trimming blanks a line is empty,
 * a comment (';' or '#' first), a section "[name]" (name non-empty, no ']' inside, only
 * blanks or a comment after it), or "key = value" / "key: value" with a non-empty key.
 * NUL bytes are refused: they are what a torn write leaves. Returns 0, or the bad line.
 */
static size_t ini_check(const char *buf, size_t len, const char **why)
{
    if (memchr(buf, '\0', len)) {
        const char *z = memchr(buf, '\0', len);
        size_t line = 1;
        for (const char *p = buf; p < z; p++)
            line += *p == '\n';
        *why = "NUL byte";
        return line;
    }
    size_t line = 0;
    const char *p = buf, *end = buf + len;
    if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
        p += 3; /* a UTF-8 byte order mark, as Windows editors write it */
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (p == e || *p == ';' || *p == '#') {
            /* empty or comment */
        } else if (*p == '[') {
            const char *close = memchr(p, ']', (size_t)(e - p));
            if (!close || close == p + 1) {
                *why = "expected [section]";
                return line;
            }
            const char *q = close + 1;
            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
            if (q < e && *q != ';' && *q != '#') {
                *why = "text after [section]";
                return line;
            }
        } else {
            size_t n = (size_t)(e - p);
            size_t k = strcspn(p, "=:");
            if (k >= n) {
                *why = "expected key = value";
                return line;
            }
            if (k == 0) {
                *why = "empty key";
                return line;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

static int file_check(void *state, const struct fl_probe_ctx *ctx, int64_t timeout_ns,
                      struct fl_probe_result *out)
{
    struct file_state *s = state;
    int64_t t0 = fl_mono_ns();
    char path[4096];
    fl_pu_resolve(ctx->cwd, s->path, path, sizeof(path));
    out->ok = false;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    int serr = errno;
    out->value = json_pack("{s:b}", "exists", exists);
    if (!exists && serr != ENOENT && serr != ENOTDIR) {
        fl_pu_detail(out, "%s: %s", s->path, strerror(serr));
        goto done;
    }
    if (!s->exists) {
        out->ok = !exists;
        if (exists)
            fl_pu_detail(out, "%s exists", s->path);
        goto done;
    }
    if (!exists) {
        fl_pu_detail(out, "%s: no such file", s->path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        out->ok = !(s->json.enabled || s->ini || s->match.text || s->has_min || s->has_max);
        if (!out->ok)
            fl_pu_detail(out, "%s is not a regular file", s->path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    char b1[32], b2[32];
    json_object_set_new(out->value, "size", json_integer((json_int_t)size));
    if (s->has_min && size < s->min_size) {
        fl_pu_detail(out, "%s is %s, less than %s", s->path, fl_format_size(size, b1, 32),
                     fl_format_size(s->min_size, b2, 32));
        goto done;
    }
    if (s->has_max && size > s->max_size) {
        fl_pu_detail(out, "%s is %s, more than %s", s->path, fl_format_size(size, b1, 32),
                     fl_format_size(s->max_size, b2, 32));
        goto done;
    }
    if (!s->json.enabled && !s->ini && !s->match.text) {
        out->ok = true;
        goto done;
    }
    /* Read whole: stat's size may already be stale, so read to EOF, bounded. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        fl_pu_detail(out, "%s: %s", s->path, strerror(errno));
        goto done;
    }
    size_t cap = size < 65536 ? 65536 : (size > FILE_READ_MAX ? FILE_READ_MAX : size + 1);
    char *buf = malloc(cap + 1);
    size_t len = 0;
    bool too_big = false;
    int rerr = buf ? 0 : ENOMEM;
    while (buf && !rerr) {
        if (len == cap) {
            if (cap >= FILE_READ_MAX) {
                too_big = true;
                break;
            }
            size_t ncap = cap * 2 > FILE_READ_MAX ? FILE_READ_MAX : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                rerr = ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rerr = errno;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (rerr || too_big) {
        if (too_big)
            fl_pu_detail(out, "%s is larger than 16MiB, too large to check", s->path);
        else
            fl_pu_detail(out, "%s: read: %s", s->path, strerror(rerr));
        free(buf);
        goto done;
    }
    buf[len] = '\0';
    char what[128];
    const char *why = "";
    size_t bad;
    json_t *observed = NULL;
    if (s->json.enabled &&
        !fl_pu_json_cond_eval(&s->json, buf, len, &observed, out->detail, sizeof(out->detail))) {
        char tmp[sizeof(out->detail)];
        memcpy(tmp, out->detail, sizeof(tmp));
        fl_pu_detail(out, "%s: %s", s->path, tmp);
    } else if (s->ini && (bad = ini_check(buf, len, &why)) != 0) {
        fl_pu_detail(out, "%s: invalid INI at line %zu: %s", s->path, bad, why);
    } else if (!fl_pu_match_test(&s->match, buf, len)) {
        fl_pu_match_describe(&s->match, what, sizeof(what));
        fl_pu_detail(out, "%s does not %s", s->path, what);
    } else {
        out->ok = true;
    }
    if (observed)
        json_object_set_new(out->value, "json", observed);
    free(buf);
done:
    (void)timeout_ns; /* local reads: a hung network filesystem is beyond a probe's reach */
    out->latency_ns = fl_mono_ns() - t0;
    return 0;
}

static void file_describe(const void *state, char *buf, size_t len)
{
    const struct file_state *s = state;
    const char *what = !s->exists ? " is absent" : s->json.enabled ? " is JSON"
                       : s->ini ? " is INI" : s->match.text ? " content" : " exists";
    snprintf(buf, len, "file %s%s", s->path, what);
}

const struct fl_probe_ops fl_probe_file = {
    .name = "file",
    .summary = "a file: exists or not, size bounds, valid JSON (or a value in it), valid INI, "
               "content match",
    .parse = file_parse,
    .check = file_check,
    .describe = file_describe,
    .free = file_free,
};
