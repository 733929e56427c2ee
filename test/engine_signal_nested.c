/* SPDX-License-Identifier: MIT */
/* A thread inside a signal handler runs patchable code while batches are
 * applied: the handler's call traps (a nested SIGTRAP) and must still get
 * a correct result. SIGALRM-style timer signals hit the worker constantly,
 * often while it is itself inside our SIGTRAP handler.
 * White-box: drives the engine (src/engine.h) on the hand-made code of
 * test/stubs.h. */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else

static unsigned long done_seq, pending_seq;
static unsigned long in_handler_calls, wrong;
static bool stop;
static pid_t worker_tid;

static void check_call(void)
{
	unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
	int r = stub_call();
	unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

	if (!test_in_window(r, d0, p1))
		__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
}

static void on_usr1(int sig)
{
	(void)sig;
	check_call();
	__atomic_fetch_add(&in_handler_calls, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	(void)arg;
	__atomic_store_n(&worker_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		check_call();
	return NULL;
}

static void *pester(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		pid_t t = __atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE);
		if (t)
			syscall(SYS_tgkill, getpid(), t, SIGUSR1);
		usleep(20);
	}
	return NULL;
}

int main(void)
{
	pthread_t w, p;
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	long batches = test_scale(30000);
	struct ustatic_stats st;

	sigaction(SIGUSR1, &sa, NULL);
	pthread_create(&w, NULL, worker, NULL);
	pthread_create(&p, NULL, pester, NULL);
	for (long s = 0; s < batches; s++) {
		struct us_patch v = { .addr = stub_call_site, .len = STUB_LEN };

		stub_call_insn(v.old, v.addr, stub_targets[s % 4]);
		stub_call_insn(v.new, v.addr, stub_targets[(s + 1) % 4]);
		__atomic_store_n(&pending_seq, s + 1, __ATOMIC_SEQ_CST);
		CHECK_EQ(us_engine_apply(&v, 1), 0);
		__atomic_store_n(&done_seq, s + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(w, NULL);
	pthread_join(p, NULL);
	ustatic_get_stats(&st);
	printf("%ld batches, %lu calls from signal handlers, %lu traps, %lu wrong\n",
	       batches, in_handler_calls, st.traps, wrong);
	CHECK_EQ(wrong, 0);
	CHECK(in_handler_calls > 0);
	return T_EXIT_PASS;
}
#endif
