#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Today vs new (issue 13): builds the library at commit $TODAY and from
# this working tree, builds the comparison's programs against each (cmp,
# cmp_copies, cmp_xray and the plugins: `make cmp-side`), then runs every
# row in fresh processes, alternating the two builds (today, new, new,
# today, ...) $REPS times, and prints the tables (compare.awk): each
# figure is the median over the runs of one process's own median.
#
#   ./compare.sh                  (or `make -C bench compare`)
#   TODAY=<commit> NEW=<commit>   compare two commits (NEW: default the
#                                 working tree, as it is, uncommitted
#                                 changes included)
#   REPS=5                        processes per row and build (default 5)
#   ROWS="lat threads"            only these rows: lat threads maps tput
#                                 wx sigwait xray copies
#   OUT=DIR                       where everything goes (bench/build/cmp)
#
# A row that fails in one build (a build error, a crash, a timeout) is
# counted and reported; the run goes on. Raw results: $OUT/results.txt.
set -u

BENCH=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH/.." && pwd)
TODAY=${TODAY:-c69296a}
NEW=${NEW:-}
REPS=${REPS:-5}
ROWS=${ROWS:-lat threads maps tput wx sigwait xray copies}
OUT=${OUT:-$BENCH/build/cmp}
JOBS=${JOBS:-2}
TIMEOUT=${TIMEOUT:-300}
RES=$OUT/results.txt

mkdir -p "$OUT"
: > "$RES"
started=$(date +%s)

say() { printf '%s\n' "$*" >&2; }
record() { printf '%s\n' "$*" >> "$RES"; }

env | grep -q '^USTATIC_' &&
	say "note: USTATIC_* variables are set and apply to both builds:" &&
	env | grep '^USTATIC_' >&2

# ---- sources --------------------------------------------------------------

# A copy of the tree at a commit (git archive: nothing to prune later).
export_commit() { # commit dir
	want=$(git -C "$TOP" rev-parse --verify -q "$1^{commit}") || {
		say "compare: no commit $1"; return 1; }
	if [ "$(cat "$2/.commit" 2>/dev/null)" != "$want" ]; then
		rm -rf "$2" && mkdir -p "$2" &&
		git -C "$TOP" archive "$want" | tar -x -C "$2" &&
		echo "$want" > "$2/.commit" || return 1
	fi
}

describe() { # commit-or-empty
	if [ -n "$1" ]; then
		git -C "$TOP" rev-parse --short "$1"
	else
		h=$(git -C "$TOP" rev-parse --short HEAD)
		if [ -n "$(git -C "$TOP" status --porcelain -- src include Makefile)" ]; then
			echo "working tree at $h + uncommitted changes in src/ include/ Makefile"
		else
			echo "working tree at $h"
		fi
	fi
}

# ---- builds ----------------------------------------------------------------

# build SIDE COMMIT-OR-EMPTY: the library and the side's programs; the
# library's build dir goes to $OUT/SIDE.lib. Logs in $OUT/SIDE.build.log.
build_side() {
	side=$1 log=$OUT/$1.build.log
	if [ -n "$2" ]; then
		export_commit "$2" "$OUT/$side-src" > "$log" 2>&1 || {
			record "B side=$side what=export"; return 1; }
		src=$OUT/$side-src lib=$OUT/$side-src/build
		make -C "$src" -j"$JOBS" all >> "$log" 2>&1
	else
		src=$TOP lib=$OUT/$side-lib
		make -C "$src" -j"$JOBS" B="$lib" all > "$log" 2>&1
	fi || { record "B side=$side what=library"; return 1; }
	echo "$lib" > "$OUT/$side.lib"
	# -k: one program that does not build leaves the others.
	make -C "$BENCH" -k -j"$JOBS" cmp-side CMP_INC="$src/include" \
		CMP_LIB="$lib" CMP_OUT="$OUT/$side" >> "$log" 2>&1 ||
		record "B side=$side what=programs"
	[ -f "$OUT/$side/xray.skip" ] && say "$side: xray: $(cat "$OUT/$side/xray.skip")"
	return 0
}

