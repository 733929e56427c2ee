/* SPDX-License-Identifier: MIT */
/*
 * 5,000 functions compiled with -fxray-instrument
 * -fxray-instruction-threshold=1: each gets an entry and an exit sled, so
 * __xray_patch() rewrites 10,000 sleds, as many as the 10,000 inline sites
 * of one ustatic update in sites.c.
 */
#include "bench.h"

#define F(n)	__attribute__((noinline)) unsigned xf_##n(unsigned x) { return x + 1; }
#define D10(p)	F(p##0) F(p##1) F(p##2) F(p##3) F(p##4) F(p##5) F(p##6) F(p##7) F(p##8) F(p##9)
#define D100(p)	D10(p##0) D10(p##1) D10(p##2) D10(p##3) D10(p##4) \
		D10(p##5) D10(p##6) D10(p##7) D10(p##8) D10(p##9)
#define D1000(p) D100(p##0) D100(p##1) D100(p##2) D100(p##3) D100(p##4) \
		 D100(p##5) D100(p##6) D100(p##7) D100(p##8) D100(p##9)

unsigned xray_dummy(unsigned x);	/* keeps -Wmissing-prototypes quiet */
D1000(0) D1000(1) D1000(2) D1000(3) D1000(4)

#undef F
#define F(n) xf_##n,
step_fn *const xray_funcs[] = { D1000(0) D1000(1) D1000(2) D1000(3) D1000(4) };
const unsigned xray_nfuncs = sizeof(xray_funcs) / sizeof(xray_funcs[0]);
