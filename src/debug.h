/* SPDX-License-Identifier: MIT */
/* Diagnostics (USTATIC_DEBUG=1) and the counters behind ustatic_get_stats(). */
#ifndef USTATIC_DEBUG_H
#define USTATIC_DEBUG_H

#define USTATIC_BUILDING_LIBRARY 1
#include <ustatic.h>

#define US_HIDDEN __attribute__((visibility("hidden")))

extern US_HIDDEN int us_debug;
extern US_HIDDEN struct ustatic_stats us_stats;

/* Message to stderr when USTATIC_DEBUG=1; async-signal-safe (no stdio). */
US_HIDDEN void us_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, printed every time: the answer to one call of the program's
 * (a malformed query), not a condition every batch meets. */
US_HIDDEN void us_log_each(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logs "what: strerror(-err)" and returns err, for `return us_fail(...)`. */
US_HIDDEN int us_fail(int err, const char *what);

/* "mprotect", "procmem", ...: for messages. */
US_HIDDEN const char *us_write_method_name(int method);
US_HIDDEN const char *us_sync_method_name(int method);

/* The name of a key or static call as recorded at its definition, else
 * of the symbol at addr (dladdr: needs -rdynamic), else the address; for
 * messages. */
US_HIDDEN const char *us_symbol(const void *addr, char *buf, size_t size);

#define US_UNUSED __attribute__((unused))

#define US_COUNT(field, n) \
	__atomic_fetch_add(&us_stats.field, (n), __ATOMIC_RELAXED)

#endif
