/* SPDX-License-Identifier: MIT */
/* probes/sqlite.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int sqlite_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "sqlite", err, "the sqlite probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_sqlite = {
    .name = "sqlite",
    .summary = "(not implemented yet)",
    .parse = sqlite_parse,
};
