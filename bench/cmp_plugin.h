/* SPDX-License-Identifier: MIT */
/*
 * A plugin of the copies row (cmp_copies.c): a shared object that uses
 * ustatic with its own copy of the library (linked with libustatic.a) or
 * with libustatic.so, and exports its operations as plugN_ops.
 */
#ifndef USTATIC_BENCH_CMP_PLUGIN_H
#define USTATIC_BENCH_CMP_PLUGIN_H

struct plug_ops {
	unsigned nsites;
	unsigned (*run)(void);		/* runs every site: returns nsites */
	int (*update)(int to_b);	/* static_call_update: 0 or -errno */
	int (*probe)(void);		/* target reached now: 1 or 2, -1 wrong */
};

#endif
