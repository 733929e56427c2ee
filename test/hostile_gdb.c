/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: the program runs under gdb.
 *
 * Every int3 of a patch batch that a thread runs into is a SIGTRAP, which
 * gdb (a ptracer) sees first. gdb stops on SIGTRAP and does not pass it by
 * default; `handle SIGTRAP nostop noprint pass` changes that. When the int3
 * is already gone by the time gdb looks, gdb takes the trap for a software
 * breakpoint and rewinds the PC to the site: the library's handler must
 * accept RIP == site (re-execute: a late trap).
 *
 * Part 1 runs the child (`--child`: a static call with an inline call site
 * retargeted 3000 times while a second thread calls it and checks every
 * result) under gdb with the recipe that works, and passes when gdb reports
 * "exited normally" (the child exits 0 only if every result was right).
 *
 * Recipes tried (gdb 13.1, Linux 6.18, 2 vCPUs; `gdb -batch -nx ... --args
 * <path of this executable> --child`; /proc/self/exe cannot be passed, gdb
 * would resolve it to itself):
 *   WORKS  -ex 'break main' -ex run -ex 'handle SIGTRAP nostop noprint pass'
 *          -ex delete -ex 'signal 0'            <- used by this test.
 *          0 wrong results; most traps reach our handler with RIP already
 *          rewound by gdb (stats: ~1,000 late traps, some emulated ones).
 *   FAILS  -ex 'handle SIGTRAP nostop noprint pass' -ex run   (the brief's):
 *          "Program terminated with signal SIGTRAP" before main: gdb passes
 *          its own exec-time SIGTRAP to the inferior. Same with
 *          `set startup-with-shell off` first, and with `starti`, `handle
 *          ... pass`, `continue`.
 *   FAILS  -ex run (default: stop, nopass): batch mode stops at our first
 *          trap and kills the inferior; with `handle SIGTRAP nostop noprint
 *          nopass` gdb resumes at site+1 (inside the old instruction):
 *          SIGSEGV.
 *   FAILS  break main / run / handle ... pass / [delete] / `continue`:
 *          `continue` re-delivers gdb's own breakpoint SIGTRAP (RIP already
 *          rewound to main). Without ustatic the program dies of SIGTRAP.
 *          The library as first committed rewound RIP by one more byte in
 *          chain() (src/trap.c assumed RIP = int3 + 1 for every SI_KERNEL
 *          trap), ran the program from main - 1 and it crashed with
 *          SIGSEGV at main - 1 (or ran on with our handler reset to
 *          SIG_DFL: every later update then failed with -EDEADLK). Fixed in
 *          41dd430; part 2 checks that the program dies of SIGTRAP there,
 *          as without the library.
 *   NOT A FIX  USTATIC_TRAPFREE=1 in the child's environment: static keys
 *          and trampolines then patch without int3, but an inline call site
 *          cannot go from `call A` to `call B` without one: the child's
 *          first update returns -EDEADLK.
 *
 * Convinced it can fail: HOSTILE_GDB_RECIPE=pass (the brief's recipe) or
 * =default makes part 1 fail; a private library copy whose handler does not
 * take RIP == site as a late trap makes part 1 fail (the child dies of
 * SIGTRAP under gdb; the child keeps updating until its caller met 20
 * int3s or 8 s passed, and fails if it met none, so that a run without any
 * collision cannot pass); part 2 failed against the
 * library before 41dd430 (SIGSEGV at main - 1).
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#if !T_USES_GUARDS
int main(void)
{
	SKIP("x86-64 int3 engine only (traps under gdb)");
}
#else

DEFINE_STATIC_CALL(gd_sc, t_ret0);

T_CALL_SITE_VOID(call_sc, gd_sc)

static unsigned long done_seq, pending_seq;
static bool stop;
static unsigned long wrong, calls, running;

/* The caller on one CPU, the patching thread on another: the caller then
 * runs while int3s are armed. */
static int cpus[2] = { -1, -1 };

static void *worker(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	t_pin(cpus[1]);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int r = call_sc();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		bad += !test_in_window(r, d0, p1);
		if (++n == 1000)
			__atomic_store_n(&running, 1, __ATOMIC_RELEASE);
	}
	wrong = bad;
	calls = n;
	return NULL;
}

