/* SPDX-License-Identifier: MIT */
/*
 * Dynamic debug, side by side in one run (issue 14):
 *  1. a hot loop (a xorshift step per iteration) with, in it, a disabled
 *     ustatic_pr_debug() site; `if (level >= DEBUG)` on a global (what
 *     logging libraries do: a load and a branch); nothing. Each variant
 *     is its own function, aligned alike; rounds interleave them; the
 *     median and the minimum of the rounds (the minimum: the round least
 *     disturbed by a loaded machine), in ns per iteration, and the site's
 *     and the level test's cost relative to nothing (goal: the site within
 *     2 %).
 *  2. enabling 10,000 sites with one query (one batch) and disabling them
 *     again, beside static_call_update() of a call with 10,000 inline
 *     sites, in the same process: median and minimum over the rounds.
 * `make -C bench dyndbg` builds and runs it; ROUNDS=... to change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ustatic.h>

#include "dyndbg_bench.h"

#define DEBUG 7
int log_level = 3;			/* a logging library's global */

int dd_bench_a(int x) { return x + 1; }
int dd_bench_b(int x) { return x + 2; }

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#define LOOP_ATTR __attribute__((noinline, aligned(64)))

LOOP_ATTR static unsigned long loop_none(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

LOOP_ATTR static unsigned long loop_site(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
		ustatic_pr_debug("x=%lu\n", x);
	}
	return x;
}

LOOP_ATTR static unsigned long loop_level(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
		if (__builtin_expect(__atomic_load_n(&log_level,
						     __ATOMIC_RELAXED) >= DEBUG, 0))
			fprintf(stderr, "x=%lu\n", x);
	}
	return x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void hot_loops(int rounds)
{
	unsigned long (*const fn[3])(unsigned long, unsigned long) = {
		loop_none, loop_site, loop_level };
	static const char *const name[3] = {
		"no statement", "disabled ustatic_pr_debug()",
		"if (level >= DEBUG) on a global" };
	const unsigned long n = 50000000;
	double t[3][64], med[3], best[3];
	unsigned long sink = 0;

	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < 3; k++) {
			int v = (r + k) % 3;	/* rotate the order */
			double t0 = now();

			sink += fn[v](n, 88172645463325252ul + (unsigned long)r);
			t[v][r] = (now() - t0) / (double)n * 1e9;
		}
	printf("== Hot loop, %lu iterations x %d rounds (ns/iteration) ==\n",
	       n, rounds);
	printf("%-34s %9s %9s %9s %9s\n", "", "median", "vs none", "min",
	       "vs none");
	for (int k = 0; k < 3; k++) {
		best[k] = t[k][0];
		for (int r = 1; r < rounds; r++)
			best[k] = t[k][r] < best[k] ? t[k][r] : best[k];
		med[k] = median(t[k], rounds);
	}
	for (int k = 0; k < 3; k++)
		printf("%-34s %9.4f %+8.2f%% %9.4f %+8.2f%%\n", name[k],
		       med[k], (med[k] / med[0] - 1) * 100, best[k],
		       (best[k] / best[0] - 1) * 100);
	printf("goal: disabled site within 2 %% of no statement: median %s, "
	       "min %s\n", med[1] <= med[0] * 1.02 ? "MET" : "MISSED",
	       best[1] <= best[0] * 1.02 ? "MET" : "MISSED");
	if (sink == 42)
		puts("");
}

static void updates(int rounds)
{
	double on[64], off[64], upd[64], mins[3] = { 1e9, 1e9, 1e9 };
	struct ustatic_stats s0, s1;

	dd_bench_10000_calls(1);		/* the sites run once */
	dd_bench_10000_sites(1);
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		int n;

		ustatic_get_stats(&s0);
		n = ustatic_dyndbg_query("func dd_bench_10000_sites +p");
		on[r] = (now() - t0) * 1e3;
		ustatic_get_stats(&s1);
		if (n != 10000 || s1.batches - s0.batches != 1) {
			fprintf(stderr, "enabling: %d sites, %lu batches\n", n,
				s1.batches - s0.batches);
			exit(1);
		}
		t0 = now();
		n = ustatic_dyndbg_query("func dd_bench_10000_sites -p");
		off[r] = (now() - t0) * 1e3;
		if (n != 10000)
			exit(1);
		t0 = now();
		if (static_call_update(dd_bench_sc, r % 2 ? dd_bench_a : dd_bench_b))
			exit(1);
		upd[r] = (now() - t0) * 1e3;
		mins[0] = on[r] < mins[0] ? on[r] : mins[0];
		mins[1] = off[r] < mins[1] ? off[r] : mins[1];
		mins[2] = upd[r] < mins[2] ? upd[r] : mins[2];
	}
	printf("\n== 10,000 sites in one batch, %d rounds (ms: median, min) ==\n",
	       rounds);
	printf("%-46s %8.3f %8.3f\n", "query enabling 10,000 debug sites",
	       median(on, rounds), mins[0]);
	printf("%-46s %8.3f %8.3f\n", "query disabling them", median(off, rounds),
	       mins[1]);
	printf("%-46s %8.3f %8.3f\n", "static_call_update(), 10,000 inline sites",
	       median(upd, rounds), mins[2]);
}

int main(void)
{
	const char *r = getenv("ROUNDS");
	int rounds = r ? atoi(r) : 11;

	if (rounds < 1 || rounds > 64)
		rounds = 11;
	hot_loops(rounds);
	updates(rounds);
	return 0;
}
