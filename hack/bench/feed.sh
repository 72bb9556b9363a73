#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The controller benchmark of issue 3: feed a cluster's worth of Kubernetes
# objects into a real sluiced and time how fast it acknowledges them and how
# fast the pinned maps converge, against the floor of raw map updates.
#
#   node netns bf<pid>-node-000
#   ┌──────────────────────────────────────────────────────────────────────┐
#   │ sluiced --bpffs /run/sluice-e2e-<pid>/node-000/bpf --socket ... ─────┼── maps (pinned)
#   └──────────────────────────────────────────────────────────────────────┘      ▲
#   feed_send.py ── socket ──► 26k values (ADDED events + BOOKMARKs)              │
#   feed_poll ───────── counts keys (every 250 ms while sending, then every 5 ms) ┘
#   feed_floor ──────── (after sluiced stopped) the same number of
#                        bpf_map_update_elem in one loop into the same maps
#
# Steps: gen_cluster.py writes the cluster (default 50 namespaces, 50 nodes,
# 5,000 pods, 10,000 Services, 10,000 EndpointSlices with 100,000 endpoints,
# 1,000 NetworkPolicies) and the map counts it must produce; sluiced starts on
# a fresh bpffs; BENCH_LOCAL_EPS (100) local endpoints are registered like the
# CNI would (endpoint.add; not timed) so policies have endpoints to compile
# for; then the stream is sent and timed:
#   ack       first byte sent -> last reply line received
#   converge  last byte sent  -> every map holds its expected count (policy
#             maps, which have no prediction: -> their last change)
#   RSS       VmHWM of sluiced (peak), and VmRSS after start and at the end
# Targets (issue 3): converge <= 1 s after the last value, peak RSS <= 100 MB.
#
# Environment: BUILD (default build; needs $BUILD/sluiced), BENCH_PODS (5000),
# BENCH_SERVICES (10000), BENCH_ENDPOINTS (100000), BENCH_POLICIES (1000),
# BENCH_LOCAL_EPS (100), BENCH_PRETTY=1 (pretty-printed values, like
# kubectl -o json), BENCH_FEED_OUT (JSON result, default $BUILD/bench-feed.json),
# BENCH_PERF=FILE (perf record -g of sluiced while the feed runs).
# Exit status: 0 when every value was acknowledged ok and every map
# converged (targets met or not: the table says), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export BUILD
OUT=${BENCH_FEED_OUT:-$BUILD/bench-feed.json}
PODS=${BENCH_PODS:-5000}
SERVICES=${BENCH_SERVICES:-10000}
ENDPOINTS=${BENCH_ENDPOINTS:-100000}
POLICIES=${BENCH_POLICIES:-1000}
LOCAL_EPS=${BENCH_LOCAL_EPS:-100}
PRETTY=${BENCH_PRETTY:-0}

[ "$(id -u)" -eq 0 ] || { echo "feed.sh: needs root (namespaces, bpffs, BPF maps)" >&2; exit 1; }
for t in python3 jq cc; do
	command -v $t >/dev/null || { echo "feed.sh: missing $t" >&2; exit 1; }
done
[ -x "$BUILD/sluiced" ] || { echo "feed.sh: no $BUILD/sluiced (make BUILD=$BUILD $BUILD/sluiced)" >&2; exit 1; }

E2E_NAME=bench-feed
E2E_PFX=bf$$
# shellcheck source=../../tests/e2e/lib.sh
source tests/e2e/lib.sh
E2E_FINISHED=1 # no test summary: this is not a test

# ---- tools and data ------------------------------------------------------------------
# The project's userspace CFLAGS (Makefile), so the floor is compiled like sluiced.
BCFLAGS="-O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing -Iinclude -Ilib"
mkdir -p "$BUILD/bench" || exit 1
for t in feed_poll feed_floor; do
	if [ ! -x "$BUILD/bench/$t" ] || [ "hack/bench/$t.c" -nt "$BUILD/bench/$t" ]; then
		# shellcheck disable=SC2086
		cc $BCFLAGS "hack/bench/$t.c" -lbpf -o "$BUILD/bench/$t" || exit 1
	fi
done
DATA=$BUILD/bench/feed-p$PODS-s$SERVICES-e$ENDPOINTS-n$POLICIES-l$LOCAL_EPS-pretty$PRETTY
if [ ! -s "$DATA/expect.json" ] || [ hack/bench/gen_cluster.py -nt "$DATA/expect.json" ]; then
	echo "feed: generating the cluster into $DATA ..."
	mkdir -p "$DATA" || exit 1
	pretty=()
	[ "$PRETTY" = 1 ] && pretty=(--pretty)
	python3 hack/bench/gen_cluster.py --pods "$PODS" --services "$SERVICES" \
		--endpoints "$ENDPOINTS" --policies "$POLICIES" --local-endpoints "$LOCAL_EPS" \
		"${pretty[@]}" --out "$DATA/feed.json" --expect "$DATA/expect.json" \
		--endpoints-out "$DATA/endpoints.json" || exit 1
