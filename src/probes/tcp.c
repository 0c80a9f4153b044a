/* SPDX-License-Identifier: MIT */
/* probes/tcp.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int tcp_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "tcp", err, "the tcp probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_tcp = {
    .name = "tcp",
    .summary = "(not implemented yet)",
    .parse = tcp_parse,
};
