/* SPDX-License-Identifier: MIT */
/*
 * A signal handler that interrupts any ustatic call on its own thread gets
 * -EDEADLK at once from a ustatic call of its own, before that call takes
 * a lock or allocates: the interrupted call may be inside malloc (holding
 * its arena lock), as in a transaction's recording or commit. Thread U
 * loops over transactions (mode a) or plain updates (mode b) while the main
 * thread sends it signals every 20 us; the handler changes another key and
 * static call, in a transaction in mode b. A watchdog fails the test when U
 * stops making progress (before the fix: a deadlock in malloc, in 1 s).
 * Found by the adversarial review (r_sig_reentry_hang). Black box.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int g1(int x) { return x + 1; }
static int g2(int x) { return x + 2; }

DEFINE_STATIC_CALL(ra_sc, g1);
DEFINE_STATIC_CALL(ra_sc2, g1);
DEFINE_STATIC_KEY_FALSE(ra_k);
DEFINE_STATIC_KEY_FALSE(ra_k2);

static char mode;
static atomic_bool stop;
static atomic_long uops, entered, ok, deadlk, other;

static void count(int r)
{
	atomic_fetch_add(r == 0 ? &ok : r == -EDEADLK ? &deadlk : &other, 1);
}

static void on_signal(int sig)
{
	int e = errno, r;

	(void)sig;
	atomic_fetch_add(&entered, 1);
	if (mode == 'a') {
		r = static_branch_inc(&ra_k2);
		if (!r)
			r = static_branch_dec(&ra_k2);
	} else {
		r = ustatic_batch_begin();
		if (!r) {
			static_branch_inc(&ra_k2);
			static_call_update(ra_sc2, entered & 1 ? g1 : g2);
			r = ustatic_batch_commit();
			if (!r)
				r = static_branch_dec(&ra_k2);
		}
	}
	count(r);
	errno = e;
}

static void *updater(void *arg)
{
	(void)arg;
	for (long i = 0; !atomic_load(&stop); i++) {
		if (mode == 'a') {
			ustatic_batch_begin();
			static_call_update(ra_sc, i & 1 ? g1 : g2);
			static_branch_inc(&ra_k);
			static_branch_dec(&ra_k);
			ustatic_batch_commit();
		} else {
			static_call_update(ra_sc, i & 1 ? g1 : g2);
		}
		atomic_fetch_add(&uops, 1);
	}
	return NULL;
}

static int run(char m)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	int sig = m == 'a' ? SIGUSR1 : SIGBUS;	/* SIGBUS: not held back */
	double end = t_now() + (test_scale(20) >= 10 ? 3 : 1), last = t_now();
	long seen = -1;
	pthread_t u;

	mode = m;
	CHECK_EQ(sigaction(sig, &sa, NULL), 0);
	CHECK_EQ(pthread_create(&u, NULL, updater, NULL), 0);
	while (t_now() < end) {
		pthread_kill(u, sig);
		usleep(20);
		if (t_now() - last > 1.0) {
			if (atomic_load(&uops) == seen) {
				fprintf(stderr, "mode %c: no progress for 1 s: "
					"handler entered %ld\n", m, atomic_load(&entered));
				_exit(T_EXIT_FAIL);
			}
			seen = atomic_load(&uops);
			last = t_now();
		}
	}
	atomic_store(&stop, true);
	pthread_join(u, NULL);
	printf("mode %c: %ld updates, handler: %ld worked, %ld -EDEADLK, %ld "
	       "other\n", m, atomic_load(&uops), atomic_load(&ok),
	       atomic_load(&deadlk), atomic_load(&other));
	CHECK_EQ(atomic_load(&other), 0);
	return 0;
}

static int run_a(void *arg) { (void)arg; return run('a'); }
static int run_b(void *arg) { (void)arg; return run('b'); }

int main(void)
{
	CHECK_EQ(t_fork_run(run_a, NULL, 30), 0);
	CHECK_EQ(t_fork_run(run_b, NULL, 30), 0);
	return 0;
}
