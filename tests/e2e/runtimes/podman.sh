#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The plugin under podman's CNI backend (Debian's podman 4.3.1): `podman run`
# two containers on a CNI network made of our conflist, traffic between them,
# `podman rm -f`. Every podman command runs in the node netns (nsenter --net)
# with a private containers.conf and storage.conf (vfs) under the test's temp
# dir, runc as the OCI runtime; the image is busybox-static imported with
# `podman import`.
#
#   ┌──────── node1 netns: sluiced; podman and conmon run here ───────────────┐
#   │  cni_plugin_dirs: sluice (through a tap that logs each call), loopback  │
#   │  network_config_dir: sluice-podman.conflist (bpffs/socket/stateDir)     │
#   │   sl…a ═══════ BPF ═══════ sl…b                                         │
#   └────┼─────────────────────────┼──────────────────────────────────────────┘
#   /run/netns/netns-<uuid>     /run/netns/netns-<uuid>
#     container rt-a              container rt-b       (busybox, sleep)
#
# What podman sends (checked through the tap): VERSION when it loads the
# config, with CNI_NETNS/CNI_IFNAME/CNI_PATH "dummy"; ADD and DEL with
# CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=<container> (no namespace) and
# CNI_NETNS=/run/netns/netns-<uuid>; DEL with the cached result as prevResult.
#
# Also: podman stop + start (DEL, then ADD again for the same container ID in
# a new netns), and podman run while sluiced is down (ADD must fail with code
# 11 and podman's clean-up DEL must succeed). RT_CNI_VERSION=0.4.0|0.3.1 runs
# everything with an older conflist; RT_TAP_SAVE=DIR keeps the tap's records;
# RT_NO_BUILD=1 skips the make step.
E2E_NAME=${E2E_NAME:-runtimes/podman}
# shellcheck source=lib-runtime.sh
source "$(dirname "$0")/lib-runtime.sh"

R=$E2E_ROOT/podman              # everything podman owns lives below
NET=sluice-podman               # the CNI network (conflist name)
IMAGE=localhost/sluice-busybox:e2e
CG_PARENT=/sluice-rtp-$$        # cgroupfs parent of the containers (v1 hierarchies)
PM_NS=rtp$$                     # libpod namespace: our containers only

# ---- prerequisites: a missing runtime is a failure with the reason, not a skip ---------
rt_missing=""
for t in podman runc conmon jq tar; do
	command -v "$t" >/dev/null || rt_missing+=" $t"
done
[ -x /bin/busybox ] && LC_ALL=C ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
	rt_missing+=" /bin/busybox(busybox-static)"
if [ -n "$rt_missing" ]; then
	e2e_failed "podman runtime prerequisites" "missing:$rt_missing (hack/deps.sh installs them)"
	e2e_finish
fi

# pm ARGS...: podman in the node netns with our private configuration.
pm() {
	nsenter --net="$NODE_NS" env CONTAINERS_CONF="$R/containers.conf" \
		CONTAINERS_STORAGE_CONF="$R/storage.conf" TMPDIR="$R/tmp" \
		timeout 120 podman --root "$R/graphroot" --runroot "$R/runroot" --storage-driver vfs \
		--tmpdir "$R/libpod" --runtime runc --cgroup-manager cgroupfs --events-backend file \
		--network-config-dir "$R/cni/net.d" --namespace "$PM_NS" "$@"
}

# ---- cleanup, on every path --------------------------------------------------------------

# rt_pids_of_ours: conmon processes of our containers (their command line
# names our runroot/graphroot) and everything in our container cgroups.
rt_pids_of_ours() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}; pid=${pid%/cmdline}
		[ "$pid" = $$ ] && continue
		{ tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "$R/" && echo "$pid"
	done
	cat /sys/fs/cgroup/*"$CG_PARENT"/cgroup.procs /sys/fs/cgroup/*"$CG_PARENT"/*/cgroup.procs 2>/dev/null
}


