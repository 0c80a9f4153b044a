/* SPDX-License-Identifier: MIT */
/*
 * doc.h - experiment files (YAML, or JSON, which libyaml reads as the same tree) loaded into a
 * jansson tree that remembers where every node and key came from, so that every later error
 * can say `experiment.yaml:14:7: 'every' must be a duration like 200ms`.
 *
 * Scalars: plain `true/false`, `null`/`~`/empty, decimal integers and floats become JSON
 * booleans, null and numbers; everything else (and anything quoted) is a string. Anchors and
 * aliases work; merge keys (<<) do not. Everything a file controls is capped: its size, the
 * number of nodes (aliases count at their expanded size) and the nesting depth.
 */
#ifndef FL_DOC_H
#define FL_DOC_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

#define FL_DOC_MAX_BYTES (4u << 20)
#define FL_DOC_MAX_NODES 200000u
#define FL_DOC_MAX_DEPTH 64u

struct fl_doc_mark;

struct fl_doc {
    char path[1024];             /* as given, for messages */
    json_t *root;                /* owned */
    struct fl_doc_mark *marks;   /* node (and key) -> line:col, 1-based */
    size_t n_marks, cap_marks;
};

/* Load a file. On error err holds "PATH:LINE:COL: what" and the doc is empty. */
int fl_doc_load(struct fl_doc *doc, const char *path, struct fl_err *err);
/* Load from memory; name is used in messages. */
int fl_doc_load_string(struct fl_doc *doc, const char *name, const char *text, size_t len,
                       struct fl_err *err);
void fl_doc_free(struct fl_doc *doc);

/* Where node (or, with key, the key of that name in the object node) starts; 0 if unknown. */
void fl_doc_where(const struct fl_doc *doc, const json_t *node, const char *key, int *line,
                  int *col);

/* Set err to "PATH:LINE:COL: <message>" for node (or its key). Returns -EINVAL. */
int fl_doc_error(const struct fl_doc *doc, const json_t *node, const char *key,
                 struct fl_err *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
