/* SPDX-License-Identifier: MIT */
/*
 * Counting keys never lose an increment (kernel/jump_label.c's rule).
 * Three threads loop: static_branch_inc(&k); while they hold that
 * increment the branch must be on and static_key_count() >= 1; then
 * static_branch_dec(&k) must return 0. Each 0 <-> 1 crossing patches code,
 * racing the other threads' lock-free incs and decs: before the fix a dec
 * patched the branch off while another thread's inc had already returned.
 * At the end the count is 0 and the branch off. Black box: public header.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <ustatic.h>

#include "test.h"

#define THREADS 3

DEFINE_STATIC_KEY_FALSE(k);

static atomic_bool stop;
static atomic_long held_off, bad_count, dec_errors, rounds;

static __attribute__((noinline)) int branch_on(void)
{
	return static_branch_unlikely(&k) ? 1 : 0;
}

static void *worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		CHECK_EQ(static_branch_inc(&k), 0);
		if (!branch_on())
			atomic_fetch_add(&held_off, 1);
		if (static_key_count(&k.key) < 1 || !static_key_enabled(&k))
			atomic_fetch_add(&bad_count, 1);
		if (static_branch_dec(&k))
			atomic_fetch_add(&dec_errors, 1);
		atomic_fetch_add(&rounds, 1);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	struct timespec d = { .tv_sec = 0, .tv_nsec = 0 };

	d.tv_sec = test_scale(20) >= 10 ? 3 : 1;
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, worker, NULL), 0);
	nanosleep(&d, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("%ld rounds: branch off while held %ld, count < 1 while held "
	       "%ld, dec errors %ld\n", atomic_load(&rounds),
	       atomic_load(&held_off), atomic_load(&bad_count),
	       atomic_load(&dec_errors));
	CHECK_EQ(atomic_load(&held_off), 0);
	CHECK_EQ(atomic_load(&bad_count), 0);
	CHECK_EQ(atomic_load(&dec_errors), 0);
	CHECK_EQ(static_key_count(&k.key), 0);
	CHECK_EQ(branch_on(), 0);
	/* The kernel's switch rules: disable acts on a count of 1 only. */
	CHECK_EQ(static_branch_inc(&k), 0);
	CHECK_EQ(static_branch_inc(&k), 0);
	CHECK_EQ(static_branch_disable(&k), -EBUSY);
	CHECK_EQ(static_key_count(&k.key), 2);
	CHECK_EQ(branch_on(), 1);
	CHECK_EQ(static_branch_dec(&k), 0);
	CHECK_EQ(static_branch_disable(&k), 0);
	CHECK_EQ(static_key_count(&k.key), 0);
	CHECK_EQ(branch_on(), 0);
	CHECK_EQ(static_branch_dec(&k), -EINVAL);
	CHECK_EQ(static_branch_enable(&k), 0);
	CHECK_EQ(static_branch_enable(&k), 0);
	CHECK_EQ(static_key_count(&k.key), 1);
	CHECK_EQ(branch_on(), 1);
	return 0;
}
