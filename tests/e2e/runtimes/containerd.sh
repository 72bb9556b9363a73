#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The plugin under containerd's CRI plugin (Debian's containerd 1.6), driven
# the way kubelet drives it: RunPodSandbox, PodSandboxStatus, StopPodSandbox
# (twice) and RemovePodSandbox over CRI v1 (cri_client.py on python3-grpcio).
# containerd runs in the node netns (nsenter --net, so the netns bind mounts
# it makes under /var/run/netns stay visible to us) with a private config,
# root, state and socket; its pause image is built here from pause.c.
#
#   ┌──────── node1 netns: sluiced, containerd (+ shims) ─────────────────────┐
#   │  bin_dir: sluice (through a tap that logs each call), loopback          │
#   │  conf_dir: 10-sluice.conflist (bpffs/socket/stateDir of node1)          │
#   │   sl…a ═══════ BPF ═══════ sl…b                                         │
#   └────┼─────────────────────────┼──────────────────────────────────────────┘
#   /var/run/netns/cni-<uuid>    /var/run/netns/cni-<uuid>   (pause sandboxes
#      rt/pod-a                     rt/pod-b                  rt/pod-a, rt/pod-b)
#
# What containerd sends (checked through the tap): ADD with
# CNI_ARGS=K8S_POD_UID=..;IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
# K8S_POD_INFRA_CONTAINER_ID=.. and CNI_NETNS=/var/run/netns/cni-<uuid>; one DEL
# per StopPodSandbox and one more on RemovePodSandbox, the later ones with an
# empty CNI_NETNS because the netns is gone after the first Stop.
#
# Also: four sandboxes run and torn down concurrently (kubelet works in
# parallel), and RunPodSandbox while sluiced is down (ADD must fail with code
# 11 and containerd's clean-up DEL must succeed, else containerd keeps the
# sandbox as SANDBOX_UNKNOWN). RT_CNI_VERSION=0.4.0|0.3.1 runs everything with
# an older conflist; RT_TAP_SAVE=DIR keeps the tap's records; RT_NO_BUILD=1
# skips the make step.
E2E_NAME=${E2E_NAME:-runtimes/containerd}
# shellcheck source=lib-runtime.sh
source "$(dirname "$0")/lib-runtime.sh"

RT_DIR=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3   # Debian's python: python3-grpcio is installed for it
R=$E2E_ROOT/containerd          # everything containerd owns lives below
CTD_SOCK=$R/containerd.sock
CTD_PID=""
CG_PARENT=/sluice-rt-$$         # cgroupfs parent of the sandboxes (v1 hierarchies)
PAUSE_IMAGE=localhost/sluice-pause:e2e

# ---- prerequisites: a missing runtime is a failure with the reason, not a skip ---------
rt_missing=""
for t in containerd ctr runc containerd-shim-runc-v2 protoc gcc jq tar sha256sum; do
	command -v "$t" >/dev/null || rt_missing+=" $t"
done
[ -x "$E2E_CNI_PLUGINS/loopback" ] || rt_missing+=" $E2E_CNI_PLUGINS/loopback(containernetworking-plugins)"
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null || rt_missing+=" python3-grpcio/python3-protobuf"
if [ -n "$rt_missing" ]; then
	e2e_failed "containerd runtime prerequisites" "missing:$rt_missing (hack/deps.sh installs them)"
	e2e_finish
fi

# ---- cleanup, on every path --------------------------------------------------------------

# cri VERB ARGS...: the CRI client against our containerd.
cri() { timeout 150 "$PY" "$RT_DIR/cri_client.py" --socket "$CTD_SOCK" --gen-dir "$R/crigen" "$@"; }

# rt_pids_of_ours: pids of processes started by our containerd (its shims
# carry our socket path in their command line) and of everything in our
# sandbox cgroups.
rt_pids_of_ours() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}; pid=${pid%/cmdline}
		[ "$pid" = "$CTD_PID" ] && continue
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "$CTD_SOCK" && echo "$pid"
	done
	cat /sys/fs/cgroup/*"$CG_PARENT"/*/cgroup.procs 2>/dev/null
}

