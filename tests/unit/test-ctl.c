/* SPDX-License-Identifier: MIT */
/*
 * test-ctl.c - the control block from the controller's side, and the preload fault kind that
 * creates it through the journal.
 *
 * The block is the only channel between faultline and the target's preload, and O_EXCL plus
 * the magic/version/size checks are what keep it from clobbering or misreading a user's file.
 * These tests create a block from parsed rules in a private directory, reopen it and check
 * what the preload will read (header, per-call rule masks, the selective mask), switch rules
 * through one mapping and watch another, and check the refusals. Then they run the full
 * apply -> journal -> revert protocol of fl_fault_apply for kind "preload", including
 * reverting an entry read back from disk as `faultline recover` does, and the cases where the
 * path is taken by a user's file or by another run's block, which must be left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "ctl.h"
#include "fault.h"
#include "journal.h"
#include "rule.h"
#include "surface.h"

struct fixture {
    char dir[64];
    char block[128];
    struct fl_rule_set *set;
};

static const char *const rules3[] = {
    "write:errno=EIO",
    "fsync:drop:id=sync",
    "read:path=*.db:errno=EIO",
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (fl_test_mkdtemp(f->dir, sizeof(f->dir), "ctl") < 0)
        return -1;
    snprintf(f->block, sizeof(f->block), "%s/block", f->dir);
    f->set = calloc(1, sizeof(*f->set));
    if (!f->set)
        return -1;
    struct fl_err err = {{0}};
    for (size_t i = 0; i < sizeof(rules3) / sizeof(rules3[0]); i++)
        if (fl_rule_set_add(f->set, rules3[i], "test", 0, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fl_test_rmtree(f->dir);
    free(f->set);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    close(fd);
    assert_true(n >= 0);
    return (size_t)n;
}

/* ---- the block ---------------------------------------------------------------------------- */

static void test_create_layout(void **state)
{
    struct fixture *f = *state;
    struct fl_ctl_handle *h = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_ctl_create(f->block, f->set, 42, 0x5eed, FL_CTL_NO_FOLLOW, &h, &err), 0);
    assert_non_null(h);
    assert_string_equal(h->path, f->block);

    struct stat st;
    assert_int_equal(stat(f->block, &st), 0);
    assert_true(st.st_size == (off_t)sizeof(struct fl_ctl));
    assert_int_equal(st.st_mode & 0777, 0600);

    const struct fl_ctl *c = h->ctl;
    assert_true(c->magic == FL_CTL_MAGIC);
    assert_int_equal(c->version, FL_CTL_VERSION);
    assert_int_equal(c->size, sizeof(struct fl_ctl));
    assert_true(c->seed == 42);
    assert_true(c->token == 0x5eed);
    assert_int_equal(c->nrules, 3);
    assert_int_equal(c->flags, FL_CTL_NO_FOLLOW);
    assert_true(atomic_load(&c->enabled) == 0x7); /* all on */
    assert_true(atomic_load(&c->generation) == 0);
    /* only the path rule depends on the fd */
    assert_true(c->selective == 0x4);
    /* which rules each call consults */
    assert_true(c->op_rules[FL_OP_write] == 0x1);
    assert_true(c->op_rules[FL_OP_fsync] == 0x2);
    assert_true(c->op_rules[FL_OP_read] == 0x4);
    assert_true(c->op_rules[FL_OP_pread] == 0);
    assert_true(c->op_rules[FL_OP_malloc] == 0);
    for (int op = 0; op < FL_OP_COUNT; op++) {
        uint64_t want = 0;
        for (unsigned i = 0; i < 3; i++)
            if (f->set->rules[i].ops[op / 64] >> (op % 64) & 1)
                want |= UINT64_C(1) << i;
        assert_true(c->op_rules[op] == want);
    }
    /* the rules themselves, as parsed */
    for (unsigned i = 0; i < 3; i++) {
        assert_string_equal(c->rules[i].text, rules3[i]);
        assert_string_equal(c->rules[i].id, f->set->rules[i].id);
        assert_memory_equal(c->rules[i].ops, f->set->rules[i].ops, sizeof(c->rules[i].ops));
        assert_int_equal(c->rules[i].effects, f->set->rules[i].effects);
        assert_true(atomic_load(&c->rules[i].seen) == 0);
        assert_true(atomic_load(&c->rules[i].injected) == 0);
    }
    assert_string_equal(c->rules[2].path, "*.db");
    fl_ctl_close(h);
    fl_ctl_close(NULL);
}

