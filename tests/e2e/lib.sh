# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# End-to-end test library: simulated nodes and pods made of network
# namespaces on this machine, driven through the real binaries.
#
#   root netns (never touched)
#   ┌──────────────────────────── node netns  <pfx>-NODE ───────────────────┐
#   │ sluiced --bpffs $E2E_ROOT/NODE/bpf --socket $E2E_ROOT/NODE/sluiced.sock│
#   │   sl<hash> ──veth── eth0 [pod netns <pfx>-NS-NAME]                     │
#   │   sl<hash> ──veth── eth0 [pod netns <pfx>-NS-NAME2]                    │
#   └────────────────────────────────────────────────────────────────────────┘
#
# Usage in a test script:
#   #!/usr/bin/env bash
#   # (drawing of the topology)
#   source "$(dirname "$0")/lib.sh"         # or ../lib.sh from a subfolder
#   node_up node1
#   expect_ok "add pod a" pod_add node1 default a
#   expect_ok "a pings b" pod_exec default a ping -c1 -W2 "$(pod_ip default b)"
#   e2e_finish                               # prints the summary, exits 0/1
#
# Everything a script creates (processes, namespaces, mounts, cgroups, temp
# files) is registered and removed by an EXIT trap, also on failure or ^C.
#
# Output contract (tests/run.sh parses it): every check prints one line
# "ok - DESC" or "FAIL - DESC: details"; the script ends with exactly one
#   E2E_SUMMARY name=<script> passed=<N> failed=<M>
# line. A script that dies before e2e_finish prints the summary from the EXIT
# trap with one extra failure ("script aborted").
#
# API at a glance (each function is documented where it is defined):
#   checks     expect_eq expect_ne expect_match expect_ge expect_ok expect_fail
#              expect_reach expect_no_reach e2e_pass e2e_failed e2e_log
#              retry_until SECS CMD...   e2e_finish
#   nodes      node_up NODE [CIDR]  node_setup  sluiced_start  sluiced_stop NODE [SIG]
#              sluiced_running  node_down  node_exec NODE CMD...
#              node_netns node_dir node_bpffs node_socket node_state node_conf
#              node_cidr node_gw node_cgroup
#   socket     feed NODE < json   request NODE JSON   cnictl_j / cnictl_t NODE ARGS...
#              metric NODE REASON DIR
#   CNI        pod_add NODE NS NAME [IFNAME] [CONF]   pod_del / pod_check NS NAME
#              pod_cni NS NAME VERB   cni_exec NODE CONF VAR=VAL...   cni_code
#              pod_env NS NAME VERB   pod_netns_create   pod_destroy   pod_ip
#              pod_netns pod_cid pod_result   host_links leases endpoint_records NODE
#              host_links_settled NODE N   link_gone NODE IFNAME
#   traffic    pod_exec NS NAME CMD...  at WHERE CMD...  ping_from WHERE IP
#              serve WHERE tcp|udp PORT TEXT
#              probe WHERE tcp|udp IP PORT      (WHERE = "pod NS NAME" | "node NODE")
#   cleanup    E2E_PIDS+=(pid), E2E_PGIDS+=(pgid), E2E_NETNS+=(name),
#              E2E_MOUNTS+=(dir): killed/removed at exit
#
# Environment:
#   BUILD         build dir holding sluice, sluiced, cnictl (default: <repo>/build)
#   E2E_VERBOSE=1 trace every command of the library (set -x)
#   E2E_KEEP=1    do not clean up on exit (debugging; remove by hand!)
#   E2E_SLUICED_ARGS  extra flags for every sluiced (e.g. "-v")

