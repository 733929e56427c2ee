/* SPDX-License-Identifier: MIT */
/*
 * What an enabled debug site prints, and where: one line, built on the
 * stack (DD_LINE bytes at most: a longer one is cut and ends with
 * TRUNCATED), then handed whole to the sink, or to stderr with one
 * write(2), so that lines of several threads never interleave (a write
 * to a pipe or terminal of less than PIPE_BUF bytes is atomic).
 *
 * The sink is swapped under sink_lock (a read-write lock): printing holds
 * it for reading around the sink's call, ustatic_dyndbg_set_sink() for
 * writing. So once set_sink returns, no thread is still inside the old
 * sink, and its context may be freed. Writers are preferred where the C
 * library lets us choose (glibc), so that a stream of prints cannot
 * starve a swap. A sink that prints from a debug site itself writes to
 * stderr (in_sink), and cannot swap the sink (-EDEADLK). Cancellation is
 * held off while printing: a sink that is a cancellation point (syslog)
 * must not leave with the lock held. A fork child starts the lock afresh.
 * Not async-signal-safe (vsnprintf).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "dyndbg_core.h"

#define DD_LINE 1024
#define TRUNCATED " [...truncated]"

typedef void sink_fn(void *ctx, const char *line, size_t len);

static pthread_rwlock_t sink_lock;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;
static sink_fn *sink;			/* sink_lock */
static void *sink_ctx;			/* sink_lock */
static __thread bool in_sink;

static void lock_init(void)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
	pthread_rwlockattr_setkind_np(&a,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&sink_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

/*
 * A fork child has only the forking thread: readers that were inside a
 * sink, or a swap waiting, in other threads of the parent never leave the
 * child's copy of the lock, which would then block its swaps (and, behind
 * a waiting writer, its prints) forever. The child starts it afresh; the
 * forking thread itself was not printing (fork is not called from a sink).
 */
static void after_fork_child(void)
{
	lock_init();
}

static void sink_init(void)
{
	lock_init();
	pthread_atfork(NULL, NULL, after_fork_child);
}

/* The kernel's prefix: "[tid] module:func:line: ". */
static size_t decorate(const struct ustatic_dbg_site *s, unsigned int f,
		       char *buf, size_t size)
{
	size_t n = 0;
	int w;

	if (f & US_DD_T) {
		w = snprintf(buf, size, "[%d] ", (int)gettid());
		n += w > 0 ? (size_t)w : 0;
	}
	if (f & US_DD_M) {
		w = snprintf(buf + n, size - n, "%s:",
			     s->module ? s->module : "?");
		n += w > 0 ? (size_t)w : 0;
	}
	if (n < size && (f & US_DD_F)) {
		w = snprintf(buf + n, size - n, "%s:", s->func);
		n += w > 0 ? (size_t)w : 0;
	}
	if (n < size && (f & US_DD_L)) {
		w = snprintf(buf + n, size - n, "%u:", s->line);
		n += w > 0 ? (size_t)w : 0;
	}
	if (n < size && (f & (US_DD_M | US_DD_F | US_DD_L)))
		buf[n++] = ' ';
	return n < size ? n : size - 1;
}

static void emit(char *buf, size_t len)
{
	pthread_once(&sink_once, sink_init);
	if (!in_sink) {
		pthread_rwlock_rdlock(&sink_lock);
		if (sink) {
			in_sink = true;
			sink(sink_ctx, buf, len);
			in_sink = false;
			pthread_rwlock_unlock(&sink_lock);
			return;
		}
		pthread_rwlock_unlock(&sink_lock);
	}
	buf[len++] = '\n';			/* room was kept for it */
	if (write(STDERR_FILENO, buf, len) < 0)
		return;
}

void ustatic_dyndbg_print(struct ustatic_dbg_site *site, const char *fmt, ...)
{
	char buf[DD_LINE + 1];			/* + the newline */
	unsigned int f = __atomic_load_n(&site->flags, __ATOMIC_RELAXED);
	int saved = errno, cancel, w;
	size_t n, room = DD_LINE - 1;		/* - the NUL */
	va_list ap;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	n = decorate(site, f, buf, room);
	errno = saved;				/* for %m */
	va_start(ap, fmt);
	w = vsnprintf(buf + n, DD_LINE - n, fmt, ap);
	va_end(ap);
	if (w < 0)
		w = 0;
	if ((size_t)w > DD_LINE - 1 - n) {
		n = DD_LINE - 1 - (sizeof(TRUNCATED) - 1);
		memcpy(buf + n, TRUNCATED, sizeof(TRUNCATED));
		n += sizeof(TRUNCATED) - 1;
	} else {
		n += (size_t)w;
		if (n && buf[n - 1] == '\n')	/* pr_debug("...\n") */
			buf[--n] = 0;
	}
	emit(buf, n);
	pthread_setcancelstate(cancel, &w);
	errno = saved;
}

int ustatic_dyndbg_set_sink(void (*fn)(void *ctx, const char *line,
				       size_t len), void *ctx)
{
	if (in_sink)
		return us_fail(-EDEADLK, "ustatic_dyndbg_set_sink: called "
			       "from inside the sink");
	pthread_once(&sink_once, sink_init);
	pthread_rwlock_wrlock(&sink_lock);
	sink = fn;
	sink_ctx = fn ? ctx : NULL;
	pthread_rwlock_unlock(&sink_lock);
	return 0;
}
