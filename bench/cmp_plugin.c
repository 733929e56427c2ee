/* SPDX-License-Identifier: MIT */
/*
 * One copy of the copies row: 50 sites of a static call private to this
 * object, built as a plugin (PLUG=1, 2: plug1_ops, plug2_ops) or into the
 * host (PLUG=0). See cmp_copies.c.
 */
#include <ustatic.h>

#include "cmp_plugin.h"
#include "sites.h"

#define OPS_NAME(n)	plug##n##_ops
#define OPS(n)		OPS_NAME(n)

/* Which target ran last in this thread: 1 or 2. */
static __thread int who;

static __attribute__((noinline)) unsigned plug_a(unsigned x)
{
	who = 1;
	return x + 1;
}

static __attribute__((noinline)) unsigned plug_b(unsigned x)
{
	__asm__ __volatile__("");	/* not foldable into plug_a */
	who = 2;
	return x + 1;
}

DEFINE_STATIC_CALL_HIDDEN(plug_sc, plug_a);

static SITES_FN(plug_sites, "plug_sites", R10(x = static_call(plug_sc)(x);)
		R10(x = static_call(plug_sc)(x);) R10(x = static_call(plug_sc)(x);)
		R10(x = static_call(plug_sc)(x);) R10(x = static_call(plug_sc)(x);))

static unsigned plug_run(void)
{
	return plug_sites(0);
}

static int plug_update(int to_b)
{
	return static_call_update(plug_sc, to_b ? plug_b : plug_a);
}

static int plug_probe(void)
{
	return plug_sites(0) == 50 ? who : -1;
}

extern const struct plug_ops OPS(PLUG);
const struct plug_ops OPS(PLUG) = { 50, plug_run, plug_update, plug_probe };
