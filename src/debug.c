/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "dyndbg_core.h"

int us_debug;
struct ustatic_stats us_stats;

static void put(const char *buf, int n)
{
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

/*
 * A line printed lately (one of the last RECENT different ones) is not
 * printed again: a condition that every batch meets shows once, not once
 * per batch. How many times a line came is said when it is forgotten. A
 * thread that finds the lock taken just prints.
 */
#define RECENT 8
#define LINE 512

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct recent {
	char line[LINE];
	unsigned long repeats;
} recent[RECENT];			/* log_lock */
static unsigned int next_slot;		/* log_lock */

static void forget(struct recent *r)
{
	char note[LINE + 64];

	if (r->repeats)
		put(note, snprintf(note, sizeof(note), "ustatic: (%lu more "
			"times: %.*s)\n", r->repeats,
			(int)strcspn(r->line + 9, "\n"), r->line + 9));
	r->repeats = 0;
}

static void put_once(const char *buf, int n)
{
	struct recent *r;

	if (pthread_mutex_trylock(&log_lock)) {
		put(buf, n);
		return;
	}
	for (r = recent; r < recent + RECENT; r++)
		if (!strcmp(r->line, buf))
			break;
	if (r < recent + RECENT) {
		r->repeats++;
	} else {
		r = &recent[next_slot++ % RECENT];
		forget(r);
		memcpy(r->line, buf, (size_t)n + 1);
		put(buf, n);
	}
	pthread_mutex_unlock(&log_lock);
}

/* At exit, the counts of lines that came again since they were printed. */
__attribute__((destructor)) static void log_flush(void)
{
	if (!us_debug || pthread_mutex_trylock(&log_lock))
		return;
	for (struct recent *r = recent; r < recent + RECENT; r++)
		forget(r);
	pthread_mutex_unlock(&log_lock);
}

static void vlog(bool once, const char *fmt, va_list ap)
{
	char buf[LINE];
	int n;

	memcpy(buf, "ustatic: ", 9);
	n = vsnprintf(buf + 9, sizeof(buf) - 10, fmt, ap);
	if (n < 0)
		return;
	/* Room for the newline and the terminating NUL. */
	n = 9 + (n < (int)sizeof(buf) - 11 ? n : (int)sizeof(buf) - 11);
	buf[n++] = '\n';
	buf[n] = 0;
	if (once)
		put_once(buf, n);
	else
		put(buf, n);
}

void us_log(const char *fmt, ...)
{
	va_list ap;

	if (!us_debug)
		return;
	va_start(ap, fmt);
	vlog(true, fmt, ap);
	va_end(ap);
}

void us_log_each(const char *fmt, ...)
{
	va_list ap;

	if (!us_debug)
		return;
	va_start(ap, fmt);
	vlog(false, fmt, ap);
	va_end(ap);
}

int us_fail(int err, const char *what)
{
	us_log("%s: %s (-%d)", what, strerror(-err), -err);
	return err;
}

const char *us_write_method_name(int method)
{
	static const char *const names[] = { "none", "mprotect", "procmem" };

	return method >= 0 && method < 3 ? names[method] : "?";
}

const char *us_sync_method_name(int method)
{
	static const char *const names[] = { "none", "membarrier", "signal" };

	return method >= 0 && method < 3 ? names[method] : "?";
}

const char *us_symbol(const void *addr, char *buf, size_t size)
{
	Dl_info info;
	const char *name;

	if (us_names_find(addr, buf, size))
		return buf;
	if (!dladdr(addr, &info) || !info.dli_sname || info.dli_saddr != addr) {
		snprintf(buf, size, "%p", addr);
		return buf;
	}
	name = info.dli_sname;
	if (!strncmp(name, "__SCK__", 7))	/* a static call's key */
		name += 7;
	snprintf(buf, size, "%s", name);
	return buf;
}
