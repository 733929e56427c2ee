/*
 * Hostile conditions: signal masks that cannot be read (issue: "Fail
 * closed on what we cannot read").
 *
 * Before placing int3 guards the engine reads every thread's SigBlk from
 * /proc/self/task/TID/status. What it cannot read must count as blocking
 * SIGTRAP, or an int3 kills the process. A thread here blocks SIGTRAP and
 * runs the call site being retargeted; an update that needs int3 must
 * then fail with -EDEADLK and leave the code as it was, when:
 *   groups   the process has 300 supplementary groups, so the Groups:
 *            line pushes SigBlk beyond the first 2 KiB of the file;
 *   status   no descriptor is left for opening a thread's status file
 *            (RLIMIT_NOFILE reached: EMFILE);
 *   tasks    not even /proc/self/task can be opened.
 * Each case runs in its own child (a wrong verdict kills it by SIGTRAP).
 *
 * Convinced it can fail: linked against src/sigmask.c of 1c2710d (the
 * first 2,047 bytes read; whatever could not be read counted as "not
 * blocking"), each case either died of SIGTRAP (status 0x5: the worker met
 * an int3) or saw the update succeed, depending on whether the worker ran
 * the site during the batch.
 * (A thread that exited between the listing and the read counts as not
 * blocking: hostile_thread_churn fails with -EDEADLK within three updates
 * when ENOENT is taken for "unreadable".)
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "writer.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("int3 guards (x86-64 builds) only");
}
#else

static bool stop, running;
static pid_t worker_tid;

/* Blocks SIGTRAP (as an application may) and runs the site. */
static void *worker(void *arg)
{
	sigset_t trap;

	(void)arg;
	sigemptyset(&trap);
	sigaddset(&trap, SIGTRAP);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &trap, NULL), 0);
	worker_tid = (pid_t)syscall(SYS_gettid);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		(void)stub_call();
		__atomic_store_n(&running, true, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The call site needs int3 to go from one call to another: refused. */
static void update_refused(const char *how)
{
	struct us_patch p = { .addr = stub_call_site, .len = STUB_LEN };
	uint8_t before[STUB_LEN];
	int r = stub_call(), err;

	memcpy(before, stub_call_site, STUB_LEN);
	stub_call_insn(p.old, p.addr, stub_targets[r]);
	stub_call_insn(p.new, p.addr, stub_targets[(r + 1) % 4]);
	err = us_engine_apply(&p, 1);
	if (err != -EDEADLK) {
		fprintf(stderr, "%s: update returned %d, expected -EDEADLK\n",
			how, err);
		exit(1);
	}
	CHECK(!memcmp(before, stub_call_site, STUB_LEN));
	CHECK_EQ(stub_call(), r);
}

static void start_worker(pthread_t *th)
{
	CHECK_EQ(pthread_create(th, NULL, worker, NULL), 0);
	while (!__atomic_load_n(&running, __ATOMIC_RELAXED))
		sched_yield();
}

/* Where SigBlk starts in a thread's status file. */
static long sigblk_offset(pid_t tid)
{
	static char buf[1 << 16];
	char path[64];
	long n = 0, got;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	while ((got = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += got;
	close(fd);
	buf[n] = 0;
	CHECK(strstr(buf, "\nSigBlk:") != NULL);
	return strstr(buf, "\nSigBlk:") - buf;
}

static int case_groups(void)
{
	gid_t g[300];
	pthread_t th;

	for (int i = 0; i < 300; i++)
		g[i] = 100000 + i;
	if (setgroups(300, g)) {
		printf("groups: skipped, setgroups: %s\n", strerror(errno));
		return 0;
	}
	start_worker(&th);
	CHECK(sigblk_offset(worker_tid) > 2048);	/* beyond the old 2 KiB read */
	update_refused("groups");
	return 0;
}

static struct rlimit saved_limit;

/* Occupies every descriptor number below `upto`, leaving `free` of the
 * numbers below the new limit unused. */
static void exhaust_descriptors(int upto, int free)
{
	struct rlimit rl;
	int fd;

	do
		fd = open("/dev/null", O_RDONLY);
	while (fd >= 0 && fd < upto);
	CHECK_EQ(fd, upto);
	if (free)
		close(fd);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	saved_limit = rl;
	rl.rlim_cur = upto + 1;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static int case_status(void)
{
	pthread_t th;

	start_worker(&th);
	/* One number left: the listing of /proc/self/task gets it, the
	 * status files do not. */
	exhaust_descriptors(64, 1);
	update_refused("status");
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved_limit), 0);	/* for LSan */
	return 0;
}

static int case_tasks(void)
{
	pthread_t th;

	start_worker(&th);
	exhaust_descriptors(64, 0);
	update_refused("tasks");
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved_limit), 0);
	return 0;
}

static void run_case(const char *name, int (*fn)(void), int *failed)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(60);
		/* No descriptor needed per batch: the cases can take them all. */
		CHECK_EQ(us_writer_force(USTATIC_WRITE_PROCMEM), 0);
		exit(fn());
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: failed (status 0x%x%s)\n", name, status,
			WIFSIGNALED(status) && WTERMSIG(status) == SIGTRAP ?
			", killed by an int3" : "");
		*failed = 1;
	} else {
		printf("%s: refused with -EDEADLK, code unchanged\n", name);
	}
}

int main(void)
{
	int failed = 0;

	if (!test_procmem_ok())
		SKIP("writes to /proc/self/mem are not seen here (qemu-user)");
	if (getenv("USTATIC_TRAPFREE"))
		SKIP("int3 is never used with USTATIC_TRAPFREE");
	run_case("groups", case_groups, &failed);
	run_case("status", case_status, &failed);
	run_case("tasks", case_tasks, &failed);
	return failed;
}
#endif
