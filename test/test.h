/* SPDX-License-Identifier: MIT */
/*
 * The harness every test includes: checks, skips, exit statuses, scaling,
 * its own path. Each test is its own executable: T_EXIT_PASS (0) passes,
 * T_EXIT_SKIP (77) skips, anything else (a crash included) fails.
 * Fixtures are in helpers.h.
 */
#ifndef USTATIC_TEST_H
#define USTATIC_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <unistd.h>

#define T_EXIT_PASS	0
#define T_EXIT_FAIL	1
#define T_EXIT_SKIP	77

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
		exit(T_EXIT_FAIL);					\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b) {						\
		fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
			__FILE__, __LINE__, #a, #b, __a, __b);		\
		exit(T_EXIT_FAIL);					\
	}								\
} while (0)

#define SKIP(...) do {							\
	fprintf(stderr, "skip: " __VA_ARGS__);				\
	fprintf(stderr, "\n");						\
	exit(T_EXIT_SKIP);						\
} while (0)

/* Long stress loops shrink under slow tools (valgrind, qemu, sanitizers). */
static inline long test_scale(long n)
{
	const char *s = getenv("USTATIC_TEST_SCALE");
	long div = s ? atol(s) : 1;
	return div > 1 ? (n / div > 0 ? n / div : 1) : n;
}

/*
 * The stress tests' bookkeeping: update s (1, 2, ...) selects target s % 4;
 * the updater publishes started = s before it and done = s after it
 * returns. A call that read done = d0 before it started and started = p1
 * after it ended may only have reached the targets of updates d0 ... p1.
 */
static inline bool test_in_window(long r, unsigned long d0, unsigned long p1)
{
	/*
	 * qemu-user retires its translations of patched code by rewriting
	 * its own host jumps without serializing other host cores, so another
	 * thread can run a stale translation briefly after an update returned
	 * (seen twice in AArch64 runs). qemu tests function, not ordering:
	 * there a result need only be one of the targets.
	 */
	if (getenv("USTATIC_TEST_QEMU"))
		return r >= 0 && r < 4;
	for (unsigned long s = d0; s <= p1 && s < d0 + 4; s++)
		if ((long)(s % 4) == r)
			return true;
	return false;
}

/* This executable's path; the test fails if it cannot be read. */
static inline void test_self_path(char *out, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", out, size - 1);

	CHECK(n > 0);
	out[n] = 0;
}

/* The path of `name` relative to this executable's directory, the build's
 * test/ directory (e.g. "libmo_plugin.so", "../libustatic.a"). */
static inline void test_beside_self(char *out, size_t size, const char *name)
{
	char self[PATH_MAX];

	test_self_path(self, sizeof(self));
	*strrchr(self, '/') = 0;
	CHECK(snprintf(out, size, "%s/%s", self, name) < (int)size);
}

/* qemu-user does not deliver the sync signal's broadcast: the signal
 * method of serialization cannot be tested there. */
static inline int test_signal_sync_ok(void)
{
	return !getenv("USTATIC_TEST_QEMU");
}

/* qemu-user does not see code written through /proc/self/mem. */
static inline int test_procmem_ok(void)
{
	return !getenv("USTATIC_TEST_NO_PROCMEM");
}

#endif
