/* SPDX-License-Identifier: MIT */
/*
 * Between ustatic_batch_begin() and the outermost ustatic_batch_commit(),
 * the calling thread's changes are only recorded. Commit takes the
 * registry lock and asks the owners for each change: every key touched is
 * held and its recorded operations replayed in order on its count *at
 * that moment* (so they compose with other threads' incs and decs, like
 * deltas), the last update of each static call wins, and everything goes
 * into one batch: all of it lands, or (on any error) none of it. Nested
 * begins are counted; abort, or the thread's exit, drops what was recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "grow.h"
#include "init.h"
#include "static_call.h"
#include "transaction.h"

struct op {
	struct static_call_key *call;	/* a static-call update, or */
	void *func;
	struct static_key *key;		/* a key change */
	enum us_key_op kop;
};

struct txn {
	int depth;
	int err;			/* a recording failed: commit fails */
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
	if (t || !create)
		return t;
	t = calloc(1, sizeof(*t));
	if (t)
		pthread_setspecific(txn_key, t);
	return t;
}

bool us_transaction_active(void)
{
	struct txn *t = current(false);

	return t && t->depth > 0;
}

/* A change that could not even be recorded makes the whole batch fail:
 * all or nothing. Returns err. */
int us_transaction_failed(int err)
{
	struct txn *t = current(false);

	if (t && t->depth > 0 && !t->err)
		t->err = err;
	return err;
}

static int record(const struct op *o)
{
	struct txn *t = current(false);

	if (us_grow(&t->ops, &t->cap, t->n, sizeof(*t->ops)))
		return us_transaction_failed(us_fail(-ENOMEM,
						     "ustatic_batch: recording"));
	t->ops[t->n++] = *o;
	return 0;
}

int us_transaction_add_call(struct static_call_key *key, void *func)
{
	return record(&(struct op){ .call = key, .func = func });
}

int us_transaction_add_key(struct static_key *key, enum us_key_op op)
{
	return record(&(struct op){ .key = key, .kop = op });
}

int ustatic_batch_begin(void)
{
	struct txn *t;
	int err = us_enter("ustatic_batch_begin");

	if (err)
		return err;
	us_init();
	t = current(true);
	if (t)
		t->depth++;
	else
		err = us_fail(-ENOMEM, "ustatic_batch_begin");
	return us_leave(err);
}

/* Whether op i is the last one for its static call (the one that wins). */
static bool last_for_call(const struct txn *t, size_t i)
{
	for (size_t j = i + 1; j < t->n; j++)
		if (t->ops[j].call == t->ops[i].call)
			return false;
	return t->ops[i].call != NULL;
}

/* The change of key among keys[0..n), or NULL. */
static struct us_key_change *change_of(struct us_key_change *keys, size_t n,
				       const struct static_key *key)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i].key == key)
			return &keys[i];
	return NULL;
}

/*
 * Registry lock held. The operations in the order they were recorded: a
 * key is held when it first appears, each of its operations replayed on it
 * in turn, so the first one that fails is the error of the commit. Then
 * every key's patches go into the batch. calls[] and keys[] live until the
 * batch finishes.
 */
static int queue_all(const struct txn *t, struct us_batch *b,
		     struct us_call_change *calls, struct us_key_change *keys)
{
	size_t nkeys = 0;

	for (size_t i = 0; i < t->n && !b->err; i++) {
		const struct op *o = &t->ops[i];
		struct us_key_change *c;

		if (last_for_call(t, i)) {
			*calls = (struct us_call_change){ .key = o->call,
							  .func = o->func };
			us_static_call_queue(b, calls++);
		} else if (o->key) {
			c = change_of(keys, nkeys, o->key);
			if (!c && us_key_hold(b, c = &keys[nkeys++], o->key))
				break;
			us_key_replay(b, c, o->kop);
		}
	}
	for (size_t k = 0; k < nkeys && !b->err; k++)
		us_key_queue(b, &keys[k]);
	return us_batch_finish(b);
}

static int apply(const struct txn *t)
{
	struct us_batch b = US_BATCH_INIT;
	struct us_call_change *calls = calloc(t->n + 1, sizeof(*calls));
	struct us_key_change *keys = calloc(t->n + 1, sizeof(*keys));
	int err = -ENOMEM;

	if (calls && keys) {
		us_lock(&us_registry_lock);
		err = queue_all(t, &b, calls, keys);
		us_unlock(&us_registry_lock);
	} else {
		us_fail(err, "ustatic_batch_commit");
	}
	free(calls);
	free(keys);
	return err;
}

/* The outermost commit: everything recorded, or the recording's error. */
static int commit(struct txn *t)
{
	int err = t->err;

	if (err)
		us_fail(err, "ustatic_batch_commit: a change could not be "
			"recorded, none is applied");
	else if (t->n)
		err = apply(t);
	t->n = 0;
	t->err = 0;
	return err;
}

int ustatic_batch_commit(void)
{
	struct txn *t;
	int err = us_enter("ustatic_batch_commit");

	if (err)
		return err;
	t = current(false);
	if (!t || t->depth == 0)
		err = us_fail(-EINVAL, "ustatic_batch_commit without begin");
	else if (--t->depth == 0)
		err = commit(t);
	return us_leave_cancelable(err);
}

int ustatic_batch_abort(void)
{
	struct txn *t;
	int err = us_enter("ustatic_batch_abort");

	if (err)
		return err;
	t = current(false);
	if (!t || t->depth == 0) {
		err = us_fail(-EINVAL, "ustatic_batch_abort without begin");
	} else {
		t->depth = 0;
		t->n = 0;
		t->err = 0;
	}
	us_leave(0);		/* not a change: `refused` does not count it */
	return err;
}