# Machine-wide paths podman (and libcni under it) use by default: the test
# must not leave any of them behind. Two have no setting in podman 4.3:
# libcni's result cache (/var/lib/cni/results) and containers/image's blob
# info cache, which `podman import` writes as root to
# /var/lib/containers/cache/blob-info-cache-v1.boltdb. The test removes them
# when it created them (the directories only when empty).
RT_GLOBAL_PATHS="/var/lib/containers/cache /var/lib/containers
	/run/libpod /run/containers /dev/shm/libpod_lock /etc/cni/net.d /opt/cni"
# libcni's cache dir is shared with every libcni user (another test may be
# using it right now): tidied, but judged by our own entries only.
RT_CNI_CACHE_ABSENT=$(for p in /var/lib/cni/results /var/lib/cni; do [ -e "$p" ] || echo "$p"; done | tr "\n" " ")
rt_globals_absent=""
rt_tidy_globals() {
	local p
	case " $rt_globals_absent " in
	*" /var/lib/containers/cache "*) rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb ;;
	esac
	for p in /var/lib/cni/results /var/lib/cni /var/lib/containers/cache /var/lib/containers; do
		case " $rt_globals_absent ${RT_CNI_CACHE_ABSENT:-} " in *" $p "*) rmdir "$p" 2>/dev/null ;; esac
	done
	return 0
}

