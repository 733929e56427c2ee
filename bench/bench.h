/* SPDX-License-Identifier: MIT */
/* Shared declarations of the ustatic benchmarks (see README in Makefile). */
#ifndef USTATIC_BENCH_H
#define USTATIC_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef unsigned step_fn(unsigned);
typedef unsigned loop_fn(unsigned n, unsigned x);

/* ---- targets.c: the functions every variant ends up calling --------- */
step_fn step_a, step_b, trace_hit;
extern step_fn *bench_fp;			/* one target */
#define MANY_TARGETS	16
#define MANY_SEQ	4096			/* power of two */
extern step_fn *const many_targets[MANY_TARGETS];
extern uint8_t many_seq[MANY_SEQ];		/* random target indices */
step_fn ifunc_step;				/* a glibc IFUNC */
extern volatile int flag_off, flag_on;
void targets_init(unsigned seed);

/* ---- far.c, in libbenchfar.so: reached through the PLT -------------- */
step_fn far_step;

/* ---- calls.c, tramp.c, retpoline.c: one loop per variant ------------ */
loop_fn loop_direct, loop_nobranch, loop_static, loop_static_far, loop_tramp,
	loop_ptr1, loop_ptr_many, loop_plt, loop_ifunc,
	loop_key_off, loop_key_on, loop_flag_off, loop_flag_on,
	loop_ptr1_retpoline, loop_ptr_many_retpoline;
int calls_init(void);				/* enables key_on */
const void *tramp_of_bench(void);		/* __SCT__sc_bench */
const void *tramp_of_far(void);			/* __SCT__sc_far */

/* ---- sites.c: static calls with 1, 100 and 10,000 inline sites ------ */
enum { SITES_1, SITES_100, SITES_10K, NSITESETS };
extern const unsigned sites_count[NSITESETS];
unsigned run_sites(int set, unsigned x);	/* runs every site of a set once */
int update_sites(int set, step_fn *to);		/* static_call_update */

/* ---- common.c -------------------------------------------------------- */
static inline uint64_t tsc_begin(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

static inline uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;

	__asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

extern double tsc_per_ns;			/* set by tsc_calibrate() */
void tsc_calibrate(void);
double now_ns(void);				/* CLOCK_MONOTONIC */
void sleep_ns(long ns);
double median(double *v, size_t n);		/* sorts v */
double quantile(double *v, size_t n, double q);	/* v sorted */

/* results.csv: section,case,sites,busy,metric,value,unit */
int csv_open(const char *path, int append);
void csv_close(void);
void csv(const char *section, const char *what, long sites, long busy,
	 const char *metric, double value, const char *unit);

/* Busy threads: each calls fn(arg) until stopped; fn returns 0 when the
 * results it checked were right. */
#define BUSY_MAX 4
struct busy {
	int (*fn)(void *arg);
	void *arg;
	int n, stop;
	void *threads[BUSY_MAX];
	struct {
		unsigned long iters, errors;
		char pad[48];
	} per[BUSY_MAX];
};
void busy_start(struct busy *b, int n);		/* waits until all run */
void busy_stop(struct busy *b);
unsigned long busy_iters(const struct busy *b);
unsigned long busy_errors(const struct busy *b);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
