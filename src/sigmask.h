/* SPDX-License-Identifier: MIT */
/*
 * Who would die of an int3. The kernel delivers the SIGTRAP of an int3
 * forcibly: a thread that blocks SIGTRAP at that moment is killed, with the
 * whole process. Before placing int3 guards the engine asks here whether
 * any thread blocks SIGTRAP, or any handler blocks it while it runs.
 */
#ifndef USTATIC_SIGMASK_H
#define USTATIC_SIGMASK_H

#include <stdbool.h>

/* At start-up: whether libc's signal functions are libustatic.so's
 * wrappers (src/interpose.c), which lets the verdict below be cached. */
void us_sigmask_init(void);

/*
 * Whether an int3 could meet a blocked SIGTRAP: a
 * handler or a thread blocks it, or a mask cannot be read. The answer
 * "no" is cached in the runtime and read again only when the number of
 * threads or the runtime's mask epoch changed (src/interpose.c), so that
 * no batch reads every thread's mask (see sigmask.c for what that misses).
 */
bool us_sigtrap_may_be_blocked(void);

/* Whether a thread blocks SIGTRAP now, or its mask cannot be read (*who:
 * that thread, or 0 when the threads cannot be listed). libc's passing
 * start/exit masks are waited out while the thread can run (up to 2 s;
 * 200 ms asleep). */
bool us_sigtrap_blocked_by_thread(long *who);

/* A signal whose handler blocks SIGTRAP while it runs, or 0. */
int us_sigtrap_masked_by_handler(void);

#endif