# rt_stop_containerd: stops containerd (TERM, then KILL after 10 s).
rt_stop_containerd() {
	local i
	[ -n "$CTD_PID" ] || return 0
	kill -TERM "$CTD_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$CTD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$CTD_PID" 2>/dev/null
	wait "$CTD_PID" 2>/dev/null
	CTD_PID=""
}


# rt_cleanup: removes what containerd made: sandboxes (through CRI while it
# still runs), containerd, its shims and pause processes, its mounts, the
# sandbox cgroups and netns. lib.sh's trap then removes the node and $E2E_ROOT.
rt_cleanup() {
	local id m d
	if [ -n "$CTD_PID" ] && kill -0 "$CTD_PID" 2>/dev/null && [ -S "$CTD_SOCK" ]; then
		for id in $(cri list 2>/dev/null); do
			cri stop "$id" >/dev/null 2>&1
			cri remove "$id" >/dev/null 2>&1
		done
	fi
	rt_stop_containerd
	rt_cleanup_leftovers
	# When containerd died before tearing a sandbox down, libcni's cached
	# results and the shim's socket stay behind: remove ours (sandbox IDs are
	# unique; sockets that appeared during this run).
	for d in "$R"/root/io.containerd.grpc.v1.cri/sandboxes/*/; do
		[ -d "$d" ] && RT_IDS+=("$(basename "$d")")
	done
	for id in "${RT_IDS[@]}"; do rm -f /var/lib/cni/results/*-"$id"-*; done
	for m in /run/containerd/s/*; do
		[ -S "$m" ] || continue
		case " $RT_SHIM_SOCKS_BEFORE " in *" $m "*) ;; *) rm -f "$m" ;; esac
	done
	rt_tidy_globals
	return 0
}
# containerd 1.6 puts its shims' sockets in /run/containerd/s whatever its
# state dir says (defaults.DefaultStateDir), and its CRI plugin has libcni
# cache results in /var/lib/cni/results (no setting for either): remove the
# directories when this test created them and they are empty.
rt_tidy_globals() {
	local p
	for p in /run/containerd/s /run/containerd /var/lib/cni/results /var/lib/cni; do
		case " $rt_globals_absent ${RT_CNI_CACHE_ABSENT:-} " in *" $p "*) rmdir "$p" 2>/dev/null ;; esac
	done
	return 0
}
declare -a RT_NETNS=() RT_IDS=()
# rt_runtime_netns: the netns names containerd gives its sandboxes (cni-<uuid>).
rt_runtime_netns() {
	local f
	for f in /run/netns/cni-*; do
		[[ ${f##*/} =~ ^cni-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] && echo "${f##*/}"
	done
}
RT_NETNS_BEFORE=$(rt_runtime_netns | tr '\n' ' ')
RT_SHIM_SOCKS_BEFORE=$(echo /run/containerd/s/*)
# The trap may fire while a check's output is redirected to a temp file
# (expect_ok runs its command with >"$out"): restore the script's own
# stdout/stderr so the cleanup's FAIL/E2E_SUMMARY lines are seen.
exec {RT_STDOUT}>&1 {RT_STDERR}>&2
rt_exit() {
	local rc=$?
	exec 1>&"$RT_STDOUT" 2>&"$RT_STDERR"
	# RT_TAP_SAVE=DIR keeps the tap's records of every CNI call (debugging).
	[ -n "${RT_TAP_SAVE:-}" ] && mkdir -p "$RT_TAP_SAVE" && cp "$R"/tap/call.*.json "$RT_TAP_SAVE"/ 2>/dev/null
	[ "${E2E_KEEP:-0}" = 1 ] || rt_cleanup
	(exit "$rc")
	e2e_cleanup
}
trap rt_exit EXIT

# Machine-wide paths containerd uses by default: the test must not create any.
RT_GLOBAL_PATHS="/run/containerd/s /run/containerd /var/lib/containerd /opt/containerd /opt/cni /etc/cni/net.d"
# libcni's cache dir is shared with every libcni user (another test may be
# using it right now): tidied, but judged by our own entries only.
RT_CNI_CACHE_ABSENT=$(for p in /var/lib/cni/results /var/lib/cni; do [ -e "$p" ] || echo "$p"; done | tr "\n" " ")
rt_globals_absent=$(for p in $RT_GLOBAL_PATHS; do [ -e "$p" ] || echo "$p"; done | tr "\n" " ")

# ---- node, CNI dirs, the tap ---------------------------------------------------------------
expect_ok "sluiced starts" node_up node1 || e2e_finish
NODE_NS=/run/netns/$(node_netns node1)
mkdir -p "$R"/{root,state,opt,cni/bin,cni/net.d,tap,img/rootfs,logs} || e2e_finish

rt_install_tap
ln -s "$E2E_CNI_PLUGINS/loopback" "$R/cni/bin/loopback"
# containerd 1.6 vendors libcni 1.1.2: spec 1.0.0 (RT_CNI_VERSION=0.4.0 or
# 0.3.1 runs the test with an older conflist; libcni converts the result).
CNIV=${RT_CNI_VERSION:-1.0.0}
jq --arg v "$CNIV" '{cniVersion:$v, name:"sluice-containerd", plugins:[del(.cniVersion, .name)]}' \
	"$(node_conf node1)" >"$R/cni/net.d/10-sluice.conflist"


# ---- the pause image: a static binary as a docker-archive, imported with ctr -------------
build_pause_image() {
	local img=$R/img layer_sha cfg_sha
	gcc -static -O2 -Wall -Wextra -Werror -o "$img/rootfs/pause" "$RT_DIR/pause.c" || return 1
	tar --numeric-owner --owner=0 --group=0 -C "$img/rootfs" -cf "$img/layer.tar" pause || return 1
	layer_sha=$(sha256sum "$img/layer.tar" | cut -d' ' -f1)
	mkdir -p "$img/archive/$layer_sha" && mv "$img/layer.tar" "$img/archive/$layer_sha/layer.tar"
	jq -cn --arg d "sha256:$layer_sha" '{architecture:"amd64", os:"linux",
		config:{Entrypoint:["/pause"], WorkingDir:"/"},
		rootfs:{type:"layers", diff_ids:[$d]}}' >"$img/config.json"
	cfg_sha=$(sha256sum "$img/config.json" | cut -d' ' -f1)
	mv "$img/config.json" "$img/archive/$cfg_sha.json"
	jq -cn --arg c "$cfg_sha.json" --arg l "$layer_sha/layer.tar" --arg t "$PAUSE_IMAGE" \
		'[{Config:$c, RepoTags:[$t], Layers:[$l]}]' >"$img/archive/manifest.json"
	tar -C "$img/archive" -cf "$img/pause.tar" . || return 1
	timeout 60 ctr --address "$CTD_SOCK" -n k8s.io images import --platform linux/amd64 "$img/pause.tar"
}

# ---- containerd -------------------------------------------------------------------------------
# A private config: `containerd config default` with our paths. Every edit is
# checked, so a changed default fails here rather than silently using /var/lib.
write_config() {
	local c=$R/config.toml
	containerd config default >"$c" || return 1
	sed -i \
		-e "s|^root = .*|root = \"$R/root\"|" \
		-e "s|^state = .*|state = \"$R/state\"|" \
		-e "s|^  address = \"/run/containerd/containerd.sock\"|  address = \"$CTD_SOCK\"|" \
		-e "s|^\( *\)restrict_oom_score_adj = .*|\1restrict_oom_score_adj = true|" \
		-e "s|^\( *\)sandbox_image = .*|\1sandbox_image = \"$PAUSE_IMAGE\"|" \
		-e "s|^\( *\)bin_dir = .*|\1bin_dir = \"$R/cni/bin\"|" \
		-e "s|^\( *\)conf_dir = .*|\1conf_dir = \"$R/cni/net.d\"|" \
		-e "s|^\( *\)path = \"/opt/containerd\"|\1path = \"$R/opt\"|" \
		-e "s|^\( *\)Root = \"\"|\1Root = \"$R/runc\"|" \
		"$c" || return 1
	local want
	for want in "root = \"$R/root\"" "state = \"$R/state\"" "address = \"$CTD_SOCK\"" \
		"restrict_oom_score_adj = true" "sandbox_image = \"$PAUSE_IMAGE\"" \
		"bin_dir = \"$R/cni/bin\"" "conf_dir = \"$R/cni/net.d\"" "path = \"$R/opt\"" \
		"Root = \"$R/runc\""; do
		grep -qF -- "$want" "$c" || { echo "config: could not set $want" >&2; return 1; }
	done
	# Nothing may point at the machine's own containerd.
	if grep -nE '"/(var/lib|run)/containerd|/opt/cni/bin|/etc/cni/net.d' "$c"; then
		echo "config: a default path is left (above)" >&2
		return 1
	fi
}

start_containerd() {
	nsenter --net="$NODE_NS" containerd --config "$R/config.toml" --log-level info \
		>"$R/logs/containerd.log" 2>&1 &
	CTD_PID=$!
	retry_until 30 cri version >/dev/null || {
		tail -n 20 "$R/logs/containerd.log" >&2
		return 1
	}
}

expect_ok "containerd config (default + private root/state/socket/CNI dirs)" write_config || e2e_finish
expect_ok "containerd starts in the node netns, CRI answers" start_containerd || e2e_finish
e2e_log "$(cri version)"
expect_ok "pause image built from pause.c and imported (ctr -n k8s.io images import)" build_pause_image ||
	e2e_finish
# NetworkReady turns true once the CRI plugin has loaded our conflist.
net_ready() { [ "$(cri status | jq -r '.NetworkReady.status')" = true ]; }
expect_ok "CRI reports NetworkReady (our conflist loaded)" retry_until 20 net_ready

# ---- two sandboxes -------------------------------------------------------------------------
declare -A SB=() SBIP=() SBNS=()
run_sandbox() {
	local pod=$1 id info
	id=$(cri run "$pod" rt "uid-$pod-$$" --cgroup-parent "$CG_PARENT" --log-dir "$R/logs/$pod") || return 1
	SB[$pod]=$id
	RT_IDS+=("$id")
	info=$(cri inspect "$id") || return 1
	SBIP[$pod]=$(jq -r .ip <<<"$info")
	SBNS[$pod]=$(jq -r .netns <<<"$info")
	case ${SBNS[$pod]} in /var/run/netns/* | /run/netns/*) RT_NETNS+=("${SBNS[$pod]##*/}") ;; esac
	printf '%s\n' "$info"
}
for pod in pod-a pod-b; do
	expect_ok "RunPodSandbox rt/$pod" run_sandbox "$pod" || e2e_finish
	# The function ran in expect_ok's shell: SB/SBIP/SBNS are set.
