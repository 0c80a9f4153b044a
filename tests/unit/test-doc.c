/* SPDX-License-Identifier: MIT */
/* test-doc.c - experiment files: YAML/JSON to JSON with positions, caps, one-line errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc.h"

static int load(struct fl_doc *d, const char *text, struct fl_err *err)
{
    return fl_doc_load_string(d, "exp.yaml", text, strlen(text), err);
}

static void test_types_and_positions(void **state)
{
    struct fl_doc d;
    struct fl_err err = {""};
    assert_int_equal(load(&d,
                          "title: Disk full\n"
                          "seed: 42\n"
                          "rate: 0.5\n"
                          "on: true\n"
                          "quoted: \"17\"\n"
                          "nothing:\n"
                          "steps:\n"
                          "  - pause: 2s\n"
                          "  - fault: corrupt\n"
                          "    mode: truncate\n",
                          &err),
                     0);
    json_t *r = d.root;
    assert_string_equal(json_string_value(json_object_get(r, "title")), "Disk full");
    assert_int_equal(json_integer_value(json_object_get(r, "seed")), 42);
    assert_true(json_is_real(json_object_get(r, "rate")));
    assert_true(json_is_true(json_object_get(r, "on")));
    assert_true(json_is_string(json_object_get(r, "quoted")));
    assert_true(json_is_null(json_object_get(r, "nothing")));
    int line, col;
    fl_doc_where(&d, r, "seed", &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 1);
    json_t *step2 = json_array_get(json_object_get(r, "steps"), 1);
    fl_doc_where(&d, step2, "mode", &line, &col);
    assert_int_equal(line, 10);
    assert_int_equal(col, 5);
    fl_doc_where(&d, json_object_get(step2, "mode"), NULL, &line, &col);
    assert_int_equal(line, 10);
    assert_int_equal(col, 11);
    assert_int_equal(fl_doc_error(&d, step2, "mode", &err, "'mode' must be %s", "empty"),
                     -EINVAL);
    assert_string_equal(err.msg, "exp.yaml:10:5: 'mode' must be empty");
    /* a key that is not there: the object's own place */
    fl_doc_error(&d, step2, "missing", &err, "x");
    assert_string_equal(err.msg, "exp.yaml:9:5: x");
    fl_doc_free(&d);
}

static void test_json_input(void **state)
{
    struct fl_doc d;
    struct fl_err err = {""};
    assert_int_equal(load(&d, "{\"title\": \"t\", \"method\": [{\"pause\": \"1s\"}], \"n\": -3}",
                          &err),
                     0);
    assert_int_equal(json_integer_value(json_object_get(d.root, "n")), -3);
    assert_int_equal(json_array_size(json_object_get(d.root, "method")), 1);
    fl_doc_free(&d);
}

static void test_errors_name_the_place(void **state)
{
    struct fl_doc d;
    struct fl_err err = {""};
    assert_int_equal(load(&d, "a: 1\nb: [1, 2\n", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "exp.yaml:"));
    assert_int_equal(load(&d, "a: 1\nb: 2\na: 3\n", &err), -EINVAL);
    assert_string_equal(err.msg, "exp.yaml:3:1: duplicate key 'a' (first at line 1)");
    assert_int_equal(load(&d, "", &err), -EINVAL);
    assert_string_equal(err.msg, "exp.yaml:1:1: the file is empty");
    assert_int_equal(load(&d, "a: 1\n---\nb: 2\n", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "one document per file"));
    assert_int_equal(load(&d, "a: *nope\n", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown alias"));
    assert_int_equal(load(&d, "? [a, b]\n: 1\n", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "a key must be a plain string"));
}

static void test_aliases_and_caps(void **state)
{
    struct fl_doc d;
    struct fl_err err = {""};
    assert_int_equal(load(&d, "base: &b {x: 1}\ncopy: *b\n", &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d.root, "copy"), "x")),
                     1);
    fl_doc_free(&d);
    /* a billion laughs stops at the node cap instead of eating memory */
    char text[4096] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'j'; c++) {
        char line[128];
        snprintf(line, sizeof(line), "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                 c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
        strcat(text, line);
    }
    assert_int_equal(load(&d, text, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nodes"));
    /* nesting deeper than the cap */
    char deep[512] = "";
    for (int i = 0; i < 80; i++)
        strcat(deep, "[");
    assert_int_equal(load(&d, deep, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "nested deeper"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_positions),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_errors_name_the_place),
        cmocka_unit_test(test_aliases_and_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
