/* SPDX-License-Identifier: MIT */
/* The kernel's static-call self-test table, NULL, RET0, cond and query. */
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(sc_selftest, t_fa);
DEFINE_STATIC_CALL_NULL(sc_void, t_bump);
DEFINE_STATIC_CALL_RET0(sc_ret0, t_ret7);

T_CALLER(call_selftest, sc_selftest)
T_COND_CALLER(call_void, sc_void)
T_RET0_CALLER(call_ret0, sc_ret0)

int main(void)
{
	static const struct { int (*func)(int); int val, expect; } table[] = {
		{ NULL, 2, 3 }, { t_fb, 2, 4 }, { t_fa, 2, 3 },
	};

	for (unsigned i = 0; i < 3; i++) {
		if (table[i].func)
			CHECK_EQ(static_call_update(sc_selftest, table[i].func), 0);
		CHECK_EQ(call_selftest(table[i].val), table[i].expect);
		CHECK(static_call_query(sc_selftest) == (table[i].func ? table[i].func : t_fa));
	}
	/* NULL: cond calls do nothing; query says NULL. */
	CHECK(static_call_query(sc_void) == NULL);
	call_void(5);
	CHECK_EQ(t_hits, 0);
	CHECK_EQ(static_call_update(sc_void, t_bump), 0);
	call_void(5);
	CHECK_EQ(t_hits, 5);
	CHECK(static_call_query(sc_void) == t_bump);
	CHECK_EQ(static_call_update(sc_void, NULL), 0);
	call_void(5);
	CHECK_EQ(t_hits, 5);
	CHECK(static_call_query(sc_void) == NULL);
	/* RET0 */
	CHECK_EQ(call_ret0(), 0);
	CHECK_EQ(static_call_update(sc_ret0, t_ret7), 0);
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
	return T_EXIT_PASS;
}
