/* SPDX-License-Identifier: MIT */
/*
 * Static calls that span objects.
 *
 * Registration: dlopen(RTLD_NOW) of libbenchreg.so, whose constructor
 * registers 10,000 static_call(sc_reg) markers (decoding forward from each
 * to its call, then one patch batch rewriting every call), against the same
 * object with plain calls instead of markers (libbenchreg0.so); and the
 * same pair with 47 NOPs after each call (libbenchregpad*.so), where the
 * decoding from one marker no longer reaches the next call.
 *
 * Split update: static_call_update() of sc_split, whose 10,000 inline sites
 * are spread over this executable (3,334) and two dlopen'ed objects
 * (3,333 each), while 0 or 2 threads run all of them.
 *
 * Both keys are defined here and declared in reg.h / split.h, which the
 * shared objects include; the executable exports the two keys, and every
 * object links the one shared libustatic.so, so one registry sees all.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ustatic.h>

#include "bench.h"
#include "reg.h"
#include "sites.h"
#include "split.h"
#include "update.h"

DEFINE_STATIC_CALL(sc_reg, far_step);	/* target in libbenchfar.so */
DEFINE_STATIC_CALL(sc_split, step_a);	/* target in this executable */

/* ---- the executable's 3,334 sites of sc_split -------------------------- */

#define CALL	x = static_call(sc_split)(x);
static SITES_FN(exe_part_0, "exe_split_0", R1000(CALL))
static SITES_FN(exe_part_1, "exe_split_1", R1000(CALL))
static SITES_FN(exe_part_2, "exe_split_2", R1000(CALL))
static SITES_FN(exe_part_3, "exe_split_3", R100(CALL) R100(CALL) R100(CALL)
		R10(CALL) R10(CALL) R10(CALL) R1(CALL) R1(CALL) R1(CALL) R1(CALL))
#undef CALL

typedef unsigned run_fn(unsigned);
static run_fn *split_so_run[2];

/* All 10,000 sites once; 0 when every call added one, as it must. */
static int run_split_all(void *arg)
{
	unsigned x = exe_part_3(exe_part_2(exe_part_1(exe_part_0(0))));

	(void)arg;
	x = split_so_run[0](x);
	x = split_so_run[1](x);
	return x != SPLIT_SITES;
}

/* ---- helpers ------------------------------------------------------------ */

#define MIB (1024.0 * 1024.0)

static void exe_dir_file(const char *name, char *out, size_t len)
{
	char dir[4096];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

	dir[n > 0 ? n : 0] = 0;
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	snprintf(out, len, "%s/%s", dir, name);
}

static double mib_between(const void *a, const void *b)
{
	intptr_t d = (intptr_t)a - (intptr_t)b;

	return (double)(d < 0 ? -d : d) / MIB;
}

/* MiB between a function of a loaded object and this executable's code. */
static double mib_from_exe(const void *fn)
{
	return mib_between(fn, (const void *)step_a);
}

static void delta(struct ustatic_stats *d, const struct ustatic_stats *a,
		  const struct ustatic_stats *b)
{
	d->objects = b->objects - a->objects;
	d->call_sites = b->call_sites - a->call_sites;
	d->call_markers = b->call_markers - a->call_markers;
	d->trampolines = b->trampolines - a->trampolines;
	d->patches = b->patches - a->patches;
	d->sync_rounds = b->sync_rounds - a->sync_rounds;
	d->batches = b->batches - a->batches;
	d->traps = b->traps - a->traps;
}

/*
 * Placing objects next to the executable. A PIE executable is mapped near
 * 0x55..., shared objects near 0x7f...: some 40,000 GiB apart, so no rel32
 * call in a shared object reaches a function of the executable. To measure
 * one key with inline sites in the executable and in shared objects, the
 * objects are loaded while every free range from 64 MiB past the
 * executable (or past its heap, when that starts right after it) up to
 * 16 MiB below the stack (which must keep room to grow) is reserved with
 * PROT_NONE: the kernel's top-down search then finds nothing higher than
 * the 64 MiB window left free. The reservations are released as soon as
 * dlopen() returns. (While they are in place the heap cannot grow with
 * brk; malloc then maps memory, in the window.)
 */
