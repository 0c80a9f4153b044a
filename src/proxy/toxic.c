/* SPDX-License-Identifier: MIT */
/*
 * toxic.c - the registry of toxic kinds, built from FL_TOXICS(X) in toxic.h.
 */
#include <string.h>

#include "toxic.h"

#define FL_TOXIC_ENTRY(t) &fl_toxic_##t,
const struct fl_toxic_ops *const fl_toxic_registry[] = {FL_TOXICS(FL_TOXIC_ENTRY)};
#undef FL_TOXIC_ENTRY
const size_t fl_toxic_count = sizeof(fl_toxic_registry) / sizeof(fl_toxic_registry[0]);

const struct fl_toxic_ops *fl_toxic_find(const char *type)
{
    for (size_t i = 0; i < fl_toxic_count; i++)
        if (!strcmp(fl_toxic_registry[i]->type, type))
            return fl_toxic_registry[i];
    return NULL;
}
