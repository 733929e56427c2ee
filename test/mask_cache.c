/* SPDX-License-Identifier: MIT */
/*
 * No per-thread work per batch: the verdict on signal masks is read from
 * every thread only when the number of threads changed (or a mask that
 * blocks SIGTRAP was set through libc), not for every update. With 64 idle
 * threads, 200 updates that place int3 guards read the masks at most once;
 * a new thread makes the next one read them again; a thread that blocks
 * SIGTRAP with the raw system call, started after the last read, is seen
 * (updates then fail cleanly or go trap-free, and nobody dies); once it
 * unblocks, updates work again. USTATIC_MASK_SCAN=1 reads them for every
 * batch, which shows the counter counts. Black-box.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#define IDLE 64
#define UPDATES 200

DEFINE_STATIC_CALL(sc_mask, t_ret0);
T_CALL_SITE_VOID(site, sc_mask)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool quit;
static bool raw_blocked, raw_unblock;
static unsigned started;

static unsigned long scans(void)
{
	struct ustatic_stats st;

	CHECK_EQ(ustatic_get_stats(&st), 0);
	return st.mask_scans;
}

static void *idle(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&mu);
	while (!quit)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* Blocks SIGTRAP behind libc's back, then waits to be told to unblock. */
static void *raw(void *arg)
{
	unsigned long set = 1UL << (SIGTRAP - 1);

	(void)arg;
	CHECK(!syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 8));
	__atomic_store_n(&raw_blocked, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&raw_unblock, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK(!syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, 8));
	return NULL;
}

static int update(unsigned long s)
{
	int err = static_call_update(sc_mask, t_ret[s % 4]);

	if (!err)
		CHECK_EQ(site(), (int)(s % 4));
	return err;
}

static int run(bool every_batch)
{
	pthread_t th[IDLE], r;
	unsigned long s0, s1;
	int err;

	for (int i = 0; i < IDLE; i++)
		CHECK(!pthread_create(&th[i], NULL, idle, NULL));
	while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < IDLE)
		usleep(1000);
	CHECK_EQ(update(1), 0);
	s0 = scans();
	for (unsigned long s = 2; s <= UPDATES; s++)
		CHECK_EQ(update(s), 0);
	s1 = scans();
	printf("%s: %lu mask reads for %d updates with %d idle threads\n",
	       every_batch ? "USTATIC_MASK_SCAN=1" : "cached", s1 - s0 + 1,
	       UPDATES, IDLE);
	if (every_batch) {
		CHECK(s1 - s0 >= UPDATES - 1);
		return 0;
	}
	CHECK_EQ(s1, s0);
	/* A thread that blocks SIGTRAP with the raw system call: seen,
	 * because the number of threads changed. */
	CHECK(!pthread_create(&r, NULL, raw, NULL));
	while (!__atomic_load_n(&raw_blocked, __ATOMIC_ACQUIRE))
		usleep(1000);
	err = update(UPDATES + 1);
	printf("with a raw-blocked thread: %s\n", err ? strerror(-err) : "ok");
	CHECK(err == -EDEADLK || err == 0);
	CHECK(scans() > s1);
	__atomic_store_n(&raw_unblock, true, __ATOMIC_RELEASE);
	CHECK(!pthread_join(r, NULL));
	CHECK_EQ(update(UPDATES + 2), 0);
	pthread_mutex_lock(&mu);
	quit = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < IDLE; i++)
		CHECK(!pthread_join(th[i], NULL));
	return 0;
}

int main(int argc, char **argv)
{
	int st;

	if (!T_USES_GUARDS || getenv("USTATIC_TRAPFREE"))
		SKIP("no int3 guards in this build or run");
	if (argc > 1)
		return run(!strcmp(argv[1], "every"));
	st = t_run_self(NULL, "cached", NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot run this test again (emulator without binfmt)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = t_run_self("USTATIC_MASK_SCAN=1", "every", NULL);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
