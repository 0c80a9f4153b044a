/* SPDX-License-Identifier: MIT */
/*
 * test-rule.c - the rule language, from text to the compiled struct fl_ctl_rule.
 *
 * The preload trusts whatever the parser put in the control block, so a parser mistake is a
 * fault in the wrong place or no fault at all. These tests compile every example printed by
 * `faultline help rules` and check the fields the preload acts on (call bits, fd kinds implied
 * by families, effects and their values, nth/after/count, peer address and port), then check
 * the refusals with their exact 1-based columns, the rule set (default ids, duplicate ids, the
 * 63-rule cap, the "origin, col N" / "FILE:LINE:COL" places) and rules files with comments,
 * blank lines and indentation.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rule.h"
#include "units.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static bool has_op(const struct fl_ctl_rule *r, int op)
{
    return r->ops[op / 64] >> (op % 64) & 1;
}

static unsigned count_ops(const struct fl_ctl_rule *r)
{
    unsigned n = 0;
    for (int i = 0; i < FL_OP_COUNT; i++)
        n += has_op(r, i);
    return n;
}

static bool in_family(int op, enum fl_family f)
{
    return fl_op_table[op].fam == f || fl_op_table[op].fam2 == f;
}

/* The rule's calls are exactly the members of family f for which keep() holds. */
static void assert_ops_family(const struct fl_ctl_rule *r, enum fl_family f,
                              bool (*keep)(const struct fl_op_info *))
{
    unsigned expected = 0;
    for (int i = 0; i < FL_OP_COUNT; i++) {
        bool want = in_family(i, f) && (!keep || keep(&fl_op_table[i]));
        if (has_op(r, i) != want)
            fail_msg("rule '%s': call %s is %s", r->text, fl_op_table[i].name,
                     want ? "missing" : "unexpected");
        expected += want;
    }
    assert_true(expected > 0);
}

static bool not_a_copy(const struct fl_op_info *o)
{
    return strncmp(o->name, "copy_file_range", 15) && strncmp(o->name, "sendfile", 8) &&
           strncmp(o->name, "splice", 6);
}

static int op_index(const char *name)
{
    for (int i = 0; i < FL_OP_COUNT; i++)
        if (strcmp(fl_op_table[i].name, name) == 0)
            return i;
    fail_msg("no call '%s' in fl_op_table", name);
    return -1;
}

/* The rule's calls are exactly those named in names (separated by spaces). */
static void assert_ops_are(const struct fl_ctl_rule *r, const char *names)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", names);
    unsigned n = 0;
    for (char *save, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (!has_op(r, op_index(w)))
            fail_msg("rule '%s': call %s is missing", r->text, w);
        n++;
    }
    if (count_ops(r) != n) {
        for (int i = 0; i < FL_OP_COUNT; i++)
            if (has_op(r, i))
                print_message("  has %s\n", fl_op_table[i].name);
        fail_msg("rule '%s': %u calls, expected %u (%s)", r->text, count_ops(r), n, names);
    }
}

static void parse_ok(const char *text, struct fl_ctl_rule *r)
{
    int col = -1;
    struct fl_err err = {{0}};
    if (fl_rule_parse(text, r, &col, &err) != 0)
        fail_msg("'%s' refused at col %d: %s", text, col, err.msg);
    assert_string_equal(r->text, text);
    assert_int_equal(r->id[0], '\0'); /* ids come from the set, unless id= */
    assert_true(count_ops(r) > 0);
}

/* Refused at exactly column col, with a message that contains want. */
static void parse_bad(const char *text, int want_col, const char *want)
{
    struct fl_ctl_rule r;
    int col = -1;
    struct fl_err err = {{0}};
    int rc = fl_rule_parse(text, &r, &col, &err);
    if (rc >= 0)
        fail_msg("'%s' accepted, expected an error at col %d", text, want_col);
    if (col != want_col)
        fail_msg("'%s': error at col %d, expected col %d (%s)", text, col, want_col, err.msg);
    if (!strstr(err.msg, want))
        fail_msg("'%s': message '%s' does not contain '%s'", text, err.msg, want);
}

static bool is_short_capable(const struct fl_op_info *o) { return o->flags & FL_OPF_SHORT; }

static bool has_buffer(const struct fl_op_info *o) { return !(o->flags & FL_OPF_NOBUF); }

static bool is_short_write(const struct fl_op_info *o)
{
    return (o->flags & FL_OPF_SHORT) && o->cls == FL_CLS_WRITE;
}

#define KIND_NOT_SOCKET (FL_KIND_FILE | FL_KIND_PIPE | FL_KIND_OTHER)

/* ---- the examples of `faultline help rules` --------------------------------------------- */

static void test_example_state_json_enospc(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("write:path=*/state.json:errno=ENOSPC", &r);
    assert_ops_are(&r, "write");
    assert_int_equal(r.effects, FL_EFF_ERRNO);
    assert_int_equal(r.err, ENOSPC);
    assert_string_equal(r.path, "*/state.json");
    assert_int_equal(r.path_has_slash, 1);
    assert_int_equal(r.kinds, FL_KIND_ALL); /* a single call means any fd */
    assert_true(r.prob == UINT64_MAX);
    assert_true(r.after == 0 && r.count == 0);
    assert_int_equal(r.peer_family, 0);
    assert_int_equal(r.port, 0);
}

static void test_example_sync_nth(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("io.sync:errno=EIO:nth=3", &r);
    assert_ops_family(&r, FL_FAM_IO_SYNC, NULL);
    assert_true(has_op(&r, FL_OP_fsync) && has_op(&r, FL_OP_fdatasync) && has_op(&r, FL_OP_msync));
    assert_int_equal(r.effects, FL_EFF_ERRNO);
    assert_int_equal(r.err, EIO);
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
    /* nth=3 is "skip two, then one" */
    assert_true(r.after == 2);
    assert_true(r.count == 1);

    parse_ok("io.sync:errno=EIO:nth=3:count=2", &r);
    assert_true(r.after == 2);
    assert_true(r.count == 2);
    parse_ok("io.sync:count=2:nth=1:errno=EIO", &r);
    assert_true(r.after == 0);
    assert_true(r.count == 2);
}

