/* SPDX-License-Identifier: MIT */
/*
 * The static call of the registration benchmark: defined in the bench
 * executable (objects.c), called from 10,000 sites in libbenchreg.so
 * (reg_sites.c). Its target, far_step(), is in libbenchfar.so, which the
 * dlopen'ed object reaches with a rel32 (both sit in the mmap area), so
 * registration rewrites every site into a direct call.
 */
#ifndef USTATIC_BENCH_REG_H
#define USTATIC_BENCH_REG_H

#include <ustatic.h>

#include "bench.h"

#define REG_MARKERS 10000

DECLARE_STATIC_CALL(sc_reg, far_step);

/* In libbenchreg.so and libbenchreg0.so: runs their 10,000 calls. */
unsigned reg_run(unsigned x);

#endif
