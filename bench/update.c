/* SPDX-License-Identifier: MIT */
/*
 * The cost of an update: latency of one static_call_update() of 1, 100 and
 * 10,000 inline sites while 0, 1 or 2 threads run those very sites, the
 * sync rounds it takes, the throughput running threads keep while updates
 * arrive at 1,000/s, and the memory patching makes private.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ustatic.h>

#include "bench.h"
#include "update.h"

/* ---- targets summary ------------------------------------------------- */

struct target {
	char what[96];
	double value, limit;
	const char *op;
};
static struct target targets[16];
static int ntargets;
static unsigned long failures;

void target_ratio(const char *what, double value, double limit, const char *op)
{
	struct target *t;

	if (ntargets == (int)ARRAY_SIZE(targets))
		return;
	t = &targets[ntargets++];
	snprintf(t->what, sizeof(t->what), "%s", what);
	t->value = value;
	t->limit = limit;
	t->op = op;
}

void bench_failed(const char *what, unsigned long count)
{
	fprintf(stderr, "bench: %s: %lu wrong results\n", what, count);
	failures += count;
}

int print_targets(void)
{
	int met = 0;

	printf("\n== Targets ==\n");
	for (int i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];
		int ok = t->op[0] == '<' ? t->value <= t->limit :
			 t->op[0] == '>' ? t->value >= t->limit :
					   t->value == t->limit;

		met += ok;
		printf("%-4s %-58s %10.3f  (target %s %g)\n", ok ? "MET" : "MISS",
		       t->what, t->value, t->op, t->limit);
		csv("targets", t->what, -1, -1, ok ? "met" : "missed", t->value, t->op);
	}
	printf("%d of %d targets met; wrong results seen by running threads: %lu\n",
	       met, ntargets, failures);
	return failures ? 1 : 0;
}

/* ---- update latency --------------------------------------------------- */

static int run_set(void *arg)
{
	int set = *(int *)arg;

	return run_sites(set, 0) != sites_count[set];
}

static double per_update(unsigned long a, unsigned long b, int n)
{
	return (double)(b - a) / n;
}

void bench_update_latency(int quick)
{
	static const int busy_counts[] = { 0, 1, 2 };
	double lat_10k_2 = 0, worst_rounds = 0, best_rounds = 1e9;

	printf("\n== Update latency: one static_call_update() while BUSY threads "
	       "run the sites ==\n");
	printf("%-7s %4s %5s %9s %9s %9s %7s %9s %7s %6s\n", "sites", "busy",
	       "upds", "median us", "p90 us", "max us", "rounds", "patches",
	       "traps", "errors");
	for (int set = 0; set < NSITESETS; set++)
		for (size_t bi = 0; bi < ARRAY_SIZE(busy_counts); bi++) {
			int busy = busy_counts[bi];
			int n = set == SITES_10K ? (quick ? 10 : 30) : (quick ? 20 : 60);
			double *lat = calloc((size_t)n, sizeof(double));
			struct busy b = { .fn = run_set, .arg = &set };
			struct ustatic_stats s0, s1;
			unsigned long errs;
			int failed = 0;
			double med, p90, rounds;

			if (busy)
				busy_start(&b, busy);
			ustatic_get_stats(&s0);
			for (int u = 0; u < n; u++) {
				/* step_b first: the sites hold step_a now. */
				double t0 = now_ns();

				failed += update_sites(set, u & 1 ? step_a : step_b) != 0;
				lat[u] = (now_ns() - t0) / 1e3;
				sleep_ns(1000 * 1000);	/* the sites run meanwhile */
			}
			ustatic_get_stats(&s1);
			if (busy)
				busy_stop(&b);
			errs = busy_errors(&b);
			if (errs)
				bench_failed("update latency", errs);
			med = median(lat, (size_t)n);
			p90 = quantile(lat, (size_t)n, 0.9);
			rounds = per_update(s0.sync_rounds, s1.sync_rounds, n);
			printf("%-7u %4d %5d %9.1f %9.1f %9.1f %7.2f %9.1f %7.2f %6lu%s\n",
			       sites_count[set], busy, n, med, p90, lat[n - 1], rounds,
			       per_update(s0.patches, s1.patches, n),
			       per_update(s0.traps, s1.traps, n), errs,
			       failed ? "  (updates failed!)" : "");
			csv("update", "latency", sites_count[set], busy, "median", med, "us");
			csv("update", "latency", sites_count[set], busy, "p90", p90, "us");
			csv("update", "latency", sites_count[set], busy, "max", lat[n - 1], "us");
			csv("update", "sync_rounds", sites_count[set], busy, "per_update", rounds, "rounds");
			csv("update", "patches", sites_count[set], busy, "per_update",
			    per_update(s0.patches, s1.patches, n), "instructions");
			csv("update", "traps", sites_count[set], busy, "per_update",
			    per_update(s0.traps, s1.traps, n), "traps");
			if (set == SITES_10K && busy == 2)
				lat_10k_2 = med;
			if (rounds > worst_rounds)
				worst_rounds = rounds;
			if (rounds < best_rounds)
				best_rounds = rounds;
			if (failed)
				bench_failed("static_call_update returned an error", (unsigned long)failed);
			free(lat);
		}
	printf("(rounds: cross-core serializations per update, from "
	       "ustatic_get_stats(); patches: instructions\nrewritten per update; "
	       "traps: int3 hits the running threads took per update)\n");
	target_ratio("update of 10,000 sites, 2 busy threads (ms, median)",
		     lat_10k_2 / 1e3, 10, "<=");
	target_ratio("sync rounds per update, most over all sizes", worst_rounds, 3, "<=");
	target_ratio("sync rounds per update, fewest over all sizes", best_rounds, 3, ">=");
}