/* The observer's bit: in every call's mask and in enabled, untouched by switching all rules,
 * removed by fl_ctl_stop_observing; with no rule at all, too (what a sweep's first run is). */
static void test_create_observing(void **state)
{
    struct fixture *f = *state;
    struct fl_ctl_handle *h = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_ctl_create(f->block, f->set, 1, 2, FL_CTL_OBSERVE, &h, &err), 0);
    const struct fl_ctl *c = h->ctl;
    assert_int_equal(c->flags, FL_CTL_OBSERVE);
    assert_true(atomic_load(&c->enabled) == (FL_CTL_OBSERVE_BIT | 0x7));
    for (int op = 0; op < FL_OP_COUNT; op++)
        assert_true(c->op_rules[op] & FL_CTL_OBSERVE_BIT);
    assert_true(c->op_rules[FL_OP_write] == (FL_CTL_OBSERVE_BIT | 0x1));
    assert_true(c->op_rules[FL_OP_malloc] == FL_CTL_OBSERVE_BIT);
    /* never a rule: the selective mask and the rule count leave it out */
    assert_true(c->selective == 0x4);
    assert_int_equal(fl_ctl_count(h), 3);
    assert_int_equal(fl_ctl_set_enabled(h, -1, false), 0);
    assert_true(atomic_load(&c->enabled) == FL_CTL_OBSERVE_BIT);
    assert_int_equal(fl_ctl_set_enabled(h, -1, true), 0);
    assert_true(atomic_load(&c->enabled) == (FL_CTL_OBSERVE_BIT | 0x7));
    fl_ctl_stop_observing(h);
    assert_true(atomic_load(&c->enabled) == 0x7);
    fl_ctl_close(h);
    unlink(f->block);

    struct fl_rule_set *none = calloc(1, sizeof(*none));
    assert_non_null(none);
    assert_int_equal(fl_ctl_create(f->block, none, 1, 2, FL_CTL_OBSERVE, &h, &err), 0);
    assert_true(atomic_load(&h->ctl->enabled) == FL_CTL_OBSERVE_BIT);
    assert_true(h->ctl->op_rules[FL_OP_fsync] == FL_CTL_OBSERVE_BIT);
    fl_ctl_close(h);
    free(none);
}

