/* SPDX-License-Identifier: MIT */
/* A batch costs the same number of cross-core serializations whether it
 * holds 1, 100 or 10,000 entries: 3 on x86-64 (the kernel's rule) while
 * another thread exists, 1 with none (whole instructions, no guard), 1 on
 * AArch64.
 * White-box: hands the engine (src/engine.h) batches of any size on the
 * hand-made code of test/stubs.h; public updates cannot choose one. */
#include <pthread.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "sync.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else
/* x86-64: guard, tails, first bytes; AArch64: single-store swaps. */
#define ROUNDS (US_ARCH_USES_GUARDS ? 3 : 1)


static unsigned long rounds_for(size_t n, int to)
{
	struct us_patch *v = calloc(n, sizeof(*v));
	struct ustatic_stats a, b;

	for (size_t i = 0; i < n; i++) {
		uint8_t *at = stub_many + STUB_LEN * i;

		v[i] = (struct us_patch){ .addr = at, .len = STUB_LEN };
		memcpy(v[i].old, at, STUB_LEN);
		stub_jump_insn(v[i].new, at, stub_targets[to]);
	}
	ustatic_get_stats(&a);
	CHECK_EQ(us_engine_apply(v, n), 0);
	ustatic_get_stats(&b);
	for (size_t i = 0; i < n; i++)
		CHECK(!memcmp(stub_many + STUB_LEN * i, v[i].new, STUB_LEN));
	free(v);
	CHECK_EQ(b.batches - a.batches, 1);
	return b.sync_rounds - a.sync_rounds;
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void check_rounds(const char *when, unsigned long expect)
{
	unsigned long r1 = rounds_for(1, 1), r100 = rounds_for(100, 2),
		      r10k = rounds_for(10000, 3);

	printf("sync rounds %s: 1 entry %lu, 100 entries %lu, 10000 entries "
	       "%lu\n", when, r1, r100, r10k);
	CHECK_EQ(r1, expect);
	CHECK_EQ(r100, expect);
	CHECK_EQ(r10k, expect);
}

int main(void)
{
	pthread_t th;

	check_rounds("alone", us_alone() ? 1 : ROUNDS);
	CHECK_EQ(pthread_create(&th, NULL, idle, NULL), 0);
	check_rounds("beside a thread", ROUNDS);
	return T_EXIT_PASS;
}
#endif
