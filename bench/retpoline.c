/* SPDX-License-Identifier: MIT */
/*
 * The function-pointer loops again, compiled with retpolines (gcc:
 * -mindirect-branch=thunk, clang: -mretpoline), as Spectre v2 mitigations
 * build them: every indirect call goes through a thunk that defeats the
 * indirect branch predictor.
 */
#include "bench.h"
#include "loops.h"

LOOP(loop_ptr1_retpoline, x = bench_fp(x))
LOOP(loop_ptr_many_retpoline, x = MANY(i)(x))
