/* SPDX-License-Identifier: MIT */
/*
 * ustatic benchmarks: the cost of a call and of a branch (against a direct
 * call, function pointers with and without retpolines, the PLT and IFUNCs),
 * and the cost of an update (latency, sync rounds, syscalls, throughput the
 * running threads keep, memory), of registering an object on dlopen, and
 * of one update over three objects. Prints tables and writes results.csv.
 *
 *   bench [--csv FILE] [--quick] [--only SECTION]
 *   bench --probe-syscalls SET N BUSY	(internal: run under strace -c)
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ustatic.h>

#include "bench.h"
#include "update.h"

static int quick;
static const char *only;	/* --only SECTION: run just that one */

static int want(const char *section)
{
	return !only || !strcmp(only, section);
}

/* ---- machine ---------------------------------------------------------- */

static void cpu_model(char *out, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, len, "unknown CPU");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(out, len, "%s", c + 2);
			out[strcspn(out, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

/* ---- calls ------------------------------------------------------------ */

struct variant {
	const char *name;
	loop_fn *loop;
	int base;		/* index of the row the ratio is taken to */
	const char *note;
	double *samples;
	double *rel;		/* per repetition: samples / base's samples */
	double med, p10, p90, ratio, diff;
};

/* Counts call/jmp rel32 instructions in [code, code+len) that reach to:
 * a byte scan, fine for checking a few short loops. */
static int code_reaches(const void *code, size_t len, const void *to)
{
	const uint8_t *p = code;
	int n = 0;

	for (size_t i = 0; i + 5 <= len; i++) {
		int32_t rel;

		if (p[i] != 0xe8 && p[i] != 0xe9)
			continue;
		memcpy(&rel, p + i + 1, 4);
		if ((uintptr_t)(p + i + 5) + (intptr_t)rel == (uintptr_t)to)
			n++;
	}
	return n;
}

static const char *tramp_form(const void *tramp)
{
	uint8_t b = *(const uint8_t *)tramp;

	return b == 0xe9 ? "promoted (jmp rel32)" : b == 0x3d ? "indirect (jmp *key)"
							     : "unexpected bytes";
}

/* Per-call cycles of every variant: interleaved repetitions, medians. */
static void bench_calls(void)
{
	enum { DIRECT, NOBRANCH = 10 };
#define V(n, l, b, c) { .name = n, .loop = l, .base = b, .note = c }
	struct variant v[] = {
		V("direct call (noinline function)", loop_direct, DIRECT, "baseline"),
		V("static call, inline site", loop_static, DIRECT, NULL),
		V("static call, call to promoted trampoline", loop_tramp, DIRECT, NULL),
		V("static call, trampoline indirect (.so target)", loop_static_far, DIRECT, NULL),
		V("function pointer, 1 target", loop_ptr1, DIRECT, NULL),
		V("function pointer, 16 targets random", loop_ptr_many, DIRECT, "mispredicted"),
		V("retpoline pointer, 1 target", loop_ptr1_retpoline, DIRECT, NULL),
		V("retpoline pointer, 16 targets random", loop_ptr_many_retpoline, DIRECT, NULL),
		V("PLT call into libbenchfar.so", loop_plt, DIRECT, NULL),
		V("glibc IFUNC", loop_ifunc, DIRECT, NULL),
		V("no branch (the direct call alone)", loop_nobranch, NOBRANCH, "baseline"),
		V("static key off (NOP5)", loop_key_off, NOBRANCH, NULL),
		V("static key on (JMP, +1 call)", loop_key_on, NOBRANCH, NULL),
		V("if (volatile flag) off", loop_flag_off, NOBRANCH, NULL),
		V("if (volatile flag) on (+1 call)", loop_flag_on, NOBRANCH, NULL),
	};
#undef V
	const size_t nv = ARRAY_SIZE(v);
	const unsigned n = 1000;
	const int reps = quick ? 301 : 3001;
	static char note_site[96], note_tramp[96], note_far[96];
	cpu_set_t old, one;
	unsigned x = 0;

	/* Check that each variant is what its name says. */
	snprintf(note_site, sizeof(note_site), "%s",
		 code_reaches((const void *)loop_static, 128, (const void *)step_a) ?
		 "site calls step_a directly" : "NOT PATCHED: site calls the trampoline");
	v[1].note = note_site;
	snprintf(note_tramp, sizeof(note_tramp), "tramp %s%s",
		 tramp_form(tramp_of_bench()),
		 code_reaches((const void *)loop_tramp, 128, tramp_of_bench()) ? "" :
		 "; CALL WAS RETARGETED");
	v[2].note = note_tramp;
	snprintf(note_far, sizeof(note_far), "tramp %s", tramp_form(tramp_of_far()));
	v[3].note = note_far;

	/* One CPU for the whole measurement: no migration inside a sample. */
	sched_getaffinity(0, sizeof(old), &old);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);

	for (size_t i = 0; i < nv; i++) {
		v[i].samples = calloc((size_t)reps, sizeof(double));
		v[i].rel = calloc((size_t)reps, sizeof(double));
		x += v[i].loop(n, x);	/* warm up */
	}
	for (int r = 0; r < reps; r++)
		for (size_t k = 0; k < nv; k++) {
			struct variant *p = &v[(k + (size_t)r) % nv];
			uint64_t t0 = tsc_begin();

			x += p->loop(n, x);
			p->samples[r] = (double)(tsc_end() - t0) / n;
		}
	sched_setaffinity(0, sizeof(old), &old);
	if (x == 42)
		printf(" ");	/* keeps x alive */

	/*
	 * Ratios and differences are paired: taken within one repetition,
	 * where the variant and its baseline ran microseconds apart, then the
	 * median over repetitions. That cancels the slow swings of clock speed
	 * that a shared or virtual machine shows.
	 */
	for (size_t i = 0; i < nv; i++) {
		const double *b = v[v[i].base].samples;

		for (int r = 0; r < reps; r++)
			v[i].rel[r] = v[i].samples[r] / b[r];
		v[i].ratio = median(v[i].rel, (size_t)reps);
		for (int r = 0; r < reps; r++)
			v[i].rel[r] = v[i].samples[r] - b[r];
		v[i].diff = median(v[i].rel, (size_t)reps);
	}
	for (size_t i = 0; i < nv; i++) {
		v[i].med = median(v[i].samples, (size_t)reps);
		v[i].p10 = quantile(v[i].samples, (size_t)reps, 0.10);
		v[i].p90 = quantile(v[i].samples, (size_t)reps, 0.90);
	}
	printf("\n== Calls: %u dependent calls per sample, %d interleaved repetitions, "
	       "medians ==\n", n, reps);
	printf("(cycles: TSC cycles at %.3f GHz per call: median, 10th and 90th "
	       "percentile; ratio and +cyc:\n paired with the baseline row in each "
	       "repetition, then the median)\n", tsc_per_ns);
	printf("%-46s %6s %6s %6s %7s %6s %6s  %s\n", "case", "cycles", "p10",
	       "p90", "ns", "ratio", "+cyc", "note");
	for (size_t i = 0; i < nv; i++) {
		if (i == NOBRANCH)
			printf("-- branches: the same loop with a branch in front of the call\n");
		printf("%-46s %6.2f %6.2f %6.2f %7.3f %6.3f %+6.2f  %s\n", v[i].name,
		       v[i].med, v[i].p10, v[i].p90, v[i].med / tsc_per_ns,
		       v[i].ratio, v[i].diff, v[i].note ? v[i].note : "");
		csv("calls", v[i].name, -1, -1, "cycles", v[i].med, "tsc_cycles");
		csv("calls", v[i].name, -1, -1, "cycles_p10", v[i].p10, "tsc_cycles");
		csv("calls", v[i].name, -1, -1, "cycles_p90", v[i].p90, "tsc_cycles");
		csv("calls", v[i].name, -1, -1, "ns", v[i].med / tsc_per_ns, "ns");
		csv("calls", v[i].name, -1, -1, "ratio", v[i].ratio,
		    v[i].base == DIRECT ? "x_direct" : "x_no_branch");
		csv("calls", v[i].name, -1, -1, "extra_cycles", v[i].diff,
		    v[i].base == DIRECT ? "vs_direct" : "vs_no_branch");
	}

	target_ratio("inline site / direct", v[1].ratio, 1.02, "<=");
	target_ratio("promoted trampoline - direct (TSC cycles)", v[2].diff, 0.5, "<=");
	target_ratio("retpoline pointer (1 target) / inline site",
		     v[6].ratio / v[1].ratio, 3.0, ">=");
	target_ratio("static key off / no branch", v[11].ratio, 1.02, "<=");
	for (size_t i = 0; i < nv; i++) {
		free(v[i].samples);
		free(v[i].rel);
	}
}

/* ---- syscalls per update (strace -c) --------------------------------- */

struct sysc {
	char name[32];
	long calls;
};

/* Runs the probe under strace -f -c; fills up to max entries. */
static int strace_probe(int set, int n, int busy, struct sysc *out, int max)
{
	char tmp[] = "/tmp/ustatic-bench-strace-XXXXXX", line[256];
	char a1[16], a2[16], a3[16], exe[4096];
	ssize_t elen = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int fd = mkstemp(tmp), k = 0, in_table = 0, status = -1;
	pid_t pid;
	FILE *f;

	if (fd < 0 || elen <= 0)
		return -1;
	close(fd);
	exe[elen] = 0;
	snprintf(a1, sizeof(a1), "%d", set);
	snprintf(a2, sizeof(a2), "%d", n);
	snprintf(a3, sizeof(a3), "%d", busy);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1), dup2(devnull, 2);
		execlp("strace", "strace", "-f", "-c", "-o", tmp, exe,
		       "--probe-syscalls", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		unlink(tmp);
		return -1;
	}
	f = fopen(tmp, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *tok[8];
		int nt = 0;

		if (!strncmp(line, "------", 6)) {
			in_table++;
			continue;
		}
		if (in_table != 1)
			continue;
		for (char *s = strtok(line, " \t\n"); s && nt < 8; s = strtok(NULL, " \t\n"))
			tok[nt++] = s;
		if (nt < 5 || k >= max)
			continue;
		snprintf(out[k].name, sizeof(out[k].name), "%s", tok[nt - 1]);
		out[k].calls = atol(tok[3]);
		k++;
	}
	if (f)
		fclose(f);
	unlink(tmp);
	return k;
}

