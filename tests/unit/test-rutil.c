/* SPDX-License-Identifier: MIT */
/*
 * test-rutil.c - the helpers the report formats share for what text from a document may do:
 * Markdown code spans and fences that nothing inside can end, shell words that a shell reads
 * back as they were, and the lines every format shows of a sweep's findings, cut on a UTF-8
 * boundary when a field is too long for them, in the sweep's order of outcome classes.
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

static json_t *doc_of(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc)
        fail_msg("bad test document: %s", jerr.text);
    return doc;
}

static void test_summary_orders_classes_as_the_sweep_does(void **state)
{
    (void)state;
    json_t *doc = doc_of(
        "{\"tool\": \"faultline sweep\", \"command\": [\"./prog\", \"a b\"], \"seed\": -1,"
        " \"complete\": false, \"interrupted\": true, \"trials\": 7, \"planned\": 20,"
        " \"elapsed_s\": 1.5, \"points\": [{}, {}],"
        " \"outcomes\": {\"ok\": 3, \"handled\": 0, \"check-failed-silent\": 2, \"crash\": 2},"
        " \"findings\": [{\"kind\": \"crash\"}, {\"kind\": \"check-failed-silent\"},"
        "                {\"kind\": \"crash\"}, {\"kind\": \"from-a-newer-sweep\"}],"
        " \"flaky\": [{}]}");
    struct fl_sweep_summary s;
    fl_sweep_summary(doc, &s);
    assert_string_equal(s.command, "./prog 'a b'");
    assert_string_equal(s.took, "1.50 s");
    assert_string_equal(s.partial, " (interrupted: partial, 7 of 20 planned trials)");
    assert_true(s.seed == 18446744073709551615ULL); /* a u64 seed past INT64_MAX, as stored */
    assert_int_equal(s.findings, 4);
    assert_int_equal(s.flaky, 1);
    assert_int_equal(s.points, 2);
    /* classes with findings: the document's order of "outcomes", then the unknown one */
    assert_int_equal(s.nkinds, 3);
    assert_string_equal(s.kinds[0].kind, "check-failed-silent");
    assert_int_equal(s.kinds[0].findings, 1);
    assert_string_equal(s.kinds[1].kind, "crash");
    assert_int_equal(s.kinds[1].findings, 2);
    assert_string_equal(s.kinds[2].kind, "from-a-newer-sweep");
    /* classes some trial had (handled had none) */
    assert_int_equal(s.noutcomes, 4);
    assert_string_equal(s.outcomes[0].kind, "ok");
    assert_int_equal(s.outcomes[0].trials, 3);
    assert_string_equal(s.outcomes[1].kind, "check-failed-silent");
    json_decref(doc);

    doc = doc_of("{\"tool\": \"faultline sweep\", \"planned\": 0, \"complete\": true}");
    fl_sweep_summary(doc, &s);
    assert_string_equal(s.partial, "");
    assert_int_equal(s.noutcomes, 0);
    assert_non_null(strstr(s.no_trial, "made no call"));
    json_decref(doc);
}

/* Every byte sequence in s is whole UTF-8. */
static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 0;
        if (!n)
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

static void test_finding_lines(void **state)
{
    (void)state;
    json_t *f = doc_of(
        "{\"id\": \"F2\", \"kind\": \"crash\", \"call\": \"write\", \"subject\": \"state.json\","
        " \"site\": \"prog+0x11d5\", \"site_hash\": \"1a2b3c4d\", \"effect\": \"errno=EIO\","
        " \"occurrence\": \"the 1st of 3 calls\", \"faults\": 1, \"exit\": 139,"
        " \"signal\": \"SEGV\", \"check_output\": \"state.json is empty\\nmore\","
        " \"replay_kind\": \"handled\"}");
    struct fl_sweep_finding l;
    fl_sweep_finding(f, false, 1, &l);
    assert_string_equal(l.name, "F2");
    assert_string_equal(l.title, "write on state.json at prog+0x11d5, errno=EIO (the 1st of 3 "
                                 "calls)");
    assert_string_equal(l.text[FL_SWEEP_FAULT], "write: errno=EIO, the 1st of 3 calls "
                                                "(injected 1 time)");
    assert_string_equal(l.text[FL_SWEEP_WHERE], "state.json at prog+0x11d5 (site 1a2b3c4d)");
    assert_string_equal(l.text[FL_SWEEP_CHECK], "state.json is empty");
    assert_string_equal(l.text[FL_SWEEP_EXIT], "139, killed by SIGSEGV");
    assert_string_equal(l.label[FL_SWEEP_REPLAY], "replay");
    assert_non_null(strstr(l.text[FL_SWEEP_REPLAY], "reproduced"));
    fl_sweep_finding(f, true, 1, &l);
    assert_string_equal(l.name, "flaky 2");
    assert_non_null(strstr(l.text[FL_SWEEP_REPLAY], "flaky: the replay gave handled"));
    json_decref(f);

    /* a subject longer than a line: cut before a whole character, "..." at the end */
    char subject[2000] = "";
    for (size_t i = 0; i < 600; i++)
        strcat(subject, "\xc3\xa9"); /* é */
    f = json_pack("{s:s, s:s, s:s}", "call", "open", "subject", subject, "site", "p+0x1");
    fl_sweep_finding(f, false, 0, &l);
    for (const char *t = l.title; t; t = t == l.title ? l.text[FL_SWEEP_WHERE] : NULL) {
        size_t n = strlen(t);
        assert_true(n > 400 && n < sizeof(l.title));
        assert_string_equal(t + n - 3, "...");
        assert_true(valid_utf8(t));
    }
    /* no subject: the title says "-", the where line only the site */
    json_object_set_new(f, "subject", json_string(""));
    fl_sweep_finding(f, false, 0, &l);
    assert_non_null(strstr(l.title, "open on - at p+0x1"));
    assert_string_equal(l.text[FL_SWEEP_WHERE], "p+0x1 (site ?)");
    assert_string_equal(l.text[FL_SWEEP_CHECK], ""); /* left out by every format */
    json_decref(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_code_spans_hold_any_backticks),
        cmocka_unit_test(test_md_fence_outlasts_the_longest_run),
        cmocka_unit_test(test_shell_words_read_back_as_they_were),
        cmocka_unit_test(test_summary_orders_classes_as_the_sweep_does),
        cmocka_unit_test(test_finding_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
