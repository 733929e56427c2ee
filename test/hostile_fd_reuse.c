/*
 * Hostile conditions: descriptors belong to the program, which closes and
 * reuses them (issue: "Descriptors are the program's").
 *
 * A daemon closes every descriptor at start-up and opens its own: the
 * number the library held for /proc/self/mem then names the program's log
 * file. The writer must never write through a descriptor it has not just
 * proven to be this process's own memory, must reopen when its descriptor
 * is gone, and must never close one that is no longer its own. Each case
 * runs in its own child with the /proc/self/mem writer:
 *   closed  the library's descriptor is closed: updates still succeed and
 *           change the code;
 *   reused  every descriptor is closed and the log file opened on the
 *           library's number: updates succeed, change the code, and the
 *           log file stays empty and open;
 *   storm   another thread keeps closing the library's current descriptor
 *           or putting the log file on its number while updates run:
 *           every update succeeds and changes the code (the log file may
 *           catch a stray write in the window between the writer's check
 *           and its write; the count is printed, not checked).
 *
 * Convinced it can fail: linked against src/writer.c of 1c2710d (one
 * descriptor opened at start-up and trusted for good), "closed" fails with
 * -EPERM (for good), "reused" and "storm" return 0 while the code keeps
 * its old target: the bytes went into the log file, at an offset equal to
 * the code's address (a sparse 94 TB file on tmpfs; -EFBIG on ext4).
 * A first version of the fix that recorded fstat() of a new descriptor
 * without checking it against stat("/proc/self/mem") failed "storm" about
 * once in 20 runs: the closer had taken the number between open and fstat.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

static int cur;			/* stub_jmp's target */
static char log_path[PATH_MAX];

/* The descriptor numbers that name this process's /proc/PID/mem. */
static int find_mem_fd(void)
{
	char want[64], link[256], path[300];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	CHECK(d != NULL);
	snprintf(want, sizeof(want), "/proc/%d/mem", (int)getpid());
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, want))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* stub_jmp: cur -> cur + 1, through the engine. */
static int retarget(void)
{
	struct us_patch p = { .addr = (uint8_t *)stub_jmp, .len = STUB_LEN };
	int next = (cur + 1) % 4, err;

	stub_jump_insn(p.old, p.addr, stub_targets[cur]);
	stub_jump_insn(p.new, p.addr, stub_targets[next]);
	err = us_engine_apply(&p, 1);
	if (!err)
		cur = next;
	return err;
}

/* An update succeeds and the code really changed. */
static void update_lands(const char *when)
{
	int err = retarget();

	if (err || stub_jmp() != cur) {
		fprintf(stderr, "%s: update returned %d (%s), code runs target "
			"%d, expected %d\n", when, err, strerror(-err),
			stub_jmp(), cur);
		exit(1);
	}
}

static off_t size_of(int fd)
{
	struct stat st;

	CHECK_EQ(fstat(fd, &st), 0);
	return st.st_size;
}

static int open_log(void)
{
	int fd = open(log_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	return fd;
}

static int case_closed(void)
{
	int n = find_mem_fd();

	update_lands("before");
	CHECK(n >= 0);
	CHECK_EQ(close(n), 0);
	update_lands("descriptor closed");
	update_lands("again");
	CHECK(find_mem_fd() >= 0);	/* reopened */
	return 0;
}

static int case_reused(void)
{
	int n = find_mem_fd(), fd;

	update_lands("before");
	CHECK(n >= 0);
	/* The daemon: close everything but stdio, open a log file. */
	for (int i = 3; i < 1024; i++)
		close(i);
	fd = open_log();
	if (fd != n) {
		CHECK_EQ(dup2(fd, n), n);
		close(fd);
		fd = n;
	}
	for (int i = 0; i < 20; i++)
		update_lands("log file on the library's number");
	CHECK_EQ(size_of(fd), 0);
	CHECK(fcntl(fd, F_GETFD) >= 0);		/* not closed by the library */
	CHECK(find_mem_fd() >= 0 && find_mem_fd() != fd);
	return 0;
}

static bool stop;
static int storm_log;
static long storm_hits;

/* Closes the library's descriptor, or puts the log file on its number. */
static void *closer(void *arg)
{
	struct timespec pause = { 0, 50 * 1000 };

	(void)arg;
	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		int n = find_mem_fd();

		if (n < 0)
			continue;
		if (i & 1) {
			close(n);
		} else if (dup2(storm_log, n) == n) {
			nanosleep(&pause, NULL);
			close(n);	/* our own copy of the log */
		}
		storm_hits++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static int case_storm(void)
{
	struct timespec t0, t;
	pthread_t th;
	long batches = 0;

	storm_log = open_log();
	update_lands("before");
	CHECK_EQ(pthread_create(&th, NULL, closer, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		update_lands("storm");
		batches++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (batches < test_scale(20000) && t.tv_sec - t0.tv_sec < 2);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("storm: %ld updates landed while the descriptor was closed or "
	       "replaced %ld times; log file %s (%lld bytes)\n", batches,
	       storm_hits, size_of(storm_log) ? "caught a stray write"
	       : "untouched", (long long)size_of(storm_log));
	CHECK(storm_hits > 0);
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
		CHECK_EQ(us_writer_force(USTATIC_WRITE_PROCMEM), 0);
		cur = stub_jmp();
		exit(fn());
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: failed (status 0x%x)\n", name, status);
		*failed = 1;
	} else {
		printf("%s: ok\n", name);
	}
}

int main(void)
{
	const char *dir = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";
	int failed = 0;

	if (!test_procmem_ok())
		SKIP("writes to /proc/self/mem are not seen here (qemu-user)");
	if (getenv("USTATIC_TRAPFREE") && US_ARCH_USES_GUARDS)
		SKIP("the stub's updates need int3, never used with USTATIC_TRAPFREE");
	/* tmpfs takes a write at a code address as a sparse file. */
	snprintf(log_path, sizeof(log_path), "%s/ustatic-fd-reuse-%d.log", dir,
		 (int)getpid());
	run_case("closed", case_closed, &failed);
	run_case("reused", case_reused, &failed);
	run_case("storm", case_storm, &failed);
	unlink(log_path);
	return failed;
}
#endif
