/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "lock.h"

struct us_lock us_registry_lock = US_LOCK_INIT("registry");
struct us_lock us_engine_lock = US_LOCK_INIT("engine");

/* Each thread's address of this is its identity. */
static __thread char self_tag;
/* Set before taking either lock and cleared after dropping it, so that a
 * signal handler on this thread sees it even if the signal arrived between
 * the mutex and the owner store. Only this thread and its handlers touch
 * it: a compiler barrier (signal fence) orders it, no atomics needed. */
static __thread volatile sig_atomic_t inside;

int us_lock(struct us_lock *l)
{
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == &self_tag ||
	    (l == &us_registry_lock && inside))
		return -EDEADLK;
	if (l == &us_registry_lock) {
		inside = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
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
	if (l == &us_registry_lock) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		inside = 0;
	}
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
