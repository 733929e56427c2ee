/* SPDX-License-Identifier: MIT */
/*
 * One row of the today-vs-new comparison per run (bench/compare.sh runs
 * each in a fresh process, once per build of the library):
 *
 *   cmp lat SITES BUSY [N]   N updates of SITES inline sites (1, 100 or
 *                            10000) while BUSY threads (0-2) run them,
 *                            each beside three bare membarrier SYNC_CORE
 *                            rounds with the same threads running (the
 *                            floor); the process starts no other thread
 *   cmp threads [N]          the 1-site update with 0, 1, 10, 100, 1,000
 *                            idle threads, then after they all exited
 *   cmp maps [N]             the 1-site update with 0, 100, 10,000 extra
 *                            mappings
 *   cmp tput [WINDOWS]       the rate 2 busy threads keep running 100
 *                            sites while updates arrive at 1,000/s
 *   cmp wx [MS]              polls of /proc/self/maps that see a mapping
 *                            both writable and executable during
 *                            10,000-site updates (cmp_wx.c)
 *   cmp sigwait [UPDATES]    the sigwait server pattern (cmp_sigwait.c)
 *
 * Each prints "R id=... key=value ..." lines (cmp.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <ustatic.h>

#include "cmp.h"

#define SPACING_NS	(1000 * 1000L)	/* between two timed operations */

static int run_set(void *arg)
{
	int set = *(int *)arg;

	return run_sites(set, 0) != sites_count[set];
}

/* ---- updates beside the floor ---------------------------------------- */

struct sample {
	double upd_us, floor_us;	/* medians */
	int fails, err;			/* failed updates, the first error */
};

static void count_fail(struct sample *s, int r)
{
	if (!r)
		return;
	s->fails++;
	if (!s->err)
		s->err = r;
}

/*
 * n updates of a set, each after a floor measured the same way, 1 ms
 * apart: the floor sees the same threads, load and cache state.
 */
static void sample_updates(int set, int n, struct sample *s)
{
	double *u = calloc((size_t)n, sizeof(*u));
	double *f = calloc((size_t)n, sizeof(*f));

	if (!u || !f)
		exit(2);
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < n; i++) {
		double t0;
		int r;

		sleep_ns(SPACING_NS);
		f[i] = floor_us();
		sleep_ns(SPACING_NS);
		/* step_b first: the sites hold step_a between samples. */
		t0 = now_ns();
		r = update_sites(set, i & 1 ? step_a : step_b);
		u[i] = (now_ns() - t0) / 1e3;
		count_fail(s, r);
	}
	if (n & 1)
		count_fail(s, update_sites(set, step_a));
	s->upd_us = med(u, n);
	s->floor_us = med(f, n);
	free(u);
	free(f);
}

/* One round trip, untimed: what a first update sets up is not measured. */
static void warm_up(int set, struct sample *s)
{
	count_fail(s, update_sites(set, step_b));
	count_fail(s, update_sites(set, step_a));
}

static int set_of(const char *sites)
{
	for (int i = 0; i < NSITESETS; i++)
		if ((unsigned)atoi(sites) == sites_count[i])
			return i;
	fprintf(stderr, "cmp: SITES is 1, 100 or 10000\n");
	exit(2);
}

static int row_lat(int argc, char **argv)
{
	int set = set_of(argc > 2 ? argv[2] : "1");
	int nbusy = argc > 3 ? atoi(argv[3]) : 0;
	int n = argc > 4 ? atoi(argv[4]) : 61;
	struct busy b = { .fn = run_set, .arg = &set };
	struct sample w = { 0 }, s;

	warm_up(set, &w);
	if (nbusy)
		busy_start(&b, nbusy);
	sample_updates(set, n, &s);
	if (nbusy)
		busy_stop(&b);
	result("id=lat.%u.%d upd_us=%.2f floor_us=%.2f ratio=%.3f n=%d "
	       "fails=%d err=%d wrong=%lu", sites_count[set], nbusy, s.upd_us,
	       s.floor_us, s.upd_us / s.floor_us, n, s.fails + w.fails,
	       s.err ? s.err : w.err, busy_errors(&b));
	return 0;
}

/* ---- growth: idle threads, exited threads, mappings ------------------ */

