/* SPDX-License-Identifier: MIT */
/*
 * test-journal.c - the write-ahead journal of applied faults, and how owners are recognised.
 *
 * `faultline recover` trusts the journal to list every fault that may still be active and to
 * say whether its owner is gone; a lost entry is a fault nobody reverts, a wrong "alive" is a
 * fault reverted under a running owner. So in a private mkdtemp() state directory these tests
 * write, list, update and remove entries and check the files themselves (one JSON object per
 * entry, no temp files left), that unparseable files still show up as "unreadable", that the
 * kernel start time tells a live owner from a reaped one, that the lock excludes, and the
 * precedence of the places a state directory can come from.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "journal.h"

struct fixture {
    char state[64];
    struct fl_journal j;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (fl_test_mkdtemp(f->state, sizeof(f->state), "journal") < 0) {
        free(f);
        return -1;
    }
    struct fl_err err = {{0}};
    if (fl_journal_open(&f->j, f->state, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fl_test_rmtree(f->state);
    free(f);
    return 0;
}

/* Whether a name in dir starts with prefix. */
static bool dir_has(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            found = true;
    closedir(d);
    return found;
}

static json_t *list(struct fixture *f)
{
    json_t *arr = NULL;
    struct fl_err err = {{0}};
    if (fl_journal_list(&f->j, &arr, &err) != 0)
        fail_msg("list: %s", err.msg);
    assert_true(json_is_array(arr));
    return arr;
}

static void test_open_creates_dir(void **state)
{
    struct fixture *f = *state;
    char want[128];
    snprintf(want, sizeof(want), "%s/journal", f->state);
    assert_string_equal(f->j.dir, want);
    struct stat st;
    assert_int_equal(stat(f->j.dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);

    /* nested state directories are created on the way */
    char nested[160];
    snprintf(nested, sizeof(nested), "%s/a/b/c", f->state);
    struct fl_journal j2;
    struct fl_err err = {{0}};
    assert_int_equal(fl_journal_open(&j2, nested, &err), 0);
    assert_int_equal(stat(j2.dir, &st), 0);
    /* opening again is fine */
    assert_int_equal(fl_journal_open(&j2, nested, &err), 0);

    /* a file where the directory should be is an error, with the place in the message */
    char blocked[160];
    snprintf(blocked, sizeof(blocked), "%s/file", f->state);
    int fd = open(blocked, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_true(fl_journal_open(&j2, blocked, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot create journal directory"));
    assert_non_null(strstr(err.msg, blocked));
}

static void test_empty_list(void **state)
{
    struct fixture *f = *state;
    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
}

static void test_write_list_update_remove(void **state)
{
    struct fixture *f = *state;
    struct fl_err err = {{0}};
    json_t *e1 = json_pack("{s:s, s:{s:i}}", "kind", "preload", "params", "a", 1);
    json_t *e2 = json_pack("{s:s, s:[s]}", "kind", "other", "rules", "write:errno=EIO");
    assert_non_null(e1);
    assert_non_null(e2);
    char id1[64] = "", id2[64] = "";
    assert_int_equal(fl_journal_write(&f->j, e1, id1, sizeof(id1), &err), 0);
    assert_int_equal(fl_journal_write(&f->j, e2, id2, sizeof(id2), &err), 0);
    assert_true(id1[0] && id2[0]);
    assert_string_not_equal(id1, id2);
    /* the id is written into the entry too */
    assert_string_equal(json_string_value(json_object_get(e1, "id")), id1);
    assert_string_equal(json_string_value(json_object_get(e2, "id")), id2);

    /* one file per entry, a JSON object equal to what was written, private to the user */
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.json", f->j.dir, id1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_error_t jerr;
    json_t *disk = json_load_file(path, 0, &jerr);
    assert_non_null(disk);
    assert_true(json_is_object(disk));
    assert_true(json_equal(disk, e1));
    json_decref(disk);
    assert_false(dir_has(f->j.dir, ".tmp-"));

    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), 2);
    assert_true(json_equal(json_array_get(arr, 0), e1)); /* oldest first */
    assert_true(json_equal(json_array_get(arr, 1), e2));
    json_decref(arr);

    /* update replaces the entry in place (same id, same file) */
    json_object_set_new(e1, "state", json_string("applied"));
    assert_int_equal(fl_journal_update(&f->j, e1, &err), 0);
    arr = list(f);
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "state")),
                        "applied");
    assert_true(json_equal(json_array_get(arr, 0), e1));
    json_decref(arr);
    assert_false(dir_has(f->j.dir, ".tmp-"));

    /* an entry without an id cannot be updated */
    json_t *noid = json_pack("{s:s}", "kind", "x");
    assert_int_equal(fl_journal_update(&f->j, noid, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "without id"));
    json_decref(noid);

    assert_int_equal(fl_journal_remove(&f->j, id1, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    arr = list(f);
    assert_int_equal(json_array_size(arr), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "id")), id2);
    json_decref(arr);
    /* removing twice is not an error (recover may race an exiting owner) */
    assert_int_equal(fl_journal_remove(&f->j, id1, &err), 0);
    assert_int_equal(fl_journal_remove(&f->j, id2, &err), 0);
    arr = list(f);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    json_decref(e1);
    json_decref(e2);
}

