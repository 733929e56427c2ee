/* SPDX-License-Identifier: MIT */
/*
 * The program that test/debugger_gdb.c and test/debugger_lldb.c run under a
 * debugger (the test executable again, as `self --debuggee MODE`), and how
 * they run a debugger: included by both, so each is one executable.
 *
 * The program: two threads call a static call through an inline call site
 * and through its trampoline (a function pointer), and a static branch,
 * checking every result, while the main thread retargets the call and
 * flips the key thousands of times. Modes:
 *   run     test_scale(3000) updates; every update must succeed. Under a
 *           tracer from the start, no int3 may be placed: every batch is
 *           trap-free (ustatic_get_stats()).
 *   attach  300 updates with int3 guards (the call site then points
 *           straight at a function), then waits for a tracer (30 s at
 *           most; the workers go on calling), goes on under it for
 *           DBG_TRACED_UPDATES updates, calls dbg_checkpoint() (where the
 *           debugger stops, then detaches), waits until no tracer is left,
 *           and updates on: int3 guards are placed again. While traced,
 *           retargeting the inline call site fails with -EDEADLK (nothing
 *           changed): the documented limit. Every other update (the key,
 *           dbg_far_call through its trampoline) must succeed. With
 *           USTATIC_TEST_ATTACH_RACE set it does not wait: it updates
 *           while the debugger attaches.
 *   step    a second thread updates another static call (between
 *           dbg_ret0 and dbg_ret1) and the key; the main thread points
 *           dbg_call at dbg_ret2 and calls dbg_site() three times, for
 *           breakpoints and stepping.
 * Exit 0: every result was right.
 */
#ifndef USTATIC_TEST_DEBUGGEE_H
#define USTATIC_TEST_DEBUGGEE_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#define DBG_TRACED_UPDATES 2000

/* The targets, here so that debuggers show their names and lines. */
__attribute__((noinline)) int dbg_ret0(void) { return 0; }
__attribute__((noinline)) int dbg_ret1(void) { return 1; }
__attribute__((noinline)) int dbg_ret2(void) { return 2; }
__attribute__((noinline)) int dbg_ret3(void) { return 3; }
static int (*const dbg_ret[4])(void) = { dbg_ret0, dbg_ret1, dbg_ret2, dbg_ret3 };

DEFINE_STATIC_CALL(dbg_call, dbg_ret0);
DEFINE_STATIC_CALL(dbg_other, dbg_ret0);
DEFINE_STATIC_CALL(dbg_far_call, dbg_ret0);
DEFINE_STATIC_KEY_FALSE(dbg_key);

