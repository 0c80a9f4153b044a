/* SPDX-License-Identifier: MIT */
/*
 * cmd_corrupt.c - `faultline corrupt` (damage a file, saved first) and `faultline restore`
 * (put it back, byte and metadata exact). The damage itself is the `corrupt` fault kind
 * (src/faults/corrupt.c); this file only turns flags into its params, and finds journal
 * entries for restore. Without --for a corruption is detached: it outlives this process and
 * stays until `faultline restore` (or `recover --all`), as a damaged SD card would.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "corrupt.h"
#include "fault.h"
#include "hold.h"
#include "journal.h"
#include "log.h"
#include "prng.h"
#include "units.h"

static const char corrupt_help[] =
    "usage: faultline corrupt PATH --mode MODE [options] [--seed N] [--for DURATION] [--json]\n"
    "\n"
    "Damage a file in place, the way SD cards, power cuts and operators do. Everything it\n"
    "changes (bytes, mode, owner, atime/mtime) is saved first under the state directory.\n"
    "Without --for the damage stays until 'faultline restore ID' (or --all); with --for it\n"
    "is restored after DURATION, or on Ctrl-C/SIGTERM ('faultline recover' after a crash).\n"
    "\n"
    "Modes (generic):\n"
    "  truncate            cut the file: --keep BYTES or --keep 40% (default 50%)\n"
    "  empty               zero length\n"
    "  garbage             replace the content with random bytes (--size, default its size)\n"
    "  bitflip             flip --count N bits (default 1), within --range START:END\n"
    "  zero                zero --range START:END (default the whole file)\n"
    "  overwrite           write --hex DEADBEEF at --offset N (default 0)\n"
    "  append-garbage      add --size random bytes at the end (default 4KiB)\n"
    "  valid-then-corrupt  JSON: change one character of --count values, still valid JSON;\n"
    "                      other files: up to 4 bytes in the middle of --count lines\n"
    "Modes (SQLite, read from the file format):\n"
    "  sqlite-header       --part magic|pagesize: 'file is not a database'\n"
    "  sqlite-page         a b-tree page (--table NAME, --page N): 'disk image is malformed'\n"
    "  sqlite-wal          --part header|frame|truncate (--frame N): committed rows vanish\n"
    "  sqlite-journal      a hot journal of garbage pages (--table, --page): SQLite's own\n"
    "                      rollback on the next open damages the database\n"
    "Modes (access):\n"
    "  readonly            remove the write bits\n"
    "  unreadable          mode 000\n"
    "  delete              remove the file\n"
    "  replace-with-dir    remove the file and put an empty directory in its place\n"
    "\n"
    "Options:\n"
    "  --seed N        replay the same damage (the seed is printed every run)\n"
    "  --for DURATION  restore by itself after DURATION (2s, 5m)\n"
    "  --json          print the result as JSON\n"
    "Sizes take units (512, 4KiB, 1MB); ranges are START:END, END exclusive.\n"
    "Files over 1GiB are refused (the backup would double them).\n"
    "Exit status: 0 applied, 2 bad input, 3 missing file or no permission.\n";

static const char restore_help[] =
    "usage: faultline restore [ID...|--all] [--json]\n"
    "\n"
    "Put back what 'faultline corrupt' changed: the exact bytes, mode, owner and\n"
    "atime/mtime (ctime cannot be set). ID is an entry id from 'faultline status', or a\n"
    "unique part of one; --all restores every corruption. Restoring twice is harmless.\n"
    "Exit status: 0 restored or nothing to restore, 1 a restore failed, 2 bad input.\n";

enum {
    OPT_KEEP = 0x100,
    OPT_SIZE,
    OPT_COUNT,
    OPT_RANGE,
    OPT_OFFSET,
    OPT_HEX,
    OPT_PART,
    OPT_TABLE,
    OPT_PAGE,
    OPT_FRAME,
    OPT_SEED,
    OPT_FOR,
    OPT_JSON,
    OPT_ALL,
    OPT_STATE_DIR = FL_OPT_STATE_DIR,
};

static const struct option corrupt_options[] = {
    {"mode", required_argument, NULL, 'm'},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"size", required_argument, NULL, OPT_SIZE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"range", required_argument, NULL, OPT_RANGE},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"hex", required_argument, NULL, OPT_HEX},
    {"part", required_argument, NULL, OPT_PART},
    {"table", required_argument, NULL, OPT_TABLE},
    {"page", required_argument, NULL, OPT_PAGE},
    {"frame", required_argument, NULL, OPT_FRAME},
    {"seed", required_argument, NULL, OPT_SEED},
    {"for", required_argument, NULL, OPT_FOR},
    {"json", no_argument, NULL, OPT_JSON},
    FL_COMMON_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const char *option_name(int opt)
{
    for (const struct option *o = corrupt_options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* A whole number option (--count, --page, --frame) into params. */