static void test_open_find_switch_stats(void **state)
{
    struct fixture *f = *state;
    struct fl_ctl_handle *h = NULL, *h2 = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_ctl_create(f->block, f->set, 1, 2, 0, &h, &err), 0);
    assert_int_equal(fl_ctl_open(f->block, &h2, &err), 0);
    assert_true(h2->ctl != h->ctl); /* a second mapping of the same file */
    assert_int_equal(fl_ctl_count(h2), 3);
    assert_true(h2->ctl->seed == 1);

    /* by id, and by number even when the rule has an id */
    assert_int_equal(fl_ctl_find(h2, "1"), 0);
    assert_int_equal(fl_ctl_find(h2, "sync"), 1);
    assert_int_equal(fl_ctl_find(h2, "2"), 1);
    assert_int_equal(fl_ctl_find(h2, "3"), 2);
    assert_int_equal(fl_ctl_find(h2, "4"), -ENOENT);
    assert_int_equal(fl_ctl_find(h2, "0"), -ENOENT);
    assert_int_equal(fl_ctl_find(h2, "-1"), -ENOENT);
    assert_int_equal(fl_ctl_find(h2, "2x"), -ENOENT);
    assert_int_equal(fl_ctl_find(h2, "Sync"), -ENOENT);
    assert_int_equal(fl_ctl_find(h2, ""), -ENOENT);

    /* switching through one mapping is seen through the other */
    assert_int_equal(fl_ctl_set_enabled(h2, 1, false), 0);
    assert_true(atomic_load(&h->ctl->enabled) == 0x5);
    assert_true(atomic_load(&h->ctl->generation) == 1);
    struct fl_rule_stats s;
    assert_int_equal(fl_ctl_stats(h, 1, &s), 0);
    assert_string_equal(s.id, "sync");
    assert_string_equal(s.text, "fsync:drop:id=sync");
    assert_false(s.enabled);
    assert_int_equal(fl_ctl_stats(h, 0, &s), 0);
    assert_true(s.enabled);

    assert_int_equal(fl_ctl_set_enabled(h, -1, false), 0);
    assert_true(atomic_load(&h2->ctl->enabled) == 0);
    assert_int_equal(fl_ctl_set_enabled(h, 2, true), 0);
    assert_true(atomic_load(&h2->ctl->enabled) == 0x4);
    assert_int_equal(fl_ctl_set_enabled(h, -1, true), 0);
    assert_true(atomic_load(&h2->ctl->enabled) == 0x7);
    assert_true(atomic_load(&h2->ctl->generation) == 4);
    /* out of range: refused, nothing changes */
    assert_int_equal(fl_ctl_set_enabled(h, 3, false), -ENOENT);
    assert_true(atomic_load(&h2->ctl->enabled) == 0x7);
    assert_true(atomic_load(&h2->ctl->generation) == 4);

    /* the counters the preload bumps come back in stats */
    atomic_fetch_add(&h->ctl->rules[2].seen, 10);
    atomic_fetch_add(&h->ctl->rules[2].injected, 3);
    assert_int_equal(fl_ctl_stats(h2, 2, &s), 0);
    assert_true(s.seen == 10);
    assert_true(s.injected == 3);
    assert_string_equal(s.id, "3");
    assert_int_equal(fl_ctl_stats(h2, 3, &s), -ENOENT);
    assert_int_equal(fl_ctl_stats(h2, -1, &s), -ENOENT);

    fl_ctl_close(h2);
    fl_ctl_close(h);
    /* close does not remove the file */
    assert_int_equal(access(f->block, F_OK), 0);
}

static void test_full_set(void **state)
{
    struct fixture *f = *state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    for (int i = 0; i < FL_RULES_MAX; i++)
        assert_int_equal(fl_rule_set_add(set, "write:errno=EIO:prob=0.1", "t", 0, &err), 0);
    struct fl_ctl_handle *h = NULL;
    assert_int_equal(fl_ctl_create(f->block, set, 1, 2, 0, &h, &err), 0);
    assert_true(atomic_load(&h->ctl->enabled) == (UINT64_C(1) << 63) - 1);
    assert_true(h->ctl->op_rules[FL_OP_write] == (UINT64_C(1) << 63) - 1);
    assert_int_equal(fl_ctl_find(h, "63"), 62);
    assert_int_equal(fl_ctl_set_enabled(h, 62, false), 0);
    assert_true(atomic_load(&h->ctl->enabled) == (UINT64_C(1) << 62) - 1);
    assert_int_equal(fl_ctl_set_enabled(h, 63, false), -ENOENT);
    fl_ctl_close(h);
    free(set);
}

