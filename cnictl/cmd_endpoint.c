// SPDX-License-Identifier: Apache-2.0
/* cnictl endpoint list|get: sluiced's endpoints over the socket
 * (requests endpoint.list, endpoint.get). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cnictl.h"
#include "print.h"

/* Columns people need; -o json carries every member of the record. */
static const char *const ep_cols[] = {
    "id", "namespace", "pod", "ips", "identity", "hostIfname", "hostIfindex", "mac", NULL,
};
static const char *const ep_cols_verbose[] = {
    "id",  "namespace", "pod",	       "ips",	 "identity", "hostIfname", "hostIfindex",
    "mac", "hostMac",	"containerID", "ifname", "netns",    NULL,
};

static int ep_list(int argc, char **argv)
{
	json_t *reply, *eps;

	if (argc > 1)
		return cnictl_usage("endpoint list: unexpected argument '%s'", argv[1]);
	if (cnictl_request("endpoint.list", NULL, &reply))
		return CNICTL_FAIL;
	eps = json_object_get(reply, "endpoints");
	if (!json_is_array(eps)) {
		json_decref(reply);
		return cnictl_fail("sluiced: endpoint.list reply has no \"endpoints\" list");
	}
	pr_json_table(NULL, eps, cnictl_opts.verbose ? ep_cols_verbose : ep_cols);
	json_decref(reply);
	return CNICTL_OK;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* An endpoint by numeric id or container ID (prefix, like docker): the
 * socket has no request for those, so search the list. */
static int ep_find(const char *arg, json_t **out)
{
	json_t *reply, *eps, *ep, *hit = NULL;
	size_t i, nhits = 0;

	*out = NULL;
	if (cnictl_request("endpoint.list", NULL, &reply))
		return CNICTL_FAIL;
	eps = json_object_get(reply, "endpoints");
	json_array_foreach(eps, i, ep)
	{
		const char *cid = json_string_value(json_object_get(ep, "containerID"));
		json_t *id = json_object_get(ep, "id");
		bool match;

		if (all_digits(arg))
			match =
			    json_is_integer(id) && json_integer_value(id) == strtoll(arg, NULL, 10);
		else
			match = cid && !strncmp(cid, arg, strlen(arg));
		if (match) {
			hit = ep;
			nhits++;
		}
	}
	if (nhits == 1)
		*out = json_incref(hit);
	json_decref(reply);
	if (nhits > 1)
		return cnictl_fail("'%s' matches %zu endpoints: give more of the container ID", arg,
				   nhits);
	if (!nhits)
		return cnictl_fail("no endpoint with %s '%s'",
				   all_digits(arg) ? "id" : "container ID", arg);
	return CNICTL_OK;
}

static int ep_get(int argc, char **argv)
{
	json_t *reply = NULL, *ep;
	int r;

	if (argc != 2)
		return cnictl_usage("usage: cnictl endpoint get ID|CONTAINER-ID|NS/POD");
	if (strchr(argv[1], '/')) {
		char *ns, *pod;
		json_t *args;

		if (cnictl_parse_ns_name(argv[1], NULL, &ns, &pod))
			return cnictl_usage("endpoint get: '%s' is not NAMESPACE/POD", argv[1]);
		args = json_pack("{s:s, s:s}", "namespace", ns, "pod", pod);
		free(ns);
		free(pod);
		if (!args)
			return cnictl_fail("out of memory");
		if (cnictl_request("endpoint.get", args, &reply))
			return CNICTL_FAIL;
		ep = json_incref(json_object_get(reply, "endpoint"));
		json_decref(reply);
		if (!json_is_object(ep)) {
			json_decref(ep);
			return cnictl_fail(
			    "sluiced: endpoint.get reply has no \"endpoint\" object");
		}
	} else if ((r = ep_find(argv[1], &ep))) {
		return r;
	}
	pr_json_value(NULL, ep);
	json_decref(ep);
	return CNICTL_OK;
}

static const struct cmd ep_verbs[] = {
    {.name = "list", .help = "endpoints on this node (-v: more columns)", .run = ep_list},
    {.name = "get",
     .args = "ID|CONTAINER-ID|NS/POD",
     .help = "one endpoint, every field, and the programs its host veth runs (tc or tcx)",
     .run = ep_get},
    {0},
};

CNICTL_COMMAND(cnictl_cmd_endpoint) = {
    .name = "endpoint",
    .help = "pods on this node as sluiced knows them",
    .subs = ep_verbs,
};
