/* SPDX-License-Identifier: MIT */
/*
 * Minimal helpers shared by the tests. Each test is its own executable:
 * exit 0 passes, 77 skips, anything else (including a crash) fails.
 */
#ifndef USTATIC_TEST_H
#define USTATIC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define T_SKIP 77

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		exit(1);						\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b) {						\
		fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
			__FILE__, __LINE__, #a, #b, __a, __b);		\
		exit(1);						\
	}								\
} while (0)

#define SKIP(...) do {							\
	fprintf(stderr, "skip: " __VA_ARGS__);				\
	fprintf(stderr, "\n");						\
	exit(T_SKIP);							\
} while (0)

/* Long stress loops shrink under slow tools (valgrind, qemu, sanitizers). */
static inline long test_scale(long n)
{
	const char *s = getenv("USTATIC_TEST_SCALE");
	long div = s ? atol(s) : 1;
	return div > 1 ? (n / div > 0 ? n / div : 1) : n;
}

/* qemu-user does not see code written through /proc/self/mem. */
static inline int test_procmem_ok(void)
{
	return !getenv("USTATIC_TEST_NO_PROCMEM");
}

#endif
