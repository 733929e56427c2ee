/* SPDX-License-Identifier: MIT */
/*
 * ustatic_batch_begin/commit: 50 static calls and 50 keys, with thousands
 * of sites in all, change in one batch that costs the same number of sync
 * rounds as a single update. Also: nesting, the same key twice, abort, an
 * all-or-nothing failure, and a thread that exits with an open batch.
 */
#include <pthread.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int one(int x) { return x + 1; }
static int two(int x) { return x + 2; }

#define R5(x) x x x x x
#define R20(x) R5(x) R5(x) R5(x) R5(x)
#define FOR50(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) \
	M(10) M(11) M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) \
	M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) \
	M(30) M(31) M(32) M(33) M(34) M(35) M(36) M(37) M(38) M(39) \
	M(40) M(41) M(42) M(43) M(44) M(45) M(46) M(47) M(48) M(49)

/* Per index i: a static call sc_i, a key k_i, and a function with 20 call
 * sites and 20 branches on them (sum over sites, so none is merged away). */
#define DEFINE_ONE(i)							\
	DEFINE_STATIC_CALL(sc_##i, one);				\
	DEFINE_STATIC_KEY_FALSE(k_##i);					\
	static __attribute__((noinline)) int use_##i(int x)		\
	{								\
		int s = 0;						\
		R20(s += static_call(sc_##i)(x + s);			\
		    if (static_branch_unlikely(&k_##i)) s += 1000;)	\
		return s;						\
	}
FOR50(DEFINE_ONE)

#define USE_ONE(i) use_##i,
static int (*const uses[50])(int) = { FOR50(USE_ONE) };
#define UPDATE_ONE(i) CHECK_EQ(static_call_update(sc_##i, two), 0); \
	CHECK_EQ(static_branch_enable(&k_##i), 0);

/* With every call going to f and every key at `on`, what use_i(0) gives. */
static int expected(int (*f)(int), int on)
{
	int s = 0;

	for (int j = 0; j < 20; j++) {
		s += f(s);
		if (on)
			s += 1000;
	}
	return s;
}

static void *abandon(void *arg)
{
	(void)arg;
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(sc_0, two), 0);
	return NULL;		/* exits with the batch open: dropped */
}

int main(void)
{
	struct ustatic_stats a, b, c;
	pthread_t th;

	for (int i = 0; i < 50; i++)
		CHECK_EQ(uses[i](0), expected(one, 0));
	/* One plain update: its number of sync rounds is the yardstick. */
	ustatic_get_stats(&a);
	CHECK_EQ(static_call_update(sc_0, two), 0);
	ustatic_get_stats(&b);
	CHECK_EQ(static_call_update(sc_0, one), 0);
	unsigned long single = b.sync_rounds - a.sync_rounds;

	/* Nested begin: only the outer commit applies. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(ustatic_batch_begin(), 0);
	FOR50(UPDATE_ONE)
	CHECK_EQ(static_call_update(sc_7, one), 0);	/* same key twice: last wins */
	CHECK_EQ(static_call_update(sc_7, two), 0);
	CHECK_EQ(ustatic_batch_commit(), 0);
	CHECK_EQ(uses[3](0), expected(one, 0));		/* nothing applied yet */
	ustatic_get_stats(&a);
	CHECK_EQ(ustatic_batch_commit(), 0);
	ustatic_get_stats(&c);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(uses[i](0), expected(two, 1));
	printf("sites %lu, jump entries %lu; one update: %lu sync rounds, "
	       "transaction of 50 calls + 50 keys: %lu sync rounds, %lu patches\n",
	       c.call_sites, c.jump_entries, single, c.sync_rounds - a.sync_rounds,
	       c.patches - a.patches);
	if (T_PATCHES_CODE) {
		CHECK(c.call_sites >= 50 * 15);
		CHECK_EQ(c.batches - a.batches, 1);
		CHECK(single > 0);
	}
	CHECK_EQ(c.sync_rounds - a.sync_rounds, single);

	/* Abort drops everything. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(sc_1, one), 0);
	CHECK_EQ(static_branch_disable(&k_1), 0);
	CHECK_EQ(ustatic_batch_abort(), 0);
	CHECK_EQ(uses[1](0), expected(two, 1));
	CHECK_EQ(ustatic_batch_commit(), -EINVAL);	/* no batch open */

	/* All or nothing: a dec below zero fails the whole batch. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(sc_2, one), 0);
	CHECK_EQ(static_branch_disable(&k_2), 0);
	CHECK_EQ(static_branch_dec(&k_2), 0);		/* queued: 0 - 1 */
	CHECK_EQ(ustatic_batch_commit(), -EINVAL);
	CHECK_EQ(uses[2](0), expected(two, 1));
	CHECK(static_call_query(sc_2) == two);
	CHECK_EQ(static_key_count(&k_2.key), 1);

	/* A thread that exits inside a batch leaves nothing behind. */
	pthread_create(&th, NULL, abandon, NULL);
	pthread_join(th, NULL);
	CHECK(static_call_query(sc_0) == two);
	CHECK_EQ(static_call_update(sc_0, one), 0);
	CHECK_EQ(uses[0](0), expected(one, 1));
	return T_EXIT_PASS;
}
