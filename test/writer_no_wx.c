/* SPDX-License-Identifier: MIT */
/*
 * No page is ever writable and executable at once, by default: not after
 * an update (as before), but at no moment during one either. Updates of a
 * static call with 1,000 inline call sites and of a key with 100 branch
 * sites run back to back while the process's maps are polled:
 *   alone    no other thread (the engine writes whole instructions), a
 *            child process polls /proc/PID/maps;
 *   threads  a thread polls /proc/self/maps while another runs the sites
 *            (the engine's three phases).
 * Any mapping with both w and x in any poll fails the test.
 * Convinced it can fail: against main (c69296a), whose default writer
 * opened mprotect(RWX) windows, both parts see rwxp text mappings in a
 * share of their polls. Black box.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static __attribute__((noinline)) int inc_a(int x) { return x + 1; }
static __attribute__((noinline)) int inc_b(int x) { return x + 1; }

DEFINE_STATIC_CALL(wx_call, inc_a);
DEFINE_STATIC_KEY_FALSE(wx_key);

#define S1	x = static_call(wx_call)(x);
#define S10	S1 S1 S1 S1 S1 S1 S1 S1 S1 S1
#define S100	S10 S10 S10 S10 S10 S10 S10 S10 S10 S10
#define SITES	1000

/* 1,000 call sites: returns x + 1000 whatever the target. */
static __attribute__((noinline)) int run_calls(int x)
{
	S100 S100 S100 S100 S100 S100 S100 S100 S100 S100
	return x;
}

#define B1	n += static_branch_unlikely(&wx_key);
#define B10	B1 B1 B1 B1 B1 B1 B1 B1 B1 B1
#define BRANCHES 100

/* 100 branch sites: 0 or 100. */
static __attribute__((noinline)) int run_branches(void)
{
	int n = 0;

	B10 B10 B10 B10 B10 B10 B10 B10 B10 B10
	return n;
}

/* What a poller saw; shared with the child poller. */
struct polls {
	atomic_int stop;
	atomic_long polls, wx;
	char first[256];		/* the first W+X line */
};

/* One read of a maps file: how many W+X lines; the first is kept. */
static long scan_maps(const char *path, struct polls *p)
{
	static char buf[1 << 20];
	ssize_t n, len = 0;
	long wx = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	for (char *line = buf; *line; ) {
		char *nl = strchr(line, '\n'), perms[8] = "";

		if (nl)
			*nl = 0;
		if (sscanf(line, "%*s %7s", perms) == 1 &&
		    perms[1] == 'w' && perms[2] == 'x') {
			if (!wx++ && !p->first[0]) {
				strncpy(p->first, line, sizeof(p->first) - 1);
				p->first[sizeof(p->first) - 1] = 0;
			}
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return wx;
}

static void poll_until_stopped(const char *path, struct polls *p)
{
	while (!atomic_load(&p->stop)) {
		atomic_fetch_add(&p->wx, scan_maps(path, p));
		atomic_fetch_add(&p->polls, 1);
	}
}

/* Updates the static call and the key back and forth until the poller
 * made enough polls (or time is up). Returns the number of updates. */
static long update_while_polled(struct polls *p)
{
	double t0 = t_now();
	long n = 0;

	while (n < test_scale(400) || (atomic_load(&p->polls) < test_scale(200) &&
				       t_now() - t0 < 5)) {
		CHECK_EQ(static_call_update(wx_call, n & 1 ? inc_a : inc_b), 0);
		CHECK_EQ(n & 1 ? static_branch_disable(&wx_key) :
				 static_branch_enable(&wx_key), 0);
		CHECK_EQ(run_calls(0), SITES);
		CHECK_EQ(run_branches(), n & 1 ? 0 : BRANCHES);
		n++;
	}
	return n;
}

static void report(const char *part, long updates, struct polls *p)
{
	printf("%s: %ld updates, %ld polls of the maps, %ld W+X mappings seen\n",
	       part, updates, atomic_load(&p->polls), atomic_load(&p->wx));
	if (atomic_load(&p->wx)) {
		fprintf(stderr, "%s: W+X mapping: %s\n", part, p->first);
		exit(T_EXIT_FAIL);
	}
	CHECK(atomic_load(&p->polls) > 0);
}

/* No other thread: a child process polls this one's maps. */
static void alone(void)
{
	struct polls *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char path[64];
	pid_t pid;
	long n;

	CHECK(p != MAP_FAILED);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)getpid());
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(60);
		poll_until_stopped(path, p);
		_exit(0);
	}
	while (!atomic_load(&p->polls))
		;			/* the child is polling */
	n = update_while_polled(p);
	atomic_store(&p->stop, 1);
	CHECK_EQ(t_wait(pid), 0);
	report("alone", n, p);
	munmap(p, sizeof(*p));
}

static struct polls thread_polls;
static atomic_bool stop_calls;
static atomic_long wrong;

static void *poller(void *arg)
{
	(void)arg;
	poll_until_stopped("/proc/self/maps", &thread_polls);
	return NULL;
}

static void *caller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_calls))
		if (run_calls(0) != SITES)
			atomic_fetch_add(&wrong, 1);
	return NULL;
}

/* A thread polls, another runs the sites. */
static void threads(void)
{
	pthread_t pt, ct;
	long n;

	CHECK_EQ(pthread_create(&pt, NULL, poller, NULL), 0);
	CHECK_EQ(pthread_create(&ct, NULL, caller, NULL), 0);
	while (!atomic_load(&thread_polls.polls))
		sched_yield();
	n = update_while_polled(&thread_polls);
	atomic_store(&thread_polls.stop, 1);
	atomic_store(&stop_calls, true);
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);
	CHECK_EQ(atomic_load(&wrong), 0);
	report("threads", n, &thread_polls);
}

int main(void)
{
	const char *w = getenv("USTATIC_WRITE");
	struct ustatic_stats st;

	t_skip_without_procmem();
	if (w && !strcmp(w, "mprotect"))
		SKIP("USTATIC_WRITE=mprotect asks for W+X windows");
	if (access("/proc/self/mem", F_OK))
		SKIP("no /proc/self/mem here: the mprotect fallback is used");
	alone();
	threads();
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);
	return T_EXIT_PASS;
}
