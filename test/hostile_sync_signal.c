/*
 * The signal broadcast (the sync method without membarrier) counts only
 * the acknowledgements of its own round, and its handler never blocks
 * SIGTRAP.
 *
 *   stale    thread T blocks the sync signal, so a round times out and
 *            leaves a signal pending in T. Then thread U blocks it too, and
 *            T unblocks during the next round: T acknowledges twice (the
 *            stale signal and the new one) while U never does. That round
 *            must time out, not count T's stale acknowledgement for U's.
 *   mask     the handler's sa_mask leaves SIGTRAP open: a thread inside it
 *            when the engine reads the threads' masks before a batch
 *            would otherwise look like one that blocks SIGTRAP (-EDEADLK,
 *            or a trap-free batch, for no reason).
 *   zombie   the main thread has called pthread_exit(): it stays listed in
 *            /proc/self/task, a zombie that never handles a signal. Rounds
 *            from another thread must still complete (in a child).
 *
 * Convinced it can fail: linked against src/sync.c of 1c2710d, the
 * "stale" round returns 0 (T's two acknowledgements counted for T and U)
 * and the mask check fails (the handler's mask was sigfillset()); every
 * round of "zombie" fails with -ETIMEDOUT.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ustatic.h>

#include "lock.h"
#include "sync.h"
#include "test.h"


/* One round, under the engine lock, as the engine runs it. */
static int sync_round(void)
{
	int err;

	CHECK_EQ(us_lock(&us_engine_lock), 0);
	err = us_sync_cores();
	us_unlock(&us_engine_lock);
	return err;
}

static int sync_sig;
static bool stop, t_ready, u_ready, u_block;
static long t_unblock_at;	/* ms on now_ms()'s clock; 0: keep blocking */

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void block_sync_signal(int how)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, sync_sig);
	CHECK_EQ(pthread_sigmask(how, &s, NULL), 0);
}

static void *thread_t(void *arg)
{
	(void)arg;
	block_sync_signal(SIG_BLOCK);
	__atomic_store_n(&t_ready, true, __ATOMIC_RELEASE);
	for (;;) {
		long at = __atomic_load_n(&t_unblock_at, __ATOMIC_ACQUIRE);

		if (at > 0 && now_ms() >= at)
			break;
		sched_yield();
	}
	block_sync_signal(SIG_UNBLOCK);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		sched_yield();
	return NULL;
}

static void *nothing(void *arg)
{
	return arg;
}

static void *thread_u(void *arg)
{
	(void)arg;
	__atomic_store_n(&u_ready, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&u_block, __ATOMIC_ACQUIRE))
		sched_yield();
	block_sync_signal(SIG_BLOCK);
	__atomic_store_n(&u_ready, false, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		sched_yield();
	return NULL;
}

/* Whether the main thread is a zombie ("pid (comm) Z ..."). */
static bool main_is_zombie(void)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool z;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)getpid());
	CHECK((f = fopen(path, "r")) != NULL);
	CHECK(fgets(buf, sizeof(buf), f) != NULL);
	fclose(f);
	p = strrchr(buf, ')');
	z = p && p[1] == ' ' && p[2] == 'Z';
	return z;
}

static void *after_main(void *arg)
{
	(void)arg;
	while (!main_is_zombie())
		sched_yield();
	for (int i = 0; i < 3; i++) {
		int err = sync_round();

		if (err) {
			fprintf(stderr, "zombie: round %d returned %d\n", i, err);
			exit(1);
		}
	}
	exit(0);
}

/* In a child: the main thread exits, another one syncs. */
static int zombie_leader(void)
{
	pid_t pid;
	int status;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		pthread_t th;

		alarm(20);
		CHECK_EQ(pthread_create(&th, NULL, after_main, NULL), 0);
		pthread_exit(NULL);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "zombie: failed (status 0x%x)\n", status);
		return 1;
	}
	printf("zombie: rounds complete with the main thread gone\n");
	return 0;
}

int main(void)
{
	struct sigaction sa;
	pthread_t t, u;
	int err, failed = 0;

	alarm(30);
	/* The library starts (its runtime) before its layers are used
	 * directly: a build with no site in this file has no constructor
	 * that would start it. */
	CHECK_EQ(ustatic_get_stats(&(struct ustatic_stats){ 0 }), 0);
	if (us_sync_force(USTATIC_SYNC_SIGNAL))
		SKIP("no signal broadcast here");
	/* A first thread makes TSan start its own, which blocks every
	 * signal: the broadcast can never complete then. */
	CHECK_EQ(pthread_create(&t, NULL, nothing, NULL), 0);
	pthread_join(t, NULL);
	if (sync_round())
		SKIP("the signal broadcast cannot complete here (a thread "
		     "of TSan or qemu blocks the signal)");
	for (sync_sig = SIGRTMIN; sync_sig <= SIGRTMAX; sync_sig++)
		if (us_sync_owns_signal(sync_sig))
			break;
	CHECK(sync_sig <= SIGRTMAX);

	failed |= zombie_leader();

	CHECK_EQ(sigaction(sync_sig, NULL, &sa), 0);
	if (sigismember(&sa.sa_mask, SIGTRAP)) {
		fprintf(stderr, "mask: the sync handler blocks SIGTRAP\n");
		failed = 1;
	}

	CHECK_EQ(pthread_create(&t, NULL, thread_t, NULL), 0);
	CHECK_EQ(pthread_create(&u, NULL, thread_u, NULL), 0);
	while (!__atomic_load_n(&t_ready, __ATOMIC_ACQUIRE) ||
	       !__atomic_load_n(&u_ready, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK_EQ(sync_round(), -ETIMEDOUT);		/* T blocks */

	__atomic_store_n(&u_block, true, __ATOMIC_RELEASE);
	while (__atomic_load_n(&u_ready, __ATOMIC_ACQUIRE))
		sched_yield();
	__atomic_store_n(&t_unblock_at, now_ms() + 300, __ATOMIC_RELEASE);
	err = sync_round();
	printf("stale: a round with a thread that never acknowledged "
	       "returned %d\n", err);
	if (err != -ETIMEDOUT) {
		fprintf(stderr, "stale: expected -ETIMEDOUT\n");
		failed = 1;
	}

	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	pthread_join(u, NULL);
	CHECK_EQ(sync_round(), 0);
	return failed;
}
