/* SPDX-License-Identifier: MIT */
/*
 * cmd_status.c - `faultline status` (what is active) and `faultline recover` (revert what an
 * owner that died left behind), both read from the journal (src/core/journal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hold.h"
#include "fault.h"
#include "journal.h"
#include "log.h"

static bool entry_owner_alive(const json_t *e)
{
    json_t *owner = json_object_get(e, "owner");
    return fl_owner_alive((pid_t)json_integer_value(json_object_get(owner, "pid")),
                          (uint64_t)json_integer_value(json_object_get(owner, "start")));
}

static bool parse_flags(int argc, char **argv, bool *json, bool *all, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            *json = true;
        else if (all && !strcmp(argv[i], "--all"))
            *all = true;
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            arg_state_dir = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s", usage);
            exit(0);
        } else {
            fl_usage_error("%s: unknown argument '%s'", argv[0], argv[i]);
            return false;
        }
    }
    return true;
}

int cmd_status(int argc, char **argv)
{
    bool json = false;
    if (!parse_flags(argc, argv, &json, NULL,
                     "usage: faultline status [--json] [--state-dir DIR]\n"
                     "List the faults that are applied now, with their owner.\n"))
        return FL_EXIT_USAGE;
    struct fl_journal j;
    json_t *entries;
    int rc = fl_cli_journal_entries(&j, NULL, &entries);
    if (rc)
        return rc;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
        json_object_set_new(e, "owner_alive", json_boolean(entry_owner_alive(e)));
    if (json) {
        char *text = json_dumps(entries, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else if (json_array_size(entries) == 0) {
        printf("nothing active (journal %s)\n", j.dir);
    } else {
        json_array_foreach(entries, i, e) {
            char desc[512];
            fl_fault_describe_entry(e, desc, sizeof(desc));
            json_t *owner = json_object_get(e, "owner");
            const char *state = json_is_true(json_object_get(e, "detached"))
                                    ? "(detached: until restore)"
                                : json_is_true(json_object_get(e, "owner_alive")) ? "(running)"
                                                                                  : "(gone)";
            printf("%s  %-8s owner %lld %s  %s\n", json_string_value(json_object_get(e, "id")),
                   json_string_value(json_object_get(e, "kind")) ?: "?",
                   (long long)json_integer_value(json_object_get(owner, "pid")), state, desc);
        }
    }
    json_decref(entries);
    return 0;
}

int cmd_recover(int argc, char **argv)
{
    bool json = false, all = false;
    if (!parse_flags(argc, argv, &json, &all,
                     "usage: faultline recover [--all] [--json] [--state-dir DIR]\n"
                     "Revert every fault whose owner is gone (with --all, every fault, detached\n"
                     "corruptions and those of running owners too).\n"
                     "Running it twice is harmless.\n"))
        return FL_EXIT_USAGE;
    struct fl_journal j;
    int lock;
    json_t *entries;
    int rc = fl_cli_journal_entries(&j, &lock, &entries);
    if (rc)
        return rc;
    struct fl_err err;
    json_t *report = json_array();
    json_t *e;
    int failed = 0, reverted = 0, kept = 0;
    /* newest first, as a stack is unwound: a fault applied on top of another is undone
     * before the one beneath it */
    for (size_t k = json_array_size(entries); k-- > 0;) {
        e = json_array_get(entries, k);
        const char *id = json_string_value(json_object_get(e, "id"));
        char desc[512];
        fl_fault_describe_entry(e, desc, sizeof(desc));
        const char *outcome;
        char why[600] = "";
        bool detached = json_is_true(json_object_get(e, "detached"));
        if (!all && (detached || entry_owner_alive(e))) {
            outcome = detached ? "detached" : "kept";
            kept++;
        } else if (fl_fault_revert_entry(&j, e, &err) == 0) {
            outcome = "reverted";
            reverted++;
        } else {
            outcome = "failed";
            snprintf(why, sizeof(why), "%s", err.msg);
            failed++;
        }
        json_array_append_new(report, json_pack("{s:s, s:s, s:s, s:s}", "id", id ? id : "?",
                                                "outcome", outcome, "what", desc, "error", why));
        if (!json) {
            if (!strcmp(outcome, "kept"))
                printf("kept      %s: %s (its owner is still running; --all reverts it too)\n",
                       id, desc);
            else if (!strcmp(outcome, "detached"))
                printf("kept      %s: %s (detached: 'faultline restore' or --all reverts it)\n",
                       id, desc);
            else if (!strcmp(outcome, "reverted"))
                printf("reverted  %s: %s\n", id, desc);
            else
                printf("FAILED    %s: %s: %s\n", id, desc, why);
        }
    }
    if (json) {
        char *text = json_dumps(report, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else {
        printf("%d reverted, %d kept, %d failed\n", reverted, kept, failed);
    }
    json_decref(report);
    json_decref(entries);
    fl_fault_sweep_backups(&j);
    if (lock >= 0)
        close(lock);
    return failed ? FL_EXIT_FAILED : 0;
}
