/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map decoders for `cnictl bpf map dump NAME` (and anything else that wants
 * to show a pinned map's entries): one `struct cnictl_decoder` per map name,
 * registered from any file under cnictl/ with CNICTL_DECODER, no central list.
 *
 *	static void lb_svc_key(const void *k)
 *	{
 *		const struct lb_svc_key *key = k;
 *		char ip[SL_ADDR_STRLEN];
 *
 *		pr_str("frontend", sl_addr_str(&key->addr, key->family, ip, sizeof(ip)));
 *		pr_u64("port", ntohs(key->port));
 *		pr_str("proto", sl_proto_name(key->proto));
 *	}
 *	static void lb_svc_value(const void *k, const void *v) { ... pr_u64(...); }
 *
 *	CNICTL_DECODER(dec_lb_svc) = {
 *		.map = "sluice_lb_svc",
 *		.key_size = sizeof(struct lb_svc_key),
 *		.value_size = sizeof(struct lb_svc_val),
 *		.key = lb_svc_key,
 *		.value = lb_svc_value,
 *	};
 *
 * The dump prints, per entry, an object {"key": {...}, "value": {...}}: the
 * key callback fills "key", the value callback fills "value", both through
 * the printer (print.h) with the current object open, so they only print
 * leaves (pr_str, pr_u64, ...) and nested containers. In text mode the two
 * objects are flattened into the columns of one table row, so member names
 * should be unique across a map's key and value ("src", "dst", "identity").
 *
 * Conventions, so every map reads alike:
 *  - addresses as strings via sl_addr_str / sl_cidr_str, ports as numbers in
 *    host order, protocols by name (sl_proto_name), drop reasons by name
 *    (sl_reason_name), MACs "aa:bb:cc:dd:ee:ff", durations in seconds;
 *  - flags as an array of names (pr_arr_begin("flags"); pr_str(NULL, "svc")...);
 *  - every member present in every entry (no conditional fields).
 *
 * Per-CPU maps (PERCPU_ARRAY, PERCPU_HASH, LRU_PERCPU_HASH): the dumper reads
 * all CPUs' values. With .sum_u64 set (every value field is a __u64 counter)
 * it adds them up and calls .value once with the sum. Otherwise it calls
 * .percpu with the raw values (ncpu of them, `stride` bytes apart, each
 * value_size bytes long); .value is then unused.
 *
 * A map with no decoder, or whose key/value sizes differ from the decoder's
 * (a datapath newer than this cnictl), dumps as hex ("key": "0a00...").
 */
#ifndef CNICTL_DECODE_H
#define CNICTL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

struct cnictl_decoder {
	const char *map; /* pinned map name, e.g. "sluice_ct" */
	const char *doc; /* one line: what the map holds (shown by `map list -v`) */
	__u32 key_size;	 /* expected sizes; the dump falls back to hex on mismatch */
	__u32 value_size;
	void (*key)(const void *key);
	void (*value)(const void *key, const void *value);
	bool sum_u64; /* per-CPU map of __u64 counters: sum over CPUs, then .value */
	void (*percpu)(const void *key, const void *values, unsigned int ncpu, size_t stride);
	/* Optional: keep the entry out of the dump (e.g. all-zero counters) unless
	 * -v. value is what .value would get (the sum for sum_u64 maps); not
	 * called for .percpu maps. */
	bool (*skip)(const void *key, const void *value);
};

#define CNICTL_DECODER(var)                                                                        \
	extern const struct cnictl_decoder var;                                                    \
	static const struct cnictl_decoder *const var##_reg                                        \
	    __attribute__((used, section("cnictl_decoders"), aligned(sizeof(void *)))) = &var;     \
	const struct cnictl_decoder var

/* The decoder registered for map name, or NULL. */
const struct cnictl_decoder *cnictl_decoder_find(const char *map);

/*
 * Print one entry as an object {"key":..,"value":..} (a table row if a
 * table is open, else a top-level object). value points at value_size bytes,
 * or, for per-CPU maps (percpu_ncpu > 0), at percpu_ncpu values each
 * round_up(value_size, 8) bytes apart. dec may be NULL (hex). Used by the
 * dumper and by tests (bytes in, text or JSON out).
 */
void cnictl_decode_entry(const struct cnictl_decoder *dec, const void *key, __u32 key_size,
			 const void *value, __u32 value_size, unsigned int percpu_ncpu);
/* Whether dec->skip hides this entry (same arguments; false without skip). */
bool cnictl_decode_skip(const struct cnictl_decoder *dec, const void *key, __u32 key_size,
			const void *value, __u32 value_size, unsigned int percpu_ncpu);

/* Helpers for decoders. */
/* Print a MAC as "aa:bb:cc:dd:ee:ff". */
void cnictl_pr_mac(const char *key, const uint8_t mac[6]);
/* Print an address of the given family (SL_AF_*) or "?" for an unknown family. */
void cnictl_pr_addr(const char *key, const void *sl_addr, uint8_t family);
/* Print an IPv4 address in network order. */
void cnictl_pr_v4(const char *key, __be32 addr);
/* Print ktime-based deadline as seconds from now (negative: already past). */
void cnictl_pr_ktime_left(const char *key, uint64_t deadline_ns);
/* Current bpf_ktime_get_ns() equivalent (CLOCK_MONOTONIC) in ns. */
uint64_t cnictl_ktime_now(void);
/* "new", "established", "closing" for enum sl_ct_state; "?" otherwise. */
const char *cnictl_ct_state_name(unsigned int state);
/* Events (cnictl monitor): "drop", "policy", "trace" for enum sl_event_type. */
const char *cnictl_event_type_name(unsigned int type);
/* Print one event as a line object (time only when with_time: it depends on
 * the clock, so tests leave it out). */
struct sl_event;
void cnictl_pr_event(const struct sl_event *ev, bool with_time);
/* Print set bits of flags as an array of names; bits without a name as "0xN".
 * names[i] names bit i (NULL entries are unnamed). */
void cnictl_pr_flags(const char *key, uint64_t flags, const char *const *names,
		     unsigned int nnames);

#endif