declare -a RT_NETNS=() RT_IDS=()
# rt_runtime_netns: the netns names podman gives its sandboxes (netns-<uuid>).
rt_runtime_netns() {
	local f
	for f in /run/netns/netns-*; do
		[[ ${f##*/} =~ ^netns-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] && echo "${f##*/}"
	done
}
RT_NETNS_BEFORE=$(rt_runtime_netns | tr '\n' ' ')
# rt_cleanup: removes our containers (through podman), then any conmon or
# container process, mount, cgroup and netns left. lib.sh's trap then removes
# the node and $E2E_ROOT.
rt_cleanup() {
	local id
	if [ -n "${NODE_NS:-}" ] && [ -e "$R/containers.conf" ]; then
		pm rm -af -t 0 >/dev/null 2>&1
	fi
	rt_cleanup_leftovers
	# libcni's cached results of containers podman could not tear down
	# (container IDs are unique).
	for id in "${RT_IDS[@]}"; do rm -f /var/lib/cni/results/*-"$id"-*; done
	rt_tidy_globals
	return 0
}
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
rt_globals_absent=$(for p in $RT_GLOBAL_PATHS; do [ -e "$p" ] || echo "$p"; done | tr '\n' ' ')

# ---- node, CNI dirs, the tap, podman's configuration ---------------------------------------
expect_ok "sluiced starts" node_up node1 || e2e_finish
NODE_NS=/run/netns/$(node_netns node1)
mkdir -p "$R"/{graphroot,runroot,libpod,tmp,cni/bin,cni/net.d,tap,rootfs/bin} || e2e_finish

rt_install_tap
ln -s "$E2E_CNI_PLUGINS/loopback" "$R/cni/bin/loopback"
# podman 4.3 vendors libcni 1.1: spec 1.0.0 (RT_CNI_VERSION=0.4.0 or 0.3.1 runs
# the test with an older conflist; libcni converts the result).
jq --arg n "$NET" --arg v "${RT_CNI_VERSION:-1.0.0}" '{cniVersion:$v, name:$n, plugins:[del(.cniVersion, .name)]}' \
	"$(node_conf node1)" >"$R/cni/net.d/$NET.conflist"

cat >"$R/containers.conf" <<EOF
# Private podman configuration of the sluice podman runtime test.
[containers]
# The defaults raise limits, which needs CAP_SYS_RESOURCE we do not have.
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
cgroups = "enabled"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$R/libpod/events.log"
runtime = "runc"
tmp_dir = "$R/libpod"
static_dir = "$R/graphroot/libpod"
volume_path = "$R/graphroot/volumes"
image_copy_tmp_dir = "$R/tmp"
# File locks under tmp_dir instead of the machine-wide /dev/shm/libpod_lock.
lock_type = "file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["$R/cni/bin"]
network_config_dir = "$R/cni/net.d"
default_network = "$NET"
EOF
cat >"$R/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$R/runroot"
graphroot = "$R/graphroot"
EOF


# ---- image, network -------------------------------------------------------------------------
import_image() {
	cp /bin/busybox "$R/rootfs/bin/busybox" || return 1
	local app
	for app in sh sleep ping ip nc cat; do ln -s busybox "$R/rootfs/bin/$app" || return 1; done
	tar --numeric-owner --owner=0 --group=0 -C "$R/rootfs" -c . | pm import - "$IMAGE"
}
expect_ok "podman info works with the private config (cni backend, runc, vfs)" \
	eval 'pm info --format "{{.Host.NetworkBackend}} {{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}" | tee "$R/info" | grep -qx "cni runc vfs"' ||
	{ e2e_log "podman info: $(cat "$R/info" 2>/dev/null)"; e2e_finish; }
expect_ok "busybox-static image imported (podman import)" import_image || e2e_finish
expect_eq "podman lists our CNI network" "$(pm network ls --format '{{.Name}}' | grep -cx "$NET")" 1
expect_ok "podman validated the plugin: VERSION with CNI_NETNS=dummy answered" \
	eval '[ -n "$(calls VERSION | jq -c "select(.netns == \"dummy\" and .rc == 0)")" ]'
expect_match "VERSION lists 1.0.0 (the conflist's version)" \
	"$(calls VERSION | head -n 1 | jq -r '.stdout | fromjson | .supportedVersions | join(" ")')" '(^| )1\.0\.0( |$)'

# ---- two containers ---------------------------------------------------------------------------
declare -A CID=() CIP=() CNS=()
run_ctr() {
	local c=$1 info
	pm run -d --name "$c" --network "$NET" --cgroup-parent "$CG_PARENT" --cap-add NET_RAW \
		"$IMAGE" sleep 600 || return 1
	info=$(pm inspect "$c") || return 1
	CID[$c]=$(jq -r '.[0].Id' <<<"$info")
	RT_IDS+=("${CID[$c]}")
	CIP[$c]=$(jq -r --arg n "$NET" '.[0].NetworkSettings.Networks[$n].IPAddress' <<<"$info")
	CNS[$c]=$(jq -r '.[0].NetworkSettings.SandboxKey' <<<"$info")
	case ${CNS[$c]} in /run/netns/* | /var/run/netns/*) RT_NETNS+=("${CNS[$c]##*/}") ;; esac
	echo "$c: ${CID[$c]} ${CIP[$c]} ${CNS[$c]}"
}
for c in rt-a rt-b; do
	expect_ok "podman run $c on $NET" run_ctr "$c" || e2e_finish
done
cidr=$(node_cidr node1); prefix=${cidr%.*}
for c in rt-a rt-b; do
	expect_match "$c got an address from the pod CIDR $cidr (podman inspect)" "${CIP[$c]}" \
		"^${prefix//./\\.}\\.[0-9]+$"
	expect_match "$c's netns is podman's" "${CNS[$c]}" '^/(var/)?run/netns/netns-[0-9a-f-]+$'
done
expect_ne "the two containers got different addresses" "${CIP[rt-a]}" "${CIP[rt-b]}"

add_a=$(calls ADD "${CID[rt-a]}" | tail -n 1)
expect_eq "ADD of rt-a exited 0" "$(jq -r .rc <<<"$add_a")" 0
expect_eq "ADD of rt-a: CNI_NETNS is the container's netns" "$(jq -r .netns <<<"$add_a")" "${CNS[rt-a]}"
expect_eq "ADD of rt-a: CNI_ARGS as podman sends them (no namespace)" \
	"$(jq -r .args <<<"$add_a" | tr ';' '\n' | sort | tr '\n' ';')" "IgnoreUnknown=1;K8S_POD_NAME=rt-a;"

# ---- traffic -------------------------------------------------------------------------------
pm_ping() { local try; for try in 1 2 3; do pm exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 && return 0; done; return 1; }
expect_ok "rt-a -> rt-b (ping inside the container)" pm_ping rt-a "${CIP[rt-b]}"
expect_ok "rt-b -> rt-a (ping inside the container)" pm_ping rt-b "${CIP[rt-a]}"
expect_ok "node -> rt-a (ping from the node netns)" ping_ns "$NODE_NS" "${CIP[rt-a]}"
expect_eq "eth0 of rt-a holds the address" \
	"$(pm exec rt-a ip -4 -o addr show dev eth0 2>&1 | awk '{print $4}')" "${CIP[rt-a]}/32"

# ---- the endpoints sluiced knows -------------------------------------------------------------
eps=$(cnictl_j node1 endpoint list)
for c in rt-a rt-b; do
	expect_eq "cnictl endpoint list: $c with its pod name (K8S_POD_NAME) and address" \
		"$(ep_of "${CID[$c]}" | jq -r '"\(.pod) \(.ips[0] | split("/")[0])"')" "$c ${CIP[$c]}"
done
e2e_log "$(cnictl_t node1 endpoint list)"

# ---- podman stop + start: DEL, then ADD again for the same container ID ---------------------
# conmon's exit command (podman container cleanup) tears the network down
# when the container stops; start sets it up again in a new netns.
old_ns=${CNS[rt-b]}
expect_ok "podman stop rt-b" pm stop -t 0 rt-b
expect_eq "stop: DEL of rt-b exited 0" "$(calls DEL "${CID[rt-b]}" | jq -r .rc | tr '\n' ' ')" "0 "
expect_eq "stop: rt-b's link, lease and record are gone" \
	"$(host_links_settled node1 1) $(leases node1) $(endpoint_records node1)" "1 1 1"
expect_ok "podman start rt-b" pm start rt-b
info=$(pm inspect rt-b)
CIP[rt-b]=$(jq -r --arg n "$NET" '.[0].NetworkSettings.Networks[$n].IPAddress' <<<"$info")
CNS[rt-b]=$(jq -r '.[0].NetworkSettings.SandboxKey' <<<"$info")
case ${CNS[rt-b]} in /run/netns/* | /var/run/netns/*) RT_NETNS+=("${CNS[rt-b]##*/}") ;; esac
expect_match "restarted rt-b has an address from the pod CIDR again" "${CIP[rt-b]}" "^${prefix//./\\.}\\.[0-9]+$"
expect_ne "restarted rt-b runs in a new netns" "${CNS[rt-b]}" "$old_ns"
expect_eq "rt-b got a second ADD (same container ID), exit 0" \
	"$(calls ADD "${CID[rt-b]}" | jq -r .rc | tr '\n' ' ')" "0 0 "
expect_ok "rt-a -> restarted rt-b (ping)" pm_ping rt-a "${CIP[rt-b]}"
expect_ok "restarted rt-b -> rt-a (ping)" pm_ping rt-b "${CIP[rt-a]}"
expect_eq "two links, leases and records again" \
	"$(host_links_settled node1 2) $(leases node1) $(endpoint_records node1)" "2 2 2"

# ---- podman rm -f: DEL with prevResult ------------------------------------------------------
expect_ok "podman rm -f rt-a" pm rm -f -t 0 rt-a
del_a=$(calls DEL "${CID[rt-a]}")
expect_ge "podman sent a DEL for rt-a" "$(grep -c . <<<"$del_a")" 1
expect_eq "every DEL of rt-a exited 0" "$(jq -r .rc <<<"$del_a" | sort -u | tr '\n' ' ')" "0 "
# prevResult on DEL exists since spec 0.4.0.
case ${RT_CNI_VERSION:-1.0.0} in
0.3.*) want_prev=null ;;
*) want_prev=${CIP[rt-a]}/32 ;;
esac
expect_eq "DEL of rt-a: prevResult as spec ${RT_CNI_VERSION:-1.0.0} has it" \
	"$(head -n 1 <<<"$del_a" | jq -r '.stdin | fromjson | .prevResult.ips[0].address')" "$want_prev"
