// SPDX-License-Identifier: MIT
#include "dyndbg_cxx.h"

int cxx_other(int x)
{
	return cxx_inline(x) + cxx_tmpl<1>(x);
}
