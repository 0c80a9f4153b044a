/* SPDX-License-Identifier: MIT */
/*
 * cmd_ctl.c - `faultline ctl PATH list|stats|on ID|off ID` against a running inject's control
 * block. IDs are a rule's number (1..) or its id=; "all" means every rule.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "log.h"
#include "rule.h"

static const char ctl_help[] =
    "usage: faultline ctl PATH list|stats [--json]\n"
    "       faultline ctl PATH on|off ID|all\n"
    "\n"
    "PATH is the control block of a running 'faultline inject --ctl PATH'.\n"
    "  list     the rules: id, on/off, effect, text\n"
    "  stats    per-rule counters: calls seen (matched while on), faults injected\n"
    "  on ID    switch a rule on (ID: its number, its id=, or 'all')\n"
    "  off ID   switch a rule off; a call hanging on it is released\n";

static int print_rules(struct fl_ctl_handle *h, bool json, bool with_effect)
{
    int n = fl_ctl_count(h);
    if (json) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            struct fl_rule_stats s;
            char eff[128];
            fl_ctl_stats(h, i, &s);
            fl_rule_describe_effect(&h->ctl->rules[i], eff, sizeof(eff));
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:I, s:I}", "id", s.id,
                                                 "rule", s.text, "effect", eff, "enabled",
                                                 s.enabled, "seen", (json_int_t)s.seen,
                                                 "injected", (json_int_t)s.injected));
        }
        char *text = json_dumps(arr, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(arr);
        return 0;
    }
    if (with_effect)
        printf("%-12s %-4s %-36s %s\n", "id", "on", "effect", "rule");
    else
        printf("%-12s %-4s %10s %10s  %s\n", "id", "on", "seen", "injected", "rule");
    for (int i = 0; i < n; i++) {
        struct fl_rule_stats s;
        fl_ctl_stats(h, i, &s);
        if (with_effect) {
            char eff[128];
            fl_rule_describe_effect(&h->ctl->rules[i], eff, sizeof(eff));
            printf("%-12s %-4s %-36s %s\n", s.id, s.enabled ? "on" : "off", eff, s.text);
        } else {
            printf("%-12s %-4s %10" PRIu64 " %10" PRIu64 "  %s\n", s.id, s.enabled ? "on" : "off",
                   s.seen, s.injected, s.text);
        }
    }
    return 0;
}

int cmd_ctl(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fl_print_help(ctl_help);
        return 0;
    }
    if (argc < 3)
        return fl_usage_error("ctl: expected PATH and an action (list, stats, on ID, off ID)");
    const char *path = argv[1], *action = argv[2];
    bool json = false;
    for (int i = 3; i < argc; i++)
        if (!strcmp(argv[i], "--json"))
            json = true;
    struct fl_err err;
    struct fl_ctl_handle *h;
    if (fl_ctl_open(path, &h, &err) < 0) {
        fl_errorf("%s", err.msg);
        return FL_EXIT_NORESOURCE;
    }
    int rc = 0;
    if (!strcmp(action, "list")) {
        rc = print_rules(h, json, true);
    } else if (!strcmp(action, "stats")) {
        rc = print_rules(h, json, false);
    } else if (!strcmp(action, "on") || !strcmp(action, "off")) {
        if (argc < 4) {
            rc = fl_usage_error("ctl %s: expected a rule id (a number, an id= name, or all)",
                                action);
        } else {
            int idx = strcmp(argv[3], "all") == 0 ? -1 : fl_ctl_find(h, argv[3]);
            if (idx == -ENOENT) {
                rc = fl_usage_error("ctl %s: no rule '%s' in %s (see 'faultline ctl %s list')",
                                    action, argv[3], path, path);
            } else {
                fl_ctl_set_enabled(h, idx, action[1] == 'n');
                fl_infof("rule %s %s", argv[3], action);
            }
        }
    } else {
        rc = fl_usage_error("ctl: unknown action '%s' (expected list, stats, on or off)", action);
    }
    fl_ctl_close(h);
    return rc;
}
