// SPDX-License-Identifier: Apache-2.0
/* Map decoders: key/value bytes in, JSON (checked field by field) and text
 * out. Table-driven over the core maps. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include <sluice/ct.h>
#include <sluice/endpoint.h>
#include <sluice/events.h>
#include <sluice/ipcache.h>
#include <sluice/metrics.h>
#include "../../cnictl/decode.h"
#include "../../cnictl/print.h"

struct entry {
	const char *map;
	const void *key;
	__u32 key_size;
	const void *value;
	__u32 value_size;
	unsigned int ncpu;
};

static const struct entry *cur;

static void print_cur(void)
{
	cnictl_decode_entry(cnictl_decoder_find(cur->map), cur->key, cur->key_size, cur->value,
			    cur->value_size, cur->ncpu);
}

static char *render(const struct entry *e, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cur = e;
	pr_init(json, f);
	pr_table_begin(NULL);
	print_cur();
	pr_table_end();
	cr_assert_eq(pr_end_all(), 0);
	pr_init(false, stdout); /* before fclose: pr_init flushes the old stream */
	fclose(f);
	return buf;
}

/* The decoded entry as JSON: [{"key":..,"value":..}] -> the object. */
static json_t *decode_json(const struct entry *e)
{
	char *out = render(e, true);
	json_error_t err;
	json_t *arr = json_loads(out, 0, &err), *v;

	cr_assert_not_null(arr, "%s: not JSON (%s): %s", e->map, err.text, out);
	cr_assert_eq(json_array_size(arr), 1, "%s: want one entry: %s", e->map, out);
	v = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	free(out);
	return v;
}

/* Compare v at a "key.member" path with the JSON text want. */
static void expect_member(const char *map, json_t *v, const char *path, const char *want)
{
	char *dup = strdup(path), *dot = strchr(dup, '.');
	json_t *m, *w = json_loads(want, JSON_DECODE_ANY, NULL);
	char *got;

	*dot = 0;
	m = json_object_get(json_object_get(v, dup), dot + 1);
	got = m ? json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(absent)");
	cr_expect(m && json_equal(m, w), "%s: %s = %s, want %s", map, path, got, want);
	free(got);
	json_decref(w);
	free(dup);
}

Test(decode, registry_has_the_core_maps)
{
	const char *maps[] = {SL_MAP_EP, SL_MAP_IPCACHE,  SL_MAP_METRICS,   SL_MAP_EP_STATS,
			      SL_MAP_CT, SL_MAP_CT_STATS, SL_MAP_EVENT_RATE};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		const struct cnictl_decoder *d = cnictl_decoder_find(maps[i]);

		cr_expect_not_null(d, "no decoder for %s", maps[i]);
		if (d)
			cr_expect_str_eq(d->map, maps[i]);
	}
	cr_expect_null(cnictl_decoder_find("sluice_nope"), "unknown map must have no decoder");
}

Test(decode, endpoint)
{
	struct ep_key k = {.family = SL_AF_INET};
	struct ep_info v = {.ifindex = 7,
			    .ep_id = 3,
			    .identity = 256,
			    .flags = 1,
			    .mac = {2, 0, 0, 0, 0, 0xaa},
			    .host_mac = {0xee, 1, 2, 3, 4, 5},
			    .netns_cookie = 4096};
	struct entry e = {SL_MAP_EP, &k, sizeof(k), &v, sizeof(v), 0};
	json_t *j;
	char *text;

	inet_pton(AF_INET, "10.1.0.5", &k.addr.v4);
	j = decode_json(&e);
	expect_member("ep", j, "key.ip", "\"10.1.0.5\"");
	expect_member("ep", j, "value.ifindex", "7");
	expect_member("ep", j, "value.endpoint", "3");
	expect_member("ep", j, "value.identity", "256");
	expect_member("ep", j, "value.mac", "\"02:00:00:00:00:aa\"");
	expect_member("ep", j, "value.hostMac", "\"ee:01:02:03:04:05\"");
	expect_member("ep", j, "value.flags", "[\"host-netns\"]");
	expect_member("ep", j, "value.netnsCookie", "4096");
	json_decref(j);
	text = render(&e, false);
	cr_expect(strstr(text, "IP ") && strstr(text, "HOST-MAC") && strstr(text, "10.1.0.5") &&
		      strstr(text, "02:00:00:00:00:aa"),
		  "text table: %s", text);
	free(text);
}

