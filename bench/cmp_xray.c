/* SPDX-License-Identifier: MIT */
/*
 * The 10,000-site update against LLVM XRay in one process (built with
 * clang): __xray_patch() and __xray_unpatch() of 10,000 sleds (5,000
 * functions, entry and exit) and static_call_update() of 10,000 inline
 * sites, interleaved, no other thread, each beside the floor.
 *
 *   cmp_xray [N]
 */
#include <stdlib.h>

#include <ustatic.h>

#include "cmp.h"

/* The XRay runtime's C entry points (its header is C++ only). */
int __xray_patch(void);
int __xray_unpatch(void);
size_t __xray_max_function_id(void);
#define XRAY_PATCHING_SUCCESS 1

#define SPACING_NS	(1000 * 1000L)

static double timed(int (*fn)(void), int *bad)
{
	double t0 = now_ns();

	*bad += fn() != XRAY_PATCHING_SUCCESS;
	return (now_ns() - t0) / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 31, xfails = 0, fails = 0, err = 0;
	double *p = calloc((size_t)n, sizeof(*p)), *up = calloc((size_t)n, sizeof(*up));
	double *u = calloc((size_t)n, sizeof(*u)), *f = calloc((size_t)n, sizeof(*f));

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!p || !up || !u || !f || floor_init())
		return 2;
	/* Warm-up: one round trip of each. */
	timed(__xray_patch, &xfails);
	timed(__xray_unpatch, &xfails);
	fails += update_sites(SITES_10K, step_b) != 0;
	fails += update_sites(SITES_10K, step_a) != 0;
	for (int i = 0; i < n; i++) {
		double t0;
		int r;

		sleep_ns(SPACING_NS);
		f[i] = floor_us();
		sleep_ns(SPACING_NS);
		p[i] = timed(__xray_patch, &xfails);
		sleep_ns(SPACING_NS);
		up[i] = timed(__xray_unpatch, &xfails);
		sleep_ns(SPACING_NS);
		t0 = now_ns();
		r = update_sites(SITES_10K, i & 1 ? step_a : step_b);
		u[i] = (now_ns() - t0) / 1e3;
		if (r && !fails++)
			err = r;
	}
	if (n & 1)
		fails += update_sites(SITES_10K, step_a) != 0;
	double mu = med(u, n), mp = med(p, n);

	result("id=xray upd_us=%.2f patch_us=%.2f unpatch_us=%.2f floor_us=%.2f "
	       "ratio=%.3f sleds=%zu n=%d fails=%d err=%d xfails=%d", mu, mp,
	       med(up, n), med(f, n), mu / mp, 2 * __xray_max_function_id(), n,
	       fails, err, xfails);
	return 0;
}
