/* SPDX-License-Identifier: MIT */
/*
 * The call and branch variants, one loop each. Every loop makes n calls in
 * a dependency chain (x = f(x)), so what differs between two loops is only
 * how the call (or the branch before it) is made.
 */
#include <ustatic.h>

#include "bench.h"
#include "loops.h"

DEFINE_STATIC_CALL(sc_bench, step_a);	/* target in this executable */
DEFINE_STATIC_CALL(sc_far, far_step);	/* target in libbenchfar.so */
DEFINE_STATIC_KEY_FALSE(key_off);
DEFINE_STATIC_KEY_FALSE(key_on);	/* enabled by calls_init() */

/* The physical limit: a plain direct call. "no branch" is the same loop
 * again, the baseline of the static-key rows (and a noise yardstick). */
LOOP(loop_direct, x = step_a(x))
LOOP(loop_nobranch, x = step_a(x))

/* An inline static-call site: after registration it is `call step_a`. */
LOOP(loop_static, x = static_call(sc_bench)(x))

/* Sites of a static call whose target no rel32 reaches: they call the
 * trampoline, which stays in its indirect form (jmp through the key). */
LOOP(loop_static_far, x = static_call(sc_far)(x))

/* Function pointers, the usual alternative. */
LOOP(loop_ptr1, x = bench_fp(x))
LOOP(loop_ptr_many, x = MANY(i)(x))

/* A call into a shared library (PLT) and a glibc IFUNC. */
LOOP(loop_plt, x = far_step(x))
LOOP(loop_ifunc, x = ifunc_step(x))

/* Branches in front of the call: a static key off (NOP5), on (JMP to the
 * out-of-line block, which makes one more call), and the same with a
 * plain `if (flag)` on a volatile global. */
LOOP(loop_key_off, x = step_a(x); if (static_branch_unlikely(&key_off)) x = trace_hit(x))
LOOP(loop_key_on, x = step_a(x); if (static_branch_unlikely(&key_on)) x = trace_hit(x))
LOOP(loop_flag_off, x = step_a(x); if (flag_off) x = trace_hit(x))
LOOP(loop_flag_on, x = step_a(x); if (flag_on) x = trace_hit(x))

int calls_init(void)
{
	return static_branch_enable(&key_on);
}

const void *tramp_of_far(void)
{
	return (const void *)&STATIC_CALL_TRAMP(sc_far);
}
