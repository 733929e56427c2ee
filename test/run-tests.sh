#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs each test executable in its own process with a time limit.
# Exit 0 = pass, 77 = skipped, anything else (crash, signal, timeout) = fail.
# Ends with the line "N passed, N failed, N skipped" and a non-zero status on any failure.
# TEST_WRAPPER (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu") runs each test under an emulator.
set -u
limit=${TEST_TIMEOUT:-180}
pass=0 fail=0 skip=0 failed=()
for t in "$@"; do
	name=$(basename "$t")
	log=$(mktemp)
	start=$(date +%s%N)
	# shellcheck disable=SC2086
	timeout -k 5 "$limit" ${TEST_WRAPPER:-} "$t" >"$log" 2>&1
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	secs=$((ms / 1000)).$(printf %03d $((ms % 1000)))
	case $rc in
	0)  pass=$((pass + 1)); printf 'PASS %-28s %6ss\n' "$name" "$secs" ;;
	77) skip=$((skip + 1)); printf 'SKIP %-28s %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*)  fail=$((fail + 1)); failed+=("$name")
	    [ $rc = 124 ] && why="timeout after ${limit}s" || why="exit $rc"
	    printf 'FAIL %-28s %s\n' "$name" "$why"
	    sed 's/^/    | /' "$log" | tail -n 40 ;;
	esac
	[ -n "${VERBOSE:-}" ] && sed 's/^/    | /' "$log"
	rm -f "$log"
done
[ $fail -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
