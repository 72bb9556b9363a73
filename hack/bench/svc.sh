#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Service benchmark (issue 4). Two parts, one table each:
#
# 1. Per-packet cost of from_pod through BPF_PROG_TEST_RUN (hack/bench/pktcost
#    svc): plain pod-to-pod, and a ClusterIP packet (first packet of a
#    connection, and an established flow) with 1, 1000 and 10000 Services in
#    the maps, against the empty tc program (tests/datapath/bench_empty.bpf.c).
#    Target: ClusterIP <= 100 ns over empty, flat from 1 to 10000.
# 2. Real traffic (hack/bench/svc_tcp): connection rate (connect + 1-byte
#    request/response + close) and request latency (persistent ping-pong)
#    from a pod to a ClusterIP with 1, 1000 and 10000 Services, against
#    kube-proxy's iptables rules for the same Services and against the
#    backend pod IP (the floor). Targets: flat within 10%; >= 2x iptables
#    at 10000; within 10% of the floor. One setup per Service count, all up
#    at once and measured in the same rounds (paired ratios, see below).
#
#   Sluice, for each N in 1 1000 10000 (tests/e2e/lib.sh, real sluiced + CNI):
#   ┌──────────── node netns <pfx>-nN: sluiced, from_pod/to_pod, N Services ────────────┐
#   │  sl.. ──veth── eth0 [<pfx>-bench-client-N]   sl.. ──veth── eth0 [<pfx>-bench-server-N]
#   └───────────────────────────────────────────────────────────────────────────────────┘
#   kube-proxy iptables mode, for each N (separate namespaces, nothing of Sluice):
#   [<pfx>-iptc-N] eth0 ──veth── hc [<pfx>-iptn-N: ip_forward, KUBE-* nat rules] hs ──veth── eth0 [<pfx>-ipts-N]
#
# The client runs in two ways on Sluice: inside the node's cgroup, as a
# pod's processes do (the cgroup connect hook of sock.bpf.c translates the
# ClusterIP once per connection: "sock"), and outside it (no socket hook:
# every packet is translated by from_pod/to_pod: "tc").
#
# Environment: BUILD (default <repo>/build), SVC_BENCH_SECS (seconds per
# measurement, default 0.5), SVC_BENCH_ROUNDS (rounds, default 11; each runs
# every path at every Service count; ratios are medians over rounds), SVC_BENCH_CALLS (BPF_PROG_TEST_RUN calls per
# case, default 200000), SVC_BENCH_CPU (the CPU clients and servers are
# pinned to, default 1). Needs root. Touches nothing outside the
# namespaces and mounts it creates (all removed on exit).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by lib.sh
E2E_NAME=bench/svc
# shellcheck source=../../tests/e2e/lib.sh
source "$REPO/tests/e2e/lib.sh"
# shellcheck source=lib-pktcost.sh
source "$REPO/hack/bench/lib-pktcost.sh"

SECS=${SVC_BENCH_SECS:-0.5}
ROUNDS=${SVC_BENCH_ROUNDS:-11}
CALLS=${SVC_BENCH_CALLS:-200000}
SIZES=(1 1000 10000)
BENCH_BIN=$BUILD/bench
VIP=10.96.0.10
LIFETIME=900 # servers die after this many seconds whatever happens
# Clients and servers all run on one CPU: a ping-pong between two processes
# otherwise measures where the scheduler put them (same CPU, or wakeups
# across CPUs) more than the datapath; on one CPU every path pays the same
# switches and the difference is the network path's CPU cost.
PIN=(taskset -c "${SVC_BENCH_CPU:-1}")

# ---- build -------------------------------------------------------------------

bench_build() {
	build_pktcost || return 1
	# shellcheck disable=SC2086
	cc $BENCH_CFLAGS "$REPO/hack/bench/svc_tcp.c" -o "$BENCH_BIN/svc_tcp"
}
expect_ok "build pktcost and svc_tcp" bench_build || e2e_finish


# ---- 1. per-packet cost ------------------------------------------------------

echo "# svc: per-packet cost (BPF_PROG_TEST_RUN, $CALLS calls per case (30000 for first packets),"
echo "# every case in its own from_pod instance, all interleaved in 10 rounds; load average $(cut -d' ' -f1-3 /proc/loadavg))"
run_pktcost svc

