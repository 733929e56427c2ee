/* SPDX-License-Identifier: MIT */
/*
 * The timed loops. This file is compiled twice: as is (loops_plain), and
 * with -DSHOWCASE_HARDENED='"flags"' and those flags (loops_hardened), a
 * retpoline build where every indirect call goes through a thunk that
 * defeats the branch predictor, as Spectre v2 mitigations build code. The
 * static call's sites are direct calls in both builds: retpolines do not
 * touch them.
 */
#include "showcase.h"

#ifdef SHOWCASE_HARDENED
#define LOOPS		loops_hardened
#define L(name)		name##_hardened
const char hardened_flags[] = SHOWCASE_HARDENED;
#else
#define LOOPS		loops_plain
#define L(name)		name##_plain
#endif

/*
 * One loop per way of calling. x flows from call to call, so the calls
 * cannot overlap. The pointer is loaded on every call (relaxed atomic):
 * another thread may change it at any time, so a correct program must.
 */
#define CALL_LOOP(name, uses_pick, call)				\
	static uint64_t L(name)(long n)					\
	{								\
		uint64_t x = 1;						\
									\
		for (long i = 0; i < n; i++) {				\
			unsigned k = uses_pick ? pick[i & (PICK_LEN - 1)] : 0; \
									\
			(void)k;					\
			x = call;					\
		}							\
		return x;						\
	}

CALL_LOOP(direct, 0, step_a(x))
CALL_LOOP(static_call, 0, static_call(step)(x))
CALL_LOOP(pointer, 0, __atomic_load_n(&step_ptr, __ATOMIC_RELAXED)(x))
/* The same three with a random pick per call: only the pointer's target
 * follows it; the others call step_a with x ^ k, the same work. */
CALL_LOOP(pick_direct, 1, step_a(x ^ k))
CALL_LOOP(pick_static_call, 1, static_call(step)(x ^ k))
CALL_LOOP(pick_pointer, 1, step_table[k](x ^ k))

const struct call_loops LOOPS = {
	.direct = L(direct),
	.static_call = L(static_call),
	.pointer = L(pointer),
	.pick_direct = L(pick_direct),
	.pick_static_call = L(pick_static_call),
	.pick_pointer = L(pick_pointer),
};

#ifndef SHOWCASE_HARDENED
uint8_t pick[PICK_LEN];
uint8_t records[NRECORDS][RECORD_LEN];

/* 31-based checksum, four bytes per step: a few dozen cycles of work. */
static inline uint32_t checksum_inline(const uint8_t *p)
{
	uint32_t s = 0;

	for (int i = 0; i < RECORD_LEN; i += 4)
		s = s * 923521u + p[i] * 29791u + p[i + 1] * 961u +
		    p[i + 2] * 31u + p[i + 3];
	return s;
}

/* For the checks: the same checksum, called. */
uint32_t checksum(const uint8_t *p)
{
	return checksum_inline(p);
}

/*
 * The same loop twice, but for its tracing check. The flag is read with a
 * relaxed atomic load on every iteration, as a flag another thread flips
 * must be (a plain read could be hoisted out of the loop).
 */
uint64_t key_loop(long n)
{
	uint64_t sum = 0;

	for (long i = 0; i < n; i++) {
		sum += checksum_inline(records[i % NRECORDS]);
		if (static_branch_unlikely(&tracing))
			trace_hit();
	}
	return sum;
}

uint64_t flag_loop(long n)
{
	uint64_t sum = 0;

	for (long i = 0; i < n; i++) {
		sum += checksum_inline(records[i % NRECORDS]);
		if (__atomic_load_n(&tracing_flag, __ATOMIC_RELAXED))
			trace_hit();
	}
	return sum;
}
#endif
