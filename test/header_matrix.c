/* SPDX-License-Identifier: MIT */
/*
 * The public header compiles, and its sites work, wherever C and C++
 * compile. Builds test/census/matrix_*.c (a library of two translation
 * units with C++ inline functions and templates, or their C equivalents,
 * and a main program) and runs it, in modes drawn from six dimensions:
 *
 *   compiler   gcc, g++, clang, clang++ (C and C++)
 *   link       -fPIC shared library + PIE main, PIE, non-PIE, -static
 *   opt        -O0, -O1, -O2, -O3
 *   visibility default, -fvisibility=hidden
 *   model      -mcmodel=small, -mcmodel=large
 *   lto        none, -flto
 *
 * The full product is 512 builds. We build a covering array of strength
 * 3 instead: every combination of values of any three dimensions occurs
 * in some build (about 70), chosen greedily after the modes that failed
 * before (C++ inline functions and templates in a default-visibility
 * shared object, gcc with -mcmodel=large). A compiler that is not
 * installed, or does not build for this build's C library, skips its
 * builds (t_cc(): a musl build runs gcc's as musl-gcc, without C++).
 *
 * Then static branches on a pointer parameter and on a key local to main
 * must be compile errors in C and in C++ (test/census/matrix_bad.c), and
 * the same program on a global key must compile and run.
 *
 * About 20 s on two idle cores; every program run is limited to 30 s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "helpers.h"
#include "test.h"

/* Formats into the array buf; fails the test if it does not fit. */
#define FMT(buf, ...)							\
	CHECK(snprintf(buf, sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

enum { CC, LINK, OPT, VIS, MODEL, LTO, NDIM };

/* Each dimension's values; the first is the plainest. */
static const char *const dims[NDIM][5] = {
	{ "gcc", "g++", "clang", "clang++" },
	{ "shared", "pie", "nopie", "static" },
	{ "-O0", "-O1", "-O2", "-O3" },
	{ "-", "hidden" },
	{ "-", "large" },
	{ "-", "lto" },
};

static int nvals(int d)
{
	int n = 0;

	while (n < 5 && dims[d][n])
		n++;
	return n;
}

/* A build: one value index per dimension. */
struct build {
	int v[NDIM];
};

/* The modes that failed before: built first, whatever the greedy choice. */
static const struct build seeds[] = {
	{ { 1, 0, 0, 0, 0, 0 } },	/* g++ shared -O0 */
	{ { 3, 0, 2, 0, 0, 0 } },	/* clang++ shared -O2 */
	{ { 0, 1, 2, 0, 1, 0 } },	/* gcc pie -O2 large */
	{ { 1, 0, 2, 0, 1, 1 } },	/* g++ shared -O2 large lto */
	{ { 3, 0, 0, 1, 1, 0 } },	/* clang++ shared -O0 hidden large */
};

/*
 * Covered value triples: for each of the C(6,3) = 20 triples of
 * dimensions, one bit per combination of their values (at most 4*4*4).
 */
static uint64_t covered[20];

/* How many of b's value triples are not yet covered; marks them in mark
 * (if not NULL). */
static int triples(const struct build *b, uint64_t *mark)
{
	int t = 0, fresh = 0;

	for (int i = 0; i < NDIM; i++)
		for (int j = i + 1; j < NDIM; j++)
			for (int k = j + 1; k < NDIM; k++, t++) {
				int bit = (b->v[i] * nvals(j) + b->v[j]) *
					  nvals(k) + b->v[k];
				uint64_t m = (uint64_t)1 << bit;

				fresh += !(covered[t] & m);
				if (mark)
					mark[t] |= m;
			}
	return fresh;
}

/* Fills out[] with a strength-3 covering array, seeds first; its size. */
static size_t plan(struct build *out, size_t max)
{
	size_t n = 0, total = 1;

	for (int d = 0; d < NDIM; d++)
		total *= nvals(d);
	for (; n < sizeof(seeds) / sizeof(seeds[0]); n++) {
		out[n] = seeds[n];
		triples(&out[n], covered);
	}
	for (;;) {
		struct build best = { { 0 } };
		int most = 0;

		/* Every build, in order (the first dimension varies slowest):
		 * the first that covers the most new triples. */
		for (size_t c = 0; c < total; c++) {
			struct build b;
			size_t r = c;
			int f;

			for (int d = NDIM - 1; d >= 0; d--) {
				b.v[d] = r % nvals(d);
				r /= nvals(d);
			}
			f = triples(&b, NULL);
			if (f > most) {
				most = f;
				best = b;
			}
		}
		if (!most)
			return n;
		CHECK(n < max);
		out[n++] = best;
		triples(&best, covered);
	}
}

static int defined_x86_64(void)
{
#ifdef __x86_64__
	return 1;
#else
	return 0;
#endif
}

/* Each compiler's command for this build (t_cc()), or why it has none. */
static char cc_cmd[4][64];
static const char *cc_none[4];

static int is_cxx(const char *cc)
{
	return strstr(cc, "++") != NULL;
}

/* Runs cmd through the shell, its output to log (appended); 0 or not. */
static int sh(const char *cmd, const char *log)
{
	char full[8192];

	FMT(full, "(%s) >>%s 2>&1", cmd, log);
	return system(full);
}

/* Prints the last lines of log, indented, and empties it. */
static void show(const char *log)
{
	char cmd[PATH_MAX + 64];

	FMT(cmd, "tail -n 12 %s | sed 's/^/    /'; : >%s", log, log);
	if (system(cmd))
		fprintf(stderr, "could not show %s\n", log);
}

/* Builds and runs one row; 0 if its program printed "ok". */
static int one(const struct build *b, const char *dir, const char *libdir,
	       const char *generic, const char *log)
{
	char flags[512], cmd[4096], lib[PATH_MAX + 64];
	const char *cc = cc_cmd[b->v[CC]], *link = dims[LINK][b->v[LINK]];
	const char *lang = is_cxx(dims[CC][b->v[CC]]) ? "-x c++" : "-x c";
	const char *pic = "", *exe = "";
	int shared = !strcmp(link, "shared");

	if (!strcmp(link, "nopie"))
		pic = "-fno-pie", exe = "-no-pie";
	else if (!strcmp(link, "static"))
		exe = "-static";
	else
		pic = "-fPIE", exe = "-pie";	/* pie, and shared's main */
	FMT(flags, "%s %s %s %s %s -Wall -Wextra -Werror -Iinclude -Itest/census",
	    dims[OPT][b->v[OPT]], b->v[VIS] ? "-fvisibility=hidden" : "",
	    b->v[MODEL] ? "-mcmodel=large" : "", b->v[LTO] ? "-flto" : "",
	    generic);

	for (int tu = 1; tu <= 2; tu++) {
		FMT(cmd, "%s %s %s -DMATRIX_TU=%d -c %s "
		    "test/census/matrix_lib.c -o %s/lib%d.o", cc, flags,
		    shared ? "-fPIC" : pic, tu, lang, dir, tu);
		if (sh(cmd, log))
			return -1;
	}
	if (shared) {
		/* One copy of the library per process: both link the .so. */
		FMT(cmd, "%s %s -shared %s/lib1.o %s/lib2.o -o %s/libmatrix.so "
		    "-L%s -lustatic -Wl,-rpath,%s", cc, flags, dir, dir, dir,
		    libdir, libdir);
		if (sh(cmd, log))
			return -1;
		FMT(lib, "-L%s -lmatrix -L%s -lustatic -Wl,-rpath,%s:%s",
		    dir, libdir, dir, libdir);
	} else {
		FMT(lib, "%s/lib1.o %s/lib2.o %s/libustatic.a", dir, dir, libdir);
	}
	FMT(cmd, "%s %s %s %s %s test/census/matrix_main.c -x none %s "
	    "-lpthread -ldl -o %s/prog", cc, flags, pic, exe, lang, lib, dir);
	if (sh(cmd, log))
		return -1;
	FMT(cmd, "timeout 30 %s/prog | grep -qx ok", dir);
	return sh(cmd, log) ? -2 : 0;
}

/*
 * matrix_bad.c with MATRIX_BAD=bad as C or C++: 0 if it compiled (and,
 * for bad == 0, ran), 1 if the compiler refused it, saying "constant".
 */
static int bad_build(int c, int bad, const char *dir, const char *libdir,
		     const char *generic, const char *log)
{
	char cmd[4096];

	FMT(cmd, "%s -O2 -Wall -Wextra -Iinclude %s -DMATRIX_BAD=%d %s "
	    "test/census/matrix_bad.c -x none %s/libustatic.a -lpthread -ldl "
	    "-o %s/bad", cc_cmd[c], generic, bad,
	    is_cxx(dims[CC][c]) ? "-x c++" : "-x c", libdir, dir);
	if (sh(cmd, log)) {
		FMT(cmd, "grep -q constant %s", log);
		return sh(cmd, "/dev/null") ? 2 : 1;
	}
	FMT(cmd, "timeout 30 %s/bad", dir);
	return sh(cmd, log) ? 3 : 0;
}

int main(void)
{
	static struct build builds[512];
	char dir[] = "/tmp/ustatic-matrix-XXXXXX", libdir[PATH_MAX];
	char log[sizeof(dir) + 8], cmd[PATH_MAX + 64];
	/* The generic build's library goes with the generic header. */
	const char *generic = T_PATCHES_CODE ? "" : "-DUSTATIC_GENERIC";
	int failed = 0, built = 0;
	size_t n;

	if (!defined_x86_64())
		SKIP("the matrix builds x86-64 code with the host compilers");
	/* This build's libraries: this test lives in $(B)/test/. */
	test_beside_self(libdir, sizeof(libdir), "..");
	CHECK(mkdtemp(dir));
	FMT(log, "%s/log", dir);

	for (int c = 0; c < nvals(CC); c++)
		cc_none[c] = t_cc(dims[CC][c], cc_cmd[c], sizeof(cc_cmd[c]));
	n = plan(builds, sizeof(builds) / sizeof(builds[0]));
	printf("%zu builds cover every value triple of any 3 dimensions\n", n);
	for (size_t i = 0; i < n; i++) {
		const struct build *b = &builds[i];
		double t0 = t_now();
		int r;

		for (int d = 0; d < NDIM; d++)
			printf("%-8s ", dims[d][b->v[d]]);
		if (cc_none[b->v[CC]]) {
			printf("skipped: %s\n", cc_none[b->v[CC]]);
			continue;
		}
		r = one(b, dir, libdir, generic, log);
		printf("%s (%.1fs)\n", r == 0 ? "ok" : r == -1 ? "BUILD FAILED" :
		       "RUN FAILED", t_now() - t0);
		fflush(stdout);
		if (r) {
			show(log);
			failed++;
		} else {
			built++;
		}
	}

	for (int c = 0; c < nvals(CC); c++) {
		const char *cc = cc_cmd[c];

		if (cc_none[c])
			continue;
		for (int bad = 0; bad <= 2; bad++) {
			int r = bad_build(c, bad, dir, libdir, generic, log);
			int want = bad ? 1 : 0;

			printf("%-8s key %-24s %s\n", cc,
			       bad == 0 ? "global" : bad == 1 ?
			       "a pointer parameter" : "local to main",
			       r == want ? (bad ? "refused" : "ok") :
			       r == 0 ? "COMPILED" : r == 1 ? "REFUSED" :
			       r == 2 ? "REFUSED, but not as non-constant" :
			       "RUN FAILED");
			if (r != want) {
				show(log);
				failed++;
			}
			FMT(cmd, ": >%s", log);
			sh(cmd, "/dev/null");
		}
	}

	FMT(cmd, "rm -rf %s", dir);
	sh(cmd, "/dev/null");
	CHECK(built > 0);
	CHECK_EQ(failed, 0);
	return T_EXIT_PASS;
}
