/* SPDX-License-Identifier: MIT */
/*
 * The most common server idiom: main blocks every signal (sigfillset +
 * pthread_sigmask) before it starts its workers, which inherit that mask,
 * and one thread takes signals with sigwait(). Updates must keep working:
 * every static_call_update succeeds, every call lands in a valid target,
 * nobody dies, and the signal the sigwait thread waits for still arrives.
 * Black-box; links libustatic.so, whose signal-function wrappers keep
 * SIGTRAP unblockable (src/interpose.c). Also run with the wrappers'
 * filter off (USTATIC_SIGTRAP_BLOCKABLE=1): then updates must fail cleanly
 * (-EDEADLK: an inline site cannot move without int3) or succeed, and
 * still nothing dies.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#define WORKERS 2
#define UPDATES 2000

DEFINE_STATIC_CALL(sc_server, t_ret0);
T_CALL_SITE_VOID(site, sc_server)

static unsigned long done_seq, pending_seq, wrong, calls;
static bool stop;
static volatile bool got_usr1;

static void *worker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int r = site();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		if (!test_in_window(r, d0, p1))
			__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *signal_taker(void *arg)
{
	sigset_t set;
	int sig = 0;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (!sigwait(&set, &sig) && sig == SIGUSR1)
		got_usr1 = true;
	return NULL;
}

static int run(bool filtered)
{
	pthread_t w[WORKERS], taker;
	sigset_t all, now;
	int ok = 0, deadlk = 0, other = 0;

	sigfillset(&all);
	CHECK(!pthread_sigmask(SIG_BLOCK, &all, NULL));
	CHECK(!pthread_sigmask(SIG_SETMASK, NULL, &now));
	/* The filter: SIGTRAP stays open, everything else is blocked. */
	CHECK(sigismember(&now, SIGTRAP) == !filtered);
	CHECK(sigismember(&now, SIGUSR1));
	for (int i = 0; i < WORKERS; i++)
		CHECK(!pthread_create(&w[i], NULL, worker, NULL));
	CHECK(!pthread_create(&taker, NULL, signal_taker, NULL));
	for (unsigned long s = 1; s <= UPDATES; s++) {
		int err;

		__atomic_store_n(&pending_seq, s, __ATOMIC_RELEASE);
		err = static_call_update(sc_server, t_ret[s % 4]);
		if (!err) {
			ok++;
			__atomic_store_n(&done_seq, s, __ATOMIC_RELEASE);
		} else {
			/* Nothing changed: the window is the last update. */
			__atomic_store_n(&pending_seq, s - 1, __ATOMIC_RELEASE);
			err == -EDEADLK ? deadlk++ : other++;
			if (other == 1)
				fprintf(stderr, "update: %s\n", strerror(-err));
		}
	}
	CHECK(!kill(getpid(), SIGUSR1));
	CHECK(!pthread_join(taker, NULL));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		CHECK(!pthread_join(w[i], NULL));
	printf("%s: %d updates ok, %d -EDEADLK, %d other, %lu calls, %lu wrong\n",
	       filtered ? "filtered" : "blockable", ok, deadlk, other, calls, wrong);
	CHECK(got_usr1);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(other, 0);
	if (filtered)
		CHECK_EQ(ok, UPDATES);
	return 0;
}

int main(int argc, char **argv)
{
	int st;

	if (!T_PATCHES_CODE)
		SKIP("nothing is patched in this build");
	if (argc > 1)
		return run(strcmp(argv[1], "filtered") == 0);
	st = t_run_self(NULL, "filtered", NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot run this test again (emulator without binfmt)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = t_run_self("USTATIC_SIGTRAP_BLOCKABLE=1", "blockable", NULL);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