done
cidr=$(node_cidr node1); prefix=${cidr%.*}
for pod in pod-a pod-b; do
	expect_match "$pod got an address from the pod CIDR $cidr (PodSandboxStatus)" "${SBIP[$pod]}" \
		"^${prefix//./\\.}\\.[0-9]+$"
	expect_match "$pod's netns is a runtime netns" "${SBNS[$pod]}" '^/(var/)?run/netns/cni-[0-9a-f-]+$'
	expect_eq "$pod's eth0 holds the address" \
		"$(nsenter --net="${SBNS[$pod]}" ip -4 -o addr show dev eth0 2>&1 | awk '{print $4}')" "${SBIP[$pod]}/32"
done
expect_ne "the two sandboxes got different addresses" "${SBIP[pod-a]}" "${SBIP[pod-b]}"

# What containerd sent on ADD.
add_a=$(calls ADD "${SB[pod-a]}" | tail -n 1)
expect_eq "ADD of pod-a exited 0" "$(jq -r .rc <<<"$add_a")" 0
expect_eq "ADD of pod-a: CNI_NETNS is the sandbox netns" "$(jq -r .netns <<<"$add_a")" "${SBNS[pod-a]}"
# containerd 1.6 puts K8S_POD_INFRA_CONTAINER_ID first; the order is not ours to rely on.
expect_eq "ADD of pod-a: CNI_ARGS as kubelet/containerd send them" \
	"$(jq -r .args <<<"$add_a" | tr ';' '\n' | sort | tr '\n' ';')" \
	"IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID=${SB[pod-a]};K8S_POD_NAME=pod-a;K8S_POD_NAMESPACE=rt;K8S_POD_UID=uid-pod-a-$$;"
