/* SPDX-License-Identifier: MIT */
/*
 * SIGTRAPs sent to threads (pthread_kill) while they run into the
 * library's int3 guards. The kernel queues one SIGTRAP per thread at most:
 * an int3 executed while a sent one is pending shows only the sent one, and
 * a handler that took it for just that resumed the thread one byte into
 * the guarded instruction (SIGSEGV or SIGILL). Both must be handled: ours
 * emulated, the sent one passed to the program's handler, which was
 * installed before the library's. Every call result is checked; the test
 * fails on a crash. Found by the adversarial review (trapkill). Black box.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#if !defined(USTATIC_ARCH_X86_64)
int main(void)
{
	SKIP("the int3 protocol is x86-64's");
}
#else

static atomic_long program_traps, bad;
static atomic_bool stop;

static void on_trap(int sig)
{
	(void)sig;
	atomic_fetch_add(&program_traps, 1);
}

/* Before the library's own constructor: ours is then "the previous". */
__attribute__((constructor(101))) static void early(void)
{
	signal(SIGTRAP, on_trap);
}

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(ss_sc, f0);

static __attribute__((noinline)) int call_ss(void)
{
	int r = static_call(ss_sc)();

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

static void *worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		if (call_ss() > 1)
			atomic_fetch_add(&bad, 1);
	return NULL;
}

/* -EDEADLK is right at times: a thread inside the program's handler has
 * SIGTRAP blocked (signal() does not set SA_NODEFER), so an update that
 * needs int3 then is refused. */
static void *updater(void *arg)
{
	(void)arg;
	for (long i = 0; !atomic_load(&stop); i++) {
		int err = static_call_update(ss_sc, i & 1 ? f0 : f1);

		if (err && err != -EDEADLK)
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

static int run(void *arg)
{
	pthread_t w[2], u;
	double end = t_now() + (test_scale(20) >= 10 ? 2 : 1);
	long sent = 0;
	struct ustatic_stats st;

	(void)arg;
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&w[i], NULL, worker, NULL), 0);
	CHECK_EQ(pthread_create(&u, NULL, updater, NULL), 0);
	while (t_now() < end) {
		pthread_kill(w[sent & 1], SIGTRAP);
		if ((++sent & 15) == 0)
			usleep(50);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	pthread_join(u, NULL);
	ustatic_get_stats(&st);
	printf("%ld SIGTRAPs sent, %ld reached the program's handler, %lu int3s "
	       "emulated, %ld bad\n", sent, atomic_load(&program_traps),
	       st.traps, atomic_load(&bad));
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK(atomic_load(&program_traps) > 0);
	return 0;
}

static void *wait_stop(void *arg)
{
	while (!atomic_load(&stop))
		usleep(1000);
	return arg;
}

/* The library installs its handler (after ours) with its first batch that
 * places an int3, which needs another thread (alone, code is written
 * whole): an update and back while one waits. */
static void first_int3_batch(void)
{
	pthread_t th;

	CHECK_EQ(pthread_create(&th, NULL, wait_stop, NULL), 0);
	CHECK_EQ(static_call_update(ss_sc, f1), 0);
	CHECK_EQ(static_call_update(ss_sc, f0), 0);
	atomic_store(&stop, true);
	CHECK_EQ(pthread_join(th, NULL), 0);
	atomic_store(&stop, false);
}

int main(void)
{
	struct sigaction now;

	first_int3_batch();
	CHECK_EQ(sigaction(SIGTRAP, NULL, &now), 0);
	if (!(now.sa_flags & SA_SIGINFO))
		SKIP("the library's handler was not installed after ours");
	for (int i = 0; i < 3; i++) {
		int st = t_fork_run(run, NULL, 60);

		if (WIFSIGNALED(st))
			fprintf(stderr, "killed by signal %d\n", WTERMSIG(st));
		CHECK_EQ(st, 0);
	}
	return 0;
}
#endif
