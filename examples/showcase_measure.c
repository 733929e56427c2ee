/* SPDX-License-Identifier: MIT */
/*
 * Timing, done so that a busy machine does not tell lies: every variant of
 * a comparison runs once per repetition, in a rotating order, so a slow
 * moment hits all of them alike; the clock is the thread's CPU time, so
 * time spent preempted is not counted; the numbers shown are medians, a
 * ratio shown is that of two medians, and whether it is noise is judged
 * from the ratios within each repetition.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "showcase.h"

/* One sample: about this long (ns) of one loop. */
static double sample_ns(void)
{
	return quick ? 0.5e6 : 4e6;
}

int reps(void)
{
	return quick ? 5 : 31;
}

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

long calibrate(loop_fn *loop)
{
	long n = 1024;
	double t;

	for (;;) {
		double t0 = cpu_ns();

		loop(n);
		t = cpu_ns() - t0;
		if (t >= sample_ns() / 4 || n > (1L << 40))
			break;
		n *= 2;
	}
	return (long)(n * (sample_ns() / (t > 0 ? t : 1)));
}

void measure(struct variant *v, int nv, long n)
{
	for (int i = 0; i < nv; i++)		/* warm caches and predictors */
		v[i].fn(n / 8 + 1);
	for (int r = 0; r < reps(); r++) {
		for (int j = 0; j < nv; j++) {
			struct variant *x = &v[(j + r) % nv];
			double t0 = cpu_ns();
			uint64_t got = x->fn(n);

			x->ns[r] = (cpu_ns() - t0) / n;
			x->wrong += got != x->expect;
		}
	}
	for (int i = 0; i < nv; i++)
		v[i].median = median(v[i].ns, reps());
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The value at fraction q of the sorted values (0.5: the median). */
static double quantile(double *v, int n, double q)
{
	double s[MAX_REPS], pos;
	int i;

	for (i = 0; i < n; i++)
		s[i] = v[i];
	qsort(s, n, sizeof(s[0]), cmp_double);
	pos = q * (n - 1);
	i = (int)pos;
	return i + 1 < n ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[i];
}

double median(double *v, int n)
{
	return quantile(v, n, 0.5);
}

struct ratio ratio_of(const struct variant *a, const struct variant *b)
{
	double q[MAX_REPS];
	int n = reps();

	for (int r = 0; r < n; r++)
		q[r] = a->ns[r] / b->ns[r];
	/* The ratio shown is that of the medians shown; the quartiles of
	 * the paired ratios say how much it moved from run to run. */
	return (struct ratio){ a->median / b->median, quantile(q, n, 0.25),
			       quantile(q, n, 0.75) };
}

/*
 * No difference worth the name: within the middle half of the
 * repetitions, either one was the faster, or the two differ by less than
 * 5 %, too little to build on.
 */
bool within_noise(struct ratio r)
{
	return (r.lo <= 1 && r.hi >= 1) || fabs(r.mid - 1) < 0.05;
}