struct reservation {
	void *addr;
	size_t len;
};
static struct reservation resv[512];
static int nresv;

static void reserve(uintptr_t from, uintptr_t to)
{
	void *p;

	if (to <= from || nresv == (int)ARRAY_SIZE(resv))
		return;
	p = mmap((void *)from, to - from, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (p != (void *)from) {	/* a kernel without MAP_FIXED_NOREPLACE */
		munmap(p, to - from);
		return;
	}
	resv[nresv++] = (struct reservation){ p, to - from };
}

static void reserve_far_space(void)
{
	static struct {
		uintptr_t start, end;
	} m[4096];
	char exe[4096], line[4608];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f = fopen("/proc/self/maps", "r");
	uintptr_t exe_end = 0, heap_start = 0, heap_end = 0, stack = 0;
	uintptr_t base, lo, hi, at;
	int nm = 0;

	exe[n > 0 ? n : 0] = 0;
	while (f && nm < (int)ARRAY_SIZE(m) && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		int path_at = 0;
		const char *path = "";

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &s, &e, &path_at) < 2)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (path_at > 0 && (size_t)path_at < strlen(line))
			path = line + path_at;
		if (!strcmp(path, exe) && e > exe_end)
			exe_end = e;
		if (!strcmp(path, "[heap]"))
			heap_start = s, heap_end = e;
		if (!strcmp(path, "[stack]"))
			stack = s;
		m[nm].start = s;
		m[nm++].end = e;
	}
	if (f)
		fclose(f);
	if (!exe_end || !stack)
		return;
	/* The window: right after the executable, or after the heap when
	 * the heap starts less than 128 MiB after it (brk randomization
	 * can put it up to 1 GiB away). */
	base = !heap_start || heap_start - exe_end >= 128 * (uintptr_t)MIB ?
	       exe_end : heap_end;
	lo = base + 64 * (uintptr_t)MIB;
	hi = stack - 16 * (uintptr_t)MIB;
	at = lo;
	for (int i = 0; i < nm && at < hi; i++) {
		if (m[i].end <= at)
			continue;
		if (m[i].start >= hi)
			break;
		reserve(at, m[i].start);
		at = m[i].end;
	}
	reserve(at, hi);
}

static void release_far_space(void)
{
	while (nresv > 0) {
		nresv--;
		munmap(resv[nresv].addr, resv[nresv].len);
	}
}

/* ---- registration ------------------------------------------------------- */

struct reg_variant {
	const char *name, *with, *without;	/* label, the two objects */
	unsigned per_call;			/* what reg_run adds per call */
	double open_t[2][41], close_t[2][41];	/* [with markers][cycle], us */
	unsigned long sites_min, sites_max, patches_min, patches_max, lost;
	unsigned long bad_registry, wrong;
	struct ustatic_stats d[2];		/* deltas of the last dlopen */
	double dist;				/* MiB to the target */
	double reg, reg_p90, unreg;		/* paired differences, us */
};

