/* SPDX-License-Identifier: MIT */
/*
 * fuzz-rule.c - libFuzzer target for the rule parser (fl_rule_parse, fl_rule_set_add).
 *
 * Rules arrive from the command line, from rules files and from experiment files, and the
 * parser is hand-written C with fixed-size buffers (tokens, globs, ids, hosts). So it must
 * never crash on any input, and whatever it accepts must be a rule the preload can act on: at
 * least one call, at most one terminal effect and one wait, values in their ranges, strings
 * terminated inside their fields, and every call compatible with every selector and effect.
 * Each accepted rule is also added to a rule set, whose ids must stay unique. Violations
 * abort(), which libFuzzer (or the replay main) reports with the input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctlblock.h"
#include "rule.h"
#include "units.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz-rule: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                       \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static bool terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static bool has_op(const struct fl_ctl_rule *r, int op)
{
    return r->ops[op / 64] >> (op % 64) & 1;
}

static void check_error(int rc, int col, const struct fl_err *err, size_t len)
{
    CHECK(rc == -EINVAL || rc == -ERANGE || rc == -ENOMEM);
    CHECK(col >= 1 && (size_t)col <= len + 1);
    CHECK(terminated(err->msg, sizeof(err->msg)));
    CHECK(err->msg[0] != '\0');
}

/* What the preload relies on for a rule the parser accepted. */
static void check_rule(const struct fl_ctl_rule *r, const char *text)
{
    CHECK(terminated(r->text, sizeof(r->text)));
    CHECK(strncmp(r->text, text, sizeof(r->text) - 1) == 0);
    CHECK(terminated(r->id, sizeof(r->id)));
    CHECK(terminated(r->path, sizeof(r->path)));
    CHECK(terminated(r->host, sizeof(r->host)));

    /* calls: at least one, none past the table */
    bool any = false;
    for (int i = 0; i < FL_OP_COUNT; i++)
        any |= has_op(r, i);
    CHECK(any);
    for (int i = FL_OP_COUNT; i < FL_OPS_WORDS * 64; i++)
        CHECK(!has_op(r, i));

    /* effects: known bits, at least one, one wait at most, one way to fail at most */
    const unsigned known = FL_EFF_ERRNO | FL_EFF_DELAY | FL_EFF_SHORT | FL_EFF_TORN |
                           FL_EFF_DROP | FL_EFF_CORRUPT | FL_EFF_HANG | FL_EFF_EAI |
                           FL_EFF_OFFSET | FL_EFF_EOF | FL_EFF_SILENT | FL_EFF_SIGNAL;
    CHECK(r->effects != 0);
    CHECK((r->effects & ~known) == 0);
    CHECK((r->effects & FL_EFF_WAITS) != FL_EFF_WAITS);
    unsigned terminal = r->effects & ~FL_EFF_NONTERMINAL;
    unsigned others = terminal & ~FL_EFF_ERRNO;
    CHECK(__builtin_popcount(others) <= 1);
    if ((terminal & FL_EFF_ERRNO) && others)
        CHECK((others & ~(FL_EFF_TORN | FL_EFF_SHORT)) == 0);

    /* values */
    CHECK(r->kinds != 0 && (r->kinds & ~FL_KIND_ALL) == 0);
    CHECK(r->err > 0 && r->err < 4096);
    if (r->effects & FL_EFF_EAI)
        CHECK(r->eai != 0);
    if (r->effects & FL_EFF_CORRUPT)
        CHECK(r->corrupt_bits >= 1 && r->corrupt_bits <= 65536);
    if (r->effects & FL_EFF_DELAY)
        CHECK(r->delay_ns >= 0 && r->delay_ns <= 24 * 3600 * FL_NS_PER_SEC);
    if (r->effects & FL_EFF_SIGNAL)
        CHECK(r->signo > 0 && r->signo < 65 && r->signal_after <= 1);
    if (r->short_is_share)
        CHECK(r->short_value <= 1000000);
    CHECK(r->short_is_share <= 1);
    /* a site only from a site= part (the preload drops a site rule's other calls) */
    CHECK(r->site_set <= 1 && (r->site_set || r->site == 0));
    CHECK(!r->site_set || strstr(text, "site=") != NULL);
    CHECK(r->path_has_slash == (strchr(r->path, '/') != NULL));
    CHECK(r->peer_family == 0 || r->peer_family == AF_INET || r->peer_family == AF_INET6);
    if (!r->peer_family)
        CHECK(r->peer_port == 0);
    if (r->id[0]) {
        bool digits = true;
        for (const char *p = r->id; *p; p++) {
            CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.');
            digits &= *p >= '0' && *p <= '9';
        }
        CHECK(!digits);
    }

    /* every call can take every selector and effect of the rule */
    for (int i = 0; i < FL_OP_COUNT; i++) {
        if (!has_op(r, i))
            continue;
        const struct fl_op_info *o = &fl_op_table[i];
        if (r->effects & FL_EFF_ERRNO)
            CHECK(o->cls != FL_CLS_TIME && o->cls != FL_CLS_DNS);
        if (r->effects & FL_EFF_HANG)
            CHECK(o->cls != FL_CLS_MEM && o->cls != FL_CLS_TIME);
        if (r->effects & FL_EFF_SHORT)
            CHECK((o->flags & FL_OPF_SHORT) && (o->cls == FL_CLS_READ || o->cls == FL_CLS_WRITE));
        if (r->effects & FL_EFF_TORN)
            CHECK((o->flags & FL_OPF_SHORT) && o->cls == FL_CLS_WRITE);
        if (r->effects & FL_EFF_DROP)
            CHECK(o->cls == FL_CLS_WRITE || o->cls == FL_CLS_SYNC);
        if (r->effects & FL_EFF_CORRUPT)
            CHECK(o->cls == FL_CLS_READ);
        if (r->effects & FL_EFF_EAI)
            CHECK(o->cls == FL_CLS_DNS);
        if (r->effects & FL_EFF_OFFSET)
            CHECK(o->cls == FL_CLS_TIME);
        if (r->path[0])
            CHECK(!(o->flags & FL_OPF_NOSUBJECT) && o->cls != FL_CLS_ACCEPT &&
                  o->cls != FL_CLS_CONNECT && o->cls != FL_CLS_DNS && o->cls != FL_CLS_MEM &&
                  o->cls != FL_CLS_TIME);
        if (r->host[0])
            CHECK(o->cls == FL_CLS_DNS);
        if (r->peer_family || r->port)
            CHECK(o->cls == FL_CLS_CONNECT || o->cls == FL_CLS_ACCEPT ||
                  o->cls == FL_CLS_READ || o->cls == FL_CLS_WRITE);
        if (!(r->kinds & FL_KIND_FILE))
            CHECK(o->cls != FL_CLS_OPEN && o->cls != FL_CLS_METAPATH);
    }

    /* the listing line fits any buffer and never runs past it */
    char buf[160];
    fl_rule_describe_effect(r, buf, sizeof(buf));
    CHECK(terminated(buf, sizeof(buf)));
    for (size_t len = 1; len < 24; len += 5) {
        char small[32];
        memset(small, 'Z', sizeof(small));
        fl_rule_describe_effect(r, small, len);
        CHECK(terminated(small, len));
        CHECK(small[len] == 'Z');
    }
}

