/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: a breakpoint we did not place (a debugger's or a
 * uprobe's 0xCC) sits on the first byte of a patch site.
 *
 * The engine checks every site's current bytes before writing anything; a
 * foreign int3 means "do not touch": the whole update fails with -EBUSY and
 * no byte of any site in the batch changes (the others included), nor the
 * key's state or the call's target. Once the breakpoint is gone, the same
 * update succeeds. Checked for a static-key jump site, an inline static-call
 * site, a trampoline, and a transaction spanning both.
 *
 * The test plants the 0xCC itself (mprotect RWX, store, back to r-x) and
 * never executes a site while it is there (that would kill the process, as
 * it should: the trap is not ours).
 *
 * Convinced it can fail: with a private copy of the library whose
 * check_sites() (src/engine.c) ignores unexpected bytes, static_branch_enable
 * returns 0 and overwrites the breakpoint; with the -EBUSY case folded into
 * -EILSEQ the CHECK_EQ on -EBUSY fails.
 *
 * White-box: finds the jump sites, the trampoline and the inline call site
 * in the registry (src/registry.h) to plant the breakpoint on them.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <ustatic.h>

#include "registry.h"
#include "helpers.h"
#include "test.h"

#if !defined(__x86_64__) || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("x86-64 int3 engine only (a foreign 0xCC)");
}
#else

DEFINE_STATIC_CALL(fb_call, t_fa);
DEFINE_STATIC_KEY_FALSE(fb_key);

T_BRANCH(branch1, static_branch_unlikely, &fb_key)

static __attribute__((noinline)) int branch2(void)
{
	if (static_branch_unlikely(&fb_key))
		return 10;
	return 20;
}

T_CALL_SITE(call_it, fb_call)

/* The executable's code, copied, to prove that nothing else changed. */
static struct t_text code;

/* Writes one byte into code as a debugger would, returns the old one. */
static uint8_t poke(uint8_t *at, uint8_t b)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *page = (uint8_t *)((uintptr_t)at & ~(uintptr_t)(pg - 1));
	uint8_t old = *at;

	CHECK_EQ(mprotect(page, pg, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	*(volatile uint8_t *)at = b;
	__builtin___clear_cache((char *)at, (char *)at + 1);
	CHECK_EQ(mprotect(page, pg, PROT_READ | PROT_EXEC), 0);
	return old;
}

static size_t jump_sites(struct static_key *key, uint8_t **out, size_t cap)
{
	size_t n = 0;

	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->njumps; i++)
			if (o->jumps[i].key == key && n < cap)
				out[n++] = o->jumps[i].code;
	return n;
}

static struct us_tramp *tramp_of(struct static_call_key *key)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key)
				return &o->tramps[i];
	return NULL;
}

static uint8_t *call_site_of(struct us_tramp *t)
{
	for (size_t s = 0; s < t->nsites; s++)
		if (t->sites[s].kind == US_SITE_CALL)
			return t->sites[s].addr;
	return NULL;
}

int main(void)
{
	uint8_t *jumps[8], *site, old;
	struct us_tramp *t;
	struct ustatic_stats st0, st;
	size_t nj;

	t_text_snapshot(&code);

	nj = jump_sites(&fb_key.key, jumps, 8);
	CHECK(nj >= 2);
	for (size_t i = 0; i < nj; i++)
		CHECK(jumps[i] >= code.start && jumps[i] < code.start + code.len);
	t = tramp_of(&STATIC_CALL_KEY(fb_call));
	CHECK(t != NULL);
	site = call_site_of(t);
	CHECK(site != NULL);
	CHECK_EQ(branch1(), 0);
	CHECK_EQ(branch2(), 20);
	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(ustatic_get_stats(&st0), 0);

	/* 1. Static key: a breakpoint on one of its jump sites. */
	for (size_t victim = 0; victim < nj; victim++) {
		t_text_snapshot(&code);
		old = poke(jumps[victim], 0xcc);
		CHECK(old != 0xcc);
		CHECK_EQ(static_branch_enable(&fb_key), -EBUSY);
		t_text_check(&code, "static_branch_enable", jumps[victim]);
		CHECK(!static_key_enabled(&fb_key));
		CHECK_EQ(static_key_count(&fb_key.key), 0);
		CHECK_EQ(static_branch_inc(&fb_key), -EBUSY);
		CHECK_EQ(static_key_count(&fb_key.key), 0);
		t_text_check(&code, "static_branch_inc", jumps[victim]);
		poke(jumps[victim], old);
		t_text_check(&code, "restored", NULL);
		CHECK_EQ(branch1(), 0);
		CHECK_EQ(branch2(), 20);
	}
	CHECK_EQ(static_branch_enable(&fb_key), 0);
	CHECK(static_key_enabled(&fb_key));
	CHECK_EQ(branch1(), 1);
	CHECK_EQ(branch2(), 10);

	/* ... and on the way back (the site is now one we patched before). */
	t_text_snapshot(&code);
	old = poke(jumps[0], 0xcc);
	CHECK_EQ(static_branch_disable(&fb_key), -EBUSY);
	t_text_check(&code, "static_branch_disable", jumps[0]);
	CHECK(static_key_enabled(&fb_key));
	CHECK_EQ(static_branch_dec(&fb_key), -EBUSY);
	CHECK_EQ(static_key_count(&fb_key.key), 1);
	t_text_check(&code, "static_branch_dec", jumps[0]);
	poke(jumps[0], old);
	CHECK_EQ(static_branch_disable(&fb_key), 0);
	CHECK_EQ(branch1(), 0);
	CHECK_EQ(branch2(), 20);

	/* 2. Static call: a breakpoint on the inline call site, then on the
	 * trampoline; the other member of the batch must not move either. */
	uint8_t *victims[2] = { site, t->addr };

	for (int v = 0; v < 2; v++) {
		t_text_snapshot(&code);
		old = poke(victims[v], 0xcc);
		CHECK_EQ(static_call_update(fb_call, t_fb), -EBUSY);
		t_text_check(&code, v ? "update (trampoline)" : "update (site)",
			     victims[v]);
		CHECK(static_call_query(fb_call) == t_fa);
		poke(victims[v], old);
		CHECK_EQ(call_it(10), 11);
	}
	CHECK_EQ(static_call_update(fb_call, t_fb), 0);
	CHECK_EQ(call_it(10), 12);
	CHECK(static_call_query(fb_call) == t_fb);

	/* 3. A transaction: the call site is fine, a jump site is not. */
	t_text_snapshot(&code);
	old = poke(jumps[nj - 1], 0xcc);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(fb_call, t_fa), 0);
	CHECK_EQ(static_branch_enable(&fb_key), 0);
	CHECK_EQ(ustatic_batch_commit(), -EBUSY);
	t_text_check(&code, "transaction", jumps[nj - 1]);
	CHECK(static_call_query(fb_call) == t_fb);
	CHECK(!static_key_enabled(&fb_key));
	CHECK_EQ(call_it(10), 12);
	poke(jumps[nj - 1], old);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(fb_call, t_fa), 0);
	CHECK_EQ(static_branch_enable(&fb_key), 0);
	CHECK_EQ(ustatic_batch_commit(), 0);
	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(branch1(), 1);
	CHECK_EQ(branch2(), 10);

	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK(st.refused - st0.refused >= 2 * nj + 5);
	printf("foreign breakpoint: %zu jump sites, %lu batches refused\n", nj,
	       st.refused - st0.refused);
	return T_EXIT_PASS;
}
#endif
