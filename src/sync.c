/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "debug.h"
#include "sync.h"

#define ACK_TIMEOUT_NS 1000000000L

static int method = USTATIC_SYNC_NONE;
static int membarrier_ok;
static int sync_signal;
static unsigned long acks;	/* incremented by every acknowledging thread */

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

static void register_membarrier(void)
{
	int q = membarrier(MEMBARRIER_CMD_QUERY);

	if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)) {
		us_log("sync: membarrier SYNC_CORE not available");
		return;
	}
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) {
		us_log("sync: membarrier registration refused: %s", strerror(errno));
		return;
	}
	membarrier_ok = 1;
}

static void on_sync_signal(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	us_arch_serialize();
	__atomic_fetch_add(&acks, 1, __ATOMIC_RELEASE);
}

static int install_signal(void)
{
	struct sigaction sa;
	const char *e = getenv("USTATIC_SYNC_SIGNAL");

	if (sync_signal)
		return 0;
	sync_signal = e ? atoi(e) : SIGRTMAX - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sync_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	if (sigaction(sync_signal, &sa, NULL)) {
		sync_signal = 0;
		return -errno;
	}
	return 0;
}

void us_sync_init(void)
{
	const char *e = getenv("USTATIC_SYNC");

	register_membarrier();
	if (e && !strcmp(e, "signal"))
		method = USTATIC_SYNC_SIGNAL;
	else if (e && !strcmp(e, "membarrier") && !membarrier_ok)
		method = USTATIC_SYNC_NONE;
	else
		method = membarrier_ok ? USTATIC_SYNC_MEMBARRIER : USTATIC_SYNC_SIGNAL;
	if (method == USTATIC_SYNC_SIGNAL && install_signal())
		method = USTATIC_SYNC_NONE;
}

bool us_sync_owns_signal(int sig)
{
	return sync_signal && sig == sync_signal;
}

int us_sync_method(void)
{
	return method;
}

int us_sync_force(int m)
{
	if (m == USTATIC_SYNC_MEMBARRIER && !membarrier_ok)
		return -EINVAL;
	if (m == USTATIC_SYNC_SIGNAL && install_signal())
		return -EINVAL;
	method = m;
	return 0;
}

/* Calls fn(tid) for every thread but the caller; returns how many or -errno. */
static int for_each_other_thread(int (*fn)(pid_t tid))
{
	DIR *d = opendir("/proc/self/task");
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || tid == self)
			continue;
		if (!fn || fn(tid) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int us_thread_count(void)
{
	int n = for_each_other_thread(NULL);

	return n < 0 ? n : n + 1;
}

static int send_sync_signal(pid_t tid)
{
	return (int)syscall(SYS_tgkill, getpid(), tid, sync_signal);
}

static long elapsed_ns(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

/*
 * Signal broadcast: every other thread runs a serializing instruction in
 * its handler and acknowledges. A thread that blocks the signal, or exits
 * before handling it, never acknowledges: the round times out.
 */
static int sync_by_signal(void)
{
	unsigned long start = __atomic_load_n(&acks, __ATOMIC_ACQUIRE);
	struct timespec t0;
	int sent;

	us_arch_serialize();
	sent = for_each_other_thread(send_sync_signal);
	if (sent < 0)
		return sent;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&acks, __ATOMIC_ACQUIRE) - start < (unsigned long)sent) {
		if (elapsed_ns(&t0) > ACK_TIMEOUT_NS)
			return us_fail(-ETIMEDOUT, "sync: a thread did not "
				       "acknowledge the sync signal (blocked?)");
		sched_yield();
	}
	return 0;
}

int us_sync_cores(void)
{
	int err = 0;

	switch (method) {
	case USTATIC_SYNC_MEMBARRIER:
		if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
			err = us_fail(-errno, "sync: membarrier");
		break;
	case USTATIC_SYNC_SIGNAL:
		err = sync_by_signal();
		break;
	default:
		/* No way to reach other cores: only safe single-threaded. */
		if (us_thread_count() != 1)
			return us_fail(-EOPNOTSUPP, "sync: no cross-core "
				       "serialization and other threads exist");
		us_arch_serialize();
	}
	if (!err)
		US_COUNT(sync_rounds, 1);
	return err;
}
