// SPDX-License-Identifier: MIT
#include <ustatic.h>

inline int cxx_inline(int x)
{
	ustatic_pr_debug("inline %d\n", x);
	return x;
}

template <int N> int cxx_tmpl(int x)
{
	ustatic_pr_debug("tmpl<%d> %d\n", N, x);
	return x + N;
}

int cxx_other(int x);
