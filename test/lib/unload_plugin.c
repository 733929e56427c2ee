/* SPDX-License-Identifier: MIT */
/*
 * A plugin that uses ustatic, for test/unload_library.c: loaded into a host
 * that does not, it updates a static call, and leaves a transaction open
 * on a thread of the host's that outlives the plugin.
 */
#include <ustatic.h>

static int g0(void) { return 0; }
static int g1(void) { return 1; }

DEFINE_STATIC_CALL(up_sc, g0);

__attribute__((visibility("default"))) int unload_plugin_start(void)
{
	if (static_call_update(up_sc, g1) || static_call(up_sc)() != 1)
		return -1;
	return 0;
}

/* Left open: dropped by the library when the thread exits. */
__attribute__((visibility("default"))) int unload_plugin_txn(void)
{
	if (ustatic_batch_begin() || static_call_update(up_sc, g0) ||
	    ustatic_batch_commit())
		return -1;
	if (ustatic_batch_begin() || static_call_update(up_sc, g1))
		return -1;
	return 0;
}