expect_eq "after rt-a: one link, one lease, one endpoint record left (rt-b's)" \
	"$(host_links_settled node1 1) $(leases node1) $(endpoint_records node1)" "1 1 1"
expect_ok "rt-b still reachable from the node" ping_ns "$NODE_NS" "${CIP[rt-b]}"
expect_ok "podman rm -f rt-b" pm rm -f -t 0 rt-b
expect_eq "DELs of rt-b (stop, rm) exited 0" "$(calls DEL "${CID[rt-b]}" | jq -r .rc | tr '\n' ' ')" "0 0 "
expect_eq "no link, lease or endpoint record left" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
expect_eq "cnictl endpoint list is empty" \
	"$(cnictl_j node1 endpoint list | jq '[(if type == "array" then . else .endpoints end)[]] | length')" 0
expect_eq "podman lists no container" "$(pm ps -aq | grep -c .)" 0
expect_eq "no container netns left" \
	"$(for c in rt-a rt-b; do test -e "${CNS[$c]}" && echo "${CNS[$c]}"; done)" ""
expect_eq "libcni's result cache has no entry of ours left" \
	"$(compgen -G "/var/lib/cni/results/$NET-*" | wc -l)" 0
failed_calls=$(for c in ADD DEL CHECK VERSION STATUS GC; do calls "$c"; done | jq -c 'select(.rc != 0)')
expect_eq "no CNI call failed" "$failed_calls" ""
[ -n "$failed_calls" ] && printf '%s\n' "$failed_calls" | head -n 5 | sed 's/^/#   | /'
e2e_log "CNI calls podman made: $(for c in VERSION ADD CHECK DEL; do echo "$c=$(calls "$c" | grep -c .)"; done | tr '\n' ' ')"

