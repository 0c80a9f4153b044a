/* SPDX-License-Identifier: MIT */
/* doc.c - YAML/JSON into jansson with positions; see doc.h. */
#include "doc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct fl_doc_mark {
    const json_t *node;
    char *key; /* NULL: the node itself; else the key of that name in the object node */
    int line, col;
};

struct anchor {
    char *name;
    json_t *node;
    size_t size; /* nodes in it, for the expanded-size cap */
};

struct frame {
    json_t *container;
    char *key;        /* mapping: the key waiting for its value */
    int key_line, key_col;
    char *anchor;
    size_t start_nodes;
};

struct loader {
    struct fl_doc *doc;
    struct frame stack[FL_DOC_MAX_DEPTH + 1];
    size_t depth;
    struct anchor *anchors;
    size_t n_anchors;
    size_t nodes;
    json_t *root;
    struct fl_err *err;
};

static int mark(struct fl_doc *doc, const json_t *node, const char *key, int line, int col)
{
    if (doc->n_marks == doc->cap_marks) {
        size_t cap = doc->cap_marks ? doc->cap_marks * 2 : 64;
        void *p = realloc(doc->marks, cap * sizeof(*doc->marks));
        if (!p)
            return -ENOMEM;
        doc->marks = p;
        doc->cap_marks = cap;
    }
    char *k = key ? strdup(key) : NULL;
    if (key && !k)
        return -ENOMEM;
    doc->marks[doc->n_marks++] = (struct fl_doc_mark){node, k, line, col};
    return 0;
}

void fl_doc_where(const struct fl_doc *doc, const json_t *node, const char *key, int *line,
                  int *col)
{
    *line = *col = 0;
    for (size_t i = 0; i < doc->n_marks; i++) {
        const struct fl_doc_mark *m = &doc->marks[i];
        if (m->node != node || (key == NULL) != (m->key == NULL) ||
            (key && strcmp(key, m->key) != 0))
            continue;
        *line = m->line;
        *col = m->col;
        return;
    }
    if (key) /* no such key: point at the object */
        fl_doc_where(doc, node, NULL, line, col);
}

/* Errors are one line, but they quote what the file says (a key may hold line breaks):
 * control characters become '?'. */
