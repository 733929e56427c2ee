/* SPDX-License-Identifier: MIT */
/*
 * Between ustatic_batch_begin() and the outermost ustatic_batch_commit(),
 * the calling thread's changes are only recorded. Commit replays them in
 * order on a copy of the key values, then applies the difference as one
 * batch: all of it, or (on any error) none of it. Nested begins are
 * counted; abort, or the thread's exit, drops what was recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "init.h"
#include "registry.h"
#include "static_call.h"
#include "static_key.h"
#include "transaction.h"

struct op {
	struct static_call_key *call;	/* a static-call update, or */
	void *func;
	struct static_key *key;		/* a key change */
	enum us_key_op kop;
};

struct txn {
	int depth;
	struct op *ops;
	size_t n, cap;
};

static pthread_key_t txn_key;
static pthread_once_t txn_once = PTHREAD_ONCE_INIT;

static void drop_txn(void *p)
{
	struct txn *t = p;

	free(t->ops);
	free(t);
}

static void make_key(void)
{
	pthread_key_create(&txn_key, drop_txn);
}

static struct txn *current(bool create)
{
	struct txn *t;

	pthread_once(&txn_once, make_key);
	t = pthread_getspecific(txn_key);
	if (!t && create && (t = calloc(1, sizeof(*t))))
		pthread_setspecific(txn_key, t);
	return t;
}

bool us_transaction_active(void)
{
	struct txn *t = current(false);

	return t && t->depth > 0;
}

static int record(const struct op *o)
{
	struct txn *t = current(false);

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct op *v = realloc(t->ops, cap * sizeof(*v));

		if (!v)
			return us_fail(-ENOMEM, "ustatic_batch: recording");
		t->ops = v;
		t->cap = cap;
	}
	t->ops[t->n++] = *o;
	return 0;
}

int us_transaction_add_call(struct static_call_key *key, void *func)
{
	return record(&(struct op){ .call = key, .func = func });
}

int us_transaction_add_key(struct static_key *key, enum us_key_op op)
{
	if (!key)
		return us_fail(-EINVAL, "ustatic_batch: NULL key");
	return record(&(struct op){ .key = key, .kop = op });
}

int ustatic_batch_begin(void)
{
	struct txn *t;

	us_init();
	t = current(true);
	if (!t)
		return us_fail(-ENOMEM, "ustatic_batch_begin");
	t->depth++;
	return 0;
}

/* The final count of op->key after replaying every op on it, or -EINVAL. */
static int replay_key(const struct txn *t, struct static_key *key)
{
	int n = __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE);

	for (size_t i = 0; i < t->n; i++) {
		if (t->ops[i].key != key)
			continue;
		switch (t->ops[i].kop) {
		case US_KEY_INC: n++; break;
		case US_KEY_ENABLE: if (n == 0) n = 1; break;
		case US_KEY_DISABLE: n = 0; break;
		case US_KEY_DEC:
			if (n <= 0)
				return us_fail(-EINVAL, "ustatic_batch: "
					       "static_branch_dec below zero");
			n--;
		}
	}
	return n;
}

/* The last function recorded for op i's key, if op i is that last one. */
static bool last_for_call(const struct txn *t, size_t i)
{
	for (size_t j = i + 1; j < t->n; j++)
		if (t->ops[j].call == t->ops[i].call)
			return false;
	return t->ops[i].call != NULL;
}

static bool last_for_key(const struct txn *t, size_t i)
{
	for (size_t j = i + 1; j < t->n; j++)
		if (t->ops[j].key == t->ops[i].key)
			return false;
	return t->ops[i].key != NULL;
}

/* Registry lock held. count[i] is op i's key's final count. */
static int plan(const struct txn *t, bool sites, int *count,
		struct us_patch_vec *pv)
{
	int err = 0;

	for (size_t i = 0; !err && i < t->n; i++) {
		if (last_for_call(t, i)) {
			err = us_static_call_plan_key(t->ops[i].call,
						      t->ops[i].func, sites, pv);
		} else if (last_for_key(t, i)) {
			count[i] = replay_key(t, t->ops[i].key);
			err = count[i] < 0 ? count[i] :
			      us_static_key_plan_key(t->ops[i].key, count[i] > 0, pv);
		}
	}
	return err;
}

static void commit(const struct txn *t, bool sites, const int *count)
{
	for (size_t i = 0; i < t->n; i++) {
		if (last_for_call(t, i)) {
			us_static_call_commit_key(t->ops[i].call, t->ops[i].func,
						  sites);
		} else if (last_for_key(t, i)) {
			t->ops[i].key->patched = count[i] > 0;
			__atomic_store_n(&t->ops[i].key->enabled, count[i],
					 __ATOMIC_RELEASE);
		}
	}
}

static int try_apply(const struct txn *t, bool sites, int *count)
{
	struct us_patch_vec pv = { 0 };
	int err = plan(t, sites, count, &pv);

	if (!err)
		err = us_engine_apply(pv.v, pv.n);
	if (!err)
		commit(t, sites, count);
	us_patch_vec_free(&pv);
	return err;
}

static int apply(struct txn *t)
{
	int *count = calloc(t->n + 1, sizeof(*count));
	int err;

	if (!count)
		return us_fail(-ENOMEM, "ustatic_batch_commit");
	us_registry_lock();
	err = try_apply(t, true, count);
	/* No int3 now: inline sites stay on (or go back to) trampolines. */
	if (err == -EDEADLK)
		err = try_apply(t, false, count);
	us_registry_unlock();
	free(count);
	return err;
}

int ustatic_batch_commit(void)
{
	struct txn *t = current(false);
	int err;

	if (!t || t->depth == 0)
		return us_fail(-EINVAL, "ustatic_batch_commit without begin");
	if (--t->depth > 0)
		return 0;
	err = apply(t);
	t->n = 0;
	return err;
}

int ustatic_batch_abort(void)
{
	struct txn *t = current(false);

	if (!t || t->depth == 0)
		return us_fail(-EINVAL, "ustatic_batch_abort without begin");
	t->depth = 0;
	t->n = 0;
	return 0;
}
