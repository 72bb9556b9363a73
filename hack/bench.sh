#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: Sluice against Debian's bridge + host-local plugins and a bare
# veth pair, side by side in one run, reported as ratios (issue 2's targets):
#   - CNI ADD and DEL wall time, median and p99 over BENCH_PODS (200) pods;
#   - pod-to-pod TCP request/response (sockperf ping-pong; rate = 1e6 / (2 x
#     one-way latency in us));
#   - pod-to-pod TCP stream (iperf3).
# Everything runs in network namespaces made here and removed at exit.
#
#   sluice:  node netns "s" (sluiced) ── sl… ══ pod s-1 … s-200   (BPF redirect)
#   bridge:  node netns "b" ── cni0 bridge ══ pod b-1 … b-200     (host-local IPAM, no masq)
#   floor:   netns v1 ══ veth ══ netns v2                         (10.250.0.1 ↔ .2)
#   kernel path alone: node netns "x" ── xh1, xh2 ══ pods x1, x2  (10.251.0.2 ↔ .3)
#            Sluice's topology and hook, but a one-line program that only
#            bpf_redirect_peer()s (hack/bench/redirect_attach.c): Sluice over
#            it is what Sluice's own per-packet work costs.
#
# Other benchmark sections, run afterwards with BUILD exported, each printing
# its own table with ratios: hack/bench/feed.sh (issue 3: the controller
# fed a cluster), svc.sh (issue 4: per-packet cost, connection rate vs
# kube-proxy iptables), policy.sh (issue 5: per-packet cost by policy
# count, recompute time), then any executable hack/bench/bench_*.sh.
#
# Traffic runs in rounds: each round runs sluice, bridge and veth back to
# back (request/response, then stream), and the targets are judged on
# paired ratios, the median over rounds of sluice's figure over the other
# system's in the same round: the machine's speed drifts over seconds, and
# a same-round ratio cancels the drift. The best round of each system is
# printed too.
#
# Environment: BUILD (default build), BENCH_PODS (200), BENCH_REPS (rounds of
# traffic tests, 21), BENCH_SECS (seconds per traffic run, 1), BENCH_PIN (same:
# client and server on the last CPU, the default; split: client on CPU 0,
# server on CPU 1; none: where the scheduler puts them),
# BENCH_OUT (markdown summary, default $BUILD/bench.md), BENCH_EXTRA=0 (only
# this script's part, without the other sections), BENCH_ATTACH (tc, the
# default, or tcx: sluiced's --attach, and the kernel-path setup's hook).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
PODS=${BENCH_PODS:-200}
REPS=${BENCH_REPS:-21}
SECS=${BENCH_SECS:-1}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
OUT=${BENCH_OUT:-$BUILD/bench.md}
[ "$(id -u)" -eq 0 ] || { echo "hack/bench.sh: needs root (namespaces, BPF)" >&2; exit 1; }
for t in sockperf iperf3 jq; do
	command -v $t >/dev/null || { echo "hack/bench.sh: missing $t (run hack/deps.sh)" >&2; exit 1; }
done
[ -x /usr/lib/cni/bridge ] || { echo "hack/bench.sh: missing /usr/lib/cni/bridge (apt-get install containernetworking-plugins)" >&2; exit 1; }

E2E_NAME=bench
E2E_PFX=bn$$
# shellcheck source=../tests/e2e/lib.sh
source tests/e2e/lib.sh
E2E_FINISHED=1 # no test summary: this is not a test
ATTACH=${BENCH_ATTACH:-tc}
E2E_SLUICED_ARGS="--attach $ATTACH"
RA_BIN=$BUILD/bench/redirect_attach
make -s BUILD="$BUILD" "$BUILD/skel/bench_redirect.skel.h" "$BUILD/libsluice.a" >/dev/null &&
	mkdir -p "$BUILD/bench" &&
	cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Ilib -I"$BUILD/skel" \
		hack/bench/redirect_attach.c "$BUILD/libsluice.a" -lbpf -lelf -lz -o "$RA_BIN" ||
	{ echo "hack/bench.sh: couldn't build $RA_BIN" >&2; exit 1; }

