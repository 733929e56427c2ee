/* SPDX-License-Identifier: MIT */
/*
 * The public entry points that change code: static-call updates, key
 * changes, and object arrival and departure. Each takes the registry lock,
 * asks the owners (static_call.c, static_key.c) to queue their changes
 * into one batch, and finishes it. Transactions record instead.
 */
#include <errno.h>
#include <string.h>

#include "dyndbg_core.h"
#include "init.h"
#include "sites.h"
#include "static_call.h"
#include "transaction.h"

/* One line naming what was refused: the static call or key by name. */
static void log_refusal(const char *who, const void *key, int err)
{
	char name[128];

	if (us_debug)
		us_log("%s(%s) refused: %s", who,
		       us_symbol(key, name, sizeof(name)), strerror(-err));
}

/* Registry lock held: records the update, or applies it as one batch. */
static int call_update(struct static_call_key *key, void *func)
{
	struct us_batch b = US_BATCH_INIT;
	struct us_call_change c = { .key = key, .func = func };

	if (func && !us_is_code(func)) {
		us_log("static_call_update: target %p is not in executable "
		       "memory", func);
		return us_transaction_failed(us_fail(-EINVAL,
			"static_call_update: bad target"));
	}
	if (us_transaction_active())
		return us_transaction_add_call(key, func);
	/* Already its target: every trampoline and site of the key says so
	 * (a batch settles all or nothing), so nothing is written, and no
	 * condition that refuses writes (masks, tracer, W^X) refuses this.
	 * key->func is stored under the registry lock we hold. */
	if ((func ? func : (void *)ustatic_call_nop) ==
	    __atomic_load_n(&key->func, __ATOMIC_RELAXED))
		return 0;
	us_static_call_queue(&b, &c);
	return us_batch_finish(&b);
}

int ustatic_call_update(struct static_call_key *key, void *func)
{
	int err = us_enter("static_call_update");

	if (err)
		return err;
	us_init();
	if (!key) {
		err = us_fail(-EINVAL, "static_call_update: NULL key");
	} else {
		us_lock(&us_registry_lock);
		err = call_update(key, func);
		us_unlock(&us_registry_lock);
	}
	if (err)
		log_refusal("static_call_update", key, err);
	return us_leave_cancelable(err);
}

/* The slow path: hold the key, replay op, patch, settle. */
static int key_slow(struct static_key *key, enum us_key_op op)
{
	struct us_batch b = US_BATCH_INIT;
	struct us_key_change c;
	int err;

	us_lock(&us_registry_lock);
	if (!us_key_hold(&b, &c, key) && !us_key_replay(&b, &c, op))
		us_key_queue(&b, &c);
	err = us_batch_finish(&b);
	us_unlock(&us_registry_lock);
	return err;
}

static int key_change(struct static_key *key, enum us_key_op op,
		      const char *who)
{
	int err = us_enter(who);

	if (err)
		return err;
	us_init();
	if (!key)
		err = us_fail(-EINVAL, "static key: NULL key");
	else if (us_transaction_active())
		err = us_transaction_add_key(key, op);
	else if (!us_key_fast(key, op))
		err = key_slow(key, op);
	if (err)
		log_refusal(who, key, err);
	return us_leave_cancelable(err);
}

int ustatic_key_slow_inc(struct static_key *key)
{
	return key_change(key, US_KEY_INC, "static_branch_inc");
}

int ustatic_key_slow_dec(struct static_key *key)
{
	return key_change(key, US_KEY_DEC, "static_branch_dec");
}

int ustatic_key_enable(struct static_key *key)
{
	return key_change(key, US_KEY_ENABLE, "static_branch_enable");
}

int ustatic_key_disable(struct static_key *key)
{
	return key_change(key, US_KEY_DISABLE, "static_branch_disable");
}

int ustatic_key_count(struct static_key *key)
{
	return key ? us_key_count(key) : 0;
}

/*
 * Brings a new object's code in line with every key's current value, so
 * it runs the current targets from its first call. When int3 cannot be
 * used, inline call sites stay on their trampolines, which switch
 * trap-free. On failure the object keeps its code as built: its static
 * calls run through the trampolines' indirect form (always right), its
 * branches keep their build values.
 */
static void align_object(struct us_object *o)
{
	struct us_batch b = US_BATCH_INIT;
	struct us_call_change c = { .obj = o };
	struct us_dyndbg_plan *plan;
	int err;

	/* First: it may apply USTATIC_DYNDBG, in a batch of its own, before
	 * anything is queued here. */
	plan = us_dyndbg_queue_object(&b, o);
	us_static_call_queue(&b, &c);
	us_key_queue_object(&b, o);
	err = us_batch_finish(&b);
	us_dyndbg_settle(plan, err);
	if (err)
		us_log("registry: object %p could not be brought in line with "
		       "its keys (%d): its static calls run through their "
		       "trampolines' indirect form, its static branches keep "
		       "their initial values", o->id, err);
}

/* An object built with a 0.2 header: no names, no debug sites. */
void ustatic_object_register(const struct ustatic_object_tables *t)
{
	struct ustatic_object_tables2 t2 = { .base = *t };

	ustatic_object_register2(&t2);
}

void ustatic_object_register2(const struct ustatic_object_tables2 *t2)
{
	const struct ustatic_object_tables *t = &t2->base;
	struct us_object *o;
	int err;

	if (us_enter("object registration"))
		return;
	us_init();
	us_lock(&us_registry_lock);
	o = us_registry_read(t2, &err);
	if (o)
		err = us_sites_discover(o, t->sites_start, t->sites_stop);
	if (o && err) {
		us_registry_discard(o);
		o = NULL;
	}
	if (o) {
		us_registry_publish(o);
		align_object(o);
	} else if (err) {
		us_log("registry: out of memory registering object %p", t->id);
	}
	us_unlock(&us_registry_lock);
	us_leave(0);
}

void ustatic_object_unregister(const struct ustatic_object_tables *t)
{
	if (us_enter("object unregistration"))
		return;
	us_lock(&us_registry_lock);
	us_registry_remove(t);
	us_unlock(&us_registry_lock);
	us_leave(0);
}
