/* SPDX-License-Identifier: MIT */
/*
 * When every way of writing code is refused in the middle of a batch (a
 * sandbox that denies pwrite to /proc/self/mem under W^X, say), the guards
 * already placed cannot be taken back. They must not kill the program: the
 * trap handler runs them as their old instructions for good, and a later
 * batch on such a site is refused (-EBUSY) rather than trusted. Here every
 * write from the second on fails, both ways; a thread and the main thread
 * then call through the stuck guard. Before the fix the guard was taken
 * for a foreign breakpoint: the process died of SIGTRAP.
 * White-box: drives the engine's failure injection (src/engine.h) on
 * hand-made code (test/stubs.h). x86-64 (int3 guards).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <ustatic.h>

#include "engine.h"
#include "stubs.h"
#include "helpers.h"
#include "test.h"

#if !HAVE_STUBS || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("int3 guards (x86-64) only");
}
#else

static atomic_bool stop, failed;
static atomic_long bad, calls;

/* While the batch runs a call may reach the old or the new target (it
 * failed after its first sync); once it has returned, only the old. */
static void *caller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		bool after = atomic_load(&failed);
		int r = stub_jmp();

		if (r != 0 && (after || r != 1))
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&calls, 1);
	}
	return NULL;
}

static int child(void *arg)
{
	struct us_patch p = { .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };
	struct ustatic_stats a, b;
	pthread_t th;

	(void)arg;
	stub_jump_insn(p.old, p.addr, target_0);
	stub_jump_insn(p.new, p.addr, target_1);
	CHECK_EQ(pthread_create(&th, NULL, caller, NULL), 0);
	us_engine_test_fail_writes(2, 1000000);	/* the guard goes in, then nothing */
	CHECK_EQ(us_engine_apply(&p, 1), -EIO);
	atomic_store(&failed, true);
	us_engine_test_fail_writes(0, 0);
	CHECK_EQ(p.addr[0], 0xcc);		/* stuck */
	CHECK_EQ(ustatic_get_stats(&a), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(stub_jmp(), 0);	/* the old jump, emulated */
	CHECK_EQ(ustatic_get_stats(&b), 0);
	CHECK(b.traps - a.traps >= 1000);
	CHECK_EQ(us_engine_apply(&p, 1), -EBUSY);
	usleep(100000);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	printf("stuck guard: %ld calls from a thread, %lu traps emulated, 0 wrong\n",
	       atomic_load(&calls), b.traps - a.traps);
	CHECK_EQ(atomic_load(&bad), 0);
	return 0;
}

int main(void)
{
	int st = t_fork_run(child, NULL, 60);

	if (WIFSIGNALED(st))
		fprintf(stderr, "child killed by signal %d\n", WTERMSIG(st));
	CHECK_EQ(st, 0);
	return 0;
}
#endif
