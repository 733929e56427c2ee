/* SPDX-License-Identifier: MIT */
/*
 * lldb (Debian's) with no setup: test/debugger_gdb.c's three parts, with
 * lldb's commands.
 *
 *  1. `lldb -b -o run -- self --debuggee run`: the program exits with
 *     status 0, every result right, no SIGTRAP stop, no int3 placed.
 *  2. `lldb -b -p PID`: attach to the program started outside lldb (its
 *     call site already points at a function), continue to a breakpoint it
 *     reaches after 2,000 more updates, detach; the program ends with
 *     every result right. The attach window: see test/debugger_gdb.c.
 *  3. A breakpoint on a function reached only through a static call; `si`
 *     from an inline call site through the trampoline into the target;
 *     `step` and `next`; the program exits with status 0.
 *
 * Fails without src/tracer.c (against the library before it): part 1
 * stops with "stop reason = signal SIGTRAP" at an inline call site being
 * patched.
 *
 * Skips without lldb, when it may not trace, and under qemu-user.
 * Debian's lldb 14 prints a Python traceback at start-up
 * ("No module named 'lldb.embedded_interpreter'"): harmless, ignored.
 */
#include "debuggee.h"

#define OUT_SIZE (1 << 17)

static char out[OUT_SIZE], prog[OUT_SIZE];

static bool lldb_refused(const char *o)
{
	return strstr(o, "Operation not permitted") ||
	       strstr(o, "attach failed") ||
	       (strstr(o, "process launch failed") && !strstr(o, "exited"));
}

/* argv = { "lldb", "-b", then pairs "-o" command, ..., NULL }. */
static int lldb_argv(const char **argv, const char *const cmd[])
{
	int n = 0;

	argv[n++] = "lldb";
	argv[n++] = "-b";
	argv[n++] = "-x";		/* no ~/.lldbinit */
	for (int i = 0; cmd[i]; i++) {
		argv[n++] = "-o";
		argv[n++] = cmd[i];
	}
	argv[n] = NULL;
	return n;
}

/* Part 1: run under lldb from the start. */
static int lldb_run(const char *self)
{
	static const char *const cmd[] = { "run", NULL };
	const char *argv[16];
	int n = lldb_argv(argv, cmd);

	argv[n++] = "--";
	argv[n++] = self;
	argv[n++] = "--debuggee";
	argv[n++] = "run";
	argv[n] = NULL;
	dbg_capture(argv, 120, out, sizeof(out));
	if (lldb_refused(out)) {
		printf("%s", out);
		DBG_SKIP("lldb may not trace here");
	}
	if (dbg_saw_sigtrap(out))
		return dbg_fail("run: the program stopped for a SIGTRAP", out);
	if (!strstr(out, "exited with status = 0 ") ||
	    !strstr(out, "debuggee: run:") || strstr(out, "tracer 0\n"))
		return dbg_fail("run: the program did not end normally under "
				"lldb, or was not traced", out);
	printf("lldb run:\n%s", out);
	return T_EXIT_PASS;
}

/* Part 2: attach to the running program, continue, detach. */
static int lldb_attach(const char *self)
{
	static const char *const cmd[] = {
		"breakpoint set -n dbg_checkpoint", "continue", "bt 2",
		"process detach", NULL
	};
	const char *argv[32];
	char pid_s[32];
	int n, fd, status;
	pid_t pid;

	if (dbg_attach_refused())
		DBG_SKIP("%s", dbg_attach_refused());
	pid = dbg_spawn_attach(self, &fd, prog, sizeof(prog));
	snprintf(pid_s, sizeof(pid_s), "%d", (int)pid);
	n = lldb_argv(argv, cmd);
	/* -p first: lldb attaches before it runs the -o commands. */
	memmove(argv + 3, argv + 1, (size_t)n * sizeof(argv[0]));
	argv[1] = "-p";
	argv[2] = pid_s;
	dbg_capture(argv, 120, out, sizeof(out));
	if (lldb_refused(out)) {
		kill(pid, SIGKILL);
		t_wait(pid);
		printf("%s", out);
		DBG_SKIP("lldb may not attach here");
	}
	status = dbg_finish(pid, fd, prog, sizeof(prog));
	printf("lldb -p:\n%s\nthe program:\n%s", out, prog);
	if (dbg_saw_sigtrap(out))
		return dbg_fail("attach: the program stopped for a SIGTRAP", out);
	if (!dbg_after(out, "stop reason = breakpoint 1.1", "`dbg_checkpoint") ||
	    !strstr(out, "detached"))
		return dbg_fail("attach: lldb did not stop at the breakpoint and "
				"detach", out);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "FAIL: attach: the program ended with status "
			"0x%x:\n%s\n", status, prog);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

/* Part 3: breakpoints and stepping. */
static int lldb_step(const char *self)
{
	static const char *const cmd[] = {
		"breakpoint set -n dbg_ret2", "run", "bt 2",
		"breakpoint delete -f", "breakpoint set -K false -n dbg_site",
		"continue", "si", "si", "si", "si", "si", "si", "si", "si",
		"continue", "step", "bt 1", "next",
		"breakpoint delete -f", "continue", NULL
	};
	const char *argv[64];
	int n = lldb_argv(argv, cmd);

	argv[n++] = "--";
	argv[n++] = self;
	argv[n++] = "--debuggee";
	argv[n++] = "step";
	argv[n] = NULL;
	dbg_capture(argv, 120, out, sizeof(out));
	if (lldb_refused(out)) {
		printf("%s", out);
		DBG_SKIP("lldb may not trace here");
	}
	printf("lldb step:\n%s", out);
	if (dbg_saw_sigtrap(out))
		return dbg_fail("step: the program stopped for a SIGTRAP", out);
	if (!dbg_after(out, "stop reason = breakpoint 1.1", "`dbg_ret2") ||
	    !dbg_after(out, "frame #1: ", "`dbg_site at"))
		return dbg_fail("step: the breakpoint on the static call's "
				"target was not hit from its call site", out);
	/* The generic build calls through the key, not the trampoline. */
	if (!dbg_after(out, "stop reason = breakpoint 2.1", T_PATCHES_CODE ?
		       "`__SCT__dbg_call" : "`dbg_ret2") ||
	    !dbg_after(out, T_PATCHES_CODE ? "`__SCT__dbg_call" :
		       "stop reason = breakpoint 2.1", "`dbg_ret2"))
		return dbg_fail("step: si did not go from the call site "
				"through the trampoline into the target", out);
	if (!strstr(out, "exited with status = 0 ") ||
	    !strstr(out, "every result right"))
		return dbg_fail("step: the program did not end normally", out);
	return T_EXIT_PASS;
}

int main(int argc, char **argv)
{
	static int (*const parts[])(const char *) = {
		lldb_run, lldb_attach, lldb_step
	};

	if (argc >= 3 && !strcmp(argv[1], "--debuggee"))
		return dbg_debuggee(argv[2]);
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("lldb cannot trace a program under qemu-user");
	if (system("lldb --version >/dev/null 2>&1") != 0)
		SKIP("lldb is not installed");
	return dbg_parts(parts, 3);
}
