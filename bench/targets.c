/* SPDX-License-Identifier: MIT */
/*
 * The functions the benchmarked calls reach. They live in their own
 * translation unit so that no variant can be inlined or specialised: every
 * loop pays for a real call. Bodies differ slightly so that identical code
 * folding cannot merge two of them into one address.
 */
#include "bench.h"

unsigned step_a(unsigned x)
{
	return x + 1;
}

unsigned step_b(unsigned x)
{
	__asm__ __volatile__("");	/* same machine code, not foldable */
	return x + 1;
}

unsigned trace_hit(unsigned x)
{
	return x ^ 1;
}

step_fn *bench_fp = step_a;

#define T(k) static unsigned many_##k(unsigned x) { return x + k; }
T(1) T(2) T(3) T(4) T(5) T(6) T(7) T(8)
T(9) T(10) T(11) T(12) T(13) T(14) T(15) T(16)
#undef T

step_fn *const many_targets[MANY_TARGETS] = {
	many_1, many_2, many_3, many_4, many_5, many_6, many_7, many_8,
	many_9, many_10, many_11, many_12, many_13, many_14, many_15, many_16,
};
uint8_t many_seq[MANY_SEQ];

void targets_init(unsigned seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

	for (int i = 0; i < MANY_SEQ; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;	/* xorshift64 */
		many_seq[i] = (uint8_t)(s >> 32) % MANY_TARGETS;
	}
}

/* A glibc IFUNC: the dynamic linker calls the resolver once, at start-up,
 * and every call then goes through the PLT/GOT slot it filled. */
static unsigned ifunc_impl(unsigned x)
{
	return x + 2;
}

__attribute__((used)) static step_fn *resolve_step(void)
{
	return ifunc_impl;
}

unsigned ifunc_step(unsigned x) __attribute__((ifunc("resolve_step")));

volatile int flag_off = 0, flag_on = 1;
