/* SPDX-License-Identifier: MIT */
/*
 * The host of test/header_docs.c: defines a static key and a static call
 * that the plugin it loads with dlopen (docs_plugin.c) tests, calls and
 * updates. That works only if the host exports them (-rdynamic or
 * --export-dynamic-symbol), as the README and the man pages say; without,
 * dlopen fails and this prints "dlopen failed: " and dlerror().
 */
#include <dlfcn.h>
#include <stdio.h>
#include <ustatic.h>

static int host_one(int x) { return x + 1; }

DEFINE_STATIC_KEY_FALSE(docs_key);
DEFINE_STATIC_CALL(docs_call, host_one);

int main(int argc, char **argv)
{
	void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW) : NULL;
	int (*probe)(void), (*set)(void);

	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 2;
	}
	*(void **)&probe = dlsym(h, "docs_probe");
	*(void **)&set = dlsym(h, "docs_set");
	if (!probe || !set || probe() != 1)
		return 1;
	if (static_branch_enable(&docs_key) || probe() != 101)
		return 1;
	if (set() || static_call(docs_call)(0) != 2 || probe() != 102)
		return 1;
	puts("ok");
	return 0;
}
