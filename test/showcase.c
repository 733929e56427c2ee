/* SPDX-License-Identifier: MIT */
/*
 * The showcase (`make run`, examples/showcase*.c) builds with gcc and with
 * clang (each one installed) against this build's library, as its own
 * Makefile builds it, and its quick mode (SHOWCASE_QUICK=1) exits 0 with
 * every check passed and every part shown:
 *   - the live switching ran, with threads making calls, and no call that
 *     began after a switch returned missed it;
 *   - the call table has its three rows with numbers, the retpoline row
 *     included, and the retpoline build really has retpoline thunks;
 *   - the static key, switch cost and summary parts are there;
 *   - the last line says every check passed.
 * Timings are not judged: they are this machine's. Runs from the top of
 * the source tree, as every test does. About 5 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "helpers.h"
#include "test.h"

#define FMT(buf, ...)							\
	CHECK(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static int failed;

#define EXPECT(cond, ...) do {						\
	if (!(cond)) {							\
		printf("FAIL: " __VA_ARGS__);				\
		printf("\n");						\
		failed++;						\
	}								\
} while (0)

static int have(const char *cmd)
{
	char line[128];

	FMT(line, "command -v %s >/dev/null 2>&1", cmd);
	return system(line) == 0;
}

/* Runs a shell command with its output in log; 0 if it succeeded. */
static int sh(const char *cmd, const char *log)
{
	char line[8192];

	FMT(line, "( %s ) >%s 2>&1", cmd, log);
	return system(line);
}

static void show(const char *log)
{
	char cmd[PATH_MAX + 32];

	FMT(cmd, "sed 's/^/    | /' %s | tail -n 60", log);
	if (system(cmd))
		printf("could not show %s\n", log);
}

/* The whole of a file (at most size - 1 bytes), NUL-terminated. */
static char *slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return buf;
}

/* The number after `label` on the line where it first occurs, or -1. */
static long number_after(const char *text, const char *label)
{
	const char *p = strstr(text, label);

	return p ? strtol(p + strlen(label), NULL, 10) : -1;
}

/* Whether the row `label` of the call table has three numbers. */
static int row_has_numbers(const char *text, const char *label)
{
	const char *p = strstr(text, label);
	double a, b, c;

	return p && sscanf(p + strlen(label), "%lf %lf %lf", &a, &b, &c) == 3;
}

static void check_output(const char *cc, const char *text)
{
	const char *last = text + strlen(text);

	/* The last line. */
	while (last > text && last[-1] == '\n')
		last--;
	while (last > text && last[-1] != '\n')
		last--;
	EXPECT(!strncmp(last, "All ", 4) && strstr(last, "checks passed"),
	       "%s: the last line does not say every check passed: %s", cc, last);
	EXPECT(number_after(text, "switches made") > 0,
	       "%s: the live part made no switch", cc);
	EXPECT(number_after(text, "calls made and checked") > 0,
	       "%s: the live threads made no call", cc);
	EXPECT(strstr(text, "wrong results: 0\n"), "%s: wrong results", cc);
	EXPECT(strstr(text, "returned but did not see it: 0\n"),
	       "%s: calls missed a switch", cc);
	EXPECT(row_has_numbers(text, "ordinary build (-O2)"),
	       "%s: no ordinary build row", cc);
	EXPECT(row_has_numbers(text, "mispredicted pointer"),
	       "%s: no mispredicted pointer row", cc);
	EXPECT(row_has_numbers(text, "retpoline build"),
	       "%s: no retpoline build row", cc);
	EXPECT(strstr(text, "static key ") && strstr(text, "if (flag) "),
	       "%s: no static key part", cc);
	EXPECT(strstr(text, "static_call_update()") &&
	       strstr(text, "1 busy thread"), "%s: no switch cost part", cc);
	EXPECT(strstr(text, "ustatic pays") && strstr(text, "ustatic does not pay"),
	       "%s: no summary", cc);
}

static void one(const char *cc, const char *dir, const char *libdir)
{
	char out[PATH_MAX], log[PATH_MAX + 8], cmd[4 * PATH_MAX];
	static char text[1 << 16];
	double t0 = t_now();

	FMT(out, "%s/%s", dir, cc);
	FMT(log, "%s.log", out);
	/* Not the make that may have run this test: none of its flags. */
	FMT(cmd, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C examples "
	    "showcase CC=%s CFLAGS='-O2 -g' WERROR=1 B=%s O=%s", cc, libdir, out);
	if (sh(cmd, log)) {
		printf("%s: BUILD FAILED\n", cc);
		show(log);
		failed++;
		return;
	}
	/* The retpoline build: gcc's thunks, or clang's. */
	FMT(cmd, "nm %s/showcase_loops_hardened.o | "
	    "grep -q -e __x86_indirect_thunk -e __llvm_retpoline", out);
	EXPECT(sh(cmd, log) == 0, "%s: the retpoline build has no thunk", cc);

	FMT(cmd, "SHOWCASE_QUICK=1 timeout 60 %s/showcase", out);
	if (sh(cmd, log)) {
		printf("%s: the showcase FAILED\n", cc);
		show(log);
		failed++;
		return;
	}
	slurp(log, text, sizeof(text));
	check_output(cc, text);
	printf("%s: built and ran in %.1f s\n", cc, t_now() - t0);
	if (failed || getenv("VERBOSE"))
		show(log);
}

int main(void)
{
	static const char *const compilers[] = { "gcc", "clang" };
	char dir[] = "/tmp/ustatic-showcase-XXXXXX", libdir[PATH_MAX];
	char cmd[PATH_MAX + 16];
	int built = 0;

#ifndef __x86_64__
	SKIP("the showcase's retpoline build is x86-64 code");
#endif
	if (!T_PATCHES_CODE)
		SKIP("the showcase is built with the native (patching) header");
	if (access("examples/showcase.c", R_OK))
		SKIP("not run from the top of the source tree");
	if (!have("make") || !have("nm"))
		SKIP("needs make and nm");
	/* This build's library: this test lives in $(B)/test/. */
	test_beside_self(libdir, sizeof(libdir), "..");
	CHECK(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(compilers) / sizeof(compilers[0]); i++) {
		if (!have(compilers[i])) {
			printf("%s: not installed\n", compilers[i]);
			continue;
		}
		one(compilers[i], dir, libdir);
		built++;
	}
	FMT(cmd, "rm -rf %s", dir);
	if (system(cmd))
		printf("could not remove %s\n", dir);
	if (!built)
		SKIP("neither gcc nor clang is installed");
	if (failed) {
		printf("%d failures\n", failed);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}
