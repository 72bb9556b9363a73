// SPDX-License-Identifier: Apache-2.0
/* cnictl status: sluiced's health (request "status") and the map fill
 * levels read from the pins, which still show when sluiced is down. */
#include <stdlib.h>
#include <string.h>

#include "cnictl.h"
#include "print.h"

static int status(int argc, char **argv)
{
	json_t *reply = NULL, *st = NULL, *v;
	char *err_msg = NULL;
	const char *k;
	int err, merr, r = CNICTL_OK;

	if (argc > 1)
		return cnictl_usage("status: unexpected argument '%s'", argv[1]);
	err = cnictl_request_quiet("status", NULL, &reply, &err_msg);
	if (!err) {
		st = json_object_get(reply, "status");
		if (!json_is_object(st)) {
			err = -1;
			free(err_msg);
			err_msg = strdup("sluiced: status reply has no \"status\" object");
		}
	}

	pr_obj_begin(NULL);
	pr_obj_begin("controller");
	pr_bool("running", !err);
	pr_str("socket", cnictl_opts.socket);
	if (err) {
		pr_str("error", err_msg ? err_msg : "status request failed");
	} else {
		json_object_foreach(st, k, v) if (strcmp(k, "objects") && strcmp(k, "maps"))
		    pr_json_value(k, v);
	}
	pr_obj_end();
	if (!err) {
		json_t *objs = json_object_get(st, "objects");

		/* Kinds as one "Pod=3,Service=2" line in text. */
		pr_map_begin("objects");
		json_object_foreach(objs, k, v) pr_json_value(k, v);
		pr_map_end();
	}
	/* A failed status is still an error for scripts: the same top-level
	 * "error" member every command prints in JSON mode, beside what could
	 * be read from the pins. */
	if (err && pr_is_json())
		pr_str("error", err_msg ? err_msg : "status request failed");
	pr_str("bpffs", cnictl_opts.bpffs);
	merr = cnictl_print_map_table("maps");
	if (merr)
		pr_strf("mapsError", "couldn't read the pin root %s: %s", cnictl_opts.bpffs,
			strerror(-merr));
	pr_obj_end();

	if (err) {
		if (!pr_is_json())
			fprintf(cnictl_opts.err, "cnictl: %s\n",
				err_msg ? err_msg : "status request failed");
		r = CNICTL_FAIL;
	}
	free(err_msg);
	json_decref(reply);
	return r;
}

/* `cnictl status` takes no verb: a top-level leaf. */
CNICTL_COMMAND(cnictl_cmd_status) = {
    .name = "status",
    .help = "controller health, objects known, map fill levels (exit 1 if sluiced is down)",
    .run = status,
};