static void test_create_refuses_existing(void **state)
{
    struct fixture *f = *state;
    static const char precious[] = "precious user data\n";
    write_file(f->block, precious, sizeof(precious) - 1);
    struct fl_ctl_handle *h = (struct fl_ctl_handle *)0x1;
    struct fl_err err = {{0}};
    assert_int_equal(fl_ctl_create(f->block, f->set, 1, 2, 0, &h, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_non_null(strstr(err.msg, f->block));
    assert_true(h == (struct fl_ctl_handle *)0x1);
    char buf[128];
    size_t n = read_file(f->block, buf, sizeof(buf));
    assert_int_equal(n, sizeof(precious) - 1);
    assert_memory_equal(buf, precious, n);

    /* nor over another block: the first stays whole */
    char second[160];
    snprintf(second, sizeof(second), "%s/second", f->dir);
    assert_int_equal(fl_ctl_create(second, f->set, 1, 77, 0, &h, &err), 0);
    fl_ctl_close(h);
    assert_int_equal(fl_ctl_create(second, f->set, 9, 88, 0, &h, &err), -EEXIST);
    assert_int_equal(fl_ctl_open(second, &h, &err), 0);
    assert_true(h->ctl->token == 77);
    assert_true(h->ctl->seed == 1);
    fl_ctl_close(h);
}

static void test_create_errors(void **state)
{
    struct fixture *f = *state;
    struct fl_ctl_handle *h = NULL;
    struct fl_err err = {{0}};
    char path[160];
    snprintf(path, sizeof(path), "%s/no/such/dir/block", f->dir);
    assert_int_equal(fl_ctl_create(path, f->set, 1, 2, 0, &h, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cannot create control block"));
    char *longpath = malloc(5000);
    assert_non_null(longpath);
    memset(longpath, 'a', 4999);
    longpath[0] = '/';
    longpath[4999] = '\0';
    assert_int_equal(fl_ctl_create(longpath, f->set, 1, 2, 0, &h, &err), -ENAMETOOLONG);
    free(longpath);
}

static void test_open_refuses(void **state)
{
    struct fixture *f = *state;
    struct fl_ctl_handle *h = (struct fl_ctl_handle *)0x1;
    struct fl_err err = {{0}};

    assert_int_equal(fl_ctl_open(f->block, &h, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "cannot open control block"));

    write_file(f->block, "hello", 5);
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "wrong size"));
    write_file(f->block, "", 0);
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "wrong size"));

    /* the right size but not a block */
    struct fl_ctl *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    write_file(f->block, c, sizeof(*c));
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a faultline control block of this version"));

    /* a block of another version, a wrong size field, too many rules */
    c->magic = FL_CTL_MAGIC;
    c->version = FL_CTL_VERSION + 1;
    c->size = sizeof(*c);
    write_file(f->block, c, sizeof(*c));
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    c->version = FL_CTL_VERSION;
    c->size = sizeof(*c) - 8;
    write_file(f->block, c, sizeof(*c));
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    c->size = sizeof(*c);
    c->nrules = FL_RULES_MAX + 1;
    write_file(f->block, c, sizeof(*c));
    assert_int_equal(fl_ctl_open(f->block, &h, &err), -EINVAL);
    assert_true(h == (struct fl_ctl_handle *)0x1);

    /* and the same bytes with sane fields open fine */
    c->nrules = 0;
    write_file(f->block, c, sizeof(*c));
    assert_int_equal(fl_ctl_open(f->block, &h, &err), 0);
    assert_int_equal(fl_ctl_count(h), 0);
    fl_ctl_close(h);
    free(c);

    /* a directory is not a block either */
    assert_true(fl_ctl_open(f->dir, &h, &err) < 0);
}

