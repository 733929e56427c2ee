/* SPDX-License-Identifier: MIT */
/*
 * Static keys with the kernel's counting rules (kernel/jump_label.c).
 *
 * key->enabled is the count. The lock-free fast paths only ever move it
 * between values >= 1: inc from v >= 1 to v + 1, dec from v >= 2 to v - 1.
 * Every change that may cross zero (inc from 0, dec from 1, enable,
 * disable, anything in a transaction) takes the registry lock and first
 * holds the key:
 *  - a count >= 1 gets US_KEY_HELD added, so the fast paths fail on it and
 *    queue on the lock too, while readers still see the count
 *    (static_key_count() masks the bit; the generic build's branches test
 *    > 0, which a held positive count still is);
 *  - a count of 0 needs nothing: no fast path ever moves 0.
 * The change is then replayed on the held count, the code is patched for
 * the result in the caller's batch, and only when the batch has landed is
 * the new count stored, with release: a fast path that sees a count >= 1
 * (acquire) sees the code it implies. If the batch fails, the old count is
 * put back, and nothing changed.
 *
 * So an inc that returns 0 has its branch on and can never be lost: a
 * concurrent 1 -> 0 dec holds the key, the inc fails its fast path, waits
 * for the lock and then finds 0 and patches the code back on. This is the
 * kernel's protocol with one change: the kernel marks a 0 -> 1 transition
 * with -1 and stores 0 before patching a 1 -> 0 one; holding instead makes
 * a transaction over many keys, with other threads' incs and decs racing
 * it, one step.
 *
 * key->initial is the value the code was built for; key->patched what the
 * code encodes now (registry lock). A branch site holds a JMP exactly when
 * (enabled) XOR (likely).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "static_key.h"

#define US_KEY_HELD	(1 << 30)
#define US_KEY_MAX	(US_KEY_HELD - 1)

static int load_count(struct static_key *key)
{
	/* Pairs with the release store in settle_key(). */
	return __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE);
}

/* Moves v to v + delta while v stays within [lo, hi]. */
static bool try_move(struct static_key *key, int delta, int lo, int hi)
{
	int v = load_count(key);

	while (v >= lo && v <= hi)
		if (__atomic_compare_exchange_n(&key->enabled, &v, v + delta,
						true, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	return false;
}

bool us_key_fast(struct static_key *key, enum us_key_op op)
{
	switch (op) {
	case US_KEY_INC:
		return try_move(key, 1, 1, US_KEY_MAX - 1);
	case US_KEY_DEC:
		return try_move(key, -1, 2, US_KEY_MAX);
	case US_KEY_ENABLE:
		/* Already on (held or not): nothing to do, as in the kernel. */
		return load_count(key) > 0;
	case US_KEY_DISABLE:
		return load_count(key) == 0;
	case US_KEY_COUNT:
		return true;
	}
	return false;
}

int us_key_count(struct static_key *key)
{
	return load_count(key) & ~US_KEY_HELD;
}

static void settle_key(void *state, int err)
{
	struct us_key_change *c = state;

	us_assert_held(&us_registry_lock);
	if (!err)
		c->key->patched = c->to > 0;
	__atomic_store_n(&c->key->enabled, err ? c->from : c->to,
			 __ATOMIC_RELEASE);
}

int us_key_hold(struct us_batch *b, struct us_key_change *c,
		struct static_key *key)
{
	int v;

	us_assert_held(&us_registry_lock);
	if (!key)
		return us_batch_fail(b, us_fail(-EINVAL, "static key: NULL key"));
	*c = (struct us_key_change){ .key = key };
	if (us_batch_on_settle(b, settle_key, c))
		return b->err;
	/* Until settle_key() runs, only this thread changes the count. */
	v = load_count(key);
	while (v > 0 && !__atomic_compare_exchange_n(&key->enabled, &v,
						     v | US_KEY_HELD, true,
						     __ATOMIC_ACQ_REL,
						     __ATOMIC_ACQUIRE))
		;
	c->from = c->to = v;
	return 0;
}

int us_key_replay(struct us_batch *b, struct us_key_change *c,
		  enum us_key_op op)
{
	switch (op) {
	case US_KEY_INC:
		if (c->to == US_KEY_MAX)
			return us_batch_fail(b, us_fail(-EOVERFLOW,
				"static_branch_inc: count at its maximum"));
		c->to++;
		break;
	case US_KEY_DEC:
		if (c->to == 0)
			return us_batch_fail(b, us_fail(-EINVAL,
				"static_branch_dec: count already 0"));
		c->to--;
		break;
	case US_KEY_ENABLE:
		if (c->to == 0)
			c->to = 1;
		break;
	case US_KEY_DISABLE:
		/* The kernel only disables a count of exactly 1. */
		if (c->to > 1)
			return us_batch_fail(b, us_fail(-EBUSY,
				"static_branch_disable: the key is held by "
				"static_branch_inc users"));
		c->to = 0;
		break;
	case US_KEY_COUNT:
		break;
	}
	return 0;
}

/* A site jumps exactly when (enabled) XOR (likely), as in the kernel. */
static void queue_jump(struct us_batch *b, const struct us_jump *j, bool from,
		       bool to)
{
	/* Skipping the slot is the NOP state, so it is either old or new. */
	struct us_patch p = { .addr = j->code, .len = us_arch_jump_len(),
			      .trapfree_guard = us_arch_jump_guard() };

	if (!US_ARCH_PATCHES_CODE || from == to)
		return;
	us_arch_encode_jump(p.old, j->code, j->target, from != j->likely);
	us_arch_encode_jump(p.new, j->code, j->target, to != j->likely);
	us_batch_add(b, &p);
}

void us_key_queue(struct us_batch *b, struct us_key_change *c)
{
	bool on = c->to > 0, was = c->key->patched;

	us_assert_held(&us_registry_lock);
	if (on == was)
		return;
	us_for_each_object(o)
		for (size_t i = 0; i < o->njumps; i++)
			if (o->jumps[i].key == c->key)
				queue_jump(b, &o->jumps[i], was, on);
}

void us_key_queue_object(struct us_batch *b, struct us_object *o)
{
	us_assert_held(&us_registry_lock);
	for (size_t i = 0; i < o->njumps; i++) {
		const struct us_jump *j = &o->jumps[i];

		queue_jump(b, j, j->key->initial, j->key->patched);
	}
}

static int cmp_change(const void *a, const void *b)
{
	const struct us_key_change *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * us_key_queue() for many keys at once (a dynamic-debug query switching
 * 10,000 sites): one pass over every jump entry, each key looked up in
 * the changes, instead of one pass per key. c[0..n) is sorted by key
 * address (the caller held the keys in that order: sorting here would
 * move the changes their settle callbacks point at).
 */
void us_key_queue_many(struct us_batch *b, struct us_key_change *c, size_t n)
{
	us_assert_held(&us_registry_lock);
	if (!n)
		return;
	us_for_each_object(o)
		for (size_t i = 0; i < o->njumps; i++) {
			struct us_key_change k = { .key = o->jumps[i].key };
			struct us_key_change *m = bsearch(&k, c, n, sizeof(*c),
							  cmp_change);
			bool on, was;

			if (!m)
				continue;
			on = m->to > 0;
			was = m->key->patched;
			if (on != was)
				queue_jump(b, &o->jumps[i], was, on);
		}
}