/* One dlopen/dlclose cycle of one object; returns -1 if it cannot load. */
static int reg_cycle(struct reg_variant *v, int full, int c)
{
	char path[4200];
	struct ustatic_stats s0, s1, s2;
	double t0, t1, t2, t3;
	run_fn *run;
	void *h;

	exe_dir_file(full ? v->with : v->without, path, sizeof(path));
	ustatic_get_stats(&s0);
	t0 = now_ns();
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	t1 = now_ns();
	ustatic_get_stats(&s1);
	if (!h) {
		printf("skipped: %s\n", dlerror());
		return -1;
	}
	run = (run_fn *)dlsym(h, "reg_run");
	v->wrong += !run || run(0) != v->per_call * REG_MARKERS;
	if (full && run)
		v->dist = mib_between((void *)run, (void *)far_step);
	t2 = now_ns();
	dlclose(h);
	t3 = now_ns();
	ustatic_get_stats(&s2);
	delta(&v->d[full], &s0, &s1);
	/* One registry: the object's constructor registered it with the
	 * executable's library, and dlclose removed it. */
	v->bad_registry += v->d[full].objects != 1 || s2.objects != s0.objects;
	if (full) {
		const struct ustatic_stats *d = &v->d[1];

		if (d->call_sites < v->sites_min)
			v->sites_min = d->call_sites;
		if (d->call_sites > v->sites_max)
			v->sites_max = d->call_sites;
		if (d->patches < v->patches_min)
			v->patches_min = d->patches;
		if (d->patches > v->patches_max)
			v->patches_max = d->patches;
		v->lost += d->call_markers;
	}
	if (c >= 0) {
		v->open_t[full][c] = (t1 - t0) / 1e3;
		v->close_t[full][c] = (t3 - t2) / 1e3;
	}
	return 0;
}

static void range(char *out, size_t len, unsigned long lo, unsigned long hi)
{
	if (lo == hi)
		snprintf(out, len, "%lu", lo);
	else
		snprintf(out, len, "%lu-%lu", lo, hi);
}

void bench_register(int quick)
{
	static struct reg_variant vs[] = {
		{ .name = "7 bytes apart", .with = "libbenchreg.so",
		  .without = "libbenchreg0.so", .per_call = 3 },
		{ .name = "47 NOPs after each", .with = "libbenchregpad.so",
		  .without = "libbenchregpad0.so", .per_call = 3 },
	};
	const int cycles = quick ? 5 : 21;

	printf("\n== Registration: dlopen(RTLD_NOW) of an object with %d static_call() "
	       "markers ==\n", REG_MARKERS);
	/* Cycle -1 warms the page cache and the allocator; the object with
	 * markers and its twin without alternate in going first. */
	for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
		struct reg_variant *v = &vs[i];

		v->sites_min = v->patches_min = ~0UL;
		for (int c = -1; c < cycles; c++)
			for (int k = 0; k < 2; k++)
				if (reg_cycle(v, (c + k) & 1, c)) {
					csv("register", "skipped", -1, -1, "skipped", 1, "flag");
					return;
				}
	}
	printf("(%d dlopen/dlclose cycles of each object, interleaved; "
	       "registration and unregistration:\n the object's dlopen (dlclose) "
	       "time minus its twin's without markers in the same\n cycle, "
	       "then the median and the 90th percentile)\n", cycles);
	printf("%-20s %22s %22s %17s %9s\n", "10,000 calls", "dlopen us: no markers",
	       "10,000 markers", "registration us", "unreg us");
	printf("%-20s %11s %10s %11s %10s %8s %8s %9s\n", "", "median", "p90",
	       "median", "p90", "median", "p90", "median");
	for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
		struct reg_variant *v = &vs[i];
		double diff[41], udiff[41], m[2], p[2];

		for (int c = 0; c < cycles; c++) {
			diff[c] = v->open_t[1][c] - v->open_t[0][c];
			udiff[c] = v->close_t[1][c] - v->close_t[0][c];
		}
		v->reg = median(diff, (size_t)cycles);
		v->reg_p90 = quantile(diff, (size_t)cycles, 0.9);
		v->unreg = median(udiff, (size_t)cycles);
		for (int full = 0; full < 2; full++) {
			m[full] = median(v->open_t[full], (size_t)cycles);
			p[full] = quantile(v->open_t[full], (size_t)cycles, 0.9);
			csv("register", v->name, full ? REG_MARKERS : 0, -1,
			    "dlopen_median", m[full], "us");
			csv("register", v->name, full ? REG_MARKERS : 0, -1,
			    "dlopen_p90", p[full], "us");
			csv("register", v->name, full ? REG_MARKERS : 0, -1, "dlclose_median",
			    median(v->close_t[full], (size_t)cycles), "us");
		}
		printf("%-20s %11.1f %10.1f %11.1f %10.1f %8.1f %8.1f %9.1f\n", v->name,
		       m[0], p[0], m[1], p[1], v->reg, v->reg_p90, v->unreg);
		csv("register", v->name, REG_MARKERS, -1, "registration_median", v->reg, "us");
		csv("register", v->name, REG_MARKERS, -1, "registration_p90", v->reg_p90, "us");
		csv("register", v->name, REG_MARKERS, -1, "unregistration_median",
		    v->unreg, "us");
		csv("register", v->name, REG_MARKERS, -1, "sites_found",
		    (double)v->sites_min, "sites");
		csv("register", v->name, REG_MARKERS, -1, "patches",
		    (double)v->patches_min, "instructions");
		csv("register", v->name, REG_MARKERS, -1, "sync_rounds",
		    (double)v->d[1].sync_rounds, "rounds");
	}
	for (size_t i = 0; i < ARRAY_SIZE(vs); i++) {
		struct reg_variant *v = &vs[i];
		char sites[48], patches[48];

		range(sites, sizeof(sites), v->sites_min, v->sites_max);
		range(patches, sizeof(patches), v->patches_min, v->patches_max);
		printf("%s: %d markers, %s sites found, %lu markers without a site; "
		       "per dlopen %s instructions\n  patched in %lu sync rounds; "
		       "objects +%lu on dlopen and back on dlclose %s; the twin:\n"
		       "  objects +%lu, sites +%lu; the object is %.0f MiB from "
		       "the target, far_step() in libbenchfar.so\n",
		       v->name, REG_MARKERS, sites, v->lost / (unsigned long)(cycles + 1),
		       patches, v->d[1].sync_rounds, v->d[1].objects,
		       v->bad_registry ? "NOT IN EVERY CYCLE" : "in every cycle",
		       v->d[0].objects, v->d[0].call_sites, v->dist);
		if (v->bad_registry)
			bench_failed("registration: the objects count did not follow "
				     "dlopen/dlclose", v->bad_registry);
		if (v->wrong)
			bench_failed("registration: reg_run", v->wrong);
	}
	target_ratio("registration of 10,000 markers (ms, dlopen difference)",
		     vs[0].reg / 1e3, 5, "<=");
}