static void test_example_short_share(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("io.write:path=/data/*:short=50%", &r);
    /* short narrows io.write to the calls that return a count */
    assert_ops_family(&r, FL_FAM_IO_WRITE, is_short_capable);
    assert_true(has_op(&r, FL_OP_write) && has_op(&r, FL_OP_pwrite) && has_op(&r, FL_OP_fwrite));
    assert_false(has_op(&r, FL_OP_fputs));
    assert_false(has_op(&r, FL_OP_fprintf));
    assert_false(has_op(&r, FL_OP_dprintf));
    assert_false(has_op(&r, FL_OP_read));
    assert_int_equal(r.effects, FL_EFF_SHORT);
    assert_int_equal(r.short_is_share, 1);
    assert_true(r.short_value == 500000);
    assert_string_equal(r.path, "/data/*");
    assert_int_equal(r.path_has_slash, 1);
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
    assert_int_equal(r.err, EIO);

    parse_ok("read:short=100", &r);
    assert_int_equal(r.short_is_share, 0);
    assert_true(r.short_value == 100);
}

static void test_example_torn(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("io.write:path=*.db:torn=512", &r);
    assert_ops_family(&r, FL_FAM_IO_WRITE, is_short_write);
    assert_int_equal(r.effects, FL_EFF_TORN);
    assert_true(r.torn_bytes == 512);
    assert_int_equal(r.err, EIO); /* torn reports EIO unless errno= says otherwise */
    assert_string_equal(r.path, "*.db");
    assert_int_equal(r.path_has_slash, 0);

    parse_ok("pwrite:torn=4KiB:errno=ENOSPC", &r);
    assert_ops_are(&r, "pwrite pwrite64"); /* a name covers its variants */
    assert_int_equal(r.effects, FL_EFF_TORN | FL_EFF_ERRNO);
    assert_true(r.torn_bytes == 4096);
    assert_int_equal(r.err, ENOSPC);
}

static void test_example_drop(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("io.write:path=*.json:drop", &r);
    /* every io.write call but the fd-to-fd copies, which must advance and reach EOF */
    assert_ops_family(&r, FL_FAM_IO_WRITE, not_a_copy);
    assert_int_equal(r.effects, FL_EFF_DROP);
    assert_string_equal(r.path, "*.json");
    assert_int_equal(r.path_has_slash, 0);
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
}

static void test_example_corrupt(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("io.read:path=*.conf:corrupt=3", &r);
    /* all reads but the source side of copy_file_range & co., whose data stays in the kernel */
    assert_ops_family(&r, FL_FAM_IO_READ, has_buffer);
    assert_false(has_op(&r, FL_OP_copy_file_range__in));
    assert_true(has_op(&r, FL_OP_read) && has_op(&r, FL_OP_fgets) && has_op(&r, FL_OP_getline));
    assert_int_equal(r.effects, FL_EFF_CORRUPT);
    assert_int_equal(r.corrupt_bits, 3);
    assert_string_equal(r.path, "*.conf");
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
}

static void test_example_connect_port(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("net.connect:port=502:errno=ECONNREFUSED", &r);
    assert_ops_are(&r, "connect");
    assert_int_equal(r.port, 502);
    assert_int_equal(r.peer_family, 0);
    assert_int_equal(r.err, ECONNREFUSED);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
}

static void test_example_recv_peer_delay(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("net.recv:peer=127.0.0.1:6379:delay=2s", &r);
    /* net.recv also covers read() on a socket */
    assert_ops_family(&r, FL_FAM_NET_RECV, NULL);
    assert_true(has_op(&r, FL_OP_read) && has_op(&r, FL_OP_readv) && has_op(&r, FL_OP_recv));
    assert_false(has_op(&r, FL_OP_pread));
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    assert_int_equal(r.effects, FL_EFF_DELAY);
    assert_true(r.delay_ns == 2 * FL_NS_PER_SEC);
    assert_int_equal(r.peer_family, AF_INET);
    assert_int_equal(r.peer_port, 6379);
    static const uint8_t lo[4] = {127, 0, 0, 1};
    assert_memory_equal(r.peer_addr, lo, 4);
    assert_int_equal(r.port, 0);

    /* without a port: any port */
    parse_ok("net.recv:peer=10.1.2.3:delay=1ms", &r);
    assert_int_equal(r.peer_family, AF_INET);
    assert_int_equal(r.peer_port, 0);
    static const uint8_t ten[4] = {10, 1, 2, 3};
    assert_memory_equal(r.peer_addr, ten, 4);
}

static void test_example_send_prob(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("net.send:errno=ECONNRESET:prob=0.3", &r);
    assert_ops_family(&r, FL_FAM_NET_SEND, NULL);
    assert_true(has_op(&r, FL_OP_write) && has_op(&r, FL_OP_writev) && has_op(&r, FL_OP_sendmsg));
    assert_int_equal(r.err, ECONNRESET);
    assert_true(r.prob == (uint64_t)(0.3 * 18446744073709551616.0));
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
}

static void test_example_recv_hang(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("net.recv:hang", &r);
    assert_ops_family(&r, FL_FAM_NET_RECV, NULL);
    assert_int_equal(r.effects, FL_EFF_HANG);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
}

static void test_example_dns(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("dns:eai=EAI_AGAIN", &r);
    assert_ops_family(&r, FL_FAM_DNS, NULL);
    assert_true(has_op(&r, FL_OP_getaddrinfo) && has_op(&r, FL_OP_gethostbyname));
    assert_int_equal(r.effects, FL_EFF_EAI);
    assert_int_equal(r.eai, EAI_AGAIN);
    assert_int_equal(r.kinds, FL_KIND_ALL);
    /* the EAI_ prefix is optional */
    parse_ok("dns:host=*.example.com:eai=NONAME", &r);
    assert_int_equal(r.eai, EAI_NONAME);
    assert_string_equal(r.host, "*.example.com");
}

static void test_example_mem(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("mem:errno=ENOMEM:after=1000:count=1", &r);
    assert_ops_family(&r, FL_FAM_MEM, NULL);
    assert_true(has_op(&r, FL_OP_malloc) && has_op(&r, FL_OP_calloc));
    assert_int_equal(r.err, ENOMEM);
    assert_true(r.after == 1000);
    assert_true(r.count == 1);
    assert_int_equal(r.kinds, FL_KIND_ALL);
}