# ---- sluiced down: podman run fails with "try again later", nothing leaks ------------------
sluiced_stop node1 TERM
expect_fail "podman run fails while sluiced is down" \
	pm run -d --name rt-down --network "$NET" --cgroup-parent "$CG_PARENT" "$IMAGE" sleep 600
down_add=$(calls ADD | jq -c 'select(.args | test("K8S_POD_NAME=rt-down(;|$)"))' | tail -n 1)
down_id=$(jq -r .cid <<<"$down_add")
[ -n "$down_id" ] && RT_IDS+=("$down_id")
expect_eq "ADD while sluiced is down: CNI error 11 (try again later)" \
	"$(jq -r '"\(.rc) \(.stdout | fromjson? | .code)"' <<<"$down_add")" "1 11"
down_dels=$(calls DEL "$down_id")
e2e_log "podman's DELs after the failed ADD: $(jq -c '{rc, netns, stdout}' <<<"$down_dels" | tr '\n' ' ')"
expect_eq "podman's teardown DELs while sluiced is down exit 0" \
	"$(jq -r .rc <<<"$down_dels" | sort -u | tr '\n' ' ')" "$([ -n "$down_dels" ] && echo "0 ")"
expect_eq "nothing left after the failed ADD (links, leases, records)" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"
expect_ok "sluiced restarts" sluiced_start node1
expect_ok "podman rm -f the failed container" pm rm -f -t 0 rt-down
expect_ok "podman run works again (rt-c)" run_ctr rt-c
expect_ok "node -> rt-c (ping)" ping_ns "$NODE_NS" "${CIP[rt-c]}"
expect_ok "podman rm -f rt-c" pm rm -f -t 0 rt-c
expect_eq "nothing left at the end" \
	"$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1) $(pm ps -aq | grep -c .)" "0 0 0 0"

# ---- nothing of podman may stay ---------------------------------------------------------------
expect_eq "no conmon or container process left" "$(rt_pids_of_ours | tr '\n' ' ')" ""
expect_eq "no mount left below podman's root/runroot" "$(rt_mounts_below "$R" | tr '\n' ' ')" ""
expect_eq "no runtime netns of this run left in /run/netns" \
	"$(for ns in $(rt_runtime_netns); do case " $RT_NETNS_BEFORE " in *" $ns "*) ;; *) echo "$ns" ;; esac; done | tr '\n' ' ')" ""
rt_tidy_globals
expect_eq "nothing created in the machine's podman/CNI paths" \
	"$(for p in $rt_globals_absent; do [ -e "$p" ] && echo "$p"; done | tr '\n' ' ')" ""
e2e_finish
