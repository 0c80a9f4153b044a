/* SPDX-License-Identifier: MIT */
/*
 * main.c - faultline's entry point: global options, then one subcommand from a sorted table.
 * Each subcommand parses its own flags into a config, then executes (src/cli/cmd_*.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "fl_config.h"
#include "log.h"

const char *arg_state_dir;

static const struct fl_cmd commands[] = {
    {"audit", "one traced run: how a program writes files and waits on sockets, its risks", cmd_audit},
    {"corrupt", "damage a file or SQLite database, saved first (faultline restore)", cmd_corrupt},
    {"crash", "find what a power loss during a program's run leaves broken on disk", cmd_crash},
    {"ctl", "switch the rules of a running inject and read their counters", cmd_ctl},
    {"fill", "fill the filesystem holding a directory, so writes fail with ENOSPC", cmd_fill},
    {"help", "show help: faultline help [COMMAND|rules]", cmd_help},
    {"hog", "take memory, CPU or a process's open-file limit away for a while", cmd_hog},
    {"inject", "run a program with faults in its libc calls", cmd_inject},
    {"kill", "signal processes by pid, name or tree, once or as a chaos monkey", cmd_kill},
    {"load", "drive HTTP or TCP requests at a fixed rate and concurrency, and measure", cmd_load},
    {"lock", "hold an SQLite database lock, as a backup script or crashed writer would", cmd_lock},
    {"proxy", "run or control a TCP chaos proxy with Toxiproxy's HTTP API", cmd_proxy},
    {"recover", "revert what runs that died left behind", cmd_recover},
    {"report", "render reports from a run's results or a sweep's findings; run history",
     cmd_report},
    {"restore", "put back what 'faultline corrupt' changed, byte and metadata exact", cmd_restore},
    {"run", "run experiments: faults, probes, load, verdicts and reports", cmd_run},
    {"status", "list the faults that are active", cmd_status},
    {"stop", "freeze a process with SIGSTOP for a while; it is always resumed", cmd_stop},
    {"sweep", "find where a program breaks: every call site, every fault, one command", cmd_sweep},
    {"validate", "check experiment files without running them", cmd_validate},
    {"version", "print the version", cmd_version},
};

const struct fl_cmd *fl_find_cmd(const char *name)
{
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
        if (strcmp(commands[c].name, name) == 0)
            return &commands[c];
    return NULL;
}

int fl_usage_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fl_errorf("%s", msg);
    return FL_EXIT_USAGE;
}

bool fl_common_option(int opt, const char *value)
{
    switch (opt) {
    case 'q':
        fl_log_set_level(FL_LOG_WARN);
        return true;
    case 'v':
        fl_log_set_level(fl_log_get_level() < FL_LOG_INFO ? FL_LOG_INFO : FL_LOG_DEBUG);
        return true;
    case FL_OPT_STATE_DIR:
        arg_state_dir = value;
        return true;
    default:
        return false;
    }
}

void fl_print_help(const char *text) { fputs(text, stdout); }

static void print_usage(FILE *out)
{
    fprintf(out, "usage: faultline [-q|-v] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'faultline help COMMAND' for a command's options, 'faultline help rules' for "
                 "the rule language.\nExit status: 0 ok, 1 failed, 2 usage error, 3 missing "
                 "resource or privilege;\ninject returns the program's own status.\n");
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return 0;
    }
    extern int fl_help_topic(const char *topic);
    return fl_help_topic(argv[1]);
}

int cmd_version(int argc, char **argv)
{
    printf("faultline %s\n", FL_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    fl_log_init(FL_LOG_NOTICE);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            fl_common_option('q', NULL);
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose"))
            fl_common_option('v', NULL);
        else if (!strcmp(a, "-vv"))
            fl_log_set_level(FL_LOG_DEBUG);
        else if (!strcmp(a, "--state-dir") && i + 1 < argc)
            arg_state_dir = argv[++i];
        else if (!strncmp(a, "--state-dir=", 12))
            arg_state_dir = a + 12;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version"))
            return cmd_version(0, NULL);
        else
            return fl_usage_error("unknown option '%s' before the command (try 'faultline "
                                  "help')", a);
    }
    if (i >= argc)
        return fl_usage_error("no command given (try 'faultline help')");
    const struct fl_cmd *cmd = fl_find_cmd(argv[i]);
    if (cmd)
        return cmd->run(argc - i, argv + i);
    return fl_usage_error("unknown command '%s' (expected one of: corrupt, ctl, fill, help, "
                          "hog, inject, kill, load, lock, proxy, recover, report, restore, "
                          "run, status, stop, validate, version)", argv[i]);
}
