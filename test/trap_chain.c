/* SPDX-License-Identifier: MIT */
/*
 * SIGTRAPs that are not ours behave as if ustatic were not installed: a
 * stray int3 or raise(SIGTRAP) kills with SIGTRAP when the previous action
 * was the default, and reaches the previous handler when there was one.
 *
 * White-box: installs the library's SIGTRAP handler again (src/trap.h) over
 * one the test set, as happens when an application's comes first.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "arch.h"
#include "trap.h"
#include "test.h"

static volatile int user_hits;

static void user_handler(int sig)
{
	(void)sig;
	user_hits++;
}

static int died_of(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		fn();
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

static void stray_int3(void)
{
	__asm__ __volatile__("int3");
}

/* The two-byte `int $3`: no 0xcc before the PC, like a trap a debugger
 * already removed. Rewinding one byte would run `03 c0` (add %eax,%eax)
 * and carry on as if nothing had happened. */
static void stray_int_3(void)
{
	__asm__ __volatile__(".byte 0xcd, 0x03, 0xc0" : : : "eax");
}

static void raise_trap(void)
{
	raise(SIGTRAP);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = user_handler };

	if (!US_ARCH_USES_GUARDS)
		SKIP("no trap handler in this build");
	ustatic_get_stats(&(struct ustatic_stats){ 0 });	/* initialized */
	CHECK_EQ(died_of(stray_int3), SIGTRAP);
	CHECK_EQ(died_of(stray_int_3), SIGTRAP);
	CHECK_EQ(died_of(raise_trap), SIGTRAP);
	/* A handler that was there before ours gets its traps. */
	sigaction(SIGTRAP, &sa, NULL);
	us_trap_init();			/* ours again, chaining to user_handler */
	stray_int3();
	raise_trap();
	CHECK_EQ(user_hits, 2);
	CHECK(us_trap_usable());
	return T_EXIT_PASS;
}