/* ---- one update over three objects -------------------------------------- */

void bench_split(int quick)
{
	static const char *const names[2] = { "libbenchsplit1.so", "libbenchsplit2.so" };
	static const int busy_counts[] = { 0, 2 };
	const int n = quick ? 10 : 30;
	double lat_near_2 = -1, rounds_near_2 = 0;

	printf("\n== Update of one static call with %d sites in 3 objects: the "
	       "executable (%d)\n   and two dlopen'ed objects (%d each) ==\n",
	       SPLIT_SITES, SPLIT_EXE_SITES, SPLIT_SO_SITES);
	for (int near = 1; near >= 0; near--) {
		const char *placement = near ? "near" : "default";
		struct ustatic_stats s0, s1, d;
		void *h[2] = { NULL, NULL };
		double dist = 0;

		ustatic_get_stats(&s0);
		for (int k = 0; k < 2; k++) {
			char path[4200];

			exe_dir_file(names[k], path, sizeof(path));
			if (near)
				reserve_far_space();
			h[k] = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			release_far_space();
			if (!h[k] || !(split_so_run[k] = (run_fn *)dlsym(h[k], "split_run"))) {
				printf("skipped: %s\n", dlerror());
				csv("split", "skipped", -1, -1, "skipped", 1, "flag");
				if (k)
					dlclose(h[0]);
				return;
			}
			if (mib_from_exe((void *)split_so_run[k]) > dist)
				dist = mib_from_exe((void *)split_so_run[k]);
		}
		ustatic_get_stats(&s1);
		delta(&d, &s0, &s1);
		printf("%s placement: the objects are %.0f %s from the executable; "
		       "dlopen: objects +%lu,\n  call sites found +%lu (of %d), "
		       "instructions patched +%lu\n", placement,
		       dist < 16384 ? dist : dist / 1024, dist < 16384 ? "MiB" : "GiB",
		       d.objects, d.call_sites, 2 * SPLIT_SO_SITES, d.patches);
		csv("split", "distance", SPLIT_SITES, -1, placement, dist, "MiB");
		csv("split", "sites_found_in_objects", SPLIT_SITES, -1, placement,
		    (double)d.call_sites, "sites");
		if (d.objects != 2)
			bench_failed("split: the objects did not register with the "
				     "executable's registry", 1);
		if (run_split_all(NULL))
			bench_failed("split: the sites compute a wrong result", 1);
		printf("%-9s %4s %5s %9s %9s %9s %7s %9s %7s %6s\n", "placement",
		       "busy", "upds", "median us", "p90 us", "max us", "rounds",
		       "patches", "traps", "errors");
		for (size_t bi = 0; bi < ARRAY_SIZE(busy_counts); bi++) {
			int busy = busy_counts[bi];
			struct busy b = { .fn = run_split_all };
			double lat[64], med, p90, rounds;
			unsigned long errs;
			int failed = 0;

			if (busy)
				busy_start(&b, busy);
			ustatic_get_stats(&s0);
			for (int u = 0; u < n; u++) {
				double t0 = now_ns();

				failed += static_call_update(sc_split, u & 1 ? step_a : step_b) != 0;
				lat[u] = (now_ns() - t0) / 1e3;
				sleep_ns(1000 * 1000);	/* the sites run meanwhile */
			}
			ustatic_get_stats(&s1);
			if (busy)
				busy_stop(&b);
			if (static_call_query(sc_split) != step_a)
				failed += static_call_update(sc_split, step_a) != 0;
			delta(&d, &s0, &s1);
			errs = busy_errors(&b);
			if (errs)
				bench_failed("split update", errs);
			if (failed)
				bench_failed("split: static_call_update returned an error",
					     (unsigned long)failed);
			med = median(lat, (size_t)n);
			p90 = quantile(lat, (size_t)n, 0.9);
			rounds = (double)d.sync_rounds / n;
			printf("%-9s %4d %5d %9.1f %9.1f %9.1f %7.2f %9.1f %7.2f %6lu\n",
			       placement, busy, n, med, p90, lat[n - 1], rounds,
			       (double)d.patches / n, (double)d.traps / n, errs);
			csv("split", placement, SPLIT_SITES, busy, "median", med, "us");
			csv("split", placement, SPLIT_SITES, busy, "p90", p90, "us");
			csv("split", placement, SPLIT_SITES, busy, "max", lat[n - 1], "us");
			csv("split", placement, SPLIT_SITES, busy, "sync_rounds", rounds,
			    "rounds");
			csv("split", placement, SPLIT_SITES, busy, "patches",
			    (double)d.patches / n, "instructions");
			csv("split", placement, SPLIT_SITES, busy, "traps",
			    (double)d.traps / n, "traps");
			if (near && d.patches != (unsigned long)n * (SPLIT_SITES + 3))
				printf("(not every site is a direct call: the objects "
				       "could not be placed within reach)\n");
			if (near && busy == 2) {
				lat_near_2 = med;
				rounds_near_2 = rounds;
			}
		}
		dlclose(h[1]);
		dlclose(h[0]);
	}
	printf("(near: the objects were loaded within rel32 reach of the target, "
	       "so every site is a direct\n call; default: where dlopen puts them, "
	       "out of reach: their sites stay on their trampolines,\n which stay "
	       "indirect, and only the executable's sites and trampoline are "
	       "rewritten)\n");
	target_ratio("update, 10,000 sites in 3 objects, 2 busy (ms, median)",
		     lat_near_2 / 1e3, 10, "<=");
	target_ratio("sync rounds per update, 10,000 sites in 3 objects",
		     rounds_near_2, 3, "==");
}
