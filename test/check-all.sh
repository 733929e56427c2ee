#!/usr/bin/env bash
# `make check`: the whole test suite on every build we support, each with
# its own count, then the total as the closing line.
#   native   this machine's architecture (x86-64: the int3 engine)
#   generic  the portable fallback (GENERIC=1): no code is ever written
#   aarch64  cross-built, run under qemu-user (skipped without the cross
#            compiler or qemu); qemu does not see /proc/self/mem writes,
#            so the mprotect writer is used there, and it cannot show
#            ordering, so stress tests only check that results are valid
#            targets there (USTATIC_TEST_QEMU, see test/test.h)
#   asan-gcc, asan-clang   AddressSanitizer + UndefinedBehaviorSanitizer
#   tsan     ThreadSanitizer (clang): TSan's own thread blocks every signal,
#            so int3 is unusable there and USTATIC_TRAPFREE=1 is what the
#            library would fall back to anyway
# The sanitizer suites run the tests that do not depend on code generation
# details (-O1), fork with threads, valgrind or gdb.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
total_pass=0 total_fail=0 total_skip=0 broken=0

# suite NAME BUILD_DIR "make args" "environment for the run" [WRAPPER] [TESTS]
suite() {
	local name=$1 dir=$2 margs=$3 env=$4 wrapper=${5:-} only=${6:-} out tests
	echo "=== $name"
	# shellcheck disable=SC2086
	if [ -n "$only" ]; then
		tests=$(for t in $only; do printf '%s ' "$dir/test/$t"; done)
	else
		tests=tests
	fi
	# margs may quote values with spaces (CFLAGS='...'): eval keeps them whole.
	if ! eval "$MAKE -s B=\"$dir\" $margs all $tests" >"$dir.build.log" 2>&1; then
		tail -n 40 "$dir.build.log"
		echo "$name: BUILD FAILED"
		broken=1
		return
	fi
	# shellcheck disable=SC2086
	[ -n "$only" ] ||
		tests=$(find "$dir/test" -maxdepth 1 -type f -executable ! -name '*.so' | sort)
	# shellcheck disable=SC2086
	TEST_WRAPPER="$wrapper" env $env test/run-tests.sh $tests >"$dir.test.log" 2>&1
	cat "$dir.test.log"
	out=$(tail -n 1 "$dir.test.log")
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
else
	echo "=== aarch64: skipped (needs gcc-aarch64-linux-gnu and qemu-user)"
fi
SAN_TESTS="static_call_basic static_call_stress static_key_basic static_key_stress
	transaction multi_object degraded_modes handler_mask trap_chain engine_unit
	engine_sync_rounds engine_stress engine_signal_nested insn_len_objdump
	hostile_mdwe hostile_seccomp_wx hostile_no_writer hostile_foreign_breakpoint
	hostile_shadow_stack hostile_thread_churn"
SAN_FLAGS="-O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all"
for cc in gcc clang; do
	command -v $cc >/dev/null || continue
	suite asan-$cc build/asan-$cc \
		"CC=$cc CFLAGS='-fsanitize=address,undefined $SAN_FLAGS'" \
		"USTATIC_TEST_SCALE=20" "" "$SAN_TESTS"
done
if command -v clang >/dev/null; then
	suite tsan build/tsan "CC=clang CFLAGS='-fsanitize=thread $SAN_FLAGS'" \
		"USTATIC_TRAPFREE=1 USTATIC_TEST_SCALE=20 TSAN_OPTIONS=halt_on_error=1" "" \
		"static_call_basic static_call_stress static_key_basic static_key_stress
		transaction multi_object"
fi
[ $broken -eq 0 ] || total_fail=$((total_fail + 1))
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
