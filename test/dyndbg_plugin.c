/* SPDX-License-Identifier: MIT */
/*
 * A plugin dlopen'd after queries gets the flags they set for sites that
 * match them, in their order, before its code runs: the queries matched
 * no site when they ran (0 changed) and still apply. Loaded again after
 * dlclose, it gets them again, with the queries that came since (the
 * decorations m and f show in what it prints). Run
 * again with USTATIC_DYNDBG: the plugin loaded later gets that query too.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

static struct dd_capture cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int (*load(void **h))(int)
{
	char path[PATH_MAX];
	int (*say)(int);

	test_beside_self(path, sizeof(path), "libdd_plugin.so");
	*h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*h)
		fprintf(stderr, "%s\n", dlerror());
	CHECK(*h);
	say = (int (*)(int))dlsym(*h, "dd_plugin_say");
	CHECK(say);
	return say;
}

static int child_env(void)
{
	void *h;
	int (*say)(int) = load(&h);

	CHECK_EQ(ustatic_dyndbg_set_sink(dd_capture_sink, &cap), 0);
	CHECK_EQ(say(1), 1);			/* the block site is on */
	CHECK_EQ(cap.n, 1);
	printf("child printed: %s\n", cap.lines[0]);
	CHECK(!strcmp(cap.lines[0], "libdd_plugin.so:dd_plugin_say: plugin says 1"));
	return 0;
}

int main(int argc, char **argv)
{
	void *h;
	int (*say)(int), st;

	dd_need_registry();
	if (argc > 1 && !strcmp(argv[1], "env"))
		return child_env();
	CHECK_EQ(ustatic_dyndbg_set_sink(dd_capture_sink, &cap), 0);

	/* Nothing loaded matches yet: 0 sites changed, but kept. */
	CHECK_EQ(ustatic_dyndbg_query("module libdd_plugin.so +pm"), 0);
	CHECK_EQ(ustatic_dyndbg_query("format \"plugin says\" -p; func dd_plugin_* +f"), 0);
	say = load(&h);
	/* Its block site is on (+p), its pr_debug off (-p came later). */
	CHECK_EQ(say(1), 1);
	CHECK_EQ(cap.n, 0);			/* its pr_debug is off */

	/* Now on; unloaded and loaded again: the same state, from the log. */
	CHECK_EQ(ustatic_dyndbg_query("module libdd_plugin.so format plugin +p"), 1);
	CHECK_EQ(say(2), 1);
	CHECK_EQ(cap.n, 1);
	printf("printed: %s\n", cap.lines[0]);
	CHECK(!strcmp(cap.lines[0], "libdd_plugin.so:dd_plugin_say: plugin says 2"));
	CHECK_EQ(dlclose(h), 0);
	say = load(&h);
	CHECK_EQ(say(3), 1);
	CHECK_EQ(cap.n, 2);
	CHECK(!strcmp(cap.lines[1], "libdd_plugin.so:dd_plugin_say: plugin says 3"));
	CHECK_EQ(dlclose(h), 0);

	/* USTATIC_DYNDBG reaches a plugin loaded later. */
	st = t_run_self("USTATIC_DYNDBG=module libdd_plugin.so +pf; "
			"func dd_plugin_say +m", "env", NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		puts("USTATIC_DYNDBG part not run: cannot re-execute myself "
		     "here (qemu-user without binfmt)");
	else
		CHECK_EQ(dd_child(st), 0);
	puts("ok");
	return 0;
}