# stats FILE: "median p99" of the numbers in FILE (nearest-rank).
stats() {
	sort -n "$1" | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		r = int(0.99 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
		printf "%.2f %.2f\n", m, v[r] }'
}
# best min|max VALUES...: the smallest or largest argument.
best() { local how=$1; shift; printf '%s\n' "$@" | sort -g | if [ "$how" = min ]; then head -n 1; else tail -n 1; fi; }
# median VALUES...: median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN {
	if (r !~ /^[0-9.]+$/ || r + 0 == 0) { print "no figure"; exit }
	ok = (dir == "le") ? (r <= t) : (r >= t); print ok ? "met" : "NOT met" }'; }

# ---- set-up ---------------------------------------------------------------------------
echo "bench: setting up (sluiced node, bridge node, $PODS pod namespaces each) ..."
node_up s 10.244.1.0/24 || { echo "bench: sluiced did not start" >&2; exit 1; }
node_setup b 10.245.0.0/24 || exit 1
bconf=$E2E_ROOT/bridge.conf
jq -n --arg d "$E2E_ROOT/host-local" '{cniVersion:"1.0.0", name:"bench-bridge", type:"bridge",
	bridge:"cni0", isGateway:true, ipMasq:false,
	ipam:{type:"host-local", subnet:"10.245.0.0/24", dataDir:$d}}' >"$bconf"
for side in s b; do
	for ((i = 1; i <= PODS; i++)); do
		ip netns add "$E2E_PFX-$side-$i" || exit 1
		E2E_NETNS+=("$E2E_PFX-$side-$i")
	done
done

# cni_time NODE SIDE VERB PLUGIN CONF: runs the verb over all pods; prints "median p99".
cni_time() {
	local f=$E2E_ROOT/t-$2-$3
	ip netns exec "$(node_netns "$1")" hack/bench/cni_loop.sh "$3" "$4" "$5" "$E2E_PFX-$2" \
		"$PODS" /usr/lib/cni "$f" >&2 || return 1
	stats "$f"
}

declare -A R=()
# ---- ADD ----------------------------------------------------------------------------
echo "bench: ADD x$PODS (sluice, then bridge)"
read -r R[s_add_med] R[s_add_p99] < <(cni_time s s ADD "$SLUICE_BIN" "$(node_conf s)") || { echo "bench: sluice ADD failed" >&2; exit 1; }
read -r R[b_add_med] R[b_add_p99] < <(cni_time b b ADD /usr/lib/cni/bridge "$bconf") || { echo "bench: bridge ADD failed" >&2; exit 1; }

# ---- traffic between pods 1 and 2 of each side, and the floor ------------------------------
ip_of_netns() { ip -n "$1" -4 -o addr show dev "$2" | awk '{print $4}' | cut -d/ -f1; }
s1=$E2E_PFX-s-1 s2=$E2E_PFX-s-2 b1=$E2E_PFX-b-1 b2=$E2E_PFX-b-2
v1=$E2E_PFX-v1 v2=$E2E_PFX-v2
ip netns add "$v1" && E2E_NETNS+=("$v1")
ip netns add "$v2" && E2E_NETNS+=("$v2")
ip -n "$v1" link add veth0 type veth peer name veth0 netns "$v2"
for n in "$v1" "$v2"; do ip -n "$n" link set lo up; ip -n "$n" link set veth0 up; done
ip -n "$v1" addr add 10.250.0.1/24 dev veth0
ip -n "$v2" addr add 10.250.0.2/24 dev veth0
# The kernel path alone: pods wired as Sluice wires them (address /32,
# default route via the gateway, permanent gateway neighbour), host veths
# whose ingress redirects to the other pod.
x=$E2E_PFX-x x1=$E2E_PFX-x1 x2=$E2E_PFX-x2
for n in "$x" "$x1" "$x2"; do ip netns add "$n" && E2E_NETNS+=("$n") && ip -n "$n" link set lo up; done
for i in 1 2; do
	p=$E2E_PFX-x$i
	ip -n "$x" link add "xh$i" type veth peer name eth0 netns "$p"
	ip -n "$x" link set "xh$i" up
	ip -n "$p" link set eth0 up
	ip -n "$p" addr add "10.251.0.$((i + 1))/32" dev eth0
	ip -n "$p" route add default via 10.251.0.1 dev eth0 onlink
	ip -n "$p" neigh add 10.251.0.1 dev eth0 nud permanent \
		lladdr "$(ip -n "$x" -br link show dev "xh$i" | awk '{print $3}')"
