/*
 * Hostile conditions: forks that skip the atfork handlers (issue: "Forks
 * that skip atfork handlers must never write into the parent").
 *
 * _Fork() and a raw clone() run no pthread_atfork handler, so the child
 * inherits the library's /proc/self/mem descriptor as it was: one that
 * writes the parent's memory. A child that then updates must patch its
 * own code and leave the parent's alone. The parent here never updates
 * and has a thread running the patched code the whole time: an int3 or a
 * new target written into it would kill it (SIGTRAP) or show.
 *
 * Convinced it can fail: linked against src/writer.c of 1c2710d, the
 * _Fork child's update wrote the parent's code: either the parent, which
 * never updated, died of SIGTRAP on the int3 (status 133), or the child
 * found its own code on the old target (exit 4) and the parent's changed.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "writer.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else

static int parent_target;
static bool stop, running;
static long wrong;

/* The parent's thread: its code must keep the target it had. */
static void *runner(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (stub_jmp() != parent_target)
			__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&running, true, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* In the child: stub_jmp goes to the next target, in the child only. */
static int child_updates(void)
{
	struct us_patch p = { .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };
	int next = (parent_target + 1) % 4;

	stub_jump_insn(p.old, p.addr, stub_targets[parent_target]);
	stub_jump_insn(p.new, p.addr, stub_targets[next]);
	for (int i = 0; i < 3; i++) {
		if (us_engine_apply(&p, 1))
			return 3;
		if (stub_jmp() != next)
			return 4;
		/* and back, and forth again */
		uint8_t t[STUB_LEN];
		memcpy(t, p.old, STUB_LEN);
		memcpy(p.old, p.new, STUB_LEN);
		memcpy(p.new, t, STUB_LEN);
		next = next == parent_target ? (parent_target + 1) % 4 : parent_target;
	}
	return 0;
}

#ifdef __GLIBC_PREREQ
#if __GLIBC_PREREQ(2, 34)
#define HAVE__FORK 1
static pid_t spawn__fork(void)
{
	return _Fork();
}
#endif
#endif

static pid_t spawn_clone(void)
{
	/* fork() semantics (a copy of the stack), without libc. */
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
}

static int run(const char *how, pid_t (*spawn)(void))
{
	uint8_t before[STUB_LEN];
	int status;
	pid_t pid;

	memcpy(before, (void *)stub_jmp, STUB_LEN);
	fflush(stdout);
	pid = spawn();
	if (pid == 0) {
		alarm(30);
		_exit(child_updates());
	}
	CHECK(pid > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: the child's update failed (status 0x%x)\n",
			how, status);
		return 1;
	}
	if (memcmp(before, (void *)stub_jmp, STUB_LEN) ||
	    stub_jmp() != parent_target) {
		fprintf(stderr, "%s: the child wrote the parent's code\n", how);
		return 1;
	}
	printf("%s: the child patched itself, the parent is untouched\n", how);
	return 0;
}

int main(void)
{
	pthread_t th;
	int failed = 0;

	if (!test_procmem_ok())
		SKIP("writes to /proc/self/mem are not seen here (qemu-user)");
	if (getenv("USTATIC_TRAPFREE") && US_ARCH_USES_GUARDS)
		SKIP("the stub's updates need int3, never used with USTATIC_TRAPFREE");
	alarm(60);
	CHECK_EQ(us_writer_force(USTATIC_WRITE_PROCMEM), 0);
	parent_target = stub_jmp();
	CHECK_EQ(pthread_create(&th, NULL, runner, NULL), 0);
	while (!__atomic_load_n(&running, __ATOMIC_RELAXED))
		sched_yield();
#ifdef HAVE__FORK
	failed |= run("_Fork", spawn__fork);
#else
	printf("_Fork: not in this libc\n");
#endif
	failed |= run("raw clone", spawn_clone);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	CHECK_EQ(wrong, 0);
	return failed;
}
#endif
