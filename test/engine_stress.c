/* SPDX-License-Identifier: MIT */
/*
 * Concurrent stress of the engine: worker threads call a trampoline-like
 * `jmp rel32` stub and a `call rel32` site while the main thread retargets
 * both in batches, under each writer x sync method (one child process each).
 * Every result is checked against the targets valid during the call:
 * those committed before it started up to those pending when it ended.
 *
 * White-box: drives the engine (src/engine.h) on hand-made code
 * (test/stubs.h) and forces each writer and sync method (src/writer.h,
 * src/sync.h), which the public API chooses by itself.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "sync.h"
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

#define WORKERS 2

static unsigned long done_seq, pending_seq;	/* target of seq s: s % 4 */
static bool stop;
static unsigned long wrong, calls;

static void *worker(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int a = stub_jmp(), b = stub_call();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		bad += !test_in_window(a, d0, p1) + !test_in_window(b, d0, p1);
		n += 2;
	}
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
	return NULL;
}

static int run(int wm, int sm, long max_batches, double max_secs)
{
	pthread_t th[WORKERS];
	struct us_patch p[2];
	unsigned long s = 0;
	double t0 = t_now();

	CHECK_EQ(us_writer_force(wm), 0);
	CHECK_EQ(us_sync_force(sm), 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	while ((long)s < max_batches && t_now() - t0 < max_secs) {
		int from = s % 4, to = (s + 1) % 4;

		p[0] = (struct us_patch){ .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };
		stub_jump_insn(p[0].old, p[0].addr, stub_targets[from]);
		stub_jump_insn(p[0].new, p[0].addr, stub_targets[to]);
		p[1] = (struct us_patch){ .addr = stub_call_site, .len = STUB_LEN };
		stub_call_insn(p[1].old, p[1].addr, stub_targets[from]);
		stub_call_insn(p[1].new, p[1].addr, stub_targets[to]);
		__atomic_store_n(&pending_seq, s + 1, __ATOMIC_SEQ_CST);
		CHECK_EQ(us_engine_apply(p, 2), 0);
		__atomic_store_n(&done_seq, ++s, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	struct ustatic_stats st;
	ustatic_get_stats(&st);
	printf("writer %d sync %d: %lu batches (%lu retargets) in %.1fs, "
	       "%lu calls checked, %lu wrong, %lu traps emulated, %lu late\n",
	       wm, sm, s, 2 * s, t_now() - t0, calls, wrong, st.traps,
	       st.late_traps);
	CHECK_EQ(wrong, 0);
	CHECK(calls > 0);
	return 0;
}

/* One child process per configuration: { writer, sync method }. */
static int run_config(void *cfg)
{
	const int *c = cfg;

	return run(c[0], c[1], test_scale(200000), 4.0);
}

int main(void)
{
	static const int cfg[4][2] = {
		{ USTATIC_WRITE_MPROTECT, USTATIC_SYNC_MEMBARRIER },
		{ USTATIC_WRITE_PROCMEM, USTATIC_SYNC_MEMBARRIER },
		{ USTATIC_WRITE_MPROTECT, USTATIC_SYNC_SIGNAL },
		{ USTATIC_WRITE_PROCMEM, USTATIC_SYNC_SIGNAL },
	};
	int ret = T_EXIT_PASS;

	for (int i = 0; i < 4; i++) {
		if ((cfg[i][0] == USTATIC_WRITE_PROCMEM && !test_procmem_ok()) ||
		    (cfg[i][1] == USTATIC_SYNC_SIGNAL && !test_signal_sync_ok()))
			continue;
		int status = t_fork_run(run_config, (void *)cfg[i], 0);

		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "config %d failed (status 0x%x)\n", i, status);
			ret = T_EXIT_FAIL;
		}
	}
	return ret;
}
#endif