static int set_number(json_t *params, int opt, const char *value)
{
    uint64_t v;
    struct fl_err err = {""};
    if (fl_parse_u64(value, &v, &err) < 0 || v > INT32_MAX)
        return fl_usage_error("--%s: %s", option_name(opt),
                              err.msg[0] ? err.msg : "too large");
    json_object_set_new(params, option_name(opt), json_integer((json_int_t)v));
    return 0;
}

/* A size or range option: checked for syntax here (so the message names the flag), kept as
 * the text the user typed so that a share like 40% is resolved against the file in prepare. */
static int set_size(json_t *params, int opt, const char *value)
{
    uint64_t v;
    struct fl_err err = {""};
    if (opt == OPT_RANGE) {
        const char *colon = strchr(value, ':');
        char a[64] = "", b[64] = "";
        if (colon) {
            snprintf(a, sizeof(a), "%.*s", (int)(colon - value), value);
            snprintf(b, sizeof(b), "%s", colon + 1);
        }
        if (!colon || (a[0] && fl_parse_size(a, false, &v, NULL, &err) < 0) ||
            (b[0] && fl_parse_size(b, false, &v, NULL, &err) < 0))
            return fl_usage_error("--range: %s", err.msg[0] ? err.msg
                                                            : "expected START:END in bytes, "
                                                              "like 0:4KiB or 100:");
    } else if (fl_parse_size(value, opt == OPT_KEEP, &v, NULL, &err) < 0) {
        return fl_usage_error("--%s: %s", option_name(opt), err.msg);
    }
    json_object_set_new(params, option_name(opt), json_string(value));
    return 0;
}

