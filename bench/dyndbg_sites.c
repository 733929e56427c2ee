/* SPDX-License-Identifier: MIT */
/*
 * 10,000 debug sites and 10,000 inline static-call sites, for
 * bench/dyndbg.c: each expansion of the macros below is a site of its
 * own (its own static record and branch), 10 x 10 x 10 x 10 of them.
 */
#include <ustatic.h>

#include "dyndbg_bench.h"

#define X10(...)	__VA_ARGS__ __VA_ARGS__ __VA_ARGS__ __VA_ARGS__ __VA_ARGS__ \
		__VA_ARGS__ __VA_ARGS__ __VA_ARGS__ __VA_ARGS__ __VA_ARGS__
#define X10000(...)	X10(X10(X10(X10(__VA_ARGS__))))

DEFINE_STATIC_CALL(dd_bench_sc, dd_bench_a);

/* Never called with the sites on: they print nothing in the bench. */
void dd_bench_10000_sites(int x)
{
	X10000(ustatic_pr_debug("bench site %d\n", x);)
}

int dd_bench_10000_calls(int x)
{
	int r = 0;

	X10000(r += static_call(dd_bench_sc)(x);)
	return r;
}
