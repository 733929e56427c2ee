/* SPDX-License-Identifier: MIT */
/*
 * Static calls: "key K now calls F" becomes one patch batch over every
 * trampoline and inline call site of K in every registered object.
 *
 * Each trampoline records two states: `applied`, the target its slot
 * encodes (NULL: the indirect form, through key->func), and
 * `sites_applied`, the target its inline sites encode (NULL: they call the
 * trampoline). Sites follow the slot, except while int3 cannot be used:
 * then they stay on the trampoline, which switches without traps.
 */
#include <errno.h>
#include <string.h>

#include "registry.h"
#include "static_call.h"

long ustatic_call_return0(void)
{
	return 0;
}

void ustatic_call_nop(void)
{
}

/*
 * Where a trampoline's slot sends calls for func: the target itself, this
 * object's stubs for NULL and RET0, or NULL for the indirect form (a
 * target beyond the slot's reach).
 */
static void *tramp_target(const struct us_tramp *t, void *func)
{
	uint8_t *slot = us_arch_tramp_slot(t->addr);

	if (func == (void *)ustatic_call_nop)
		return t->obj->ret_stub;
	if (func == (void *)ustatic_call_return0)
		return t->obj->ret0_stub;
	return us_arch_in_reach(slot, func) ? func : NULL;
}

/* The state a trampoline takes for func: func, or NULL (indirect). */
static void *tramp_state(const struct us_tramp *t, void *func)
{
	return tramp_target(t, func) ? func : NULL;
}

/* A site calls the target directly when it can, else its trampoline. */
static void encode_site(const struct us_tramp *t, const struct us_site *s,
			void *state, uint8_t *out)
{
	const struct us_object *o = t->obj;
	void *to = t->addr;

	if (state == (void *)ustatic_call_nop) {
		if (s->kind == US_SITE_CALL) {
			us_arch_encode_site_nop(out, s);
			return;
		}
		to = o->ret_stub;
	} else if (state == (void *)ustatic_call_return0) {
		if (s->kind == US_SITE_CALL && us_arch_encode_site_ret0(out, s))
			return;
		to = o->ret0_stub;
	} else if (state && us_arch_in_reach(s->addr, state)) {
		to = state;
	}
	if (!us_arch_in_reach(s->addr, to))
		to = t->addr;
	us_arch_encode_site(out, s, to);
}

/*
 * The state trampoline t takes for func: func, or NULL for the indirect
 * form (also whenever no code can be written: then an update is the store
 * to key->func alone, which the indirect form follows).
 */
static void *next_state(const struct us_tramp *t, void *func)
{
	return us_engine_can_write() ? tramp_state(t, func) : NULL;
}

/* The patch moving inline site s of t from state `from` to `to`; false
 * if it needs none. */
static bool site_patch(const struct us_tramp *t, const struct us_site *s,
		       void *from, void *to, struct us_patch *q)
{
	*q = (struct us_patch){ .addr = s->addr, .len = us_arch_site_len(s) };
	encode_site(t, s, from, q->old);
	encode_site(t, s, to, q->new);
	q->trapfree_guard = us_arch_site_guard(s, q->old, q->new);
	/* A few bytes, for each of thousands of sites: no call to memcmp. */
	for (unsigned i = 0; i < q->len; i++)
		if (q->old[i] != q->new[i])
			return true;
	return false;
}

/* Queues the patches that retarget trampoline t to func, and its inline
 * sites too when `sites` (else they are put back on the trampoline). */