int cmd_corrupt(int argc, char **argv)
{
    json_t *params = json_object();
    struct fl_hold h = {.kind = "corrupt", .params = params};
    const char *mode = NULL;
    uint64_t seed = 0;
    bool seed_given = false;
    int opt, rc = 0;
    struct fl_err err = {""};
    optind = 1;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, ":m:qvh", corrupt_options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            mode = optarg;
            break;
        case OPT_KEEP:
        case OPT_SIZE:
        case OPT_RANGE:
        case OPT_OFFSET:
            rc = set_size(params, opt, optarg);
            break;
        case OPT_COUNT:
        case OPT_PAGE:
        case OPT_FRAME:
            rc = set_number(params, opt, optarg);
            break;
        case OPT_HEX:
        case OPT_PART:
        case OPT_TABLE:
            json_object_set_new(params, option_name(opt), json_string(optarg));
            break;
        case OPT_SEED:
            if (fl_parse_u64(optarg, &seed, &err) < 0)
                rc = fl_usage_error("--seed: %s", err.msg);
            seed_given = true;
            break;
        case OPT_FOR:
            if (fl_parse_duration(optarg, false, &h.for_ns, &err) < 0 || h.for_ns <= 0)
                rc = fl_usage_error("--for: %s", err.msg[0] ? err.msg
                                                            : "expected a duration above 0");
            break;
        case OPT_JSON:
            h.json = true;
            break;
        case 'h':
            fl_print_help(corrupt_help);
            json_decref(params);
            return 0;
        case ':':
            rc = fl_usage_error("corrupt: %s needs a value", argv[optind - 1]);
            break;
        case '?':
            rc = fl_usage_error("corrupt: unknown option '%s' (see 'faultline help corrupt')",
                                argv[optind - 1]);
            break;
        default:
            if (!fl_common_option(opt, optarg))
                rc = fl_usage_error("corrupt: unexpected option");
        }
    }
    if (rc == 0 && optind + 1 != argc)
        rc = fl_usage_error(optind >= argc ? "corrupt: no PATH given (usage: faultline corrupt "
                                             "PATH --mode MODE)"
                                           : "corrupt: one PATH only, got '%s' too",
                            optind < argc - 1 ? argv[optind + 1] : "");
    if (rc == 0 && !mode)
        rc = fl_usage_error("corrupt: --mode is needed (see 'faultline help corrupt')");
    if (rc) {
        json_decref(params);
        return rc;
    }
    const char *arg = argv[optind];
    /* realpath: the journal must name the file itself, whatever the cwd of a later restore,
     * and a symlink is followed to the file a program would damage */
    char *path = realpath(arg, NULL);
    if (!path) {
        int e = errno;
        json_decref(params);
        fl_errorf("%s: %s", arg, e == ENOENT ? "no such file" : strerror(e));
        return fl_fault_exit_status(-e);
    }
    if (!seed_given)
        seed = fl_seed_from_entropy();
    json_object_set_new(params, "path", json_string(path));
    json_object_set_new(params, "mode", json_string(mode));
    json_object_set_new(params, "seed", json_integer((json_int_t)seed));
    free(path);

    /* Show the page or frame the seed picks in the "applied" line: resolve it now, with the
     * same code prepare runs again (it only reads, and refuses what prepare would refuse). */
    struct stat st;
    if ((!strcmp(mode, "sqlite-page") || !strcmp(mode, "sqlite-journal") ||
         !strcmp(mode, "sqlite-wal")) &&
        stat(json_string_value(json_object_get(params, "path")), &st) == 0 &&
        S_ISREG(st.st_mode)) {
        json_t *paths = json_array(), *detail = json_object();
        rc = fl_corrupt_sqlite_prepare(json_string_value(json_object_get(params, "path")), mode,
                                       params, paths, detail, &err);
        if (rc == 0 && json_object_get(detail, "page") && !json_object_get(params, "page"))
            json_object_set(params, "page", json_object_get(detail, "page"));
        if (rc == 0 && json_object_get(detail, "frame") && !json_object_get(params, "frame"))
            json_object_set(params, "frame", json_object_get(detail, "frame"));
        json_decref(paths);
        json_decref(detail);
        if (rc < 0) {
            fl_errorf("%s", err.msg);
            json_decref(params);
            return fl_fault_exit_status(rc);
        }
    }
    /* the seed is printed in the "applied" line (describe) and in the JSON result */
    if ((!strcmp(mode, "readonly") || !strcmp(mode, "unreadable")) && geteuid() == 0)
        fl_noticef("running as root: mode bits do not stop processes running as root "
                   "(CAP_DAC_OVERRIDE); only non-root processes will see EACCES");
    json_t *extra = json_pack("{s:I}", "seed", (json_int_t)seed);
    h.extra = extra;
    h.detach = h.for_ns == 0;
    rc = fl_hold_run(&h);
    json_decref(extra);
    json_decref(params);
    return rc;
}

/* ---- restore ---------------------------------------------------------------------------- */

