/* SPDX-License-Identifier: MIT */
/*
 * api.h - what api.c offers beyond proxy.h: the /metrics switches and the request-body
 * decoder on its own.
 *
 * The decoder is the part of the API that reads untrusted bytes (Go-like JSON rules:
 * case-insensitive keys, last duplicate wins, null means default, only the first value is
 * read, wrong types are a 400), so it is callable without a server or a loop: fuzz/fuzz-api.c
 * feeds it arbitrary bodies. Kept out of proxy.h, which is the engine's contract.
 */
#ifndef FL_API_H
#define FL_API_H

#include <stdbool.h>
#include <stddef.h>

struct fl_api;

/* Turn on /metrics (404 while both are false, as in the reference). Call before the loop runs. */
void fl_api_set_metrics(struct fl_api *api, bool proxy_metrics, bool runtime_metrics);

/* Which request a body belongs to. */
enum fl_api_body {
    FL_API_PROXY_CREATE,  /* POST /proxies */
    FL_API_PROXY_UPDATE,  /* POST|PATCH /proxies/{p} */
    FL_API_TOXIC_CREATE,  /* POST /proxies/{p}/toxics (no name-conflict check) */
    FL_API_TOXIC_UPDATE,  /* POST|PATCH /proxies/{p}/toxics/{t}, onto a default latency toxic */
    FL_API_POPULATE,      /* POST /populate, validation step only */
};

/* Decode and validate one body as the server would, touching no proxy. Returns the HTTP status
 * the server would answer with (2xx: accepted); *reply gets the reply body the server would
 * send for an error or a toxic (malloc'd, may be NULL; free it), *reply_len its length. */
int fl_api_check_body(enum fl_api_body kind, const char *data, size_t len, char **reply,
                      size_t *reply_len);

#endif
