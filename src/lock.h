/* SPDX-License-Identifier: MIT */
/*
 * The library's two mutexes, with an owner so that code changing guarded
 * state can assert the lock (the kernel's lockdep_assert_held) and so that
 * a signal handler that interrupted its own thread inside the lock gets
 * -EDEADLK instead of a deadlock.
 *
 * Lock order: us_registry_lock -> us_engine_lock. Nothing else nests.
 *   us_registry_lock  this copy's objects and their tables, every
 *                     trampoline's and key's patched state, key->func and
 *                     key counts in their slow paths (src/registry.c,
 *                     static_call.c, static_key.c). One per copy of the
 *                     library: each copy patches the objects registered
 *                     with it.
 *   us_engine_lock    the batch being applied: the trap handler's published
 *                     view, the writer's window (src/engine.c, trap.c,
 *                     writer.c, sync.c). One per process, in the runtime
 *                     (src/runtime.h), shared by every copy: at most one
 *                     batch is ever applied at a time.
 */
#ifndef USTATIC_LOCK_H
#define USTATIC_LOCK_H

#include <pthread.h>
#include <stdbool.h>

#include "runtime.h"

#define US_LOCK_INIT(n) { PTHREAD_MUTEX_INITIALIZER, 0, n }

extern struct us_lock us_registry_lock;
#define us_engine_lock (us_rt->engine_lock)

/*
 * Every public call that changes anything runs between us_enter() and
 * us_leave(). us_enter() returns -EDEADLK (and logs it) when this thread
 * is already inside one, of any copy of the library: a signal handler
 * interrupted it, and waiting for it (a lock, malloc's arena lock) would
 * never end. It also holds off
 * thread cancellation until us_leave(), which counts a failed call in
 * `refused` and returns err.
 */
int us_enter(const char *who);
int us_leave(int err);
/* us_leave(), then a cancellation point (for the calls a program makes;
 * not for object registration, which runs inside dlopen). */
int us_leave_cancelable(int err);

/* 0, or -EDEADLK when this thread already holds it. */
int us_lock(struct us_lock *l);
void us_unlock(struct us_lock *l);
bool us_lock_held(const struct us_lock *l);

/* Debug builds (USTATIC_LOCKDEP, and every sanitizer build) check that
 * guarded state changes only under its lock. */
#if defined(USTATIC_LOCKDEP) || defined(__SANITIZE_ADDRESS__) || \
    defined(__SANITIZE_THREAD__)
#define US_LOCKDEP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define US_LOCKDEP 1
#endif
#endif

#ifdef US_LOCKDEP
void us_lock_assert_failed(const struct us_lock *l, const char *where);
#define us_assert_held(l) do {						\
	if (!us_lock_held(l))						\
		us_lock_assert_failed(l, __func__);			\
} while (0)
#else
#define us_assert_held(l) ((void)(l))
#endif

#endif
