#!/bin/sh
# Draws PNG plots of bench/results.csv with gnuplot:
#   calls.png    cycles per call of every call and branch variant
#   update.png   latency of one static_call_update() against its number of
#                sites, for 0, 1 and 2 busy threads (and XRay's, if measured)
# Usage: bench/plot.sh [results.csv [output dir]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
csv=${1:-$here/results.csv}
out=${2:-$here}

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot.sh: skipped: gnuplot is not installed (apt-get install gnuplot-nox)"
	exit 0
fi
if [ ! -r "$csv" ]; then
	echo "plot.sh: $csv not found: run 'make -C bench run' first" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# CSV columns: section,case,sites,busy,metric,value,unit (case is quoted).
field() { # section metric -> "case<TAB>value" rows, in file order
	awk -F'"' -v s="$1" -v m="$2" '
		$1 == s "," { split($3, f, ","); if (f[4] == m) print $2 "\t" f[5] }' "$csv"
}

field calls cycles > "$tmp/calls.dat"
if [ -s "$tmp/calls.dat" ]; then
	gnuplot <<GP
set terminal pngcairo noenhanced size 1100,650 font ",10"
set output "$out/calls.png"
set datafile separator "\t"
set title "Cost of one call (TSC cycles, median; lower is better)"
set style fill solid 0.8 border -1
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by -35 left
set grid ytics
set bmargin 12
set rmargin 22
unset key
plot "$tmp/calls.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
     "" using 0:2:(sprintf("%.1f", \$2)) with labels offset 0,0.7
GP
	echo "plot.sh: wrote $out/calls.png"
fi

# update latency: one file per busy count, "sites median_us"
for b in 0 1 2; do
	awk -F, -v b="$b" '$1 == "update" && $2 == "\"latency\"" && $4 == b &&
		$5 == "median" { print $3, $6 }' "$csv" > "$tmp/upd$b.dat"
done
awk -F'"' '$1 == "xray," && $2 ~ /__xray_patch/ { split($3, f, ","); if (f[4] == "median") print f[2], f[5], f[3] }' \
	"$csv" > "$tmp/xray.dat"
if [ -s "$tmp/upd0.dat" ]; then
	xplot=""
	[ -s "$tmp/xray.dat" ] && xplot=", \"$tmp/xray.dat\" using 1:2 with points pt 7 ps 1.5 title \"XRay __xray_patch (0 and 2 busy)\""
	gnuplot <<GP
set terminal pngcairo noenhanced size 900,600 font ",10"
set output "$out/update.png"
set title "Latency of one static_call_update() (median)"
set logscale xy
set xlabel "inline call sites of the static call"
set ylabel "microseconds"
set xrange [0.5:20000]
set grid
set key top left
plot "$tmp/upd0.dat" using 1:2 with linespoints lw 2 title "0 busy threads", \
     "$tmp/upd1.dat" using 1:2 with linespoints lw 2 title "1 busy thread", \
     "$tmp/upd2.dat" using 1:2 with linespoints lw 2 title "2 busy threads" $xplot
GP
	echo "plot.sh: wrote $out/update.png"
fi