static long sysc_get(const struct sysc *v, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return v[i].calls;
	return 0;
}

static void bench_syscalls(void)
{
	const int n = 40;
	int busy_counts[] = { 0, 2 };

	printf("\n== Syscalls per update (strace -f -c: %d updates minus 0 updates) ==\n", n);
	if (system("strace -V >/dev/null 2>&1")) {
		printf("skipped: strace is not installed\n");
		return;
	}
	printf("%-7s %4s %9s  %s\n", "sites", "busy", "syscalls", "by name");
	for (int set = 0; set < NSITESETS; set++)
		for (size_t bi = 0; bi < ARRAY_SIZE(busy_counts); bi++) {
			struct sysc base[64], upd[64];
			int busy = busy_counts[bi];
			int nb = strace_probe(set, 0, busy, base, 64);
			int nu = strace_probe(set, n, busy, upd, 64);
			char by[512] = "";
			size_t len = 0;
			double total;

			if (nb < 0 || nu < 0) {
				printf("skipped: strace could not trace the probe "
				       "(ptrace not permitted?)\n");
				return;
			}
			total = 0;
			for (int i = 0; i < nu; i++) {
				double d = (double)(upd[i].calls -
						    sysc_get(base, nb, upd[i].name)) / n;

				if (!strcmp(upd[i].name, "total") || d < 0.05)
					continue;
				total += d;
				len += (size_t)snprintf(by + len, sizeof(by) - len, "%s%s %.1f",
							len ? ", " : "", upd[i].name, d);
				if (len >= sizeof(by))
					break;
				csv("syscalls", upd[i].name, sites_count[set], busy,
				    "per_update", d, "calls");
			}
			printf("%-7u %4d %9.1f  %s\n", sites_count[set], busy, total, by);
			csv("syscalls", "total", sites_count[set], busy, "per_update",
			    total, "calls");
		}
}

