/* SPDX-License-Identifier: MIT */
/*
 * The header's API gaps, closed: builds and runs test/census/api_prog.c
 * (STATIC_CALL_TRAMP_ADDR, static calls typed after a structure member, a
 * C++ function template as the first target, true key arrays in C and
 * C++) with gcc, g++, clang and clang++; then compiles
 * test/census/api_pedantic.c, which uses every macro and function of the
 * header, with -Wall -Wextra -Wpedantic -Werror in C99, C11, GNU C11,
 * C17, C++11 to C++20, for the generic header too, and for AArch64 with
 * the cross compilers that are installed. Compilers that are absent are
 * skipped, and for the programs that run, those that do not build for
 * this build's C library (t_cc(): a musl build runs gcc's as musl-gcc,
 * without C++). About 15 s; every program run is limited to 30 s.
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

static int defined_x86_64(void)
{
#ifdef __x86_64__
	return 1;
#else
	return 0;
#endif
}

/* Whether the first word of cc is a command. */
static int have(const char *cc)
{
	char cmd[256];
	size_t n = strcspn(cc, " ");

	FMT(cmd, "command -v %.*s >/dev/null 2>&1", (int)n, cc);
	return system(cmd) == 0;
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

	FMT(cmd, "tail -n 12 %s | sed 's/^/    /'; : >%s", log, log);
	if (system(cmd))
		fprintf(stderr, "could not show %s\n", log);
}

/* Compilers and standards for api_pedantic.c; "generic" adds the
 * generic header (USTATIC_GENERIC), which every build can compile. */
static const char *const pedantic[] = {
	"gcc -std=c99", "gcc -std=c11", "gcc -std=gnu11", "gcc -std=c17",
	"clang -std=c11", "clang -std=gnu11",
	"g++ -std=c++11", "g++ -std=c++14", "g++ -std=c++17",
	"g++ -std=gnu++17", "g++ -std=c++20",
	"clang++ -std=c++11", "clang++ -std=c++17", "clang++ -std=c++20",
	"gcc -std=c11 -DUSTATIC_GENERIC", "clang -std=gnu11 -DUSTATIC_GENERIC",
	"g++ -std=c++17 -DUSTATIC_GENERIC", "clang++ -std=c++11 -DUSTATIC_GENERIC",
	"gcc -std=c11 -fPIC -mcmodel=large", "g++ -std=c++17 -fPIC",
	"aarch64-linux-gnu-gcc -std=c11", "aarch64-linux-gnu-gcc -std=gnu11 -fPIC",
	"aarch64-linux-gnu-g++ -std=c++17 -fPIC",
	"clang --target=aarch64-linux-gnu -std=c11 -fPIC",
	"clang++ --target=aarch64-linux-gnu -std=c++17 -fPIC",
	"clang++ --target=aarch64-linux-gnu -std=c++11 -DUSTATIC_GENERIC",
};

static const char *const progs[] = {
	"gcc -O2", "g++ -O2", "clang -O2", "clang++ -O2", "g++ -O0", "clang -O0",
};

int main(void)
{
	char dir[] = "/tmp/ustatic-api-XXXXXX", libdir[PATH_MAX];
	char log[sizeof(dir) + 8], cmd[2 * PATH_MAX + 512];
	const char *generic = T_PATCHES_CODE ? "" : "-DUSTATIC_GENERIC";
	int failed = 0, ran = 0, compiled = 0;

	test_beside_self(libdir, sizeof(libdir), "..");
	CHECK(mkdtemp(dir));
	FMT(log, "%s/log", dir);

	/* The programs run here, so they need this build's library. */
	for (size_t i = 0; defined_x86_64() && i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *why;
		char cc[64];
		int r;

		printf("run     %-44s ", progs[i]);
		if ((why = t_cc(progs[i], cc, sizeof(cc)))) {
			printf("skipped: %s\n", why);
			continue;
		}
		FMT(cmd, "%s %s -Wall -Wextra -Werror -Iinclude %s "
		    "test/census/api_prog.c -x none %s/libustatic.a -lpthread "
		    "-ldl -o %s/prog && timeout 30 %s/prog | grep -qx ok", cc,
		    strstr(cc, "++") ? "-x c++" : "-x c", generic, libdir, dir,
		    dir);
		r = sh(cmd, log);
		printf("%s\n", r ? "FAILED" : "ok");
		if (r) {
			show(log);
			failed++;
		}
		ran += !r;
		FMT(cmd, ": >%s", log);
		sh(cmd, "/dev/null");
	}

	for (size_t i = 0; i < sizeof(pedantic) / sizeof(pedantic[0]); i++) {
		const char *cc = pedantic[i];
		int r;

		printf("pedantic %-43s ", cc);
		if (!have(cc)) {
			printf("skipped: not installed\n");
			continue;
		}
		/* A compiler without its target's support (a clang without
		 * AArch64 headers) cannot compile a file that is only
		 * <stddef.h> and <stdbool.h>: skip it. */
		FMT(cmd, "echo '#include <stddef.h>' | %s -x %s -fsyntax-only -",
		    cc, strstr(cc, "++") ? "c++" : "c");
		if (sh(cmd, "/dev/null")) {
			printf("skipped: cannot compile for its target\n");
			continue;
		}
		FMT(cmd, "%s -x %s -O2 -Wall -Wextra -Wpedantic -Werror -Iinclude "
		    "-c test/census/api_pedantic.c -o %s/pedantic.o", cc,
		    strstr(cc, "++") ? "c++" : "c", dir);
		r = sh(cmd, log);
		printf("%s\n", r ? "FAILED" : "clean");
		if (r) {
			show(log);
			failed++;
		}
		compiled += !r;
		FMT(cmd, ": >%s", log);
		sh(cmd, "/dev/null");
	}

	FMT(cmd, "rm -rf %s", dir);
	sh(cmd, "/dev/null");
	CHECK(compiled > 0);
	CHECK(ran > 0 || !defined_x86_64());
	CHECK_EQ(failed, 0);
	return T_EXIT_PASS;
}