if [ "$PKT_RC" = 0 ]; then
	E=${NS_OF[empty]}
	echo
	echo "ns/packet: median of the least disturbed of 10 rounds. paired ratio: median over rounds of"
	echo "this case / the reference case in the same round (1 svc: vs pod-to-pod; more: vs 1 svc)."
	printf '%-26s %10s %11s %13s %13s\n' "case" "ns/packet" "over empty" "over pod-pod" "paired ratio"
	printf '%-26s %10s %11s %13s %13s\n' "empty tc program" "$E" "-" "-" "-"
	for c in p2p_est p2p_first; do
		printf '%-26s %10s %11s %13s %13s\n' "pod-to-pod ${c#p2p_}" "${NS_OF[$c]}" \
			"$((NS_OF[$c] - E))" "-" "-"
	done
	for s in "${SIZES[@]}"; do
		for k in est first; do
			v=${NS_OF[svc${s}_$k]} b=${NS_OF[p2p_$k]}
			printf '%-26s %10s %11s %13s %13s\n' "ClusterIP $k, $s svc" "$v" "$((v - E))" \
				"$((v - b))" "${VS[svc${s}_$k]}"
		done
	done
	for k in est first; do
		hi=${NS_OF[svc10000_$k]} pp=${NS_OF[p2p_$k]} r=${VS[svc10000_$k]}
		echo "target: ClusterIP $k <= 100 ns over empty at 10000 Services: $((hi - E)) ns -> $(verdict $((hi - E <= 100)))" \
			"(the Service part, over plain pod-to-pod: $((hi - pp)) ns)"
		echo "target: flat 1 -> 10000 Services ($k): paired ratio $r -> $(check 'a <= 1.10' "$r" 1)"
	done
fi

# ---- 2. real traffic ------------------------------------------------------------
#
# Every Service count has its own Sluice node (sluiced, a client pod and a
# server pod) and its own kube-proxy router namespace, all up at once, so
# each round measures every size and every path back to back. The machine's
# speed drifts by tens of percent over seconds; a ratio of two figures
# taken in the same round ("paired") cancels that drift, a ratio of figures
# from different minutes does not. "Flat" is such a paired ratio too: the
# 10000-Service node against the 1-Service node in the same round.
#
# Every path has its own server port: the server closes first, so its side
# keeps TIME_WAIT sockets, and TCP timestamps are offset per (source,
# destination) pair as the client sees it (ClusterIP or pod IP). A new SYN
# from a reused client port whose timestamp belongs to another path's offset
# fails PAWS in that TIME_WAIT and stalls for a retransmission: a benchmark
# artefact that separate ports avoid. Paths: floor -> pod:8080, ClusterIP
# with socket hooks ("sock", 10.96.0.10 -> pod:8081), ClusterIP in tc
# ("tc", 10.96.0.11 -> pod:8082); iptables: floor -> pod:8080, ClusterIP
# 10.96.0.10 -> pod:8081.
echo
echo "# svc: real traffic, $ROUNDS rounds of ${SECS}s per path and Service count (each round runs them all)"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with other work)"
VIP_TC=10.96.0.11
IPT_CLIENT=10.250.1.10 IPT_SERVER=10.250.1.11 IPT_GW=10.250.1.1
F=$E2E_ROOT/svc-feed.json
declare -A SERVER_IP=()

# feed_file NODE FILE: feeds every JSON value of FILE (one per line) and
# checks that each got {"ok":true}.
feed_file() {
	local want got
	want=$(wc -l <"$2")
	got=$(timeout 300 socat -t 120 - "UNIX-CONNECT:$(node_socket "$1")" <"$2" | grep -c '"ok":true')
	[ "$got" -eq "$want" ] || { echo "fed $want values, $got accepted" >&2; return 1; }
}

# serve_ports NETNS PORT...: one svc_tcp server per port in NETNS.
serve_ports() {
	local ns=$1 port; shift
	for port in "$@"; do
		ip netns exec "$ns" "${PIN[@]}" "$BENCH_BIN/svc_tcp" server "$port" "$LIFETIME" &
		E2E_PIDS+=("$!")
	done
}

# sluice_setup SIZE: node n<SIZE> with pods bench/client-SIZE and
# bench/server-SIZE, the two Services under test and SIZE-2 fillers.
sluice_setup() {
	local s=$1 n=n$1 t0
	node_up "$n" || return 1
	pod_add "$n" bench "client-$s" || return 1
	pod_add "$n" bench "server-$s" || return 1
	SERVER_IP[$s]=$(pod_ip bench "server-$s")
	serve_ports "$(pod_netns bench "server-$s")" 8080 8081 8082
	{
		python3 "$REPO/hack/bench/svc_gen.py" target target "$VIP" "${SERVER_IP[$s]}" 8081 "$n"
		python3 "$REPO/hack/bench/svc_gen.py" target target-tc "$VIP_TC" "${SERVER_IP[$s]}" 8082 "$n"
		python3 "$REPO/hack/bench/svc_gen.py" feed 1 "$((s - 1))"
	} >"$F"
	t0=$(date +%s.%N)
	feed_file "$n" "$F" || return 1
	echo "#   sluiced n$s: fed $(($(wc -l <"$F") / 2)) Services + EndpointSlices in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
}

