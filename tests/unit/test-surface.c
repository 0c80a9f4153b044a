/* SPDX-License-Identifier: MIT */
/*
 * test-surface.c - the CLI's side of the fault surface table (surface.c).
 *
 * A point's rule is what `faultline sweep` hands back to the preload, so it must parse with
 * fl_rule_parse and select that point's calls: its call, its subject through the selector the
 * preload matches on, and its site. Paths are the hard part: a file name may hold glob
 * characters, ':' (the rule's separator), '\', blanks and '#' (a rules file's comment), and
 * each needs quoting for the glob and then for the tokenizer. These tests build points by
 * hand, parse their rules back and match the compiled globs against the path the preload
 * would see, in the base directory of another trial. Then the table itself: create (O_EXCL,
 * the base made absolute), open, the points by first_seq, the JSON, and the refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "glob.h"
#include "rule.h"
#include "surface.h"

static int op_index(const char *name)
{
    for (int i = 0; i < FL_OP_COUNT; i++)
        if (strcmp(fl_op_table[i].name, name) == 0)
            return i;
    fail_msg("no call '%s'", name);
    return -1;
}

/* A point as the preload writes it. */
static struct fl_surf_point point(const char *op, unsigned kind, unsigned fd_kind,
                                  const char *subject, uint32_t site)
{
    struct fl_surf_point p;
    memset(&p, 0, sizeof(p));
    p.op = (uint16_t)op_index(op);
    fl_op_base_name(op, p.call, sizeof(p.call));
    p.subject_kind = (uint8_t)kind;
    p.fd_kind = (uint8_t)fd_kind;
    snprintf(p.subject, sizeof(p.subject), "%s", subject);
    p.site = site;
    return p;
}

/* p's rule is exactly want, and parses back (with an effect added) into r. */
static void rule_is(const struct fl_surf_point *p, const char *want, struct fl_ctl_rule *r)
{
    char buf[2048], text[2100];
    int n = fl_surface_point_rule(p, buf, sizeof(buf));
    if (n < 0)
        fail_msg("no rule for point %s '%s'", p->call, p->subject);
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf, want);
    /* an effect the call can take: dns fails with eai=, errno= is for the rest */
    const char *effect = fl_op_table[p->op].cls == FL_CLS_DNS ? "eai=EAI_AGAIN" : "errno=EIO";
    snprintf(text, sizeof(text), "%s:nth=2:%s", buf, effect);
    int col;
    struct fl_err err = {{0}};
    if (fl_rule_parse(text, r, &col, &err) < 0)
        fail_msg("'%s' does not parse (col %d): %s", text, col, err.msg);
    assert_int_equal(r->site_set, 1);
    assert_true(r->site == p->site);
    assert_true(r->ops[p->op / 64] >> (p->op % 64) & 1);
}

static bool path_rule_matches(const struct fl_ctl_rule *r, const char *abs)
{
    return fl_glob_match_path(r->path, r->path_has_slash, abs);
}

/* ---- rule text ---------------------------------------------------------------------------- */

static void test_rule_plain_paths(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    struct fl_surf_point p = point("write", FL_SURF_PATH_REL, FL_KIND_FILE, "state.json", 0x1a2b3c4d);
    rule_is(&p, "write:path=*/state.json:site=1a2b3c4d", &r);
    assert_string_equal(r.path, "*/state.json");
    /* in any trial directory, and not another file */
    assert_true(path_rule_matches(&r, "/tmp/trial-1/state.json"));
    assert_true(path_rule_matches(&r, "/home/u/t2/state.json"));
    assert_false(path_rule_matches(&r, "/tmp/trial-1/state.json.tmp"));
    assert_false(path_rule_matches(&r, "/tmp/trial-1/xstate.json"));

    p = point("openat", FL_SURF_PATH_REL, 0, "data/db/app.db", 7);
    rule_is(&p, "open:path=*/data/db/app.db:site=00000007", &r);
    assert_true(path_rule_matches(&r, "/w/data/db/app.db"));

    p = point("__read_chk", FL_SURF_PATH_ABS, FL_KIND_FILE, "/etc/hosts", 0xffffffff);
    rule_is(&p, "read:path=/etc/hosts:site=ffffffff", &r);
    assert_true(path_rule_matches(&r, "/etc/hosts"));
    assert_false(path_rule_matches(&r, "/x/etc/hosts"));

    /* a call whose base name is no call itself is named by its own symbol */
    p = point("__uflow", FL_SURF_PATH_REL, FL_KIND_FILE, "in.txt", 0x10);
    assert_string_equal(p.call, "uflow");
    rule_is(&p, "__uflow:path=*/in.txt:site=00000010", &r);
}