Test(decode, ipcache_both_families)
{
	static const struct {
		__u8 family;
		const char *addr;
		unsigned int plen;
		__be32 node;
		const char *want_cidr, *want_node;
	} cases[] = {
	    {SL_AF_INET, "10.1.0.0", 24, 0, "\"10.1.0.0/24\"", "null"},
	    {SL_AF_INET, "10.2.3.4", 32, 0x0100000a, "\"10.2.3.4/32\"", "\"10.0.0.1\""},
	    {SL_AF_INET6, "fd00::", 64, 0, "\"fd00::/64\"", "null"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipcache_key k = {.prefixlen = SL_IPCACHE_PREFIX_BASE + cases[i].plen,
					.family = cases[i].family};
		struct ipcache_val v = {
		    .identity = 300 + (__u32)i, .node_ip = cases[i].node, .flags = SL_IPC_F_LOCAL};
		struct entry e = {SL_MAP_IPCACHE, &k, sizeof(k), &v, sizeof(v), 0};
		char want_id[8];
		json_t *j;

		inet_pton(cases[i].family == SL_AF_INET ? AF_INET : AF_INET6, cases[i].addr,
			  &k.addr);
		j = decode_json(&e);
		snprintf(want_id, sizeof(want_id), "%u", 300 + (unsigned)i);
		expect_member("ipcache", j, "key.cidr", cases[i].want_cidr);
		expect_member("ipcache", j, "value.identity", want_id);
		expect_member("ipcache", j, "value.node", cases[i].want_node);
		expect_member("ipcache", j, "value.flags", "[\"local\"]");
		json_decref(j);
	}
}

Test(decode, metrics_sum_over_cpus)
{
	__u32 idx = SL_DROP_POLICY_EGRESS * SL_DIR_MAX + SL_DIR_INGRESS;
	struct metrics_val v[3] = {{1, 100}, {2, 200}, {4, 400}};
	struct entry e = {SL_MAP_METRICS, &idx, sizeof(idx), v, sizeof(v[0]), 3};
	struct metrics_val zero[2] = {0};
	json_t *j = decode_json(&e);

	expect_member("metrics", j, "key.reason", "\"policy-denied-egress\"");
	expect_member("metrics", j, "key.dir", "\"ingress\"");
	expect_member("metrics", j, "value.packets", "7");
	expect_member("metrics", j, "value.bytes", "700");
	json_decref(j);
	cr_expect(!cnictl_decode_skip(cnictl_decoder_find(SL_MAP_METRICS), &idx, 4, v, 16, 3),
		  "non-zero counters must be shown");
	cr_expect(cnictl_decode_skip(cnictl_decoder_find(SL_MAP_METRICS), &idx, 4, zero, 16, 2),
		  "all-zero counters are hidden");
}

Test(decode, ep_stats_sum)
{
	__u32 id = 12;
	struct ep_stats v[2] = {{1, 2, 3, 4, 5, 6}, {10, 20, 30, 40, 50, 60}};
	struct ep_stats zero[2] = {0};
	struct entry e = {SL_MAP_EP_STATS, &id, 4, v, sizeof(v[0]), 2};
	struct entry ez = {SL_MAP_EP_STATS, &id, 4, zero, sizeof(zero[0]), 2};
	const struct cnictl_decoder *dec = cnictl_decoder_find(SL_MAP_EP_STATS);
	json_t *j = decode_json(&e);

	cr_assert_not_null(dec);
	cr_expect(!cnictl_decode_skip(dec, e.key, 4, e.value, sizeof(v[0]), 2),
		  "counting slot hidden");
	cr_expect(cnictl_decode_skip(dec, ez.key, 4, ez.value, sizeof(zero[0]), 2),
		  "unused slot (all zero) shown");
	expect_member("ep_stats", j, "key.endpoint", "12");
	expect_member("ep_stats", j, "value.txPackets", "11");
	expect_member("ep_stats", j, "value.rxBytes", "44");
	expect_member("ep_stats", j, "value.dropBytes", "66");
	json_decref(j);
}

Test(decode, conntrack_frontend)
{
	struct ct_key k = {.sport = htons(40000), .dport = htons(80), .proto = 6};
	struct ct_entry v = {.expires_ns = cnictl_ktime_now() + 100500000000ull,
			     .packets = 3,
			     .bytes = 180,
			     .rev_nat_id = 5,
			     .backend_id = 9,
			     .src_identity = 256,
			     .state = SL_CT_ESTABLISHED,
			     .flags = SL_CT_F_FRONT,
			     .tcp_flags_orig = 0x12,
			     .tcp_flags_reply = 0,
			     .nat_port = htons(8080)};
	struct entry e = {SL_MAP_CT, &k, sizeof(k), &v, sizeof(v), 0};
	json_t *j, *exp;

	inet_pton(AF_INET, "10.1.0.5", &k.saddr);
	inet_pton(AF_INET, "10.96.0.10", &k.daddr);
	inet_pton(AF_INET, "10.1.0.7", &v.nat_addr);
	j = decode_json(&e);
	expect_member("ct", j, "key.src", "\"10.1.0.5\"");
	expect_member("ct", j, "key.sport", "40000");
	expect_member("ct", j, "key.dst", "\"10.96.0.10\"");
	expect_member("ct", j, "key.dport", "80");
	expect_member("ct", j, "key.proto", "\"TCP\"");
	expect_member("ct", j, "value.scope", "\"svc\"");
	expect_member("ct", j, "value.state", "\"established\"");
	expect_member("ct", j, "value.flags", "[\"front\"]");
	expect_member("ct", j, "value.packets", "3");
	expect_member("ct", j, "value.revNat", "5");
	expect_member("ct", j, "value.backend", "9");
	expect_member("ct", j, "value.srcIdentity", "256");
	expect_member("ct", j, "value.tcpOrig", "\"SA\"");
	expect_member("ct", j, "value.tcpReply", "\"-\"");
	expect_member("ct", j, "value.natAddr", "\"10.1.0.7\"");
	expect_member("ct", j, "value.natPort", "8080");
	expect_member("ct", j, "value.client", "null");
	exp = json_object_get(json_object_get(j, "value"), "expiresIn");
	cr_expect(json_is_integer(exp) && json_integer_value(exp) >= 99 &&
		      json_integer_value(exp) <= 100,
		  "expiresIn should be ~100 s, got %lld", (long long)json_integer_value(exp));
	json_decref(j);
}

Test(decode, conntrack_hairpin_connection)
{
	struct ct_key k = {.sport = htons(40000), .dport = htons(8080), .proto = 6};
	struct ct_entry v = {.expires_ns = 1,
			     .state = SL_CT_NEW,
			     .flags = SL_CT_F_SVC | SL_CT_F_HAIRPIN,
			     .nat_port = htons(80)};
	struct entry e = {SL_MAP_CT, &k, sizeof(k), &v, sizeof(v), 0};
	json_t *j, *exp;

	inet_pton(AF_INET, "169.254.42.1", &k.saddr);
	inet_pton(AF_INET, "10.1.0.5", &k.daddr);
	inet_pton(AF_INET, "10.96.0.10", &v.nat_addr);
	inet_pton(AF_INET, "10.1.0.5", &v.client_addr);
	j = decode_json(&e);
	expect_member("ct", j, "key.src", "\"169.254.42.1\"");
	expect_member("ct", j, "value.scope", "\"conn\"");
	expect_member("ct", j, "value.state", "\"new\"");
	expect_member("ct", j, "value.flags", "[\"svc\",\"hairpin\"]");
	expect_member("ct", j, "value.natAddr", "\"10.96.0.10\"");
	expect_member("ct", j, "value.natPort", "80");
	expect_member("ct", j, "value.client", "\"10.1.0.5\"");
	exp = json_object_get(json_object_get(j, "value"), "expiresIn");
	cr_expect(json_integer_value(exp) <= 0, "a past deadline is negative or 0, got %lld",
		  (long long)json_integer_value(exp));
	json_decref(j);
}

Test(decode, conntrack_plain_udp)
{
	struct ct_key k = {.sport = htons(53), .dport = htons(5353), .proto = 17};
	struct ct_entry v = {.expires_ns = 1, .state = SL_CT_NEW};
	struct entry e = {SL_MAP_CT, &k, sizeof(k), &v, sizeof(v), 0};
	json_t *j;

	inet_pton(AF_INET, "10.1.0.5", &k.saddr);
	inet_pton(AF_INET, "10.1.0.6", &k.daddr);
	j = decode_json(&e);
	expect_member("ct", j, "key.proto", "\"UDP\"");
	expect_member("ct", j, "value.scope", "\"conn\"");
	expect_member("ct", j, "value.flags", "[]");
	expect_member("ct", j, "value.natAddr", "null");
	json_decref(j);
}

Test(decode, ct_stats_and_ev_rate)
{
	__u32 idx = SL_CT_STAT_EXPIRED, slot = 0;
	__u64 counts[2] = {5, 6};
	struct sl_ev_rate r[2] = {{.last_ns = 1, .tokens = 10, .suppressed = 3},
				  {.last_ns = 2, .tokens = 20, .suppressed = 4}};
	struct entry e1 = {SL_MAP_CT_STATS, &idx, 4, counts, 8, 2};
	struct entry e2 = {SL_MAP_EVENT_RATE, &slot, 4, r, sizeof(r[0]), 2};
	json_t *j = decode_json(&e1);

	expect_member("ct_stats", j, "key.counter", "\"expired\"");
	expect_member("ct_stats", j, "value.count", "11");
	json_decref(j);
	j = decode_json(&e2);
	expect_member("ev_rate", j, "value.suppressed", "7");
	expect_member("ev_rate", j, "value.tokens", "30");
	json_decref(j);
}

Test(decode, unknown_or_mismatched_is_hex)
{
	__u32 k = 0x01020304;
	__u8 v[3] = {0xaa, 0xbb, 0xcc};
	struct entry unknown = {"sluice_future", &k, 4, v, 3, 0};
	/* sluice_ep with the wrong sizes: a newer datapath. */
	struct entry mismatch = {SL_MAP_EP, &k, 4, v, 3, 0};
	__u64 pc[2] = {1, 2};
	struct entry percpu = {"sluice_future", &k, 4, pc, 8, 2};
	json_t *j;
	char *text;

	j = decode_json(&unknown);
	cr_expect_str_eq(json_string_value(json_object_get(j, "key")), "04030201");
	cr_expect_str_eq(json_string_value(json_object_get(j, "value")), "aabbcc");
	json_decref(j);
	j = decode_json(&mismatch);
	cr_expect_str_eq(json_string_value(json_object_get(j, "value")), "aabbcc",
			 "size mismatch must fall back to hex");
	json_decref(j);
	j = decode_json(&percpu);
	cr_expect_eq(json_array_size(json_object_get(j, "value")), 2, "one hex string per CPU");
	json_decref(j);
	text = render(&unknown, false);
	cr_expect_str_eq(text, "KEY          VALUE\n04 03 02 01  aa bb cc\n", "got:\n%s", text);
	free(text);
}

static void print_event(void)
{
	struct sl_event ev = {.type = SL_EV_DROP,
			      .reason = SL_DROP_POLICY_INGRESS,
			      .dir = SL_DIR_INGRESS,
			      .family = SL_AF_INET,
			      .proto = 6,
			      .ifindex = 9,
			      .src_identity = 256,
			      .dst_identity = 257,
			      .len = 60,
			      .sport = htons(1234),
			      .dport = htons(80),
			      .policy_id = 4};

	inet_pton(AF_INET, "10.1.0.5", &ev.saddr.v4);
	inet_pton(AF_INET, "10.1.0.6", &ev.daddr.v4);
	cnictl_pr_event(&ev, false);
}

Test(decode, event_line_text_and_json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	pr_init(false, f);
	print_event();
	pr_init(true, f);
	print_event();
	pr_init(false, stdout);
	fclose(f);
	cr_assert_str_eq(
	    buf,
	    "drop policy-denied-ingress ingress TCP 10.1.0.5 sport=1234 10.1.0.6 dport=80 "
	    "ifindex=9 srcIdentity=256 dstIdentity=257 len=60 policy=4\n"
	    "{\"type\":\"drop\",\"reason\":\"policy-denied-ingress\",\"dir\":\"ingress\","
	    "\"proto\":\"TCP\",\"src\":\"10.1.0.5\",\"sport\":1234,\"dst\":\"10.1.0.6\","
	    "\"dport\":80,\"ifindex\":9,\"srcIdentity\":256,\"dstIdentity\":257,\"len\":60,"
	    "\"policy\":4}\n",
	    "got:\n%s", buf);
	free(buf);
}
