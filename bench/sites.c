/* SPDX-License-Identifier: MIT */
/*
 * Three static calls with 1, 100 and 10,000 inline call sites, for the
 * update benchmarks. Every site is x = static_call(sc)(x), so running all
 * the sites of a set from x = 0 returns exactly the number of sites
 * whatever the target (step_a and step_b both add one): busy threads check
 * that while the sites are rewritten under them.
 */
#include <ustatic.h>

#include "bench.h"

DEFINE_STATIC_CALL(sc_1, step_a);
DEFINE_STATIC_CALL(sc_100, step_a);
DEFINE_STATIC_CALL(sc_10k, step_a);

#define S1(k)		x = static_call(k)(x);
#define S10(k)		S1(k) S1(k) S1(k) S1(k) S1(k) S1(k) S1(k) S1(k) S1(k) S1(k)
#define S100(k)		S10(k) S10(k) S10(k) S10(k) S10(k) S10(k) S10(k) S10(k) S10(k) S10(k)
#define S1000(k)	S100(k) S100(k) S100(k) S100(k) S100(k) S100(k) S100(k) S100(k) S100(k) S100(k)

#define NOINLINE __attribute__((noinline))

static NOINLINE unsigned run_1(unsigned x) { S1(sc_1) return x; }
static NOINLINE unsigned run_100(unsigned x) { S100(sc_100) return x; }

/* The asm comment keeps the ten bodies distinct: identical code folding
 * would otherwise merge them into one function with 1,000 sites. */
#define K(i) static NOINLINE unsigned run_10k_##i(unsigned x)		\
	{ __asm__ __volatile__("# run_10k_" #i); S1000(sc_10k) return x; }
K(0) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9)
#undef K

const unsigned sites_count[NSITESETS] = { 1, 100, 10000 };

unsigned run_sites(int set, unsigned x)
{
	switch (set) {
	case SITES_1:
		return run_1(x);
	case SITES_100:
		return run_100(x);
	default:
		x = run_10k_0(x); x = run_10k_1(x); x = run_10k_2(x);
		x = run_10k_3(x); x = run_10k_4(x); x = run_10k_5(x);
		x = run_10k_6(x); x = run_10k_7(x); x = run_10k_8(x);
		return run_10k_9(x);
	}
}

int update_sites(int set, step_fn *to)
{
	switch (set) {
	case SITES_1:
		return static_call_update(sc_1, to);
	case SITES_100:
		return static_call_update(sc_100, to);
	default:
		return static_call_update(sc_10k, to);
	}
}
