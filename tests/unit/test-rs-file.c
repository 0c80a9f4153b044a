/* SPDX-License-Identifier: MIT */
/* libresilience's durable files on a real directory: replace keeps the mode and the backup
 * and leaves no temporary file, whether it succeeds or fails; load falls back to the backup,
 * then to defaults, and says which; bad arguments are refused with a message naming them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <resilience/file.h>

#include "tmpdir.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    return fl_test_mkdtemp(dir, sizeof(dir), "rs-file");
}

static int teardown(void **state)
{
    (void)state;
    fl_test_rmtree(dir);
    return 0;
}

static const char *at(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(at(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *get(const char *name)
{
    static char buf[256];
    FILE *f = fopen(at(name), "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* the names in the directory, sorted, comma-separated */
static const char *names(void)
{
    static char out[1024];
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.') {
            if (out[0])
                strcat(out, ",");
            strcat(out, list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
    return out;
}

static void test_replace_and_backup(void **state)
{
    (void)state;
    struct rs_err err;
    assert_int_equal(rs_file_replace(at("s.json"), "one", 3, 0, 0, &err), 0);
    assert_int_equal(err.code, 0);
    assert_string_equal(get("s.json"), "one");
    assert_string_equal(names(), "s.json");
    struct stat st;
    assert_int_equal(stat(at("s.json"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* an existing file keeps its mode; the old content becomes the backup */
    assert_int_equal(chmod(at("s.json"), 0600), 0);
    assert_int_equal(rs_file_replace(at("s.json"), "two", 3, 0, RS_FILE_KEEP_BACKUP, &err), 0);
    assert_string_equal(get("s.json"), "two");
    assert_string_equal(get("s.json.bak"), "one");
    assert_int_equal(stat(at("s.json"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(rs_file_replace(at("s.json"), "three", 5, 0, RS_FILE_KEEP_BACKUP, &err), 0);
    assert_string_equal(get("s.json.bak"), "two");
    assert_string_equal(names(), "s.json,s.json.bak");
    /* empty content is content */
    assert_int_equal(rs_file_replace(at("s.json"), NULL, 0, 0, 0, &err), 0);
    assert_string_equal(get("s.json"), "");
}

static void test_a_failed_replace_changes_nothing(void **state)
{
    (void)state;
    struct rs_err err;
    /* the name is a directory: the rename fails after the temp file was written */
    assert_int_equal(mkdir(at("d"), 0755), 0);
    assert_true(rs_file_replace(at("d"), "x", 1, 0, 0, &err) < 0);
    assert_int_equal(err.code, -EISDIR);
    assert_non_null(strstr(err.msg, "cannot rename the new content into place"));
    assert_string_equal(names(), "d"); /* no temporary file left */
    /* a directory that does not exist is named */
    assert_int_equal(rs_file_replace(at("nodir/s"), "x", 1, 0, 0, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "nodir: cannot open the directory"));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct rs_err err;
    struct {
        const char *path;
        const void *data;
        size_t len;
        mode_t mode;
        unsigned flags;
        const char *words;
    } cases[] = {
        {NULL, "x", 1, 0, 0, "path: empty"},
        {"", "x", 1, 0, 0, "path: empty"},
        {"/tmp/", "x", 1, 0, 0, "names no file"},
        {"a/..", "x", 1, 0, 0, "names no file"},
        {"s", NULL, 4, 0, 0, "data: NULL"},
        {"s", "x", 1, 0100000, 0, "mode:"},
        {"s", "x", 1, 0, 0x80, "flags:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        assert_int_equal(rs_file_replace(cases[i].path, cases[i].data, cases[i].len,
                                         cases[i].mode, cases[i].flags, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        if (!strstr(err.msg, cases[i].words))
            fail_msg("case %zu: %s", i, err.msg);
    }
    /* no error struct: still refused, nothing written */
    assert_int_equal(rs_file_replace(NULL, "x", 1, 0, 0, NULL), -EINVAL);
    size_t len;
    enum rs_load_source src;
    char buf[8];
    assert_int_equal(rs_file_load(at("s"), NULL, NULL, buf, sizeof(buf), NULL, &src, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "len"));
    assert_int_equal(rs_file_load(at("s"), NULL, NULL, NULL, 8, &len, &src, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "buf"));
}

static bool is_count(const void *data, size_t len, void *ctx)
{
    (void)ctx;
    return len > 0 && !memcmp(data, "count=", len < 6 ? len : 6) && len > 6;
}

static void test_load_falls_back_and_says_so(void **state)
{
    (void)state;
    char buf[32];
    size_t len = 99;
    enum rs_load_source src;
    struct rs_err why;
    /* neither file: defaults */
    assert_int_equal(rs_file_load(at("s"), is_count, NULL, buf, sizeof(buf), &len, &src, &why), 0);
    assert_int_equal(src, RS_LOAD_DEFAULTS);
    assert_int_equal(len, 0);
    assert_int_equal(why.code, -ENOENT);
    assert_non_null(strstr(why.msg, "starting from defaults"));
    assert_string_equal(rs_load_source_name(src), "defaults");
    /* a good primary */
    put("s", "count=3");
    assert_int_equal(rs_file_load(at("s"), is_count, NULL, buf, sizeof(buf), &len, &src, &why), 0);
    assert_int_equal(src, RS_LOAD_PRIMARY);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "count=3", 7);
    assert_int_equal(why.code, 0);
    /* a torn primary, a good backup */
    put("s", "cou");
    put("s.bak", "count=2");
    assert_int_equal(rs_file_load(at("s"), is_count, NULL, buf, sizeof(buf), &len, &src, &why), 0);
    assert_int_equal(src, RS_LOAD_BACKUP);
    assert_memory_equal(buf, "count=2", 7);
    assert_int_equal(why.code, -EBADMSG);
    assert_non_null(strstr(why.msg, "rejected by the validator"));
    assert_non_null(strstr(why.msg, "restored from s.bak"));
    /* a primary too large for the buffer is not cut and trusted */
    put("s", "count=1234567890123456789012345678901234567890");
    assert_int_equal(rs_file_load(at("s"), is_count, NULL, buf, sizeof(buf), &len, &src, &why), 0);
    assert_int_equal(src, RS_LOAD_BACKUP);
    assert_int_equal(why.code, -EFBIG);
    /* both bad: defaults, and both reasons */
    put("s.bak", "");
    assert_int_equal(rs_file_load(at("s"), is_count, NULL, buf, sizeof(buf), &len, &src, &why), 0);
    assert_int_equal(src, RS_LOAD_DEFAULTS);
    assert_non_null(strstr(why.msg, "larger than"));
    assert_non_null(strstr(why.msg, "s.bak: rejected"));
    /* no validator: any content */
    assert_int_equal(rs_file_load(at("s.bak"), NULL, NULL, buf, sizeof(buf), &len, &src, &why),
                     0);
    assert_int_equal(src, RS_LOAD_PRIMARY);
    assert_int_equal(len, 0);
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof(want), "%d.%d.%d", RS_VERSION_MAJOR, RS_VERSION_MINOR,
             RS_VERSION_PATCH);
    assert_string_equal(rs_version(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_and_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_replace_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_falls_back_and_says_so, setup, teardown),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
