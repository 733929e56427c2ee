/* SPDX-License-Identifier: MIT */
/*
 * A signal handler installed with a full sa_mask blocks SIGTRAP while it
 * runs: if it calls a static call while an int3 guards the site, the kernel
 * kills the process. The engine must see such handlers and never arm an
 * int3 then: updates that need one (this inline site was promoted at
 * start-up) fail with -EDEADLK and change nothing. Once the handler's mask
 * lets SIGTRAP through, updates succeed again. Without the check this test
 * dies with SIGTRAP within a few hundred updates.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(sc_mask, t_fa);

T_CALLER(site, sc_mask)

static volatile int stop, paused;
static int inside;		/* handler invocations running now */
static unsigned long wrong;
static pid_t worker_tid;

static void check(void)
{
	int r = site(0);

	if (r != 1 && r != 2)
		__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
}

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_fetch_add(&inside, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 2000; i++)
		check();
	__atomic_fetch_sub(&inside, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
	(void)arg;
	__atomic_store_n(&worker_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!stop)
		check();
	return NULL;
}

static void *pester(void *arg)
{
	(void)arg;
	while (!stop) {
		pid_t t = __atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE);
		if (t && !paused)
			syscall(SYS_tgkill, getpid(), t, SIGUSR1);
		usleep(100);
	}
	return NULL;
}

static int child(void *arg)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	pthread_t w, p;
	struct ustatic_stats st;

	(void)arg;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	pthread_create(&w, NULL, worker, NULL);
	pthread_create(&p, NULL, pester, NULL);
	for (long i = 0; i < test_scale(3000); i++) {
		int (*want)(int) = i & 1 ? t_fa : t_fb, (*was)(int) = static_call_query(sc_mask);
		int err = static_call_update(sc_mask, want);

		CHECK(err == 0 || err == -EDEADLK);
		CHECK(static_call_query(sc_mask) == (err ? was : want));
		CHECK_EQ(site(0), err ? was(0) : want(0));
	}
	ustatic_get_stats(&st);
	CHECK_EQ(st.traps, 0);
	/*
	 * The same handler without SIGTRAP in its mask: int3 is usable once
	 * no invocation installed with the old mask is still running (that
	 * thread really does block SIGTRAP until it returns).
	 */
	paused = 1;
	sigdelset(&sa.sa_mask, SIGTRAP);
	sigaction(SIGUSR1, &sa, NULL);	/* what is delivered from now on */
	usleep(1000);
	while (__atomic_load_n(&inside, __ATOMIC_SEQ_CST))
		sched_yield();		/* old-mask invocations have returned */
	usleep(150 * 1000);		/* a "blocked" verdict stands 100 ms */
	paused = 0;
	for (long i = 0; i < test_scale(300); i++) {
		CHECK_EQ(static_call_update(sc_mask, i & 1 ? t_fa : t_fb), 0);
		CHECK_EQ(site(0), i & 1 ? 1 : 2);
	}
	stop = 1;
	pthread_join(w, NULL);
	pthread_join(p, NULL);
	ustatic_get_stats(&st);
	printf("%lu batches, %lu trap-free, %lu traps, %lu wrong\n", st.batches,
	       st.trap_free_batches, st.traps, wrong);
	CHECK_EQ(wrong, 0);
	return 0;
}

int main(void)
{
	int status;

	if (!T_USES_GUARDS)
		SKIP("no int3 in this build");
	status = t_fork_run(child, NULL, 0);
	if (WIFSIGNALED(status))
		fprintf(stderr, "child killed by signal %d\n", WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return T_EXIT_PASS;
}
