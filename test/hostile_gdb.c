/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: gdb hands the program a SIGTRAP of its own.
 *
 * `break main`, `run`, `handle SIGTRAP nostop noprint pass`, `delete`,
 * `continue`: gdb re-delivers the SIGTRAP of its breakpoint at main, with
 * the PC already rewound to main. The program has no SIGTRAP handler of
 * its own: like any program it must die of that SIGTRAP. The library as
 * first committed rewound RIP once more in chain() (src/trap.c assumed
 * RIP = int3 + 1 for every SI_KERNEL trap) and ran the program from
 * main - 1: SIGSEGV (fixed in 41dd430).
 *
 * Under a tracer the library now places no int3 and so installs no
 * SIGTRAP handler (src/tracer.c; the handler comes with the first batch
 * that places an int3): the program meets gdb's trap exactly as without
 * the library. This test keeps it so. gdb with no setup (run, attach,
 * breakpoints, stepping) is test/debugger_gdb.c; the `handle SIGTRAP ...
 * pass` recipe this test once ran is no longer needed.
 */
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(gd_sc, t_ret0);

T_CALL_SITE_VOID(call_sc, gd_sc)

/* Runs the child under gdb with the recipe; returns gdb's output. */
static char *run_gdb(const char *self)
{
	static char out[1 << 16];
	const char *argv[] = { "gdb", "-batch", "-nx", "-ex", "break main",
		"-ex", "run", "-ex", "handle SIGTRAP nostop noprint pass",
		"-ex", "delete", "-ex", "continue", "--args", self, "--child",
		NULL };
	int p[2], status;
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	CHECK_EQ(pipe(p), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp("gdb", (char **)argv);
		_exit(127);
	}
	close(p[1]);
	while (len < sizeof(out) - 1 &&
	       (got = read(p[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)got;
	out[len] = 0;
	close(p[0]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return out;
}

int main(int argc, char **argv)
{
	char self[4096];
	char *out;

	if (argc >= 2 && !strcmp(argv[1], "--child"))
		return call_sc();
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("gdb cannot trace a program under qemu-user");
	if (system("gdb --version >/dev/null 2>&1") != 0)
		SKIP("gdb is not installed");
	/* gdb needs the real path: /proc/self/exe would be gdb itself. */
	test_self_path(self, sizeof(self));
	out = run_gdb(self);
	if (strstr(out, "ptrace: Operation not permitted"))
		SKIP("gdb cannot trace here");
	if (!strstr(out, "terminated with signal SIGTRAP")) {
		fprintf(stderr, "BUG: a SIGTRAP that gdb re-delivers with the PC "
			"already rewound is not handled like SIGTRAP's default "
			"action:\n%s\n", out);
		return T_EXIT_FAIL;
	}
	printf("%s", out);
	return T_EXIT_PASS;
}
