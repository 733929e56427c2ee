/* SPDX-License-Identifier: MIT */
/* Timing, statistics, CSV output and busy threads for the benchmarks. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

double tsc_per_ns = 1.0;

double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

void sleep_ns(long ns)
{
	struct timespec t = { ns / 1000000000L, ns % 1000000000L };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* TSC ticks per ns, from a 50 ms window, best of three. */
void tsc_calibrate(void)
{
	double best = 0;

	for (int i = 0; i < 3; i++) {
		double t0 = now_ns();
		uint64_t c0 = tsc_begin();

		sleep_ns(50 * 1000 * 1000);
		uint64_t c1 = tsc_end();
		double t1 = now_ns();
		double r = (double)(c1 - c0) / (t1 - t0);

		if (!best || r < best)
			best = r;
	}
	tsc_per_ns = best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double quantile(double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;

	if (!n)
		return 0;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return quantile(v, n, 0.5);
}

static FILE *csv_file;

int csv_open(const char *path, int append)
{
	csv_file = fopen(path, append ? "a" : "w");
	if (!csv_file)
		return -errno;
	if (!append)
		fprintf(csv_file, "section,case,sites,busy,metric,value,unit\n");
	return 0;
}

void csv_close(void)
{
	if (csv_file)
		fclose(csv_file);
	csv_file = NULL;
}

void csv(const char *section, const char *what, long sites, long busy,
	 const char *metric, double value, const char *unit)
{
	char s[32] = "", b[32] = "";

	if (!csv_file)
		return;
	if (sites >= 0)
		snprintf(s, sizeof(s), "%ld", sites);
	if (busy >= 0)
		snprintf(b, sizeof(b), "%ld", busy);
	fprintf(csv_file, "%s,\"%s\",%s,%s,%s,%.6g,%s\n", section, what, s, b,
		metric, value, unit);
}

struct busy_arg {
	struct busy *b;
	int i;
};
static struct busy_arg busy_args[BUSY_MAX];
static int busy_running;

static void *busy_main(void *p)
{
	struct busy_arg *a = p;
	struct busy *b = a->b;

	__atomic_fetch_add(&busy_running, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		if (b->fn(b->arg))
			__atomic_store_n(&b->per[a->i].errors,
					 b->per[a->i].errors + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&b->per[a->i].iters, b->per[a->i].iters + 1,
				 __ATOMIC_RELAXED);
	}
	return NULL;
}

void busy_start(struct busy *b, int n)
{
	b->n = n > BUSY_MAX ? BUSY_MAX : n;
	b->stop = 0;
	memset(b->per, 0, sizeof(b->per));
	__atomic_store_n(&busy_running, 0, __ATOMIC_SEQ_CST);
	for (int i = 0; i < b->n; i++) {
		pthread_t *t = malloc(sizeof(*t));

		busy_args[i] = (struct busy_arg){ b, i };
		if (!t || pthread_create(t, NULL, busy_main, &busy_args[i])) {
			fprintf(stderr, "bench: cannot start a busy thread\n");
			exit(2);
		}
		b->threads[i] = t;
	}
	while (__atomic_load_n(&busy_running, __ATOMIC_SEQ_CST) < b->n)
		sleep_ns(100 * 1000);
	sleep_ns(5 * 1000 * 1000);	/* past glibc's new-thread signal block */
}

void busy_stop(struct busy *b)
{
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < b->n; i++) {
		pthread_join(*(pthread_t *)b->threads[i], NULL);
		free(b->threads[i]);
	}
	b->n = 0;
}

unsigned long busy_iters(const struct busy *b)
{
	unsigned long s = 0;

	for (int i = 0; i < BUSY_MAX; i++)
		s += __atomic_load_n(&b->per[i].iters, __ATOMIC_RELAXED);
	return s;
}

unsigned long busy_errors(const struct busy *b)
{
	unsigned long s = 0;

	for (int i = 0; i < BUSY_MAX; i++)
		s += __atomic_load_n(&b->per[i].errors, __ATOMIC_RELAXED);
	return s;
}
