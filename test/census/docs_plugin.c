/* SPDX-License-Identifier: MIT */
/*
 * The plugin of test/header_docs.c: tests the host's key, calls its static
 * call and retargets it.
 */
#include <ustatic.h>

typedef int docs_fn(int);

DECLARE_STATIC_KEY_FALSE(docs_key);
DECLARE_STATIC_CALL(docs_call, docs_fn);

static int plugin_two(int x) { return x + 2; }

int docs_probe(void);
int docs_probe(void)
{
	return (static_branch_unlikely(&docs_key) ? 100 : 0) +
	       static_call(docs_call)(0);
}

int docs_set(void);
int docs_set(void)
{
	return static_call_update(docs_call, plugin_two);
}
