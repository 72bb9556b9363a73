#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Times one CNI verb over many pods, run INSIDE the node netns (bench.sh does
# `ip netns exec NODE hack/bench/cni_loop.sh ...`), so the figures hold only
# the plugin's own fork+exec and work, as a runtime would see them.
#
#   cni_loop.sh VERB PLUGIN CONF NETNS_PREFIX N CNI_PATH OUT
#
# Pod i (1..N) uses netns /run/netns/NETNS_PREFIX-i and container ID
# bench-<i>. Writes one line per call to OUT: "<ms>" (wall time, 3 decimals).
# Exits 1 on the first failing call (its output on stderr).
set -uo pipefail
verb=$1 plugin=$2 conf=$3 pfx=$4 n=$5 cnipath=$6 out=$7
: >"$out"
for ((i = 1; i <= n; i++)); do
	t0=$EPOCHREALTIME
	res=$(env -i PATH="$PATH" CNI_COMMAND="$verb" CNI_CONTAINERID="bench-$pfx-$i" \
		CNI_NETNS="/run/netns/$pfx-$i" CNI_IFNAME=eth0 CNI_PATH="$cnipath" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=p$i" \
		"$plugin" <"$conf" 2>&1)
	rc=$?
	t1=$EPOCHREALTIME
	if [ $rc -ne 0 ]; then
		echo "cni_loop: $verb pod $i with $plugin failed (exit $rc): $res" >&2
		exit 1
	fi
	# EPOCHREALTIME is "sec.usec"; integer microseconds avoid bc/awk per call.
	us=$(( (${t1%.*} - ${t0%.*}) * 1000000 + 10#${t1#*.} - 10#${t0#*.} ))
	printf '%d.%03d\n' $((us / 1000)) $((us % 1000)) >>"$out"
done
