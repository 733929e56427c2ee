/* SPDX-License-Identifier: MIT */
/*
 * "After static_call_update() returns and another thread observes that
 * (acquire), every call it starts lands in the new target." Worker threads
 * call through inline sites in several functions (plain, tail, in a loop,
 * and from a signal handler) while the main thread retargets the call
 * hundreds of thousands of times; every result is checked against the
 * targets valid from the last observed completed update to the last
 * started one.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int t0(int x) { return x + 0; }
static int t1(int x) { return x + 1; }
static int t2(int x) { return x + 2; }
static int t3(int x) { return x + 3; }
static int (*const targets[4])(int) = { t0, t1, t2, t3 };

DEFINE_STATIC_CALL(sc_stress, t0);

static __attribute__((noinline)) int site_plain(int x) { return static_call(sc_stress)(x) * 2; }
static __attribute__((noinline)) int site_tail(int x) { return static_call(sc_stress)(x); }
static __attribute__((noinline)) int site_branchy(int x)
{
	if (x > 1000)
		return static_call(sc_stress)(x) + 1;
	return static_call(sc_stress)(x);
}

static unsigned long done_seq, pending_seq, wrong, checked, in_signal;
static bool stop;

static void check_all(void)
{
	unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
	int a = site_plain(0) / 2, b = site_tail(0), c = site_branchy(0);
	unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);
	unsigned long bad = !test_in_window(a, d0, p1) + !test_in_window(b, d0, p1) + !test_in_window(c, d0, p1);

	if (bad) {
		__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
		fprintf(stderr, "wrong: %d %d %d valid %lu..%lu\n", a, b, c, d0, p1);
	}
	__atomic_fetch_add(&checked, 3, __ATOMIC_RELAXED);
}

static void on_usr1(int sig)
{
	(void)sig;
	check_all();
	__atomic_fetch_add(&in_signal, 1, __ATOMIC_RELAXED);
}

static pid_t tids[2];

static void *worker(void *arg)
{
	__atomic_store_n(&tids[(long)arg], (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		check_all();
	return NULL;
}

int main(void)
{
	pthread_t th[2];
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	long updates = test_scale(100000);
	struct ustatic_stats st;

	sigaction(SIGUSR1, &sa, NULL);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (long s = 0; s < updates; s++) {
		__atomic_store_n(&pending_seq, s + 1, __ATOMIC_SEQ_CST);
		CHECK_EQ(static_call_update(sc_stress, targets[(s + 1) % 4]), 0);
		__atomic_store_n(&done_seq, s + 1, __ATOMIC_RELEASE);
		pid_t t = __atomic_load_n(&tids[s / 64 % 2], __ATOMIC_ACQUIRE);
		if (s % 64 == 0 && t)
			syscall(SYS_tgkill, getpid(), t, SIGUSR1);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ustatic_get_stats(&st);
	printf("%ld updates, %lu calls checked (%lu rounds from signal handlers), "
	       "%lu wrong; %lu inline sites, %lu traps, %lu late traps\n",
	       updates, checked, in_signal, wrong, st.call_sites, st.traps,
	       st.late_traps);
	CHECK_EQ(wrong, 0);
	if (T_PATCHES_CODE)
		CHECK(st.call_sites >= 3);
	CHECK(in_signal > 0);
	return T_EXIT_PASS;
}
