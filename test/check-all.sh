#!/usr/bin/env bash
# `make check`: the whole test suite on every build we support, each with
# its own count, then the total as the closing line.
#   native   this machine's architecture (x86-64: the int3 engine)
#   generic  the portable fallback (GENERIC=1): no code is ever written
#   aarch64  cross-built, run under qemu-user (skipped without the cross
#            compiler or qemu); qemu does not see /proc/self/mem writes,
#            so the mprotect writer is used there
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
total_pass=0 total_fail=0 total_skip=0 broken=0

# suite NAME BUILD_DIR "make args" "environment for the run" [WRAPPER]
suite() {
	local name=$1 dir=$2 margs=$3 env=$4 wrapper=${5:-} out
	echo "=== $name"
	# shellcheck disable=SC2086
	if ! $MAKE -s B="$dir" $margs all tests >"$dir.build.log" 2>&1; then
		tail -n 40 "$dir.build.log"
		echo "$name: BUILD FAILED"
		broken=1
		return
	fi
	# shellcheck disable=SC2086
	TEST_WRAPPER="$wrapper" env $env test/run-tests.sh \
		$(find "$dir/test" -maxdepth 1 -type f -executable ! -name '*.so' | sort) \
		>"$dir.test.log" 2>&1
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
		"USTATIC_WRITE=mprotect USTATIC_TEST_NO_PROCMEM=1 USTATIC_TEST_SCALE=40 TEST_TIMEOUT=600" \
		"qemu-aarch64 -L /usr/aarch64-linux-gnu"
else
	echo "=== aarch64: skipped (needs gcc-aarch64-linux-gnu and qemu-user)"
fi
[ $broken -eq 0 ] || total_fail=$((total_fail + 1))
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail -eq 0 ]
