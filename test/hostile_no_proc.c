/* SPDX-License-Identifier: MIT */
/*
 * No /proc (a container or sandbox without it): the program starts in a
 * mount namespace where /proc is an empty tmpfs. Static calls must keep
 * working (directly patched, or through their trampolines' indirect form)
 * and key changes must work or fail with the documented -EPERM, nothing
 * changed. Runs twice: with the default writer (mprotect, whose page
 * protections then come from the program headers) and with
 * USTATIC_WRITE=procmem (which cannot open /proc/self/mem: no writer,
 * indirect calls only). Before the fix every update returned -ENOMEM.
 * Needs CAP_SYS_ADMIN for the namespace: skipped without it. Black box.
 */
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int f0(int x) { return x; }
static int f1(int x) { return x + 1; }

DEFINE_STATIC_CALL(np_sc, f0);
DEFINE_STATIC_KEY_FALSE(np_key);

static __attribute__((noinline)) int call_np(int x)
{
	int r = static_call(np_sc)(x);

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

static __attribute__((noinline)) int branch_np(void)
{
	return static_branch_unlikely(&np_key) ? 1 : 0;
}

static int without_proc(void)
{
	struct stat st;
	int err;

	CHECK(stat("/proc/self/maps", &st) != 0);	/* really gone */
	for (int i = 0; i < 50; i++) {
		CHECK_EQ(static_call_update(np_sc, i & 1 ? f0 : f1), 0);
		CHECK_EQ(call_np(10), i & 1 ? 10 : 11);
		CHECK(static_call_query(np_sc) == (i & 1 ? f0 : f1));
	}
	CHECK_EQ(static_call_update(np_sc, NULL), 0);
	CHECK_EQ(static_call_update(np_sc, f1), 0);
	CHECK_EQ(call_np(10), 11);
	err = static_branch_enable(&np_key);
	if (err) {
		CHECK_EQ(err, -EPERM);			/* no writer */
		CHECK_EQ(branch_np(), 0);
		CHECK_EQ(static_key_count(&np_key.key), 0);
		printf("no /proc: static calls work, key changes -EPERM\n");
		return 0;
	}
	CHECK_EQ(branch_np(), 1);
	CHECK_EQ(static_branch_disable(&np_key), 0);
	CHECK_EQ(branch_np(), 0);
	printf("no /proc: static calls and keys work\n");
	return 0;
}

static int run(char **argv, const char *write_method)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("none", "/proc", "tmpfs", 0, NULL))
			_exit(T_EXIT_SKIP);
		if (write_method)
			setenv("USTATIC_WRITE", write_method, 1);
		/* /proc/self/exe is gone too: argv[0] as the runner gave it. */
		execl(argv[0], argv[0], "without-proc", (char *)NULL);
		_exit(126);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

int main(int argc, char **argv)
{
	int st;

	if (argc > 1 && !strcmp(argv[1], "without-proc"))
		return without_proc();
	if (strchr(argv[0], '/') == NULL)
		SKIP("needs a path to re-execute itself");
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("qemu-user needs /proc itself");
	st = run(argv, NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == T_EXIT_SKIP)
		SKIP("cannot make a mount namespace without /proc (not root?)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = run(argv, "procmem");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
