// SPDX-License-Identifier: Apache-2.0
/* {"request":NAME,...} dispatch over every module's table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "requests.h"

int requests_dispatch(const json_t *req, json_t *reply, char *err, size_t errlen)
{
	const struct request_handler *tables[] = {
	    endpoint_requests, status_requests, model_requests, service_requests, policy_requests,
	};
	const char *name = json_string_value(json_object_get(req, "request"));

	if (!name) {
		snprintf(err, errlen, "request: must be a string");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		for (const struct request_handler *h = tables[i]; h->name; h++)
			if (!strcmp(h->name, name))
				return h->fn(req, reply, err, errlen);
	}
	snprintf(err, errlen, "unknown request '%.64s'", name);
	return -EOPNOTSUPP;
}
