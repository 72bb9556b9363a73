#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package the build, tests, demo and benchmarks need.
# Idempotent: does nothing when everything is present.
set -euo pipefail

pkgs=(
	# build
	make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libmnl-dev
	# libFuzzer and the sanitizer runtimes for clang (make fuzz)
	libclang-rt-14-dev
	libjansson-dev libyaml-dev pkg-config linux-libc-dev
	# tests
	libcriterion-dev iproute2 iputils-ping socat netcat-openbsd python3
	containernetworking-plugins util-linux procps jq
	# benchmarks
	iperf3 sockperf iptables
	# runtime tests: a libcni driver built offline (tests/e2e/runtimes)
	golang-go golang-github-appc-cni-dev
	# runtime tests: containerd's CRI plugin and podman's CNI backend
	# (tests/e2e/runtimes/{containerd,podman}.sh)
	containerd runc podman conmon python3-grpcio python3-protobuf protobuf-compiler
	busybox-static
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
