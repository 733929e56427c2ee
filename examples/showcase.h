/* SPDX-License-Identifier: MIT */
/*
 * What the showcase's files share. showcase.c tells the story and owns the
 * static call, the key and their classic twins (a function pointer and a
 * flag); showcase_live.c switches them while threads run;
 * showcase_loops.c holds the timed loops (built twice: as is, and with
 * retpolines); showcase_measure.c times them.
 */
#ifndef SHOWCASE_H
#define SHOWCASE_H

#include <stdbool.h>
#include <stdint.h>

#include <ustatic.h>

/* ---- showcase.c: what is called and switched ------------------------- */

/* Two targets with different answers, so a check sees which one ran. */
uint64_t step_a(uint64_t x);
uint64_t step_b(uint64_t x);
typedef uint64_t step_fn(uint64_t);

DECLARE_STATIC_CALL(step, step_a);	/* ustatic: a direct call */
extern step_fn *step_ptr;		/* classic: a function pointer */
extern step_fn *const step_table[2];	/* step_a, step_b */

DECLARE_STATIC_KEY_FALSE(tracing);	/* ustatic: a NOP while off */
extern int tracing_flag;		/* classic: if (flag) */
void trace_hit(void);			/* what tracing does when on */
extern unsigned long traced;		/* trace_hit() calls */

/* Run options (SHOWCASE_QUICK=1: a smoke test, well under a second). */
extern bool quick;

/* ---- showcase_loops.c: the timed loops -------------------------------- */

/*
 * Each loop makes n calls, x = call(x), and returns x for a check. The
 * "pick" loops first read pick[i] (0 or 1, random), and their pointer
 * calls step_table[pick[i]]: a target that changes from call to call.
 */
typedef uint64_t loop_fn(long n);

struct call_loops {
	loop_fn *direct, *static_call, *pointer;
	loop_fn *pick_direct, *pick_static_call, *pick_pointer;
};
extern const struct call_loops loops_plain, loops_hardened;
/* The flags loops_hardened was built with ("" when it was not). */
extern const char hardened_flags[];

#define PICK_LEN	4096		/* a power of two */
extern uint8_t pick[PICK_LEN];

/*
 * The tracing check in a loop with real work: each iteration checksums a
 * 32-byte record, then tests the key, or the flag. Returns the checksums'
 * sum.
 */
uint64_t key_loop(long n);
uint64_t flag_loop(long n);
#define NRECORDS	8
#define RECORD_LEN	32
extern uint8_t records[NRECORDS][RECORD_LEN];
uint32_t checksum(const uint8_t *p);

/* ---- showcase_measure.c: interleaved, repeated, medians -------------- */

#define MAX_REPS	64

struct variant {
	loop_fn *fn;
	uint64_t expect;		/* what fn(n) must return */
	double ns[MAX_REPS];		/* per iteration, one per repetition */
	double median;
	unsigned long wrong;		/* runs that returned something else */
};

/* n such that loop takes about the sample time. */
long calibrate(loop_fn *loop);
/* Runs every variant reps times, interleaved, n iterations each. */
void measure(struct variant *v, int nv, long n);
/* a's median over b's, and the quartiles of a.ns[r] / b.ns[r]. */
struct ratio { double mid, lo, hi; };
struct ratio ratio_of(const struct variant *a, const struct variant *b);
/* Whether a ratio is indistinguishable from 1 (no gain, no loss). */
bool within_noise(struct ratio r);
double median(double *v, int n);
int reps(void);

/* ---- showcase_live.c: switching while threads run --------------------- */

struct live_report {
	unsigned long switches, calls, wrong, missed, to_a, to_b, traced;
	unsigned long failed_switches;
};
/* nthreads workers run the hot path for ms milliseconds while this thread
 * switches as often as it can; the workers check every result. */
void live_run(int nthreads, int ms, struct live_report *r);
/* Median time (ns) of one static_call_update / static_branch_enable or
 * disable while nthreads workers run (and check) the hot path. */
struct switch_cost { double update_ns, key_ns; };
void switch_latency(int nthreads, int samples, struct switch_cost *c,
		    struct live_report *r);

#endif
