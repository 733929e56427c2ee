/* SPDX-License-Identifier: MIT */
/*
 * Every libc way of blocking signals leaves SIGTRAP open with
 * libustatic.so: a worker that calls static calls and branches blocks
 * "everything" after the mask verdict was cached (thread count unchanged)
 * with sighold, sigsetmask, sigblock, sigset(SIG_HOLD), or is replaced by
 * a thread created with pthread_attr_setsigmask_np(full), or uses
 * pthread_sigmask (control). Thousands of updates follow: no death, no
 * failed update, no wrong result. Found by the adversarial review of issue
 * 13 (each mode but control killed the process with SIGTRAP). Black-box;
 * each mode in its own process.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#define AFTER 3000		/* update pairs after the worker blocked */

DEFINE_STATIC_CALL(sc_libc, t_fa);
DEFINE_STATIC_KEY_FALSE(key_libc);
T_CALLER(call_it, sc_libc)
T_BRANCH(branch_it, static_branch_unlikely, &key_libc)

static const char *mode;
static int stop, gen, blocked;
static long wrong;

static void run_sites(void)
{
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int r = call_it(10);

		if (r != 11 && r != 12)
			__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
		(void)branch_it();
	}
}

/* The old interfaces are what is tested here. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void block_all(void)
{
	sigset_t s;

	sigfillset(&s);
	if (!strcmp(mode, "sighold"))
		sighold(SIGTRAP);
#ifdef __GLIBC__		/* BSD and GNU calls musl does not have */
	else if (!strcmp(mode, "sigsetmask"))
		sigsetmask(~0);
	else if (!strcmp(mode, "sigblock"))
		sigblock(~0);
#endif
	else if (!strcmp(mode, "sigset"))
		sigset(SIGTRAP, SIG_HOLD);
	else
		pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void *worker(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&gen, __ATOMIC_ACQUIRE) < 10)
		(void)call_it(1);
	block_all();
	__atomic_store_n(&blocked, 1, __ATOMIC_RELEASE);
	run_sites();
	return NULL;
}

static void *fresh_worker(void *arg)
{
	(void)arg;
	__atomic_store_n(&blocked, 1, __ATOMIC_RELEASE);
	run_sites();
	return NULL;
}

static void *short_lived(void *arg)
{
	(void)arg;
	while (__atomic_load_n(&gen, __ATOMIC_ACQUIRE) < 10)
		usleep(100);
	return NULL;
}

/* attrmask: the thread that exits is replaced by one created with a full
 * mask, so the number of threads does not change. */
static pthread_t replace(pthread_t t)
{
	pthread_attr_t at;
	sigset_t s;

	CHECK(!pthread_join(t, NULL));
	sigfillset(&s);
	CHECK(!pthread_attr_init(&at));
#ifdef __GLIBC__
	CHECK(!pthread_attr_setsigmask_np(&at, &s));
#else
	(void)s;
#endif
	CHECK(!pthread_create(&t, &at, fresh_worker, NULL));
	while (!__atomic_load_n(&blocked, __ATOMIC_ACQUIRE))
		sched_yield();
	return t;
}

static int run(void)
{
	bool attr = !strcmp(mode, "attrmask");
	int fails = 0, after = 0;
	pthread_t t;

	CHECK(!pthread_create(&t, NULL, attr ? short_lived : worker, NULL));
	for (int i = 0; after < AFTER; i++) {
		if (attr && i == 10)
			t = replace(t);
		fails += static_call_update(sc_libc, i & 1 ? t_fa : t_fb) != 0;
		fails += T_BRANCH_SET(&key_libc, !(i & 1)) != 0;
		__atomic_store_n(&gen, i + 1, __ATOMIC_RELEASE);
		after += __atomic_load_n(&blocked, __ATOMIC_ACQUIRE);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	CHECK(!pthread_join(t, NULL));
	printf("%s: %d update pairs after blocking, %d failed, %ld wrong\n",
	       mode, AFTER, fails, wrong);
	CHECK_EQ(fails, 0);
	CHECK_EQ(wrong, 0);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {
		"control", "sighold", "sigset",
#ifdef __GLIBC__
		"sigsetmask", "sigblock", "attrmask",
#endif
	};

	if (!T_PATCHES_CODE)
		SKIP("nothing is patched in this build");
	if (argc > 1) {
		mode = argv[1];
		return run();
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		int st = t_run_self(NULL, modes[i], NULL);

		if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
			SKIP("cannot run this test again (emulator without binfmt)");
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "%s: status %#x\n", modes[i], st);
			return T_EXIT_FAIL;
		}
	}
	return 0;
}
