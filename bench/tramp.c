/* SPDX-License-Identifier: MIT */
/*
 * Calls to the static call's trampoline itself: a plain C call of
 * __SCT__sc_bench has no site marker, so the registry leaves it alone and
 * it measures `call trampoline` + the promoted trampoline's `jmp target`.
 * (Linked first, away from any marker; bench.c checks the call is intact.)
 */
#include <ustatic.h>

#include "bench.h"
#include "loops.h"

DECLARE_STATIC_CALL(sc_bench, step_a);

LOOP(loop_tramp, x = STATIC_CALL_TRAMP(sc_bench)(x))

const void *tramp_of_bench(void)
{
	return (const void *)&STATIC_CALL_TRAMP(sc_bench);
}
