/* SPDX-License-Identifier: MIT */
/* fault.c - the fault registry and the journal protocol; see fault.h. */
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define FL_FAULT_REF(kind) &fl_fault_##kind,
const struct fl_fault_ops *const fl_fault_kinds[] = {FL_FAULT_KINDS(FL_FAULT_REF)};
#undef FL_FAULT_REF
const size_t fl_fault_kind_count = sizeof(fl_fault_kinds) / sizeof(fl_fault_kinds[0]);

const struct fl_fault_ops *fl_fault_find(const char *name)
{
    for (size_t i = 0; i < fl_fault_kind_count; i++)
        if (strcmp(fl_fault_kinds[i]->name, name) == 0)
            return fl_fault_kinds[i];
    return NULL;
}

static void make_ctx(struct fl_journal *j, const char *id, struct fl_fault_ctx *ctx)
{
    ctx->id = id;
    ctx->state_dir = j->state;
    snprintf(ctx->backup_dir, sizeof(ctx->backup_dir), "%s/backups/%s", j->state, id);
}

int fl_fault_backup_dir(const struct fl_fault_ctx *ctx, struct fl_err *err)
{
    char parent[4200];
    snprintf(parent, sizeof(parent), "%s/backups", ctx->state_dir);
    if (mkdir(parent, 0700) < 0 && errno != EEXIST)
        return fl_err_set(err, errno, "%s: cannot create: %s", parent, strerror(errno));
    if (mkdir(ctx->backup_dir, 0700) < 0 && errno != EEXIST)
        return fl_err_set(err, errno, "%s: cannot create: %s", ctx->backup_dir,
                          strerror(errno));
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int fl_remove_tree(const char *dir)
{
    if (access(dir, F_OK) < 0)
        return 0;
    return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

int fl_fault_apply(struct fl_journal *j, const char *kind, json_t *params, int64_t expires_ns,
                   struct fl_applied *out, struct fl_err *err)
{
    const struct fl_fault_ops *ops = fl_fault_find(kind);
    if (!ops)
        return fl_err_set(err, ENOENT, "unknown fault kind '%s'", kind);
    char why[256] = "";
    if (ops->supported && ops->supported(why, sizeof(why)) < 0)
        return fl_err_set(err, ENOTSUP, "%s: not available here: %s", kind, why);
    pid_t self = getpid();
    json_t *entry = json_pack("{s:s, s:O, s:n, s:{s:i, s:I}, s:I, s:o}", "kind", kind, "params",
                              params, "undo", "owner", "pid", (int)self, "start",
                              (json_int_t)fl_proc_starttime(self), "created",
                              (json_int_t)fl_wall_ns(), "expires",
                              expires_ns ? json_integer(expires_ns) : json_null());
    if (!entry)
        return fl_err_set(err, ENOMEM, "cannot build journal entry");
    int rc = fl_journal_write(j, entry, out->id, sizeof(out->id), err);
    if (rc < 0) {
        json_decref(entry);
        return rc;
    }
    struct fl_fault_ctx ctx;
    make_ctx(j, out->id, &ctx);
    ctx.report = json_object();
    json_t *undo = NULL;
    rc = ops->prepare ? ops->prepare(&ctx, params, &undo, err) : 0;
    if (rc >= 0) {
        json_object_set_new(entry, "undo", undo ? undo : json_object());
        rc = fl_journal_update(j, entry, err);
    }
    /* Not revert: an apply that failed (say, because its target already existed) must not
     * undo what it never did; it cleans up its own partial work. */
    if (rc >= 0)
        rc = ops->apply(&ctx, params, json_object_get(entry, "undo"), err);
    if (rc < 0) {
        fl_remove_tree(ctx.backup_dir);
        fl_journal_remove(j, out->id, NULL);
        json_decref(entry);
        json_decref(ctx.report);
        return rc;
    }
    out->ops = ops;
    out->entry = entry;
    out->report = ctx.report;
    return 0;
}

int fl_fault_revert(struct fl_journal *j, struct fl_applied *a, struct fl_err *err)
{
    if (!a->entry)
        return 0;
    /* Under the journal lock, and only if the entry is still there: `faultline restore` or
     * `recover --all` may have reverted it already, and its backups are gone with it. */
    int lock = fl_journal_lock(j);
    char path[4500];
    snprintf(path, sizeof(path), "%s/%s.json", j->dir, a->id);
    int rc = 0;
    if (access(path, F_OK) == 0 || errno != ENOENT)
        rc = fl_fault_revert_entry(j, a->entry, err);
    if (lock >= 0)
        close(lock);
    json_decref(a->entry);
    json_decref(a->report);
    a->entry = NULL;
    a->report = NULL;
    return rc;
}

int fl_fault_detach(struct fl_journal *j, struct fl_applied *a, struct fl_err *err)
{
    if (!a->entry)
        return 0;
    json_object_set_new(a->entry, "detached", json_true());
    int rc = fl_journal_update(j, a->entry, err);
    json_decref(a->entry);
    json_decref(a->report);
    a->entry = NULL;
    a->report = NULL;
    return rc;
}

int fl_fault_revert_entry(struct fl_journal *j, json_t *entry, struct fl_err *err)
{
    const char *kind = json_string_value(json_object_get(entry, "kind"));
    const char *id = json_string_value(json_object_get(entry, "id"));
    const struct fl_fault_ops *ops = kind ? fl_fault_find(kind) : NULL;
    if (!ops || !id)
        return fl_err_set(err, EINVAL, "journal entry %s: unknown kind '%s'", id ? id : "?",
                          kind ? kind : "?");
    struct fl_fault_ctx ctx;
    make_ctx(j, id, &ctx);
    ctx.report = NULL;
    json_t *undo = json_object_get(entry, "undo");
    /* a null undo: killed while preparing, before any harm */
    if (undo && !json_is_null(undo)) {
        int rc = ops->revert(&ctx, json_object_get(entry, "params"), undo, err);
        if (rc < 0)
            return rc;
    }
    int rc = fl_remove_tree(ctx.backup_dir);
    if (rc < 0)
        return fl_err_set(err, -rc, "%s: cannot remove backups: %s", ctx.backup_dir,
                          strerror(-rc));
    return fl_journal_remove(j, id, err);
}

int fl_fault_sweep_backups(struct fl_journal *j)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/backups", j->state);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        /* The entry is written before its backup directory is made, so a directory listed
         * here whose entry is missing now had its entry removed by a finished revert. */
        char entry[4500], sub[4500];
        snprintf(entry, sizeof(entry), "%s/%s.json", j->dir, de->d_name);
        if (access(entry, F_OK) == 0 || errno != ENOENT)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        if (fl_remove_tree(sub) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int fl_fault_exit_status(int neg_errno)
{
    switch (-neg_errno) {
    case EINVAL:
    case EISDIR:
    case ENOTDIR:
    case EFBIG:
    case ERANGE:
    case EEXIST:
    case ENOTEMPTY:
        return FL_EXIT_USAGE;
    case ENOENT:
    case ESRCH:
    case ENOTSUP:
    case EPERM:
    case EACCES:
    case EROFS:
    case ENOSPC:
    case ENOMEM:
        return FL_EXIT_NORESOURCE;
    default:
        return FL_EXIT_FAILED;
    }
}

void fl_fault_describe_entry(const json_t *entry, char *buf, size_t len)
{
    const char *kind = json_string_value(json_object_get(entry, "kind"));
    const struct fl_fault_ops *ops = kind ? fl_fault_find(kind) : NULL;
    if (ops && ops->describe)
        ops->describe(json_object_get(entry, "params"), buf, len);
    else
        snprintf(buf, len, "%s", kind ? kind : "(unknown kind)");
}

long fl_fault_effects(const struct fl_fault_ops *ops, const json_t *report, char *what,
                      size_t len)
{
    if (ops && ops->effects)
        return ops->effects(report, what, len);
    snprintf(what, len, "applied");
    return 1;
}