static void one_line(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int fl_doc_error(const struct fl_doc *doc, const json_t *node, const char *key,
                 struct fl_err *err, const char *fmt, ...)
{
    char msg[FL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    one_line(msg);
    int line, col;
    fl_doc_where(doc, node, key, &line, &col);
    if (line)
        return fl_err_set(err, EINVAL, "%s:%d:%d: %s", doc->path, line, col, msg);
    return fl_err_set(err, EINVAL, "%s: %s", doc->path, msg);
}

static int fail_at(struct loader *l, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct loader *l, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[FL_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    one_line(msg);
    return fl_err_set(l->err, EINVAL, "%s:%zu:%zu: %s", l->doc->path, m->line + 1,
                      m->column + 1, msg);
}

static bool plain_number(const char *s, json_t **out)
{
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool starts_like_number = s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9');
    if (*end == '\0' && errno == 0 && starts_like_number) {
        *out = json_integer(v);
        return true;
    }
    /* floats: digits with a '.' or an exponent; not "inf"/"nan", not "1e" */
    if (!strpbrk(s, ".eE") || strspn(s, "+-0123456789.eE") != strlen(s))
        return false;
    errno = 0;
    double d = strtod(s, &end);
    if (*end != '\0' || errno != 0 || !isfinite(d))
        return false;
    *out = json_real(d);
    return true;
}

static json_t *scalar_value(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag) {
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            return json_true();
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            return json_false();
        if (!strcmp(s, "null") || !strcmp(s, "~") || !strcmp(s, "Null") || len == 0)
            return json_null();
        json_t *n;
        if (plain_number(s, &n))
            return n;
    }
    return json_stringn(s, len);
}

static struct anchor *find_anchor(struct loader *l, const char *name)
{
    for (size_t i = l->n_anchors; i-- > 0;) /* the latest definition wins */
        if (!strcmp(l->anchors[i].name, name))
            return &l->anchors[i];
    return NULL;
}

static int add_anchor(struct loader *l, const char *name, json_t *node, size_t size)
{
    void *p = realloc(l->anchors, (l->n_anchors + 1) * sizeof(*l->anchors));
    if (!p)
        return -ENOMEM;
    l->anchors = p;
    char *n = strdup(name);
    if (!n)
        return -ENOMEM;
    l->anchors[l->n_anchors++] = (struct anchor){n, json_incref(node), size};
    return 0;
}

/* Attach a finished node to the container on top of the stack (or make it the root). Steals
 * the reference to node. */
static int attach(struct loader *l, json_t *node, const yaml_mark_t *m)
{
    if (!node)
        return fl_err_set(l->err, ENOMEM, "out of memory");
    if (l->depth == 0) {
        l->root = node;
        return 0;
    }
    struct frame *f = &l->stack[l->depth - 1];
    if (json_is_array(f->container))
        return json_array_append_new(f->container, node) ? -ENOMEM : 0;
    if (!f->key) {
        /* this node is a key; scalars arrive as strings, but an alias may stand for anything */
        if (!json_is_string(node)) {
            json_decref(node);
            return fail_at(l, m, "a key must be a plain string");
        }
        const char *k = json_string_value(node);
        if (json_object_get(f->container, k)) {
            int line, col;
            fl_doc_where(l->doc, f->container, k, &line, &col);
            int rc = fail_at(l, m, "duplicate key '%s' (first at line %d)", k, line);
            json_decref(node);
            return rc;
        }
        f->key = strdup(k);
        f->key_line = (int)m->line + 1;
        f->key_col = (int)m->column + 1;
        json_decref(node);
        return f->key ? 0 : -ENOMEM;
    }
    int rc = mark(l->doc, f->container, f->key, f->key_line, f->key_col);
    if (rc == 0 && json_object_set_new(f->container, f->key, node) < 0)
        rc = -ENOMEM;
    free(f->key);
    f->key = NULL;
    return rc;
}

static int count_node(struct loader *l, const yaml_mark_t *m, size_t n)
{
    l->nodes += n;
    if (l->nodes > FL_DOC_MAX_NODES)
        return fail_at(l, m, "more than %u nodes (aliases count at their full size)",
                       FL_DOC_MAX_NODES);
    return 0;
}

static int on_event(struct loader *l, yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    int line = (int)m->line + 1, col = (int)m->column + 1;
    int rc;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        if ((rc = count_node(l, m, 1)) < 0)
            return rc;
        bool is_key = l->depth && json_is_object(l->stack[l->depth - 1].container) &&
                      !l->stack[l->depth - 1].key;
        /* a key is its text (`200:` is the key "200"); values get their YAML type */
        json_t *v = is_key ? json_stringn((const char *)ev->data.scalar.value,
                                          ev->data.scalar.length)
                           : scalar_value(ev);
        if (!v)
            return fl_err_set(l->err, ENOMEM, "out of memory");
        /* true/false/null are shared singletons in jansson: their place is their key's */
        if (!is_key && !json_is_boolean(v) && !json_is_null(v) &&
            (rc = mark(l->doc, v, NULL, line, col)) < 0) {
            json_decref(v);
            return rc;
        }
        if (ev->data.scalar.anchor &&
            (rc = add_anchor(l, (const char *)ev->data.scalar.anchor, v, 1)) < 0) {
            json_decref(v);
            return rc;
        }
        return attach(l, v, m);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        if (l->depth && json_is_object(l->stack[l->depth - 1].container) &&
            !l->stack[l->depth - 1].key)
            return fail_at(l, m, "a key must be a plain string, not a list or mapping");
        if (l->depth >= FL_DOC_MAX_DEPTH)
            return fail_at(l, m, "nested deeper than %u levels", FL_DOC_MAX_DEPTH);
        if ((rc = count_node(l, m, 1)) < 0)
            return rc;
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        json_t *c = seq ? json_array() : json_object();
        if (!c || (rc = mark(l->doc, c, NULL, line, col)) < 0) {
            json_decref(c);
            return fl_err_set(l->err, ENOMEM, "out of memory");
        }
        const yaml_char_t *anchor =
            seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        l->stack[l->depth++] = (struct frame){
            .container = c, .anchor = anchor ? strdup((const char *)anchor) : NULL,
            .start_nodes = l->nodes};
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        struct frame f = l->stack[--l->depth];
        free(f.key);
        if (f.anchor) {
            rc = add_anchor(l, f.anchor, f.container, l->nodes - f.start_nodes);
            free(f.anchor);
            if (rc < 0) {
                json_decref(f.container);
                return rc;
            }
        }
        return attach(l, f.container, m);
    }
    case YAML_ALIAS_EVENT: {
        struct anchor *a = find_anchor(l, (const char *)ev->data.alias.anchor);
        if (!a)
            return fail_at(l, m, "unknown alias '*%s'", ev->data.alias.anchor);
        if ((rc = count_node(l, m, a->size)) < 0)
            return rc;
        /* an alias of a container still being built would make a cycle */
        for (size_t i = 0; i < l->depth; i++)
            if (l->stack[i].container == a->node)
                return fail_at(l, m, "alias '*%s' refers to a node that contains it",
                               ev->data.alias.anchor);
        return attach(l, json_incref(a->node), m);
    }
    default:
        return 0;
    }
}

