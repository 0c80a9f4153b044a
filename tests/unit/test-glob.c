/* SPDX-License-Identifier: MIT */
/*
 * test-glob.c - the allocation-free matcher behind path= and host= selectors.
 *
 * glob.h replaces fnmatch(3) inside the preload, so its semantics are faultline's own and
 * documented in `faultline help rules`: '*' crosses '/', a pattern without '/' matches the
 * last path component, classes, ranges, negation and '\' quoting work, and a '[' with no
 * closing ']' is a literal. A rule that matches the wrong files injects faults where the user
 * did not ask, so each of those promises is checked here, with inputs that must not match too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "glob.h"

#define MATCH(p, s) assert_true(fl_glob_match((p), (s)))
#define NO_MATCH(p, s) assert_false(fl_glob_match((p), (s)))

static void test_literal(void **state)
{
    (void)state;
    MATCH("abc", "abc");
    NO_MATCH("abc", "abd");
    NO_MATCH("abc", "ab");
    NO_MATCH("abc", "abcd");
    MATCH("", "");
    NO_MATCH("", "a");
    NO_MATCH("a", "");
}

static void test_star(void **state)
{
    (void)state;
    MATCH("*", "");
    MATCH("*", "anything");
    MATCH("*.db", "x.db");
    MATCH("*.db", ".db");
    NO_MATCH("*.db", "x.db-wal");
    MATCH("*.db*", "x.db-wal");
    MATCH("a*b", "ab");
    MATCH("a*b", "axxxb");
    NO_MATCH("a*b", "axxxbc");
    MATCH("a*b*c", "aXbYbZc");
    MATCH("*a*b", "xaxb");
    NO_MATCH("*a*b", "xbxa");
    MATCH("**", "abc");
    MATCH("a**", "a");
    MATCH("*x*", "xxxx");
    /* backtracking over a near miss */
    MATCH("*abc", "ababc");
    MATCH("*aab", "aaaab");
}

static void test_star_crosses_slash(void **state)
{
    (void)state;
    MATCH("*", "/var/lib/app/x.db");
    MATCH("/data/*", "/data/a/b/c");
    MATCH("*/state.json", "/srv/app/v1/state.json");
    NO_MATCH("*/state.json", "/srv/app/state.json.tmp");
    MATCH("/srv/*.json", "/srv/a/b.json");
    NO_MATCH("/srv/*.json", "/srv2/b.json");
}

static void test_question(void **state)
{
    (void)state;
    MATCH("?", "a");
    NO_MATCH("?", "");
    NO_MATCH("?", "ab");
    MATCH("a?c", "abc");
    MATCH("a?c", "a/c"); /* '?' is any one character, '/' included */
    MATCH("???", "xyz");
    NO_MATCH("???", "xy");
    MATCH("*?", "a");
    NO_MATCH("*?", "");
}

static void test_classes(void **state)
{
    (void)state;
    MATCH("[abc]", "a");
    MATCH("[abc]", "c");
    NO_MATCH("[abc]", "d");
    NO_MATCH("[abc]", "");
    NO_MATCH("[abc]", "ab");
    MATCH("x[0-9].log", "x7.log");
    NO_MATCH("x[0-9].log", "xa.log");
    MATCH("[a-cx-z]", "b");
    MATCH("[a-cx-z]", "y");
    NO_MATCH("[a-cx-z]", "m");
    /* bounds of a range are inclusive */
    MATCH("[b-d]", "b");
    MATCH("[b-d]", "d");
    NO_MATCH("[b-d]", "a");
    NO_MATCH("[b-d]", "e");
    /* '-' first or last is literal */
    MATCH("[-a]", "-");
    MATCH("[a-]", "-");
    NO_MATCH("[a-]", "b");
    /* ']' first in the class is literal */
    MATCH("[]a]", "]");
    MATCH("[]a]", "a");
    NO_MATCH("[]a]", "b");
    MATCH("*[0-9]", "file3");
    NO_MATCH("*[0-9]", "file");
}

static void test_negation(void **state)
{
    (void)state;
    MATCH("[!a]", "b");
    NO_MATCH("[!a]", "a");
    MATCH("[^a]", "b");
    NO_MATCH("[^a]", "a");
    MATCH("[!0-9]x", "ax");
    NO_MATCH("[!0-9]x", "5x");
    MATCH("[!]]", "a");
    NO_MATCH("[!]]", "]");
    NO_MATCH("[!a]", "");
    MATCH("*.[!t]*", "a.json");
    NO_MATCH("*.[!t]*", "a.tmp");
}

static void test_escapes(void **state)
{
    (void)state;
    MATCH("a\\*b", "a*b");
    NO_MATCH("a\\*b", "axb");
    MATCH("a\\?b", "a?b");
    NO_MATCH("a\\?b", "axb");
    MATCH("\\[x]", "[x]");
    NO_MATCH("\\[x]", "x");
    MATCH("a\\\\b", "a\\b");
    MATCH("\\a", "a");
    /* a trailing backslash quotes nothing and stands for itself */
    MATCH("a\\", "a\\");
    NO_MATCH("a\\", "a");
    MATCH("*\\*", "stars*");
    NO_MATCH("*\\*", "stars");
}

static void test_unterminated_class(void **state)
{
    (void)state;
    /* '[' without ']' is a literal character */
    MATCH("[abc", "[abc");
    NO_MATCH("[abc", "a");
    MATCH("a[", "a[");
    NO_MATCH("a[", "a");
    MATCH("*[", "x[");
    MATCH("[!", "[!");
    MATCH("[", "[");
    NO_MATCH("[", "");
}

static void test_match_path(void **state)
{
    (void)state;
    /* without '/', the last component */
    assert_true(fl_glob_match_path("*.db", false, "/var/lib/app/x.db"));
    assert_true(fl_glob_match_path("x.db", false, "/var/lib/app/x.db"));
    assert_false(fl_glob_match_path("app", false, "/var/lib/app/x.db"));
    assert_false(fl_glob_match_path("lib*", false, "/var/lib/app/x.db"));
    assert_true(fl_glob_match_path("x.db", false, "x.db"));
    assert_true(fl_glob_match_path("*.db", false, "relative/dir/y.db"));
    /* "*" in a basename pattern cannot see the directories */
    assert_false(fl_glob_match_path("*app*", false, "/var/lib/app/x.db"));
    /* with '/', the whole path, and '*' crosses directories */
    assert_true(fl_glob_match_path("*/state.json", true, "/srv/app/state.json"));
    assert_false(fl_glob_match_path("*/state.json", true, "state.json"));
    assert_true(fl_glob_match_path("/data/*", true, "/data/x/y/z"));
    assert_false(fl_glob_match_path("/data/*", true, "/database/x"));
    assert_false(fl_glob_match_path("x.db", true, "/var/lib/app/x.db"));
    /* a trailing '/' does not make the last component empty */
    assert_true(fl_glob_match_path("dir*", false, "/a/dir/"));
}

static void test_long_inputs(void **state)
{
    (void)state;
    /* many stars against a long miss must still terminate quickly and correctly */
    char s[4097];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    assert_false(fl_glob_match("*a*a*a*a*a*a*a*a*b", s));
    assert_true(fl_glob_match("*a*a*a*a*a*a*a*a*", s));
    s[4095] = 'b';
    assert_true(fl_glob_match("*a*a*a*a*a*a*a*a*b", s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_star),
        cmocka_unit_test(test_star_crosses_slash),
        cmocka_unit_test(test_question),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_negation),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_unterminated_class),
        cmocka_unit_test(test_match_path),
        cmocka_unit_test(test_long_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