static void queue_tramp(struct us_batch *b, const struct us_tramp *t,
			void *func, bool sites)
{
	void *to = next_state(t, func), *sites_to = sites ? to : NULL;
	uint8_t *slot = us_arch_tramp_slot(t->addr);
	struct us_patch p = { .addr = slot, .len = us_arch_tramp_slot_len(),
			      .trapfree_guard = us_arch_tramp_guard() };

	if (!US_ARCH_PATCHES_CODE)
		return;
	/* Sites first, in address order, then the slot (trampolines come
	 * after the code): one key in one object is a sorted batch. */
	for (size_t i = 0; t->sites_applied != sites_to && i < t->nsites; i++) {
		struct us_patch q;

		if (site_patch(t, &t->sites[i], t->sites_applied, sites_to, &q))
			us_batch_add(b, &q);
	}
	if (t->applied != to) {
		us_arch_encode_tramp(p.old, slot, t->applied ?
				     tramp_target(t, t->applied) : NULL);
		us_arch_encode_tramp(p.new, slot, to ? tramp_target(t, to) : NULL);
		us_batch_add(b, &p);
	}
}

/*
 * Whether t's sites may follow it to func without int3: only into NOP5
 * (a NULL target), from their trampoline or NOP5. A site pointed straight
 * at a function could only leave that state with an int3, so without
 * traps no site is ever put there.
 */
static bool sites_trapfree(const struct us_tramp *t, void *func)
{
	void *to = next_state(t, func);
	struct us_patch q;

	if (to != (void *)ustatic_call_nop)
		return false;
	for (size_t i = 0; i < t->nsites; i++)
		if (site_patch(t, &t->sites[i], t->sites_applied, to, &q) &&
		    !q.trapfree_guard)
			return false;
	return true;
}

static void settle_tramp(struct us_tramp *t, void *func, bool sites)
{
	us_assert_held(&us_registry_lock);
	t->applied = next_state(t, func);
	t->sites_applied = sites ? t->applied : NULL;
}

/* Every trampoline a change touches: those of its key everywhere, or all
 * of its object's. */
static bool touches(const struct us_call_change *c, const struct us_object *o,
		    const struct us_tramp *t)
{
	return c->obj ? o == c->obj : t->key == c->key;
}

static void *func_for(const struct us_call_change *c, const struct us_tramp *t)
{
	return c->obj ? t->key->func : c->func;
}

static void settle_change(void *state, int err)
{
	struct us_call_change *c = state;

	if (err)
		return;
	us_for_each_object(o)
		for (size_t i = 0; i < o->ntramps; i++)
			if (touches(c, o, &o->tramps[i]))
				settle_tramp(&o->tramps[i],
					     func_for(c, &o->tramps[i]), c->sites);
	/* Only now: a refused update never sends a call to func. Pairs with
	 * the acquire load of static_call_query() and the generic build's
	 * static_call(); the trampolines' indirect form reads it too. */
	if (!c->obj)
		__atomic_store_n(&c->key->func, c->func, __ATOMIC_SEQ_CST);
}

/*
 * Inline sites follow their trampolines when int3 may be used, or when
 * every site of the change becomes NOP5 without one; else they stay on (or
 * go back to) their trampolines, which switch trap-free.
 * us_batch_may_trap() reads every thread's signal mask: asked only when
 * a site would move.
 */
static bool sites_may_move(struct us_batch *b, const struct us_call_change *c)
{
	bool any = false, trapfree = true;

	if (!us_engine_can_write())
		return false;
	us_for_each_object(o)
		for (size_t i = 0; i < o->ntramps; i++) {
			struct us_tramp *t = &o->tramps[i];

			if (!touches(c, o, t) || !t->nsites)
				continue;
			any = true;
			trapfree = trapfree && sites_trapfree(t, func_for(c, t));
		}
	return any && (trapfree || us_batch_may_trap(b));
}

int us_static_call_queue(struct us_batch *b, struct us_call_change *c)
{
	us_assert_held(&us_registry_lock);
	if (!c->obj && !c->func)
		c->func = (void *)ustatic_call_nop;
	c->sites = sites_may_move(b, c);
	us_for_each_object(o)
		for (size_t i = 0; i < o->ntramps; i++)
			if (touches(c, o, &o->tramps[i]))
				queue_tramp(b, &o->tramps[i],
					    func_for(c, &o->tramps[i]), c->sites);
	return us_batch_on_settle(b, settle_change, c);
}
