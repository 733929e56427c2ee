/* SPDX-License-Identifier: MIT */
/*
 * Signal masks that would make an int3 fatal, read from /proc (threads)
 * and sigaction() (handlers). See sigmask.h.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sigmask.h"
#include "sync.h"
#include "under_valgrind.h"

/*
 * What a thread's signal mask means for an int3. glibc (and musl) block
 * every signal while a thread starts or exits, their internal signals 32
 * and 33 included (an exiting glibc thread leaves 33 open); a mask set by
 * the application can hold neither, because pthread_sigmask() removes them.
 */
/* Ordered: a scan keeps the worst it saw. */
enum trap_mask { TRAP_OK, TRAP_BLOCKED_BRIEFLY, TRAP_BLOCKED };

#define SIG_BIT(n) (1ULL << ((n) - 1))
#define LIBC_INTERNAL_SIGNALS (SIG_BIT(32) | SIG_BIT(33))
#define BRIEF_MAX 64		/* threads in libc's transient state we follow */

/* Reads a signal mask line ("SigBlk:", "SigCgt:") of a /proc status
 * file into *mask; false if there is none (e.g. the thread has exited). */
static bool status_mask(const char *path, const char *field,
			unsigned long long *mask)
{
	char buf[2048], *l;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	l = strstr(buf, field);
	if (!l)
		return false;
	*mask = strtoull(l + strlen(field), NULL, 16);
	return true;
}

static enum trap_mask thread_trap_mask(long tid)
{
	char path[64];
	unsigned long long blocked;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
	if (!status_mask(path, "\nSigBlk:", &blocked) ||
	    !(blocked & SIG_BIT(SIGTRAP)))
		return TRAP_OK;
	return blocked & LIBC_INTERNAL_SIGNALS ? TRAP_BLOCKED_BRIEFLY : TRAP_BLOCKED;
}

/* Scans every thread; collects those in libc's transient state. */
static enum trap_mask scan_threads(long *brief, int *nbrief)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	enum trap_mask worst = TRAP_OK;

	*nbrief = 0;
	if (!d)
		return TRAP_OK;
	while (worst != TRAP_BLOCKED && (de = readdir(d))) {
		long tid = atol(de->d_name);
		enum trap_mask m = tid > 0 ? thread_trap_mask(tid) : TRAP_OK;

		if (m == TRAP_BLOCKED_BRIEFLY && *nbrief < BRIEF_MAX)
			brief[(*nbrief)++] = tid;
		if (m > worst)
			worst = m;
	}
	closedir(d);
	return worst;
}

/* Waits (up to ~200 ms) for the threads libc holds blocked to move on. */
static enum trap_mask wait_brief(long *brief, int n)
{
	for (int round = 0; n > 0 && round < 2000; round++) {
		int k = 0;

		usleep(100);
		for (int i = 0; i < n; i++) {
			enum trap_mask m = thread_trap_mask(brief[i]);

			if (m == TRAP_BLOCKED)
				return TRAP_BLOCKED;
			if (m == TRAP_BLOCKED_BRIEFLY)
				brief[k++] = brief[i];
		}
		n = k;
	}
	return n ? TRAP_BLOCKED_BRIEFLY : TRAP_OK;
}

/*
 * A handler whose sa_mask holds SIGTRAP blocks it while it runs: an int3
 * in code it calls would be fatal. Returns such a signal, or 0. Our own
 * sync-signal handler runs no patchable code.
 */
int us_sigtrap_masked_by_handler(void)
{
	/* SigCgt: the signals that have a handler, so only those are read. */
	unsigned long long caught;
	bool known = status_mask("/proc/self/status", "\nSigCgt:", &caught);

	for (int sig = 1; sig <= SIGRTMAX && sig <= 64; sig++) {
		struct sigaction sa;

		if (known && !(caught & SIG_BIT(sig)))
			continue;
		/* valgrind keeps the last real-time signal for itself. */
		if (sig == SIGTRAP || us_sync_owns_signal(sig) ||
		    (RUNNING_ON_VALGRIND && sig == SIGRTMAX) ||
		    sigaction(sig, NULL, &sa))
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (sigismember(&sa.sa_mask, SIGTRAP))
			return sig;
	}
	return 0;
}

bool us_sigtrap_blocked_by_thread(void)
{
	long brief[BRIEF_MAX];
	int nbrief;
	enum trap_mask m = scan_threads(brief, &nbrief);

	if (m == TRAP_BLOCKED_BRIEFLY)
		m = wait_brief(brief, nbrief);
	return m != TRAP_OK;
}
