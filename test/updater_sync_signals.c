/* SPDX-License-Identifier: MIT */
/*
 * Signals the updating thread does not hold back (SIGBUS, SIGSEGV, SIGFPE
 * sent with pthread_kill) whose handler runs a site being patched, under a
 * forced shadow stack (USTATIC_FORCE_SHSTK=1, re-executing itself): the
 * handler runs on the thread that must finish the batch, so nothing may
 * make it wait for that thread. Before the fixes it waited at an int3 on
 * a CALL site (shadow stack: no CALL emulation) or for the trap handler's
 * sequence count that the interrupted updater held odd: 0 updates, for
 * ever. One signal at a time, each handler must finish within 3 s.
 * Found by the adversarial review (t09). Black box, x86-64.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#if !defined(USTATIC_ARCH_X86_64)
int main(void)
{
	SKIP("the int3 protocol is x86-64's");
}
#else

static __attribute__((noinline)) int g1(int x) { return x + 1; }
static __attribute__((noinline)) int g2(int x) { return x + 2; }

DEFINE_STATIC_CALL(us_sc, g1);

static atomic_long done, updates, bad;
static atomic_bool stop;

static __attribute__((noinline)) int use(int x)
{
	int r = static_call(us_sc)(x);

	__asm__ __volatile__("" : "+r"(r));	/* a call site, not a tail */
	return r;
}

static void on_signal(int sig)
{
	int r = use(1);

	(void)sig;
	if (r != 2 && r != 3)
		atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&done, 1);
}

static void *updater(void *arg)
{
	(void)arg;
	for (long i = 0; !atomic_load(&stop); i++) {
		if (static_call_update(us_sc, i & 1 ? g1 : g2))
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&updates, 1);
	}
	return NULL;
}

static int run(void *arg)
{
	int sig = (int)(long)arg;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	double end = t_now() + (test_scale(20) >= 10 ? 2 : 1);
	long sent = 0;
	pthread_t u;

	CHECK_EQ(sigaction(sig, &sa, NULL), 0);
	CHECK_EQ(pthread_create(&u, NULL, updater, NULL), 0);
	while (t_now() < end) {
		long d = atomic_load(&done);
		double t0 = t_now();

		pthread_kill(u, sig);
		sent++;
		while (atomic_load(&done) == d && t_now() - t0 < 3)
			usleep(50);
		if (atomic_load(&done) == d) {
			fprintf(stderr, "signal %d #%ld: its handler on the "
				"updating thread never finished\n", sig, sent);
			_exit(T_EXIT_FAIL);
		}
	}
	atomic_store(&stop, true);
	pthread_join(u, NULL);
	printf("signal %d: %ld handlers on the updating thread, %ld updates\n",
	       sig, sent, atomic_load(&updates));
	CHECK_EQ(atomic_load(&bad), 0);
	return 0;
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGBUS, SIGSEGV, SIGFPE };

	(void)argc;
	if (!getenv("USTATIC_FORCE_SHSTK")) {
		setenv("USTATIC_FORCE_SHSTK", "1", 1);
		execv("/proc/self/exe", argv);
		CHECK(!"re-exec");
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		CHECK_EQ(t_fork_run(run, (void *)(long)sigs[i], 60), 0);
	return 0;
}
#endif
