/* SPDX-License-Identifier: MIT */
/*
 * An update or key change called from a signal handler that interrupted
 * an update on the same thread returns -EDEADLK (or works, when the
 * interrupted update held no lock at that moment); it never hangs. The
 * main thread updates a static call and flips a key in a loop while an
 * interval timer sends it SIGALRM every 200 us; the handler updates the
 * same static call and the same key. A watchdog thread fails the test if
 * the main loop stops making progress (before the fix: a deadlock on the
 * library's own lock). Black box: public header.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>
#include <ustatic.h>

#include "test.h"

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(sc, f0);
DEFINE_STATIC_KEY_FALSE(key);

static atomic_long progress, in_handler_ok, in_handler_deadlk, bad;

static __attribute__((noinline)) int call_sc(void)
{
	return static_call(sc)();
}

static void count(int r)
{
	if (r == 0)
		atomic_fetch_add(&in_handler_ok, 1);
	else if (r == -EDEADLK)
		atomic_fetch_add(&in_handler_deadlk, 1);
	else
		atomic_fetch_add(&bad, 1);
}

static void on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	count(static_call_update(sc, f1));
	count(static_branch_enable(&key));
	count(static_branch_disable(&key));
	if (call_sc() != 0 && call_sc() != 1)
		atomic_fetch_add(&bad, 1);
	errno = saved;
}

static void *watchdog(void *arg)
{
	long last = -1;

	(void)arg;
	for (;;) {
		sleep(5);
		long now = atomic_load(&progress);
		if (now == last) {
			fprintf(stderr, "no progress for 5 s: deadlock\n");
			_exit(1);
		}
		last = now;
	}
	return NULL;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	sigset_t alrm;
	pthread_t w;
	long n = test_scale(20000);

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	/* The watchdog never takes the alarm: only the updater does. */
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	CHECK_EQ(pthread_create(&w, NULL, watchdog, NULL), 0);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	sa.sa_flags = SA_RESTART;
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	for (long i = 0; i < n; i++) {
		int r1 = static_call_update(sc, i & 1 ? f1 : f0);
		int r2 = i & 1 ? static_branch_enable(&key) : static_branch_disable(&key);

		/* The handler cannot interrupt our own locked section into a
		 * failure of ours: our calls always succeed. */
		CHECK_EQ(r1, 0);
		CHECK_EQ(r2, 0);
		atomic_fetch_add(&progress, 1);
	}
	it = (struct itimerval){ { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &it, NULL);
	printf("%ld updates; from the handler: %ld worked, %ld -EDEADLK, %ld bad\n",
	       n, atomic_load(&in_handler_ok), atomic_load(&in_handler_deadlk),
	       atomic_load(&bad));
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK(atomic_load(&in_handler_ok) + atomic_load(&in_handler_deadlk) > 0);
	return 0;
}
