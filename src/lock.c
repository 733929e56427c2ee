/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "debug.h"
#include "lock.h"

struct us_lock us_registry_lock = US_LOCK_INIT("registry");
struct us_lock us_engine_lock = US_LOCK_INIT("engine");

/* Each thread's address of this is its identity. */
static __thread char self_tag;
/* Set by us_enter() before anything else a public call does (taking a
 * lock, allocating) and cleared by us_leave() after the rest: a signal
 * handler on this thread that calls in meanwhile sees it. Only this thread
 * and its handlers touch it: a compiler barrier (signal fence) orders it. */
static __thread volatile sig_atomic_t inside;
/* The cancellation state us_enter() found, for us_leave(). */
static __thread int cancel_state;

int us_enter(const char *who)
{
	if (inside) {
		us_log("%s: called from a signal handler that interrupted a "
		       "ustatic call on the same thread: refused", who);
		US_COUNT(refused, 1);
		return -EDEADLK;
	}
	inside = 1;
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
	inside = 0;
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
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == &self_tag)
		return -EDEADLK;
	pthread_mutex_lock(&l->mutex);
	/* Relaxed: only compared against the reader's own tag, which no
	 * other thread ever stores. */
	__atomic_store_n(&l->owner, &self_tag, __ATOMIC_RELAXED);
	return 0;
}

void us_unlock(struct us_lock *l)
{
	__atomic_store_n(&l->owner, NULL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->mutex);
}

bool us_lock_held(const struct us_lock *l)
{
	return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == &self_tag;
}

#ifdef US_LOCKDEP
void us_lock_assert_failed(const struct us_lock *l, const char *where)
{
	fprintf(stderr, "ustatic: %s: %s lock not held\n", where, l->name);
	abort();
}
#endif
