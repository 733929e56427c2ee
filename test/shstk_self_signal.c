/* SPDX-License-Identifier: MIT */
/*
 * Under a shadow stack the SIGTRAP handler cannot emulate a CALL: a thread
 * that hits the int3 of a call site being patched waits for the patch to
 * land. A signal handler on the updating thread itself that runs such a
 * site would wait for itself forever. The main thread retargets a static
 * call with an inline CALL site while an interval timer's SIGALRM handler,
 * on that same thread, calls the site (and checks the result); a watchdog
 * fails the test if updates stop. Shadow stacks are forced with
 * USTATIC_FORCE_SHSTK=1 (re-executing itself). Black box, x86-64.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
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

static atomic_long progress, handler_calls, bad;

static __attribute__((noinline)) int call_sc(void)
{
	int r = static_call(sc)();

	__asm__ __volatile__("" : "+r"(r));	/* a call, not a tail jump */
	return r;
}

static void on_alarm(int sig)
{
	int r = call_sc();

	(void)sig;
	if (r != 0 && r != 1)
		atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&handler_calls, 1);
}

static void *watchdog(void *arg)
{
	long last = -1;

	(void)arg;
	for (;;) {
		sleep(5);
		if (atomic_load(&progress) == last) {
			fprintf(stderr, "updates stopped for 5 s: the updating "
				"thread waits for itself\n");
			_exit(1);
		}
		last = atomic_load(&progress);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	sigset_t alrm;
	pthread_t w;
	long n = test_scale(20000);

	(void)argc;
	if (!getenv("USTATIC_FORCE_SHSTK")) {
		setenv("USTATIC_FORCE_SHSTK", "1", 1);
		execv("/proc/self/exe", argv);
		CHECK(!"re-exec");
	}
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	CHECK_EQ(pthread_create(&w, NULL, watchdog, NULL), 0);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	for (long i = 0; i < n; i++) {
		CHECK_EQ(static_call_update(sc, i & 1 ? f0 : f1), 0);
		CHECK_EQ(call_sc(), i & 1 ? 0 : 1);
		atomic_fetch_add(&progress, 1);
	}
	it = (struct itimerval){ { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	printf("%ld updates, %ld calls from the handler on the updating "
	       "thread, %ld bad\n", n, atomic_load(&handler_calls),
	       atomic_load(&bad));
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK(atomic_load(&handler_calls) > 0);
	return 0;
}
#endif