/* ---- throughput under updates ---------------------------------------- */

void bench_throughput(int quick)
{
	static const struct { int set, busy; } cfg[] = {
		{ SITES_100, 1 }, { SITES_100, 2 }, { SITES_1, 2 },
	};
	enum { MAXW = 80 };
	const int windows = quick ? 20 : MAXW;
	const long window_ns = 50 * 1000 * 1000L, period_ns = 1000 * 1000L;
	double kept_100_2 = 0;

	printf("\n== Throughput running threads keep while updates arrive at "
	       "1,000/s ==\n");
	printf("(%d alternating windows of %ld ms, quiet / updating; kept: median "
	       "over updating windows\n of their rate over the mean of the two "
	       "quiet windows around them)\n", windows, window_ns / 1000000);
	printf("%-7s %4s %14s %14s %7s %10s %9s\n", "sites", "busy",
	       "quiet Mcall/s", "updating", "kept %", "updates/s", "upd us");
	for (size_t c = 0; c < ARRAY_SIZE(cfg); c++) {
		int set = cfg[c].set;
		struct busy b = { .fn = run_set, .arg = &set };
		double rate[MAXW], quiet[MAXW], upd[MAXW], kept[MAXW];
		double upd_rate[MAXW], upd_cost[MAXW];
		int nq = 0, nu = 0, nk = 0;
		unsigned long flips = 0;

		busy_start(&b, cfg[c].busy);
		for (int w = 0; w < windows; w++) {
			unsigned long i0 = busy_iters(&b), done = 0;
			double t0 = now_ns(), spent = 0, t1;

			if (w & 1) {
				struct timespec next;

				clock_gettime(CLOCK_MONOTONIC, &next);
				while (now_ns() - t0 < window_ns) {
					double u0;

					next.tv_nsec += period_ns;
					if (next.tv_nsec >= 1000000000L)
						next.tv_sec++, next.tv_nsec -= 1000000000L;
					clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
					u0 = now_ns();
					if (update_sites(set, flips++ & 1 ? step_a : step_b))
						bench_failed("static_call_update returned an error", 1);
					spent += now_ns() - u0;
					done++;
				}
			} else {
				sleep_ns(window_ns);
			}
			t1 = now_ns();
			rate[w] = (double)(busy_iters(&b) - i0) * sites_count[set] /
				  ((t1 - t0) / 1e9);
			if (w & 1) {
				upd[nu] = rate[w];
				upd_rate[nu] = done / ((t1 - t0) / 1e9);
				upd_cost[nu++] = spent / done / 1e3;
			} else {
				quiet[nq++] = rate[w];
			}
		}
		if (flips & 1)
			update_sites(set, step_a);
		busy_stop(&b);
		if (busy_errors(&b))
			bench_failed("throughput", busy_errors(&b));
		/* Paired: each updating window against its quiet neighbours,
		 * which cancels drifts of the machine's load. */
		for (int w = 1; w + 1 < windows; w += 2)
			kept[nk++] = 100 * rate[w] / ((rate[w - 1] + rate[w + 1]) / 2);
		double k = median(kept, (size_t)nk);
		double q = median(quiet, (size_t)nq), u = median(upd, (size_t)nu);
		double r = median(upd_rate, (size_t)nu), cost = median(upd_cost, (size_t)nu);

		printf("%-7u %4d %14.1f %14.1f %7.1f %10.0f %9.1f\n", sites_count[set],
		       cfg[c].busy, q / 1e6, u / 1e6, k, r, cost);
		csv("throughput", "quiet", sites_count[set], cfg[c].busy, "calls_per_s", q, "calls/s");
		csv("throughput", "updating", sites_count[set], cfg[c].busy, "calls_per_s", u, "calls/s");
		csv("throughput", "kept", sites_count[set], cfg[c].busy, "percent", k, "%");
		csv("throughput", "updates", sites_count[set], cfg[c].busy, "per_s", r, "updates/s");
		csv("throughput", "update_time", sites_count[set], cfg[c].busy, "median", cost, "us");
		if (set == SITES_100 && cfg[c].busy == 2)
			kept_100_2 = k;
	}
	printf("(Mcall/s: static calls made by all busy threads together; upd us: "
	       "median time of one update)\n");
	target_ratio("throughput kept at 1,000 updates/s, 100 sites, 2 busy (%)",
		     kept_100_2, 95, ">=");
}