fi
EXP=$DATA/expect.json
NODE=$(jq -r .local_node "$EXP")
CIDR=$(jq -r .local_pod_cidr "$EXP")
VALUES=$(jq -r .values "$EXP")
NEPS=$(jq -r .local_endpoints "$EXP")

# ---- sluiced ---------------------------------------------------------------------------
node_up "$NODE" "$CIDR" || { echo "feed: sluiced did not start" >&2; exit 1; }
PID=${NODE_PID[$NODE]}
BPF=$(node_bpffs "$NODE")
SOCK=$(node_socket "$NODE")
W=$E2E_ROOT/feed
mkdir -p "$W"
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
RSS_START=$(status_kb "$PID" VmRSS)

if [ "$NEPS" -gt 0 ]; then
	python3 hack/bench/feed_send.py --socket "$SOCK" --values "$NEPS" "$DATA/endpoints.json" \
		>"$W/endpoints.out" || {
		echo "feed: registering $NEPS local endpoints failed: $(cat "$W/endpoints.out")" >&2
		exit 1
	}
fi

targets=()
for m in $(jq -r '.maps | keys[]' "$EXP"); do targets+=("$m=$(jq -r ".maps[\"$m\"]" "$EXP")"); done
targets+=(sluice_pol=? sluice_pol_exact=? sluice_pol_cidr=?)
"$BUILD/bench/feed_poll" --bpffs "$BPF" --interval-ms 5 --timeout-ms 300000 --stable-ms 1500 \
	--stop-file "$W/stop" "${targets[@]}" >"$W/poll.json" 2>"$W/poll.err" &
POLL=$!
E2E_PIDS+=("$POLL")

PERF=
if [ -n "${BENCH_PERF:-}" ] && command -v perf >/dev/null; then
	perf record -q -F 999 -g -p "$PID" -o "$BENCH_PERF" >/dev/null 2>&1 &
	PERF=$!
	E2E_PIDS+=("$PERF")
fi
echo "feed: sending $VALUES values ($(du -h "$DATA/feed.json" | cut -f1)) to sluiced (pid $PID) ..."
python3 hack/bench/feed_send.py --socket "$SOCK" --values "$VALUES" "$DATA/feed.json" >"$W/send.json"
SEND_RC=$?
touch "$W/stop"
wait "$POLL"
POLL_RC=$?
[ -n "$PERF" ] && { kill -INT "$PERF"; wait "$PERF"; echo "feed: perf profile of sluiced in $BENCH_PERF"; }
HWM=$(status_kb "$PID" VmHWM)
RSS_END=$(status_kb "$PID" VmRSS)
CPU=$(awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$PID/stat")
STATUS=$(printf '{"request":"status"}\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
b = b""
while not b.endswith(b"\n"):
    c = s.recv(65536)
    if not c: break
    b += c
print(b.decode().strip())' "$SOCK" 2>/dev/null || echo null)
sluiced_stop "$NODE" TERM

# ---- the floor: the same counts, raw, into the same maps ----------------------------------
floor=()
for m in $(jq -r '.maps | keys[]' "$W/poll.json"); do
	n=$(jq -r ".maps[\"$m\"].count" "$W/poll.json")
	floor+=("$m=$n")
done
"$BUILD/bench/feed_floor" --bpffs "$BPF" --batch "${floor[@]}" >"$W/floor.json" || {
	echo "feed: the floor run failed" >&2
	exit 1
}

# ---- report ------------------------------------------------------------------------------
jq -n --slurpfile send "$W/send.json" --slurpfile poll "$W/poll.json" \
	--slurpfile floor "$W/floor.json" --slurpfile exp "$EXP" --argjson status "${STATUS:-null}" \
	--arg hwm "$HWM" --arg rss0 "$RSS_START" --arg rss1 "$RSS_END" --arg cpu "$CPU" '
	($send[0]) as $s | ($poll[0]) as $p | ($floor[0]) as $f |
	($p.maps | to_entries | map(select(.value.reached_ns != null) | .value.reached_ns) | max) as $conv |
	{
	  cluster: $exp[0].objects, endpoints: $exp[0].endpoints, values: $exp[0].values,
	  bytes: $s.bytes, local_endpoints: $exp[0].local_endpoints,
	  replies: $s.replies, errors: $s.errors, first_errors: $s.first_errors,
	  ack_s: (if $s.last_reply_ns then ($s.last_reply_ns - $s.first_sent_ns) / 1e9 else null end),
	  send_s: (if $s.last_sent_ns then ($s.last_sent_ns - $s.first_sent_ns) / 1e9 else null end),
	  converge_after_last_value_s: (if $conv and $s.last_sent_ns then ($conv - $s.last_sent_ns) / 1e9 else null end),
	  converge_from_start_s: (if $conv then ($conv - $s.first_sent_ns) / 1e9 else null end),
	  maps: ($p.maps | with_entries(.value |= {want, count,
	      converged_s: (if .reached_ns then (.reached_ns - $s.first_sent_ns) / 1e9 else null end),
	      last_change_s: ((.last_change_ns - $s.first_sent_ns) / 1e9)})),
	  all_converged: ([$p.maps[] | .reached_ns != null] | all),
	  poll_pass_ms_max: ($p.pass_ns_max / 1e6),
	  rss_peak_mb: (($hwm | tonumber) / 1024), rss_start_mb: (($rss0 | tonumber) / 1024),
	  rss_end_mb: (($rss1 | tonumber) / 1024), cpu_s: ($cpu | tonumber),
	  floor: {updates: $f.total_updates, single_s: ($f.total_ns / 1e9),
	          batch_s: (if $f.batch_total_ns then $f.batch_total_ns / 1e9 else null end),
	          maps: ($f.maps | with_entries(.value |= {count, ms: (.ns / 1e6),
	                 batch_ms: (if .batch_ns then .batch_ns / 1e6 else null end)}))},
	  status: ($status.status // null)
	} |
	.ratio_ack_to_floor = (if .ack_s then .ack_s / .floor.single_s else null end) |
	.ratio_converge_from_start_to_floor = (if .converge_from_start_s then .converge_from_start_s / .floor.single_s else null end) |
	.targets = {converge_le_1s: (.converge_after_last_value_s != null and .converge_after_last_value_s <= 1 and .all_converged),
	            rss_le_100mb: (.rss_peak_mb <= 100)}' >"$OUT" || { echo "feed: report failed" >&2; exit 1; }

jq -r '
	"## Controller feed benchmark (issue 3)",
	"",
	"cluster: \(.cluster.Pod) pods, \(.cluster.Service) Services, \(.cluster.EndpointSlice) EndpointSlices / \(.endpoints) endpoints, \(.cluster.NetworkPolicy) NetworkPolicies, \(.cluster.Namespace) namespaces, \(.cluster.Node) nodes; \(.local_endpoints) local endpoints",
	"stream: \(.values) values, \(.bytes / 1048576 * 10 | round / 10) MiB; replies \(.replies), errors \(.errors)",
	"",
	"| figure | value | target |",
	"| --- | --- | --- |",
	"| ack (first byte -> last reply) | \(.ack_s // "n/a") s | |",
	"| converge after the last value | \(.converge_after_last_value_s // "n/a") s | <= 1 s: \(if .targets.converge_le_1s then "met" else "NOT met" end) |",
	"| converge from the first byte | \(.converge_from_start_s // "n/a") s | |",
	"| peak RSS (VmHWM) | \(.rss_peak_mb * 10 | round / 10) MB (start \(.rss_start_mb * 10 | round / 10), end \(.rss_end_mb * 10 | round / 10)) | <= 100 MB: \(if .targets.rss_le_100mb then "met" else "NOT met" end) |",
	"| sluiced CPU time | \(.cpu_s) s | |",
	"| floor: \(.floor.updates) bpf_map_update_elem | \(.floor.single_s) s (batch: \(.floor.batch_s // "n/a") s) | |",
	"| ratio ack / floor | \(.ratio_ack_to_floor // "n/a") | |",
	"| ratio converge / floor | \(.ratio_converge_from_start_to_floor // "n/a") | |",
	"",
	"| map | expected | entries | converged at (s from first byte) | floor ms |",
	"| --- | --- | --- | --- | --- |",
	(.maps | to_entries[] | "| \(.key) | \(.value.want // "?") | \(.value.count) | \(.value.converged_s // "NOT converged") | \($ROOT.floor.maps[.key].ms // "n/a") |"),
	"",
	(if .errors > 0 then "first errors:\n" + (.first_errors | join("\n")) else empty end)
' --argjson ROOT "$(cat "$OUT")" "$OUT"
echo "feed: full result in $OUT"
[ "$SEND_RC" -eq 0 ] && [ "$POLL_RC" -eq 0 ]
