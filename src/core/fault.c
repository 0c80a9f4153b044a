/* SPDX-License-Identifier: MIT */
/* fault.c - the fault registry and the journal protocol; see fault.h. */
#include "fault.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
    json_t *undo = NULL;
    int rc = ops->prepare ? ops->prepare(params, &undo, err) : 0;
    if (rc < 0)
        return rc;
    if (!undo)
        undo = json_object();
    pid_t self = getpid();
    json_t *entry = json_pack("{s:s, s:O, s:o, s:{s:i, s:I}, s:I, s:o}", "kind", kind, "params",
                              params, "undo", undo, "owner", "pid", (int)self, "start",
                              (json_int_t)fl_proc_starttime(self), "created",
                              (json_int_t)now_ns(), "expires",
                              expires_ns ? json_integer(expires_ns) : json_null());
    if (!entry)
        return fl_err_set(err, ENOMEM, "cannot build journal entry");
    rc = fl_journal_write(j, entry, out->id, sizeof(out->id), err);
    if (rc < 0) {
        json_decref(entry);
        return rc;
    }
    rc = ops->apply(params, json_object_get(entry, "undo"), err);
    if (rc < 0) {
        /* Not revert: an apply that failed (say, because its target already existed) must
         * not undo what it never did; it cleans up its own partial work. */
        fl_journal_remove(j, out->id, NULL);
        json_decref(entry);
        return rc;
    }
    out->ops = ops;
    out->entry = entry;
    return 0;
}

int fl_fault_revert(struct fl_journal *j, struct fl_applied *a, struct fl_err *err)
{
    if (!a->entry)
        return 0;
    int rc = fl_fault_revert_entry(j, a->entry, err);
    json_decref(a->entry);
    a->entry = NULL;
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
    int rc = ops->revert(json_object_get(entry, "params"), json_object_get(entry, "undo"), err);
    if (rc < 0)
        return rc;
    return fl_journal_remove(j, id, err);
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