/* ---- memory ------------------------------------------------------------ */

/*
 * A patched code page stops being shared with the file: the kernel copies
 * it on write, and it shows up as Anonymous inside the file mapping. That
 * is the cost to measure. (Private_Dirty of a freshly built binary also
 * counts page-cache pages not yet written back, so it is shown but not
 * used as the measure.)
 */
struct mem {
	long text_kib, text_anon_kib, text_dirty_kib, anon_kib, dirty_kib;
};
static struct mem mem_ctor, mem_main;

static void mem_read(struct mem *m)
{
	char exe[4096], line[4608];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f = fopen("/proc/self/smaps", "r");
	int in_text = 0;
	long v;

	memset(m, 0, sizeof(*m));
	exe[n > 0 ? n : 0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];
		int path_at = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &path_at) >= 3 &&
		    path_at) {
			line[strcspn(line, "\n")] = 0;
			in_text = perms[2] == 'x' && !strcmp(line + path_at, exe);
			if (in_text)
				m->text_kib += (long)(e - s) / 1024;
		} else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1) {
			m->dirty_kib += v;
			if (in_text)
				m->text_dirty_kib += v;
		} else if (sscanf(line, "Anonymous: %ld kB", &v) == 1) {
			m->anon_kib += v;
			if (in_text)
				m->text_anon_kib += v;
		}
	}
	if (f)
		fclose(f);
}

__attribute__((constructor(102))) static void memory_snapshot_ctor(void)
{
	mem_read(&mem_ctor);	/* before any object registers (and patches) */
}

void memory_snapshot_main(void)
{
	mem_read(&mem_main);
}

static void mem_row(const char *when, const char *key, const struct mem *m)
{
	printf("%-32s %10ld %10ld %10ld %10ld\n", when, m->text_anon_kib,
	       m->text_dirty_kib, m->anon_kib, m->dirty_kib);
	csv("memory", "text_copied_on_write", -1, -1, key, m->text_anon_kib, "KiB");
	csv("memory", "text_private_dirty", -1, -1, key, m->text_dirty_kib, "KiB");
	csv("memory", "process_anonymous", -1, -1, key, m->anon_kib, "KiB");
	csv("memory", "process_private_dirty", -1, -1, key, m->dirty_kib, "KiB");
}

void bench_memory(void)
{
	struct ustatic_stats st;
	struct mem now;

	ustatic_get_stats(&st);
	mem_read(&now);
	printf("\n== Memory (KiB, /proc/self/smaps): the executable's code is %ld KiB ==\n",
	       now.text_kib);
	printf("%-32s %10s %10s %10s %10s\n", "", "text COW", "text dirty",
	       "proc anon", "proc dirty");
	mem_row("before registration (ctor 102)", "before_registration", &mem_ctor);
	mem_row("at main (sites patched)", "at_main", &mem_main);
	mem_row("after all the updates above", "after_updates", &now);
	printf("(text COW: code pages patching made private (Anonymous in the "
	       "text mapping);\n proc anon: all anonymous memory, registry "
	       "included; dirty: Private_Dirty, which\n also counts page-cache "
	       "pages of a just-built binary not yet written back)\n");
	printf("(%lu inline call sites and %lu trampolines registered, %lu "
	       "instructions patched in all)\n", st.call_sites, st.trampolines,
	       st.patches);
	csv("memory", "text_size", -1, -1, "size", now.text_kib, "KiB");
}
