/* SPDX-License-Identifier: MIT */
/* bench/dyndbg.c and the 10,000 sites of bench/dyndbg_sites.c. */
#ifndef DYNDBG_BENCH_H
#define DYNDBG_BENCH_H

#include <ustatic.h>

int dd_bench_a(int x);
int dd_bench_b(int x);
DECLARE_STATIC_CALL(dd_bench_sc, dd_bench_a);
void dd_bench_10000_sites(int x);
int dd_bench_10000_calls(int x);

#endif