int cmd_restore(int argc, char **argv)
{
    static const struct option restore_options[] = {
        {"all", no_argument, NULL, OPT_ALL},
        {"json", no_argument, NULL, OPT_JSON},
        FL_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    bool all = false, json = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "qvh", restore_options, NULL)) != -1) {
        switch (opt) {
        case OPT_ALL:
            all = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            fl_print_help(restore_help);
            return 0;
        case '?':
            return fl_usage_error("restore: unknown option '%s' (see 'faultline help restore')",
                                  argv[optind - 1]);
        default:
            if (!fl_common_option(opt, optarg))
                return fl_usage_error("restore: unexpected option");
        }
    }
    if (!all && optind >= argc)
        return fl_usage_error("restore: give an ID from 'faultline status', or --all");
    if (all && optind < argc)
        return fl_usage_error("restore: give IDs or --all, not both");

    struct fl_journal j;
    /* the lock is held while reverting, so a concurrent restore, recover or the owner's own
     * revert at the end of --for cannot restore the same entry twice */
    int lock;
    json_t *entries;
    int rc = fl_cli_journal_entries(&j, &lock, &entries);
    if (rc)
        return rc;
    struct fl_err err = {""};
    /* choose the entries first, so a bad ID changes nothing */
    json_t *chosen = json_array(), *report = json_array();
    size_t i;
    json_t *e;
    int status = 0;
    if (all) {
        /* newest first, as recover unwinds */
        for (size_t k = json_array_size(entries); k-- > 0;) {
            e = json_array_get(entries, k);
            if (!strcmp(json_string_value(json_object_get(e, "kind")) ?: "", "corrupt"))
                json_array_append(chosen, e);
        }
    }
    for (int a = optind; a < argc && status == 0; a++) {
        json_t *match = NULL, *exact = NULL;
        int n = 0;
        json_array_foreach(entries, i, e) {
            const char *id = json_string_value(json_object_get(e, "id")) ?: "";
            if (!strcmp(id, argv[a]))
                exact = e;
            if (strstr(id, argv[a])) {
                match = e;
                n++;
            }
        }
        if (exact) {
            match = exact;
            n = 1;
        }
        if (n > 1) {
            status = fl_usage_error("restore: '%s' matches %d entries; give more of the id",
                                    argv[a], n);
        } else if (n == 1 && strcmp(json_string_value(json_object_get(match, "kind")) ?: "",
                                    "corrupt")) {
            status = fl_usage_error("restore: %s is a %s fault, not a corruption ('faultline "
                                    "recover' reverts it)",
                                    json_string_value(json_object_get(match, "id")),
                                    json_string_value(json_object_get(match, "kind")) ?: "?");
        } else if (n == 1) {
            bool dup = false;
            json_t *c;
            size_t k;
            json_array_foreach(chosen, k, c) dup |= c == match;
            if (!dup)
                json_array_append(chosen, match);
        } else if (!json) {
            printf("nothing to restore for '%s' (not in the journal: restored already?)\n",
                   argv[a]);
        }
    }
    int restored = 0, failed = 0;
    if (status)
        json_array_clear(chosen);
    json_array_foreach(chosen, i, e) {
        const char *id = json_string_value(json_object_get(e, "id")) ?: "?";
        char desc[600];
        fl_fault_describe_entry(e, desc, sizeof(desc));
        bool ok = fl_fault_revert_entry(&j, e, &err) == 0;
        json_array_append_new(report, json_pack("{s:s, s:s, s:s, s:s}", "id", id, "outcome",
                                                ok ? "restored" : "failed", "what", desc,
                                                "error", ok ? "" : err.msg));
        if (ok) {
            restored++;
            if (!json)
                printf("restored %s: %s\n", id, desc);
        } else {
            failed++;
            fl_errorf("could not restore %s: %s", id, err.msg);
        }
    }
    if (status == 0)
        fl_fault_sweep_backups(&j);
    if (lock >= 0)
        close(lock);
    if (status == 0 && json) {
        char *text = json_dumps(report, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    } else if (status == 0 && all && restored + failed == 0) {
        printf("nothing to restore\n");
    }
    json_decref(report);
    json_decref(chosen);
    json_decref(entries);
    if (status)
        return status;
    return failed ? FL_EXIT_FAILED : 0;
}
