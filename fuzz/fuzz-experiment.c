/* SPDX-License-Identifier: MIT */
/*
 * fuzz-experiment.c - libFuzzer target for experiment files: the YAML/JSON loader with
 * positions (src/run/doc.c) and the checks that compile an experiment (experiment.c, and the
 * probe kinds' parsers it calls).
 *
 * Whatever the bytes, loading must not crash, hang or grow without bound (the loader caps
 * size, nodes, aliases and depth), and its outcome must be one of two: an error that is one
 * line starting with the file's name, or an experiment with a title and at most the capped
 * numbers of steps and probes, whose plan prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz-experiment: invariant failed at %s:%d: %s\n", __FILE__,       \
                    __LINE__, #cond);                                                             \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fl_experiment *e = NULL;
    struct fl_err err = {""};
    int rc = fl_experiment_load_string("fuzz.yaml", (const char *)data, size, &e, &err);
    if (rc < 0) {
        CHECK(e == NULL);
        CHECK(strncmp(err.msg, "fuzz.yaml", 9) == 0);
        CHECK(strchr(err.msg, '\n') == NULL);
        return 0;
    }
    CHECK(e && e->title && *e->title);
    CHECK(e->n_steps <= FL_EXP_MAX_STEPS && e->n_steady <= FL_EXP_MAX_PROBES);
    FILE *null = fopen("/dev/null", "w");
    if (null) {
        fl_experiment_print_plan(e, null);
        fclose(null);
    }
    fl_experiment_free(e);
    return 0;
}