int fl_doc_load_string(struct fl_doc *doc, const char *name, const char *text, size_t len,
                       struct fl_err *err)
{
    memset(doc, 0, sizeof(*doc));
    snprintf(doc->path, sizeof(doc->path), "%s", name);
    if (len > FL_DOC_MAX_BYTES)
        return fl_err_set(err, EFBIG, "%s: larger than %u MiB", name, FL_DOC_MAX_BYTES >> 20);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return fl_err_set(err, ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    struct loader l = {.doc = doc, .err = err};
    int rc = 0, docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = fl_err_set(err, EINVAL, "%s:%zu:%zu: %s%s%s", name,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "syntax error",
                            parser.context ? " " : "", parser.context ? parser.context : "");
            break;
        }
        bool done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            rc = fail_at(&l, &ev.start_mark, "one document per file (found a second '---')");
        else
            rc = on_event(&l, &ev);
        yaml_event_delete(&ev);
        if (rc < 0 || done)
            break;
    }
    yaml_parser_delete(&parser);
    while (l.depth > 0) {
        free(l.stack[l.depth - 1].key);
        free(l.stack[l.depth - 1].anchor);
        json_decref(l.stack[--l.depth].container);
    }
    for (size_t i = 0; i < l.n_anchors; i++) {
        free(l.anchors[i].name);
        json_decref(l.anchors[i].node);
    }
    free(l.anchors);
    if (rc == 0 && !l.root)
        rc = fl_err_set(err, EINVAL, "%s:1:1: the file is empty", name);
    if (rc < 0) {
        json_decref(l.root);
        fl_doc_free(doc);
        return rc;
    }
    doc->root = l.root;
    return 0;
}

int fl_doc_load(struct fl_doc *doc, const char *path, struct fl_err *err)
{
    memset(doc, 0, sizeof(*doc));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fl_err_set(err, EISDIR, "%s: not a regular file", path);
    }
    if (st.st_size > FL_DOC_MAX_BYTES) {
        close(fd);
        return fl_err_set(err, EFBIG, "%s: larger than %u MiB", path, FL_DOC_MAX_BYTES >> 20);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return fl_err_set(err, ENOMEM, "out of memory");
    }
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    buf[off] = '\0';
    int rc = fl_doc_load_string(doc, path, buf, off, err);
    free(buf);
    return rc;
}

void fl_doc_free(struct fl_doc *doc)
{
    for (size_t i = 0; i < doc->n_marks; i++)
        free(doc->marks[i].key);
    free(doc->marks);
    json_decref(doc->root);
    doc->marks = NULL;
    doc->root = NULL;
    doc->n_marks = doc->cap_marks = 0;
}
