/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "debug.h"
#include "lock.h"

struct us_lock us_registry_lock = US_LOCK_INIT("registry");

/*
 * Set by us_enter() before anything else a public call does (taking a
 * lock, allocating) and cleared by us_leave() after the rest: a signal
 * handler on this thread that calls in meanwhile sees it. Kept in the
 * runtime's thread-specific key, so that a handler calling another copy
 * of the library sees it too (this copy's thread-local variable is the
 * fallback if no key could be made). Only this thread and its handlers
 * touch it: a compiler barrier (signal fence) orders it. glibc and musl
 * read and write a key made at start-up without locks or allocation.
 */
static __thread volatile sig_atomic_t inside_here;
/* The cancellation state us_enter() found, for us_leave(). */
static __thread int cancel_state;

static bool inside(void)
{
	if (us_rt->inside_key_ok)
		return pthread_getspecific(us_rt->inside_key) != NULL;
	return inside_here;
}

static void set_inside(bool in)
{
	if (us_rt->inside_key_ok)
		pthread_setspecific(us_rt->inside_key, in ? (void *)1 : NULL);
	else
		inside_here = in;
}

int us_enter(const char *who)
{
	if (inside()) {
		us_log("%s: called from a signal handler that interrupted a "
		       "ustatic call on the same thread: refused", who);
		US_COUNT(refused, 1);
		return -EDEADLK;
	}
	set_inside(true);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	/* A cancellation point inside (a /proc read, a nanosleep, a log
	 * write) would leave with the locks held. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	return 0;
}

int us_leave(int err)
{
	int ignored;

	pthread_setcancelstate(cancel_state, &ignored);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	set_inside(false);
	if (err)
		US_COUNT(refused, 1);
	return err;
}

int us_leave_cancelable(int err)
{
	err = us_leave(err);
	/* A cancellation that came while we held it off takes effect now,
	 * with nothing held: the function is a cancellation point at its
	 * return (a loop of updates can still be cancelled). */
	if (cancel_state == PTHREAD_CANCEL_ENABLE)
		pthread_testcancel();
	return err;
}

int us_lock(struct us_lock *l)
{
	pid_t self = gettid();

	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == self)
		return -EDEADLK;
	pthread_mutex_lock(&l->mutex);
	/* Relaxed: only compared against the reader's own tid, which no
	 * other thread ever stores. */
	__atomic_store_n(&l->owner, self, __ATOMIC_RELAXED);
	return 0;
}

void us_unlock(struct us_lock *l)
{
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->mutex);
}

bool us_lock_held(const struct us_lock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == gettid();
}

#ifdef US_LOCKDEP
void us_lock_assert_failed(const struct us_lock *l, const char *where)
{
	fprintf(stderr, "ustatic: %s: %s lock not held\n", where, l->name);
	abort();
}
#endif