expect_eq "ADD result is a CNI $CNIV result containerd parsed" \
	"$(jq -r '.stdout | fromjson | "\(.cniVersion) \(.ips[0].address)"' <<<"$add_a")" "$CNIV ${SBIP[pod-a]}/32"

expect_ok "pod-a -> pod-b (ping, nsenter into the sandbox netns)" ping_ns "${SBNS[pod-a]}" "${SBIP[pod-b]}"
expect_ok "pod-b -> pod-a (ping)" ping_ns "${SBNS[pod-b]}" "${SBIP[pod-a]}"
expect_ok "node -> pod-a (ping from the node netns, where containerd runs)" ping_ns "$NODE_NS" "${SBIP[pod-a]}"
# TCP through lib.sh's helpers: register the sandboxes as pods of node1.
for pod in pod-a pod-b; do
	POD_NODE[rt/$pod]=node1; POD_NETNS[rt/$pod]=${SBNS[$pod]##*/}
done
serve pod rt pod-b tcp 8080 ctd-b
expect_reach "TCP pod-a -> pod-b" pod rt pod-a tcp "${SBIP[pod-b]}" 8080 ctd-b

# ---- the endpoints sluiced knows -------------------------------------------------------------
eps=$(cnictl_j node1 endpoint list)
for pod in pod-a pod-b; do
	expect_eq "cnictl endpoint list: $pod with namespace/name from CNI_ARGS" \
		"$(ep_of "${SB[$pod]}" | jq -r '"\(.namespace)/\(.pod) \(.ips[0] | split("/")[0])"')" "rt/$pod ${SBIP[$pod]}"
done
e2e_log "$(cnictl_t node1 endpoint list)"

# ---- teardown of pod-a: Stop, Stop, Remove (three DELs) ------------------------------------
expect_ok "StopPodSandbox pod-a (1st)" cri stop "${SB[pod-a]}"
expect_eq "pod-a's netns is gone after the 1st Stop" "$(test -e "${SBNS[pod-a]}" && echo present || echo gone)" gone
expect_ok "StopPodSandbox pod-a (2nd)" cri stop "${SB[pod-a]}"
expect_ok "RemovePodSandbox pod-a" cri remove "${SB[pod-a]}"
dels=$(calls DEL "${SB[pod-a]}")
expect_ge "containerd sent three DELs for pod-a" "$(grep -c . <<<"$dels")" 3
expect_eq "every DEL of pod-a exited 0" "$(jq -r .rc <<<"$dels" | sort -u | tr '\n' ' ')" "0 "
expect_eq "1st DEL carries the netns, the later ones an empty CNI_NETNS" \
	"$(jq -r 'if .netns == "" then "empty" else .netns end' <<<"$dels" | head -n 3 | tr '\n' ' ')" \
	"${SBNS[pod-a]} empty empty "
case $CNIV in 0.3.*) want_prev=null ;; *) want_prev=${SBIP[pod-a]}/32 ;; esac
expect_eq "1st DEL of pod-a: prevResult (libcni's cache) as spec $CNIV has it" \
	"$(head -n 1 <<<"$dels" | jq -r '.stdin | fromjson | .prevResult.ips[0].address')" "$want_prev"