static void growth_result(const char *id, const struct sample *s,
			  const struct sample *s0, int n)
{
	result("id=%s upd_us=%.2f floor_us=%.2f ratio=%.3f rel=%.3f maps=%d "
	       "n=%d fails=%d err=%d", id, s->upd_us, s->floor_us,
	       s->upd_us / s->floor_us, s->upd_us / s0->upd_us, count_maps(),
	       n, s->fails, s->err);
}

static int idle_pipe[2];

/* Blocks until compare's end closes the pipe: an idle server thread. */
static void *idle_main(void *arg)
{
	char c;

	(void)arg;
	while (read(idle_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * Small stacks, as servers with many threads use: glibc then keeps many
 * of them mapped (its cache holds 40 MiB of stacks) once the threads exit.
 */
#define IDLE_STACK	(64 * 1024)

static int row_threads(int argc, char **argv)
{
	static const int steps[] = { 1, 10, 100, 1000 };
	int n = argc > 2 ? atoi(argv[2]) : 31;
	pthread_t *t = calloc(1000, sizeof(*t));
	struct sample s0 = { 0 }, s;
	pthread_attr_t attr;
	int have = 0;
	char id[32];

	if (!t || pipe(idle_pipe))
		return 2;
	warm_up(SITES_1, &s0);
	sample_updates(SITES_1, n, &s0);
	growth_result("threads.0", &s0, &s0, n);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, IDLE_STACK);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		for (; have < steps[i]; have++)
			if (pthread_create(&t[have], &attr, idle_main, NULL)) {
				fprintf(stderr, "cmp: thread %d: cannot start\n", have);
				return 2;
			}
		sleep_ns(20 * 1000 * 1000);	/* all of them blocked */
		sample_updates(SITES_1, n, &s);
		snprintf(id, sizeof(id), "threads.%d", have);
		growth_result(id, &s, &s0, n);
	}
	close(idle_pipe[1]);			/* every read() returns 0 */
	for (int i = 0; i < have; i++)
		pthread_join(t[i], NULL);
	sleep_ns(20 * 1000 * 1000);
	sample_updates(SITES_1, n, &s);
	growth_result("threads.exited", &s, &s0, n);
	pthread_attr_destroy(&attr);
	free(t);
	return 0;
}

/*
 * k mappings from k pages whose protections alternate, so that the kernel
 * cannot merge them into one.
 */
static int add_mappings(int k)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)k * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	for (int i = 1; i < k; i += 2)
		if (mprotect(p + (long)i * pg, pg, PROT_READ))
			return -1;
	return 0;
}

static int row_maps(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 31;
	struct sample s0 = { 0 }, s;

	warm_up(SITES_1, &s0);
	sample_updates(SITES_1, n, &s0);
	growth_result("maps.0", &s0, &s0, n);
	if (add_mappings(100))
		return perror("cmp: 100 mappings"), 2;
	sample_updates(SITES_1, n, &s);
	growth_result("maps.100", &s, &s0, n);
	if (add_mappings(9900))
		return perror("cmp: 10,000 mappings"), 2;
	sample_updates(SITES_1, n, &s);
	growth_result("maps.10000", &s, &s0, n);
	return 0;
}

/* ---- throughput under 1,000 updates/s --------------------------------- */

/*
 * Windows of 50 ms alternate quiet / updating (one update every ms on an
 * absolute clock); each updating window's call rate over the mean of its
 * two quiet neighbours, whose pairing cancels slow drifts of the machine's
 * load. kept_pct is that over wall time (the measure: it includes
 * the CPU the updater takes from the busy threads); kept_cpu_pct divides
 * by the CPU time the busy threads got instead, which also cancels other
 * processes taking their CPUs, and leaves what the updates cost inside the
 * busy threads (traps, IPIs, caches).
 */
#define TPUT_MAXW	200

struct window {
	double wall, cpu, calls;	/* ns, busy threads' ns, calls */
};

static double busy_cpu_ns(const clockid_t *clk, int n)
{
	double t = 0;

	for (int i = 0; i < n; i++) {
		struct timespec ts;

		if (!clock_gettime(clk[i], &ts))
			t += ts.tv_sec * 1e9 + ts.tv_nsec;
	}
	return t;
}

