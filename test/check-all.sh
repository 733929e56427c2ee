#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make check`: the whole test suite on every build we support, each with
# its own count, then the total as the closing line.
#   native   this machine's architecture (x86-64: the int3 engine)
#   generic  the portable fallback (GENERIC=1): no code is ever written
#   aarch64  cross-built, run under qemu-user (skipped without the cross
#            compiler or qemu); qemu does not see /proc/self/mem writes,
#            so the mprotect writer is used there, and it cannot show
#            ordering, so stress tests only check that results are valid
#            targets there (USTATIC_TEST_QEMU, see test/test.h)
#   aarch64-auto  a few of them with the default writer, which finds that
#            qemu does not run what /proc/self/mem writes and falls back
#   musl     the native build with musl-gcc (skipped without Debian's
#            musl-tools): musl's thread start-up masks, its loader (dlclose
#            never unloads), its allocator. Tests that build programs at
#            run time build C with musl-gcc and skip C++ and clang (no
#            musl C++ library, no musl clang driver); no sanitizers for
#            musl. USTATIC_TEST_SCALE=20, as the sanitizer suites: long
#            stress and fuzzing are the native suite's work, here they
#            need only meet musl
#   asan-gcc, asan-clang   AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     ThreadSanitizer (clang): TSan's own thread blocks every signal,
#            so int3 is unusable there and USTATIC_TRAPFREE=1 is what the
#            library would fall back to anyway
#   packaging  the Debian packages, CMake and Meson consumers, make
#            install/uninstall (test/packaging.sh; root only)
# ASan runs each thread's signal handlers on a small alternate stack of its
# own; the signal storms of trap_longjmp and sigtrap_sent_storm nest
# frames (ours is SA_NODEFER) until it overflows, 5 and 1 runs in 10 on
# our AMD test machine, never without it (docs/DESIGN.md): the ASan suites
# run with ASAN_OPTIONS=use_sigaltstack=0, the tests' own stacks.
# The sanitizer suites run the tests that do not depend on code generation
# details (-O1), fork with threads, valgrind or gdb. Which tests each suite
# runs is the Makefile's: TESTS, SAN_TESTS and TSAN_TESTS.
# Every build here has -Werror (WERROR=1): these are the compilers we chose.
set -u
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}
total_pass=0 total_fail=0 total_skip=0 broken=0

# A Makefile variable; margs may quote values with spaces (CFLAGS='...'),
# which eval keeps whole.
mkvar() {	# NAME [make args]
	eval "$MAKE --no-print-directory -s ${2:-} print-$1"
}

# suite NAME BUILD_DIR "make args" "environment for the run" [WRAPPER] [TESTS]
suite() {
	local name=$1 dir=$2 margs=$3 env=$4 wrapper=${5:-} only=${6:-} out tests
	echo "=== $name"
	if [ -n "$only" ]; then
		tests=$(for t in $only; do printf '%s ' "$dir/test/$t"; done)
	else
		tests=$(mkvar TESTS "B=\"$dir\" $margs")
	fi
	if ! eval "$MAKE -s B=\"$dir\" WERROR=1 $margs all $tests" >"$dir.build.log" 2>&1 ||
	   [ -z "$tests" ]; then
		tail -n 40 "$dir.build.log"
		echo "$name: BUILD FAILED"
		broken=1
		return
	fi
	# Each test's line as it finishes; the log keeps them for the count.
	# shellcheck disable=SC2086
	TEST_WRAPPER="$wrapper" env $env test/run-tests.sh $tests 2>&1 |
		tee "$dir.test.log"
	out=$(tail -n 1 "$dir.test.log")
	if [[ ! $out =~ ^[0-9]+\ passed,\ [0-9]+\ failed,\ [0-9]+\ skipped$ ]]; then
		echo "$name: the test run did not finish"
		broken=1
		return
	fi
	read -r p _ f _ s _ <<<"${out//,/}"
	echo "$name: $p passed, $f failed, $s skipped"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
}

mkdir -p build
suite native build/native "" ""
suite generic build/generic "GENERIC=1" ""
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
	suite aarch64 build/aarch64 "CC=aarch64-linux-gnu-gcc" \
		"USTATIC_WRITE=mprotect USTATIC_TEST_NO_PROCMEM=1 USTATIC_TEST_QEMU=1 USTATIC_TEST_SCALE=40 TEST_TIMEOUT=600" \
		"qemu-aarch64 -L /usr/aarch64-linux-gnu"
	# The default writer under qemu: its probe finds /proc/self/mem
	# writes unseen and falls back to mprotect windows.
	suite aarch64-auto build/aarch64 "CC=aarch64-linux-gnu-gcc" \
		"USTATIC_TEST_NO_PROCMEM=1 USTATIC_TEST_QEMU=1 USTATIC_TEST_SCALE=40 TEST_TIMEOUT=600" \
		"qemu-aarch64 -L /usr/aarch64-linux-gnu" \
		"static_call_basic static_key_basic transaction static_call_stress"
else
	echo "=== aarch64: skipped (needs gcc-aarch64-linux-gnu and qemu-user)"
fi
if command -v musl-gcc >/dev/null; then
	suite musl build/musl "CC=musl-gcc" "USTATIC_TEST_SCALE=20"
else
	echo "=== musl: skipped (needs musl-tools)"
fi
SAN_TESTS=$(mkvar SAN_TESTS)
TSAN_TESTS=$(mkvar TSAN_TESTS)
SAN_FLAGS="-O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all"
# An empty list would make a sanitizer suite run every test.
if [ -z "$SAN_TESTS" ] || [ -z "$TSAN_TESTS" ]; then
	echo "=== sanitizers: the Makefile gave no SAN_TESTS or TSAN_TESTS"
	broken=1
else
	for cc in gcc clang; do
		command -v $cc >/dev/null || continue
		suite asan-$cc build/asan-$cc \
			"CC=$cc CFLAGS='-fsanitize=address,undefined $SAN_FLAGS'" \
			"USTATIC_TEST_SCALE=20 ASAN_OPTIONS=use_sigaltstack=0" "" \
			"$SAN_TESTS"
	done
	if command -v clang >/dev/null; then
		suite tsan build/tsan "CC=clang CFLAGS='-fsanitize=thread $SAN_FLAGS'" \
			"USTATIC_TRAPFREE=1 USTATIC_TEST_SCALE=20 TSAN_OPTIONS=halt_on_error=1" "" \
			"$TSAN_TESTS"
	fi
fi
# The Debian packages and the CMake and Meson consumer projects against
# the installed library (test/packaging.sh): one result, a skip without
# root or its tools.
echo "=== packaging"
timeout -k 10 1800 test/packaging.sh
case $? in
0) total_pass=$((total_pass + 1)) ;;
77) total_skip=$((total_skip + 1)) ;;
*) total_fail=$((total_fail + 1)) ;;
esac
[ $broken -eq 0 ] || total_fail=$((total_fail + 1))
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
