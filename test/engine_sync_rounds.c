/* A batch costs the same number of cross-core serializations (3) whether
 * it holds 1, 100 or 10,000 entries; the kernel's rule. */
#include <ustatic.h>

#include "engine.h"
#include "stubs.h"
#include "test.h"

static unsigned long rounds_for(size_t n, int to)
{
	struct us_patch *v = calloc(n, sizeof(*v));
	struct ustatic_stats a, b;

	for (size_t i = 0; i < n; i++) {
		uint8_t *at = stub_many + 5 * i;

		v[i] = (struct us_patch){ .addr = at, .len = 5 };
		memcpy(v[i].old, at, 5);
		stub_encode(v[i].new, 0xe9, at, stub_targets[to]);
	}
	ustatic_get_stats(&a);
	CHECK_EQ(us_engine_apply(v, n), 0);
	ustatic_get_stats(&b);
	for (size_t i = 0; i < n; i++)
		CHECK(!memcmp(stub_many + 5 * i, v[i].new, 5));
	free(v);
	CHECK_EQ(b.batches - a.batches, 1);
	return b.sync_rounds - a.sync_rounds;
}

int main(void)
{
	unsigned long r1 = rounds_for(1, 1), r100 = rounds_for(100, 2),
		      r10k = rounds_for(10000, 3);

	printf("sync rounds: 1 entry %lu, 100 entries %lu, 10000 entries %lu\n",
	       r1, r100, r10k);
	CHECK_EQ(r1, 3);
	CHECK_EQ(r100, 3);
	CHECK_EQ(r10k, 3);
	return 0;
}