expect_eq "after pod-a: one link, one lease, one endpoint record left (pod-b's)" \
	"$(host_links_settled node1 1) $(leases node1) $(endpoint_records node1)" "1 1 1"
expect_eq "cnictl endpoint list: only pod-b" \
	"$(cnictl_j node1 endpoint list | jq -r '[(if type == "array" then . else .endpoints end)[] | .pod] | join(",")')" pod-b
expect_ok "pod-b still reachable from the node" ping_ns "$NODE_NS" "${SBIP[pod-b]}"

# ---- pod-b the same way; then nothing is left ---------------------------------------------------
expect_ok "StopPodSandbox pod-b (1st)" cri stop "${SB[pod-b]}"
expect_ok "StopPodSandbox pod-b (2nd)" cri stop "${SB[pod-b]}"
expect_ok "RemovePodSandbox pod-b" cri remove "${SB[pod-b]}"
dels=$(calls DEL "${SB[pod-b]}")
expect_eq "pod-b: DELs exit 0, the later ones with empty CNI_NETNS" \
	"$(jq -r '"\(.rc):\(if .netns == "" then "empty" else "netns" end)"' <<<"$dels" | head -n 3 | tr '\n' ' ')" \
	"0:netns 0:empty 0:empty "
expect_eq "no link, lease or endpoint record left" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
expect_eq "cnictl endpoint list is empty" \
	"$(cnictl_j node1 endpoint list | jq '[(if type == "array" then . else .endpoints end)[]] | length')" 0
