/* A Meson project that uses the installed ustatic: see meson.build. */
#include <stdio.h>
#include <ustatic.h>

static int twice(int x) { return 2 * x; }
static int thrice(int x) { return 3 * x; }

DEFINE_STATIC_CALL(scale, twice);	/* a direct call, retargetable */
DEFINE_STATIC_KEY_FALSE(loud);		/* a NOP until enabled */

int main(void)
{
	int before = static_call(scale)(7);		/* 14 */

	if (static_call_update(scale, thrice) != 0 ||	/* 0 or -errno */
	    static_branch_enable(&loud) != 0)
		return 1;
	int after = static_call(scale)(7);		/* 21 */
	if (before != 14 || after != 21 || !static_branch_unlikely(&loud))
		return 1;
	printf("meson consumer: %d then %d, key on\n", before, after);
	return 0;
}
