/* SPDX-License-Identifier: MIT */
/* probes/http.c - placeholder until the kind lands. */
#include <errno.h>

#include "probe.h"

static int http_parse(const struct fl_doc *doc, const json_t *spec, void **state,
                      struct fl_err *err)
{
    return fl_doc_error(doc, spec, "http", err, "the http probe is not implemented yet");
}

const struct fl_probe_ops fl_probe_http = {
    .name = "http",
    .summary = "(not implemented yet)",
    .parse = http_parse,
};
