/* SPDX-License-Identifier: MIT */
/*
 * Builds test/census/body.c with every compiler and mode we support and
 * runs it: all results must be right in every build, and the census of
 * inline sites is printed. At -O2 the registry must find at least 95% of
 * the direct call/jmp/jcc instructions that target a trampoline (counted
 * independently with objdump).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "helpers.h"
#include "test.h"

struct build {
	const char *cc, *flags;
	int o2;			/* counts toward the 95% target */
};

static const struct build builds[] = {
	{ "gcc", "-O0", 0 }, { "gcc", "-O1", 0 }, { "gcc", "-O2", 1 },
	{ "gcc", "-O3", 0 }, { "gcc", "-Os", 0 }, { "gcc", "-O2 -flto", 1 },
	{ "gcc", "-O2 -no-pie -fno-pie", 1 }, { "gcc", "-O2 -static", 1 },
	{ "clang", "-O0", 0 }, { "clang", "-O1", 0 }, { "clang", "-O2", 1 },
	{ "clang", "-O3", 0 }, { "clang", "-Os", 0 }, { "clang", "-O2 -flto", 1 },
	{ "g++", "-O2 -x c++", 1 }, { "clang++", "-O2 -x c++", 1 },
};

static int defined_x86_64(void)
{
#ifdef __x86_64__
	return 1;
#else
	return 0;
#endif
}

static int have(const char *cc)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", cc);
	return system(cmd) == 0;
}

/* Lines of `cmd`'s output, or -1. */
static long run_count(const char *cmd, long *sites)
{
	FILE *f = popen(cmd, "r");
	char line[512];
	long n = 0, markers, bad = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "sites %ld markers-without-site %ld bad %ld",
			   sites, &markers, &bad) == 3)
			n++;
	return pclose(f) == 0 && n == 1 && bad == 0 ? 0 : -1;
}

static long objdump_count(const char *bin)
{
	char cmd[512], line[512];
	long n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn %s", bin);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *sct = strstr(line, "<__SCT__");
		if (!sct || strchr(line, ':') > sct || strstr(line, "*"))
			continue;
		/* call/jmp/jcc rel32 to a trampoline, not inside one */
		if (strstr(line, "\tcall") || strstr(line, "\tj"))
			n++;
	}
	pclose(f);
	return n;
}

int main(void)
{
	char bin[64], cmd[PATH_MAX + 512], lib[PATH_MAX];
	long total = 0, found = 0;
	int failed = 0, built = 0;

	if (!T_PATCHES_CODE || !defined_x86_64())
		SKIP("the census builds x86-64 code with the host compilers");
	if (!have("objdump"))
		SKIP("objdump missing");
	/* The library of this build: this test lives in $(B)/test/. */
	test_beside_self(lib, sizeof(lib), "../libustatic.a");
	snprintf(bin, sizeof(bin), "/tmp/ustatic-census-%d", getpid());
	printf("%-8s %-24s %6s %6s\n", "cc", "flags", "calls", "found");
	for (size_t i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
		const struct build *b = &builds[i];
		const char *internals = strstr(b->flags, "c++") ? "" :
			"-D_GNU_SOURCE -DCENSUS_INTERNALS -Isrc";
		long sites = -1, calls;

		if (!have(b->cc)) {
			printf("%-8s %-24s skipped: not installed\n", b->cc, b->flags);
			continue;
		}
		snprintf(cmd, sizeof(cmd), "%s %s -Wall -Wextra -Werror -Iinclude %s "
			 "test/census/body.c -x none %s -lpthread -ldl -o %s",
			 b->cc, b->flags, internals, lib, bin);
		if (system(cmd)) {
			printf("%-8s %-24s BUILD FAILED\n", b->cc, b->flags);
			failed = 1;
			continue;
		}
		built++;
		snprintf(cmd, sizeof(cmd), "%s", bin);
		calls = objdump_count(bin);
		if (run_count(cmd, &sites)) {
			printf("%-8s %-24s RUN FAILED\n", b->cc, b->flags);
			failed = 1;
		}
		printf("%-8s %-24s %6ld %6ld\n", b->cc, b->flags, calls, sites);
		if (b->o2) {
			total += calls;
			found += sites;
		}
	}
	unlink(bin);
	printf("-O2 builds: %ld of %ld direct calls to trampolines found (%.1f%%)\n",
	       found, total, total ? 100.0 * found / total : 0.0);
	CHECK(built > 0);
	CHECK_EQ(failed, 0);
	CHECK(found * 100 >= total * 95);
	return T_EXIT_PASS;
}