expect_eq "CRI lists no sandbox" "$(cri list | grep -c .)" 0
expect_eq "no sandbox netns left" \
	"$(for p in pod-a pod-b; do test -e "${SBNS[$p]}" && echo "${SBNS[$p]}"; done)" ""
expect_eq "libcni's result cache has no entry of ours left" \
	"$(compgen -G "/var/lib/cni/results/sluice-containerd-*" | wc -l)" 0
failed_calls=$(for c in ADD DEL CHECK VERSION STATUS GC; do calls "$c"; done | jq -c 'select(.rc != 0)')
expect_eq "no CNI call failed" "$failed_calls" ""
[ -n "$failed_calls" ] && printf '%s\n' "$failed_calls" | head -n 5 | sed 's/^/#   | /'

# ---- kubelet starts pods in parallel: concurrent RunPodSandbox, Stop, Remove -------------------
par_pods="par-1 par-2 par-3 par-4"
par_run() { cri run "$1" rt "uid-$1-$$" --cgroup-parent "$CG_PARENT" >"$R/$1.id"; }
# Wait for these jobs only: sluiced and the test servers are jobs of this shell too.
par_pids=()
for p in $par_pods; do par_run "$p" & par_pids+=($!); done
wait "${par_pids[@]}"
par_ips="" par_ok=0
for p in $par_pods; do
	id=$(cat "$R/$p.id" 2>/dev/null)
	[ -n "$id" ] || continue
	SB[$p]=$id; RT_IDS+=("$id")
	info=$(cri inspect "$id") || continue
	SBIP[$p]=$(jq -r .ip <<<"$info"); SBNS[$p]=$(jq -r .netns <<<"$info")
	RT_NETNS+=("${SBNS[$p]##*/}")
	par_ok=$((par_ok + 1)); par_ips+="${SBIP[$p]} "
done
expect_eq "4 concurrent RunPodSandbox succeeded" "$par_ok" 4
expect_eq "they got 4 distinct addresses" "$(tr ' ' '\n' <<<"$par_ips" | grep -c .) $(tr ' ' '\n' <<<"$par_ips" | grep . | sort -u | wc -l)" "4 4"
expect_ok "par-1 -> par-4 (ping)" ping_ns "${SBNS[par-1]}" "${SBIP[par-4]}"
expect_ok "par-4 -> par-2 (ping)" ping_ns "${SBNS[par-4]}" "${SBIP[par-2]}"
for p in $par_pods; do
	[ -n "${SB[$p]:-}" ] || continue
	{ cri stop "${SB[$p]}" && cri stop "${SB[$p]}" && cri remove "${SB[$p]}"; } >/dev/null 2>&1 &
	par_pids+=($!)
