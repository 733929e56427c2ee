/* SPDX-License-Identifier: MIT */
/*
 * SIGTRAP cannot be blocked, as glibc keeps its own internal signals
 * unblockable: the wrappers below remove it from every mask a thread, a
 * new thread, a handler or a wait asks to block (pthread_sigmask,
 * sigprocmask, sigaction's sa_mask, sigsuspend, ppoll, pselect,
 * epoll_pwait, the old sighold/sigset/sigblock/sigsetmask, glibc's
 * epoll_pwait2 and pthread_attr_setsigmask_np), then call libc's. A
 * thread that blocks SIGTRAP dies of the first int3 it meets (the kernel
 * forces the default action), and POSIX leaves a blocked synchronous trap undefined, so no
 * correct program depends on blocking it; the common server idiom (block
 * every signal in every worker, take them with sigwait) then leaves int3
 * usable, and updates keep working.
 *
 * Built into libustatic.so only: a fully static program links libc's own
 * functions of these names, which the static archive could only clash
 * with. Programs that link the archive get the scan alone (sigmask.c).
 *
 * What they cannot see: raw rt_sigprocmask/rt_sigaction system calls,
 * setcontext()/swapcontext() with a mask holding SIGTRAP, a handler that
 * edits the mask in its ucontext, and calls that bind to libc directly:
 * every call when libustatic.so is not ahead of libc in the global scope
 * (loaded with dlopen, or only the static archive linked); sigmask.c then
 * reads every thread's mask before every batch that places an int3.
 *
 * Exported with the base version (src/libustatic.map), so that a
 * program's versioned reference (pthread_sigmask@GLIBC_2.32) binds to them
 * as to an LD_PRELOAD library's. USTATIC_SIGTRAP_BLOCKABLE=1 turns the
 * filter off; a mask that then blocks SIGTRAP moves the runtime's mask
 * epoch, so that the next batch reads every thread's mask again.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>

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
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *,
			 const sigset_t *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *,
			   const struct timespec *, const sigset_t *);
static int (*real_epoll_pwait)(int, struct epoll_event *, int, int,
			       const sigset_t *);
static int (*real_sighold)(int);
static sighandler_t (*real_sigset)(int, sighandler_t);
#ifdef __GLIBC__
static int (*real_sigblock)(int), (*real_sigsetmask)(int);
static int (*real_epoll_pwait2)(int, struct epoll_event *, int,
				const struct timespec *, const sigset_t *);
static int (*real_pthread_attr_setsigmask_np)(pthread_attr_t *, const sigset_t *);
#endif
static bool keep_sigtrap_blockable;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor(101))) static void interpose_init(void)
{
	const char *e = secure_getenv("USTATIC_SIGTRAP_BLOCKABLE");

	keep_sigtrap_blockable = e && atoi(e) > 0;
	real_pthread_sigmask = next("pthread_sigmask");
	real_sigprocmask = next("sigprocmask");
	real_sigaction = next("sigaction");
	real_sigsuspend = next("sigsuspend");
	real_ppoll = next("ppoll");
	real_pselect = next("pselect");
	real_epoll_pwait = next("epoll_pwait");
	real_sighold = next("sighold");
	real_sigset = next("sigset");
#ifdef __GLIBC__
	real_sigblock = next("sigblock");
	real_sigsetmask = next("sigsetmask");
	real_epoll_pwait2 = next("epoll_pwait2");
	real_pthread_attr_setsigmask_np = next("pthread_attr_setsigmask_np");
#endif
}

/* Whether a request to block SIGTRAP is let through: only with the filter
 * off, and then the runtime's mask epoch moves. */
static bool trap_blockable(void)
{
	if (!keep_sigtrap_blockable)
		return false;
	/* Pairs with the acquire load in sigmask.c. */
	if (us_rt)
		__atomic_fetch_add(&us_rt->masks.epoch, 1, __ATOMIC_RELEASE);
	return true;
}

/* set, or a copy of it without SIGTRAP in *buf. */
static const sigset_t *filtered(const sigset_t *set, sigset_t *buf)
{
	if (!set || !sigismember(set, SIGTRAP) || trap_blockable())
		return set;
	*buf = *set;
	sigdelset(buf, SIGTRAP);
	return buf;
}

/* libc's function, resolved at start-up or now; NULL (ENOSYS) if the C
 * library has none. */
#define REAL(name) (real_##name ? real_##name :				\
		    (real_##name = next(#name)))
#define CALL_REAL(name, ...) (REAL(name) ? real_##name(__VA_ARGS__) :	\
			      (errno = ENOSYS, -1))

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

US_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		    const sigset_t *set)
{
	sigset_t buf;

	return CALL_REAL(ppoll, fds, n, t, filtered(set, &buf));
}

US_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *t, const sigset_t *set)
{
	sigset_t buf;

	return CALL_REAL(pselect, n, r, w, e, t, filtered(set, &buf));
}

US_EXPORT int epoll_pwait(int fd, struct epoll_event *ev, int max, int ms,
			  const sigset_t *set)
{
	sigset_t buf;

	return CALL_REAL(epoll_pwait, fd, ev, max, ms, filtered(set, &buf));
}

US_EXPORT int sighold(int sig)
{
	if (sig == SIGTRAP && !trap_blockable())
		return 0;
	return CALL_REAL(sighold, sig);
}

/* sigset(SIGTRAP, SIG_HOLD) blocks it and returns the disposition. */
US_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
	struct sigaction cur;

	if (sig == SIGTRAP && disp == SIG_HOLD && !trap_blockable())
		return sigaction(SIGTRAP, NULL, &cur) ? SIG_ERR : cur.sa_handler;
	if (!REAL(sigset)) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	return real_sigset(sig, disp);
}

#ifdef __GLIBC__
/* The BSD masks: an int, bit sig - 1 for sig. */
static int int_mask(int mask)
{
	int bit = 1 << (SIGTRAP - 1);

	return (mask & bit) && !trap_blockable() ? mask & ~bit : mask;
}

US_EXPORT int sigblock(int mask)
{
	return CALL_REAL(sigblock, int_mask(mask));
}

US_EXPORT int sigsetmask(int mask)
{
	return CALL_REAL(sigsetmask, int_mask(mask));
}

US_EXPORT int epoll_pwait2(int fd, struct epoll_event *ev, int max,
			   const struct timespec *t, const sigset_t *set)
{
	sigset_t buf;

	return CALL_REAL(epoll_pwait2, fd, ev, max, t, filtered(set, &buf));
}

/* A new thread starts with this mask. */
US_EXPORT int pthread_attr_setsigmask_np(pthread_attr_t *attr,
					 const sigset_t *set)
{
	sigset_t buf;

	return CALL_REAL(pthread_attr_setsigmask_np, attr, filtered(set, &buf));
}
#endif