static void test_ids_unique(void **state)
{
    struct fixture *f = *state;
    struct fl_err err = {{0}};
    enum { N = 40 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        json_t *e = json_pack("{s:s, s:i}", "kind", "preload", "n", i);
        assert_int_equal(fl_journal_write(&f->j, e, ids[i], sizeof(ids[i]), &err), 0);
        json_decref(e);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(ids[i], ids[k]);
    }
    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), N);
    /* every entry is listed once, and each came back whole */
    bool seen[N] = {false};
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        json_int_t n = json_integer_value(json_object_get(e, "n"));
        assert_in_range(n, 0, N - 1);
        assert_false(seen[n]);
        seen[n] = true;
        assert_string_equal(json_string_value(json_object_get(e, "id")), ids[n]);
    }
    json_decref(arr);
}

static void test_list_order_many(void **state)
{
    /* journal.h promises "oldest first". Ids are "SECONDS-PID-COUNTER" with a process-wide
     * counter, so write until the counter gains a digit ("...-99" then "...-100"): a sort
     * of the ids as strings would put the later entries first. */
    struct fixture *f = *state;
    struct fl_err err = {{0}};
    char id[64];
    int n = 0;
    unsigned long counter = 0, target = 0;
    for (;;) {
        json_t *e = json_pack("{s:s, s:i}", "kind", "preload", "n", n);
        assert_int_equal(fl_journal_write(&f->j, e, id, sizeof(id), &err), 0);
        json_decref(e);
        counter = strtoul(strrchr(id, '-') + 1, NULL, 10);
        if (n == 0) {
            target = 10;
            while (target <= counter + 2)
                target *= 10;
            target += 2;
        }
        n++;
        if (counter >= target)
            break;
        assert_true(n < 2000);
    }
    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), (size_t)n);
    bool in_order = true;
    for (int i = 0; i < n; i++)
        in_order &= json_integer_value(json_object_get(json_array_get(arr, (size_t)i), "n")) == i;
    json_decref(arr);
    assert_true(in_order);
}

static void write_raw(struct fixture *f, const char *name, const char *content)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", f->j.dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void test_unreadable(void **state)
{
    struct fixture *f = *state;
    struct fl_err err = {{0}};
    json_t *good = json_pack("{s:s}", "kind", "preload");
    char id[64];
    assert_int_equal(fl_journal_write(&f->j, good, id, sizeof(id), &err), 0);
    write_raw(f, "broken.json", "{\"kind\": \"preload\", ");
    write_raw(f, "array.json", "[1, 2]\n");
    write_raw(f, "empty.json", "");
    /* not entries: other names, dot files, leftovers of an interrupted write */
    write_raw(f, "notes.txt", "hello");
    write_raw(f, ".tmp-123-4-5", "{}");
    write_raw(f, ".hidden.json", "{}");
    write_raw(f, ".json", "{}");

    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), 4);
    int unreadable = 0, readable = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *eid = json_string_value(json_object_get(e, "id"));
        assert_non_null(eid);
        json_t *why = json_object_get(e, "unreadable");
        if (!why) {
            assert_string_equal(eid, id);
            assert_true(json_equal(e, good));
            readable++;
            continue;
        }
        assert_true(json_is_string(why));
        assert_true(!strcmp(eid, "broken") || !strcmp(eid, "array") || !strcmp(eid, "empty"));
        if (strcmp(eid, "array") != 0)
            assert_true(json_string_length(why) > 0); /* the parser's reason */
        unreadable++;
    }
    assert_int_equal(readable, 1);
    assert_int_equal(unreadable, 3);
    json_decref(arr);
    json_decref(good);
}