done
ip netns exec "$x" "$RA_BIN" xh1 xh2 "$ATTACH" && ip netns exec "$x" "$RA_BIN" xh2 xh1 "$ATTACH" ||
	{ echo "bench: couldn't attach the kernel-path programs" >&2; exit 1; }
SYSTEMS=(sluice bridge veth bpf)
declare -A SRV=([sluice]=$s2 [bridge]=$b2 [veth]=$v2 [bpf]=$x2) CLI=([sluice]=$s1 [bridge]=$b1 [veth]=$v1 [bpf]=$x1)
declare -A DST=([sluice]=$(ip_of_netns "$s2" eth0) [bridge]=$(ip_of_netns "$b2" eth0) [veth]=10.250.0.2 [bpf]=10.251.0.3)
echo "bench: traffic endpoints: sluice ${DST[sluice]}, bridge ${DST[bridge]}, veth ${DST[veth]}, kernel path ${DST[bpf]} (attach: $ATTACH)"
# Sluice's pods run in the node's cgroup, where sluiced attached its socket
# hooks, as a real pod's processes would be.
declare -A CG=([sluice]=$(node_cgroup s) [bridge]= [veth]= [bpf]=)
# run_in K NETNS CMD...: run CMD in NETNS (and K's cgroup).
run_in() { local k=$1 ns=$2; shift 2; e2e_argv "$ns" "${CG[$k]}"; "${E2E_ARGV[@]}" "$@"; }
# Client and server on one CPU by default: across CPUs, every message
# wakes the other CPU (an IPI, on a VM an exit), which costs more than the
# whole network path and varies with where the scheduler put things; on
# one CPU all three setups pay the same switches and what differs is the
# path's CPU cost (the convention of the Service benchmark, svc.sh too).
cli_cpu=() srv_cpu=()
case ${BENCH_PIN:-same} in
same) cli_cpu=(taskset -c "$(($(nproc) - 1))") srv_cpu=("${cli_cpu[@]}") ;;
split) [ "$(nproc)" -ge 2 ] && cli_cpu=(taskset -c 0) srv_cpu=(taskset -c 1) ;;
esac
for k in "${SYSTEMS[@]}"; do
	e2e_argv "${SRV[$k]}" "${CG[$k]}"
	"${E2E_ARGV[@]}" "${srv_cpu[@]}" sockperf sr --tcp -i "${DST[$k]}" -p 11111 >/dev/null 2>&1 &
	E2E_PIDS+=($!)
	disown $!
	"${E2E_ARGV[@]}" "${srv_cpu[@]}" iperf3 -s -B "${DST[$k]}" -p 5201 >/dev/null 2>&1 &
	E2E_PIDS+=($!)
	disown $!
done
sleep 1

# Each round runs the four request/response tests back to back, then the
# four streams: the machine's speed drifts by tens of percent over
# seconds, so a ratio of two figures from the same round ("paired") cancels
# the drift that a ratio of two best-ofs from different minutes keeps.
declare -A LAT=() BPS=() LATR=() BPSR=() # LATR[k.round], BPSR[k.round]
for ((r = 1; r <= REPS; r++)); do
	for k in "${SYSTEMS[@]}"; do
		l=$(run_in "$k" "${CLI[$k]}" timeout $((SECS + 20)) "${cli_cpu[@]}" sockperf pp --tcp -i "${DST[$k]}" -p 11111 -t "$SECS" 2>&1 |
			sed -n 's/.*Summary: Latency is \([0-9.]*\) usec.*/\1/p')
		LAT[$k]+="${l:-nan} " LATR[$k.$r]=${l:-0}
	done
	for k in "${SYSTEMS[@]}"; do
		bps=$(run_in "$k" "${CLI[$k]}" timeout $((SECS + 20)) "${cli_cpu[@]}" iperf3 -c "${DST[$k]}" -p 5201 -t "$SECS" -J 2>/dev/null |
			jq -r '.end.sum_received.bits_per_second // empty')
		BPS[$k]+="${bps:-0} " BPSR[$k.$r]=${bps:-0}
	done
	echo "bench: round $r one-way latency (us) / stream (Gbit/s): $(for k in "${SYSTEMS[@]}"; do
		printf '%s %s / %s  ' "$k" "${LATR[$k.$r]}" "$(awk -v b="${BPSR[$k.$r]}" 'BEGIN { printf "%.2f", b / 1e9 }')"; done)"
