#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's test command: installs what is missing (hack/deps.sh), builds
# everything, builds the unit and datapath tests, runs the whole suite
# (tests/run.sh: unit, datapath, end to end) and, unless SAN=0, the unit
# tests once more with ASan+UBSan. Ends with exactly one line
#   N passed, N failed
# and exits non-zero when anything failed (a build failure counts as one).
# Needs root (BPF, network namespaces); never touches the root netns.
#
# Environment: BUILD (default build), SAN (1 = also the sanitizer pass,
# default 1), JOBS (make -j, default 2), FUZZ_SECONDS (libFuzzer run per
# target, default 15; 0 skips), plus tests/run.sh's (ONLY, SKIP_E2E, ...).
set -uo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SAN=${SAN:-1}
JOBS=${JOBS:-2}
export BUILD

if [ "$(id -u)" -ne 0 ]; then
	echo "hack/test.sh: needs root (BPF, network namespaces, package install); try: sudo $0" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

if ! bash hack/deps.sh; then
	echo "hack/test.sh: installing dependencies failed" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

failures=0
start=$SECONDS
mkdir -p "$BUILD"
echo "== build ($BUILD)"
# -k: a test file that does not compile fails alone, the rest still runs.
if ! make -k -j"$JOBS" BUILD="$BUILD" all >"$BUILD/make.log" 2>&1; then
	grep -E 'error|Error' "$BUILD/make.log" | head -n 40 >&2
	echo "hack/test.sh: building the binaries failed (log: $BUILD/make.log)" >&2
	failures=$((failures + 1))
fi
if ! make -k -j"$JOBS" BUILD="$BUILD" unit-tests dp-tests >>"$BUILD/make.log" 2>&1; then
	grep -E 'error|Error' "$BUILD/make.log" | tail -n 40 >&2
	echo "hack/test.sh: building some tests failed (log: $BUILD/make.log)" >&2
	failures=$((failures + 1))
fi
san_build=
if [ "$SAN" = 1 ]; then
	san_build=$BUILD-san
	mkdir -p "$san_build"
	echo "== build unit tests with ASan+UBSan ($san_build)"
	if ! make -k -j"$JOBS" BUILD="$san_build" SAN=1 unit-tests >"$san_build/make.log" 2>&1; then
		grep -E 'error|Error' "$san_build/make.log" | head -n 40 >&2
		echo "hack/test.sh: sanitizer build failed (log: $san_build/make.log)" >&2
		failures=$((failures + 1))
	fi
fi
echo "== built in $((SECONDS - start)) s"

BUILD_FAILURES=$failures SAN_BUILD=$san_build FUZZ_SECONDS=${FUZZ_SECONDS:-15} tests/run.sh
