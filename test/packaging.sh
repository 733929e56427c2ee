#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ustatic as its users get it (one suite of `make check`):
#   1. the Debian packages, built with dpkg-buildpackage from a clean copy
#      of the tree, installed with apt-get, checked for their contents and
#      used by examples/consumers/{cmake,meson} and the examples' own
#      pkg-config build, then purged;
#   2. `make install PREFIX=<tmp>`: both consumers through CMAKE_PREFIX_PATH
#      and PKG_CONFIG_PATH, then `make uninstall` leaves no file (with
#      DESTDIR too).
# Root only (it installs packages). Each step has a time limit
# (PACKAGING_STEP_TIMEOUT seconds, default 600). Everything happens in a
# temporary directory, removed at exit with the packages it installed.
# The last line says PASS or FAIL. Exit status: 0 passed, 1 failed,
# 77 skipped (not root, or a tool missing: .ci/run installs them).
set -u
cd "$(dirname "$0")/.." || exit 1
STEP_TIMEOUT=${PACKAGING_STEP_TIMEOUT:-600}
PKGS=(libustatic0 libustatic-dev)
# Wait for another apt or dpkg run rather than fail on its lock.
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)

# Called from `make check`: the caller's make flags and command-line
# variables (B=, CFLAGS=, -j) must not reach the makes run here.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

missing=
for tool in dpkg-buildpackage dh dpkg-architecture apt-get cmake meson ninja \
	pkg-config make cc timeout; do
	command -v $tool >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "packaging: SKIP (missing:$missing; .ci/run installs them)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "packaging: SKIP (installs Debian packages: needs root)"
	exit 77
fi

tmp=$(mktemp -d /tmp/ustatic-packaging.XXXXXX) || exit 1
installed=0
cleanup() {
	if [ $installed -eq 1 ]; then
		timeout 300 "${APT[@]}" purge "${PKGS[@]}" >/dev/null 2>&1 ||
			echo "packaging: could not purge ${PKGS[*]}"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'fail interrupted' INT TERM HUP

fail() {
	echo "packaging: FAIL: $*"
	exit 1
}

# step NAME COMMAND...: run it with the time limit, its output in
# $tmp/NAME.log, shown (the end of it) only if it fails.
step() {
	local name=$1 rc
	shift
	timeout -k 10 "$STEP_TIMEOUT" "$@" >"$tmp/$name.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 40 "$tmp/$name.log"
		[ $rc -ne 124 ] || echo "packaging: $name: timed out after ${STEP_TIMEOUT}s"
		fail "$name (exit status $rc)"
	fi
}

# run_app NAME BINARY [env...]: the consumer prints its line and exits 0.
run_app() {
	local name=$1 bin=$2 out
	shift 2
	out=$(env "$@" timeout 60 "$bin" 2>&1) || fail "$name: $bin exited non-zero: $out"
	case $out in
	*" consumer: 14 then 21, key on"*) echo "packaging: $name: $out" ;;
	*) fail "$name: unexpected output: $out" ;;
	esac
}

# linked_from NAME BINARY DIR: the dynamic linker takes libustatic.so.0
# from DIR (and not, say, from an older copy in /usr/local).
linked_from() {
	local lib
	lib=$(ldd "$2" | awk '$1 == "libustatic.so.0" { print $3 }')
	[ "$(readlink -f "${lib:-/nonexistent}")" = "$(readlink -f "$3/libustatic.so.0")" ] ||
		fail "$1: libustatic.so.0 comes from '${lib:-nowhere}', not $3"
}

# consumers TAG DIR [cmake and meson environment...]: configure, build and
# run both consumer projects; CMake's shared and static targets.
consumers() {
	local tag=$1 dir=$2 c=$src/examples/consumers
	shift 2
	step "$tag-cmake" env "$@" cmake -S "$c/cmake" -B "$tmp/$tag-cmake" \
		-DCMAKE_BUILD_TYPE=Release
	step "$tag-cmake-build" cmake --build "$tmp/$tag-cmake"
	grep -qx "ustatic_DIR:PATH=$dir/cmake/ustatic" "$tmp/$tag-cmake/CMakeCache.txt" ||
		fail "$tag: CMake found $(grep ustatic_DIR "$tmp/$tag-cmake/CMakeCache.txt")"
	run_app "$tag cmake" "$tmp/$tag-cmake/app"
	linked_from "$tag cmake" "$tmp/$tag-cmake/app" "$dir"
	step "$tag-cmake-static" env "$@" cmake -S "$c/cmake" -B "$tmp/$tag-cmake-static" \
		-DCMAKE_BUILD_TYPE=Release -DUSTATIC_STATIC=ON
	step "$tag-cmake-static-build" cmake --build "$tmp/$tag-cmake-static"
	run_app "$tag cmake static" "$tmp/$tag-cmake-static/app"
	! ldd "$tmp/$tag-cmake-static/app" | grep -q libustatic ||
		fail "$tag: ustatic::ustatic_static linked the shared library"
	step "$tag-meson" env "$@" meson setup "$tmp/$tag-meson" "$c/meson" --buildtype=release
	step "$tag-meson-build" meson compile -C "$tmp/$tag-meson"
	run_app "$tag meson" "$tmp/$tag-meson/app"
	linked_from "$tag meson" "$tmp/$tag-meson/app" "$dir"
}