done
for k in "${SYSTEMS[@]}"; do
	# shellcheck disable=SC2086
	R[${k}_lat]=$(best min ${LAT[$k]})
	# shellcheck disable=SC2086
	R[${k}_lat_med]=$(median ${LAT[$k]})
	# shellcheck disable=SC2086
	R[${k}_gbps]=$(awk -v b="$(best max ${BPS[$k]})" 'BEGIN { printf "%.2f", b / 1e9 }')
	# shellcheck disable=SC2086
	R[${k}_gbps_med]=$(awk -v b="$(median ${BPS[$k]})" 'BEGIN { printf "%.2f", b / 1e9 }')
	# sockperf reports half the round trip; transactions/s = 1e6 / (2 * latency).
	R[${k}_rr]=$(awk -v l="${R[${k}_lat]}" 'BEGIN { if (l > 0) printf "%.0f", 1e6 / (2 * l); else print 0 }')
done
# ratios ARRAY A B INVERT: the per-round ratios ARRAY[A.r] / ARRAY[B.r],
# sorted (INVERT=1: B / A, for latencies, so that > 1 means A is faster).
ratios() {
	local -n arr=$1
	local r a b
	for ((r = 1; r <= REPS; r++)); do
		a=${arr[$2.$r]:-0} b=${arr[$3.$r]:-0}
		[ "$4" = 1 ] && { local t=$a; a=$b b=$t; }
		awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0 && b > 0) printf "%.4f\n", a / b }'
	done | sort -g
}
# paired ARRAY A B INVERT: the median of those ratios (what targets judge).
paired() {
	ratios "$@" | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# spread ARRAY A B INVERT: "P25–P75" of those ratios (nearest rank): how far
# one round's ratio strays on this machine.
spread() {
	ratios "$@" | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
		lo = int(0.25 * NR + 0.999999); hi = int(0.75 * NR + 0.999999)
		if (lo < 1) lo = 1; if (hi > NR) hi = NR
		printf "%.2f–%.2f", v[lo], v[hi] }'
}
R[rr_b_pair]=$(paired LATR sluice bridge 1)
R[rr_v_pair]=$(paired LATR sluice veth 1)
R[st_b_pair]=$(paired BPSR sluice bridge 0)
R[st_v_pair]=$(paired BPSR sluice veth 0)
R[rr_x_pair]=$(paired LATR sluice bpf 1)
for k in rr_b:LATR:bridge:1 rr_v:LATR:veth:1 st_b:BPSR:bridge:0 st_v:BPSR:veth:0 rr_x:LATR:bpf:1; do
	IFS=: read -r key arr other inv <<<"$k"
	R[${key}_iqr]=$(spread "$arr" sluice "$other" "$inv")
done
R[rr_xv_pair]=$(paired LATR bpf veth 1)
R[rr_xb_pair]=$(paired LATR bpf bridge 1)

# ---- DEL ----------------------------------------------------------------------------
echo "bench: DEL x$PODS (sluice, then bridge)"
read -r R[s_del_med] R[s_del_p99] < <(cni_time s s DEL "$SLUICE_BIN" "$(node_conf s)") || { echo "bench: sluice DEL failed" >&2; exit 1; }
read -r R[b_del_med] R[b_del_p99] < <(cni_time b b DEL /usr/lib/cni/bridge "$bconf") || { echo "bench: bridge DEL failed" >&2; exit 1; }

