/* SPDX-License-Identifier: MIT */
/*
 * The sigwait server pattern: main blocks every signal (sigfillset +
 * pthread_sigmask) before it starts any thread, so every thread inherits
 * that mask; one thread takes the signals the server cares about with
 * sigwait(); two workers run 100 sites of a static call and a static
 * branch; main updates the static call 2,000 times and flips the key 200
 * times, and sends the server a SIGHUP every 100 updates.
 *
 * Counted: updates and flips that returned 0 or an error; wrong calls (a
 * worker's 100 sites not adding up to 100, or the main thread's sites not
 * reaching the new target right after an update returned 0); the signals
 * the sigwait thread took; and whether the process died. All of it runs in
 * a forked child whose counts live in shared memory.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustatic.h>

#include "cmp.h"
#include "sites.h"

/* Which target ran last in this thread: 1 or 2. */
static __thread int who;

static __attribute__((noinline)) unsigned who_a(unsigned x)
{
	who = 1;
	return x + 1;
}

static __attribute__((noinline)) unsigned who_b(unsigned x)
{
	__asm__ __volatile__("");	/* not foldable into who_a */
	who = 2;
	return x + 1;
}

DEFINE_STATIC_CALL(sc_who, who_a);
DEFINE_STATIC_KEY_FALSE(key_who);

static SITES_FN(run_who, "run_who", R100(x = static_call(sc_who)(x);))

struct counts {
	unsigned long updates, ok, fail, wrong_calls, wrong_target;
	unsigned long flips, flips_ok, flips_fail, signals, calls, key_seen;
	int err, flip_err, stage;
};

static struct counts *c;		/* shared with the parent */
static int stop;			/* main -> workers */

static void *worker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (run_who(0) != 100)
			__atomic_fetch_add(&c->wrong_calls, 1, __ATOMIC_RELAXED);
		if (static_branch_unlikely(&key_who))
			__atomic_fetch_add(&c->key_seen, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The server's signal thread: SIGTERM ends it. */
static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;

	while (sig != SIGTERM)
		if (!sigwait(set, &sig))
			__atomic_fetch_add(&c->signals, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void update_once(unsigned long i)
{
	int to_b = !(i & 1), r;

	r = static_call_update(sc_who, to_b ? who_b : who_a);
	c->updates++;
	if (r) {
		c->fail++;
		if (!c->err)
			c->err = r;
		return;
	}
	c->ok++;
	if (run_who(0) != 100 || who != (to_b ? 2 : 1))
		c->wrong_target++;
}

static void flip_once(unsigned long i)
{
	int r = i & 1 ? static_branch_disable(&key_who) :
			static_branch_enable(&key_who);

	c->flips++;
	if (r) {
		c->flips_fail++;
		if (!c->flip_err)
			c->flip_err = r;
	} else {
		c->flips_ok++;
	}
}

struct plan {
	unsigned long updates, flips;
};

static void server(void *arg)
{
	const struct plan *p = arg;
	pthread_t sigt, workers[2];
	sigset_t all, taken;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sigemptyset(&taken);
	sigaddset(&taken, SIGHUP);
	sigaddset(&taken, SIGINT);
	sigaddset(&taken, SIGTERM);
	sigaddset(&taken, SIGUSR1);
	if (pthread_create(&sigt, NULL, signal_thread, &taken))
		_exit(3);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&workers[i], NULL, worker, NULL))
			_exit(3);
	sleep_ns(10 * 1000 * 1000);
	c->stage = 1;
	for (unsigned long i = 0; i < p->updates; i++) {
		update_once(i);
		if (i % 100 == 99)
			kill(getpid(), SIGHUP);
	}
	c->stage = 2;
	for (unsigned long i = 0; i < p->flips; i++)
		flip_once(i);
	if (p->flips & 1)
		flip_once(1);
	c->stage = 3;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(workers[i], NULL);
	pthread_kill(sigt, SIGTERM);
	pthread_join(sigt, NULL);
	c->stage = 4;
}

int row_sigwait(int argc, char **argv)
{
	struct plan p = { argc > 2 ? strtoul(argv[2], NULL, 0) : 2000, 200 };
	int fate;

	c = shared_alloc(sizeof(*c));
	fate = run_child(server, &p, 120);
	result("id=sigwait updates=%lu ok=%lu fail=%lu err=%d wrong=%lu "
	       "wrong_calls=%lu wrong_target=%lu died=%d fate=%d stage=%d "
	       "flips=%lu flips_ok=%lu flips_fail=%lu flip_err=%d signals=%lu "
	       "calls=%lu", c->updates, c->ok, c->fail, c->err,
	       c->wrong_calls + c->wrong_target, c->wrong_calls,
	       c->wrong_target, fate != 0, fate, c->stage, c->flips,
	       c->flips_ok, c->flips_fail, c->flip_err, c->signals, c->calls);
	return 0;
}