# ---- globals ----------------------------------------------------------------

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)
# The script's name as run.sh reports it: its path below tests/e2e.
if [ -z "${E2E_NAME:-}" ]; then
	E2E_NAME=$(realpath "$0")
	case $E2E_NAME in "$E2E_LIB_DIR"/*) E2E_NAME=${E2E_NAME#"$E2E_LIB_DIR"/} ;; *) E2E_NAME=$(basename "$0") ;; esac
	E2E_NAME=${E2E_NAME%.sh}
fi
BUILD=${BUILD:-$E2E_REPO/build}
case $BUILD in /*) ;; *) BUILD=$E2E_REPO/$BUILD ;; esac
SLUICE_BIN=${SLUICE_BIN:-$BUILD/sluice}
SLUICED_BIN=${SLUICED_BIN:-$BUILD/sluiced}
CNICTL_BIN=${CNICTL_BIN:-$BUILD/cnictl}
# Debian's reference plugins (bridge, host-local, loopback).
E2E_CNI_PLUGINS=${E2E_CNI_PLUGINS:-/usr/lib/cni}

# Unique per run: every netns, link and directory name starts with it, so
# parallel runs (and other engineers' tests) never clash.
E2E_PFX=${E2E_PFX:-sle$$}
E2E_ROOT=/run/sluice-e2e-$$
E2E_PASS=0
E2E_FAIL=0
E2E_FINISHED=0
E2E_NODE_COUNT=0

declare -a E2E_PIDS=()       # background processes to kill at exit
declare -a E2E_PGIDS=()      # process groups (setsid CMD &) to kill at exit
declare -a E2E_NETNS=()      # netns names to delete at exit (pods first)
declare -a E2E_MOUNTS=()     # mount points to unmount at exit
declare -a E2E_CGROUPS=()    # cgroup dirs to remove at exit
declare -A NODE_NETNS=() NODE_CIDR=() NODE_PID=() NODE_CG=()
declare -A POD_NODE=() POD_NETNS=() POD_CID=() POD_IFNAME=() POD_CONF=()

[ "${E2E_VERBOSE:-0}" = 1 ] && set -x

# ---- output and assertions --------------------------------------------------

# e2e_log MSG...: an informational line (prefixed "# ", ignored by run.sh).
e2e_log() { printf '# %s\n' "$*"; }

# e2e_pass DESC / e2e_failed DESC DETAILS: record one check by hand.
e2e_pass() { E2E_PASS=$((E2E_PASS + 1)); printf 'ok - %s\n' "$1"; }
e2e_failed() {
	E2E_FAIL=$((E2E_FAIL + 1))
	printf 'FAIL - %s: %s\n' "$1" "${2:-}"
}

# expect_eq DESC ACTUAL EXPECTED: passes when the two strings are equal.
expect_eq() {
	if [ "$2" = "$3" ]; then e2e_pass "$1"
	else e2e_failed "$1" "actual '$2', expected '$3'"; fi
}

# expect_ne DESC ACTUAL UNEXPECTED: passes when the strings differ.
expect_ne() {
	if [ "$2" != "$3" ]; then e2e_pass "$1"
	else e2e_failed "$1" "got '$2', expected anything else"; fi
}

# expect_match DESC ACTUAL ERE: passes when ACTUAL matches the extended regex.
expect_match() {
	if printf '%s' "$2" | grep -Eq -- "$3"; then e2e_pass "$1"
	else e2e_failed "$1" "actual '$2' does not match /$3/"; fi
}

# expect_ge DESC ACTUAL MIN: integer ACTUAL >= MIN.
expect_ge() {
	if [[ $2 =~ ^-?[0-9]+$ ]] && [ "$2" -ge "$3" ]; then e2e_pass "$1"
	else e2e_failed "$1" "actual '$2', expected >= $3"; fi
}

# expect_ok DESC CMD...: runs CMD in this shell (functions may set globals);
# passes when it exits 0. On failure prints CMD's output (stdout+stderr).
expect_ok() {
	local desc=$1 out rc; shift
	out=$(mktemp "$E2E_ROOT/out.XXXXXX")
	"$@" >"$out" 2>&1; rc=$?
	if [ $rc -eq 0 ]; then e2e_pass "$desc"
	else
		e2e_failed "$desc" "exit $rc from: $*"
		sed 's/^/#   | /' "$out" | tail -n 20
	fi
	rm -f "$out"
	return $rc
}

# expect_fail DESC CMD...: passes when CMD exits non-zero.
expect_fail() {
	local desc=$1 out rc; shift
	out=$(mktemp "$E2E_ROOT/out.XXXXXX")
	"$@" >"$out" 2>&1; rc=$?
	if [ $rc -ne 0 ]; then e2e_pass "$desc"
	else
		e2e_failed "$desc" "succeeded but should fail: $*"
		sed 's/^/#   | /' "$out" | tail -n 20
	fi
	rm -f "$out"
	[ $rc -ne 0 ]
}

# retry_until SECONDS CMD...: re-runs CMD every 0.2 s until it succeeds or
# SECONDS have passed. Exit status of the last try.
retry_until() {
	local deadline=$((SECONDS + $1)); shift
	while :; do
		"$@" && return 0
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

# e2e_finish: prints the summary line and exits 1 if any check failed (or if
# none ran: a test that checks nothing is a broken test).
e2e_finish() {
	E2E_FINISHED=1
	[ $((E2E_PASS + E2E_FAIL)) -eq 0 ] && e2e_failed "$E2E_NAME" "no checks ran"
	[ "$E2E_FAIL" -gt 0 ] && e2e_dump_logs
	printf 'E2E_SUMMARY name=%s passed=%d failed=%d\n' "$E2E_NAME" "$E2E_PASS" "$E2E_FAIL"
	[ "$E2E_FAIL" -eq 0 ] && exit 0
	exit 1
}

# e2e_dump_logs: last lines of every sluiced log (printed on failure).
e2e_dump_logs() {
	local n
	for n in "${!NODE_NETNS[@]}"; do
		[ -s "$E2E_ROOT/$n/sluiced.log" ] || continue
		echo "# ---- sluiced log of $n (tail) ----"
		tail -n 30 "$E2E_ROOT/$n/sluiced.log" | sed 's/^/#   /'
	done
}

# ---- prerequisites ----------------------------------------------------------

# e2e_require_root: fails the script clearly (not a skip) without root, BPF
# or the binaries. Called when lib.sh is sourced.
e2e_require() {
	local why=""
	[ "$(id -u)" -eq 0 ] || why="needs root (network namespaces, bpffs, BPF)"
	if [ -z "$why" ]; then
		local b
		for b in "$SLUICE_BIN" "$SLUICED_BIN" "$CNICTL_BIN"; do
			[ -x "$b" ] || { why="missing binary $b (build with: make BUILD=$BUILD)"; break; }
		done
	fi
	if [ -z "$why" ]; then
		local t
		for t in ip jq socat timeout nsenter; do
			command -v "$t" >/dev/null || { why="missing tool $t (run hack/deps.sh)"; break; }
		done
	fi
	if [ -n "$why" ]; then
		E2E_FINISHED=1
		printf 'FAIL - %s: %s\n' "$E2E_NAME" "$why"
		printf 'E2E_SUMMARY name=%s passed=0 failed=1\n' "$E2E_NAME"
		exit 1
	fi
}

# ---- cleanup ----------------------------------------------------------------

e2e_cleanup() {
	local rc=$? pid ns m cg i
	set +x
	# Clean up even when our output is gone (a closed pipe, e.g. | head).
	trap '' PIPE INT TERM
	if [ "$E2E_FINISHED" != 1 ]; then
		E2E_FINISHED=1
		e2e_failed "$E2E_NAME" "script aborted (exit $rc) before e2e_finish"
		e2e_dump_logs
		printf 'E2E_SUMMARY name=%s passed=%d failed=%d\n' "$E2E_NAME" "$E2E_PASS" "$E2E_FAIL"
		[ $rc -eq 0 ] && rc=1
	fi
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "# E2E_KEEP=1: left $E2E_ROOT and netns ${E2E_NETNS[*]}" >&2
		exit $rc
	fi
	for pid in "${E2E_PGIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
	for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	# Anything still running inside our namespaces is ours (servers, clients,
	# a sluiced started by hand): end it by pid before deleting the netns,
	# otherwise the netns (and its veths, TC attachments) outlives us.
	for ((i = ${#E2E_NETNS[@]} - 1; i >= 0; i--)); do
		ns=${E2E_NETNS[i]}
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
	done
	for pid in "${E2E_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for ((i = ${#E2E_NETNS[@]} - 1; i >= 0; i--)); do
		ip netns del "${E2E_NETNS[i]}" 2>/dev/null
	done
	# Sub-cgroups live in the machine's cgroup2 hierarchy, not in our mount:
	# remove them before unmounting (killed processes may take a moment).
	for ((i = ${#E2E_CGROUPS[@]} - 1; i >= 0; i--)); do
		cg=${E2E_CGROUPS[i]}
		local try
		for ((try = 0; try < 50; try++)); do
			[ -d "$cg" ] || break
			rmdir "$cg" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$cg" ] && echo "# cleanup: could not remove cgroup $cg" >&2
	done
	for ((i = ${#E2E_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${E2E_MOUNTS[i]}
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	rm -rf "$E2E_ROOT"
	exit $rc
}

# ---- nodes ------------------------------------------------------------------

# node_netns NODE: the netns name of NODE.
node_netns() { echo "${NODE_NETNS[$1]}"; }
# node_dir NODE: NODE's directory ($E2E_ROOT/NODE) with bpf/, state/, conf.
node_dir() { echo "$E2E_ROOT/$1"; }
# node_bpffs / node_socket / node_state / node_conf NODE: NODE's paths.
node_bpffs() { echo "$E2E_ROOT/$1/bpf"; }
node_socket() { echo "$E2E_ROOT/$1/sluiced.sock"; }
node_state() { echo "$E2E_ROOT/$1/state"; }
# node_conf NODE: the CNI network config file for the sluice plugin on NODE
# (cniVersion 1.1.0, name "sluice-e2e", keys bpffs, socket, stateDir, podCIDR).
node_conf() { echo "$E2E_ROOT/$1/sluice.conf"; }
# node_cidr NODE: NODE's pod CIDR (e.g. 10.244.1.0/24).
node_cidr() { echo "${NODE_CIDR[$1]}"; }
# node_gw NODE: the gateway address pods see (first address of the pod CIDR);
# it is also the node's source address towards its pods.
node_gw() {
	local c=${NODE_CIDR[$1]%/*}
	echo "${c%.*}.$(( ${c##*.} + 1 ))"
}
# node_cgroup NODE: the cgroup2 directory passed as sluiced --cgroup; every
# process started with node_exec/pod_exec runs in it, so socket hooks
# attached there see it (and nothing outside this test).
node_cgroup() { echo "${NODE_CG[$1]}"; }

# e2e_cgroup2_mount: mounts the cgroup2 hierarchy once under $E2E_ROOT
# (ip netns exec hides /sys/fs/cgroup); sets E2E_CG2. Not in a subshell:
# it registers the mount for cleanup.
e2e_cgroup2_mount() {
	E2E_CG2=$E2E_ROOT/cgroup2
	mountpoint -q "$E2E_CG2" && return 0
	mkdir -p "$E2E_CG2"
	mount -t cgroup2 none "$E2E_CG2" || return 1
	E2E_MOUNTS+=("$E2E_CG2")
}

# node_setup NODE [POD_CIDR]: creates NODE's netns (lo up), bpffs, state dir,
# cgroup and CNI config, without starting sluiced. POD_CIDR defaults to
# 10.244.<n>.0/24 for the n-th node of the script (n from 1).
node_setup() {
	local node=$1 cidr=${2:-} ns d
	E2E_NODE_COUNT=$((E2E_NODE_COUNT + 1))
	[ -n "$cidr" ] || cidr=10.244.$E2E_NODE_COUNT.0/24
	ns=$E2E_PFX-$node
	d=$E2E_ROOT/$node
	mkdir -p "$d/bpf" "$d/state" || return 1
	ip netns add "$ns" || return 1
	E2E_NETNS+=("$ns")
	ip -n "$ns" link set lo up || return 1
	mount -t bpf bpf "$d/bpf" || return 1
	E2E_MOUNTS+=("$d/bpf")
	e2e_cgroup2_mount || return 1
	NODE_CG[$node]=$E2E_CG2/$E2E_PFX-$node
	mkdir -p "${NODE_CG[$node]}" || return 1
	E2E_CGROUPS+=("${NODE_CG[$node]}")
	NODE_NETNS[$node]=$ns
	NODE_CIDR[$node]=$cidr
	jq -n --arg b "$d/bpf" --arg s "$d/sluiced.sock" --arg st "$d/state" --arg c "$cidr" \
		'{cniVersion:"1.1.0", name:"sluice-e2e", type:"sluice",
		  bpffs:$b, socket:$s, stateDir:$st, podCIDR:$c}' >"$d/sluice.conf"
}

# sluiced_start NODE: starts sluiced inside NODE's netns (and cgroup) with
# NODE's paths, and waits up to 15 s for its socket. Log: $E2E_ROOT/NODE/sluiced.log.
sluiced_start() {
	local node=$1 d=$E2E_ROOT/$1 pid i
	rm -f "$d/sluiced.sock"
	e2e_argv "${NODE_NETNS[$node]}" "${NODE_CG[$node]}"
	# shellcheck disable=SC2086
	"${E2E_ARGV[@]}" "$SLUICED_BIN" --bpffs "$d/bpf" --socket "$d/sluiced.sock" \
		--state-dir "$d/state" --node-name "$node" --pod-cidr "${NODE_CIDR[$node]}" \
		--cgroup "${NODE_CG[$node]}" ${E2E_SLUICED_ARGS:-} >>"$d/sluiced.log" 2>&1 &
	pid=$!
	# disowned: no "Killed" job report when a test kills it on purpose;
	# bash still reaps it, so kill -0 tells whether it runs.
	disown "$pid" 2>/dev/null
	E2E_PIDS+=("$pid")
	NODE_PID[$node]=$pid
	for ((i = 0; i < 150; i++)); do
		[ -S "$d/sluiced.sock" ] && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "sluiced on $node exited early; log:" >&2
			tail -n 20 "$d/sluiced.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "sluiced on $node: no socket after 15 s; log:" >&2
	tail -n 20 "$d/sluiced.log" >&2
	return 1
}

# sluiced_stop NODE [SIGNAL]: stops NODE's sluiced (default TERM; KILL for a
# crash) and waits until it is gone (at most 10 s, then KILL).
sluiced_stop() {
	local node=$1 sig=${2:-TERM} pid=${NODE_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	# braces: bash reports "Killed" for the job on the shell's stderr
	{ wait "$pid"; } 2>/dev/null
	NODE_PID[$node]=""
	return 0
}

# sluiced_running NODE: true while NODE's sluiced process is alive.
sluiced_running() { local p=${NODE_PID[$1]:-}; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# node_up NODE [POD_CIDR]: node_setup + sluiced_start.
node_up() { node_setup "$@" && sluiced_start "$1"; }

# node_down NODE: stops sluiced, deletes NODE's pods' netns and NODE's netns,
# unmounts its bpffs. (The EXIT trap does all of this anyway.)
node_down() {
	local node=$1 key pid
	sluiced_stop "$node" TERM
	for key in "${!POD_NODE[@]}"; do
		[ "${POD_NODE[$key]}" = "$node" ] || continue
		for pid in $(ip netns pids "${POD_NETNS[$key]}" 2>/dev/null); do kill -KILL "$pid"; done
		ip netns del "${POD_NETNS[$key]}" 2>/dev/null
		unset "POD_NODE[$key]"
	done
	for pid in $(ip netns pids "${NODE_NETNS[$node]}" 2>/dev/null); do kill -KILL "$pid"; done
	ip netns del "${NODE_NETNS[$node]}" 2>/dev/null
	umount "$E2E_ROOT/$node/bpf" 2>/dev/null
	rmdir "${NODE_CG[$node]}" 2>/dev/null
	unset "NODE_NETNS[$node]"
	return 0
}

# e2e_in_netns NETNS CGROUP CMD...: runs CMD inside NETNS (ip netns exec),
# moved into CGROUP first when CGROUP is not empty. Every step execs, so
# "e2e_in_netns ... &" leaves $! useless (a subshell): background jobs use
# e2e_argv instead.
e2e_in_netns() {
	local ns=$1 cg=$2; shift 2
	if [ -n "$cg" ]; then
		ip netns exec "$ns" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# e2e_argv NETNS CGROUP: sets E2E_ARGV to the command prefix that e2e_in_netns
# uses, for "${E2E_ARGV[@]}" CMD... & (then $! is CMD's own pid: ip netns
# exec and sh both exec).
e2e_argv() {
	if [ -n "$2" ]; then
		E2E_ARGV=(ip netns exec "$1" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$2")
	else
		E2E_ARGV=(ip netns exec "$1")
	fi
}

# node_exec NODE CMD...: runs CMD in NODE's netns and cgroup (like a process
# on the node: kubelet, a hostNetwork pod).
node_exec() { local n=$1; shift; e2e_in_netns "${NODE_NETNS[$n]}" "${NODE_CG[$n]}" "$@"; }

# ---- the socket and cnictl --------------------------------------------------

# feed NODE < JSON: sends stdin (one or more JSON values) to NODE's sluiced
# socket and prints the reply lines (one per value). Waits at most 10 s for
# sluiced to close the connection after our end of input.
feed() {
	timeout 15 socat -t 10 - "UNIX-CONNECT:$E2E_ROOT/$1/sluiced.sock"
}

# request NODE JSON: sends one JSON request (e.g. '{"request":"status"}')
# and prints the one-line reply.
request() { printf '%s\n' "$2" | feed "$1"; }

# cnictl_j NODE ARGS...: cnictl -o json with NODE's bpffs and socket, run in
# NODE's netns. Prints cnictl's stdout; exit status is cnictl's.
cnictl_j() {
	local n=$1; shift
	timeout 20 ip netns exec "${NODE_NETNS[$n]}" "$CNICTL_BIN" --bpffs "$E2E_ROOT/$n/bpf" \
		--socket "$E2E_ROOT/$n/sluiced.sock" -o json "$@"
}
# cnictl_t NODE ARGS...: the same in table (human) form.
cnictl_t() {
	local n=$1; shift
	timeout 20 ip netns exec "${NODE_NETNS[$n]}" "$CNICTL_BIN" --bpffs "$E2E_ROOT/$n/bpf" \
		--socket "$E2E_ROOT/$n/sluiced.sock" "$@"
}

# node_attach NODE: how NODE's sluiced attaches the pod programs (tcx or
# tc), from `cnictl status`.
node_attach() { cnictl_j "$1" status | jq -r '.controller.attach // empty'; }

# pod_datapath NODE NS NAME DIR: what the pod's host veth runs at DIR
# (ingress or egress), from `cnictl endpoint get`: "VIA PROGRAM ID current"
# ("stale" when it is not the pinned program), empty when nothing is.
pod_datapath() {
	cnictl_j "$1" endpoint get "$2/$3" | jq -r --arg d "$4" '.datapath[$d] // empty |
		"\(.via) \(.program) \(.id) \(if .current then "current" else "stale" end)"'
}

# metric NODE REASON DIR: packets counted in sluice_metrics for REASON (a
# name from lib/reasons.c such as "spoofed-source-ip") and DIR
# ("egress"/"ingress"), from `cnictl -o json bpf map dump sluice_metrics`
# ([{"key":{"reason","dir"},"value":{"packets","bytes"}}], summed over CPUs).
# Prints 0 when the entry is absent; fails when cnictl fails.
metric() {
	local out
	out=$(cnictl_j "$1" bpf map dump sluice_metrics) || { echo 0; return 1; }
	jq -r --arg r "$2" --arg d "$3" \
		'[.[] | select(.key.reason == $r and .key.dir == $d) | .value.packets] | add // 0' <<<"$out"
}

# ---- CNI invocations --------------------------------------------------------

# cni_exec NODE CONF VAR=VALUE...: runs the sluice binary inside NODE's netns
# with exactly the given environment (plus PATH), CONF (a file, or "-" for
# this function's stdin) as stdin. Sets CNI_OUT (stdout), CNI_ERR (stderr)
# and CNI_RC, and returns CNI_RC. Bounded to 30 s.
cni_exec() {
	local node=$1 conf=$2 o e; shift 2
	o=$(mktemp "$E2E_ROOT/cni.XXXXXX"); e=$(mktemp "$E2E_ROOT/cni.XXXXXX")
	[ "$conf" = - ] && conf=/dev/stdin
	timeout 30 ip netns exec "${NODE_NETNS[$node]}" env -i PATH="$PATH" "$@" \
		"$SLUICE_BIN" <"$conf" >"$o" 2>"$e"
	CNI_RC=$?
	CNI_OUT=$(cat "$o"); CNI_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return $CNI_RC
}

# cni_code: the "code" of the CNI error in CNI_OUT ("" when none).
cni_code() { jq -r '.code // empty' <<<"$CNI_OUT" 2>/dev/null; }

# pod_netns NS NAME: the pod's netns name. Pods are keyed "NS/NAME" and must
# be unique across the nodes of one script.
pod_netns() { echo "${POD_NETNS[$1/$2]:-$E2E_PFX-$1-$2}"; }
# pod_cid NS NAME: the pod's (64 hex) container ID, stable within a run.
pod_cid() { printf '%s' "$E2E_PFX/$1/$2" | sha256sum | cut -c1-64; }
# pod_result NS NAME: path of the pod's last ADD result (CNI result JSON).
pod_result() { echo "$E2E_ROOT/pods/$1_$2.json"; }

# pod_env NS NAME COMMAND: prints the CNI_* environment (one VAR=VALUE per
# line) the library uses for this pod; tests drop or change lines.
pod_env() {
	local key=$1/$2
	printf '%s\n' "CNI_COMMAND=$3" "CNI_CONTAINERID=${POD_CID[$key]:-$(pod_cid "$1" "$2")}" \
		"CNI_NETNS=/run/netns/$(pod_netns "$1" "$2")" "CNI_IFNAME=${POD_IFNAME[$key]:-eth0}" \
		"CNI_PATH=$E2E_CNI_PLUGINS" \
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=$1;K8S_POD_NAME=$2;K8S_POD_INFRA_CONTAINER_ID=${POD_CID[$key]:-$(pod_cid "$1" "$2")}"
}

# pod_netns_create NODE NS NAME [IFNAME]: creates the pod's netns (lo up) and
# registers the pod (for pod_env, pod_exec, cleanup) without running ADD.
pod_netns_create() {
	local node=$1 key=$2/$3 netns=$E2E_PFX-$2-$3
	if [ -z "${POD_NETNS[$key]:-}" ] || ! [ -e "/run/netns/${POD_NETNS[$key]}" ]; then
		ip netns add "$netns" || return 1
		E2E_NETNS+=("$netns")
		ip -n "$netns" link set lo up
	fi
	POD_NODE[$key]=$node; POD_NETNS[$key]=$netns
	POD_CID[$key]=$(pod_cid "$2" "$3"); POD_IFNAME[$key]=${4:-eth0}
	mkdir -p "$E2E_ROOT/pods"
}

# pod_add NODE NS NAME [IFNAME] [CONF]: creates the pod netns (lo up) and runs
# the real sluice ADD for it from NODE's netns. The result is kept in
# $(pod_result NS NAME). Returns the plugin's exit status (CNI_OUT/CNI_ERR set).
pod_add() {
	local node=$1 ns=$2 name=$3 ifname=${4:-eth0} conf=${5:-} key=$2/$3
	conf=${conf:-$E2E_ROOT/$node/sluice.conf}
	pod_netns_create "$node" "$ns" "$name" "$ifname" || return 1
	POD_CONF[$key]=$conf
	local -a env
	mapfile -t env < <(pod_env "$ns" "$name" ADD)
	cni_exec "$node" "$conf" "${env[@]}"
	if [ "$CNI_RC" -eq 0 ]; then
		printf '%s\n' "$CNI_OUT" >"$(pod_result "$ns" "$name")"
	else
		printf 'ADD %s failed (exit %d): %s %s\n' "$key" "$CNI_RC" "$CNI_OUT" "$CNI_ERR" >&2
	fi
	return "$CNI_RC"
}

# pod_conf_with_prev NS NAME: the config the pod was added with (the node's
# unless pod_add got one) with the pod's last ADD result as prevResult (what
# runtimes send on CHECK and DEL).
pod_conf_with_prev() {
	local key=$1/$2 r c
	c=${POD_CONF[$key]:-$E2E_ROOT/${POD_NODE[$key]}/sluice.conf}
	r=$(pod_result "$1" "$2")
	if [ -s "$r" ] && jq -e . "$r" >/dev/null 2>&1; then
		jq --slurpfile p "$r" '. + {prevResult: $p[0]}' "$c"
	else
		cat "$c"
	fi
}

# pod_cni NS NAME COMMAND: runs CHECK/DEL (or any verb) for an added pod with
# prevResult, like libcni does. Returns the plugin's exit status.
pod_cni() {
	local key=$1/$2 cmd=$3
	local -a env
	local conf
	mapfile -t env < <(pod_env "$1" "$2" "$cmd")
	conf=$(mktemp "$E2E_ROOT/conf.XXXXXX")
	pod_conf_with_prev "$1" "$2" >"$conf"
	cni_exec "${POD_NODE[$key]}" "$conf" "${env[@]}"
	rm -f "$conf"
	[ "$CNI_RC" -eq 0 ] || printf '%s %s failed (exit %d): %s %s\n' "$cmd" "$key" "$CNI_RC" "$CNI_OUT" "$CNI_ERR" >&2
	return "$CNI_RC"
}

# pod_check NS NAME: CNI CHECK with prevResult.
pod_check() { pod_cni "$1" "$2" CHECK; }

# pod_del NS NAME: CNI DEL with prevResult; the pod netns stays (delete it
# with pod_destroy, or let the EXIT trap do it).
pod_del() { pod_cni "$1" "$2" DEL; }

# pod_destroy NS NAME: kills what runs in the pod netns and deletes it
# (without DEL: what a crashed runtime leaves behind).
pod_destroy() {
	local netns pid
	netns=$(pod_netns "$1" "$2")
	for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$pid"; done
	ip netns del "$netns" 2>/dev/null
	return 0
}

# pod_ip NS NAME: the pod's IPv4 address from its ADD result (no prefix).
pod_ip() {
	jq -r '[.ips[]? | select(.address | test("^[0-9.]+/")) | .address][0] // empty' \
		"$(pod_result "$1" "$2")" 2>/dev/null | cut -d/ -f1
}

# pod_exec NS NAME CMD...: runs CMD inside the pod's netns (and its node's
# cgroup).
pod_exec() {
	local key=$1/$2; shift 2
	e2e_in_netns "${POD_NETNS[$key]}" "${NODE_CG[${POD_NODE[$key]}]:-}" "$@"
}

# host_links NODE: the number of sluice host veths ("sl*") in NODE's netns.
host_links() {
	ip -n "${NODE_NETNS[$1]}" -o link show 2>/dev/null | awk -F': ' '{print $2}' |
		grep -c '^sl' || true
}

# host_links_settled NODE EXPECTED: like host_links, but first waits up to
# 20 s for the count to reach EXPECTED: DEL and GC return once the endpoint
# is deregistered, and sluiced deletes the veths right after in a batch,
# off the runtime's path (one RCU grace period, slow on a loaded machine).
# Prints the final count.
host_links_settled() {
	local n i
	for ((i = 0; i < 200; i++)); do
		n=$(host_links "$1")
		[ "$n" = "$2" ] && break
		sleep 0.1
	done
	echo "$n"
}

# link_gone NODE IFNAME: true once IFNAME no longer exists in NODE's netns
# (waits up to 20 s, see host_links_settled).
link_gone() {
	local i
	for ((i = 0; i < 200; i++)); do
		ip -n "${NODE_NETNS[$1]}" link show dev "$2" >/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

# leases NODE: the number of addresses leased in NODE's state dir: files
# named after an address anywhere under <stateDir>/ipam (the layout is
# <stateDir>/ipam/<network>/<IP>, like host-local; lock and bookkeeping
# files do not count).
leases() {
	find "$E2E_ROOT/$1/state/ipam" -type f \( -name '[0-9]*.[0-9]*.[0-9]*.[0-9]*' -o -name '*:*' \) \
		2>/dev/null | wc -l
}

# endpoint_records NODE: the number of endpoint records in the state dir.
endpoint_records() {
	find "$E2E_ROOT/$1/state/endpoints" -type f -name '*.json' 2>/dev/null | wc -l
}

# ---- traffic ----------------------------------------------------------------
# Every probe is bounded (a few seconds) and says nothing but its exit status
# and the reply on stdout. WHERE is "pod NS NAME" or "node NODE".

# e2e_place WHERE...: sets E2E_ARGV (see e2e_argv) for WHERE and E2E_SHIFT to
# the number of words WHERE took.
e2e_place() {
	case $1 in
	pod) e2e_argv "${POD_NETNS[$2/$3]}" "${NODE_CG[${POD_NODE[$2/$3]}]:-}"; E2E_SHIFT=3 ;;
	node) e2e_argv "${NODE_NETNS[$2]}" "${NODE_CG[$2]}"; E2E_SHIFT=2 ;;
	*) echo "bad place '$1' (expected: pod NS NAME | node NODE)" >&2; return 2 ;;
	esac
}

# at WHERE... CMD...: runs CMD at WHERE ("pod NS NAME" or "node NODE").
at() {
	e2e_place "$@" || return 2
	shift "$E2E_SHIFT"
	"${E2E_ARGV[@]}" "$@"
}

# conn_open WHERE... IP PORT: opens one long-lived TCP connection (socat)
# from WHERE to IP:PORT and waits up to 3 s for its first received line;
# conn_echo sends on it, conn_line reads what came back, conn_close ends it.
# One such connection per script at a time.
conn_open() {
	local fifo=$E2E_ROOT/conn.in
	e2e_place "$@" || return 2
	shift "$E2E_SHIFT"
	rm -f "$fifo" "$E2E_ROOT/conn.out"
	mkfifo "$fifo" || return 1
	exec {E2E_CONN_FD}<>"$fifo"
	"${E2E_ARGV[@]}" socat -T 60 - "TCP:$1:$2" <&"$E2E_CONN_FD" >"$E2E_ROOT/conn.out" 2>&1 &
	E2E_CONN_PID=$!
	E2E_PIDS+=("$E2E_CONN_PID")
	retry_until 3 grep -q . "$E2E_ROOT/conn.out"
}
# conn_echo TEXT: sends the line TEXT on the connection; waits up to 3 s for
# it to come back.
conn_echo() { echo "$1" >&"$E2E_CONN_FD"; retry_until 3 grep -q "$1" "$E2E_ROOT/conn.out"; }
# conn_line N: line N of what the connection received.
conn_line() { sed -n "${1}p" "$E2E_ROOT/conn.out"; }
# conn_close: closes the connection (socat sees EOF) and stops socat.
conn_close() { exec {E2E_CONN_FD}>&-; kill "$E2E_CONN_PID" 2>/dev/null; return 0; }

# ping_from WHERE... IP: ICMP echo; passes on the first reply (3 tries, 2 s each).
ping_from() {
	e2e_place "$@" || return 2
	shift "$E2E_SHIFT"
	local try
	for try in 1 2 3; do
		"${E2E_ARGV[@]}" ping -n -c 1 -W 2 "$1" >/dev/null 2>&1 && return 0
	done
	return 1
}

# serve WHERE... PROTO PORT TEXT: starts a background server (tcp|udp) at
# WHERE that reads one line per connection (tcp) or datagram (udp) and
# answers TEXT (letters, digits, . _ - only). Killed at exit. Returns when
# the port is bound (at most 3 s).
serve() {
	e2e_place "$@" || return 2
	shift "$E2E_SHIFT"
	local proto=$1 port=$2 text=$3 pid i
	[[ $text =~ ^[A-Za-z0-9._-]+$ ]] || { echo "serve: bad TEXT '$text'" >&2; return 2; }
	case $proto in
	tcp) "${E2E_ARGV[@]}" socat "TCP-LISTEN:$port,reuseaddr,fork" "SYSTEM:read l; echo $text" </dev/null >/dev/null 2>&1 & ;;
	udp) "${E2E_ARGV[@]}" socat "UDP-RECVFROM:$port,fork" "SYSTEM:read l; echo $text" </dev/null >/dev/null 2>&1 & ;;
	*) echo "serve: proto tcp|udp" >&2; return 2 ;;
	esac
	pid=$!
	disown "$pid" 2>/dev/null
	E2E_PIDS+=("$pid")
	for ((i = 0; i < 30; i++)); do
		"${E2E_ARGV[@]}" ss -Hln"${proto:0:1}" "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	echo "serve: nothing listening on $proto/$port" >&2
	return 1
}

# probe WHERE... PROTO IP PORT: connects (tcp) or sends one datagram (udp)
# with a line, and prints the server's reply line; fails when none came
# within 3 s (tcp) / 1.5 s (udp).
probe() {
	e2e_place "$@" || return 2
	shift "$E2E_SHIFT"
	local proto=$1 ip=$2 port=$3 out
	case $proto in
	tcp) out=$(echo hi | timeout 5 "${E2E_ARGV[@]}" socat -t 3 -T 3 - "TCP:$ip:$port,connect-timeout=3" 2>/dev/null) ;;
	udp) out=$(echo hi | timeout 5 "${E2E_ARGV[@]}" socat -t 1.5 -T 1.5 - "UDP:$ip:$port" 2>/dev/null) ;;
	*) echo "probe: proto tcp|udp" >&2; return 2 ;;
	esac
	[ -n "$out" ] || return 1
	printf '%s\n' "$out" | head -n 1
}

# expect_reach DESC WHERE... PROTO IP PORT TEXT: probe must answer TEXT.
expect_reach() {
	local desc=$1; shift
	local text=${*: -1} got
	got=$(probe "${@:1:$#-1}")
	expect_eq "$desc" "$got" "$text"
}

# expect_no_reach DESC WHERE... PROTO IP PORT: probe must get no answer.
expect_no_reach() {
	local desc=$1 got; shift
	if got=$(probe "$@"); then e2e_failed "$desc" "got reply '$got', expected none"
	else e2e_pass "$desc"; fi
}

# ---- start ------------------------------------------------------------------

mkdir -p "$E2E_ROOT" 2>/dev/null
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM
e2e_require
