// SPDX-License-Identifier: MIT
// Debug sites in C++ inline functions and templates (test/dyndbg_cxx.c
// builds this with g++ and clang++, linked with dyndbg_cxx_other.cc as a
// shared library): GCC ignores a section attribute on a static in a
// template, so each site's pointer is emitted by an asm; the inline
// function's copy in the library is the same site (one symbol).
#include <cstdio>
#include <cstring>
#include <ustatic.h>

#include "dyndbg_cxx.h"

static char last[256];
static int lines;

static void sink(void *, const char *line, size_t)
{
	std::snprintf(last, sizeof(last), "%s", line);
	lines++;
}

int main()
{
	if (ustatic_dyndbg_set_sink(sink, nullptr))
		return 1;
	if (cxx_other(1) != 1 + 2 || cxx_inline(1) != 1 || cxx_tmpl<2>(1) != 3)
		return 2;
	if (lines)
		return 3;
	// One site per template instance, one for the inline function.
	int n = ustatic_dyndbg_query("format tmpl +p");
	if (n != 2) {
		std::printf("template sites: %d\n", n);
		return 4;
	}
	n = ustatic_dyndbg_query("format inline +p");
	if (n != 1) {
		std::printf("inline sites changed: %d\n", n);
		return 5;
	}
	cxx_tmpl<2>(5);
	if (std::strcmp(last, "tmpl<2> 5"))
		return 6;
	cxx_other(7);
	if (lines != 3 || std::strcmp(last, "tmpl<1> 7"))
		return 7;
	std::puts("ok");
	return 0;
}
