/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: the program runs under valgrind (memcheck).
 *
 * Valgrind runs translations of our code: after a patch it keeps executing
 * the old translation unless told (VALGRIND_DISCARD_TRANSLATIONS after every
 * write); it delivers our int3s as SIGTRAP to the guest handler and honours
 * the RIP we set there. The test re-executes itself as
 *   valgrind --error-exitcode=99 -q <this executable> --child
 * with USTATIC_TEST_SCALE=20, where a thread calls a static call (inline
 * call site) and a static branch while the main thread retargets the call
 * and flips the key; every result is checked (the main thread's own call
 * right after each update must see the new target at once), and memcheck
 * must report no error. A second run uses USTATIC_SYNC=signal, which makes
 * the worker run into armed int3s (with membarrier it practically never
 * does under valgrind, which runs one thread at a time) and requires that
 * it did. Skips when valgrind is not installed.
 *
 * Valgrind delivers an int3 as SIGTRAP with si_code TRAP_BRKPT (its
 * VG_(synth_sigtrap)), not SI_KERNEL as the kernel does: a handler that
 * only looks at SI_KERNEL traps takes ours for foreign ones and the process
 * dies of SIGTRAP (run 2 fails so at a10dbae).
 *
 * Convinced it can fail: with a private copy of the library built without
 * <valgrind/valgrind.h> (no DISCARD_TRANSLATIONS), the main thread's first
 * call after an update still reaches the old target and the child fails;
 * run 2 fails whenever the trap path is broken under valgrind (above).
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#if !T_USES_GUARDS
int main(void)
{
	SKIP("x86-64 int3 engine only (traps and translations under valgrind)");
}
#else

DEFINE_STATIC_CALL(vg_sc, t_ret0);
DEFINE_STATIC_KEY_FALSE(vg_key);

T_CALL_SITE_VOID(call_sc, vg_sc)
T_BRANCH(branch, static_branch_unlikely, &vg_key)

/* Sequence number s: the call targets g(s % 4), the key is (s & 1). */
static unsigned long done_seq, pending_seq;
static bool stop;
static unsigned long wrong, calls, running;

static bool valid(int r, int b, unsigned long d0, unsigned long p1)
{
	bool call_ok = false, key_ok = false;

	for (unsigned long s = d0; s <= p1 && s < d0 + 4; s++) {
		call_ok |= (int)(s % 4) == r;
		key_ok |= (int)(s & 1) == b;
	}
	return call_ok && key_ok;
}

static void *worker(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int r = call_sc(), b = branch();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		bad += !valid(r, b, d0, p1);
		if (++n == 100)
			__atomic_store_n(&running, 1, __ATOMIC_RELEASE);
		/* Valgrind runs one thread at a time: the updater gets the
		 * CPU back often, or the worker spends its whole time slice
		 * meeting the int3s of a batch the updater cannot finish
		 * (tens of thousands of traps a batch: minutes a run). */
		if (n % 16 == 0)
			sched_yield();
	}
	wrong = bad;
	calls = n;
	return NULL;
}

static int child(bool need_traps)
{
	struct ustatic_stats st;
	pthread_t th;
	long rounds = test_scale(4000);

	/* Single-threaded first: stale translations would show here. */
	for (unsigned long s = 1; s <= 8; s++) {
		CHECK_EQ(static_call_update(vg_sc, t_ret[s % 4]), 0);
		CHECK_EQ(call_sc(), (int)(s % 4));
		CHECK_EQ(T_BRANCH_SET(&vg_key, s & 1), 0);
		CHECK_EQ(branch(), (int)(s & 1));
	}
	CHECK_EQ(static_call_update(vg_sc, t_ret0), 0);

	CHECK_EQ(pthread_create(&th, NULL, worker, NULL), 0);
	while (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
		sched_yield();
	for (unsigned long s = 1; s <= (unsigned long)rounds; s++) {
		__atomic_store_n(&pending_seq, s, __ATOMIC_RELEASE);
		CHECK_EQ(static_call_update(vg_sc, t_ret[s % 4]), 0);
		CHECK_EQ(call_sc(), (int)(s % 4));
		CHECK_EQ(T_BRANCH_SET(&vg_key, s & 1), 0);
		CHECK_EQ(branch(), (int)(s & 1));
		__atomic_store_n(&done_seq, s, __ATOMIC_RELEASE);
		if (s % 16 == 0)
			sched_yield();	/* valgrind runs one thread at a time */
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	CHECK_EQ(ustatic_get_stats(&st), 0);
	printf("child: %ld rounds, %lu worker calls, %lu wrong, %lu batches, "
	       "%lu traps, %lu late traps, write %d sync %d\n", rounds, calls,
	       wrong, st.batches, st.traps, st.late_traps, st.write_method,
	       st.sync_method);
	CHECK_EQ(wrong, 0);
	if (need_traps && st.traps + st.late_traps == 0) {
		fprintf(stderr, "the worker never met an int3: trap path not "
			"tested\n");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/* Runs `valgrind ... self --child [traps]` with scale and sync method. */
static int run_valgrind(const char *self, const char *scale, const char *sync)
{
	char env_scale[64], env_sync[64];
	const char *env[] = { env_scale, sync ? env_sync : NULL, NULL };
	const char *argv[8] = { "valgrind", "--error-exitcode=99", "-q" };
	int status, argc = 3;

	/* valgrind finds the allocator by the soname of libc ("libc.so*");
	 * musl's libc.so has none, which valgrind calls NONE. Without it
	 * memcheck sees musl's malloc() but its own free(). */
	if (T_LIBC_MUSL)
		argv[argc++] = "--soname-synonyms=somalloc=NONE";
	argv[argc++] = self;
	argv[argc++] = "--child";
	if (sync)
		argv[argc++] = "traps";

	snprintf(env_scale, sizeof(env_scale), "USTATIC_TEST_SCALE=%s", scale);
	if (sync)
		snprintf(env_sync, sizeof(env_sync), "USTATIC_SYNC=%s", sync);
	status = t_run(env, argv);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "under valgrind (sync %s): %s %d\n",
			sync ? sync : "auto", WIFEXITED(status) ? "exit" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char self[4096];

	if (argc >= 2 && !strcmp(argv[1], "--child"))
		return child(argc >= 3 && !strcmp(argv[2], "traps"));
	if (system("valgrind --version >/dev/null 2>&1") != 0)
		SKIP("valgrind is not installed");
	test_self_path(self, sizeof(self));
	/* 1. As asked: default methods, USTATIC_TEST_SCALE=20. Valgrind runs
	 *    one thread at a time, so the worker rarely meets an int3 here. */
	if (run_valgrind(self, "20", NULL))
		return T_EXIT_FAIL;
	/* 2. Signal sync: the main thread waits for the worker's ack while
	 *    the int3s are armed, so the worker runs into them: the trap path
	 *    under valgrind (fewer rounds: every trap is slow there). */
	if (run_valgrind(self, "80", "signal"))
		return T_EXIT_FAIL;
	return T_EXIT_PASS;
}
#endif
