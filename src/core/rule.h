/* SPDX-License-Identifier: MIT */
/*
 * rule.h - parsing preload rules ("WHERE[:KEY=VALUE]...") into control-block rules.
 *
 * A rule names where (calls or families, joined by commas), which calls among those
 * (selectors: path, kind, peer, port, host, prob, nth, after, count) and what happens
 * (effects: errno, delay, short, torn, drop, corrupt, hang, eai, offset). Everything is checked
 * here, before the target starts: unknown keys, bad values and impossible combinations are
 * refused with the 1-based column of the offending text. The reference is
 * `faultline help rules` (src/cli/cmd_help.c) and docs/rules.md.
 */
#ifndef FL_RULE_H
#define FL_RULE_H

#include <stdbool.h>

#include "ctlblock.h"
#include "err.h"

#define FL_RULE_SOURCE_MAX 4096

struct fl_rule_set {
    unsigned n;                              /* rules in use */
    struct fl_ctl_rule rules[FL_RULES_MAX];  /* in the order given: the first that fires wins */
    char source[FL_RULES_MAX][FL_RULE_SOURCE_MAX]; /* each rule's full text (rules[].text is cut) */
};

/* Parse one rule. On failure returns -EINVAL, sets *col (1-based column in text) and err (the
 * message without any place; the caller adds it). */
int fl_rule_parse(const char *text, struct fl_ctl_rule *out, int *col, struct fl_err *err);

/* Parse and append, naming the place in errors as "<origin>, col <col>: msg" when line is 0,
 * or "<origin>:<line>:<col>: msg" otherwise. Gives the rule its default id (its 1-based index)
 * unless it set one, and refuses duplicate ids and more than FL_RULES_MAX rules. */
int fl_rule_set_add(struct fl_rule_set *set, const char *text, const char *origin, unsigned line,
                    struct fl_err *err);

/* Read a rules file: one rule per line, '#' starts a comment, blank lines ignored. */
int fl_rule_set_load_file(struct fl_rule_set *set, const char *path, struct fl_err *err);

/* errno and EAI names <-> numbers */
int fl_errno_from_name(const char *name);   /* -1 if unknown */
const char *fl_errno_name(int e);           /* "EIO"; "E?" if unknown */
int fl_eai_from_name(const char *name);     /* 0 if unknown */
const char *fl_eai_name(int eai);

/* Short description of the rule's effect for listings: "errno=EIO", "delay=2s then errno=..." */
void fl_rule_describe_effect(const struct fl_ctl_rule *r, char *buf, size_t len);

#endif