static void test_example_time(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("time:offset=+3600s", &r);
    assert_ops_family(&r, FL_FAM_TIME, NULL);
    assert_int_equal(r.effects, FL_EFF_OFFSET);
    assert_true(r.offset_ns == 3600 * FL_NS_PER_SEC);
    parse_ok("time:offset=-90s", &r);
    assert_true(r.offset_ns == -90 * FL_NS_PER_SEC);
}

/* ---- more accepted forms ---------------------------------------------------------------- */

static void test_peer_ipv6(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    static const uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    parse_ok("net.recv:peer=[::1]:errno=ECONNRESET", &r);
    assert_int_equal(r.peer_family, AF_INET6);
    assert_memory_equal(r.peer_addr, loopback6, 16);
    assert_int_equal(r.peer_port, 0);
    assert_int_equal(r.err, ECONNRESET);

    parse_ok("net.connect:peer=[2001:db8::7]:errno=ETIMEDOUT", &r);
    assert_int_equal(r.peer_family, AF_INET6);
    uint8_t want[16];
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", want), 1);
    assert_memory_equal(r.peer_addr, want, 16);

    parse_bad("net.recv:peer=[::1]6379:errno=EIO", 15, "expected ':PORT' after ']'");
    parse_bad("net.recv:peer=[::1:errno=EIO", 15, "IPv6 address in brackets");
    parse_bad("net.recv:peer=[localhost]:errno=EIO", 15, "not an IP address");
}

static void test_peer_ipv6_with_port(void **state)
{
    (void)state;
    /* `faultline help rules` documents peer=[::1]:6379. */
    struct fl_ctl_rule r;
    int col = 0;
    struct fl_err err = {{0}};
    int rc = fl_rule_parse("net.recv:peer=[::1]:6379:errno=EIO", &r, &col, &err);
    if (rc < 0)
        fail_msg("refused at col %d: %s", col, err.msg);
    static const uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(r.peer_family, AF_INET6);
    assert_memory_equal(r.peer_addr, loopback6, 16);
    assert_int_equal(r.peer_port, 6379);
}

static void test_peer_refused(void **state)
{
    (void)state;
    parse_bad("net.recv:peer=localhost:errno=EIO", 15, "'localhost' is not an IP address");
    parse_bad("net.recv:peer=127.0.0.1:0:errno=EIO", 15, "'0' is not a port");
    parse_bad("net.recv:peer=127.0.0.1:70000:errno=EIO", 15, "'70000' is not a port");
    parse_bad("net.recv:peer=300.0.0.1:errno=EIO", 15, "not an IP address");
    /* an unbracketed IPv6 address is cut at its first ':' */
    parse_bad("net.recv:peer=::1:errno=EIO", 10, "IPv6 addresses go in brackets");
    parse_bad("net.connect:port=0:errno=EIO", 18, "not a port");
    parse_bad("net.connect:port=65536:errno=EIO", 18, "not a port");
    parse_bad("net.connect:port=http:errno=EIO", 18, "not a port");
}

