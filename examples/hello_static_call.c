/* A static call: a direct call whose target is rewritten in place. */
#include <stdio.h>
#include <ustatic.h>

static int add(int a, int b) { return a + b; }
static int mul(int a, int b) { return a * b; }

DEFINE_STATIC_CALL(op, add);		/* op starts as add */

int main(void)
{
	printf("op(6, 7) = %d\n", static_call(op)(6, 7));	/* 13 */
	if (static_call_update(op, mul) != 0)	/* every op() site now calls mul */
		return 1;
	printf("op(6, 7) = %d\n", static_call(op)(6, 7));	/* 42 */
	return static_call_query(op) == mul ? 0 : 1;
}
