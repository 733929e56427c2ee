/* SPDX-License-Identifier: MIT */
/*
 * The objects of the registration benchmark (objects.c): 10,000 calls of
 * far_step() in ten functions of 1,000 (the nested macros of sites.c),
 * made through 10,000 static_call(sc_reg) markers (REG_SITES=1) or as plain
 * PLT calls of the same length (REG_SITES=0):
 *
 *   libbenchreg.so, libbenchreg0.so        REG_PAD=0: the calls 7 bytes
 *       apart (`mov %eax,%edi; call`), as in sites.c;
 *   libbenchregpad.so, libbenchregpad0.so  REG_PAD=1: 47 one-byte NOPs
 *       after each call, so that decoding forward from a marker (at most
 *       48 instructions) ends before the next call.
 *
 * All four register with the library from their constructor; the
 * difference of the dlopen() times of an object with markers and of its
 * twin without is what registering 10,000 markers costs.
 */
#include <ustatic.h>

#include "bench.h"
#include "sites.h"

#if REG_SITES
#include "reg.h"
#define CALL	x = static_call(sc_reg)(x);
#else
#define CALL	x = far_step(x);
#endif

#if REG_PAD
#define SITE	CALL __asm__ __volatile__(".fill 47, 1, 0x90");
#else
#define SITE	CALL
#endif

unsigned reg_run(unsigned x);

#define K(i) static SITES_FN(reg_##i, "reg_" #i, R1000(SITE))
K(0) K(1) K(2) K(3) K(4) K(5) K(6) K(7) K(8) K(9)
#undef K

unsigned reg_run(unsigned x)
{
	x = reg_0(x); x = reg_1(x); x = reg_2(x); x = reg_3(x); x = reg_4(x);
	x = reg_5(x); x = reg_6(x); x = reg_7(x); x = reg_8(x);
	return reg_9(x);
}
