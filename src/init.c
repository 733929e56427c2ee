/* SPDX-License-Identifier: MIT */
/*
 * Start-up, from a constructor while the process is still single-threaded:
 * membarrier registration costs ~14 us then and ~18 ms once a second thread
 * exists. Objects whose constructors run before ours call us_init() first.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "control.h"
#include "debug.h"
#include "init.h"
#include "lock.h"
#include "runtime.h"
#include "sigmask.h"
#include "sync.h"
#include "trap.h"
#include "writer.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

/*
 * fork() takes every lock, in order, so a child never inherits a batch
 * half done. A fork from a signal handler that interrupted an update on
 * the forking thread cannot wait for it: it forks without that lock (the
 * child then must not update, as with any lock a handler interrupts).
 *
 * Each copy of the library takes its own registry lock; the engine lock is
 * the runtime's, one for all copies, and is taken last, by the copy that
 * created the runtime: pthread_atfork() runs prepare handlers in the
 * reverse order of their registration, and that copy registers the engine
 * lock's handlers before its own and before any other copy starts. So the
 * order is every registry lock, then the engine lock, as everywhere.
 */
static __thread bool registry_locked, engine_locked;

static void before_fork(void)
{
	registry_locked = !us_lock(&us_registry_lock);
}

static void after_fork_parent(void)
{
	if (registry_locked)
		us_unlock(&us_registry_lock);
}

static void after_fork_child(void)
{
	us_writer_after_fork();
	after_fork_parent();
}

static void engine_before_fork(void)
{
	engine_locked = !us_lock(&us_engine_lock);
}

static void engine_after_fork(void)
{
	if (engine_locked)
		us_unlock(&us_engine_lock);
}

/*
 * The library stays loaded once it started: its SIGTRAP handler, its
 * atfork handlers and its transactions' thread-specific destructor point
 * into it, and a dlclose that unmapped it (a plugin that linked
 * libustatic.so, or the static archive, into a host that does not use
 * ustatic) would leave them pointing at nothing. So the object holding
 * this code is made RTLD_NODELETE, as `-z nodelete` would at link time,
 * which a static copy inside a plugin cannot get otherwise.
 */
static int in_main_program(struct dl_phdr_info *info, size_t size US_UNUSED,
			   void *arg)
{
	uintptr_t at = (uintptr_t)arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && at >= s && at < s + ph->p_memsz)
			return 1;
	}
	return -1;		/* the main program comes first: stop there */
}

static void stay_resident(void)
{
	Dl_info info;

	/* The executable itself is never unloaded. */
	if (dl_iterate_phdr(in_main_program, (void *)stay_resident) == 1)
		return;
	if (!dladdr((void *)stay_resident, &info) || !info.dli_fname ||
	    !dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE))
		us_log("init: cannot pin the library in memory: unloading the "
		       "object that holds it would break signal handling");
}

static void init_once(void)
{
	const char *d = secure_getenv("USTATIC_DEBUG");

	us_debug = d && atoi(d) > 0;
	if (us_runtime_init() != 0)
		pthread_atfork(engine_before_fork, engine_after_fork,
			       engine_after_fork);
	stay_resident();
	us_writer_init();
	us_sync_init();
	us_trap_init();
	us_sigmask_init();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	us_stats.write_method = us_writer_method();
	us_stats.sync_method = us_sync_method();
	us_log("init: write method %s, sync method %s",
	       us_write_method_name(us_stats.write_method),
	       us_sync_method_name(us_stats.sync_method));
}

int ustatic_get_stats(struct ustatic_stats *st)
{
	if (!st)
		return us_fail(-EINVAL, "ustatic_get_stats: NULL argument");
	us_init();
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*st = us_stats;
	st->write_method = us_runtime_foreign() ? USTATIC_WRITE_NONE :
						  us_writer_method();
	st->sync_method = us_sync_method();
	return 0;
}

void us_init(void)
{
	pthread_once(&once, init_once);
}

__attribute__((constructor(101))) static void ustatic_constructor(void)
{
	us_init();
	us_control_from_env();	/* after us_init(): not inside its once */
}
