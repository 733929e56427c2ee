/* SPDX-License-Identifier: MIT */
/*
 * Degraded modes keep every promise they can:
 *  - no way to write code (USTATIC_WRITE=none): static calls keep updating
 *    through the trampolines' indirect form, again and again, alone or in a
 *    transaction; a key change fails with -EPERM and, in a transaction,
 *    takes the whole transaction with it;
 *  - no int3 (USTATIC_TRAPFREE=1): inline sites stay on their trampolines,
 *    which switch trap-free, so updates keep working; a plugin loaded while
 *    a key is on and a call is RET0 (whose sites would need int3) still
 *    matches both.
 * Each mode runs in a child started with the variable set, since the
 * library reads it at start-up.
 */
#include <dlfcn.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mo.h"
#include "helpers.h"
#include "test.h"

static int exe_target(int x) { return x + 7; }
static int other_target(int x) { return x + 8; }
static __attribute__((noinline)) int call_from_exe(int x) { return static_call(mo_call)(x); }

static int no_writer(void)
{
	struct ustatic_stats st;

	for (int i = 0; i < 3; i++) {
		CHECK_EQ(static_call_update(mo_call, i & 1 ? other_target : exe_target), 0);
		CHECK_EQ(call_from_exe(1), i & 1 ? 9 : 8);
		CHECK_EQ(mo_call_from_lib(1), i & 1 ? 9 : 8);
	}
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(mo_call, mo_base), 0);
	CHECK_EQ(ustatic_batch_commit(), 0);
	CHECK_EQ(call_from_exe(1), 10);
	if (T_PATCHES_CODE) {
		CHECK_EQ(static_branch_enable(&mo_key), -EPERM);
		CHECK_EQ(mo_branch_from_lib(), 0);
		CHECK_EQ(ustatic_batch_begin(), 0);
		CHECK_EQ(static_call_update(mo_call, exe_target), 0);
		CHECK_EQ(static_branch_enable(&mo_key), 0);
		CHECK_EQ(ustatic_batch_commit(), -EPERM);
		CHECK_EQ(call_from_exe(1), 10);
		CHECK(static_call_query(mo_call) == mo_base);
		CHECK_EQ(static_key_count(&mo_key.key), 0);
	}
	ustatic_get_stats(&st);
	CHECK_EQ(st.patches, 0);
	return 0;
}

static int trap_free(const char *plugin)
{
	struct ustatic_stats st;
	int (*plug_call)(int), (*plug_branch)(void);
	void *h;

	for (int i = 0; i < 50; i++) {
		CHECK_EQ(static_call_update(mo_call, i & 1 ? other_target : exe_target), 0);
		CHECK_EQ(call_from_exe(1) + mo_call_from_lib(1), i & 1 ? 18 : 16);
	}
	CHECK_EQ(static_branch_enable(&mo_key), 0);
	CHECK_EQ(static_call_update(mo_call, (void *)__static_call_return0), 0);
	CHECK_EQ(call_from_exe(1), 0);
	h = dlopen(plugin, RTLD_NOW);
	CHECK(h);
	plug_call = (int (*)(int))dlsym(h, "mo_call_from_plugin");
	plug_branch = (int (*)(void))dlsym(h, "mo_branch_from_plugin");
	CHECK(plug_call && plug_branch);
	CHECK_EQ(plug_branch(), 1);
	CHECK_EQ(plug_call(5), 0);
	CHECK_EQ(static_call_update(mo_call, exe_target), 0);
	CHECK_EQ(plug_call(5), 12);
	ustatic_get_stats(&st);
	printf("trap-free: %lu batches, %lu trap-free, %lu traps\n",
	       st.batches, st.trap_free_batches, st.traps);
	CHECK_EQ(st.traps, 0);
	if (T_USES_GUARDS)
		CHECK(st.trap_free_batches > 0 && st.trap_free_batches == st.batches);
	return 0;
}

static void run_child(const char *mode, const char *env)
{
	int status = t_run_self(env, mode, NULL);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		SKIP("cannot re-execute myself here (qemu-user without binfmt)");
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: child failed (status 0x%x)\n", mode, status);
		exit(T_EXIT_FAIL);
	}
}

int main(int argc, char **argv)
{
	char plugin[PATH_MAX];

	test_beside_self(plugin, sizeof(plugin), "libmo_plugin.so");
	if (argc > 1 && !strcmp(argv[1], "no-writer"))
		return no_writer();
	if (argc > 1 && !strcmp(argv[1], "trap-free"))
		return trap_free(plugin);
	run_child("no-writer", "USTATIC_WRITE=none");
	run_child("trap-free", "USTATIC_TRAPFREE=1");
	return T_EXIT_PASS;
}
