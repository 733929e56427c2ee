/* SPDX-License-Identifier: MIT */
/*
 * SIGTRAP cannot be blocked, as glibc keeps its own internal signals
 * unblockable: the wrappers below remove it from every mask a thread or a
 * handler asks to block, then call libc's function. A thread that blocks
 * SIGTRAP dies of the first int3 it meets (the kernel forces the default
 * action), and POSIX leaves a blocked synchronous trap undefined, so no
 * correct program depends on blocking it; the common server idiom (block
 * every signal in every worker, take them with sigwait) then leaves int3
 * usable, and updates keep working.
 *
 * Built into libustatic.so only: a fully static program links libc's own
 * functions of these names, which the static archive could only clash
 * with. Programs that link the archive get the scan alone (sigmask.c).
 *
 * What they cannot see: raw rt_sigprocmask/rt_sigaction system calls,
 * setcontext()/swapcontext() with a mask holding SIGTRAP, pselect, ppoll
 * and epoll_pwait masks, a handler that edits the mask in its ucontext,
 * and calls that bind to libc directly (an object linked with a private
 * static copy of ustatic sees only its own calls). Those are caught by
 * the scan of every thread's mask, made again whenever the number of
 * threads or the epoch changed (see sigmask.c).
 *
 * Exported with the base version (src/libustatic.map), so that a
 * program's versioned reference (pthread_sigmask@GLIBC_2.32) binds to them
 * as to an LD_PRELOAD library's. USTATIC_SIGTRAP_BLOCKABLE=1 turns the
 * filter off; a mask that then blocks SIGTRAP moves the runtime's mask
 * epoch, so that the next batch reads every thread's mask again.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>

#include "debug.h"
#include "runtime.h"

#define US_EXPORT __attribute__((visibility("default")))

typedef int mask_fn(int, const sigset_t *, sigset_t *);
typedef int action_fn(int, const struct sigaction *, struct sigaction *);
typedef int suspend_fn(const sigset_t *);

/* Resolved at start-up (dlsym is not async-signal-safe, and these are
 * called from signal handlers), or at the first call if it comes before
 * our constructor; written once, the same value by any racing thread. */
static mask_fn *real_pthread_sigmask, *real_sigprocmask;
static action_fn *real_sigaction;
static suspend_fn *real_sigsuspend;
static bool keep_sigtrap_blockable;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor(101))) static void interpose_init(void)
{
	const char *e = getenv("USTATIC_SIGTRAP_BLOCKABLE");

	keep_sigtrap_blockable = e && atoi(e) > 0;
	real_pthread_sigmask = next("pthread_sigmask");
	real_sigprocmask = next("sigprocmask");
	real_sigaction = next("sigaction");
	real_sigsuspend = next("sigsuspend");
}

/* set, or a copy of it without SIGTRAP in *buf. */
static const sigset_t *filtered(const sigset_t *set, sigset_t *buf)
{
	if (!set || !sigismember(set, SIGTRAP))
		return set;
	if (keep_sigtrap_blockable) {
		/* Pairs with the acquire load in sigmask.c. */
		if (us_rt)
			__atomic_fetch_add(&us_rt->masks.epoch, 1, __ATOMIC_RELEASE);
		return set;
	}
	*buf = *set;
	sigdelset(buf, SIGTRAP);
	return buf;
}

static int change_mask(mask_fn **real, const char *name, int how,
		       const sigset_t *set, sigset_t *old)
{
	sigset_t buf;

	if (!*real)
		*real = next(name);
	return (*real)(how, how == SIG_UNBLOCK ? set : filtered(set, &buf), old);
}

US_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	return change_mask(&real_pthread_sigmask, "pthread_sigmask", how, set, old);
}

US_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	return change_mask(&real_sigprocmask, "sigprocmask", how, set, old);
}

US_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct sigaction a;

	if (!real_sigaction)
		real_sigaction = next("sigaction");
	if (!act)
		return real_sigaction(sig, act, old);
	a = *act;
	a.sa_mask = *filtered(&act->sa_mask, &a.sa_mask);
	return real_sigaction(sig, &a, old);
}

US_EXPORT int sigsuspend(const sigset_t *set)
{
	sigset_t buf;

	if (!real_sigsuspend)
		real_sigsuspend = next("sigsuspend");
	return real_sigsuspend(filtered(set, &buf));
}
