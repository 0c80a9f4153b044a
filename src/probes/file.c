/* SPDX-License-Identifier: MIT */
/* probes/file.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int file_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "file", err, "the file probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_file = {
    .name = "file",
    .summary = "(not implemented yet)",
    .parse = file_parse,
};
