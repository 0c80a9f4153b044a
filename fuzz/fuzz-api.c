/* SPDX-License-Identifier: MIT */
/*
 * fuzz-api.c - libFuzzer target for the proxy API's request-body decoding (fl_api_check_body).
 *
 * Every body a client POSTs or PATCHes goes through that decoder on the loop thread, so a crash
 * or a hang there takes every proxy down with it. The first byte picks the request kind (proxy
 * create, proxy update, toxic create, toxic update, populate); the rest is the body. Whatever
 * the input, the decoder must answer with a status the API uses, an error reply must be the
 * {"error","status"} object with the same status and a trailing newline (/populate: its own
 * shape, with "proxies" and no newline), and an accepted toxic
 * must come back as a toxic object. Violations abort(), which libFuzzer (or the replay main)
 * reports with the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz-api: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                       \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum fl_api_body kind = (enum fl_api_body)(data[0] % (FL_API_POPULATE + 1));
    char *reply = NULL;
    size_t len = 0;
    int status = fl_api_check_body(kind, (const char *)data + 1, size - 1, &reply, &len);
    CHECK(status == 200 || status == 201 || status == 400 || status == 409 || status == 500);
    if (status >= 400) {
        /* /populate's errors are JSON without the newline and carry "proxies" (null here:
         * nothing is created by a body check) */
        bool populate = kind == FL_API_POPULATE;
        CHECK(reply && len > 1 && (reply[len - 1] == '\n') != populate);
        json_t *o = json_loadb(reply, len, 0, NULL);
        CHECK(o && json_is_object(o));
        CHECK(json_is_string(json_object_get(o, "error")));
        CHECK(json_integer_value(json_object_get(o, "status")) == status);
        CHECK(!populate || json_is_null(json_object_get(o, "proxies")));
        json_decref(o);
    } else if (kind == FL_API_TOXIC_CREATE || kind == FL_API_TOXIC_UPDATE) {
        json_t *o = reply ? json_loadb(reply, len, 0, NULL) : NULL;
        CHECK(o && json_is_object(json_object_get(o, "attributes")));
        CHECK(json_is_string(json_object_get(o, "name")));
        CHECK(json_is_string(json_object_get(o, "type")));
        CHECK(json_is_number(json_object_get(o, "toxicity")));
        json_decref(o);
    }
    free(reply);
    return 0;
}
