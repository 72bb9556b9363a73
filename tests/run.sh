#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: every criterion binary in $BUILD/tests (unit and
# datapath), then every end-to-end script: tests/e2e/*.sh, and per
# subfolder its run.sh or, without one, each of its *.sh (helpers named
# lib.sh, lib-*.sh, lib_*.sh, *_lib.sh or _*.sh are skipped). Sums all counts and ends with
# exactly one line
#   N passed, N failed
# Exit status 0 only when nothing failed.
#
# Counting:
#   criterion binary: its "Synthesis: Tested: X | Passing: Y | Failing: Z |
#     Crashing: W" line gives Y passed and max(X-Y, Z) failed (Failing
#     already includes the crashed ones); a non-zero exit with nothing
#     failed counts 1. No Synthesis line (binary died, timeout): 1 failed.
#   e2e script: its "E2E_SUMMARY name=.. passed=N failed=M" line
#     (tests/e2e/lib.sh); missing, or exit status non-zero with failed=0:
#     one more failure.
#
# Environment: BUILD (default build), SAN_BUILD (a second build dir made
# with SAN=1: its unit tests run once more, reported as san:NAME),
# BUILD_FAILURES (failures found before this script, e.g. by make -k; each
# counts as one failed test), ONLY=REGEX runs only matching tests,
# SKIP_E2E=1 / SKIP_UNIT=1, TEST_TIMEOUT (seconds per criterion binary,
# default 300), E2E_TIMEOUT (seconds per e2e script, default 600),
# CRITERION_JOBS (default 2), FUZZ_SECONDS (run `make fuzz` that long per
# target; 0, the default, skips it).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$repo/$BUILD ;; esac
export BUILD
ONLY=${ONLY:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
E2E_TIMEOUT=${E2E_TIMEOUT:-600}
export CRITERION_JOBS=${CRITERION_JOBS:-2}

total_pass=0
total_fail=0
declare -a failed_names=()
logdir=$(mktemp -d /tmp/sluice-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

note() { printf '%s\n' "$*"; }

# account NAME PASS FAIL
account() {
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	[ "$3" -gt 0 ] && failed_names+=("$1")
	printf '== %-40s %4d passed, %d failed\n' "$1" "$2" "$3"
}

want() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

if [ "$(id -u)" -ne 0 ]; then
	note "NOTE: not root: datapath and end-to-end tests need root (BPF, network namespaces) and will fail."
fi

if [ "${BUILD_FAILURES:-0}" -gt 0 ]; then
	account "build" 0 "$BUILD_FAILURES"
fi

# ---- criterion binaries -----------------------------------------------------
# run_criterion BINARY [NAME]
run_criterion() {
	local bin=$1 name=${2:-} log rc line tested passing failing crashing fail
	[ -n "$name" ] || name=$(basename "$bin")
	log=$logdir/$name.log
	note "-- $name"
	timeout --kill-after=10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1
	rc=$?
	line=$(grep -a 'Synthesis: Tested:' "$log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
	if [[ $line =~ Tested:\ *([0-9]+).*Passing:\ *([0-9]+).*Failing:\ *([0-9]+).*Crashing:\ *([0-9]+) ]]; then
		tested=${BASH_REMATCH[1]} passing=${BASH_REMATCH[2]}
		failing=${BASH_REMATCH[3]} crashing=${BASH_REMATCH[4]}
		# Failing already includes crashed tests in criterion 2.4; Tested -
		# Passing counts each failed or crashed test once.
		fail=$((tested - passing))
		[ "$failing" -gt "$fail" ] && fail=$failing
		[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
		[ "$fail" -gt 0 ] && grep -av '^\[====\]' "$log" | grep -aE 'FAIL|CRASH|Assertion|error|sanitizer|ERROR' | head -n 40 | sed 's/^/   /'
		account "$name" "$passing" "$fail"
	else
		tail -n 30 "$log" | sed 's/^/   /'
		[ "$rc" -eq 124 ] && note "   (timed out after ${TEST_TIMEOUT}s)"
		account "$name" 0 1
	fi
}

if [ "${SKIP_UNIT:-0}" != 1 ]; then
	shopt -s nullglob
	bins=("$BUILD"/tests/test_*)
	shopt -u nullglob
	if [ ${#bins[@]} -eq 0 ]; then
		note "no criterion binaries in $BUILD/tests (build them: make BUILD=$BUILD unit-tests dp-tests)"
		account "criterion binaries" 0 1
	fi
	for b in "${bins[@]}"; do
		[ -x "$b" ] && [ -f "$b" ] || continue
		# Only binaries whose source still exists (a stale build dir may
		# hold tests that were renamed or removed).
		[ -e "$repo/tests/unit/$(basename "$b").c" ] || [ -e "$repo/tests/datapath/$(basename "$b").c" ] || continue
		want "$(basename "$b")" || continue
		run_criterion "$b"
	done
	if [ -n "${SAN_BUILD:-}" ]; then
		# ASan/UBSan pass of the unit tests (datapath tests exercise the
		# kernel, not our memory handling, and stay single-pass).
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
		for src in "$repo"/tests/unit/test_*.c; do
			[ -e "$src" ] || continue
			b=$SAN_BUILD/tests/$(basename "$src" .c)
			want "san:$(basename "$b")" || continue
			if [ -x "$b" ]; then run_criterion "$b" "san:$(basename "$b")"
			else note "-- san:$(basename "$b"): not built"; account "san:$(basename "$b")" 0 1; fi
		done
	fi
fi

# ---- fuzzing ------------------------------------------------------------------
# FUZZ_SECONDS > 0: `make fuzz` runs each libFuzzer target (the stream
# splitter, and the whole feed path) that long on its seed corpus; a crash,
# leak or broken property fails it. Needs clang's libFuzzer runtime.
if [ "${FUZZ_SECONDS:-0}" -gt 0 ] && want fuzz; then
	note "-- fuzz"
	if make -s -C "$repo" BUILD="$BUILD" FUZZ_SECONDS="$FUZZ_SECONDS" fuzz >"$logdir/fuzz.log" 2>&1; then
		account "fuzz (${FUZZ_SECONDS}s per target)" 1 0
	else
		tail -n 40 "$logdir/fuzz.log" | sed 's/^/   /'
		account "fuzz (${FUZZ_SECONDS}s per target)" 0 1
	fi
fi

# ---- end to end ---------------------------------------------------------------
run_e2e() {
	local script=$1 name log rc line pass fail
	name=${script#"$repo"/tests/e2e/}
	name=${name%.sh}
	log=$logdir/e2e-${name//\//_}.log
	note "-- e2e/$name"
	E2E_NAME=$name timeout --kill-after=15 "$E2E_TIMEOUT" bash "$script" >"$log" 2>&1
	rc=$?
	line=$(grep -a '^E2E_SUMMARY ' "$log" | tail -n 1)
	if [[ $line =~ passed=([0-9]+)\ failed=([0-9]+) ]]; then
		pass=${BASH_REMATCH[1]} fail=${BASH_REMATCH[2]}
		[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
	else
		pass=0 fail=1
		[ "$rc" -eq 124 ] && note "   (timed out after ${E2E_TIMEOUT}s)"
	fi
	if [ "$fail" -gt 0 ] || [ -n "${VERBOSE:-}" ]; then
		grep -av '^ok - ' "$log" | tail -n 80 | sed 's/^/   /'
	fi
	account "e2e/$name" "$pass" "$fail"
}

if [ "${SKIP_E2E:-0}" != 1 ]; then
	shopt -s nullglob
	scripts=("$repo"/tests/e2e/*.sh)
	# A subfolder is one suite when it has run.sh, else each of its scripts is.
	for d in "$repo"/tests/e2e/*/; do
		if [ -f "$d/run.sh" ]; then scripts+=("${d%/}/run.sh")
		else scripts+=("${d%/}"/*.sh); fi
	done
	shopt -u nullglob
	for s in "${scripts[@]}"; do
		# helpers sourced by tests, not tests: lib.sh, lib-*.sh, lib_*.sh, *_lib.sh, _*.sh
		case $(basename "$s") in lib.sh | lib-*.sh | lib_*.sh | *_lib.sh | _*) continue ;; esac
		n=${s#"$repo"/tests/e2e/}
		want "e2e/${n%.sh}" || continue
		run_e2e "$s"
	done
fi

if [ ${#failed_names[@]} -gt 0 ]; then
	note "failed: ${failed_names[*]}"
fi
printf '%d passed, %d failed\n' "$total_pass" "$total_fail"
[ "$total_fail" -eq 0 ]
