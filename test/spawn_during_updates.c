/* SPDX-License-Identifier: MIT */
/*
 * fork, vfork and posix_spawn while another thread retargets static calls
 * and flips keys without pause: the children must start and run correct
 * code (a forked child calls and checks; vfork and posix_spawn children
 * exec a program), and the parent's updates and results stay right.
 * A vfork child shares the parent's memory while the storm keeps patching
 * it; it only execs, which is all POSIX allows it to do.
 */
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

extern char **environ;

DEFINE_STATIC_CALL(sp_call, t_fa);
DEFINE_STATIC_KEY_FALSE(sp_key);

T_CALLER(call, sp_call)
static __attribute__((noinline)) int branch(void) { return static_branch_unlikely(&sp_key); }

static volatile int stop;

static void *storm(void *arg)
{
	(void)arg;
	for (long i = 0; !stop; i++) {
		CHECK_EQ(static_call_update(sp_call, i & 1 ? t_fb : t_fa), 0);
		CHECK_EQ(T_BRANCH_SET(&sp_key, i & 1), 0);
	}
	return NULL;
}

/* vfork() in its own frame: nothing of main's can be clobbered. */
static __attribute__((noinline)) pid_t vfork_true(char *const argv[])
{
	pid_t pid = vfork();

	if (pid == 0) {
		execve("/bin/true", argv, environ);
		_exit(127);
	}
	return pid;
}

static int exited_ok(pid_t pid)
{
	int status;

	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	char *const argv[] = { "true", NULL };
	pthread_t th;
	long n = test_scale(200);

	if (access("/bin/true", X_OK))
		SKIP("no /bin/true");
	pthread_create(&th, NULL, storm, NULL);
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			int r = call(1), b = branch();
			_exit((r == 2 || r == 3) && (b == 0 || b == 1) ? 0 : 1);
		}
		CHECK(exited_ok(pid));
		CHECK(exited_ok(vfork_true(argv)));
		CHECK_EQ(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ), 0);
		CHECK(exited_ok(pid));
	}
	stop = 1;
	pthread_join(th, NULL);
	CHECK_EQ(static_call_update(sp_call, t_fb), 0);
	CHECK_EQ(static_branch_enable(&sp_key), 0);
	CHECK_EQ(call(1), 3);
	CHECK_EQ(branch(), 1);
	printf("%ld rounds of fork, vfork and posix_spawn during updates\n", n);
	return T_EXIT_PASS;
}
