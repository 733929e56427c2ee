/* SPDX-License-Identifier: MIT */
/*
 * Static branches on keys that are not global objects: test/header_matrix.c
 * builds this with MATRIX_BAD 1 and 2, which must not compile (in C and in
 * C++), and with MATRIX_BAD 0, which must compile and run.
 */
#include <ustatic.h>

DEFINE_STATIC_KEY_FALSE(g_key);

#if MATRIX_BAD == 1
/* A pointer parameter: the site's key is unknown until run time. */
__attribute__((noinline)) static int branch(struct static_key_false *p)
{
	return static_branch_unlikely(p);
}

int main(void)
{
	return branch(&g_key);
}
#elif MATRIX_BAD == 2
/* A key that lives on main's stack. */
int main(void)
{
	DEFINE_STATIC_KEY_FALSE(local);

	return static_branch_unlikely(&local);
}
#else
int main(void)
{
	return static_branch_unlikely(&g_key) + static_branch_likely(&g_key);
}
#endif
