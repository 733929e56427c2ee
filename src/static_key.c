/* SPDX-License-Identifier: MIT */
/*
 * Static keys with the kernel's counting rules (kernel/jump_label.c):
 * inc/dec count users, the 0 <-> 1 transitions patch every branch on the
 * key, and the first enable holds the count at -1 while it patches so that
 * concurrent incs wait for the code before they return.
 *
 * key->enabled is the count; key->initial the value the code was built
 * for; key->patched (under the registry lock) what the code encodes now.
 * A branch site holds a JMP exactly when (enabled) XOR (likely).
 */
#include <errno.h>
#include <string.h>

#include "init.h"
#include "registry.h"
#include "static_key.h"
#include "transaction.h"

/* A site jumps exactly when (enabled) XOR (likely), as in the kernel. */
static int plan_jump(const struct us_jump *j, bool from, bool to,
		     struct us_patch_vec *pv)
{
	/* Skipping the slot is the NOP state, so it is either old or new. */
	struct us_patch p = { .addr = j->code, .len = us_arch_jump_len(),
			      .trapfree_guard = us_arch_jump_guard() };

	if (!US_ARCH_PATCHES_CODE || from == to)
		return 0;
	us_arch_encode_jump(p.old, j->code, j->target, from != j->likely);
	us_arch_encode_jump(p.new, j->code, j->target, to != j->likely);
	return us_patch_vec_push(pv, &p);
}

int us_static_key_plan_object(struct us_object *o, struct us_patch_vec *pv)
{
	for (size_t i = 0; i < o->njumps; i++) {
		const struct us_jump *j = &o->jumps[i];
		int err = plan_jump(j, j->key->initial, j->key->patched, pv);

		if (err)
			return err;
	}
	return 0;
}

int us_static_key_plan_key(struct static_key *key, bool on,
			   struct us_patch_vec *pv)
{
	if (key->patched == on)
		return 0;
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->njumps; i++)
			if (o->jumps[i].key == key) {
				int err = plan_jump(&o->jumps[i], !on, on, pv);
				if (err)
					return err;
			}
	return 0;
}

/* Patches every branch on key to `on`; registry lock held. */
static int key_switch(struct static_key *key, bool on)
{
	struct us_patch_vec pv = { 0 };
	int err = us_static_key_plan_key(key, on, &pv);

	if (!err)
		err = us_engine_apply(pv.v, pv.n);
	if (!err)
		key->patched = on;
	us_patch_vec_free(&pv);
	return err;
}

static int count_of(struct static_key *key)
{
	return __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE);
}

static void set_count(struct static_key *key, int n)
{
	__atomic_store_n(&key->enabled, n, __ATOMIC_RELEASE);
}

/* 0 -> 1 under the lock: -1 meanwhile makes concurrent incs take the lock. */
static int first_enable(struct static_key *key)
{
	int err;

	set_count(key, -1);
	err = key_switch(key, true);
	set_count(key, err ? 0 : 1);
	return err;
}

static bool try_add(struct static_key *key, int delta, int above)
{
	int v = count_of(key);

	while (v > above)
		if (__atomic_compare_exchange_n(&key->enabled, &v, v + delta, true,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return true;
	return false;
}

int static_key_slow_inc(struct static_key *key)
{
	int err = 0;

	us_init();
	if (us_transaction_active())
		return us_transaction_add_key(key, US_KEY_INC);
	if (try_add(key, 1, 0))
		return 0;
	us_registry_lock();
	if (count_of(key) == 0)
		err = first_enable(key);
	else
		__atomic_fetch_add(&key->enabled, 1, __ATOMIC_ACQ_REL);
	us_registry_unlock();
	return err;
}

int static_key_slow_dec(struct static_key *key)
{
	int err = 0;

	us_init();
	if (us_transaction_active())
		return us_transaction_add_key(key, US_KEY_DEC);
	if (try_add(key, -1, 1))
		return 0;
	us_registry_lock();
	if (count_of(key) <= 0)
		err = us_fail(-EINVAL, "static_branch_dec: count already 0");
	else if (count_of(key) > 1)
		__atomic_fetch_sub(&key->enabled, 1, __ATOMIC_ACQ_REL);
	else if (!(err = key_switch(key, false)))
		set_count(key, 0);
	us_registry_unlock();
	return err;
}

int static_key_enable(struct static_key *key)
{
	int err = 0;

	us_init();
	if (us_transaction_active())
		return us_transaction_add_key(key, US_KEY_ENABLE);
	us_registry_lock();
	if (count_of(key) == 0)
		err = first_enable(key);
	us_registry_unlock();
	return err;
}

int static_key_disable(struct static_key *key)
{
	int err = 0;

	us_init();
	if (us_transaction_active())
		return us_transaction_add_key(key, US_KEY_DISABLE);
	us_registry_lock();
	if (count_of(key) > 0) {
		err = key_switch(key, false);
		if (!err)
			set_count(key, 0);
	}
	us_registry_unlock();
	return err;
}

int static_key_count(struct static_key *key)
{
	int n = count_of(key);

	return n >= 0 ? n : 1;
}
