/* SPDX-License-Identifier: MIT */
/* probes/command.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int command_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "command", err, "the command probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_command = {
    .name = "command",
    .summary = "(not implemented yet)",
    .parse = command_parse,
};
