/* SPDX-License-Identifier: MIT */
/*
 * A "SIGTRAP is blocked" verdict outlives neither its thread nor 100 ms.
 *
 * With the static archive (no wrappers: this test) every batch that needs
 * an int3 reads the threads' masks, and a "blocked" verdict is kept
 * 100 ms for the same number of threads, so that a thread blocking for
 * good does not cost a scan per batch. The number can stay the same while
 * the blocking thread exits and another starts: the verdict must go with
 * its thread. Here: thread B blocks every signal, an update that needs an
 * int3 is refused (-EDEADLK); B exits and C (blocking nothing) starts, so
 * the count is back; the very next update must succeed.
 *
 * Convinced it can fail: with blocker_gone() reverted (src/sigmask.c at
 * 3622b2f) the last update fails -EDEADLK: the verdict kept its 100 ms.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(bg_sc, t_fa);
T_CALL_SITE(call_bg, bg_sc)

static volatile bool b_blocked, b_exit, idle_stop;

static void *blocker(void *arg)
{
	sigset_t all;

	sigfillset(&all);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
	b_blocked = true;
	while (!b_exit)
		usleep(1000);
	return arg;
}

static void *idle(void *arg)
{
	while (!idle_stop)
		usleep(1000);
	return arg;
}

int main(void)
{
	pthread_t a, b, c;

	if (!T_PATCHES_CODE || !T_USES_GUARDS)
		SKIP("int3 guards (x86-64 builds) only");
	/* Threaded from here on, and the site pointed straight at t_fb by
	 * an int3 batch: leaving it needs an int3 again. */
	CHECK_EQ(pthread_create(&a, NULL, idle, NULL), 0);
	CHECK_EQ(static_call_update(bg_sc, t_fb), 0);
	CHECK_EQ(call_bg(10), 12);

	CHECK_EQ(pthread_create(&b, NULL, blocker, NULL), 0);
	while (!b_blocked)
		usleep(100);
	CHECK_EQ(static_call_update(bg_sc, t_fa), -EDEADLK);
	CHECK_EQ(call_bg(10), 12);

	b_exit = true;
	CHECK_EQ(pthread_join(b, NULL), 0);
	CHECK_EQ(pthread_create(&c, NULL, idle, NULL), 0);
	CHECK_EQ(static_call_update(bg_sc, t_fa), 0);
	CHECK_EQ(call_bg(10), 11);

	idle_stop = true;
	CHECK_EQ(pthread_join(a, NULL), 0);
	CHECK_EQ(pthread_join(c, NULL), 0);
	return 0;
}
