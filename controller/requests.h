/* SPDX-License-Identifier: Apache-2.0 */
/* Requests on the socket: {"request":"NAME", ...}. Each module exports a
 * table; requests.c looks the name up in all of them. */
#ifndef SLUICE_REQUESTS_H
#define SLUICE_REQUESTS_H

#include <stddef.h>
#include <jansson.h>

/* Fill the reply object (the caller adds "ok":true), or return -errno with
 * err set; the caller then answers {"ok":false,"error":err}. */
typedef int (*request_fn)(const json_t *req, json_t *reply, char *err, size_t errlen);

struct request_handler {
	const char *name; /* "endpoint.add" */
	request_fn fn;
};

/* NULL-name-terminated tables, one per module. */
extern const struct request_handler endpoint_requests[]; /* endpoints.c */
extern const struct request_handler status_requests[];   /* status.c */
extern const struct request_handler model_requests[];    /* model: identity.list, ... */
extern const struct request_handler service_requests[];  /* services */
extern const struct request_handler policy_requests[];   /* policy */

#endif