static void test_kinds_implied(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("write:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_ALL);
    parse_ok("io.write:errno=EIO", &r);
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
    parse_ok("io:errno=EIO", &r);
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
    assert_true(has_op(&r, FL_OP_open) && has_op(&r, FL_OP_read) && has_op(&r, FL_OP_fsync) &&
                has_op(&r, FL_OP_rename));
    assert_false(has_op(&r, FL_OP_connect));
    assert_false(has_op(&r, FL_OP_recv));
    parse_ok("net:errno=ECONNRESET", &r);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    assert_true(has_op(&r, FL_OP_connect) && has_op(&r, FL_OP_accept) && has_op(&r, FL_OP_send) &&
                has_op(&r, FL_OP_recv) && has_op(&r, FL_OP_read) && has_op(&r, FL_OP_write));
    assert_false(has_op(&r, FL_OP_fsync));
    parse_ok("net.send:errno=EPIPE", &r);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    /* families together: the union of what each implies */
    parse_ok("io.sync,net.send:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_ALL);
    parse_ok("fsync,io.sync:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_ALL);
    /* an explicit kind= wins */
    parse_ok("write:kind=file,pipe:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_FILE | FL_KIND_PIPE);
    parse_ok("io.write:kind=socket:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    parse_ok("read:kind=any:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_ALL);
    parse_ok("read:kind=other|pipe:errno=EIO", &r);
    assert_int_equal(r.kinds, FL_KIND_OTHER | FL_KIND_PIPE);
    /* kind=socket drops the calls that only name files */
    parse_ok("io:kind=socket:errno=EIO", &r);
    assert_false(has_op(&r, FL_OP_open));
    assert_false(has_op(&r, FL_OP_rename));
    assert_true(has_op(&r, FL_OP_write));
    assert_true(has_op(&r, FL_OP_close));
}

static void same_ops(const struct fl_ctl_rule *a, const struct fl_ctl_rule *b)
{
    assert_memory_equal(a->ops, b->ops, sizeof(a->ops));
}

static void test_where_lists(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("open,fopen:errno=EACCES", &r);
    assert_ops_are(&r, "open open64 openat openat64 __open_2 __open64_2 __openat_2 __openat64_2 "
                       "fopen fopen64");
    assert_int_equal(r.err, EACCES);
    parse_ok("io.sync,io.meta:errno=EIO", &r);
    for (int i = 0; i < FL_OP_COUNT; i++)
        assert_int_equal(has_op(&r, i),
                         in_family(i, FL_FAM_IO_SYNC) || in_family(i, FL_FAM_IO_META));
}

static void test_call_variants(void **state)
{
    (void)state;
    /* a call's name covers its variants: large-file, _chk, _unlocked, _2 and __in rows */
    struct fl_ctl_rule r;
    parse_ok("open:errno=EACCES", &r);
    assert_ops_are(&r, "open open64 openat openat64 __open_2 __open64_2 __openat_2 __openat64_2");
    parse_ok("rename:errno=EXDEV", &r);
    assert_ops_are(&r, "rename renameat renameat2");
    parse_ok("unlink:errno=EBUSY", &r);
    assert_ops_are(&r, "unlink unlinkat");
    parse_ok("creat:errno=EIO", &r);
    assert_ops_are(&r, "creat creat64");
    parse_ok("openat:errno=EACCES", &r);
    assert_ops_are(&r, "open open64 openat openat64 __open_2 __open64_2 __openat_2 __openat64_2");
    parse_ok("read:errno=EIO", &r);
    assert_ops_are(&r, "read __read_chk");
    parse_ok("fread:errno=EIO", &r);
    assert_ops_are(&r, "fread fread_unlocked __fread_chk __fread_unlocked_chk");
    parse_ok("copy_file_range:delay=1ms", &r);
    assert_ops_are(&r, "copy_file_range copy_file_range__in");
    parse_ok("fsync:errno=EIO", &r);
    assert_ops_are(&r, "fsync");
    parse_ok("accept:errno=EIO", &r);
    assert_ops_are(&r, "accept"); /* accept4 is a call of its own */
    /* corrupt= cannot reach data that never enters user space */
    parse_bad("copy_file_range:corrupt=1", 17, "'corrupt' does not apply");

    /* every call can be named (except "time", which names the family), its set holds it, and
     * naming any member of that set gives the same set: variants form classes */
    for (int i = 0; i < FL_OP_COUNT; i++) {
        bool family_name = false;
        for (int f = 1; f < FL_FAM_COUNT; f++)
            family_name |= strcmp(fl_family_names[f], fl_op_table[i].name) == 0;
        if (family_name) {
            assert_int_equal(fl_op_table[i].fam, FL_FAM_TIME);
            continue;
        }
        char text[96];
        snprintf(text, sizeof(text), "%s:delay=1ms", fl_op_table[i].name);
        parse_ok(text, &r);
        assert_true(has_op(&r, i));
        for (int j = 0; j < FL_OP_COUNT; j++) {
            if (j == i || !has_op(&r, j))
                continue;
            struct fl_ctl_rule r2;
            snprintf(text, sizeof(text), "%s:delay=1ms", fl_op_table[j].name);
            parse_ok(text, &r2);
            same_ops(&r, &r2);
        }
    }
}

static void test_call_variants_v2(void **state)
{
    (void)state;
    /* ops.h: "preadv64v2 -> preadv2"; with _FILE_OFFSET_BITS=64 a program's preadv2() is
     * preadv64v2, so a rule on preadv2 must reach it */
    struct fl_ctl_rule r;
    parse_ok("preadv2:errno=EIO", &r);
    assert_ops_are(&r, "preadv2 preadv64v2");
    parse_ok("pwritev2:errno=EIO", &r);
    assert_ops_are(&r, "pwritev2 pwritev64v2");
    parse_ok("preadv64v2:errno=EIO", &r);
    assert_ops_are(&r, "preadv2 preadv64v2");
}

static void test_values(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("write:errno=28", &r);
    assert_int_equal(r.err, ENOSPC);
    parse_ok("write:delay=250ms:errno=EIO", &r);
    assert_int_equal(r.effects, FL_EFF_DELAY | FL_EFF_ERRNO);
    assert_true(r.delay_ns == 250 * INT64_C(1000000));
    parse_ok("write:delay=24h", &r);
    assert_true(r.delay_ns == 24 * 3600 * FL_NS_PER_SEC);
    parse_ok("write:hang:errno=EIO", &r);
    assert_int_equal(r.effects, FL_EFF_HANG | FL_EFF_ERRNO);
    parse_ok("write:short=10:errno=ENOSPC", &r);
    assert_int_equal(r.effects, FL_EFF_SHORT | FL_EFF_ERRNO);
    assert_int_equal(r.err, ENOSPC);
    parse_ok("write:prob=30%:errno=EIO", &r);
    assert_true(r.prob == (uint64_t)(0.3 * 18446744073709551616.0));
    parse_ok("write:prob=0:errno=EIO", &r);
    assert_true(r.prob == 0);
    parse_ok("write:errno=EIO:after=5", &r);
    assert_true(r.after == 5 && r.count == 0);
    parse_ok("read:corrupt=65536", &r);
    assert_int_equal(r.corrupt_bits, 65536);
}

static void test_ids(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    int col;
    struct fl_err err;
    assert_int_equal(fl_rule_parse("write:errno=EIO:id=slow-redis.1_x", &r, &col, &err), 0);
    assert_string_equal(r.id, "slow-redis.1_x");
    assert_int_equal(fl_rule_parse("write:errno=EIO:id=abcdefghijabcdefghijabcdefghij1", &r, &col,
                                   &err), 0);
    assert_int_equal(strlen(r.id), 31);
    parse_bad("write:errno=EIO:id=abcdefghijabcdefghijabcdefghij12", 20, "up to 31");
    parse_bad("write:errno=EIO:id=12", 20, "not only digits");
    parse_bad("write:errno=EIO:id=a b", 20, "id 'a b'");
    parse_bad("write:errno=EIO:id=x/y", 20, "id 'x/y'");
}

static void test_escapes(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    parse_ok("write:path=a\\:b:errno=EIO", &r);
    assert_string_equal(r.path, "a:b");
    assert_int_equal(r.path_has_slash, 0);
    parse_ok("write:path=/srv/c\\:\\\\d/*:errno=EIO", &r);
    assert_string_equal(r.path, "/srv/c:\\d/*");
    assert_int_equal(r.path_has_slash, 1);
    /* columns count characters as typed, escapes included */
    parse_bad("write:path=a\\:b:errno=EIOX", 23, "unknown errno 'EIOX'");
}

/* site=HEX: the hash 'inject --surface' prints as 8 hex digits; it narrows no call (every
 * call has a site), it only sets the two fields the preload compares. */
static void test_site(void **state)
{
    (void)state;
    struct fl_ctl_rule r, plain;
    parse_ok("write:path=*/state.json:site=1a2b3c4d:nth=3:errno=EIO", &r);
    assert_int_equal(r.site_set, 1);
    assert_true(r.site == 0x1a2b3c4d);
    assert_string_equal(r.path, "*/state.json");
    assert_true(r.after == 2 && r.count == 1);
    parse_ok("write:path=*/state.json:nth=3:errno=EIO", &plain);
    assert_int_equal(plain.site_set, 0);
    assert_true(plain.site == 0);
    assert_memory_equal(r.ops, plain.ops, sizeof(r.ops));
    assert_true(r.kinds == plain.kinds);
    /* upper case, a 0x prefix, fewer digits; 0 is a site like any other */
    parse_ok("malloc:site=0xDEADBEEF:errno=ENOMEM", &r);
    assert_true(r.site == 0xdeadbeef && r.site_set);
    parse_ok("io.sync:site=ff:errno=EIO", &r);
    assert_true(r.site == 0xff && r.site_set);
    parse_ok("dns:site=00000000:eai=EAI_AGAIN", &r);
    assert_true(r.site == 0 && r.site_set);
    /* with every kind of subject selector a surface point's rule uses */
    parse_ok("connect:peer=127.0.0.1:6379:site=0badf00d:errno=ECONNREFUSED", &r);
    assert_true(r.site == 0x0badf00d && r.peer_port == 6379);
    parse_ok("accept:port=8080:site=12345678:errno=EMFILE", &r);
    assert_true(r.site == 0x12345678 && r.port == 8080);
    parse_ok("write:kind=pipe:site=a:errno=EPIPE", &r);
    assert_true(r.site == 0xa && r.kinds == FL_KIND_PIPE);
    parse_ok("getaddrinfo:host=db.internal:site=cafe:eai=EAI_AGAIN", &r);
    assert_true(r.site == 0xcafe);

    parse_bad("write:site=:errno=EIO", 7, "'site' needs a value");
    parse_bad("write:site=xyz:errno=EIO", 12, "site: 'xyz' is not a call site");
    parse_bad("write:site=123456789:errno=EIO", 12, "up to 8 hex digits");
    parse_bad("write:site=0x:errno=EIO", 12, "is not a call site");
    parse_bad("write:site=-1:errno=EIO", 12, "is not a call site");
    parse_bad("write:site=12 34:errno=EIO", 12, "is not a call site");
    parse_bad("write:site=1:site=2:errno=EIO", 14, "'site' given twice");
    parse_bad("write:sit=1:errno=EIO", 7, "did you mean 'site'?");
}

static void test_long_text(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    char text[600], glob[300];
    memset(glob, 'g', 255);
    glob[255] = '\0';
    snprintf(text, sizeof(text), "write:path=%s:errno=EIO", glob);
    int col;
    struct fl_err err;
    assert_int_equal(fl_rule_parse(text, &r, &col, &err), 0);
    assert_string_equal(r.path, glob);
    /* the copy of the text is cut to fit, and stays terminated */
    assert_int_equal(strlen(r.text), FL_RULE_TEXT_MAX - 1);
    assert_memory_equal(r.text, text, FL_RULE_TEXT_MAX - 1);

    memset(glob, 'g', 256);
    glob[256] = '\0';
    snprintf(text, sizeof(text), "write:path=%s:errno=EIO", glob);
    parse_bad(text, 12, "path glob longer than 255");

    /* a part longer than 511 characters is refused at its start */
    char big[700];
    memset(big, 'x', 520);
    big[520] = '\0';
    snprintf(text, sizeof(text), "write:path=%s", big);
    parse_bad(text, 7, "longer than 511");

    char host[200];
    memset(host, 'h', 128);
    host[128] = '\0';
    snprintf(text, sizeof(text), "dns:host=%s:eai=EAI_FAIL", host);
    parse_bad(text, 10, "host glob longer than 127");
}

/* ---- refusals and their columns --------------------------------------------------------- */

static void test_unknown_where(void **state)
{
    (void)state;
    parse_bad("wirte:errno=EIO", 1, "unknown call or family 'wirte' (did you mean 'write'?");
    parse_bad("write,fsnc:errno=EIO", 7, "did you mean 'fsync'?");
    parse_bad("io.wirte:errno=EIO", 1, "did you mean 'io.write'?");
    parse_bad("nte:errno=EIO", 1, "did you mean 'net'?");
    /* too far from anything: no guess, but a pointer to the list */
    parse_bad("xyzzyplugh:errno=EIO", 1, "unknown call or family 'xyzzyplugh' (expected a call");
    parse_bad(":errno=EIO", 1, "expected a call or family before the first ':'");
    parse_bad("write,:errno=EIO", 7, "expected a call or family name after ','");
    parse_bad("", 1, "expected a call or family");
}

static void test_discovery_effects(void **state)
{
    (void)state;
    struct fl_ctl_rule r;
    char buf[128];
    /* eof: reads only, stdio included */
    parse_ok("io.read:path=*.conf:eof", &r);
    assert_int_equal(r.effects, FL_EFF_EOF);
    assert_true(has_op(&r, FL_OP_read) && has_op(&r, FL_OP_fgets) && !has_op(&r, FL_OP_write));
    parse_bad("write:eof", 7, "'eof' does not apply to 'write'");
    parse_bad("read:eof=1", 6, "'eof' takes no value");
    /* silent: receives on sockets and connect; never stdio, never files */
    parse_ok("net.recv:silent", &r);
    assert_true(has_op(&r, FL_OP_recv) && has_op(&r, FL_OP_read) && !has_op(&r, FL_OP_fread));
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    parse_ok("read:silent", &r);
    assert_int_equal(r.kinds, FL_KIND_SOCKET);
    parse_ok("net.connect:port=6379:silent", &r);
    assert_true(has_op(&r, FL_OP_connect));
    parse_bad("io.write:silent", 10, "'silent' does not apply");
    parse_bad("read:kind=file:silent", 16, "'silent' applies to sockets");
    /* signal: before by default, @after on request, by name or number */
    parse_ok("write:signal=SIGKILL", &r);
    assert_int_equal(r.signo, 9);
    assert_false(r.signal_after);
    assert_int_equal(r.effects, FL_EFF_SIGNAL);
    parse_ok("fsync:signal=TERM@after:nth=2", &r);
    assert_int_equal(r.signo, 15);
    assert_true(r.signal_after);
    fl_rule_describe_effect(&r, buf, sizeof(buf));
    assert_string_equal(buf, "SIGTERM after the call");
    parse_ok("write:signal=9:errno=EIO", &r);
    assert_int_equal(r.effects, FL_EFF_SIGNAL | FL_EFF_ERRNO);
    parse_ok("malloc:signal=SIGKILL", &r);
    parse_bad("malloc:signal=SIGKILL@after", 8, "does not apply to 'malloc'");
    parse_bad("write:signal=SIGSTOP", 14, "not SIGSTOP");
    parse_bad("write:signal=0", 14, "not a signal");
    parse_bad("write:signal=KILL@soon", 14, "'@before' or '@after'");
    /* io.lock: the lock calls, on non-socket fds, errno and waits only */
    parse_ok("io.lock:errno=EAGAIN", &r);
    assert_true(has_op(&r, FL_OP_fcntl) && has_op(&r, FL_OP_fcntl64) && has_op(&r, FL_OP_flock) &&
                has_op(&r, FL_OP_lockf) && !has_op(&r, FL_OP_write));
    assert_int_equal(r.kinds, KIND_NOT_SOCKET);
    parse_ok("io.lock:path=*.db:hang", &r);
    parse_bad("io.lock:short=1", 9, "'short' does not apply to 'io.lock'");
}

static void test_unknown_key(void **state)
{
    (void)state;
    parse_bad("write:errnum=EIO", 7, "unknown key 'errnum' (did you mean 'errno'?)");
    parse_bad("write:errno=EIO:dealy=1s", 17, "did you mean 'delay'?");
    parse_bad("write:foo=1:errno=EIO", 7, "unknown key 'foo' (expected a selector");
    parse_bad("write::errno=EIO", 7, "empty part");
    parse_bad("write:errno=EIO:", 17, "empty part");
    parse_bad("write:=EIO", 7, "empty part");
}

static void test_bad_values(void **state)
{
    (void)state;
    parse_bad("write:errno=EIOX", 13, "unknown errno 'EIOX'");
    parse_bad("write:errno=0", 13, "unknown errno '0'");
    parse_bad("write:errno=4096", 13, "unknown errno '4096'");
    parse_bad("write:errno", 7, "'errno' needs a value");
    parse_bad("write:errno=", 7, "'errno' needs a value");
    parse_bad("write:drop=1", 7, "'drop' takes no value");
    parse_bad("write:hang=", 7, "'hang' takes no value");
    parse_bad("write:delay=2:errno=EIO", 13, "has no unit");
    parse_bad("write:delay=25h", 13, "longer than 24h");
    parse_bad("write:short=150%", 13, "more than 100%");
    parse_bad("write:torn=50%", 12, "share is not allowed");
    parse_bad("write:prob=1.5:errno=EIO", 12, "not between 0 and 1");
    parse_bad("write:nth=0:errno=EIO", 11, "nth: '0' is not a call number");
    parse_bad("write:after=x:errno=EIO", 13, "'x' is not a whole number");
    parse_bad("write:kind=bogus:errno=EIO", 12, "unknown fd kind 'bogus'");
    parse_bad("read:corrupt=0", 14, "not a number of bits");
    parse_bad("read:corrupt=65537", 14, "not a number of bits");
    parse_bad("dns:eai=EAI_BOGUS", 9, "unknown eai 'EAI_BOGUS'");
    parse_bad("time:offset=1", 13, "has no unit");
}

static void test_count_zero(void **state)
{
    (void)state;
    parse_bad("write:errno=EIO:count=0", 23, "count: '0' is not a number of faults");
    parse_bad("write:errno=EIO:count=-1", 23, "count: '-1'");
}

static void test_effect_combinations(void **state)
{
    (void)state;
    parse_bad("write", 6, "no effect");
    parse_bad("write:path=*.db", 16, "no effect");
    /* two terminal effects: the column is the second one */
    parse_bad("write:errno=EIO:drop", 17, "impossible combination of effects");
    parse_bad("write:drop:errno=EIO", 7, "impossible combination of effects");
    parse_bad("write:short=10:torn=5", 16, "impossible combination of effects");
    parse_bad("read:short=10:corrupt=1", 15, "impossible combination of effects");
    /* one wait only */
    parse_bad("write:hang:delay=1s", 7, "'hang' and 'delay' together");
    parse_bad("write:delay=1s:hang", 16, "'hang' and 'delay' together");
    /* the same effect twice */
    parse_bad("write:errno=EIO:errno=ENOSPC", 17, "'errno' given twice");
    parse_bad("write:delay=1s:delay=2s", 16, "'delay' given twice");
    /* nth is after+count in one: not both */
    parse_bad("write:errno=EIO:nth=2:after=3", 23, "'nth' and 'after' together");
    parse_bad("write:after=3:nth=2:errno=EIO", 15, "'nth' and 'after' together");
}

static void test_effect_does_not_apply(void **state)
{
    (void)state;
    parse_bad("fsync:short=50%", 7, "'short' does not apply to 'fsync'");
    parse_bad("mem:path=x:errno=ENOMEM", 5, "'path' does not apply to 'mem'");
    parse_bad("write:corrupt=3", 7, "'corrupt' does not apply to 'write'");
    parse_bad("read:torn=1", 6, "'torn' does not apply to 'read'");
    parse_bad("fputs:short=1", 7, "'short' does not apply");
    parse_bad("read:drop", 6, "'drop' does not apply");
    parse_bad("dns:errno=EIO", 5, "'errno' does not apply to 'dns' (it applies to every call "
                                  "but dns (use eai=) and time)");
    parse_bad("time:errno=EIO", 6, "'errno' does not apply to 'time'");
    parse_bad("mem:hang", 5, "'hang' does not apply to 'mem'");
    parse_bad("write:eai=EAI_FAIL", 7, "'eai' does not apply");
    parse_bad("write:offset=1s", 7, "'offset' does not apply");
    parse_bad("write:host=x:errno=EIO", 7, "'host' does not apply to 'write'");
    parse_bad("open:port=80:errno=EIO", 6, "'port' does not apply to 'open'");
    parse_bad("msync:path=*.db:errno=EIO", 7, "'path' does not apply to 'msync'");
    parse_bad("connect,fsync:short=1", 15, "'short' does not apply to 'connect,fsync'");
    parse_bad("open:kind=socket:errno=EIO", 1, "'kind' excludes files");
}

static void test_too_many_parts(void **state)
{
    (void)state;
    char text[512] = "write";
    for (int i = 0; i < 40; i++)
        strcat(text, ":");
    parse_bad(text, 38, "too many parts (at most 32)");
    /* each key at most once: the second is refused where it stands */
    parse_bad("write:errno=EIO:prob=1:prob=1", 24, "'prob' given twice");
    parse_bad("write:path=a:errno=EIO:path=b", 24, "'path' given twice");
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(fl_errno_from_name("EIO"), EIO);
    assert_int_equal(fl_errno_from_name("ENOSPC"), ENOSPC);
    assert_int_equal(fl_errno_from_name("ECONNREFUSED"), ECONNREFUSED);
    assert_int_equal(fl_errno_from_name("28"), 28);
    assert_int_equal(fl_errno_from_name("4095"), 4095);
    assert_int_equal(fl_errno_from_name("0"), -1);
    assert_int_equal(fl_errno_from_name("4096"), -1);
    assert_int_equal(fl_errno_from_name("12x"), -1);
    assert_int_equal(fl_errno_from_name("eio"), -1);
    assert_int_equal(fl_errno_from_name(""), -1);
    assert_int_equal(fl_errno_from_name(NULL), -1);
    assert_string_equal(fl_errno_name(EIO), "EIO");
    assert_string_equal(fl_errno_name(ENOSPC), "ENOSPC");
    assert_string_equal(fl_errno_name(4095), "E?");
    assert_int_equal(fl_eai_from_name("EAI_AGAIN"), EAI_AGAIN);
    assert_int_equal(fl_eai_from_name("EAI_NONAME"), EAI_NONAME);
    assert_int_equal(fl_eai_from_name("AGAIN"), 0);
    assert_string_equal(fl_eai_name(EAI_FAIL), "EAI_FAIL");
    assert_string_equal(fl_eai_name(12345), "EAI_?");
}

static void test_describe_effect(void **state)
{
    (void)state;
    static const struct {
        const char *rule, *want;
    } cases[] = {
        {"write:errno=ENOSPC", "ENOSPC"},
        {"write:delay=2s:errno=EIO", "delay 2s, EIO"},
        {"write:delay=250ms", "delay 250ms"},
        {"net.recv:hang", "hang until off"},
        {"write:short=50%", "short to 50%"},
        {"write:short=64KiB", "short to 64KiB"},
        {"write:torn=512", "torn after 512B, EIO"},
        {"write:torn=512:errno=ENOSPC", "torn after 512B, ENOSPC"},
        {"write:drop", "drop (report success, do nothing)"},
        {"read:corrupt=1", "corrupt 1 bit"},
        {"read:corrupt=3", "corrupt 3 bits"},
        {"dns:eai=EAI_AGAIN", "EAI_AGAIN"},
        {"time:offset=+3600s", "clock +1h"},
        {"time:offset=-90s", "clock -90s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fl_ctl_rule r;
        parse_ok(cases[i].rule, &r);
        char buf[128];
        fl_rule_describe_effect(&r, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
    /* a small buffer is cut, not overrun */
    struct fl_ctl_rule r;
    parse_ok("write:delay=2s:errno=ENOSPC", &r);
    char small[8];
    memset(small, 'Z', sizeof(small));
    fl_rule_describe_effect(&r, small, 6);
    assert_int_equal(strlen(small), 5);
    assert_int_equal(small[6], 'Z');
}

/* ---- rule sets -------------------------------------------------------------------------- */

static void test_set_ids(void **state)
{
    (void)state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    assert_int_equal(fl_rule_set_add(set, "write:errno=EIO", "test", 0, &err), 0);
    assert_int_equal(fl_rule_set_add(set, "fsync:errno=EIO:id=sync", "test", 0, &err), 0);
    assert_int_equal(fl_rule_set_add(set, "read:errno=EIO", "test", 0, &err), 0);
    assert_int_equal(set->n, 3);
    assert_string_equal(set->rules[0].id, "1");
    assert_string_equal(set->rules[1].id, "sync");
    assert_string_equal(set->rules[2].id, "3"); /* the index, not the count of unnamed rules */
    assert_int_equal(set->rules[2].err, EIO);

    /* a duplicate id is refused and the set is unchanged */
    assert_int_equal(fl_rule_set_add(set, "fdatasync:drop:id=sync", "--rule 'x'", 0, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "--rule 'x', col 16: id 'sync' is already used by rule 2");
    assert_int_equal(set->n, 3);
    assert_int_equal(fl_rule_set_add(set, "fdatasync:drop:id=sync2", "test", 0, &err), 0);
    assert_int_equal(set->n, 4);
    assert_string_equal(set->rules[3].id, "sync2");
    free(set);
}

static void test_set_source(void **state)
{
    (void)state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    /* a rule longer than the block's text field keeps its full text in the set */
    char text[5000] = "write";
    strcat(text, ":path=");
    size_t n0 = strlen(text);
    memset(text + n0, 'a', 250);
    text[n0 + 250] = '\0';
    strcat(text, ":errno=EIO");
    assert_int_equal(fl_rule_set_add(set, text, "t", 0, &err), 0);
    assert_string_equal(set->source[0], text);
    assert_int_equal(strlen(set->rules[0].text), FL_RULE_TEXT_MAX - 1);
    free(set);
}

static void test_set_error_places(void **state)
{
    (void)state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    /* line 0: "ORIGIN, col N: msg" (what `inject -r` prints) */
    assert_int_equal(fl_rule_set_add(set, "write:errno=EIOX", "--rule 'write:errno=EIOX'", 0,
                                     &err), -EINVAL);
    assert_string_equal(err.msg, "--rule 'write:errno=EIOX', col 13: unknown errno 'EIOX' "
                                 "(expected a name like EIO or ENOSPC, or a number)");
    /* a line: "ORIGIN:LINE:COL: msg" */
    assert_int_equal(fl_rule_set_add(set, "wirte:drop", "exp.rules", 7, &err), -EINVAL);
    assert_string_equal(err.msg, "exp.rules:7:1: unknown call or family 'wirte' (did you mean "
                                 "'write'? see faultline help rules)");
    assert_int_equal(set->n, 0);
    free(set);
}

static void test_set_cap(void **state)
{
    (void)state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    assert_int_equal(FL_RULES_MAX, 63);
    for (int i = 0; i < FL_RULES_MAX; i++)
        assert_int_equal(fl_rule_set_add(set, "write:errno=EIO:prob=0.5", "cap", 0, &err), 0);
    assert_int_equal(set->n, 63);
    assert_string_equal(set->rules[62].id, "63");
    assert_int_equal(fl_rule_set_add(set, "write:errno=EIO", "cap", 0, &err), -E2BIG);
    assert_string_equal(err.msg, "cap, col 1: too many rules (at most 63)");
    assert_int_equal(fl_rule_set_add(set, "write:errno=EIO", "cap.rules", 70, &err), -E2BIG);
    assert_string_equal(err.msg, "cap.rules:70:1: too many rules (at most 63)");
    assert_int_equal(set->n, 63);
    free(set);
}

/* ---- rules files ------------------------------------------------------------------------ */

static char *write_file(const char *content)
{
    char *path = strdup("/tmp/faultline-test-rules-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(content);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void remove_file(char *path)
{
    unlink(path);
    free(path);
}

static void test_load_file(void **state)
{
    (void)state;
    char *path = write_file("# a rules file\n"
                            "\n"
                            "   \t\n"
                            "write:errno=EIO   # fail every write\n"
                            "  fsync:drop:id=sync\n"
                            "\tread:short=50%\r\n"
                            "#last:errno=EIO\n"
                            "net.recv:peer=127.0.0.1:6379:delay=2s");
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    if (fl_rule_set_load_file(set, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(set->n, 4);
    assert_string_equal(set->rules[0].text, "write:errno=EIO");
    assert_string_equal(set->rules[0].id, "1");
    assert_string_equal(set->rules[1].text, "fsync:drop:id=sync");
    assert_string_equal(set->rules[1].id, "sync");
    assert_int_equal(set->rules[1].effects, FL_EFF_DROP);
    assert_string_equal(set->rules[2].text, "read:short=50%");
    assert_string_equal(set->rules[2].id, "3");
    assert_true(set->rules[2].short_value == 500000);
    assert_string_equal(set->rules[3].id, "4");
    assert_int_equal(set->rules[3].peer_port, 6379);
    /* the set keeps each rule's source as the line held it, without comment or indentation */
    assert_string_equal(set->source[0], "write:errno=EIO");
    assert_string_equal(set->source[1], "fsync:drop:id=sync");
    assert_string_equal(set->source[3], "net.recv:peer=127.0.0.1:6379:delay=2s");

    /* a second file appends, numbering on */
    char *more = write_file("read:errno=EIO\n");
    assert_int_equal(fl_rule_set_load_file(set, more, &err), 0);
    assert_int_equal(set->n, 5);
    assert_string_equal(set->rules[4].id, "5");
    remove_file(more);
    remove_file(path);
    free(set);
}

static void load_bad(const char *content, unsigned want_n, const char *want_place,
                     const char *want_msg, int want_rc)
{
    char *path = write_file(content);
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    assert_int_equal(fl_rule_set_load_file(set, path, &err), want_rc);
    char place[256];
    snprintf(place, sizeof(place), "%s:%s: ", path, want_place);
    if (strncmp(err.msg, place, strlen(place)) != 0)
        fail_msg("message '%s' does not start with '%s'", err.msg, place);
    if (!strstr(err.msg, want_msg))
        fail_msg("message '%s' does not contain '%s'", err.msg, want_msg);
    assert_int_equal(set->n, want_n);
    remove_file(path);
    free(set);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    /* the column points into the line as written, indentation included */
    load_bad("write:errno=EIO\n# x\n    write:errnum=EIO\n", 1, "3:11",
             "unknown key 'errnum' (did you mean 'errno'?)", -EINVAL);
    load_bad("\twrite:errno=EIOX # oops\n", 0, "1:14", "unknown errno 'EIOX'", -EINVAL);
    load_bad("write:errno=EIO\n\n  wirte:drop\n", 1, "3:3", "did you mean 'write'?", -EINVAL);
    load_bad("write:errno=EIO:id=a\n  read:errno=EIO:id=a\n", 1, "2:18",
             "id 'a' is already used by rule 1", -EINVAL);
    load_bad("write:path=*.db\n", 0, "1:16", "no effect", -EINVAL);

    char *big = malloc(5000);
    assert_non_null(big);
    strcpy(big, "write:path=");
    memset(big + 11, 'x', 4200);
    strcpy(big + 4211, ":errno=EIO\n");
    load_bad(big, 0, "1:1", "longer than 4096", -EINVAL);
    free(big);

    char *many = malloc(64 * 20 + 1);
    assert_non_null(many);
    many[0] = '\0';
    for (int i = 0; i < 64; i++)
        strcat(many, "write:errno=EIO\n");
    load_bad(many, 63, "64:1", "too many rules (at most 63)", -E2BIG);
    free(many);
}

static void test_load_file_missing(void **state)
{
    (void)state;
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    assert_non_null(set);
    struct fl_err err = {{0}};
    assert_int_equal(fl_rule_set_load_file(set, "/nonexistent/faultline.rules", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/faultline.rules: cannot read rules file"));
    char *empty = write_file("");
    assert_int_equal(fl_rule_set_load_file(set, empty, &err), 0);
    assert_int_equal(set->n, 0);
    remove_file(empty);
    free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_state_json_enospc),
        cmocka_unit_test(test_example_sync_nth),
        cmocka_unit_test(test_example_short_share),
        cmocka_unit_test(test_example_torn),
        cmocka_unit_test(test_example_drop),
        cmocka_unit_test(test_example_corrupt),
        cmocka_unit_test(test_example_connect_port),
        cmocka_unit_test(test_example_recv_peer_delay),
        cmocka_unit_test(test_example_send_prob),
        cmocka_unit_test(test_example_recv_hang),
        cmocka_unit_test(test_example_dns),
        cmocka_unit_test(test_example_mem),
        cmocka_unit_test(test_example_time),
        cmocka_unit_test(test_peer_ipv6),
        cmocka_unit_test(test_peer_ipv6_with_port),
        cmocka_unit_test(test_peer_refused),
        cmocka_unit_test(test_kinds_implied),
        cmocka_unit_test(test_where_lists),
        cmocka_unit_test(test_call_variants),
        cmocka_unit_test(test_call_variants_v2),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_site),
        cmocka_unit_test(test_long_text),
        cmocka_unit_test(test_unknown_where),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_count_zero),
        cmocka_unit_test(test_effect_combinations),
        cmocka_unit_test(test_effect_does_not_apply),
        cmocka_unit_test(test_too_many_parts),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_describe_effect),
        cmocka_unit_test(test_set_ids),
        cmocka_unit_test(test_discovery_effects),
        cmocka_unit_test(test_set_source),
        cmocka_unit_test(test_set_error_places),
        cmocka_unit_test(test_set_cap),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_load_file_missing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
