/* The kernel's static-call self-test table, NULL, RET0, cond and query. */
#include <ustatic.h>
#include "test.h"

static int func_a(int x) { return x + 1; }
static int func_b(int x) { return x + 2; }
static long ret7(void) { return 7; }
static int hits;
static void bump(int by) { hits += by; }

DEFINE_STATIC_CALL(sc_selftest, func_a);
DEFINE_STATIC_CALL_NULL(sc_void, bump);
DEFINE_STATIC_CALL_RET0(sc_ret0, ret7);

static __attribute__((noinline)) int call_selftest(int v)
{
	return static_call(sc_selftest)(v);
}

static __attribute__((noinline)) void call_void(int v)
{
	static_call_cond(sc_void)(v);
}

static __attribute__((noinline)) long call_ret0(void)
{
	return static_call(sc_ret0)();
}

int main(void)
{
	static const struct { int (*func)(int); int val, expect; } table[] = {
		{ NULL, 2, 3 }, { func_b, 2, 4 }, { func_a, 2, 3 },
	};

	for (unsigned i = 0; i < 3; i++) {
		if (table[i].func)
			CHECK_EQ(static_call_update(sc_selftest, table[i].func), 0);
		CHECK_EQ(call_selftest(table[i].val), table[i].expect);
		CHECK(static_call_query(sc_selftest) == (table[i].func ? table[i].func : func_a));
	}
	/* NULL: cond calls do nothing; query says NULL. */
	CHECK(static_call_query(sc_void) == NULL);
	call_void(5);
	CHECK_EQ(hits, 0);
	CHECK_EQ(static_call_update(sc_void, bump), 0);
	call_void(5);
	CHECK_EQ(hits, 5);
	CHECK(static_call_query(sc_void) == bump);
	CHECK_EQ(static_call_update(sc_void, NULL), 0);
	call_void(5);
	CHECK_EQ(hits, 5);
	CHECK(static_call_query(sc_void) == NULL);
	/* RET0 */
	CHECK_EQ(call_ret0(), 0);
	CHECK_EQ(static_call_update(sc_ret0, ret7), 0);
	CHECK_EQ(call_ret0(), 7);
	CHECK_EQ(static_call_update(sc_ret0, (void *)__static_call_return0), 0);
	CHECK_EQ(call_ret0(), 0);
	CHECK(static_call_query(sc_ret0) == (void *)__static_call_return0);
	/* Updating to the current target is a no-op. */
	struct ustatic_stats a, b;
	ustatic_get_stats(&a);
	CHECK_EQ(static_call_update(sc_ret0, (void *)__static_call_return0), 0);
	ustatic_get_stats(&b);
	CHECK_EQ(a.batches, b.batches);
	printf("sites %lu markers-without-site %lu tramps %lu batches %lu\n",
	       b.call_sites, b.call_markers, b.trampolines, b.batches);
	return 0;
}
