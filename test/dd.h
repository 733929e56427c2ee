/* SPDX-License-Identifier: MIT */
/*
 * Dynamic-debug test helpers: a site's flags as the control listing
 * shows them (us_dyndbg_list), and the lines a sink receives.
 */
#ifndef USTATIC_TEST_DD_H
#define USTATIC_TEST_DD_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <ustatic.h>

#include "dyndbg.h"
#include "test.h"

/* The generic build registers no object: no debug sites, no names. */
static inline void dd_need_registry(void)
{
#ifndef USTATIC_PATCHING
	SKIP("the generic build registers no object: no debug sites, no names");
#endif
}

/* t_run_self()'s status: 0 for success; skips where the test cannot run
 * itself again (qemu-user without binfmt_misc). */
static inline int dd_child(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		SKIP("cannot re-execute myself here (qemu-user without binfmt)");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct dd_find {
	char key[128];			/* "file.c:LINE " */
	char flags[16];
	int found;
};

static inline int dd_find_emit(void *ctx, const char *line)
{
	struct dd_find *f = ctx;
	const char *eq;

	if (strncmp(line, f->key, strlen(f->key)))
		return 0;
	f->found++;
	eq = strstr(line, " =");
	CHECK(eq);
	sscanf(eq + 2, "%15s", f->flags);
	return 0;
}

/* The flags ("p", "pfl", "_") of the site at file:line, or NULL. */
static inline const char *dd_flags(const char *file, int line)
{
	static __thread struct dd_find f;

	memset(&f, 0, sizeof(f));
	snprintf(f.key, sizeof(f.key), "%s:%d ", file, line);
	CHECK_EQ(us_dyndbg_list(dd_find_emit, &f), 0);
	return f.found ? f.flags : NULL;
}

/* Every listing line, concatenated (to compare before and after). */
static inline int dd_all_emit(void *ctx, const char *line)
{
	char **s = ctx;
	size_t n = *s ? strlen(*s) : 0;

	*s = realloc(*s, n + strlen(line) + 2);
	CHECK(*s);
	sprintf(*s + n, "%s\n", line);
	return 0;
}

static inline char *dd_listing(void)
{
	char *s = NULL;

	CHECK_EQ(us_dyndbg_list(dd_all_emit, &s), 0);
	return s ? s : strdup("");
}

/* A sink that keeps the last lines. */
#define DD_KEEP 64
struct dd_capture {
	pthread_mutex_t lock;
	char lines[DD_KEEP][1100];
	int n;
};

static inline void dd_capture_sink(void *ctx, const char *line, size_t len)
{
	struct dd_capture *c = ctx;

	pthread_mutex_lock(&c->lock);
	CHECK(len == strlen(line));
	snprintf(c->lines[c->n % DD_KEEP], sizeof(c->lines[0]), "%s", line);
	c->n++;
	pthread_mutex_unlock(&c->lock);
}

#endif
