/* SPDX-License-Identifier: MIT */
/*
 * Transactions compose with other threads' key changes: their incs and
 * decs are applied at commit, under the lock, to the count the key has
 * then. Thread A loops over transactions that take and drop references
 * (begin; inc; inc; dec; commit -> holds one; check; begin; dec; commit),
 * thread B and C do the same with plain inc/dec. Every call returns 0,
 * every holder sees the branch on, and the count ends at 0. Before the
 * fix, commit stored a count computed before it took the lock: counts
 * came out wrong and decs failed. Also: a failing operation makes the
 * whole commit change nothing. Black box: public header.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <ustatic.h>

#include "test.h"

DEFINE_STATIC_KEY_FALSE(k);
DEFINE_STATIC_KEY_TRUE(other);

static atomic_bool stop;
static atomic_long errors, held_off, rounds;

static __attribute__((noinline)) int branch_on(void)
{
	return static_branch_unlikely(&k) ? 1 : 0;
}

static void expect0(int r)
{
	if (r)
		atomic_fetch_add(&errors, 1);
}

static void *txn_worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		expect0(ustatic_batch_begin());
		expect0(static_branch_inc(&k));
		expect0(static_branch_inc(&k));
		expect0(static_branch_dec(&k));
		expect0(ustatic_batch_commit());
		if (!branch_on() || static_key_count(&k.key) < 1)
			atomic_fetch_add(&held_off, 1);
		expect0(ustatic_batch_begin());
		expect0(static_branch_dec(&k));
		expect0(ustatic_batch_commit());
		atomic_fetch_add(&rounds, 1);
	}
	return NULL;
}

static void *plain_worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		expect0(static_branch_inc(&k));
		if (!branch_on())
			atomic_fetch_add(&held_off, 1);
		expect0(static_branch_dec(&k));
	}
	return NULL;
}

/* A commit whose last operation fails changes nothing at all. */
static void test_all_or_nothing(void)
{
	int before = static_key_count(&other.key);

	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_branch_inc(&k), 0);
	CHECK_EQ(static_branch_disable(&other), 0);
	CHECK_EQ(static_branch_dec(&k), 0);
	CHECK_EQ(static_branch_dec(&k), 0);	/* below zero at commit */
	CHECK_EQ(ustatic_batch_commit(), -EINVAL);
	CHECK_EQ(static_key_count(&k.key), 0);
	CHECK_EQ(static_key_count(&other.key), before);
	CHECK_EQ(branch_on(), 0);
	CHECK(static_branch_likely(&other));
}

int main(void)
{
	pthread_t t[3];
	struct timespec d = { .tv_sec = test_scale(20) >= 10 ? 3 : 1 };

	test_all_or_nothing();
	CHECK_EQ(pthread_create(&t[0], NULL, txn_worker, NULL), 0);
	CHECK_EQ(pthread_create(&t[1], NULL, plain_worker, NULL), 0);
	CHECK_EQ(pthread_create(&t[2], NULL, plain_worker, NULL), 0);
	nanosleep(&d, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("%ld transaction rounds: %ld errors, %ld holders saw it off, "
	       "final count %d\n", atomic_load(&rounds), atomic_load(&errors),
	       atomic_load(&held_off), static_key_count(&k.key));
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(atomic_load(&held_off), 0);
	CHECK_EQ(static_key_count(&k.key), 0);
	CHECK_EQ(branch_on(), 0);
	test_all_or_nothing();
	return 0;
}