# ipt_setup SIZE: kube-proxy iptables mode for SIZE Services, nothing of
# Sluice: client netns <pfx>-iptc-SIZE, router <pfx>-iptn-SIZE (forwarding,
# KUBE-* nat rules), server <pfx>-ipts-SIZE.
ipt_setup() {
	local s=$1 ns dev pair t0
	local n=$E2E_PFX-iptn-$s c=$E2E_PFX-iptc-$s sv=$E2E_PFX-ipts-$s
	for ns in "$n" "$c" "$sv"; do
		ip netns add "$ns" || return 1
		E2E_NETNS+=("$ns")
		ip -n "$ns" link set lo up || return 1
	done
	ip -n "$n" link add hc type veth peer name eth0 netns "$c" || return 1
	ip -n "$n" link add hs type veth peer name eth0 netns "$sv" || return 1
	ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1 || return 1
	for dev in hc hs; do
		ip -n "$n" addr add "$IPT_GW/32" dev "$dev" || return 1
		ip -n "$n" link set "$dev" up || return 1
	done
	ip -n "$n" route add "$IPT_CLIENT/32" dev hc || return 1
	ip -n "$n" route add "$IPT_SERVER/32" dev hs || return 1
	for pair in "$c:$IPT_CLIENT" "$sv:$IPT_SERVER"; do
		ns=${pair%%:*}
		ip -n "$ns" addr add "${pair#*:}/32" dev eth0 || return 1
		ip -n "$ns" link set eth0 up || return 1
		ip -n "$ns" route add "$IPT_GW/32" dev eth0 scope link || return 1
		ip -n "$ns" route add default via "$IPT_GW" dev eth0 onlink || return 1
	done
	serve_ports "$sv" 8080 8081
	python3 "$REPO/hack/bench/svc_gen.py" iptables "$s" "$VIP" "$IPT_SERVER:8081" 10.250.0.0/16 \
		>"$E2E_ROOT/ipt.rules" || return 1
	t0=$(date +%s.%N)
	ip netns exec "$n" iptables-restore "$E2E_ROOT/ipt.rules" || return 1
	echo "#   iptables $s: restore of $(grep -c '^-A' "$E2E_ROOT/ipt.rules") rules in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s"
}

for s in "${SIZES[@]}"; do
	expect_ok "Sluice node with $s Services" sluice_setup "$s" || e2e_finish
	expect_ok "kube-proxy iptables rules for $s Services" ipt_setup "$s" || e2e_finish
done
sleep 0.3

# run_client WHERE SIZE MODE IP PORT: one measurement (crr or rr) on the
# SIZE setup; WHERE is "sock" (client pod netns + node cgroup: socket
# hooks), "tc" (client pod netns only) or "ipt" (the iptables client netns).
run_client() {
	case $1 in
	sock) e2e_argv "$(pod_netns bench "client-$2")" "$(node_cgroup "n$2")" ;;
	tc) e2e_argv "$(pod_netns bench "client-$2")" "" ;;
	ipt) e2e_argv "$E2E_PFX-iptc-$2" "" ;;
	esac
	timeout 60 "${E2E_ARGV[@]}" "${PIN[@]}" "$BENCH_BIN/svc_tcp" "$3" "$4" "$5" "$SECS"
}

# rate LINE: the rate of a result line.
rate() { local r; r=$(field conn_per_s "$1"); [ -n "$r" ] || r=$(field rr_per_s "$1"); echo "${r:-0}"; }

# flush_conntrack: every setup starts each round with empty conntrack
# tables, so earlier rounds' closed connections (10 s close timeout) never
# make a later round pay LRU evictions.
flush_conntrack() {
	local s
	for s in "${SIZES[@]}"; do
		cnictl_j "n$s" ct flush >/dev/null || return 1
		if command -v conntrack >/dev/null; then
			ip netns exec "$E2E_PFX-iptn-$s" conntrack -F >/dev/null 2>&1
		fi
	done
	return 0
}

# cpu_ticks PID: user + system clock ticks PID has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
declare -A T0=()
for s in "${SIZES[@]}"; do T0[$s]=$(cpu_ticks "${NODE_PID[n$s]}"); done

