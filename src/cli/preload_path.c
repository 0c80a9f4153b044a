/* SPDX-License-Identifier: MIT */
/* preload_path.c - where faultline-preload.so (inject, experiments' rules, sweep) and
 * faultline-record.so (crash) are. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fl_config.h"
#include "log.h"

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A library of ours: $VAR, next to this binary, in the build tree, installed. */
static int find_lib(const char *name, const char *var, char *out, size_t len, bool quiet)
{
    const char *env = getenv(var);
    if (env && *env) {
        if (!file_exists(env))
            return fl_usage_error("%s: '%s' does not exist", var, env), -ENOENT;
        if (!realpath(env, out))
            snprintf(out, len, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        /* next to the binary, in the build tree, installed relative to the binary */
        const char *rel[] = {"", "/src/preload", "/../" FL_LIBDIR_REL, "/../lib/faultline"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            snprintf(out, len, "%s%s/%s", exe, rel[i], name);
            if (file_exists(out))
                return 0;
        }
    }
    snprintf(out, len, "%s/%s", FL_LIBDIR, name);
    if (file_exists(out))
        return 0;
    if (!quiet)
        fl_errorf("cannot find %s next to faultline, in the build tree or in %s (set %s)", name,
                  FL_LIBDIR, var);
    return -ENOENT;
}

int fl_find_preload(char *out, size_t len, bool quiet)
{
    return find_lib(FL_PRELOAD_NAME, "FAULTLINE_PRELOAD", out, len, quiet);
}

int fl_find_recorder(char *out, size_t len, bool quiet)
{
    return find_lib(FL_RECORDER_NAME, "FAULTLINE_RECORDER", out, len, quiet);
}

