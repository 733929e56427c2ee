/* A static key: a branch that is one NOP while off. */
#include <stdio.h>
#include <ustatic.h>

DEFINE_STATIC_KEY_FALSE(verbose);	/* starts off */

static void work(int step)
{
	if (static_branch_unlikely(&verbose))	/* NOP5 while off, JMP while on */
		printf("verbose: step %d\n", step);
}

int main(void)
{
	work(1);				/* prints nothing */
	if (static_branch_enable(&verbose) != 0)
		return 1;
	work(2);				/* prints "verbose: step 2" */
	static_branch_disable(&verbose);
	work(3);				/* prints nothing */
	return static_key_enabled(&verbose) ? 1 : 0;
}
