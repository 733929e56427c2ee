/* SPDX-License-Identifier: MIT */
/*
 * Debug sites in C++ inline functions and templates, in an executable and
 * a shared library it links (test/census/dyndbg_cxx*.cc), built with g++
 * and clang++ against this build's library and run: every template
 * instance's site is found (GCC drops a section attribute on a static in
 * a template: it failed with the sites placed by one, 0 template sites);
 * the inline function's copies in both objects are one site (one symbol),
 * changed once (a query counted it twice before). Compilers that are
 * absent are skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dd.h"
#include "helpers.h"

int main(void)
{
	static const char *const cxx[] = { "g++ -std=c++11", "g++ -std=c++17",
					   "clang++ -std=c++17" };
	char dir[] = "/tmp/ustatic-dyndbg-cxx-XXXXXX", lib[PATH_MAX];
	char cmd[4 * PATH_MAX + 1024], cc[64];
	int ran = 0;

	dd_need_registry();
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("the host's C++ compilers build for the host, not for "
		     "this emulated build");
	test_beside_self(lib, sizeof(lib), "..");
	CHECK(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cxx) / sizeof(*cxx); i++) {
		const char *why = t_cc(cxx[i], cc, sizeof(cc));
		int r;

		printf("%-24s ", cxx[i]);
		if (why) {
			printf("skipped: %s\n", why);
			continue;
		}
		CHECK(snprintf(cmd, sizeof(cmd), "%s -O2 -Wall -Wextra -Werror -Iinclude "
			 "-fPIC -shared test/census/dyndbg_cxx_other.cc -o "
			 "%s/libother.so -L%s -lustatic && "
			 "%s -O2 -Wall -Wextra -Werror -Iinclude "
			 "test/census/dyndbg_cxx.cc -o %s/prog -L%s -lother "
			 "-L%s -lustatic -Wl,-rpath,%s:%s -lpthread && "
			 "timeout 30 %s/prog", cc, dir, lib, cc, dir, dir, lib,
			 lib, dir, dir) < (int)sizeof(cmd));
		r = system(cmd);
		printf("%s\n", r ? "FAILED" : "ok");
		CHECK_EQ(r, 0);
		ran++;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	if (!ran)
		SKIP("no C++ compiler");
	return 0;
}
