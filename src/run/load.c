/* SPDX-License-Identifier: MIT */
/* load.c - placeholder until the load generator lands. */
#include "load.h"

#include <errno.h>

int fl_load_check(const struct fl_doc *doc, const json_t *spec, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "load: not implemented yet");
}

int fl_load_start(const json_t *spec, int64_t t0_ns, struct fl_load **out, struct fl_err *err)
{
    return fl_err_set(err, ENOTSUP, "load: not implemented yet");
}

json_t *fl_load_stop(struct fl_load *load) { return NULL; }
