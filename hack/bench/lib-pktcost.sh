#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by hack/bench/svc.sh and policy.sh (sourced after tests/e2e/lib.sh;
# they set REPO, BUILD, BENCH_BIN and CALLS): building and running the
# per-packet cost tool (hack/bench/pktcost.c) and formatting its figures.

BENCH_CFLAGS="-O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing"

# build_pktcost: $BENCH_BIN/pktcost, linked with the controller library (it
# writes Services and policies the way sluiced does).
build_pktcost() {
	mkdir -p "$BENCH_BIN"
	make -s -C "$REPO" BUILD="$BUILD" "$BUILD/skel/bench_empty.skel.h" "$BUILD/libctl.a" \
		"$BUILD/libsluice.a" "$BUILD/skel/from_pod.skel.h" >/dev/null || return 1
	# shellcheck disable=SC2086
	(cd "$REPO" && cc $BENCH_CFLAGS -I. -Iinclude -Ilib -I"$BUILD/skel" hack/bench/pktcost.c \
		-Wl,--whole-archive "$BUILD/libctl.a" -Wl,--no-whole-archive "$BUILD/libsluice.a" \
		-lbpf -lelf -lz -lmnl -ljansson -lyaml -lpthread -o "$BENCH_BIN/pktcost")
}

# field KEY LINE: the value of KEY=VALUE in LINE.
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
# ratio A B: A/B with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# verdict OK: PASS/MISS.
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
# check EXPR A B: PASS/MISS of the awk condition EXPR over a and b (MISS
# when a figure is missing or zero).
check() { verdict "$(awk -v a="$2" -v b="$3" "BEGIN { print (a > 0 && b > 0 && ($1)) ? 1 : 0 }")"; }

# run_pktcost SET: runs pktcost's SET (svc|policy) cases, prints its output
# indented, checks it ran, and fills NS_OF[case] (best ns/packet) and
# VS[case] (paired ratio). Sets PKT_RC to pktcost's exit status.
run_pktcost() {
	local out line c
	out=$("$BENCH_BIN/pktcost" -n "$CALLS" "$1" 2>&1)
	PKT_RC=$?
	printf '%s\n' "$out" | sed 's/^/#   /'
	expect_eq "pktcost $1 ran" "$PKT_RC" 0
	declare -gA NS_OF=() VS=()
	while read -r line; do
		c=$(field case "$line")
		[ -n "$c" ] || continue
		NS_OF[$c]=$(field best_ns "$line")
		VS[$c]=$(sed -n 's/.* vs_[a-z0-9_]*=\([0-9.]*\).*/\1/p' <<<"$line")
	done <<<"$out"
}
