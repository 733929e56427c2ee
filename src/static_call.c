/* SPDX-License-Identifier: MIT */
/*
 * Static calls: "key K now calls F" becomes one patch batch over every
 * trampoline and inline call site of K in every registered object.
 *
 * A trampoline's state is `applied`: NULL while it is in its indirect form
 * (its sites then call it), else the target it and its sites encode.
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

#if US_ARCH_PATCHES_CODE
static bool in_reach(const uint8_t *from, const void *to)
{
	uint8_t probe[5];

	return x86_encode_jmp(probe, (uintptr_t)from, (uintptr_t)to) == 0;
}

/* What the trampoline's direct form jumps to for func, or NULL for none. */
static void *tramp_target(const struct us_tramp *t, void *func)
{
	if (func == (void *)__static_call_return0)
		return t->obj->ret0_stub;
	return in_reach(t->addr, func) ? func : NULL;
}

/* The state a trampoline takes for func: func itself, or NULL (indirect). */
static void *tramp_state(const struct us_tramp *t, void *func)
{
	if (func == (void *)__static_call_nop)
		return func;
	return tramp_target(t, func) ? func : NULL;
}

static void encode_tramp(const struct us_tramp *t, void *state, uint8_t out[5])
{
	memcpy(out, t->addr, 5);	/* the tail of cmp/ret is not executed */
	if (!state)
		out[0] = X86_CMP_EAX;
	else if (state == (void *)__static_call_nop)
		out[0] = X86_RET;
	else
		x86_encode_jmp(out, (uintptr_t)t->addr,
			       (uintptr_t)tramp_target(t, state));
}

static void encode_site(const struct us_tramp *t, const struct us_site *s,
			void *state, uint8_t out[6])
{
	const struct us_object *o = t->obj;
	void *to = t->addr;
	uintptr_t at = (uintptr_t)s->addr;

	if (state == (void *)__static_call_nop) {
		if (s->kind == US_SITE_CALL) {
			x86_encode_nop5(out);
			return;
		}
		to = o->ret_stub;
	} else if (state == (void *)__static_call_return0) {
		if (s->kind == US_SITE_CALL) {
			x86_encode_xor5(out);
			return;
		}
		to = o->ret0_stub;
	} else if (state && in_reach(s->addr, state)) {
		to = state;
	}
	if (s->kind == US_SITE_CALL)
		x86_encode_call(out, at, (uintptr_t)to);
	else if (s->kind == US_SITE_TAIL)
		x86_encode_jmp(out, at, (uintptr_t)to);
	else
		x86_encode_jcc(out, at, s->cc, (uintptr_t)to);
}

static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };

/* A call site may skip its call only where old or new skips it too. */
static uint8_t site_trapfree_guard(const struct us_site *s, const uint8_t *old,
				   const uint8_t *new)
{
	if (s->kind == US_SITE_CALL &&
	    (!memcmp(old, nop5, 5) || !memcmp(new, nop5, 5)))
		return X86_CMP_EAX;
	return 0;
}

int us_static_call_plan_tramp(const struct us_tramp *t, void *func,
			      struct us_patch_vec *pv)
{
	void *from = t->applied, *to = tramp_state(t, func);
	struct us_patch p = { .addr = t->addr, .len = 5,
			      .trapfree_guard = X86_CMP_EAX };
	int err;

	if (from == to)
		return 0;
	encode_tramp(t, from, p.old);
	encode_tramp(t, to, p.new);
	err = us_patch_vec_push(pv, &p);
	for (size_t i = 0; !err && i < t->nsites; i++) {
		const struct us_site *s = &t->sites[i];

		p = (struct us_patch){ .addr = s->addr,
				       .len = s->kind == US_SITE_JCC ? 6 : 5 };
		encode_site(t, s, from, p.old);
		encode_site(t, s, to, p.new);
		p.trapfree_guard = site_trapfree_guard(s, p.old, p.new);
		if (memcmp(p.old, p.new, p.len))
			err = us_patch_vec_push(pv, &p);
	}
	return err;
}

void us_static_call_applied(struct us_tramp *t, void *func)
{
	t->applied = tramp_state(t, func);
}
#else
int us_static_call_plan_tramp(const struct us_tramp *t, void *func,
			      struct us_patch_vec *pv)
{
	(void)t, (void)func, (void)pv;
	return 0;
}

void us_static_call_applied(struct us_tramp *t, void *func)
{
	(void)t, (void)func;
}
#endif

int us_static_call_plan_object(struct us_object *o, struct us_patch_vec *pv)
{
	for (size_t i = 0; i < o->ntramps; i++) {
		struct us_tramp *t = &o->tramps[i];
		int err = us_static_call_plan_tramp(t, t->key->func, pv);

		if (err)
			return err;
	}
	return 0;
}

void us_static_call_commit_object(struct us_object *o, bool applied)
{
	for (size_t i = 0; applied && i < o->ntramps; i++)
		us_static_call_applied(&o->tramps[i], o->tramps[i].key->func);
}

int us_static_call_plan_key(struct static_call_key *key, void *func,
			    struct us_patch_vec *pv)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key) {
				int err = us_static_call_plan_tramp(&o->tramps[i],
								    func, pv);
				if (err)
					return err;
			}
	return 0;
}

void us_static_call_commit_key(struct static_call_key *key, void *func)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key)
				us_static_call_applied(&o->tramps[i], func);
}

/* With no way to write code, a key whose trampolines are all still
 * indirect is updated by its data alone. */
static bool key_is_indirect(struct static_call_key *key)
{
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == key && o->tramps[i].applied)
				return false;
	return true;
}

int __ustatic_call_update(struct static_call_key *key, void *func)
{
	struct us_patch_vec pv = { 0 };
	void *old;
	int err;

	us_init();
	if (!key)
		return us_fail(-EINVAL, "static_call_update: NULL key");
	if (!func)
		func = (void *)__static_call_nop;
	if (us_transaction_active())
		return us_transaction_add_call(key, func);
	us_registry_lock();
	old = key->func;
	err = 0;
	if (old == func)
		goto out;
	__atomic_store_n(&key->func, func, __ATOMIC_SEQ_CST);
	err = us_static_call_plan_key(key, func, &pv);
	if (!err)
		err = us_engine_apply(pv.v, pv.n);
	if (err == -EPERM && key_is_indirect(key))
		err = 0;
	if (err)
		__atomic_store_n(&key->func, old, __ATOMIC_SEQ_CST);
	else
		us_static_call_commit_key(key, func);
out:
	us_registry_unlock();
	us_patch_vec_free(&pv);
	return err;
}
