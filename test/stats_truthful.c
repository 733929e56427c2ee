/* SPDX-License-Identifier: MIT */
/*
 * Statistics and messages are true. Under USTATIC_TRAPFREE=1 (int3 never
 * used) every update of a static call with inline call sites, and every key
 * flip, returns 0: `refused` must not move and USTATIC_DEBUG=1 must print no
 * error (before the fix an internal retry counted each update as refused
 * and logged "Resource deadlock avoided"). A real failure (a dec below zero)
 * counts exactly once. The test re-executes itself with the environment
 * set and its stderr sent to a file it then reads. Black box.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int f0(int x) { return x; }
static int f1(int x) { return x + 1; }

DEFINE_STATIC_CALL(sc, f0);
DEFINE_STATIC_KEY_FALSE(key);

static __attribute__((noinline)) int call_sc(int x)
{
	int r = static_call(sc)(x);

	__asm__ __volatile__("" : "+r"(r));	/* a call site, not a tail jump */
	return r;
}

static unsigned long refused(void)
{
	struct ustatic_stats st;

	CHECK_EQ(ustatic_get_stats(&st), 0);
	return st.refused;
}

static void child(void)
{
	unsigned long r0 = refused();

	for (int i = 0; i < 100; i++) {
		CHECK_EQ(static_call_update(sc, i & 1 ? f0 : f1), 0);
		CHECK_EQ(call_sc(10), i & 1 ? 10 : 11);
		CHECK_EQ(i & 1 ? static_branch_disable(&key) :
				 static_branch_enable(&key), 0);
		CHECK_EQ(static_call_update(sc, NULL), 0);
		CHECK_EQ(static_call_update(sc, i & 1 ? f0 : f1), 0);
	}
	CHECK_EQ(refused(), r0);
	fprintf(stderr, "--- now one real failure ---\n");
	CHECK_EQ(static_branch_dec(&key), -EINVAL);
	CHECK_EQ(refused(), r0 + 1);
}

int main(int argc, char **argv)
{
	char log[] = "/tmp/ustatic-stats-XXXXXX", buf[65536];
	const char *before, *after;
	int fd;
	ssize_t n;

	(void)argc;
	if (getenv("USTATIC_TRAPFREE")) {
		child();
		return 0;
	}
	fd = mkstemp(log);
	CHECK(fd >= 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd, 2);
		setenv("USTATIC_TRAPFREE", "1", 1);
		setenv("USTATIC_DEBUG", "1", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int st = t_wait(pid);

	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot re-execute (qemu-user without binfmt?)");
	CHECK_EQ(st, 0);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(log);
	CHECK(n > 0);
	buf[n] = 0;
	before = buf;
	after = strstr(buf, "--- now one real failure ---");
	CHECK(after != NULL);
	/* No error message before the real failure, one after it. */
	CHECK(!memmem(before, (size_t)(after - before), "(-", 2));
	CHECK(!memmem(before, (size_t)(after - before), "deadlock", 8));
	CHECK(strstr(after, "count already 0") != NULL);
	return 0;
}