/* An inline call site, alone on its line. */
__attribute__((noinline)) int dbg_site(void)
{
	int r = static_call(dbg_call)();

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

__attribute__((noinline)) int dbg_other_site(void)
{
	int r = static_call(dbg_other)();

	__asm__ __volatile__("" : "+r"(r));
	return r;
}

__attribute__((noinline)) int dbg_branch(void)
{
	if (static_branch_unlikely(&dbg_key))
		return 1;
	return 0;
}

/* Where the attach test's debugger stops before it detaches. */
__attribute__((noinline)) void dbg_checkpoint(void)
{
	__asm__ __volatile__("" ::: "memory");
}

/* Trampolines called as plain function pointers: dbg_call's, and that
 * of dbg_far_call, which has no inline call site. */
static int (*volatile dbg_tramp)(void);
static int (*volatile dbg_far)(void);

/*
 * Update s (1, 2, ...) points dbg_call and dbg_far_call at dbg_ret[s % 4]
 * and leaves the key at s & 1. Each has its window (test.h): `done`, the
 * last update that took; `pending`, the one under way. The updater stores
 * both with release after (pending: before) the change; the workers load
 * them with acquire around their calls.
 */
struct dbg_window {
	unsigned long done, pending;
};
static struct dbg_window dbg_w_call, dbg_w_far, dbg_w_key;
static bool dbg_stop;
static unsigned long dbg_wrong, dbg_calls;
static volatile bool dbg_running[2];

/* The pid of this process's tracer (TracerPid), 0 for none. */
static long dbg_tracer(void)
{
	char buf[1024];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *l;

	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = 0;
	l = strstr(buf, "\nTracerPid:");
	CHECK(l != NULL);
	return atol(l + strlen("\nTracerPid:"));
}

static unsigned long dbg_done(const struct dbg_window *w)
{
	return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

static unsigned long dbg_pending(const struct dbg_window *w)
{
	return __atomic_load_n(&w->pending, __ATOMIC_ACQUIRE);
}

static bool dbg_key_in_window(int k, unsigned long d0, unsigned long p1)
{
	return p1 > d0 || k == (int)(d0 & 1);
}

static void *dbg_worker(void *arg)
{
	long me = (long)arg;
	unsigned long n = 0, bad = 0;

	while (!__atomic_load_n(&dbg_stop, __ATOMIC_RELAXED)) {
		unsigned long c0 = dbg_done(&dbg_w_call);
		unsigned long f0 = dbg_done(&dbg_w_far);
		unsigned long k0 = dbg_done(&dbg_w_key);
		int r = dbg_site(), t = dbg_tramp(), f = dbg_far(), k = dbg_branch();
		unsigned long c1 = dbg_pending(&dbg_w_call);
		unsigned long f1 = dbg_pending(&dbg_w_far);
		unsigned long k1 = dbg_pending(&dbg_w_key);

		if (!test_in_window(r, c0, c1) || !test_in_window(t, c0, c1) ||
		    !test_in_window(f, f0, f1) || !dbg_key_in_window(k, k0, k1)) {
			if (!bad++)
				fprintf(stderr, "debuggee: wrong result: call %d "
					"(%lu..%lu), trampoline %d, far %d (%lu..%lu), "
					"key %d (%lu..%lu)\n", r, c0, c1, t, f, f0,
					f1, k, k0, k1);
		}
		dbg_running[me] = true;
		n++;
	}
	__atomic_fetch_add(&dbg_wrong, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dbg_calls, n, __ATOMIC_RELAXED);
	return NULL;
}

/* Runs update s of one of them: 0 or -EDEADLK (when allowed). */
static int dbg_set(struct dbg_window *w, unsigned long s, int err,
		   bool may_deadlock)
{
	if (err == -EDEADLK && may_deadlock)
		return err;
	if (err) {
		fprintf(stderr, "debuggee: update %lu: %s\n", s, strerror(-err));
		exit(T_EXIT_FAIL);
	}
	__atomic_store_n(&w->done, s, __ATOMIC_RELEASE);
	return 0;
}

/* Update s; -EDEADLK from dbg_call is allowed when `may_deadlock`, and
 * returned. */
static int dbg_update(unsigned long s, bool may_deadlock)
{
	int err;

	__atomic_store_n(&dbg_w_call.pending, s, __ATOMIC_RELEASE);
	err = dbg_set(&dbg_w_call, s, static_call_update(dbg_call,
				dbg_ret[s % 4]), may_deadlock);
	__atomic_store_n(&dbg_w_far.pending, s, __ATOMIC_RELEASE);
	dbg_set(&dbg_w_far, s, static_call_update(dbg_far_call,
			dbg_ret[s % 4]), false);
	__atomic_store_n(&dbg_w_key.pending, s, __ATOMIC_RELEASE);
	dbg_set(&dbg_w_key, s, T_BRANCH_SET(&dbg_key, s & 1), false);
	return err;
}

static void dbg_print_stats(const char *what, const struct ustatic_stats *a,
			    const struct ustatic_stats *b)
{
	printf("debuggee: %s: %lu batches, %lu trap-free, %lu traps, "
	       "%lu late traps\n", what, b->batches - a->batches,
	       b->trap_free_batches - a->trap_free_batches, b->traps - a->traps,
	       b->late_traps - a->late_traps);
}

static void dbg_stats(struct ustatic_stats *st)
{
	CHECK_EQ(ustatic_get_stats(st), 0);
}

/* Updates from *s on until cond() holds (or `limit` seconds pass: fail). */
static void dbg_update_until(unsigned long *s, bool (*cond)(void),
			     bool may_deadlock, double limit)
{
	double t0 = t_now();

	while (!cond()) {
		dbg_update(++*s, may_deadlock);
		if (t_now() - t0 > limit) {
			fprintf(stderr, "debuggee: waited %.0f s in vain\n", limit);
			exit(T_EXIT_FAIL);
		}
	}
}

static bool dbg_traced(void) { return dbg_tracer() != 0; }
static bool dbg_untraced(void) { return dbg_tracer() == 0; }

/* Waits, updating nothing, until a tracer is attached (30 s at most). */
static void dbg_wait_traced(void)
{
	double t0 = t_now();

	while (!dbg_traced()) {
		CHECK(t_now() - t0 < 30);
		usleep(1000);
	}
}

static int dbg_mode_attach(unsigned long *s)
{
	struct ustatic_stats a, b, c, d;
	unsigned long refused, k;

	dbg_stats(&a);
	for (k = 0; k < 300; k++)
		dbg_update(++*s, false);
	printf("debuggee: ready for a debugger\n");
	fflush(stdout);
	/* The attach window: see test/debugger_gdb.c. */
	if (getenv("USTATIC_TEST_ATTACH_RACE"))
		dbg_update_until(s, dbg_traced, true, 30);
	else
		dbg_wait_traced();
	dbg_stats(&b);
	dbg_print_stats("before the attach", &a, &b);
	if (T_USES_GUARDS && b.batches == b.trap_free_batches) {
		printf("debuggee: no int3 batch before the attach\n");
		return T_EXIT_FAIL;
	}
	for (k = 0, refused = 0; k < DBG_TRACED_UPDATES; k++)
		refused += dbg_update(++*s, true) != 0;
	dbg_stats(&c);
	dbg_print_stats("traced", &b, &c);
	printf("debuggee: traced: %lu updates, %lu of dbg_call refused with "
	       "EDEADLK\n", k, refused);
	dbg_checkpoint();
	dbg_update_until(s, dbg_untraced, true, 30);
	dbg_stats(&c);
	for (k = 0; k < 500; k++)
		dbg_update(++*s, false);
	dbg_stats(&d);
	dbg_print_stats("after the detach", &c, &d);
	if (T_USES_GUARDS && d.batches - c.batches ==
	    d.trap_free_batches - c.trap_free_batches) {
		printf("debuggee: no int3 batch after the detach\n");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static int dbg_mode_run(unsigned long *s, long tracer)
{
	struct ustatic_stats a, b;
	long n = test_scale(3000);

	dbg_stats(&a);
	while ((long)*s < n)
		dbg_update(++*s, false);
	dbg_stats(&b);
	dbg_print_stats("run", &a, &b);
	if (tracer && (b.traps || b.trap_free_batches != b.batches)) {
		printf("debuggee: int3 guards placed under a tracer\n");
		return T_EXIT_FAIL;
	}
	return T_EXIT_PASS;
}

static void *dbg_churn(void *arg)
{
	unsigned long s = 0;

	(void)arg;
	while (!__atomic_load_n(&dbg_stop, __ATOMIC_RELAXED)) {
		s++;
		CHECK_EQ(static_call_update(dbg_other, dbg_ret[s % 2]), 0);
		CHECK_EQ(T_BRANCH_SET(&dbg_key, s & 1), 0);
		CHECK(dbg_other_site() >= 0);
		dbg_running[0] = true;
	}
	return NULL;
}

static int dbg_mode_step(void)
{
	pthread_t th;

	t_thread_start(&th, dbg_churn, &dbg_running[0]);
	CHECK_EQ(static_call_update(dbg_call, dbg_ret2), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(dbg_site(), 2);
	__atomic_store_n(&dbg_stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("debuggee: step: every result right\n");
	return T_EXIT_PASS;
}

static int dbg_debuggee(const char *mode)
{
	long tracer = dbg_tracer();
	unsigned long s = 0;
	pthread_t th[2];
	int ret;

	/* Bounded even if a debugger leaves it running. */
	alarm(120);
	/* YAMA ptrace_scope 1: a debugger that is not our parent may attach. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	if (!strcmp(mode, "step"))
		return dbg_mode_step();
	dbg_tramp = STATIC_CALL_TRAMP_ADDR(dbg_call);
	dbg_far = STATIC_CALL_TRAMP_ADDR(dbg_far_call);
	for (long i = 0; i < 2; i++) {
		CHECK_EQ(pthread_create(&th[i], NULL, dbg_worker, (void *)i), 0);
		while (!dbg_running[i])
			sched_yield();
	}
	printf("debuggee: pid %d, tracer %ld\n", (int)getpid(), tracer);
	fflush(stdout);
	if (!strcmp(mode, "attach"))
		ret = dbg_mode_attach(&s);
	else
		ret = dbg_mode_run(&s, tracer);
	__atomic_store_n(&dbg_stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("debuggee: %lu updates, %lu calls, %lu wrong\n", s, dbg_calls,
	       dbg_wrong);
	fflush(stdout);
	return dbg_wrong ? T_EXIT_FAIL : ret;
}

/* ---- the tests' side ---- */

/*
 * Runs argv (a debugger) with no standard input, stdout and stderr into
 * out, for at most `secs` seconds (then it is killed, with its process
 * group). Returns its wait status.
 */
static int dbg_capture(const char *const argv[], int secs, char *out,
		       size_t size)
{
	double end = t_now() + secs;
	size_t len = 0;
	int p[2], status;
	pid_t pid;

	fflush(stdout);
	CHECK_EQ(pipe(p), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		int left = (int)((end - t_now()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, left) == 0) {
			fprintf(stderr, "%s: killed after %d s\n", argv[0], secs);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		n = read(p[0], out + len, size - 1 - len);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			len += (size_t)n;
		if (len == size - 1)
			break;
	}
	out[len] = 0;
	close(p[0]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * Starts `self --debuggee attach` with its stdout into *fd, and waits (30 s
 * at most) until it says it is ready for a debugger; what it said so far
 * is in out. Its pid.
 */
static pid_t dbg_spawn_attach(const char *self, int *fd, char *out,
			      size_t size)
{
	double end = t_now() + 30;
	size_t len = 0;
	int p[2];
	pid_t pid;

	fflush(stdout);
	CHECK_EQ(pipe(p), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(self, self, "--debuggee", "attach", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	out[0] = 0;
	while (!strstr(out, "ready for a debugger\n")) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		ssize_t n;

		CHECK(t_now() < end && len < size - 1);
		if (poll(&pf, 1, 1000) <= 0)
			continue;
		n = read(p[0], out + len, size - 1 - len);
		CHECK(n > 0);
		len += (size_t)n;
		out[len] = 0;
	}
	return pid;
}

/*
 * Reads what is left of fd (the attach debuggee's stdout) into out, and
 * waits for the debuggee; one still running after 60 s (a debugger may
 * leave it stopped) is killed. Its wait status.
 */
static int dbg_finish(pid_t pid, int fd, char *out, size_t size)
{
	double end = t_now() + 60;
	size_t len = strlen(out);

	for (;;) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int left = (int)((end - t_now()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, left) == 0) {
			fprintf(stderr, "the debuggee did not end within 60 s "
				"(left stopped?): killed\n");
			kill(pid, SIGKILL);
			break;
		}
		n = read(fd, out + len, size - 1 - len);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			len += (size_t)n;
		if (len == size - 1)
			break;
	}
	out[len] = 0;
	close(fd);
	return t_wait(pid);
}

/* Whether ptrace attaching to another process can work here. */
static const char *dbg_attach_refused(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = 0;

	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	return scope >= 2 ? "YAMA ptrace_scope >= 2 forbids attaching" : NULL;
}

/* A part that cannot run here says why (the last line, if all skip). */
#define DBG_SKIP(...) do {						\
	printf("skip: " __VA_ARGS__);					\
	printf("\n");							\
	return T_EXIT_SKIP;						\
} while (0)

/* Runs each part; fails if one fails, skips if all skip. */
static int dbg_parts(int (*const part[])(const char *), int n)
{
	char self[PATH_MAX];
	int passed = 0;

	test_self_path(self, sizeof(self));
	for (int i = 0; i < n; i++) {
		int ret = part[i](self);

		fflush(stdout);
		if (ret == T_EXIT_PASS)
			passed++;
		else if (ret != T_EXIT_SKIP)
			return ret;
	}
	return passed ? T_EXIT_PASS : T_EXIT_SKIP;
}

/* The output of a debugger run, on failure. */
static int dbg_fail(const char *what, const char *out)
{
	fprintf(stderr, "FAIL: %s; the debugger said:\n%s\n", what, out);
	return T_EXIT_FAIL;
}

/* Whether out says that the debuggee stopped for a SIGTRAP of ours. */
static bool dbg_saw_sigtrap(const char *out)
{
	return strstr(out, "SIGTRAP") != NULL;
}

/* Whether s appears in out after `after`. */
static const char *dbg_after(const char *out, const char *after, const char *s)
{
	const char *a = after ? strstr(out, after) : out;

	return a ? strstr(a, s) : NULL;
}

#endif
