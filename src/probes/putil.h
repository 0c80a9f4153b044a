/* SPDX-License-Identifier: MIT */
/*
 * putil.h - what every probe kind needs and none should write twice: reading typed keys out of
 * a probe's spec with file:line:col errors, refusing unknown keys, text matchers (substring or
 * /regex/), JSON paths and UTF-8-safe strings for results (the clock is src/core/clock.h).
 *
 * Parsing helpers return 0 (key absent: *present false and the output untouched), 1 (key read)
 * or -EINVAL with err naming the place. true/false/null have no position of their own in a
 * fl_doc, so every message names the key in its parent object, which always has one.
 */
#ifndef FL_PUTIL_H
#define FL_PUTIL_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "doc.h"
#include "err.h"
#include "probe.h"

/* Output kept from a command or a reply, and the most a result's value shows of it. */
#define FL_PU_CAPTURE_MAX (64u * 1024u)
#define FL_PU_VALUE_TEXT_MAX 1024u

/* Refuse any key of spec that is neither common (probe.h) nor in the NULL-ended allowed list. */
int fl_pu_check_keys(const struct fl_doc *doc, const json_t *spec, const char *const *allowed,
                     struct fl_err *err);

int fl_pu_get_string(const struct fl_doc *doc, const json_t *spec, const char *key,
                     char **out, struct fl_err *err);
int fl_pu_get_bool(const struct fl_doc *doc, const json_t *spec, const char *key, bool *out,
                   struct fl_err *err);
/* An integer in [min, max]; a quoted decimal integer is accepted too ("8080"). */
int fl_pu_get_int(const struct fl_doc *doc, const json_t *spec, const char *key, int64_t min,
                  int64_t max, int64_t *out, struct fl_err *err);
/* A duration with a unit (units.h): "200ms". */
int fl_pu_get_duration(const struct fl_doc *doc, const json_t *spec, const char *key,
                       int64_t *ns, struct fl_err *err);
/* A size: "64MiB", or a bare integer of bytes. */
int fl_pu_get_size(const struct fl_doc *doc, const json_t *spec, const char *key,
                   uint64_t *bytes, struct fl_err *err);

/* A text condition: "substring", or "/extended regex/" (POSIX ERE, compiled once at parse). */
struct fl_pu_match {
    char *text;               /* the substring, or the regex source without its slashes */
    bool is_regex;            /* re is compiled and owned */
    regex_t re;              /* compiled with REG_EXTENDED | REG_NOSUB | REG_NEWLINE */
};

int fl_pu_get_match(const struct fl_doc *doc, const json_t *spec, const char *key,
                    struct fl_pu_match *m, struct fl_err *err);
/* Does buf (len bytes; NUL bytes end a regex search early) satisfy m? */
bool fl_pu_match_test(const struct fl_pu_match *m, const char *buf, size_t len);
/* "contain 'x'" or "match /x/", for details: "stdout does not %s". */
void fl_pu_match_describe(const struct fl_pu_match *m, char *buf, size_t len);
void fl_pu_match_free(struct fl_pu_match *m);

/* A JSON path: "$.a.b[0]", "a.b[0]", "$['odd key'].c", or "$" for the whole document. */
#define FL_PU_PATH_MAX 16
struct fl_pu_path_seg {
    char *key;                /* object member, or NULL for an array index */
    size_t index;             /* the element, when key is NULL */
};
struct fl_pu_path {
    char *source;             /* as written, for details */
    struct fl_pu_path_seg seg[FL_PU_PATH_MAX];
    size_t n;                 /* steps used; 0 is "$", the whole document */
};
/* Compile text; on error *why says what is wrong (static string). */
int fl_pu_path_compile(const char *text, struct fl_pu_path *p, const char **why);
/* The node at p in root (borrowed), or NULL if absent. */
json_t *fl_pu_path_get(const struct fl_pu_path *p, json_t *root);
void fl_pu_path_free(struct fl_pu_path *p);

/* A JSON condition shared by the http and file kinds:
 *   json: valid | true                       the body/file parses as JSON
 *   json: {path: P, equals: V}               the value at P equals V (numbers by value)
 *   json: {path: P, exists: true|false}      P is present or absent */
struct fl_pu_json_cond {
    bool enabled;
    bool has_path;
    struct fl_pu_path path;
    json_t *equals;           /* owned, or NULL */
    int exists;               /* -1: not asked, 0/1: must be absent/present */
};
int fl_pu_get_json_cond(const struct fl_doc *doc, const json_t *spec, const char *key,
                        struct fl_pu_json_cond *c, struct fl_err *err);
/* Evaluate on text; fills detail on failure, and *observed (owned, may stay NULL) with the
 * value found at the path. Returns true when the condition holds. */
bool fl_pu_json_cond_eval(const struct fl_pu_json_cond *c, const char *text, size_t len,
                          json_t **observed, char *detail, size_t dlen);
void fl_pu_json_cond_free(struct fl_pu_json_cond *c);
/* json_equal, except that 1 and 1.0 are equal. */
bool fl_pu_json_equal(const json_t *a, const json_t *b);

/* A JSON string of at most max bytes of buf, with invalid UTF-8 replaced by U+FFFD and a
 * truncation marked by a trailing "...". Never NULL unless out of memory. */
json_t *fl_pu_json_text(const char *buf, size_t len, size_t max);
/* The first line of s, at most len-1 bytes, into buf. */
void fl_pu_first_line(const char *s, char *buf, size_t len);

/* path if absolute, else cwd/path (cwd NULL or empty: path as is) into buf. */
void fl_pu_resolve(const char *cwd, const char *path, char *buf, size_t len);

/* printf into out->detail. */
void fl_pu_detail(struct fl_probe_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
