/* SPDX-License-Identifier: MIT */
/*
 * test-rutil.c - the helpers the report formats share for what text from a document may do:
 * Markdown code spans and fences that nothing inside can end, and shell words that a shell
 * reads back as they were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rutil.h"

/* What fn wrote for s, in a buffer the caller frees. */
static char *written(void (*fn)(FILE *, const char *), const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    fn(out, s);
    assert_int_equal(fclose(out), 0);
    return buf;
}

static void md_fence_sh(FILE *out, const char *s) { fl_md_fence(out, "sh", s); }

static void expect(void (*fn)(FILE *, const char *), const char *s, const char *want)
{
    char *got = written(fn, s);
    assert_string_equal(got, want);
    free(got);
}

static void test_md_code_spans_hold_any_backticks(void **state)
{
    (void)state;
    expect(fl_md_code, "plain", "`plain`");
    expect(fl_md_code, "a`b", "``a`b``");
    expect(fl_md_code, "a``b`c", "```a``b`c```");
    /* a backtick at an end would join the delimiter: padded with a space CommonMark strips */
    expect(fl_md_code, "`x", "`` `x ``");
    expect(fl_md_code, "x`", "`` x` ``");
    expect(fl_md_code, "two\nlines", "`two lines`");
    expect(fl_md_code, "", "` `");
    expect(fl_md_code, NULL, "` `");
}

static void test_md_fence_outlasts_the_longest_run(void **state)
{
    (void)state;
    expect(md_fence_sh, "echo 'a'", "```sh\necho 'a'\n```\n");
    expect(md_fence_sh, "x ``` y", "````sh\nx ``` y\n````\n");
    expect(md_fence_sh, "`````", "``````sh\n`````\n``````\n");
}

static const char *quoted(const char *word, char *buf, size_t len, size_t *n)
{
    *n = 0;
    buf[0] = '\0';
    fl_shell_quote_into(buf, len, n, word);
    return buf;
}

static void test_shell_words_read_back_as_they_were(void **state)
{
    (void)state;
    char buf[64];
    size_t n;
    assert_string_equal(quoted("./counter", buf, sizeof(buf), &n), "./counter");
    assert_string_equal(quoted("a b", buf, sizeof(buf), &n), "'a b'");
    assert_string_equal(quoted("it's", buf, sizeof(buf), &n), "'it'\\''s'");
    assert_string_equal(quoted("", buf, sizeof(buf), &n), "''");
    assert_string_equal(quoted("$HOME;`x`", buf, sizeof(buf), &n), "'$HOME;`x`'");
    /* too long for the buffer: cut, terminated, and n says how much was wanted */
    char small[5];
    quoted("abcdefgh", small, sizeof(small), &n);
    assert_string_equal(small, "abcd");
    assert_int_equal(n, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_code_spans_hold_any_backticks),
        cmocka_unit_test(test_md_fence_outlasts_the_longest_run),
        cmocka_unit_test(test_shell_words_read_back_as_they_were),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
