/* SPDX-License-Identifier: MIT */
/*
 * The static call of the multi-object update benchmark: defined in the
 * bench executable (objects.c), with 3,334 sites there and 3,333 in each of
 * libbenchsplit1.so and libbenchsplit2.so (split_sites.c): 10,000 in all.
 */
#ifndef USTATIC_BENCH_SPLIT_H
#define USTATIC_BENCH_SPLIT_H

#include <ustatic.h>

#include "bench.h"

#define SPLIT_EXE_SITES	3334
#define SPLIT_SO_SITES	3333
#define SPLIT_SITES	(SPLIT_EXE_SITES + 2 * SPLIT_SO_SITES)

DECLARE_STATIC_CALL(sc_split, step_a);

/* In libbenchsplit{1,2}.so: runs their 3,333 sites. */
unsigned split_run(unsigned x);

#endif
