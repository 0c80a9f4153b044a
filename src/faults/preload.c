/* SPDX-License-Identifier: MIT */
/*
 * faults/preload.c - the first fault kind: a control block of preload rules.
 *
 * Applying creates the block the target's preload reads; reverting switches every rule off
 * (so a target that outlived its faultline stops being faulted at its next call) and removes
 * the file. Params: {"path": "...", "rules": ["text", ...], "seed": N, "no_follow": bool,
 * "exe": "GLOB", "observe": bool, "surface": "..."} (exe: only processes whose executable
 * matches take part; observe: the preload records every call into the fault surface table
 * at `surface`, which the caller created and which revert removes too, so that a run that
 * died leaves neither behind after 'faultline recover').
 * prepare draws a token that apply writes into the block; revert touches a file only if it is
 * a block with that token (or an empty, half-created one), so it can never remove a user's
 * file or another run's block that happens to sit at the same path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prng.h"

#include "ctl.h"
#include "fault.h"
#include "rule.h"
#include "surface.h"

static int preload_prepare(const struct fl_fault_ctx *ctx, const json_t *params, json_t **undo,
                           struct fl_err *err)
{
    *undo = json_pack("{s:I}", "token", (json_int_t)(fl_seed_from_entropy() | 1));
    return *undo ? 0 : fl_err_set(err, ENOMEM, "out of memory");
}

static int preload_apply(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                         struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    json_t *rules = json_object_get(params, "rules");
    if (!path || !json_is_array(rules))
        return fl_err_set(err, EINVAL, "preload: params need path and rules");
    struct fl_rule_set *set = calloc(1, sizeof(*set));
    if (!set)
        return fl_err_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *v;
    int rc = 0;
    json_array_foreach(rules, i, v) {
        char origin[32];
        snprintf(origin, sizeof(origin), "rule %zu", i + 1);
        if ((rc = fl_rule_set_add(set, json_string_value(v) ? json_string_value(v) : "", origin,
                                  0, err)) < 0)
            goto out;
    }
    unsigned flags = json_is_true(json_object_get(params, "no_follow")) ? FL_CTL_NO_FOLLOW : 0;
    if (json_is_true(json_object_get(params, "observe")))
        flags |= FL_CTL_OBSERVE;
    struct fl_ctl_handle *h;
    rc = fl_ctl_create(path, set, (uint64_t)json_integer_value(json_object_get(params, "seed")),
                       (uint64_t)json_integer_value(json_object_get(undo, "token")), flags, &h,
                       err);
    if (rc == 0) {
        const char *exe = json_string_value(json_object_get(params, "exe"));
        if (exe)
            snprintf(h->ctl->exe, sizeof(h->ctl->exe), "%s", exe);
        fl_ctl_close(h);
    }
out:
    free(set);
    return rc;
}

/* The surface table named in params, if it is still there and is one (never a user's file). */
static void remove_surface(const json_t *params)
{
    const char *path = json_string_value(json_object_get(params, "surface"));
    struct fl_surface_handle *h;
    if (path && fl_surface_open(path, &h, NULL) == 0)
        fl_surface_close(h, true);
}

static int preload_revert(const struct fl_fault_ctx *ctx, const json_t *params, const json_t *undo,
                          struct fl_err *err)
{
    const char *path = json_string_value(json_object_get(params, "path"));
    remove_surface(params);
    if (!path)
        return 0;
    uint64_t token = (uint64_t)json_integer_value(json_object_get(undo, "token"));
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : fl_err_set(err, errno, "%s: %s", path, strerror(errno));
    struct fl_ctl_handle *h;
    if (fl_ctl_open(path, &h, NULL) == 0) {
        bool ours = h->ctl->token == token;
        if (ours) {
            fl_ctl_set_enabled(h, -1, false);
            fl_ctl_stop_observing(h);
        }
        fl_ctl_close(h);
        if (!ours)
            return 0; /* another run's block: not ours to touch */
    } else if (!(S_ISREG(st.st_mode) && st.st_size == 0)) {
        return 0; /* not a block and not a half-created one: a user's file */
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return fl_err_set(err, errno, "%s: cannot remove control block: %s", path,
                          strerror(errno));
    return 0;
}

static void preload_describe(const json_t *params, char *buf, size_t len)
{
    json_t *rules = json_object_get(params, "rules");
    snprintf(buf, len, "preload rules (%zu)%s in control block %s", json_array_size(rules),
             json_is_true(json_object_get(params, "observe")) ? " and the surface observer" : "",
             json_string_value(json_object_get(params, "path")));
}

const struct fl_fault_ops fl_fault_preload = {
    .version = FL_FAULT_OPS_VERSION,
    .name = "preload",
    .summary = "libc call faults in a running program (faultline inject)",
    .prepare = preload_prepare,
    .apply = preload_apply,
    .revert = preload_revert,
    .describe = preload_describe,
};