say "building today ($TODAY) and new ($(describe "$NEW")) ..."
rm -rf "$OUT/today" "$OUT/new"
build_side today "$TODAY" || say "compare: today's build failed (see $OUT/today.build.log)"
build_side new "$NEW" || say "compare: new's build failed (see $OUT/new.build.log)"
built=$(date +%s)

# ---- runs --------------------------------------------------------------------

# run SIDE ROW PROGRAM ARGS...: one fresh process; its R lines are kept
# with the side and repetition; no R line or a failure status is an error.
run() {
	side=$1 row=$2 prog=$3
	shift 3
	if [ ! -x "$OUT/$side/$prog" ]; then
		record "E side=$side row=$row rep=$rep what=not_built"
		return
	fi
	out=$(cd "$OUT/$side" && timeout "$TIMEOUT" "./$prog" "$@" 2>> "$OUT/$side.stderr")
	st=$?
	lines=$(printf '%s\n' "$out" | sed -n "s/^R /R side=$side rep=$rep /p")
	[ -n "$lines" ] && record "$lines"
	if [ $st -ne 0 ] || [ -z "$lines" ]; then
		record "E side=$side row=$row rep=$rep what=status_$st"
		say "  $side $row (run $rep): exit status $st"
	fi
}

# both ROW PROGRAM ARGS...: the row against each build, REPS times,
# alternating which goes first. "@SIDE@" and "@OTHER@" in ARGS become the
# side's and the other side's program directories.
both() {
	for rep in $(seq "$REPS"); do
		if [ $((rep % 2)) -eq 1 ]; then order="today new"; else order="new today"; fi
		for s in $order; do
			o=today
			[ "$s" = today ] && o=new
			args=$(printf '%s\n' "$*" | sed -e "s|@SIDE@|$OUT/$s|g" -e "s|@OTHER@|$OUT/$o|g")
			# shellcheck disable=SC2086 # word splitting wanted
			run "$s" $args
		done
	done
}

want() { case " $ROWS " in *" $1 "*) return 0 ;; esac; return 1; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)
say "running (REPS=$REPS; load average $load_start) ..."

if want lat; then
	for sites in 1 100 10000; do
		for busy in 0 1 2; do
			both "lat.$sites.$busy" cmp lat "$sites" "$busy"
		done
	done
fi
want threads && both threads cmp threads
want maps && both maps cmp maps
want tput && both tput cmp tput 61
want wx && both wx cmp wx 1000
want sigwait && both sigwait cmp sigwait 2000
want xray && both xray cmp_xray
if want copies; then
	both copies.two_a cmp_copies two_a 200 @SIDE@/plug1_a.so @SIDE@/plug2_a.so
	both copies.two_ax cmp_copies two_ax 200 @SIDE@/plug1_ax.so @SIDE@/plug2_ax.so
	both copies.versions cmp_copies versions 200 @SIDE@/plug1_ax.so @OTHER@/plug2_ax.so
	both copies.so_a cmp_copies_so so_a 200 @SIDE@/plug1_ax.so
	both copies.a_so cmp_copies_a a_so 200 @SIDE@/plug1_so.so
	both copies.so_so cmp_copies_so so_so 200 @SIDE@/plug1_so.so
fi

# ---- report ------------------------------------------------------------------

ended=$(date +%s)
{
	echo "M today=$(describe "$TODAY" | tr ' ' '_')"
	echo "M new=$(describe "$NEW" | tr ' ' '_')"
	echo "M reps=$REPS"
	echo "M load_start=$(echo "$load_start" | tr ' ' /)"
	echo "M load_end=$(loadavg | tr ' ' /)"
	echo "M build_s=$((built - started))"
	echo "M run_s=$((ended - built))"
	echo "M cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1 | tr ' ' '_')"
	echo "M cpus=$(nproc)"
	echo "M kernel=$(uname -r)"
} >> "$RES"
awk -f "$BENCH/compare.awk" "$RES"
