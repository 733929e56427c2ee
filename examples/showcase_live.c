/* SPDX-License-Identifier: MIT */
/*
 * Switching while threads run. Worker threads call the hot path in a loop
 * and check every result; this thread makes switch after switch, in a
 * cycle of four:
 *
 *   switch g:  g % 4 == 1   static_call_update(step, step_b)
 *              g % 4 == 2   static_branch_enable(&tracing)
 *              g % 4 == 3   static_branch_disable(&tracing)
 *              g % 4 == 0   static_call_update(step, step_a)
 *
 * so that after switch g the state is known: target step_b for g % 4 != 0,
 * tracing on for g % 4 == 2. The switcher stores started = g before switch
 * g and done = g after it returned (release; the workers load both with
 * acquire). A call that read done = d before it began and started == d
 * after it ended ran wholly after switch d returned and before switch d+1
 * began: it must see exactly the state of d. ustatic promises that; a
 * worker counts every call that did not as "missed".
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "showcase.h"

#define MAX_WORKERS	4

struct worker {
	pthread_t thread;
	/* Written by the worker only; read by the switcher after the join. */
	unsigned long calls, wrong, missed, to[2], traced;
	bool running;			/* set (release) once it calls */
} __attribute__((aligned(64)));		/* no false sharing */

static struct worker workers[MAX_WORKERS];
static unsigned long gen;		/* the switches made; switcher only */
static unsigned long started, done;	/* published for the workers */
static int stop;			/* relaxed: the join orders the rest */

static int target_of(unsigned long g)	/* 0: step_a, 1: step_b */
{
	return g % 4 != 0;
}

static bool tracing_of(unsigned long g)
{
	return g % 4 == 2;
}

/* The hot path, as a program would write it. */
static __attribute__((noinline)) uint64_t hot(struct worker *w, uint64_t x)
{
	uint64_t r = static_call(step)(x);

	if (static_branch_unlikely(&tracing))
		w->traced++;
	return r;
}

/* One call, checked: its result must come from step_a or step_b, and
 * from the right one if no switch overlapped it. */
static void check_one(struct worker *w, uint64_t x)
{
	unsigned long d = __atomic_load_n(&done, __ATOMIC_ACQUIRE);
	unsigned long traced0 = w->traced;
	uint64_t r = hot(w, x);
	unsigned long s = __atomic_load_n(&started, __ATOMIC_ACQUIRE);
	int which = r == step_a(x) ? 0 : r == step_b(x) ? 1 : -1;
	bool on = w->traced != traced0;

	w->calls++;
	if (which < 0) {
		w->wrong++;
		return;
	}
	w->to[which]++;
	if (s == d && (which != target_of(d) || on != tracing_of(d)))
		w->missed++;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t x = (uint64_t)(w - workers) + 1;

	check_one(w, x);
	__atomic_store_n(&w->running, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		check_one(w, x++);
	return NULL;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pause_us(long us)
{
	struct timespec t = { 0, us * 1000 };

	nanosleep(&t, NULL);
}

/* Switch g, from the state of switch g - 1: 0 or -errno. */
static int do_switch(unsigned long g)
{
	switch (g % 4) {
	case 1:	return static_call_update(step, step_b);
	case 2:	return static_branch_enable(&tracing);
	case 3:	return static_branch_disable(&tracing);
	default: return static_call_update(step, step_a);
	}
}

/* Makes the next switch; returns how long it took (ns), or -1. */
static double next_switch(struct live_report *r)
{
	unsigned long g = gen + 1;
	double t0, t;
	int err;

	__atomic_store_n(&started, g, __ATOMIC_RELEASE);
	t0 = now_ns();
	err = do_switch(g);
	t = now_ns() - t0;
	if (err) {
		/* Nothing changed: started stays ahead of done, so no call
		 * is held to either state from now on. */
		fprintf(stderr, "switch %lu failed: %s\n", g, strerror(-err));
		r->failed_switches++;
		return -1;
	}
	__atomic_store_n(&done, g, __ATOMIC_RELEASE);
	gen = g;
	r->switches++;
	return t;
}

static void start_workers(int n)
{
	__atomic_store_n(&stop, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		memset(&workers[i], 0, sizeof(workers[i]));
		pthread_create(&workers[i].thread, NULL, work, &workers[i]);
	}
	/* A thread glibc is still starting blocks every signal, which
	 * makes int3 unusable for as long as it lasts. */
	for (int i = 0; i < n; i++)
		while (!__atomic_load_n(&workers[i].running, __ATOMIC_ACQUIRE))
			pause_us(100);
}

/* Back to step_a and tracing off (what the timed loops expect), then the
 * workers stop and report. */
static void stop_workers(int n, struct live_report *r)
{
	while (gen % 4 && !r->failed_switches)
		next_switch(r);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++) {
		struct worker *w = &workers[i];

		pthread_join(w->thread, NULL);
		r->calls += w->calls;
		r->wrong += w->wrong;
		r->missed += w->missed;
		r->to_a += w->to[0];
		r->to_b += w->to[1];
		r->traced += w->traced;
	}
	/* A refused switch left the chain of switches where it was: back to
	 * the base state directly, with no worker left to check it. */
	if (r->failed_switches) {
		static_call_update(step, step_a);
		static_branch_disable(&tracing);
		gen = (gen | 3) + 1;
		__atomic_store_n(&started, gen, __ATOMIC_RELEASE);
		__atomic_store_n(&done, gen, __ATOMIC_RELEASE);
	}
}

void live_run(int nthreads, int ms, struct live_report *r)
{
	double end;

	memset(r, 0, sizeof(*r));
	start_workers(nthreads);
	end = now_ns() + ms * 1e6;
	/* A pause between switches lets the workers make calls in
	 * every state. */
	while (now_ns() < end && next_switch(r) >= 0)
		pause_us(200);
	stop_workers(nthreads, r);
}

void switch_latency(int nthreads, int samples, struct switch_cost *c,
		    struct live_report *r)
{
	double upd[MAX_REPS], key[MAX_REPS];
	int nu = 0, nk = 0;

	if (samples > MAX_REPS)
		samples = MAX_REPS;
	memset(r, 0, sizeof(*r));
	start_workers(nthreads);
	while (nu < samples || nk < samples) {
		bool is_update = (gen + 1) % 4 < 2;	/* 1 and 0 mod 4 */
		double t = next_switch(r);

		if (t < 0)
			break;
		if (is_update && nu < samples)
			upd[nu++] = t;
		else if (!is_update && nk < samples)
			key[nk++] = t;
		/* Let the workers run in between; spin rather than sleep,
		 * or the next switch would time this CPU waking up. */
		for (double end = now_ns() + 1e6; now_ns() < end;)
			;
	}
	stop_workers(nthreads, r);
	c->update_ns = nu ? median(upd, nu) : 0;
	c->key_ns = nk ? median(key, nk) : 0;
}