static void test_default_path(void **state)
{
    struct fixture *f = *state;
    const char *saved = getenv("XDG_RUNTIME_DIR");
    char *keep = saved ? strdup(saved) : NULL;
    char buf[256], want[128];

    setenv("XDG_RUNTIME_DIR", f->dir, 1);
    fl_ctl_default_path(buf, sizeof(buf));
    snprintf(want, sizeof(want), "%s/faultline-ctl-%d-", f->dir, (int)getpid());
    assert_memory_equal(buf, want, strlen(want));
    assert_int_equal(strlen(buf), strlen(want) + 16);
    char other[256];
    fl_ctl_default_path(other, sizeof(other));
    assert_string_not_equal(buf, other); /* a fresh name each time */

    /* an unusable runtime dir falls back to /dev/shm or /tmp */
    setenv("XDG_RUNTIME_DIR", "/nonexistent/runtime", 1);
    fl_ctl_default_path(buf, sizeof(buf));
    assert_true(strncmp(buf, "/dev/shm/faultline-ctl-", 23) == 0 ||
                strncmp(buf, "/tmp/faultline-ctl-", 19) == 0);
    unsetenv("XDG_RUNTIME_DIR");
    fl_ctl_default_path(buf, sizeof(buf));
    assert_true(strncmp(buf, "/dev/shm/faultline-ctl-", 23) == 0 ||
                strncmp(buf, "/tmp/faultline-ctl-", 19) == 0);

    if (keep)
        setenv("XDG_RUNTIME_DIR", keep, 1);
    free(keep);
}

/* ---- the preload fault kind through the journal ------------------------------------------- */

static json_t *preload_params(const char *path, const char *rule2)
{
    return json_pack("{s:s, s:[s, s], s:I, s:b}", "path", path, "rules", "write:errno=EIO",
                     rule2, "seed", (json_int_t)9, "no_follow", 1);
}

static void open_journal(struct fixture *f, struct fl_journal *j)
{
    char state[160];
    snprintf(state, sizeof(state), "%s/state", f->dir);
    struct fl_err err = {{0}};
    assert_int_equal(fl_journal_open(j, state, &err), 0);
}

static size_t journal_count(struct fl_journal *j)
{
    json_t *arr = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_journal_list(j, &arr, &err), 0);
    size_t n = json_array_size(arr);
    json_decref(arr);
    return n;
}

static void test_fault_registry(void **state)
{
    (void)state;
    assert_true(fl_fault_kind_count >= 1);
    const struct fl_fault_ops *ops = fl_fault_find("preload");
    assert_true(ops == &fl_fault_preload);
    assert_int_equal(ops->version, FL_FAULT_OPS_VERSION);
    assert_string_equal(ops->name, "preload");
    assert_non_null(ops->apply);
    assert_non_null(ops->revert);
    assert_null(fl_fault_find("nope"));
    for (size_t i = 0; i < fl_fault_kind_count; i++)
        assert_true(fl_fault_find(fl_fault_kinds[i]->name) == fl_fault_kinds[i]);
}

/* "observe" and "surface": the block observes, and revert removes the table, which a run
 * that died would otherwise leave on tmpfs; a file there that is no table is left alone. */
static void test_fault_observe_surface(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    char surf[160];
    snprintf(surf, sizeof(surf), "%s/surface", f->dir);
    json_t *params = json_pack("{s:s, s:[], s:I, s:b, s:s}", "path", f->block, "rules", "seed",
                               (json_int_t)3, "observe", 1, "surface", surf);
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), 0);
    struct fl_ctl_handle *h = NULL;
    assert_int_equal(fl_ctl_open(f->block, &h, &err), 0);
    assert_int_equal(h->ctl->flags, FL_CTL_OBSERVE);
    assert_true(atomic_load(&h->ctl->enabled) == FL_CTL_OBSERVE_BIT);
    char desc[256];
    fl_fault_describe_entry(a.entry, desc, sizeof(desc));
    assert_non_null(strstr(desc, "and the surface observer"));
    struct fl_surface_handle *sh = NULL;
    assert_int_equal(fl_surface_create(surf, f->dir, &sh, &err), 0);
    fl_surface_close(sh, false);
    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    /* the observer stopped in a target that outlived the run, and both files are gone */
    assert_true(atomic_load(&h->ctl->enabled) == 0);
    fl_ctl_close(h);
    assert_int_equal(access(f->block, F_OK), -1);
    assert_int_equal(access(surf, F_OK), -1);

    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), 0);
    write_file(surf, "user data\n", 10);
    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    char buf[32];
    assert_int_equal(read_file(surf, buf, sizeof(buf)), 10);
    assert_int_equal(journal_count(&j), 0);
    json_decref(params);
}

