/* SPDX-License-Identifier: MIT */
/*
 * LLVM XRay against ustatic, in one process built with clang: the time of
 * __xray_patch() and __xray_unpatch() over 5,000 instrumented functions
 * (10,000 sleds) against one static_call_update() of 10,000 inline sites,
 * with 0 and 2 threads running the code being rewritten.
 *
 *   bench_xray CSV [--quick]	(run by bench, appends to CSV)
 */
#include <stdlib.h>
#include <string.h>

#include <ustatic.h>

#include "bench.h"

/* The XRay runtime's C entry points (its header is C++ only). */
int __xray_patch(void);
int __xray_unpatch(void);
size_t __xray_max_function_id(void);
#define XRAY_PATCHING_SUCCESS 1

extern step_fn *const xray_funcs[];
extern const unsigned xray_nfuncs;

static int run_xray_funcs(void *arg)
{
	unsigned x = 0;

	(void)arg;
	for (unsigned i = 0; i < xray_nfuncs; i++)
		x = xray_funcs[i](x);
	return x != xray_nfuncs;
}

static int run_10k(void *arg)
{
	(void)arg;
	return run_sites(SITES_10K, 0) != sites_count[SITES_10K];
}

static void row(const char *what, long sites, int busy, double *lat, int n,
		unsigned long errors)
{
	double med = median(lat, (size_t)n);

	printf("%-38s %7ld %4d %10.1f %10.1f %7lu\n", what, sites, busy, med,
	       lat[n - 1], errors);
	csv("xray", what, sites, busy, "median", med, "us");
	csv("xray", what, sites, busy, "max", lat[n - 1], "us");
}

int main(int argc, char **argv)
{
	const int reps = argc > 2 && !strcmp(argv[2], "--quick") ? 5 : 15;
	size_t nsleds = 2 * (size_t)xray_nfuncs;
	int failed = 0;

	if (argc < 2 || csv_open(argv[1], 1))
		return fprintf(stderr, "usage: bench_xray CSV [--quick]\n"), 2;
	printf("(%zu XRay-instrumented functions = %zu sleds, entry and exit; "
	       "%u ustatic sites; compiler: %s)\n", __xray_max_function_id(),
	       nsleds, sites_count[SITES_10K], __VERSION__);
	printf("%-38s %7s %4s %10s %10s %7s\n", "operation", "sites", "busy",
	       "median us", "max us", "errors");
	for (int busy = 0; busy <= 2; busy += 2) {
		double patch[32], unpatch[32], upd[32];
		struct busy b = { .fn = run_xray_funcs };
		unsigned long xerr, uerr;

		if (busy)
			busy_start(&b, busy);
		for (int r = 0; r < reps; r++) {
			double t0 = now_ns();

			failed |= __xray_patch() != XRAY_PATCHING_SUCCESS;
			patch[r] = (now_ns() - t0) / 1e3;
			sleep_ns(1000 * 1000);
			t0 = now_ns();
			failed |= __xray_unpatch() != XRAY_PATCHING_SUCCESS;
			unpatch[r] = (now_ns() - t0) / 1e3;
			sleep_ns(1000 * 1000);
		}
		if (busy)
			busy_stop(&b);
		xerr = busy_errors(&b);

		b = (struct busy){ .fn = run_10k };
		if (busy)
			busy_start(&b, busy);
		for (int r = 0; r < reps; r++) {
			double t0 = now_ns();

			failed |= update_sites(SITES_10K, r & 1 ? step_a : step_b) != 0;
			upd[r] = (now_ns() - t0) / 1e3;
			sleep_ns(1000 * 1000);
		}
		if (reps & 1)
			failed |= update_sites(SITES_10K, step_a) != 0;
		if (busy)
			busy_stop(&b);
		uerr = busy_errors(&b);

		row("XRay __xray_patch()", (long)nsleds, busy, patch, reps, xerr);
		row("XRay __xray_unpatch()", (long)nsleds, busy, unpatch, reps, xerr);
		row("ustatic static_call_update()", sites_count[SITES_10K], busy, upd,
		    reps, uerr);
		failed |= xerr || uerr;
	}
	printf("(XRay rewrites each sled with plain stores and no cross-core "
	       "serialization; ustatic uses\nthe int3 protocol with 3 "
	       "membarrier(SYNC_CORE) rounds.)\n");
	csv_close();
	return failed;
}
