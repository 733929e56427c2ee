/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"

int us_debug;
struct ustatic_stats us_stats;

void us_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (!us_debug)
		return;
	memcpy(buf, "ustatic: ", 9);
	va_start(ap, fmt);
	n = vsnprintf(buf + 9, sizeof(buf) - 10, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = 9 + (n < (int)sizeof(buf) - 10 ? n : (int)sizeof(buf) - 10);
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
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