static int child(void)
{
	struct ustatic_stats a, b;
	pthread_t th;
	long rounds = test_scale(3000);
	double t0;
	long s;

	if (t_two_cpus(cpus) == 2)
		t_pin(cpus[0]);
	CHECK_EQ(pthread_create(&th, NULL, worker, NULL), 0);
	while (!__atomic_load_n(&running, __ATOMIC_ACQUIRE))
		sched_yield();
	CHECK_EQ(ustatic_get_stats(&a), 0);
	/* `rounds` updates, then on until the caller ran into 20 int3s (the
	 * case under test) or 8 s passed. */
	t0 = t_now();
	for (s = 1;; s++) {
		__atomic_store_n(&pending_seq, s, __ATOMIC_RELEASE);
		CHECK_EQ(static_call_update(gd_sc, t_ret[s % 4]), 0);
		CHECK_EQ(call_sc(), (int)(s % 4));
		__atomic_store_n(&done_seq, s, __ATOMIC_RELEASE);
		CHECK_EQ(ustatic_get_stats(&b), 0);
		if (s >= rounds && (b.traps + b.late_traps - a.traps -
				    a.late_traps >= 20 || t_now() - t0 > 8))
			break;
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("child: %ld updates, %lu calls, %lu wrong, %lu batches (%lu "
	       "trap-free), %lu traps, %lu late traps\n", s, calls, wrong,
	       b.batches - a.batches, b.trap_free_batches - a.trap_free_batches,
	       b.traps - a.traps, b.late_traps - a.late_traps);
	fflush(stdout);
	if (b.traps + b.late_traps == a.traps + a.late_traps) {
		printf("child: the caller never met an int3: nothing tested\n");
		return 2;
	}
	return wrong ? 1 : 0;
}

struct recipe {
	const char *name;
	const char *args[16];
};

static const struct recipe RECIPES[] = {
	{ "pass", { "-ex", "handle SIGTRAP nostop noprint pass", "-ex", "run",
		    "-ex", "info registers rip", NULL } },
	{ "signal0", { "-ex", "break main", "-ex", "run",
		       "-ex", "handle SIGTRAP nostop noprint pass",
		       "-ex", "delete", "-ex", "signal 0",
		       "-ex", "info registers rip", NULL } },
	{ "default", { "-ex", "run", "-ex", "info registers rip", NULL } },
	{ "continue", { "-ex", "break main", "-ex", "run",
			"-ex", "handle SIGTRAP nostop noprint pass",
			"-ex", "delete", "-ex", "continue", NULL } },
};

/* Runs the child under gdb with recipe r; returns gdb's output. */
static char *run_gdb(const struct recipe *r, const char *self)
{
	static char out[1 << 16];
	const char *argv[32];
	int p[2], n = 0, status;
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	argv[n++] = "gdb";
	argv[n++] = "-batch";
	argv[n++] = "-nx";
	for (int i = 0; r->args[i]; i++)
		argv[n++] = r->args[i];
	argv[n++] = "--args";
	argv[n++] = self;
	argv[n++] = "--child";
	argv[n] = NULL;
	CHECK_EQ(pipe(p), 0);
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
	const char *want = getenv("HOSTILE_GDB_RECIPE");
	const struct recipe *r = &RECIPES[1];
	char self[4096];
	char *out;

	if (argc >= 2 && !strcmp(argv[1], "--child"))
		return child();
	if (system("gdb --version >/dev/null 2>&1") != 0)
		SKIP("gdb is not installed");
	for (size_t i = 0; want && i < sizeof(RECIPES) / sizeof(RECIPES[0]); i++)
		if (!strcmp(RECIPES[i].name, want))
			r = &RECIPES[i];
	/* gdb needs the real path: /proc/self/exe would be gdb itself. */
	test_self_path(self, sizeof(self));
	setenv("USTATIC_TEST_SCALE", getenv("USTATIC_TEST_SCALE") ?
	       getenv("USTATIC_TEST_SCALE") : "1", 1);
	out = run_gdb(r, self);
	if (strstr(out, "ptrace: Operation not permitted"))
		SKIP("gdb cannot trace here:\n%s", out);
	if (!strstr(out, "exited normally") || !strstr(out, "child: ")) {
		fprintf(stderr, "recipe %s: the child did not exit normally "
			"under gdb:\n%s\n", r->name, out);
		return T_EXIT_FAIL;
	}
	printf("recipe %s:\n%s", r->name, out);

	/* Part 2: gdb passes its own breakpoint SIGTRAP (PC already at main).
	 * The program has no SIGTRAP handler of its own: like any program it
	 * must die of that SIGTRAP, not run on from main - 1. */
	out = run_gdb(&RECIPES[3], self);
	if (!strstr(out, "terminated with signal SIGTRAP")) {
		fprintf(stderr, "BUG: a SIGTRAP that gdb re-delivers with the PC "
			"already rewound is not handled like SIGTRAP's default "
			"action (src/trap.c chain() rewinds RIP blindly):\n%s\n",
			out);
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}
#endif
