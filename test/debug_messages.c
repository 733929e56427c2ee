/* SPDX-License-Identifier: MIT */
/*
 * USTATIC_DEBUG=1 messages a user can act on: methods by name, not number;
 * a refused change names its static call or key; a thread that blocks
 * SIGTRAP is named (tid and name); a condition met by every batch is not
 * printed once per batch (before: one identical line per batch), but the
 * answer to each malformed query is. The test
 * re-executes itself with its stderr in a file and reads it. Black box.
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int f0(int x) { return x; }

DEFINE_STATIC_CALL(dm_call, f0);
DEFINE_STATIC_KEY_FALSE(dm_key);

static volatile bool running, stop;

static __attribute__((noinline)) int call_dm(int x)
{
	int r = static_call(dm_call)(x);

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

static __attribute__((noinline)) int branch_dm(void)
{
	return static_branch_unlikely(&dm_key) ? 1 : 0;
}

static void *blocker(void *arg)
{
	sigset_t all;

	(void)arg;
	pthread_setname_np(pthread_self(), "dm-blocker");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	running = true;
	while (!stop)
		usleep(1000);
	return NULL;
}

static int child(void)
{
	pthread_t th;

	pthread_create(&th, NULL, blocker, NULL);
	while (!running)
		usleep(100);
	/* Key flips never need int3, but every batch looks at the masks. */
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(i & 1 ? static_branch_disable(&dm_key) :
				 static_branch_enable(&dm_key), 0);
		CHECK_EQ(branch_dm(), !(i & 1));
	}
	CHECK_EQ(static_branch_dec(&dm_key), -EINVAL);
	CHECK_EQ(static_call_update(dm_call, (int (*)(int))(void *)&stop), -EINVAL);
	CHECK_EQ(call_dm(1), 1);
	/* The same malformed query twice: said twice, at once. */
	CHECK_EQ(ustatic_dyndbg_query("fiel x.c +p"), -EINVAL);
	CHECK_EQ(ustatic_dyndbg_query("fiel x.c +p"), -EINVAL);
	stop = true;
	pthread_join(th, NULL);
	return 0;
}

static __attribute__((unused)) int count(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

int main(int argc, char **argv)
{
	char log[] = "/tmp/ustatic-debug-XXXXXX", buf[1 << 16];
	int fd = mkstemp(log), st;
	ssize_t n;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "child"))
		return child();
	CHECK(fd >= 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(fd, 2);
		setenv("USTATIC_DEBUG", "1", 1);
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot re-execute");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(log);
	CHECK(n > 0);
	buf[n] = 0;
	fputs(buf, stdout);
	CHECK(strstr(buf, "write method ") && !strstr(buf, "write method 1"));
	CHECK(strstr(buf, "static_branch_dec(dm_key) refused"));
	CHECK(strstr(buf, "static_call_update(dm_call) refused"));
	CHECK_EQ(count(buf, "ustatic: ustatic_dyndbg_query: column 1: unknown"), 2);
#if defined(USTATIC_ARCH_X86_64)
	/* Every batch meets the blocking thread, the log says so once or
	 * twice, with its name, and how often it came. */
	CHECK(strstr(buf, "\"dm-blocker\") blocks SIGTRAP"));
	CHECK(count(buf, "blocks SIGTRAP") <= 4);
	CHECK(count(buf, "more times") >= 1);
#endif
	return 0;
}