static void test_list_missing_dir(void **state)
{
    (void)state;
    struct fl_journal j;
    snprintf(j.dir, sizeof(j.dir), "/nonexistent/faultline/journal");
    json_t *arr = (json_t *)0x1;
    struct fl_err err = {{0}};
    assert_int_equal(fl_journal_list(&j, &arr, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/faultline/journal"));
}

static void test_write_fails_cleanly(void **state)
{
    (void)state;
    struct fl_journal j;
    snprintf(j.dir, sizeof(j.dir), "/nonexistent/faultline/journal");
    json_t *e = json_pack("{s:s}", "kind", "preload");
    char id[64];
    struct fl_err err = {{0}};
    assert_int_equal(fl_journal_write(&j, e, id, sizeof(id), &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/faultline/journal/.tmp-"));
    json_decref(e);
}

static void test_lock(void **state)
{
    struct fixture *f = *state;
    int fd = fl_journal_lock(&f->j);
    assert_true(fd >= 0);
    char path[4200];
    snprintf(path, sizeof(path), "%s/.lock", f->j.dir);
    /* another open file description cannot take it while we hold it */
    int other = open(path, O_RDWR);
    assert_true(other >= 0);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    close(fd);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    close(other);
    /* and the lock file is not listed as an entry */
    json_t *arr = list(f);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
}

static pid_t spawn_sleeper(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void test_starttime(void **state)
{
    (void)state;
    uint64_t self = fl_proc_starttime(getpid());
    assert_true(self != 0);
    assert_true(fl_proc_starttime(getpid()) == self); /* stable */
    pid_t child = spawn_sleeper();
    uint64_t cs = fl_proc_starttime(child);
    assert_true(cs != 0);
    assert_true(cs >= self); /* a child cannot have started before its parent */
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_true(fl_proc_starttime(child) == 0);
    assert_true(fl_proc_starttime(-1) == 0);
    /* init is always there */
    assert_true(fl_proc_starttime(1) != 0);
}

static void test_owner_alive(void **state)
{
    (void)state;
    pid_t me = getpid();
    uint64_t st = fl_proc_starttime(me);
    assert_true(fl_owner_alive(me, st));
    assert_true(fl_owner_alive(me, 0)); /* no start time recorded: the pid decides */
    /* same pid, other start time: the pid was reused by someone else */
    assert_false(fl_owner_alive(me, st + 1));
    assert_false(fl_owner_alive(0, 0));
    assert_false(fl_owner_alive(-5, 0));

    pid_t child = spawn_sleeper();
    uint64_t cst = fl_proc_starttime(child);
    assert_true(fl_owner_alive(child, cst));
    kill(child, SIGKILL);
    /* a zombie will never revert anything: gone */
    for (int i = 0; i < 200 && fl_owner_alive(child, cst); i++)
        usleep(10000);
    assert_false(fl_owner_alive(child, cst));
    assert_int_equal(waitpid(child, NULL, 0), child);
    /* reaped */
    assert_false(fl_owner_alive(child, cst));
    assert_false(fl_owner_alive(child, 0));
}

/* Environment for fl_state_dir, restored afterwards. */
static const char *const state_vars[] = {"FAULTLINE_STATE_DIR", "XDG_STATE_HOME", "HOME"};

static void test_state_dir(void **state)
{
    (void)state;
    char *saved[3];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(state_vars[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    char buf[256];
    struct fl_err err = {{0}};
    setenv("FAULTLINE_STATE_DIR", "/env/state", 1);
    setenv("XDG_STATE_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);

    assert_int_equal(fl_state_dir("/override", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/override");
    assert_int_equal(fl_state_dir("", buf, sizeof(buf), &err), 0); /* empty = not given */
    assert_string_equal(buf, "/env/state");
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/env/state");

    setenv("FAULTLINE_STATE_DIR", "", 1);
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/xdg/faultline");
    unsetenv("FAULTLINE_STATE_DIR");
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/xdg/faultline");

    /* XDG base directories must be absolute; a relative one is ignored */
    setenv("XDG_STATE_HOME", "relative/state", 1);
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/home/u/.local/state/faultline");
    unsetenv("XDG_STATE_HOME");
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/home/u/.local/state/faultline");

    unsetenv("HOME");
    assert_int_equal(fl_state_dir(NULL, buf, sizeof(buf), &err), -ENOENT);
    assert_non_null(strstr(err.msg, "FAULTLINE_STATE_DIR"));
    assert_int_equal(fl_state_dir("/still/works", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/still/works");

    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(state_vars[i], saved[i], 1);
        else
            unsetenv(state_vars[i]);
        free(saved[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_list_update_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test(test_list_missing_dir),
        cmocka_unit_test(test_write_fails_cleanly),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test(test_starttime),
        cmocka_unit_test(test_owner_alive),
        cmocka_unit_test(test_state_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
