/* SPDX-License-Identifier: MIT */
/* probes/process.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int process_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "process", err, "the process probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_process = {
    .name = "process",
    .summary = "(not implemented yet)",
    .parse = process_parse,
};
