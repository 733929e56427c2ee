/* SPDX-License-Identifier: MIT */
/*
 * SIGTRAPs that are not ours behave as without ustatic:
 *  1. SIGTRAP ignored when the program starts (a shell's `trap '' TRAP`
 *     before exec): kill(getpid(), SIGTRAP) is ignored, also after the
 *     library patched code (before: the process died), and the programs it
 *     runs inherit SIG_IGN (before: the library's handler made it SIG_DFL
 *     for them): the library leaves it so and uses no int3;
 *  2. an int3 right before a patched call site (as __builtin_debugtrap()
 *     leaves it) takes the default action, once: the process dies of
 *     SIGTRAP (before: once the site had been patched, the trap was taken
 *     for a rewound PC and swallowed).
 * Each case runs in a child. Black box, x86-64 for case 2.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "test.h"

static int f0(void) { return 0; }
static int f1(void) { return 1; }

DEFINE_STATIC_CALL(sc, f0);

static __attribute__((noinline)) int call_sc(void)
{
	int r = static_call(sc)();

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

#if defined(USTATIC_ARCH_X86_64)
static __attribute__((noinline)) void trap_then_call(void)
{
	__asm__ __volatile__("int3");
	static_call(sc)();
}

/* The two-byte `int $3` (cd 03: NASM's `int 3`, JITs), then the site. */
static __attribute__((noinline)) void int3_imm_then_call(void)
{
	__asm__ __volatile__(".byte 0xcd, 0x03");
	static_call(sc)();
}
#endif

static int ignored_case(void)
{
	struct sigaction now;

	CHECK_EQ(static_call_update(sc, f1), 0);
	CHECK_EQ(call_sc(), 1);
	CHECK_EQ(kill(getpid(), SIGTRAP), 0);
	CHECK_EQ(static_call_update(sc, f0), 0);
	CHECK_EQ(kill(getpid(), SIGTRAP), 0);
	CHECK_EQ(call_sc(), 0);
	/* Still ignored, so the programs it runs inherit that (a handler of
	 * ours would become SIG_DFL in them). */
	CHECK_EQ(sigaction(SIGTRAP, NULL, &now), 0);
	CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN);
	CHECK_EQ(system("kill -TRAP $$; exit 7"), 7 << 8);
	return 0;
}

static int status_of(const char *mode, char **argv)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (!strcmp(mode, "ignored"))
			signal(SIGTRAP, SIG_IGN);	/* kept across exec */
		execl("/proc/self/exe", argv[0], mode, (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	return st;
}

int main(int argc, char **argv)
{
	int st;

	if (argc > 1 && !strcmp(argv[1], "ignored"))
		return ignored_case();
#if defined(USTATIC_ARCH_X86_64)
	if (argc > 1 && !strcmp(argv[1], "adjacent")) {
		CHECK_EQ(static_call_update(sc, f1), 0);
		trap_then_call();		/* must not come back */
		return 3;
	}
	if (argc > 1 && !strcmp(argv[1], "adjacent-cd03")) {
		CHECK_EQ(static_call_update(sc, f1), 0);
		int3_imm_then_call();		/* must not come back */
		return 3;
	}
#endif
	st = status_of("ignored", argv);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot re-execute (qemu-user without binfmt?)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(USTATIC_ARCH_X86_64)
	st = status_of("adjacent", argv);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);
	st = status_of("adjacent-cd03", argv);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP);
#endif
	return 0;
}