static int run_set(void *arg)
{
	int set = *(int *)arg;

	return run_sites(set, 0) != sites_count[set];
}

static int probe_syscalls(int set, int n, int busy)
{
	struct busy b = { .fn = run_set, .arg = &set };

	if (busy)
		busy_start(&b, busy);
	for (int u = 0; u < n; u++)
		if (update_sites(set, u & 1 ? step_a : step_b))
			return 1;
	if (busy)
		busy_stop(&b);
	return 0;
}

/* ---- XRay: a separate binary built with clang ------------------------ */

static void bench_xray(const char *csv_path)
{
	char dir[4096], path[4200], why[512] = "";
	ssize_t len = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	FILE *f;

	printf("\n== LLVM XRay: __xray_patch()/__xray_unpatch() vs one ustatic update ==\n");
	fflush(stdout);
	if (len <= 0)
		return;
	dir[len] = 0;
	*strrchr(dir, '/') = 0;
	snprintf(path, sizeof(path), "%s/bench_xray", dir);
	if (access(path, X_OK) == 0) {
		pid_t pid;
		int status = -1;

		csv_close();
		pid = fork();
		if (pid == 0) {
			execl(path, path, csv_path, quick ? "--quick" : (char *)NULL,
			      (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			printf("XRay benchmark failed (status %d)\n", status);
		csv_open(csv_path, 1);
		return;
	}
	snprintf(path, sizeof(path), "%s/xray.skip", dir);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(why, sizeof(why), f))
			why[0] = 0;
		fclose(f);
	}
	why[strcspn(why, "\n")] = 0;
	printf("skipped: %s\n", why[0] ? why : "bench_xray was not built");
	csv("xray", "skipped", -1, -1, "skipped", 1, "flag");
}

int main(int argc, char **argv)
{
	const char *csv_path = "results.csv";
	char model[256];
	struct utsname u;
	int err;

	if (argc == 5 && !strcmp(argv[1], "--probe-syscalls"))
		return probe_syscalls(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--csv") && i + 1 < argc)
			csv_path = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			return fprintf(stderr, "usage: bench [--csv FILE] [--quick] "
				       "[--only calls|update|syscalls|throughput|"
				       "memory|register|split|xray]\n"), 2;
	}
	if ((err = csv_open(csv_path, 0))) {
		fprintf(stderr, "bench: %s: %s\n", csv_path, strerror(-err));
		return 2;
	}
	memory_snapshot_main();
	targets_init(12345);
	if ((err = calls_init())) {
		fprintf(stderr, "bench: static_branch_enable: %s\n", strerror(-err));
		return 1;
	}
	tsc_calibrate();
	cpu_model(model, sizeof(model));
	uname(&u);
	printf("ustatic benchmarks: %s, %ld CPUs, Linux %s\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.release);
	{
		double load[3] = { 0 };

		getloadavg(load, 3);
		printf("compiler: %s; load average at start: %.2f %.2f %.2f\n",
		       __VERSION__, load[0], load[1], load[2]);
		csv("machine", "load average (1 min) at start", -1, -1, "load",
		    load[0], "runnable");
	}
	csv("machine", model, -1, sysconf(_SC_NPROCESSORS_ONLN), "tsc_ghz",
	    tsc_per_ns, "GHz");

	if (want("calls"))
		bench_calls();
	if (want("update"))
		bench_update_latency(quick);
	if (want("syscalls"))
		bench_syscalls();
	if (want("throughput"))
		bench_throughput(quick);
	if (want("memory"))
		bench_memory();	/* before the dlopen sections: their heap stays */
	if (want("register"))
		bench_register(quick);
	if (want("split"))
		bench_split(quick);
	if (want("xray"))
		bench_xray(csv_path);
	return print_targets();
}
