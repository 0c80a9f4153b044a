/* SPDX-License-Identifier: MIT */
/* probe.c - the probe registry; see probe.h. */
#include "probe.h"

#include <errno.h>
#include <string.h>

#define FL_PROBE_REF(kind) &fl_probe_##kind,
const struct fl_probe_ops *const fl_probe_kinds[] = {FL_PROBE_KINDS(FL_PROBE_REF)};
#undef FL_PROBE_REF
const size_t fl_probe_kind_count = sizeof(fl_probe_kinds) / sizeof(fl_probe_kinds[0]);

bool fl_probe_common_key(const char *key)
{
    static const char *const common[] = {"name", "every", "timeout", "expect"};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        if (!strcmp(key, common[i]))
            return true;
    return false;
}

const struct fl_probe_ops *fl_probe_select(const struct fl_doc *doc, const json_t *spec,
                                           struct fl_err *err)
{
    if (!json_is_object(spec)) {
        fl_doc_error(doc, spec, NULL, err, "a probe must be a mapping with one of: command, "
                                           "file, http, process, sqlite, tcp");
        return NULL;
    }
    const struct fl_probe_ops *found = NULL;
    for (size_t i = 0; i < fl_probe_kind_count; i++) {
        if (!json_object_get(spec, fl_probe_kinds[i]->name))
            continue;
        if (found) {
            fl_doc_error(doc, spec, fl_probe_kinds[i]->name, err,
                         "a probe has one kind, found both '%s' and '%s'", found->name,
                         fl_probe_kinds[i]->name);
            return NULL;
        }
        found = fl_probe_kinds[i];
    }
    if (!found)
        fl_doc_error(doc, spec, NULL, err, "a probe needs one of: command, file, http, "
                                           "process, sqlite, tcp");
    return found;
}

void fl_probe_result_clear(struct fl_probe_result *r)
{
    json_decref(r->value);
    memset(r, 0, sizeof(*r));
}
