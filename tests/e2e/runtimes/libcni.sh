#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The plugin under a real runtime library: libcni (what containerd's CRI
# plugin, CRI-O and cnitool use), through a small Go driver built offline from
# Debian's golang-github-appc-cni-dev (cnitool.go). libcni validates the
# plugin's VERSION, caches ADD results and sends them as prevResult on CHECK
# and DEL, and sends DEL with an empty netns the way containerd does.
#
#   ┌────── node1 netns (sluiced) ── cnitool runs here via nsenter --net ──────┐
#   │  conflist: $E2E_ROOT/net.d/10-sluice.conflist   cache: $E2E_ROOT/cache    │
#   │   sl…a ══ BPF ══ sl…b                                                      │
#   └────┼──────────────┼─────────────────────────────────────────────────────────┘
#      k8s/a          k8s/b        (pod netns made by the test, as a runtime would)
source "$(dirname "$0")/../lib.sh"

# ---- the driver ------------------------------------------------------------------------
cnitool=$BUILD/cnitool
src=$(dirname "$0")/cnitool.go
if ! [ -x "$cnitool" ] || [ "$src" -nt "$cnitool" ]; then
	if ! command -v go >/dev/null || ! [ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ]; then
		e2e_failed "build cnitool" "needs golang-go and golang-github-appc-cni-dev (hack/deps.sh installs them)"
		e2e_finish
	fi
	expect_ok "build cnitool on Debian's libcni (offline)" env GOPATH=/usr/share/gocode GO111MODULE=off \
		GOPROXY=off GOFLAGS= GOCACHE="$E2E_ROOT/gocache" go build -o "$cnitool" "$src" || e2e_finish
fi

expect_ok "sluiced starts" node_up node1 || e2e_finish
mkdir -p "$E2E_ROOT/net.d" "$E2E_ROOT/cache"
conflist=$E2E_ROOT/net.d/10-sluice.conflist
# libcni 1.1.2 speaks spec 1.0.0.
jq '{cniVersion:"1.0.0", name:"sluice-libcni", plugins:[del(.cniVersion, .name)]}' \
	"$(node_conf node1)" >"$conflist"
plugdir=$E2E_ROOT/bin
mkdir -p "$plugdir" && ln -s "$SLUICE_BIN" "$plugdir/sluice"

# tool VERB NS NAME [NETNS]: runs the driver in node1's netns like a runtime.
tool() {
	local verb=$1 ns=$2 name=$3 netns=${4-/run/netns/$(pod_netns "$2" "$3")}
	nsenter --net="/run/netns/$(node_netns node1)" env CNI_PATH="$plugdir:$E2E_CNI_PLUGINS" \
		CNI_CACHE_DIR="$E2E_ROOT/cache" timeout 60 "$cnitool" "$verb" "$conflist" "$netns" \
		"$(pod_cid "$ns" "$name")" eth0 \
		"IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name;K8S_POD_INFRA_CONTAINER_ID=$(pod_cid "$ns" "$name")"
}

expect_ok "libcni validates the plugin (VERSION)" tool validate k8s a
for p in a b; do
	pod_netns_create node1 k8s $p
	expect_ok "libcni ADD $p" eval 'tool add k8s $p >"$(pod_result k8s $p)"'
done
ipa=$(jq -r '.ips[0].address' "$(pod_result k8s a)" | cut -d/ -f1)
ipb=$(jq -r '.ips[0].address' "$(pod_result k8s b)" | cut -d/ -f1)
expect_match "libcni parsed a 1.0.0 result for a" "$ipa" '^10\.244\.1\.[0-9]+$'
expect_ok "a -> b" ping_from pod k8s a "$ipb"
serve pod k8s b tcp 8080 libcni-b
expect_reach "TCP a -> b" pod k8s a tcp "$ipb" 8080 libcni-b
expect_ok "libcni CHECK a (cached prevResult)" tool check k8s a
expect_ok "libcni DEL a (cached prevResult)" tool del k8s a
expect_eq "a's veth and lease gone" "$(host_links_settled node1 1) $(leases node1)" "1 1"
expect_ok "libcni DEL a again" tool del k8s a

# containerd: StopPodSandbox twice and RemovePodSandbox, the later two with
# an empty netns after the netns is gone.
expect_ok "libcni DEL b (first, with netns)" tool del k8s b
pod_destroy k8s b
expect_ok "libcni DEL b with empty netns (second)" tool del k8s b ""
expect_ok "libcni DEL b with empty netns (third)" tool del k8s b ""
expect_eq "nothing left" "$(host_links_settled node1 0) $(leases node1) $(endpoint_records node1)" "0 0 0"

e2e_finish