# Sizes innermost: the figures a "flat" ratio divides are taken one after
# the other, a second or less apart.
declare -A R=() RR=() # R[path.size.mode] = best result line; RR[path.size.mode.round] = rate
for ((r = 1; r <= ROUNDS; r++)); do
	expect_ok "conntrack flushed before round $r" flush_conntrack
	for mode in crr rr; do
		for path in floor sock tc iptfloor ipt; do
			for s in "${SIZES[@]}"; do
				case $path in
				floor) where=sock ip=${SERVER_IP[$s]} port=8080 ;;
				sock) where=sock ip=$VIP port=80 ;;
				tc) where=tc ip=$VIP_TC port=80 ;;
				iptfloor) where=ipt ip=$IPT_SERVER port=8080 ;;
				ipt) where=ipt ip=$VIP port=80 ;;
				esac
				out=$(run_client "$where" "$s" "$mode" "$ip" "$port" 2>&1 | tail -n 1)
				key=$path.$s.$mode
				echo "#   round $r $key: $out"
				RR[$key.$r]=$(rate "$out")
				if [ "$(rate "$out")" -gt "$(rate "${R[$key]:-}")" ]; then R[$key]=$out; fi
			done
		done
	done
done
# sluiced has nothing to do while traffic flows (no feed changes); its CPU
# time shows whether a node's background work (GC, purge) was in the way.
for s in "${SIZES[@]}"; do
	echo "#   sluiced n$s used $(awk -v t="$(( $(cpu_ticks "${NODE_PID[n$s]}") - T0[$s] ))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') s of CPU during the rounds"
done

# ---- table -------------------------------------------------------------------

# paired A SIZE_A MODE B SIZE_B: median over rounds of rate(A)/rate(B), both
# measured in the same round (load drift cancels out).
paired() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do
		awk -v a="${RR[$1.$2.$3.$r]:-0}" -v b="${RR[$4.$5.$3.$r]:-0}" \
			'BEGIN { if (b > 0) printf "%.4f\n", a / b; else print 0 }'
	done | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "Sluice 'services 1' = the two Services under test; fillers make up the rest."
echo "Rates and latencies: the best of $ROUNDS rounds. vs floor: median over rounds of the path's rate"
echo "over the same system's pod-IP rate in the same round."
printf '%-8s %-26s %9s %8s %8s %8s %9s %8s %8s %8s\n' "services" "path" "conn/s" "vs floor" "p50 us" \
	"p99 us" "req/s" "vs floor" "p50 us" "p99 us"
for s in "${SIZES[@]}"; do
	for p in floor sock tc iptfloor ipt; do
		c=${R[$p.$s.crr]:-} r=${R[$p.$s.rr]:-}
		case $p in
		floor) name="sluice: pod IP (floor)" fl=floor ;;
		sock) name="sluice: ClusterIP (sock)" fl=floor ;;
		tc) name="sluice: ClusterIP (tc)" fl=floor ;;
		iptfloor) name="iptables: pod IP" fl=iptfloor ;;
		ipt) name="iptables: ClusterIP" fl=iptfloor ;;
		esac
		printf '%-8s %-26s %9s %8s %8s %8s %9s %8s %8s %8s\n' "$s" "$name" \
			"$(field conn_per_s "$c")" "$(paired "$p" "$s" crr "$fl" "$s")" \
			"$(field p50_us "$c")" "$(field p99_us "$c")" \
			"$(field rr_per_s "$r")" "$(paired "$p" "$s" rr "$fl" "$s")" \
			"$(field p50_us "$r")" "$(field p99_us "$r")"
	done
done

echo
echo "Targets, each a median over rounds of a ratio of two figures from the same round:"
echo "flat = this path at 10000 Services / the same path at 1; vs iptables = this path /"
echo "kube-proxy's ClusterIP, both at 10000; vs floor = this path / the pod IP, at 10000."
echo "(kube-proxy's rules cost once per connection, as conntrack carries an established"
echo "flow's NAT: the ratio that shows the rule count is the connection rate.)"
for p in sock tc; do
	for m in crr rr; do
		fl=$(paired $p 10000 $m $p 1) vi=$(paired $p 10000 $m ipt 10000) nb=$(paired $p 10000 $m floor 10000)
		echo "target ($p $m): flat 1 -> 10000 within 10%: paired ratio $fl -> $(check 'a >= 0.9 && a <= 1.1' "$fl" 1)"
		echo "target ($p $m): >= 2x iptables ClusterIP at 10000: paired ratio $vi -> $(check 'a >= 2' "$vi" 1)"
		echo "target ($p $m): within 10% of the floor at 10000: paired ratio $nb -> $(check 'a >= 0.9' "$nb" 1)"
	done
done
e2e_pass "svc benchmark ran"
e2e_finish
