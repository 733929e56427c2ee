/* SPDX-License-Identifier: MIT */
/*
 * Static calls a program can keep private, and the kernel's distinction
 * between objects that may update a static call and objects that may only
 * call it. Builds test/census/vis_lib.c twice into two shared libraries
 * that each define a hidden static call named vis_hash (and libvis1 a
 * call-only one, vis_cb), and test/census/vis_main.c, which exports its
 * own vis_hash: the three never meet, and the main program calls vis_cb
 * as libvis1 retargets it. Built as C, as C++, mixed, and with a non-PIE
 * main program (whose use of a library's key is a copy relocation).
 * Then what must not build (test/census/vis_bad.c): updating a call-only
 * static call or calling a hidden one from another object (link errors),
 * and EXPORT_STATIC_CALL*() that contradict the definition (compile
 * errors). Compilers that are absent, or do not build for this build's C
 * library, are skipped (t_cc(): a musl build runs gcc's as musl-gcc,
 * without C++). About 10 s.
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

struct build {
	const char *lib_cc, *main_cc, *main_flags;
};

static const struct build builds[] = {
	{ "gcc", "gcc", "-O2" },
	{ "g++", "g++", "-O0" },
	{ "clang", "clang++", "-O2" },
	{ "clang++", "clang", "-O2 -fno-pie -no-pie" },
	{ "g++", "gcc", "-O1 -fno-pie -no-pie" },
};

/* What vis_bad.c's builds must fail with (NULL: must build and run). */
static const char *const bad_says[] = {
	NULL, "undefined reference to .__SCU__vis_cb",
	"undefined reference to .__SCK__vis_hash",
	"other objects may update only", "call but not update it",
	"other objects may update only",
};

static int defined_x86_64(void)
{
#ifdef __x86_64__
	return 1;
#else
	return 0;
#endif
}

static const char *lang(const char *cc)
{
	return strstr(cc, "++") ? "-x c++" : "-x c";
}

static int sh(const char *cmd, const char *log)
{
	char full[8192];

	FMT(full, "(%s) >>%s 2>&1", cmd, log);
	return system(full);
}

static void show(const char *log)
{
	char cmd[PATH_MAX + 64];

	FMT(cmd, "tail -n 12 %s | sed 's/^/    /'", log);
	if (system(cmd))
		fprintf(stderr, "could not show %s\n", log);
}

static void clear(const char *log)
{
	char cmd[PATH_MAX + 16];

	FMT(cmd, ": >%s", log);
	CHECK(system(cmd) == 0);
}

/* The two libraries, built by cc into dir. */
static int libs(const char *cc, const char *dir, const char *libdir,
		const char *generic, const char *log)
{
	char cmd[4096];

	for (int id = 1; id <= 2; id++) {
		FMT(cmd, "%s %s -O2 -fPIC -shared -Wall -Wextra -Werror "
		    "-Iinclude -Itest/census %s -DVIS_ID=%d "
		    "test/census/vis_lib.c -o %s/libvis%d.so -L%s -lustatic "
		    "-Wl,-rpath,%s -Wl,-z,defs", cc, lang(cc), generic, id, dir,
		    id, libdir, libdir);
		if (sh(cmd, log))
			return -1;
	}
	return 0;
}

/* Builds src as the main program with cc, linked with the libraries
 * (and exporting its symbols), and runs it if run; the shell status. */
static int prog(const char *cc, const char *flags, const char *src, int run,
		const char *dir, const char *libdir, const char *generic,
		const char *log)
{
	char cmd[4096];

	FMT(cmd, "%s %s %s -Wall -Wextra -Werror -Iinclude -Itest/census %s "
	    "%s -x none -rdynamic -L%s -lvis1 -lvis2 -L%s -lustatic "
	    "-Wl,-rpath,%s:%s -o %s/prog", cc, flags, lang(cc), generic, src,
	    dir, libdir, dir, libdir, dir);
	if (sh(cmd, log) || !run)
		return 1;
	FMT(cmd, "timeout 30 %s/prog | grep -qx ok", dir);
	return sh(cmd, log) ? 2 : 0;
}

int main(void)
{
	char dir[] = "/tmp/ustatic-vis-XXXXXX", libdir[PATH_MAX];
	char log[sizeof(dir) + 8], cmd[PATH_MAX + 64], flags[64];
	const char *generic = T_PATCHES_CODE ? "" : "-DUSTATIC_GENERIC";
	int failed = 0, ran = 0;

	if (!defined_x86_64())
		SKIP("builds x86-64 code with the host compilers");
	test_beside_self(libdir, sizeof(libdir), "..");
	CHECK(mkdtemp(dir));
	FMT(log, "%s/log", dir);

	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		const struct build *b = &builds[i];
		char lib_cc[64], main_cc[64];
		const char *why;
		int r;

		printf("libraries %-8s main %-8s %-22s ", b->lib_cc, b->main_cc,
		       b->main_flags);
		if ((why = t_cc(b->lib_cc, lib_cc, sizeof(lib_cc))) ||
		    (why = t_cc(b->main_cc, main_cc, sizeof(main_cc)))) {
			printf("skipped: %s\n", why);
			continue;
		}
		r = libs(lib_cc, dir, libdir, generic, log) ? 1 :
		    prog(main_cc, b->main_flags, "test/census/vis_main.c", 1,
			 dir, libdir, generic, log);
		printf("%s\n", r == 0 ? "ok" : r == 1 ? "BUILD FAILED" :
		       "RUN FAILED");
		if (r) {
			show(log);
			failed++;
		}
		ran += !r;
		clear(log);
	}

	for (int c = 0; c < 2; c++) {
		const char *name = c ? "clang++" : "gcc", *why;
		char cc[64];

		if ((why = t_cc(name, cc, sizeof(cc))) ||
		    libs(cc, dir, libdir, generic, log)) {
			printf("%s: skipped the builds that must fail (%s)\n",
			       name, why ? why : "its libraries do not build");
			clear(log);
			continue;
		}
		for (size_t bad = 0; bad < sizeof(bad_says) / sizeof(bad_says[0]); bad++) {
			int r;

			FMT(flags, "-O2 -DVIS_BAD=%zu", bad);
			r = prog(cc, flags, "test/census/vis_bad.c", 1, dir,
				 libdir, generic, log);
			if (bad_says[bad] && r == 1) {
				/* It failed: for the right reason? */
				FMT(cmd, "grep -q '%s' %s", bad_says[bad], log);
				r = system(cmd) ? 3 : 0;
			} else if (bad_says[bad]) {
				r = 4;
			}
			printf("%-8s VIS_BAD=%zu %-40s %s\n", cc, bad,
			       bad_says[bad] ? bad_says[bad] : "(must work)",
			       r == 0 ? (bad_says[bad] ? "refused" : "ok") :
			       r == 3 ? "REFUSED FOR ANOTHER REASON" :
			       r == 4 ? "NOT REFUSED" : "FAILED");
			if (r) {
				show(log);
				failed++;
			}
			clear(log);
		}
	}

	FMT(cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	CHECK(ran > 0);
	CHECK_EQ(failed, 0);
	return T_EXIT_PASS;
}
