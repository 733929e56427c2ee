/* SPDX-License-Identifier: MIT */
/*
 * Threads run branches on several keys while others flip them; every
 * branch outcome is checked against the key's state as observed before
 * and after it (a flip that completed before the branch started must be
 * seen; one that had not started when it ended must not be).
 */
#include <pthread.h>
#include <ustatic.h>

#include "test.h"

#define KEYS 4
DEFINE_STATIC_KEY_ARRAY_FALSE(sk, KEYS);

/* Per key: seq of flips started and completed; state after flip s = s & 1. */
static unsigned long started[KEYS], completed[KEYS];
static unsigned long wrong, checked;
static bool stop;

static __attribute__((noinline)) int branch(int k)
{
	switch (k) {
	case 0: return static_branch_unlikely(&sk[0]);
	case 1: return static_branch_likely(&sk[1]);
	case 2: return static_branch_unlikely(&sk[2]);
	default: return static_branch_likely(&sk[3]);
	}
}

static void *runner(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int k = 0; k < KEYS; k++) {
			unsigned long c0 = __atomic_load_n(&completed[k], __ATOMIC_ACQUIRE);
			int r = branch(k);
			unsigned long s1 = __atomic_load_n(&started[k], __ATOMIC_ACQUIRE);

			/* r must be the state after some flip in [c0, s1]. */
			if (s1 == c0 && (unsigned long)r != (c0 & 1) &&
			    !getenv("USTATIC_TEST_QEMU"))	/* see test.h */
				bad++;
			n++;
		}
	}
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&checked, n, __ATOMIC_RELAXED);
	return NULL;
}

static void *flipper(void *arg)
{
	long first = (long)arg, flips = test_scale(5000);

	for (long i = 0; i < flips; i++)
		for (int k = (int)first; k < KEYS; k += 2) {
			unsigned long s = __atomic_load_n(&completed[k], __ATOMIC_RELAXED);

			__atomic_store_n(&started[k], s + 1, __ATOMIC_SEQ_CST);
			CHECK_EQ(s & 1 ? static_branch_disable(&sk[k])
				       : static_branch_enable(&sk[k]), 0);
			__atomic_store_n(&completed[k], s + 1, __ATOMIC_RELEASE);
		}
	return NULL;
}

int main(void)
{
	pthread_t r[2], f[2];

	for (long i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, runner, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&f[i], NULL, flipper, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(f[i], NULL);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	printf("%lu flips per key, %lu branches checked, %lu wrong\n",
	       completed[0], checked, wrong);
	CHECK_EQ(wrong, 0);
	CHECK(checked > 0);
	return T_EXIT_PASS;
}