/* Each odd window's rate over the mean of its neighbours', in percent. */
static double kept(const struct window *w, int n, int by_cpu)
{
	double k[TPUT_MAXW];
	int nk = 0;

	for (int i = 1; i + 1 < n; i += 2) {
#define RATE(x) ((x).calls / (by_cpu ? (x).cpu : (x).wall))
		k[nk++] = 100 * RATE(w[i]) / ((RATE(w[i - 1]) + RATE(w[i + 1])) / 2);
#undef RATE
	}
	return med(k, nk);
}

/* One updating window: an update every period, for window_ns. */
static unsigned long updating_window(int set, long window_ns, unsigned long *flips,
				     struct sample *fl, double *spent)
{
	const long period_ns = 1000 * 1000L;
	double t0 = now_ns();
	unsigned long done = 0;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (now_ns() - t0 < window_ns) {
		double u0;

		next.tv_nsec += period_ns;
		if (next.tv_nsec >= 1000000000L)
			next.tv_sec++, next.tv_nsec -= 1000000000L;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		u0 = now_ns();
		count_fail(fl, update_sites(set, (*flips)++ & 1 ? step_a : step_b));
		*spent += now_ns() - u0;
		done++;
	}
	return done;
}

static int row_tput(int argc, char **argv)
{
	const long window_ns = 50 * 1000 * 1000L;
	int windows = argc > 2 ? atoi(argv[2]) : 31;
	int set = SITES_100, nu = 0, nq = 0;
	static struct window w[TPUT_MAXW];
	double quiet[TPUT_MAXW], cost[TPUT_MAXW];
	struct busy b = { .fn = run_set, .arg = &set };
	struct sample fl = { 0 };
	unsigned long flips = 0;
	double upd_cpu = 0, upd_wall = 0;
	clockid_t clk[2];

	if (windows < 3 || windows > TPUT_MAXW)
		windows = 31;
	windows |= 1;				/* quiet at both ends */
	warm_up(set, &fl);
	busy_start(&b, 2);
	for (int i = 0; i < 2; i++)
		if (pthread_getcpuclockid(*(pthread_t *)b.threads[i], &clk[i]))
			return 2;
	for (int i = 0; i < windows; i++) {
		unsigned long i0 = busy_iters(&b);
		double t0 = now_ns(), c0 = busy_cpu_ns(clk, 2), spent = 0;
		struct timespec m0, m1;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &m0);
		if (i & 1) {
			unsigned long done = updating_window(set, window_ns, &flips, &fl, &spent);

			cost[nu++] = spent / (double)done / 1e3;
		} else {
			sleep_ns(window_ns);
		}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &m1);
		w[i].wall = now_ns() - t0;
		w[i].cpu = busy_cpu_ns(clk, 2) - c0;
		w[i].calls = (double)(busy_iters(&b) - i0) * sites_count[set];
		if (i & 1) {
			upd_cpu += (m1.tv_sec - m0.tv_sec) * 1e9 + (m1.tv_nsec - m0.tv_nsec);
			upd_wall += w[i].wall;
		} else {
			quiet[nq++] = w[i].calls / (w[i].wall / 1e9);
		}
	}
	if (flips & 1)
		count_fail(&fl, update_sites(set, step_a));
	busy_stop(&b);
	result("id=tput kept_pct=%.2f kept_cpu_pct=%.2f updater_cpu_pct=%.2f "
	       "quiet_mcalls=%.2f upd_us=%.2f windows=%d updates=%lu fails=%d "
	       "err=%d wrong=%lu", kept(w, windows, 0), kept(w, windows, 1),
	       100 * upd_cpu / upd_wall, med(quiet, nq) / 1e6, med(cost, nu),
	       windows, flips, fl.fails, fl.err, busy_errors(&b));
	return 0;
}

/* ---- main ------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} rows[] = {
	{ "lat", row_lat }, { "threads", row_threads }, { "maps", row_maps },
	{ "tput", row_tput }, { "wx", row_wx }, { "sigwait", row_sigwait },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
			if (!strcmp(argv[1], rows[i].name))
				return floor_init() ? 2 : rows[i].fn(argc, argv);
	fprintf(stderr, "usage: cmp lat|threads|maps|tput|wx|sigwait [ARGS] "
		"(see bench/cmp.c)\n");
	return 2;
}