# ---- report --------------------------------------------------------------------------
s_sum=$(awk -v a="${R[s_add_med]}" -v b="${R[s_del_med]}" 'BEGIN { print a + b }')
b_sum=$(awk -v a="${R[b_add_med]}" -v b="${R[b_del_med]}" 'BEGIN { print a + b }')
r_cni=$(ratio "$s_sum" "$b_sum")
r_rr_b=$(ratio "${R[sluice_rr]}" "${R[bridge_rr]}")
r_rr_v=$(ratio "${R[sluice_rr]}" "${R[veth_rr]}")
r_st_b=$(ratio "${R[sluice_gbps]}" "${R[bridge_gbps]}")
r_st_v=$(ratio "${R[sluice_gbps]}" "${R[veth_gbps]}")
{
	echo "Sluice benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)"
	echo "($PODS pods for ADD/DEL; traffic: $REPS rounds of ${SECS}s per system; targets judged on the paired medians:"
	echo "median over rounds of sluice's figure over the other system's in the same round; reproduce: sudo make bench)"
	echo
	echo "| measure | sluice | bridge+host-local | veth pair (floor) | sluice / bridge | sluice / floor | target |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
	echo "| ADD median / p99 (ms) | ${R[s_add_med]} / ${R[s_add_p99]} | ${R[b_add_med]} / ${R[b_add_p99]} | – | $(ratio "${R[s_add_med]}" "${R[b_add_med]}") | – | |"
	echo "| DEL median / p99 (ms) | ${R[s_del_med]} / ${R[s_del_p99]} | ${R[b_del_med]} / ${R[b_del_p99]} | – | $(ratio "${R[s_del_med]}" "${R[b_del_med]}") | – | |"
	echo "| ADD+DEL median (ms) | $s_sum | $b_sum | – | $r_cni | – | ≤ 0.30× bridge: $(verdict "$r_cni" 0.3 le) |"
	echo "| TCP request/response, best round (trans/s) | ${R[sluice_rr]} | ${R[bridge_rr]} | ${R[veth_rr]} | $r_rr_b | $r_rr_v | |"
	echo "| TCP request/response, paired median (P25–P75) | | | | ${R[rr_b_pair]} (${R[rr_b_iqr]}) | ${R[rr_v_pair]} (${R[rr_v_iqr]}) | ≥ 1.2× bridge: $(verdict "${R[rr_b_pair]}" 1.2 ge); ≥ 0.95× floor: $(verdict "${R[rr_v_pair]}" 0.95 ge) |"
	echo "| TCP one-way latency, best / median (µs) | ${R[sluice_lat]} / ${R[sluice_lat_med]} | ${R[bridge_lat]} / ${R[bridge_lat_med]} | ${R[veth_lat]} / ${R[veth_lat_med]} | | | |"
	echo "| TCP stream, best round (Gbit/s) | ${R[sluice_gbps]} | ${R[bridge_gbps]} | ${R[veth_gbps]} | $r_st_b | $r_st_v | |"
	echo "| TCP stream, paired median (P25–P75) | | | | ${R[st_b_pair]} (${R[st_b_iqr]}) | ${R[st_v_pair]} (${R[st_v_iqr]}) | ≥ 1.0× bridge: $(verdict "${R[st_b_pair]}" 1.0 ge) |"
	echo "| TCP stream, median (Gbit/s) | ${R[sluice_gbps_med]} | ${R[bridge_gbps_med]} | ${R[veth_gbps_med]} | | | |"
	echo
	echo "The kernel path alone (Sluice's veths and $ATTACH hook, a program that only calls bpf_redirect_peer):"
	echo "request/response best round ${R[bpf_rr]} trans/s; paired: ${R[rr_xv_pair]}× the floor, ${R[rr_xb_pair]}× the bridge;"
	echo "Sluice over it: ${R[rr_x_pair]} (P25–P75 ${R[rr_x_iqr]}; what Sluice's own per-packet work costs)."
} | tee "$OUT"
echo "bench: summary written to $OUT"

# ---- other sections ------------------------------------------------------------------------
[ "${BENCH_EXTRA:-1}" = 0 ] && exit 0
for b in hack/bench/feed.sh hack/bench/svc.sh hack/bench/policy.sh hack/bench/bench_*.sh; do
	[ -x "$b" ] || continue
	echo
	echo "bench: $b"
	"$b" || echo "bench: $b failed (exit $?)"
done
exit 0
