/* SPDX-License-Identifier: MIT */
/*
 * Executable + a linked library that defines the static call and key + a
 * dlopen'd plugin whose function becomes the target. Calls from all three,
 * dlclose of the plugin, updates after it; an object loaded after an
 * update runs the current target from its first call. dlclose unregisters
 * the plugin; where it does not unload it (musl), the plugin stays
 * registered and its sites keep following the updates.
 */
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include "lib/mo.h"
#include "helpers.h"
#include "test.h"

static int exe_target(int x) { return x + 7; }
static __attribute__((noinline)) int call_from_exe(int x) { return static_call(mo_call)(x); }
static __attribute__((noinline)) int branch_from_exe(void) { return static_branch_unlikely(&mo_key) ? 1 : 0; }

int main(void)
{
	char path[PATH_MAX];
	int (*plug_target)(int), (*plug_call)(int), (*plug_branch)(void);
	void *h;

	test_beside_self(path, sizeof(path), "libmo_plugin.so");
	CHECK_EQ(call_from_exe(2), 20);
	CHECK_EQ(mo_call_from_lib(2), 20);
	/* Update before the plugin exists: its first call sees the update. */
	CHECK_EQ(static_call_update(mo_call, exe_target), 0);
	CHECK_EQ(static_branch_enable(&mo_key), 0);
	h = dlopen(path, RTLD_NOW);
	CHECK(h);
	plug_target = (int (*)(int))dlsym(h, "mo_plugin_target");
	plug_call = (int (*)(int))dlsym(h, "mo_call_from_plugin");
	plug_branch = (int (*)(void))dlsym(h, "mo_branch_from_plugin");
	CHECK(plug_target && plug_call && plug_branch);
	CHECK_EQ(plug_call(2), 9);
	CHECK_EQ(plug_branch(), 1);
	CHECK_EQ(call_from_exe(2) + mo_call_from_lib(2), 18);
	/* Target in the plugin, called from all three objects. */
	CHECK_EQ(static_call_update(mo_call, plug_target), 0);
	CHECK_EQ(call_from_exe(3), 300);
	CHECK_EQ(mo_call_from_lib(3), 300);
	CHECK_EQ(plug_call(3), 300);
	CHECK_EQ(static_branch_disable(&mo_key), 0);
	CHECK_EQ(branch_from_exe() + mo_branch_from_lib() + plug_branch(), 0);
	/* Away from the plugin, then unload it and keep updating. */
	CHECK_EQ(static_call_update(mo_call, mo_base), 0);
	CHECK_EQ(dlclose(h), 0);
	struct ustatic_stats st;
	ustatic_get_stats(&st);
	CHECK_EQ(static_call_update(mo_call, exe_target), 0);
	CHECK_EQ(static_branch_enable(&mo_key), 0);
	CHECK_EQ(call_from_exe(1) + mo_call_from_lib(1), 16);
	CHECK_EQ(branch_from_exe() + mo_branch_from_lib(), 2);
	printf("objects after dlclose: %lu, inline sites found in all: %lu\n",
	       st.objects, st.call_sites);
	if (T_DLCLOSE_UNLOADS) {
		CHECK_EQ(st.objects, T_PATCHES_CODE ? 2 : 0);
		return T_EXIT_PASS;
	}
	/* Still mapped: its sites must still be right. */
	CHECK(dlopen(path, RTLD_NOW | RTLD_NOLOAD) == h);
	CHECK_EQ(st.objects, T_PATCHES_CODE ? 3 : 0);
	CHECK_EQ(plug_call(1), 8);
	CHECK_EQ(plug_branch(), 1);
	return T_EXIT_PASS;
}
