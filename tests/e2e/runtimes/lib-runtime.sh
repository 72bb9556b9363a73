#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by containerd.sh and podman.sh (sourced first thing, after they set
# E2E_NAME): builds the binaries, sources ../lib.sh, and provides the helpers
# both runtimes' tests use. Not a test itself (tests/run.sh skips lib-*.sh).

RT_REPO=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-$RT_REPO/build}
case $BUILD in /*) ;; *) BUILD=$RT_REPO/$BUILD ;; esac
export BUILD

# ---- build (before lib.sh: it checks for the binaries) -------------------------------
if [ "${RT_NO_BUILD:-0}" != 1 ]; then
	if ! rt_build_log=$(make -C "$RT_REPO" BUILD="$BUILD" "$BUILD/sluice" "$BUILD/sluiced" "$BUILD/cnictl" 2>&1); then
		printf '%s\n' "$rt_build_log" | tail -n 20 | sed 's/^/#   | /'
		printf 'FAIL - %s: make BUILD=%s failed\n' "$E2E_NAME" "$BUILD"
		printf 'E2E_SUMMARY name=%s passed=0 failed=1\n' "$E2E_NAME"
		exit 1
	fi
fi

# shellcheck source=../lib.sh
source "$(dirname "$0")/../lib.sh"

# rt_install_tap: $R/cni/bin/sluice becomes a tap that records each call
# (env, stdin, answer, exit code) as one JSON file in $R/tap and passes
# everything through to the real plugin unchanged.
rt_install_tap() {
cat >"$R/cni/bin/sluice" <<EOF
#!/bin/sh
# Records one CNI call of the runtime, then answers exactly what sluice answers.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
t=\$(mktemp -d "$R/tap/call.XXXXXX") || exit 1
cat >"\$t/in"
"$SLUICE_BIN" <"\$t/in" >"\$t/out" 2>"\$t/err"
rc=\$?
jq -cn --arg cmd "\${CNI_COMMAND-}" --arg cid "\${CNI_CONTAINERID-}" \\
	--arg netns "\${CNI_NETNS-<unset>}" --arg args "\${CNI_ARGS-}" --arg ifname "\${CNI_IFNAME-}" \\
	--arg path "\${CNI_PATH-<unset>}" --arg t "\$(date +%s%N)" --rawfile stdin "\$t/in" \\
	--rawfile stdout "\$t/out" --rawfile stderr "\$t/err" --argjson rc "\$rc" \\
	'{t:\$t, cmd:\$cmd, cid:\$cid, netns:\$netns, args:\$args, ifname:\$ifname, path:\$path,
	  rc:\$rc, stdin:\$stdin, stdout:\$stdout, stderr:\$stderr}' >"\$t.json"
cat "\$t/out"
rm -rf "\$t"
exit \$rc
EOF
chmod 0755 "$R/cni/bin/sluice"
}

# rt_mounts_below DIR: mount points at or below DIR, deepest first.
rt_mounts_below() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# rt_cleanup_leftovers: what a runtime test may leave behind, whether the
# runtime tore its sandboxes down or not: processes of ours
# (rt_pids_of_ours), mounts below $R, the cgroups under $CG_PARENT, the
# netns in RT_NETNS, and netns the runtime made that are new since
# RT_NETNS_BEFORE and empty (rt_runtime_netns). The caller defines those.
rt_cleanup_leftovers() {
	local pid m d ns
	for pid in $(rt_pids_of_ours); do kill -KILL "$pid" 2>/dev/null; done
	for m in $(rt_mounts_below "$R"); do umount "$m" 2>/dev/null || umount -l "$m"; done
	for d in /sys/fs/cgroup/*"$CG_PARENT"/* /sys/fs/cgroup/*"$CG_PARENT"; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	for ns in "${RT_NETNS[@]}"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	# Netns the runtime made for a sandbox we never learnt about (it died,
	# or the script was stopped mid-way): new since we started, and empty.
	for ns in $(rt_runtime_netns); do
		case " $RT_NETNS_BEFORE " in *" $ns "*) continue ;; esac
		[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && ip netns del "$ns" 2>/dev/null
	done
}

# calls CMD [CID]: the tap's records (JSON lines, in call order), optionally
# only CMD calls for container CID.
calls() {
	local f
	for f in "$R"/tap/call.*.json; do [ -e "$f" ] && cat "$f"; done |
		jq -sc --arg c "$1" --arg id "${2:-}" \
			'sort_by(.t | tonumber) | .[] | select(.cmd == $c and ($id == "" or .cid == $id))'
}

# ping_ns NETNS_PATH IP: one ping from inside a runtime's netns (3 tries).
ping_ns() { local try; for try in 1 2 3; do nsenter --net="$1" ping -n -c 1 -W 2 "$2" >/dev/null 2>&1 && return 0; done; return 1; }

# ep_of CONTAINER_ID: the endpoint record of a container, from $eps (the
# caller's endpoint.list / cnictl endpoint list JSON).
ep_of() { jq -c --arg c "$1" '(if type == "array" then . else .endpoints end)[] | select(.containerID == $c)' <<<"$eps"; }
