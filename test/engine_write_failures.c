/* SPDX-License-Identifier: MIT */
/*
 * A write that fails at any step of a batch leaves nothing behind: the
 * code holds exactly its old bytes (no guard byte, no half-written
 * instruction) and the batch returns the error; or, when the other way of
 * writing works, the batch completes. For every write index k of a batch
 * of 8 entries in 4 pages two pages apart (so that each phase makes 4
 * writes of 2 entries each: nearby entries share a write), under each
 * writer (mprotect, /proc/self/mem), alone (whole instructions, no
 * guard) and then while a thread runs the code with each guard (int3,
 * trap-free):
 *   - writes k .. k+c-1 fail both ways (c = 1, 2, 3: the undoing itself
 *     meets failures): -EIO, the code is exactly as before;
 *   - the writer's way fails from write k on: the batch completes the
 *     other way.
 * Before the fix a failure in the last phase returned with guards in the
 * code, and a failed restore was ignored.
 * White-box: drives the engine (src/engine.h) and the writer's failure
 * injection (src/writer.h) on hand-made code (test/stubs.h).
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <ustatic.h>

#include "engine.h"
#include "writer.h"
#include "stubs.h"
#include "helpers.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else

#define N 8
#define GROUPS 4		/* entries 2k and 2k + 1 share a page */

/* Entry i's place in stub_many: 260 bytes from its pair, 12 KiB from the
 * next pair, so that no page joins two pairs. Both distances are
 * multiples of 20, so every entry starts an instruction on x86-64
 * (5-byte jumps) and on AArch64 (4-byte branches). */
static uint8_t *entry_at(int i)
{
	return stub_many + (i / 2) * 12300 + (i & 1) * 260;
}

#define SPAN (3 * 12300 + 260 + STUB_LEN)	/* up to entry N - 1's end */

static struct us_patch v[N];
static uint8_t before[SPAN];
static atomic_bool stop;
static atomic_long bad;

/* stub_many's entries jump to the next one; entry i's new form jumps to
 * target_1 (i even) or target_2, so a call returns 0, 1 or 2. */
static void make_batch(bool trap_free)
{
	for (int i = 0; i < N; i++) {
		uint8_t *at = entry_at(i);

		v[i] = (struct us_patch){ .addr = at, .len = STUB_LEN };
		memcpy(v[i].old, at, STUB_LEN);
		stub_jump_insn(v[i].new, at, i & 1 ? target_2 : target_1);
#ifdef __x86_64__
		v[i].trapfree_guard = trap_free ? 0x3d : 0;
#else
		(void)trap_free;
#endif
	}
	memcpy(before, stub_many, SPAN);
}

static void *caller(void *arg)
{
	int (*many)(void) = (int (*)(void))(void *)stub_many;

	(void)arg;
	while (!atomic_load(&stop)) {
		int r = many();

		if (r < 0 || r > 2)
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

/* Every byte of the entries and of the code between them as before. */
static bool untouched(void)
{
	return !memcmp(stub_many, before, SPAN);
}

static bool all_new(void)
{
	for (int i = 0; i < N; i++)
		if (memcmp(v[i].addr, v[i].new, STUB_LEN))
			return false;
	return true;
}

static void back_to_old(void)
{
	struct us_patch w[N];

	for (int i = 0; i < N; i++) {
		w[i] = v[i];
		memcpy(w[i].old, v[i].new, STUB_LEN);
		memcpy(w[i].new, v[i].old, STUB_LEN);
	}
	CHECK_EQ(us_engine_apply(w, N), 0);
	CHECK(untouched());
}

/* Returns how many indexes k hit a write of the batch. */
static int both_ways_fail(unsigned long count)
{
	int hits = 0;

	for (unsigned long k = 1; k < 200; k++) {
		int err;

		us_engine_test_fail_writes(k, count);
		err = us_engine_apply(v, N);
		us_engine_test_fail_writes(0, 0);
		if (err == 0) {		/* k is past the batch's last write */
			CHECK(all_new());
			back_to_old();
			return hits;
		}
		CHECK_EQ(err, -EIO);
		if (!untouched()) {
			fprintf(stderr, "write %lu (+%lu) failed: code changed\n",
				k, count - 1);
			exit(T_EXIT_FAIL);
		}
		hits++;
	}
	CHECK(!"a batch of 8 entries made 200 writes");
	return hits;
}

static void writer_way_fails(void)
{
	for (unsigned long k = 1; k < 60; k++) {
		us_writer_test_fail(k, ULONG_MAX);
		CHECK_EQ(us_engine_apply(v, N), 0);
		us_writer_test_fail(0, 0);
		CHECK(all_new());
		back_to_old();
	}
}

static void run(int method, bool trap_free, bool alone)
{
	int hits;

	if (us_writer_force(method))
		return;			/* this writer cannot work here */
	if (trap_free)
		setenv("USTATIC_TRAPFREE", "1", 1);
	else
		unsetenv("USTATIC_TRAPFREE");
	make_batch(trap_free);
	for (unsigned long c = 1; c <= 3; c++) {
		hits = both_ways_fail(c);
		/* int3: a write per pair for each of the guards, the tails
		 * and the first bytes; alone: a write per pair; AArch64: one
		 * store per entry. */
		CHECK(hits >= (!US_ARCH_USES_GUARDS ? N : alone ? GROUPS :
			       3 * GROUPS));
	}
	if (method == USTATIC_WRITE_MPROTECT ? test_procmem_ok() : true)
		writer_way_fails();
	printf("writer %d, %s: every failing write (of %d) left the code as "
	       "it was\n", method, alone ? "alone" : trap_free ? "trap-free" :
	       "int3", hits);
}

int main(void)
{
	pthread_t th;

	/* No other thread yet: the engine writes whole instructions. */
	run(USTATIC_WRITE_MPROTECT, false, true);
	if (test_procmem_ok())
		run(USTATIC_WRITE_PROCMEM, false, true);
	CHECK_EQ(pthread_create(&th, NULL, caller, NULL), 0);
	run(USTATIC_WRITE_MPROTECT, false, false);
	if (test_procmem_ok())
		run(USTATIC_WRITE_PROCMEM, false, false);
	if (US_ARCH_USES_GUARDS) {
		run(USTATIC_WRITE_MPROTECT, true, false);
		if (test_procmem_ok())
			run(USTATIC_WRITE_PROCMEM, true, false);
	}
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	CHECK_EQ(atomic_load(&bad), 0);
	return 0;
}
#endif
