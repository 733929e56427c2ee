/* SPDX-License-Identifier: MIT */
/*
 * A plugin that links its own static copy of ustatic (libustatic.a, with
 * -Wl,--exclude-libs,ALL: nothing of it is visible outside). Built as
 * libcopy_a.so, libcopy_b.so and, from a library built with another
 * runtime ABI, libcopy_abi2.so (test/copies.c). Each has its own static
 * call and key, reached through the functions below (dlsym).
 */
#include <ustatic.h>

#include "copy.h"

static int k0(void) { return 0; }
static int k1(void) { return 1; }
static int k2(void) { return 2; }
static int k3(void) { return 3; }
static int (*const targets[4])(void) = { k0, k1, k2, k3 };

DEFINE_STATIC_CALL(copy_sc, k0);
DEFINE_STATIC_KEY_FALSE(copy_key);

__attribute__((noinline)) int copy_call(void)
{
	int r = static_call(copy_sc)();

	__asm__ __volatile__("" : "+r"(r));	/* a call site, not a tail jump */
	return r;
}

__attribute__((noinline)) int copy_branch(void)
{
	return static_branch_unlikely(&copy_key) ? 1 : 0;
}

int copy_update(int k)
{
	return static_call_update(copy_sc, targets[k & 3]);
}

int copy_key_set(int on)
{
	return on ? static_branch_enable(&copy_key) :
		    static_branch_disable(&copy_key);
}

int copy_stats(struct ustatic_stats *st)
{
	return ustatic_get_stats(st);
}
