/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: a fresh thread that cannot run yet (issue: "Fresh
 * threads make updates fail").
 *
 * glibc starts a thread with every signal blocked, signals 32 and 33
 * included, and sets the mask the creator had once the thread first runs;
 * musl does the same with every signal but its own 32-34 blocked.
 * On a busy machine a new thread may wait a long time for a CPU. An update
 * that needs int3 right after pthread_create() must wait for it rather
 * than fail, while a thread that holds such a mask for good must still be
 * refused, in bounded time:
 *   starved   a thread created by a SCHED_FIFO thread on the same CPU, which
 *             then keeps that CPU for 800 ms: the new thread stays runnable
 *             in libc's start-up mask all that time. The update succeeds.
 *   sleeping  a thread blocks every signal with the raw system call (32 and
 *             33 too, as libc's mask) and sleeps: on glibc, taken for libc's
 *             (posix_spawn()'s caller sleeps so): the update succeeds at
 *             once; on musl -EDEADLK within 1.5 s.
 *   spinning  the same, but it runs all the time: -EDEADLK within 5 s.
 * Each case runs in its own child.
 *
 * Convinced it can fail: linked against src/sigmask.c of 1c2710d (2,000
 * polls of 100 us, whatever the thread does), "starved" returns -EDEADLK
 * after 0.4-0.6 s.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("int3 guards (x86-64 builds) only");
}
#else

#define HOG_MS 1200

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Retargets the call site (needs int3); returns the error. */
static int update(double *secs)
{
	struct us_patch p = { .addr = stub_call_site, .len = STUB_LEN };
	int r = stub_call(), err;
	double t0 = now();

	stub_call_insn(p.old, p.addr, stub_targets[r]);
	stub_call_insn(p.new, p.addr, stub_targets[(r + 1) % 4]);
	err = us_engine_apply(&p, 1);
	*secs = now() - t0;
	CHECK_EQ(stub_call(), err ? r : (r + 1) % 4);
	return err;
}

/* ---- starved: a new thread runnable but without a CPU ------------- */

static pid_t hog_tid;
static bool created;

static void *fresh(void *arg)
{
	(void)arg;
	return NULL;
}

/* Moves to CPU 1, creates a thread (which inherits SCHED_FIFO and that
 * CPU, so it cannot run before we yield), then keeps the CPU. (Not
 * pthread_attr_setaffinity_np(): musl has none.) */
static void *hog(void *arg)
{
	pthread_t th;
	double until;
	cpu_set_t cpus;

	(void)arg;
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	CHECK_EQ(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	hog_tid = (pid_t)syscall(SYS_gettid);
	CHECK_EQ(pthread_create(&th, NULL, fresh, NULL), 0);
	__atomic_store_n(&created, true, __ATOMIC_RELEASE);
	until = now() + HOG_MS / 1000.0;
	while (now() < until)
		;
	pthread_join(th, NULL);
	return NULL;
}

#define SIG_BIT(n) (1ULL << ((n) - 1))

/* Whether SigBlk holds every signal but those that cannot be blocked and,
 * at most, libc's own 32-34 (musl leaves them open). */
static bool libc_start_mask(const char *hex)
{
	unsigned long long m = strtoull(hex, NULL, 16);

	m |= SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP);
	m |= SIG_BIT(32) | SIG_BIT(33) | SIG_BIT(34);
	return m == ~0ULL;
}

/* Whether the thread that is neither this one nor the hog is runnable
 * with libc's start-up mask (its State and SigBlk lines). */
static bool fresh_in_libc_mask(void)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	bool runnable = false, masked = false;
	struct dirent *de;

	CHECK(d != NULL);
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		char path[300], line[256];
		FILE *f;

		if (tid <= 0 || tid == self || tid == hog_tid)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "State:\tR", 8))
				runnable = true;
			if (!strncmp(line, "SigBlk:", 7) && libc_start_mask(line + 7))
				masked = true;
		}
		fclose(f);
	}
	closedir(d);
	return runnable && masked;
}

static int case_starved(void)
{
	struct sched_param sp = { .sched_priority = 1 };
	pthread_attr_t attr;
	cpu_set_t cpus;
	pthread_t th;
	double secs;
	int err;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("starved: skipped, one CPU\n");
		return 0;
	}
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	CHECK_EQ(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	err = pthread_create(&th, &attr, hog, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		printf("starved: skipped, no SCHED_FIFO here: %s\n", strerror(err));
		return 0;
	}
	while (!__atomic_load_n(&created, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK(fresh_in_libc_mask());
	err = update(&secs);
	pthread_join(th, NULL);
	printf("starved: update returned %d after %.3f s\n", err, secs);
	CHECK_EQ(err, 0);
	return 0;
}

/* ---- a thread that holds libc's mask for good --------------------- */

static bool stop, masked;

static void *raw_masked(void *arg)
{
	uint64_t all = ~0ULL;
	struct timespec nap = { 0, 10 * 1000 * 1000 };

	CHECK_EQ(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, sizeof(all)), 0);
	__atomic_store_n(&masked, true, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		if (arg)
			nanosleep(&nap, NULL);
	return NULL;
}

static int held_for_good(const char *name, bool sleeping, double bound)
{
	pthread_t th;
	double secs;
	int err;

	CHECK_EQ(pthread_create(&th, NULL, raw_masked, sleeping ? &th : NULL), 0);
	while (!__atomic_load_n(&masked, __ATOMIC_ACQUIRE))
		sched_yield();
	err = update(&secs);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("%s: update returned %d after %.3f s\n", name, err, secs);
#ifdef __GLIBC__
	if (sleeping) {
		CHECK_EQ(err, 0);
		CHECK(secs < 0.1);
		return 0;
	}
#endif
	CHECK_EQ(err, -EDEADLK);
	CHECK(secs < bound);
	return 0;
}

static int case_sleeping(void)
{
	return held_for_good("sleeping", true, 1.5);
}

static int case_spinning(void)
{
	return held_for_good("spinning", false, 5.0);
}

static void run_case(const char *name, int (*fn)(void), int *failed)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(30);
		exit(fn());
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: failed (status 0x%x)\n", name, status);
		*failed = 1;
	}
}

int main(void)
{
	int failed = 0;

	if (getenv("USTATIC_TRAPFREE"))
		SKIP("int3 is never used with USTATIC_TRAPFREE");
	run_case("starved", case_starved, &failed);
	run_case("sleeping", case_sleeping, &failed);
	run_case("spinning", case_spinning, &failed);
	return failed;
}
#endif
