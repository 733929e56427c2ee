/* SPDX-License-Identifier: MIT */
/*
 * A signal handler that siglongjmps out of the SIGTRAP handler must not
 * wedge later updates. A worker calls a static call's inline CALL site in
 * a loop while the main thread retargets it; a second thread sends the
 * worker SIGUSR1 every 50 us and the worker's SIGUSR1 handler siglongjmps
 * back to its loop, from wherever it was, inside the library's SIGTRAP
 * handler included. The test runs under a forced shadow stack
 * (USTATIC_FORCE_SHSTK=1, re-executing itself), where the SIGTRAP handler
 * cannot emulate a CALL and yields inside itself until the patch lands:
 * many SIGUSR1s arrive there. Updates must all return 0 and keep coming:
 * before the fix the updater waited forever for the abandoned handler to
 * "leave" (a watchdog turns that into a failure). Black box, x86-64.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <ucontext.h>
#include <ustatic.h>

#include "test.h"

#if !defined(USTATIC_ARCH_X86_64)
int main(void)
{
	SKIP("the int3 protocol is x86-64's");
}
#else

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(sc, f0);

static sigjmp_buf jb;
static pthread_t worker_thread;
static atomic_bool stop, ready;
static atomic_long progress, jumps, deep_jumps, bad;
static uintptr_t loop_sp;

static __attribute__((noinline)) int call_sc(void)
{
	int r = static_call(sc)();

	__asm__ __volatile__("" : "+r"(r));	/* a call, not a tail jump */
	return r;
}

/* Interrupted far below the loop's frame: inside a signal frame, i.e.
 * inside the SIGTRAP handler (the loop itself calls one tiny function). */
static void on_usr1(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig, (void)si;
	atomic_fetch_add(&jumps, 1);
	if ((uintptr_t)uc->uc_mcontext.gregs[REG_RSP] + 1024 < loop_sp)
		atomic_fetch_add(&deep_jumps, 1);
	siglongjmp(jb, 1);
}

static void *worker(void *arg)
{
	volatile uintptr_t here = 0;

	(void)arg;
	loop_sp = (uintptr_t)&here;
	sigsetjmp(jb, 1);
	atomic_store(&ready, true);
	while (!atomic_load(&stop)) {
		int r = call_sc();

		if (r != 0 && r != 1)
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

static void *pester(void *arg)
{
	struct timespec d = { 0, 50000 };

	(void)arg;
	while (!atomic_load(&ready))
		sched_yield();
	while (!atomic_load(&stop)) {
		pthread_kill(worker_thread, SIGUSR1);
		nanosleep(&d, NULL);
	}
	return NULL;
}

static void *watchdog(void *arg)
{
	long last = -1;

	(void)arg;
	for (;;) {
		sleep(5);
		if (atomic_load(&progress) == last) {
			fprintf(stderr, "updates stopped for 5 s: wedged\n");
			_exit(1);
		}
		last = atomic_load(&progress);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO };
	pthread_t p, w;
	struct timespec t0, t;
	long n = 0;

	(void)argc;
	if (!getenv("USTATIC_FORCE_SHSTK")) {
		setenv("USTATIC_FORCE_SHSTK", "1", 1);
		execv("/proc/self/exe", argv);
		CHECK(!"re-exec");
	}
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK_EQ(pthread_create(&w, NULL, watchdog, NULL), 0);
	CHECK_EQ(pthread_create(&worker_thread, NULL, worker, NULL), 0);
	CHECK_EQ(pthread_create(&p, NULL, pester, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		CHECK_EQ(static_call_update(sc, n & 1 ? f0 : f1), 0);
		atomic_fetch_add(&progress, 1);
		clock_gettime(CLOCK_MONOTONIC, &t);
		n++;
	} while (t.tv_sec - t0.tv_sec < (test_scale(20) >= 10 ? 3 : 1));
	atomic_store(&stop, true);
	pthread_join(p, NULL);
	pthread_join(worker_thread, NULL);
	/* And updates still work afterwards. */
	for (int i = 0; i < 100; i++)
		CHECK_EQ(static_call_update(sc, i & 1 ? f0 : f1), 0);
	printf("%ld updates, %ld siglongjmps, %ld from inside a signal frame, "
	       "%ld bad results\n", n, atomic_load(&jumps),
	       atomic_load(&deep_jumps), atomic_load(&bad));
	CHECK_EQ(atomic_load(&bad), 0);
	if (atomic_load(&deep_jumps) == 0)
		SKIP("no SIGUSR1 landed inside the SIGTRAP handler");
	return 0;
}
#endif