/* Every character the rule language or the glob gives a meaning to, in file names. */
static void test_rule_escapes(void **state)
{
    (void)state;
    static const struct {
        const char *name;     /* the file's name, relative to the base */
        const char *rule;     /* the point's rule */
        const char *glob;     /* the glob the parser keeps */
    } cases[] = {
        {"a:b.json", "write:path=*/a\\:b.json:site=00000001", "*/a:b.json"},
        {"*.json", "write:path=*/\\\\*.json:site=00000001", "*/\\*.json"},
        {"what?.txt", "write:path=*/what\\\\?.txt:site=00000001", "*/what\\?.txt"},
        {"[draft].md", "write:path=*/\\\\[draft].md:site=00000001", "*/\\[draft].md"},
        {"back\\slash", "write:path=*/back\\\\\\\\slash:site=00000001", "*/back\\\\slash"},
        {"my file #2", "write:path=*/my\\ file\\ \\#2:site=00000001", "*/my file #2"},
        {"tab\there", "write:path=*/tab?here:site=00000001", "*/tab?here"},
        {"c:\\*?[x]:", "write:path=*/c\\:\\\\\\\\\\\\*\\\\?\\\\[x]\\::site=00000001",
         "*/c:\\\\\\*\\?\\[x]:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fl_ctl_rule r;
        struct fl_surf_point p = point("write", FL_SURF_PATH_REL, FL_KIND_FILE, cases[i].name, 1);
        rule_is(&p, cases[i].rule, &r);
        assert_string_equal(r.path, cases[i].glob);
        char abs[512], other[512];
        snprintf(abs, sizeof(abs), "/tmp/trial/%s", cases[i].name);
        if (!path_rule_matches(&r, abs))
            fail_msg("rule '%s' does not match '%s'", cases[i].rule, abs);
        /* quoting keeps the glob characters literal: a look-alike does not match */
        snprintf(other, sizeof(other), "/tmp/trial/%sX", cases[i].name);
        assert_false(path_rule_matches(&r, other));
        if (strpbrk(cases[i].name, "*?[")) {
            snprintf(other, sizeof(other), "/tmp/trial/Z%s", cases[i].name + 1);
            assert_false(path_rule_matches(&r, other));
        }
    }
    /* a control character no rule can carry becomes '?', which still matches it */
    struct fl_ctl_rule r;
    struct fl_surf_point p = point("write", FL_SURF_PATH_ABS, FL_KIND_FILE, "/tmp/a\nb", 2);
    rule_is(&p, "write:path=/tmp/a?b:site=00000002", &r);
    assert_true(path_rule_matches(&r, "/tmp/a\nb"));
}

static void test_rule_subjects(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    struct fl_surf_point p = point("connect", FL_SURF_PEER, FL_KIND_SOCKET, "127.0.0.1:6379", 0xab);
    rule_is(&p, "connect:peer=127.0.0.1:6379:site=000000ab", &r);
    assert_int_equal(r.peer_family, AF_INET);
    assert_int_equal(r.peer_port, 6379);

    p = point("send", FL_SURF_PEER, FL_KIND_SOCKET, "[::1]:8080", 0xab);
    rule_is(&p, "send:peer=[::1]:8080:site=000000ab", &r);
    assert_int_equal(r.peer_family, AF_INET6);
    assert_int_equal(r.peer_port, 8080);

    p = point("accept4", FL_SURF_LISTEN, FL_KIND_SOCKET, "0.0.0.0:8443", 0xab);
    rule_is(&p, "accept4:port=8443:site=000000ab", &r);
    assert_int_equal(r.port, 8443);

    p = point("write", FL_SURF_SOCKET, FL_KIND_SOCKET, "unix", 3);
    rule_is(&p, "write:kind=socket:site=00000003", &r);
    assert_true(r.kinds == FL_KIND_SOCKET);

    p = point("write", FL_SURF_STDIO, FL_KIND_PIPE, "stdout", 3);
    rule_is(&p, "write:kind=pipe:site=00000003", &r);
    assert_true(r.kinds == FL_KIND_PIPE);

    p = point("fputs", FL_SURF_OTHER, FL_KIND_OTHER, "tty", 3);
    rule_is(&p, "fputs:kind=other:site=00000003", &r);

    p = point("getaddrinfo", FL_SURF_HOST, 0, "db.internal", 4);
    rule_is(&p, "getaddrinfo:host=db.internal:site=00000004", &r);
    assert_string_equal(r.host, "db.internal");
    p = point("getaddrinfo", FL_SURF_HOST, 0, "we*ird:host", 4);
    rule_is(&p, "getaddrinfo:host=we\\\\*ird\\:host:site=00000004", &r);
    assert_true(fl_glob_match(r.host, "we*ird:host"));
    assert_false(fl_glob_match(r.host, "weXird:host"));
    /* getaddrinfo(NULL, service): no host= could match it */
    p = point("getaddrinfo", FL_SURF_HOST, 0, "", 4);
    rule_is(&p, "getaddrinfo:site=00000004", &r);

    p = point("malloc", FL_SURF_NONE, 0, "", 0x5eed);
    rule_is(&p, "malloc:site=00005eed", &r);
    p = point("msync", FL_SURF_NONE, 0, "", 0x5eed);
    rule_is(&p, "msync:site=00005eed", &r);

    /* the base directory itself: its name differs in every trial directory */
    p = point("fsync", FL_SURF_PATH_REL, FL_KIND_FILE, ".", 9);
    p.flags = FL_SURF_BASE;
    rule_is(&p, "fsync:kind=file:site=00000009", &r);
    /* "./." as a path call sees it: the glob names it */
    p = point("open", FL_SURF_PATH_REL, 0, ".", 9);
    rule_is(&p, "open:path=*/.:site=00000009", &r);
    assert_true(path_rule_matches(&r, "/tmp/trial/."));
}

static void test_rule_limits(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    char buf[2048];
    /* a subject cut to fit the table: the rest of the path becomes '*' */
    char name[FL_SURF_SUBJECT_MAX];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct fl_surf_point p = point("write", FL_SURF_PATH_ABS, FL_KIND_FILE, "", 1);
    memcpy(p.subject, "/", 1);
    memcpy(p.subject + 1, name, sizeof(p.subject) - 1);
    p.subject[sizeof(p.subject) - 1] = '\0';
    p.flags = FL_SURF_CUT;
    assert_true(fl_surface_point_rule(&p, buf, sizeof(buf)) > 0);
    assert_true(buf[strlen(buf) - strlen(":site=00000001") - 1] == '*');
    char text[2100], longer[600];
    snprintf(text, sizeof(text), "%s:errno=EIO", buf);
    int col;
    struct fl_err err;
    assert_int_equal(fl_rule_parse(text, &r, &col, &err), 0);
    snprintf(longer, sizeof(longer), "%s-and-the-rest", p.subject);
    assert_true(path_rule_matches(&r, longer));

    /* a glob past the rule language's limit after quoting: no rule rather than a wrong one */
    memset(name, '*', 200);
    name[200] = '\0';
    p = point("write", FL_SURF_PATH_REL, FL_KIND_FILE, name, 1);
    assert_int_equal(fl_surface_point_rule(&p, buf, sizeof(buf)), -1);
    /* a buffer too small; an op out of range; a subject kind unknown */
    p = point("write", FL_SURF_PATH_REL, FL_KIND_FILE, "state.json", 1);
    assert_int_equal(fl_surface_point_rule(&p, buf, 20), -1);
    assert_int_equal(fl_surface_point_rule(&p, buf, 0), -1);
    p.op = FL_OP_COUNT;
    assert_int_equal(fl_surface_point_rule(&p, buf, sizeof(buf)), -1);
    p = point("write", 99, FL_KIND_FILE, "x", 1);
    assert_int_equal(fl_surface_point_rule(&p, buf, sizeof(buf)), -1);
    p = point("accept", FL_SURF_LISTEN, FL_KIND_SOCKET, "0.0.0.0", 1);
    assert_int_equal(fl_surface_point_rule(&p, buf, sizeof(buf)), -1);
}

/* ---- the table ---------------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    char dir[64], path[128], cwd[PATH_MAX], link[160];
    assert_int_equal(fl_test_mkdtemp(dir, sizeof(dir), "surface"), 0);
    snprintf(path, sizeof(path), "%s/table", dir);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    /* the base is stored absolute and with symlinks resolved, as /proc/self/fd shows paths */
    snprintf(link, sizeof(link), "%s/link", dir);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(chdir(dir), 0);
    struct fl_surface_handle *h = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_surface_create(path, "link", &h, &err), 0);
    assert_int_equal(chdir(cwd), 0);
    struct fl_surface *s = h->s;
    char real[PATH_MAX];
    assert_non_null(realpath(dir, real));
    assert_string_equal(s->base, real);
    assert_true(s->magic == FL_SURF_MAGIC);
    assert_int_equal(s->size, sizeof(*s));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size == (off_t)sizeof(*s));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* O_EXCL: never over an existing file */
    struct fl_surface_handle *h2 = NULL;
    assert_int_equal(fl_surface_create(path, dir, &h2, &err), -EEXIST);
    assert_int_equal(fl_surface_create("/nonexistent/dir/t", dir, &h2, &err), -ENOENT);
    char other[160];
    snprintf(other, sizeof(other), "%s/other", dir);
    assert_int_equal(fl_surface_create(other, "/nonexistent/base", &h2, &err), -ENOENT);
    assert_int_equal(access(other, F_OK), -1);

    /* three points written as the preload does, one not yet ready */
    struct fl_surf_point *a = &s->points[17], *b = &s->points[3], *c = &s->points[900];
    *b = point("fsync", FL_SURF_PATH_REL, FL_KIND_FILE, "state.json", 0xbb);
    atomic_store(&b->key, 1);
    atomic_store(&b->count, 1);
    atomic_store(&b->first_seq, 9);
    atomic_store(&b->last_seq, 9);
    snprintf(b->module, sizeof(b->module), "prog");
    b->site_offset = 0x1234;
    atomic_store(&b->ready, 1);
    *a = point("write", FL_SURF_PATH_REL, FL_KIND_FILE, "state.json", 0xaa);
    atomic_store(&a->key, 2);
    atomic_store(&a->count, 3);
    atomic_store(&a->first_seq, 4);
    atomic_store(&a->last_seq, 8);
    snprintf(a->module, sizeof(a->module), "prog");
    atomic_store(&a->ready, 1);
    *c = point("read", FL_SURF_PATH_REL, FL_KIND_FILE, "half", 0xcc);
    atomic_store(&c->key, 3);
    atomic_store(&s->seq, 12);
    atomic_store(&s->npoints, 3);
    atomic_store(&s->overflow, 5);
    atomic_store(&s->processes, 2);

    const struct fl_surf_point **v;
    size_t n;
    assert_int_equal(fl_surface_points(h, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_ptr_equal(v[0], a);
    assert_ptr_equal(v[1], b);
    free(v);

    /* reopened, as another process would */
    assert_int_equal(fl_surface_open(path, &h2, &err), 0);
    json_t *doc = fl_surface_json(h2);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "base")), real);
    json_t *t = json_object_get(doc, "totals");
    assert_int_equal(json_integer_value(json_object_get(t, "calls")), 12);
    assert_int_equal(json_integer_value(json_object_get(t, "points")), 3);
    assert_int_equal(json_integer_value(json_object_get(t, "overflow")), 5);
    assert_int_equal(json_integer_value(json_object_get(t, "processes")), 2);
    json_t *pts = json_object_get(doc, "points");
    assert_int_equal(json_array_size(pts), 2);
    json_t *p0 = json_array_get(pts, 0), *p1 = json_array_get(pts, 1);
    assert_string_equal(json_string_value(json_object_get(p0, "call")), "write");
    assert_string_equal(json_string_value(json_object_get(p0, "subject")), "state.json");
    assert_string_equal(json_string_value(json_object_get(p0, "subject_kind")), "path_rel");
    assert_string_equal(json_string_value(json_object_get(p0, "fd_kind")), "file");
    assert_string_equal(json_string_value(json_object_get(p0, "site")), "000000aa");
    assert_string_equal(json_string_value(json_object_get(p0, "module")), "prog");
    assert_int_equal(json_integer_value(json_object_get(p0, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(p0, "first_seq")), 4);
    assert_int_equal(json_integer_value(json_object_get(p0, "last_seq")), 8);
    assert_string_equal(json_string_value(json_object_get(p0, "rule")),
                        "write:path=*/state.json:site=000000aa");
    assert_string_equal(json_string_value(json_object_get(p1, "call")), "fsync");
    assert_int_equal(json_integer_value(json_object_get(p1, "offset")), 0x1234);
    json_decref(doc);
    fl_surface_close(h2, false);
    fl_surface_close(h, true);
    assert_int_equal(access(path, F_OK), -1);
    fl_surface_close(NULL, true);

    /* what is not a table is refused: wrong size, wrong magic */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a table", 11), 11);
    close(fd);
    assert_int_equal(fl_surface_open(path, &h2, &err), -EINVAL);
    assert_int_equal(truncate(path, sizeof(struct fl_surface)), 0);
    assert_int_equal(fl_surface_open(path, &h2, &err), -EINVAL);
    assert_int_equal(fl_surface_open(other, &h2, &err), -ENOENT);
    fl_test_rmtree(dir);
}

static void test_default_path_and_hash(void **state)
{
    (void)state;
    char a[PATH_MAX], b[PATH_MAX];
    fl_surface_default_path(a, sizeof(a));
    fl_surface_default_path(b, sizeof(b));
    assert_non_null(strstr(a, "/faultline-surface-"));
    assert_string_not_equal(a, b);
    /* the site hash depends on the module and the offset, and on nothing else */
    assert_true(fl_surf_site_hash("prog", 0x1234) == fl_surf_site_hash("prog", 0x1234));
    assert_true(fl_surf_site_hash("prog", 0x1234) != fl_surf_site_hash("prog", 0x1235));
    assert_true(fl_surf_site_hash("prog", 0x1234) != fl_surf_site_hash("libc.so.6", 0x1234));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_plain_paths),
        cmocka_unit_test(test_rule_escapes),
        cmocka_unit_test(test_rule_subjects),
        cmocka_unit_test(test_rule_limits),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_default_path_and_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