static struct fl_rule_set *set;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text); /* input may hold NULs: the parser sees up to the first */

    struct fl_ctl_rule *r = malloc(sizeof(*r));
    if (!r) {
        free(text);
        return 0;
    }
    int col = 0;
    struct fl_err err;
    memset(&err, 0, sizeof(err));
    int rc = fl_rule_parse(text, r, &col, &err);
    if (rc < 0)
        check_error(rc, col, &err, len);
    else {
        CHECK(rc == 0);
        check_rule(r, text);
    }

    /* the same text through a rule set: same verdict, unique ids */
    if (!set && !(set = calloc(1, sizeof(*set))))
        abort();
    if (set->n == FL_RULES_MAX)
        set->n = 0;
    unsigned before = set->n;
    memset(&err, 0, sizeof(err));
    int arc = fl_rule_set_add(set, text, "fuzz", 0, &err);
    if (rc < 0) {
        CHECK(arc == -EINVAL); /* the set reports every parse error as EINVAL */
        CHECK(set->n == before);
        CHECK(strncmp(err.msg, "fuzz, col ", 10) == 0);
    } else if (arc < 0) {
        CHECK(arc == -EINVAL);
        CHECK(strstr(err.msg, "is already used by rule") != NULL);
        CHECK(set->n == before);
    } else {
        CHECK(set->n == before + 1);
        const struct fl_ctl_rule *added = &set->rules[before];
        CHECK(added->id[0] != '\0');
        CHECK(r->id[0] == '\0' || strcmp(added->id, r->id) == 0);
        CHECK(memcmp(added->ops, r->ops, sizeof(r->ops)) == 0);
        CHECK(added->effects == r->effects);
        for (unsigned i = 0; i < before; i++)
            CHECK(strcmp(set->rules[i].id, added->id) != 0);
    }
    free(r);
    free(text);
    return 0;
}