static void test_fault_apply_revert(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    json_t *params = preload_params(f->block, "fsync:drop:id=s");
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), 0);
    assert_true(a.ops == &fl_fault_preload);
    assert_non_null(a.entry);
    assert_true(a.id[0] != '\0');

    /* the journal holds exactly this fault, with its owner, before anything else happens */
    json_t *arr = NULL;
    assert_int_equal(fl_journal_list(&j, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 1);
    json_t *e = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(e, "id")), a.id);
    assert_string_equal(json_string_value(json_object_get(e, "kind")), "preload");
    assert_true(json_equal(json_object_get(e, "params"), params));
    json_t *owner = json_object_get(e, "owner");
    assert_int_equal(json_integer_value(json_object_get(owner, "pid")), getpid());
    assert_true((uint64_t)json_integer_value(json_object_get(owner, "start")) ==
                fl_proc_starttime(getpid()));
    assert_true(json_is_null(json_object_get(e, "expires")));
    assert_true(json_integer_value(json_object_get(e, "created")) > 0);
    json_int_t token = json_integer_value(json_object_get(json_object_get(e, "undo"), "token"));
    assert_true(token != 0);
    assert_true(json_equal(e, a.entry));
    char desc[256], want[256];
    fl_fault_describe_entry(e, desc, sizeof(desc));
    snprintf(want, sizeof(want), "preload rules (2) in control block %s", f->block);
    assert_string_equal(desc, want);
    json_decref(arr);

    /* the block the target will map */
    struct fl_ctl_handle *h = NULL;
    assert_int_equal(fl_ctl_open(f->block, &h, &err), 0);
    assert_int_equal(fl_ctl_count(h), 2);
    assert_true(h->ctl->seed == 9);
    assert_true(h->ctl->token == (uint64_t)token);
    assert_int_equal(h->ctl->flags, FL_CTL_NO_FOLLOW);
    assert_int_equal(fl_ctl_find(h, "s"), 1);
    assert_true(atomic_load(&h->ctl->enabled) == 0x3);

    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    assert_null(a.entry);
    assert_int_equal(access(f->block, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(journal_count(&j), 0);
    /* a target still mapping the block stops being faulted */
    assert_true(atomic_load(&h->ctl->enabled) == 0);
    fl_ctl_close(h);
    /* reverting again is harmless */
    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    json_decref(params);
}

static void test_fault_recover_entry(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    json_t *params = preload_params(f->block, "read:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), 0);
    json_decref(params);

    /* what `faultline recover` does: read the entry back from disk and revert it */
    json_t *arr = NULL;
    assert_int_equal(fl_journal_list(&j, &arr, &err), 0);
    assert_int_equal(json_array_size(arr), 1);
    assert_int_equal(fl_fault_revert_entry(&j, json_array_get(arr, 0), &err), 0);
    json_decref(arr);
    assert_int_equal(access(f->block, F_OK), -1);
    assert_int_equal(journal_count(&j), 0);

    /* the owner's own revert afterwards finds nothing left to do */
    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    assert_null(a.entry);
}

static void test_fault_revert_entry_bad(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    struct fl_err err = {{0}};
    json_t *e = json_pack("{s:s, s:s}", "id", "1-2-3", "kind", "nope");
    assert_int_equal(fl_fault_revert_entry(&j, e, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown kind 'nope'"));
    json_decref(e);
    /* an unreadable entry as fl_journal_list returns it */
    e = json_pack("{s:s, s:s}", "id", "broken", "unreadable", "parse error");
    assert_int_equal(fl_fault_revert_entry(&j, e, &err), -EINVAL);
    json_decref(e);

    json_t *params = preload_params(f->block, "read:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    assert_int_equal(fl_fault_apply(&j, "nope", params, 0, &a, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "unknown fault kind 'nope'"));
    assert_int_equal(journal_count(&j), 0);
    json_decref(params);
}

static void test_fault_apply_bad_rule(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    json_t *params = preload_params(f->block, "wirte:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "rule 2, col 1: unknown call or family 'wirte'"));
    /* nothing left behind: no entry, no block */
    assert_int_equal(journal_count(&j), 0);
    assert_int_equal(access(f->block, F_OK), -1);
    assert_null(a.entry);
    json_decref(params);

    params = json_pack("{s:s}", "path", f->block);
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "params need path and rules"));
    assert_int_equal(journal_count(&j), 0);
    json_decref(params);
}

static void test_fault_apply_over_user_file(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    static const char precious[] = "precious user data\n";
    write_file(f->block, precious, sizeof(precious) - 1);
    json_t *params = preload_params(f->block, "read:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "already exists"));
    /* the user's file is untouched and nothing is journaled */
    char buf[128];
    size_t n = read_file(f->block, buf, sizeof(buf));
    assert_int_equal(n, sizeof(precious) - 1);
    assert_memory_equal(buf, precious, n);
    assert_int_equal(journal_count(&j), 0);
    json_decref(params);
}

static void test_fault_apply_over_other_block(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    /* another run's block at the path */
    struct fl_ctl_handle *other = NULL;
    struct fl_err err = {{0}};
    assert_int_equal(fl_ctl_create(f->block, f->set, 5, 12345, 0, &other, &err), 0);
    json_t *params = preload_params(f->block, "read:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), -EEXIST);
    assert_int_equal(access(f->block, F_OK), 0);
    assert_true(atomic_load(&other->ctl->enabled) == 0x7);
    assert_int_equal(journal_count(&j), 0);
    fl_ctl_close(other);
    json_decref(params);
}

static void test_fault_revert_spares_replaced_block(void **state)
{
    struct fixture *f = *state;
    struct fl_journal j;
    open_journal(f, &j);
    json_t *params = preload_params(f->block, "read:errno=EIO");
    struct fl_applied a = {.entry = NULL};
    struct fl_err err = {{0}};
    assert_int_equal(fl_fault_apply(&j, "preload", params, 0, &a, &err), 0);
    json_decref(params);
    /* our block goes away (someone cleaned up) and another run puts its own there */
    assert_int_equal(unlink(f->block), 0);
    struct fl_ctl_handle *other = NULL;
    assert_int_equal(fl_ctl_create(f->block, f->set, 5, 12345, 0, &other, &err), 0);
    /* our revert finishes our entry and leaves their block alone, rules on */
    assert_int_equal(fl_fault_revert(&j, &a, &err), 0);
    assert_int_equal(journal_count(&j), 0);
    assert_int_equal(access(f->block, F_OK), 0);
    assert_true(atomic_load(&other->ctl->enabled) == 0x7);
    fl_ctl_close(other);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_layout),
        T(test_create_observing),
        T(test_open_find_switch_stats),
        T(test_full_set),
        T(test_create_refuses_existing),
        T(test_create_errors),
        T(test_open_refuses),
        T(test_default_path),
        cmocka_unit_test(test_fault_registry),
        T(test_fault_apply_revert),
        T(test_fault_observe_surface),
        T(test_fault_recover_entry),
        T(test_fault_revert_entry_bad),
        T(test_fault_apply_bad_rule),
        T(test_fault_apply_over_user_file),
        T(test_fault_apply_over_other_block),
        T(test_fault_revert_spares_replaced_block),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