done
wait "${par_pids[@]}"
expect_eq "after concurrent Stop/Stop/Remove: no link, lease or record left" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
par_calls=$(for p in $par_pods; do calls ADD "${SB[$p]:-none}"; calls DEL "${SB[$p]:-none}"; done)
expect_eq "12 DELs and 4 ADDs, all exit 0" \
	"$(jq -r .cmd <<<"$par_calls" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}') $(jq -r .rc <<<"$par_calls" | sort -u | tr '\n' ' ')" \
	"ADD=4 DEL=12  0 "

# ---- sluiced down: ADD fails with "try again later", containerd tears down, nothing leaks --------
sluiced_stop node1 TERM
expect_fail "RunPodSandbox fails while sluiced is down" cri run pod-down rt "uid-pod-down-$$" --cgroup-parent "$CG_PARENT"
down_add=$(calls ADD | jq -c 'select(.args | test("K8S_POD_NAME=pod-down(;|$)"))' | tail -n 1)
down_id=$(jq -r .cid <<<"$down_add")
[ -n "$down_id" ] && RT_IDS+=("$down_id")
expect_eq "ADD while sluiced is down: CNI error 11 (try again later)" \
	"$(jq -r '"\(.rc) \(.stdout | fromjson? | .code)"' <<<"$down_add")" "1 11"
e2e_log "ADD answer: $(jq -r .stdout <<<"$down_add")"
down_dels=$(calls DEL "$down_id")
e2e_log "containerd's DELs after the failed ADD: $(jq -c '{rc, netns, stdout}' <<<"$down_dels" | tr '\n' ' ')"
expect_eq "nothing left after the failed ADD (links, leases, records)" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
expect_eq "containerd's teardown DELs while sluiced is down exit 0" \
	"$(jq -r .rc <<<"$down_dels" | sort -u | tr '\n' ' ')" "0 "
# containerd keeps the sandbox (state SANDBOX_UNKNOWN) when that DEL fails.
expect_eq "CRI keeps no sandbox of the failed run" "$(cri list | grep -c .)" 0
expect_ok "sluiced restarts" sluiced_start node1
# What kubelet does with a sandbox left behind: Stop (DEL again) and Remove.
for id in $(cri list); do
	expect_ok "leftover sandbox ${id:0:12}: Stop and Remove after sluiced is back" \
		eval "cri stop $id && cri remove $id"
done
expect_ok "RunPodSandbox works again (pod-c)" run_sandbox pod-c
expect_ok "node -> pod-c (ping)" ping_ns "$NODE_NS" "${SBIP[pod-c]}"
expect_ok "Stop/Stop/Remove pod-c" eval 'cri stop "${SB[pod-c]}" && cri stop "${SB[pod-c]}" && cri remove "${SB[pod-c]}"'
expect_eq "nothing left at the end" "$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1) $(cri list | grep -c .)" "0 0 0 0"

# ---- containerd goes; nothing of it may stay ------------------------------------------------
rt_stop_containerd
expect_eq "no shim or pause process left" "$(rt_pids_of_ours | tr '\n' ' ')" ""
expect_eq "no mount left below containerd's root/state" "$(rt_mounts_below "$R" | tr '\n' ' ')" ""
expect_eq "no runtime netns of this run left in /run/netns" \
	"$(for ns in $(rt_runtime_netns); do case " $RT_NETNS_BEFORE " in *" $ns "*) ;; *) echo "$ns" ;; esac; done | tr '\n' ' ')" ""
rt_tidy_globals
expect_eq "nothing created in the machine's containerd/CNI paths" \
	"$(for p in $rt_globals_absent; do [ -e "$p" ] && echo "$p"; done | tr '\n' ' ')" ""
if [ "$E2E_FAIL" -gt 0 ]; then
	echo "# ---- containerd log (errors) ----"
	grep -iE 'level=(error|warning)' "$R/logs/containerd.log" | tail -n 15 | sed 's/^/#   /'
fi
e2e_finish
