// SPDX-License-Identifier: Apache-2.0
/* cnictl identity list: sluiced's identities over the socket (identity.list). */
#include "cnictl.h"
#include "print.h"

static const char *const id_cols[] = {"id", "namespace", "labels", "pods", NULL};
static const char *const id_cols_verbose[] = {
    "id", "namespace", "labels", "namespaceLabels", "pods", NULL,
};

static int id_list(int argc, char **argv)
{
	json_t *reply, *ids;

	if (argc > 1)
		return cnictl_usage("identity list: unexpected argument '%s'", argv[1]);
	if (cnictl_request("identity.list", NULL, &reply))
		return CNICTL_FAIL;
	ids = json_object_get(reply, "identities");
	if (!json_is_array(ids)) {
		json_decref(reply);
		return cnictl_fail("sluiced: identity.list reply has no \"identities\" list");
	}
	pr_json_table(NULL, ids, cnictl_opts.verbose ? id_cols_verbose : id_cols);
	json_decref(reply);
	return CNICTL_OK;
}

static const struct cmd id_verbs[] = {
    {.name = "list",
     .help = "security identities with their labels (-v: namespace labels)",
     .run = id_list},
    {0},
};

CNICTL_COMMAND(cnictl_cmd_identity) = {
    .name = "identity",
    .help = "security identities (label sets) of the cluster",
    .subs = id_verbs,
};
