// SPDX-License-Identifier: Apache-2.0
/* Decoders of the load-balancing maps (cnictl/cmd_service.c): bytes in,
 * JSON members checked. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include <sluice/lb.h>
#include "../../cnictl/decode.h"
#include "../../cnictl/print.h"

static json_t *decode(const char *map, const void *k, __u32 ks, const void *v, __u32 vs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *arr, *e;
	json_error_t err;

	cr_assert_not_null(cnictl_decoder_find(map), "no decoder registered for %s", map);
	pr_init(true, f);
	pr_table_begin(NULL);
	cnictl_decode_entry(cnictl_decoder_find(map), k, ks, v, vs, 0);
	pr_table_end();
	cr_assert_eq(pr_end_all(), 0);
	pr_init(false, stdout);
	fclose(f);
	arr = json_loads(buf, 0, &err);
	cr_assert_not_null(arr, "%s: not JSON (%s): %s", map, err.text, buf);
	e = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	free(buf);
	return e;
}

static void expect(const char *map, const json_t *e, const char *part, const char *member,
		   const char *want)
{
	json_t *m = json_object_get(json_object_get(e, part), member);
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	char *got = m ? json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(absent)");

	cr_expect(m && json_equal(m, w), "%s: %s.%s = %s, want %s", map, part, member, got, want);
	free(got);
	json_decref(w);
}

Test(cnictl_svc, svc_and_backend)
{
	struct svc_key k = {.port = htons(80), .proto = 6, .family = SL_AF_INET};
	struct svc_val v = {.svc_id = 7,
			    .backend_count = 3,
			    .flags = SL_SVC_F_AFFINITY,
			    .affinity_timeout = 10800,
			    .rev_nat_id = 7};
	struct backend_val b = {.port = htons(8080),
				.proto = 17,
				.family = SL_AF_INET,
				.state = SL_BE_TERMINATING,
				.flags = SL_BE_F_LOCAL};
	__u32 id = 42;
	json_t *e;

	k.addr.v4 = htonl(0x0a60000a);
	b.addr.v4 = htonl(0x0af40105);
	e = decode(SL_MAP_SVC, &k, sizeof(k), &v, sizeof(v));
	expect(SL_MAP_SVC, e, "key", "frontend", "\"10.96.0.10\"");
	expect(SL_MAP_SVC, e, "key", "port", "80");
	expect(SL_MAP_SVC, e, "key", "proto", "\"TCP\"");
	expect(SL_MAP_SVC, e, "value", "svcId", "7");
	expect(SL_MAP_SVC, e, "value", "backends", "3");
	expect(SL_MAP_SVC, e, "value", "flags", "[\"affinity\"]");
	expect(SL_MAP_SVC, e, "value", "affinityTimeout", "10800");
	json_decref(e);
	e = decode(SL_MAP_BACKEND, &id, sizeof(id), &b, sizeof(b));
	expect(SL_MAP_BACKEND, e, "key", "backendId", "42");
	expect(SL_MAP_BACKEND, e, "value", "address", "\"10.244.1.5\"");
	expect(SL_MAP_BACKEND, e, "value", "port", "8080");
	expect(SL_MAP_BACKEND, e, "value", "proto", "\"UDP\"");
	expect(SL_MAP_BACKEND, e, "value", "state", "\"terminating\"");
	expect(SL_MAP_BACKEND, e, "value", "flags", "[\"local\"]");
	json_decref(e);
}

Test(cnictl_svc, maglev_revnat_affinity)
{
	static __u32 table[SL_MAGLEV_M_DEFAULT];
	struct revnat_val r = {.port = htons(53), .family = SL_AF_INET};
	struct affinity_key ak = {.svc_id = 7, .family = SL_AF_INET};
	struct affinity_val av = {.backend_id = 42};
	__u32 id = 7;
	json_t *e;

	for (unsigned int i = 0; i < SL_MAGLEV_M_DEFAULT; i++)
		table[i] = i < 500 ? 1 : 2;
	e = decode(SL_MAP_MAGLEV, &id, sizeof(id), table, sizeof(table));
	expect(SL_MAP_MAGLEV, e, "key", "svcId", "7");
	expect(SL_MAP_MAGLEV, e, "value", "slots", "1021");
	expect(SL_MAP_MAGLEV, e, "value", "slotsPerBackend", "{\"1\":500,\"2\":521}");
	json_decref(e);
	r.addr.v4 = htonl(0x0a60000a);
	e = decode(SL_MAP_REVNAT, &id, sizeof(id), &r, sizeof(r));
	expect(SL_MAP_REVNAT, e, "key", "revNatId", "7");
	expect(SL_MAP_REVNAT, e, "value", "frontend", "\"10.96.0.10\"");
	expect(SL_MAP_REVNAT, e, "value", "port", "53");
	json_decref(e);
	ak.client.v4 = htonl(0x0af40102);
	e = decode(SL_MAP_AFFINITY, &ak, sizeof(ak), &av, sizeof(av));
	expect(SL_MAP_AFFINITY, e, "key", "client", "\"10.244.1.2\"");
	expect(SL_MAP_AFFINITY, e, "value", "backendId", "42");
	json_decref(e);
}

Test(cnictl_svc, every_lb_map_has_a_decoder)
{
	static const char *const maps[] = {SL_MAP_SVC,	    SL_MAP_BACKEND, SL_MAP_MAGLEV,
					   SL_MAP_AFFINITY, SL_MAP_REVNAT,  SL_MAP_LB_NETNS,
					   SL_MAP_SK_REVNAT};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		cr_expect_not_null(cnictl_decoder_find(maps[i]), "no decoder for %s", maps[i]);
}
