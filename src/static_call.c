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

#include "init.h"
#include "registry.h"
#include "static_call.h"
#include "transaction.h"

long __static_call_return0(void)
{
	return 0;
}

void __static_call_nop(void)
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

	if (func == (void *)__static_call_nop)
		return t->obj->ret_stub;
	if (func == (void *)__static_call_return0)
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

	if (state == (void *)__static_call_nop) {
		if (s->kind == US_SITE_CALL) {
			us_arch_encode_site_nop(out, s);
			return;
		}
		to = o->ret_stub;
	} else if (state == (void *)__static_call_return0) {
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

int us_static_call_plan_tramp(const struct us_tramp *t, void *func, bool sites,
			      struct us_patch_vec *pv)
{
	void *to = next_state(t, func), *sites_to = sites ? to : NULL;
	uint8_t *slot = us_arch_tramp_slot(t->addr);
	struct us_patch p = { .addr = slot, .len = us_arch_tramp_slot_len(),
			      .trapfree_guard = us_arch_tramp_guard() };
	int err = 0;

	if (!US_ARCH_PATCHES_CODE)
		return 0;
	/* Sites first, in address order, then the slot (trampolines come
	 * after the code): one key in one object is a sorted batch. */
	for (size_t i = 0; !err && t->sites_applied != sites_to && i < t->nsites; i++) {
		const struct us_site *s = &t->sites[i];
		struct us_patch q = { .addr = s->addr, .len = us_arch_site_len(s) };

		encode_site(t, s, t->sites_applied, q.old);
		encode_site(t, s, sites_to, q.new);
		q.trapfree_guard = us_arch_site_guard(s, q.old, q.new);
		if (memcmp(q.old, q.new, q.len))
			err = us_patch_vec_push(pv, &q);
	}
	if (!err && t->applied != to) {
		us_arch_encode_tramp(p.old, slot, t->applied ?
				     tramp_target(t, t->applied) : NULL);
		us_arch_encode_tramp(p.new, slot, to ? tramp_target(t, to) : NULL);
		err = us_patch_vec_push(pv, &p);
	}
	return err;
}

static void commit_tramp(struct us_tramp *t, void *func, bool sites)
{
	t->applied = next_state(t, func);
	t->sites_applied = sites ? t->applied : NULL;
}

int us_static_call_plan_object(struct us_object *o, bool sites,
			       struct us_patch_vec *pv)
{
	for (size_t i = 0; i < o->ntramps; i++) {
		struct us_tramp *t = &o->tramps[i];
		int err = us_static_call_plan_tramp(t, t->key->func, sites, pv);

		if (err)
			return err;
	}
	return 0;
}

void us_static_call_commit_object(struct us_object *o, bool sites)
{
	for (size_t i = 0; i < o->ntramps; i++)
		commit_tramp(&o->tramps[i], o->tramps[i].key->func, sites);
}

int us_static_call_plan_key(struct static_call_key *key, void *func, bool sites,
			    struct us_patch_vec *pv)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key) {
				int err = us_static_call_plan_tramp(&o->tramps[i],
								    func, sites, pv);
				if (err)
					return err;
			}
	return 0;
}

void us_static_call_commit_key(struct static_call_key *key, void *func,
			       bool sites)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key)
				commit_tramp(&o->tramps[i], func, sites);
	/* Only now: a refused update never sends a call to func. */
	__atomic_store_n(&key->func, func, __ATOMIC_SEQ_CST);
}

static int try_update(struct static_call_key *key, void *func, bool sites)
{
	struct us_patch_vec pv = { 0 };
	int err = us_static_call_plan_key(key, func, sites, &pv);

	if (!err)
		err = us_engine_apply(pv.v, pv.n);
	if (!err)
		us_static_call_commit_key(key, func, sites);
	us_patch_vec_free(&pv);
	return err;
}

int __ustatic_call_update(struct static_call_key *key, void *func)
{
	int err = 0;

	us_init();
	if (!key)
		return us_fail(-EINVAL, "static_call_update: NULL key");
	if (!func)
		func = (void *)__static_call_nop;
	if (us_transaction_active())
		return us_transaction_add_call(key, func);
	us_registry_lock();
	if (key->func != func) {
		err = try_update(key, func, true);
		/* No int3 now: leave (or put) inline sites on the trampoline. */
		if (err == -EDEADLK)
			err = try_update(key, func, false);
	}
	us_registry_unlock();
	return err;
}