# A clean copy of the tree: in a git work tree, the tracked files and new
# ones not ignored, as they are now (none deleted there); elsewhere, all
# but build output.
src=$tmp/src/ustatic
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z -co --exclude-standard |
		while IFS= read -r -d '' f; do
			if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
		done | tar -c --null -T - -f - | tar -x -C "$src"
else
	tar -c --exclude-vcs --exclude='./build*' --exclude=./examples/showcase \
		--exclude='*.o' \
		-f - . | tar -x -C "$src"
fi
if [ ! -f "$src/debian/changelog" ] || [ ! -f "$src/Makefile" ]; then
	fail "copying the tree"
fi

# 1. The Debian packages.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=/usr/lib/$multiarch
step debs env -C "$src" dpkg-buildpackage -us -uc -b
version=$(cd "$src" && dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debs=()
for p in "${PKGS[@]}"; do
	[ -f "$tmp/src/${p}_${version}_$arch.deb" ] || fail "no ${p}_${version}_$arch.deb"
	debs+=("$tmp/src/${p}_${version}_$arch.deb")
done
# What each package must hold (the paths as dpkg -c lists them).
has() {	# PACKAGE PATH...
	local p=$1 list
	list=$(dpkg -c "$tmp/src/${p}_${version}_$arch.deb" | awk '{ print $6 }')
	shift
	for f; do
		grep -qx "\./${f#/}" <<<"$list" || fail "$p lacks $f"
	done
}
has libustatic0 "$libdir/libustatic.so.0" "$libdir/libustatic.so.$version"
has libustatic-dev /usr/include/ustatic.h "$libdir/libustatic.so" \
	"$libdir/libustatic.a" "$libdir/pkgconfig/ustatic.pc" \
	"$libdir/cmake/ustatic/ustatic-config.cmake" \
	"$libdir/cmake/ustatic/ustatic-config-version.cmake" \
	/usr/share/man/man3/static_call_update.3.gz /usr/share/man/man7/ustatic.7.gz \
	/usr/bin/ustatic-ctl /usr/share/man/man1/ustatic-ctl.1.gz \
	/usr/share/man/man3/ustatic_control_start.3.gz
echo "packaging: built ${debs[*]##*/}"

# Left over from an interrupted run, or someone's own: replaced, and purged
# at the end.
if dpkg-query -W "${PKGS[@]}" >/dev/null 2>&1; then
	echo "packaging: note: replacing the installed ${PKGS[*]} (purged at the end)"
fi
installed=1
step install "${APT[@]}" install --reinstall "${debs[@]}"
for p in "${PKGS[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p:$arch" 2>/dev/null)" = "install ok installed" ] ||
		fail "$p is not installed"
done
echo "packaging: installed ${PKGS[*]} $version"
consumers deb "$libdir"
# The examples' own build: plain make with pkg-config.
step deb-examples make -C "$src/examples" examples
for e in hello_static_call hello_static_key; do
	timeout 60 "$src/examples/$e" >/dev/null || fail "examples/$e against the packages"
done
echo "packaging: examples/hello_static_call and hello_static_key built and ran"
step purge "${APT[@]}" purge "${PKGS[@]}"
installed=0
for f in /usr/include/ustatic.h "$libdir/cmake/ustatic" "$libdir/libustatic.so.0"; do
	[ ! -e "$f" ] || fail "$f is still there after purging the packages"
done
echo "packaging: purged ${PKGS[*]}"

# 2. make install with a prefix, then make uninstall.
prefix=$tmp/prefix
mk=(make -C "$src" B="$tmp/build" PREFIX="$prefix")
step install-prefix "${mk[@]}" install
consumers prefix "$prefix/lib" "CMAKE_PREFIX_PATH=$prefix" \
	"PKG_CONFIG_PATH=$prefix/lib/pkgconfig"
step uninstall-prefix "${mk[@]}" uninstall
[ ! -e "$prefix" ] || fail "make uninstall left: $(find "$prefix")"
# In a staging tree the directories go too.
step install-destdir "${mk[@]}" DESTDIR="$tmp/stage" install
step uninstall-destdir "${mk[@]}" DESTDIR="$tmp/stage" uninstall
left=$(find "$tmp/stage" -mindepth 1)
[ -z "$left" ] || fail "make uninstall DESTDIR= left: $left"
echo "packaging: make install PREFIX=... and DESTDIR=..., then make uninstall: nothing left"

echo "packaging: PASS"
