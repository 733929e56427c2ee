/* SPDX-License-Identifier: MIT */
/*
 * Cross-core serialization: after it returns, every thread of the process
 * has executed a serializing instruction (Intel SDM 8.1.3) or a context
 * synchronization event (Arm ARM), so none runs stale code bytes.
 * membarrier(PRIVATE_EXPEDITED_SYNC_CORE), registered at start-up while
 * single-threaded, or a signal sent to every thread and acknowledged.
 */
#ifndef USTATIC_SYNC_H
#define USTATIC_SYNC_H

#include <stdbool.h>

/* Reads USTATIC_SYNC=auto|membarrier|signal, registers membarrier. */
void us_sync_init(void);

/* One serialization round on every thread. 0 or -errno (-ETIMEDOUT when a
 * thread did not acknowledge the signal in time; -EOPNOTSUPP when nothing
 * reaches other threads and some exist). A membarrier() that fails (denied
 * since start-up) switches to the signal broadcast for good, unless
 * USTATIC_SYNC or us_sync_force() chose it. */
int us_sync_cores(void);

/* Whether the process provably has no thread but the caller (glibc's
 * __libc_single_threaded; elsewhere one thread in /proc/self/task). */
bool us_alone(void);

/* Threads in the process from the link count of /proc/self/task (two
 * plus one per thread): one stat, no directory read; 0 if unreadable. */
unsigned long us_thread_links(void);

/* Number of threads in the process (from /proc/self/task), or -errno. */
int us_thread_count(void);

/* Whether sig is the signal the signal method uses. */
bool us_sync_owns_signal(int sig);

/* enum ustatic_sync_method; and a test hook to switch methods. */
int us_sync_method(void);
int us_sync_force(int method);

#endif
