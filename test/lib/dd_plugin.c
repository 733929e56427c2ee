/* SPDX-License-Identifier: MIT */
/* A plugin with debug sites and named keys, for the dynamic-debug tests
 * (test/dyndbg_plugin.c, test/names_list.c). */
#include <ustatic.h>

DEFINE_STATIC_KEY_FALSE(dd_plugin_key);
DEFINE_STATIC_KEY_FALSE(dd_dup_key);	/* the test defines one too */

static int plugin_double(int x)
{
	return 2 * x;
}
DEFINE_STATIC_CALL(dd_plugin_call, plugin_double);

int dd_plugin_say(int x);
int dd_plugin_say(int x)
{
	ustatic_pr_debug("plugin says %d\n", x);
	if (ustatic_debug_enabled())
		return 1;
	return 0;
}
