/* SPDX-License-Identifier: MIT */
/*
 * Start-up, from a constructor while the process is still single-threaded:
 * membarrier registration costs ~14 us then and ~18 ms once a second thread
 * exists. Objects whose constructors run before ours call us_init() first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "debug.h"
#include "engine.h"
#include "init.h"
#include "registry.h"
#include "sync.h"
#include "trap.h"
#include "writer.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
	us_registry_lock();
	us_engine_lock();
}

static void after_fork_parent(void)
{
	us_engine_unlock();
	us_registry_unlock();
}

static void after_fork_child(void)
{
	us_writer_after_fork();
	us_engine_unlock();
	us_registry_unlock();
}

static void init_once(void)
{
	const char *d = getenv("USTATIC_DEBUG");

	us_debug = d && atoi(d) > 0;
	us_writer_init();
	us_sync_init();
	us_trap_init();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
	us_stats.write_method = us_writer_method();
	us_stats.sync_method = us_sync_method();
	us_log("init: write method %d, sync method %d", us_stats.write_method,
	       us_stats.sync_method);
}

int ustatic_get_stats(struct ustatic_stats *st)
{
	if (!st)
		return us_fail(-EINVAL, "ustatic_get_stats: NULL argument");
	us_init();
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*st = us_stats;
	st->write_method = us_writer_method();
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
}
