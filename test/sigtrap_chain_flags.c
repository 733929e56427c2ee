/* SPDX-License-Identifier: MIT */
/*
 * A SIGTRAP that is not ours reaches the handler the program installed
 * before the library exactly as the kernel would have delivered it: with
 * that handler's sa_mask (here SIGUSR1) blocked while it runs, and, for
 * SA_RESETHAND, once: the next SIGTRAP takes the default action (the
 * process dies of it). Before, the mask was not applied and the handler
 * ran again. Each step runs in a child. Found by the adversarial review
 * (hostchain). Black box.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static volatile sig_atomic_t calls, usr1_blocked;

static void on_trap(int sig)
{
	sigset_t now;

	(void)sig;
	calls++;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	usr1_blocked = sigismember(&now, SIGUSR1);
}

/* Installed before the library's own constructor runs. */
__attribute__((constructor(101))) static void early(void)
{
	struct sigaction sa = { .sa_handler = on_trap,
				.sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGTRAP, &sa, NULL);
}

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(cf_sc, f0);

static int twice(void *arg)
{
	(void)arg;
	CHECK_EQ(static_call_update(cf_sc, f1), 0);	/* the library is in use */
	CHECK_EQ(raise(SIGTRAP), 0);
	CHECK_EQ(calls, 1);
	CHECK_EQ(usr1_blocked, 1);
	raise(SIGTRAP);					/* SIG_DFL now: dies */
	return 3;
}

static void *nothing(void *arg)
{
	return arg;
}

/* The library installs its handler (after ours) with its first batch that
 * places an int3, which needs another thread to have existed (alone, code
 * is written whole): one that ends at once, then an update and back. */
static void first_int3_batch(void)
{
	pthread_t th;

	CHECK_EQ(pthread_create(&th, NULL, nothing, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(static_call_update(cf_sc, f1), 0);
	CHECK_EQ(static_call_update(cf_sc, f0), 0);
}

int main(void)
{
	struct sigaction now;
	int st;

	first_int3_batch();
	CHECK_EQ(sigaction(SIGTRAP, NULL, &now), 0);
	if (!(now.sa_flags & SA_SIGINFO))
		SKIP("the library's handler was not installed after ours");
	st = t_fork_run(twice, NULL, 30);
	if (WIFEXITED(st))
		fprintf(stderr, "child exited %d\n", WEXITSTATUS(st));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);
	return 0;
}
