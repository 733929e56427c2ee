/* SPDX-License-Identifier: MIT */
/*
 * ustatic showcase: switch a hot path's behaviour while threads run it.
 *
 * Two worker threads checksum small buffers in a loop and check every
 * result. The main thread switches, live:
 *   - the implementation, checksum_simple -> checksum_unrolled (same answers),
 *   - tracing on and off (when on, every call counts one traced event).
 *
 * It does this twice: once with ustatic (a static call and a static key:
 * a direct `call` and a NOP in the hot path, rewritten in place), once the
 * classic way (a function pointer and an `if (flag)`), and prints what the
 * workers got done in every phase and how long every switch took.
 *
 * Exit status: 0 when every result was right, 1 otherwise.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ustatic.h>

#define NWORKERS	2
#define BUF_LEN		32
#define NBUFS		8
#define PHASE_MS	250

/* ---- the two implementations: same result, different speed ---------- */

static uint32_t checksum_simple(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

/* Four bytes per step: s*31^4 + a*31^3 + b*31^2 + c*31 + d. */
static uint32_t checksum_unrolled(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4)
		s = s * 923521u + p[i] * 29791u + p[i + 1] * 961u +
		    p[i + 2] * 31u + p[i + 3];
	for (; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

/* ---- the hot path, ustatic flavour ----------------------------------- */

DEFINE_STATIC_CALL(checksum, checksum_simple);
DEFINE_STATIC_KEY_FALSE(tracing);

struct worker {
	unsigned long calls, traced, wrong;	/* written by the worker */
	unsigned long cpu_ns;			/* its CPU time so far */
	pthread_t thread;
	char pad[64];
};
static struct worker workers[NWORKERS];

static void trace_event(struct worker *w)
{
	__atomic_store_n(&w->traced, w->traced + 1, __ATOMIC_RELAXED);
}

static __attribute__((noinline)) uint32_t hot_static(struct worker *w,
						     const uint8_t *buf)
{
	uint32_t sum = static_call(checksum)(buf, BUF_LEN);

	if (static_branch_unlikely(&tracing))
		trace_event(w);
	return sum;
}

/* ---- the same hot path, classic flavour ------------------------------ */

typedef uint32_t checksum_fn(const uint8_t *, size_t);
static checksum_fn *checksum_ptr = checksum_simple;
static int tracing_flag;

static __attribute__((noinline)) uint32_t hot_classic(struct worker *w,
						      const uint8_t *buf)
{
	uint32_t sum = __atomic_load_n(&checksum_ptr, __ATOMIC_RELAXED)(buf, BUF_LEN);

	if (__atomic_load_n(&tracing_flag, __ATOMIC_RELAXED))
		trace_event(w);
	return sum;
}

/* ---- workers ---------------------------------------------------------- */

/* CPU time of the calling thread: per-call cost that other load on the
 * machine does not inflate. */
static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint8_t bufs[NBUFS][BUF_LEN];
static uint32_t expected[NBUFS];
static int use_static = 1;	/* which flavour the workers run */
static int stop;

static void *work(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int flavour = __atomic_load_n(&use_static, __ATOMIC_RELAXED);
		unsigned long wrong = 0;

		for (int i = 0; i < 1024; i++) {
			int b = i % NBUFS;
			uint32_t sum = flavour ? hot_static(w, bufs[b])
					       : hot_classic(w, bufs[b]);
			wrong += sum != expected[b];
		}
		__atomic_store_n(&w->wrong, w->wrong + wrong, __ATOMIC_RELAXED);
		__atomic_store_n(&w->calls, w->calls + 1024, __ATOMIC_RELAXED);
		__atomic_store_n(&w->cpu_ns, (unsigned long)cpu_ns(), __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ---- measuring -------------------------------------------------------- */

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static unsigned long total(size_t field)
{
	unsigned long s = 0;

	for (int i = 0; i < NWORKERS; i++)
		s += __atomic_load_n((unsigned long *)((char *)&workers[i] + field),
				     __ATOMIC_RELAXED);
	return s;
}

struct result {
	double calls_per_s, ns_per_call;
	unsigned long traced;
};

/* Lets the workers run one phase and measures what they got done. */
static struct result run_phase(void)
{
	unsigned long c0, t0, cpu0, calls;
	double w0, w1;
	struct result r;

	sleep_ms(20);	/* let the workers settle after a switch */
	c0 = total(offsetof(struct worker, calls));
	cpu0 = total(offsetof(struct worker, cpu_ns));
	t0 = total(offsetof(struct worker, traced));
	w0 = now_ns();
	sleep_ms(PHASE_MS);
	w1 = now_ns();
	calls = total(offsetof(struct worker, calls)) - c0;
	r.calls_per_s = calls / ((w1 - w0) / 1e9);
	r.ns_per_call = calls ? (double)(total(offsetof(struct worker, cpu_ns)) - cpu0) / calls : 0;
	r.traced = total(offsetof(struct worker, traced)) - t0;
	return r;
}

/* ---- the switches, both ways ----------------------------------------- */

enum { SW_NONE, SW_UNROLLED, SW_TRACE_ON, SW_TRACE_OFF, SW_SIMPLE };

static const struct {
	const char *checksum, *tracing;
	const char *ustatic_switch, *classic_switch;
} steps[] = {
	{ "simple", "off", NULL, NULL },
	{ "unrolled", "off", "static_call_update(unrolled)", "ptr = unrolled" },
	{ "unrolled", "on", "static_branch_enable", "flag = 1" },
	{ "unrolled", "off", "static_branch_disable", "flag = 0" },
	{ "simple", "off", "static_call_update(simple)", "ptr = simple" },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

static int failures;

/* Performs switch `sw` in one flavour; returns how long it took (ns). */
static double do_switch(int flavour, int sw)
{
	double t0 = now_ns();
	int err = 0;

	if (flavour) {
		switch (sw) {
		case SW_UNROLLED: err = static_call_update(checksum, checksum_unrolled); break;
		case SW_TRACE_ON: err = static_branch_enable(&tracing); break;
		case SW_TRACE_OFF: err = static_branch_disable(&tracing); break;
		case SW_SIMPLE: err = static_call_update(checksum, checksum_simple); break;
		}
	} else {
		switch (sw) {
		case SW_UNROLLED: __atomic_store_n(&checksum_ptr, checksum_unrolled, __ATOMIC_RELEASE); break;
		case SW_TRACE_ON: __atomic_store_n(&tracing_flag, 1, __ATOMIC_RELEASE); break;
		case SW_TRACE_OFF: __atomic_store_n(&tracing_flag, 0, __ATOMIC_RELEASE); break;
		case SW_SIMPLE: __atomic_store_n(&checksum_ptr, checksum_simple, __ATOMIC_RELEASE); break;
		}
	}
	if (err) {
		fprintf(stderr, "switch %d failed: %s\n", sw, strerror(-err));
		failures++;
	}
	return now_ns() - t0;
}

int main(void)
{
	struct result res[2][NSTEPS];
	double lat[2][NSTEPS] = { { 0 } };
	struct ustatic_stats s0, s1;
	unsigned long wrong;

	for (int b = 0; b < NBUFS; b++) {
		for (int i = 0; i < BUF_LEN; i++)
			bufs[b][i] = (uint8_t)(b * 37 + i * 11 + 5);
		expected[b] = checksum_simple(bufs[b], BUF_LEN);
		if (checksum_unrolled(bufs[b], BUF_LEN) != expected[b])
			return fprintf(stderr, "checksums disagree\n"), 1;
	}
	printf("ustatic showcase: %d worker threads checksum %d-byte buffers in a "
	       "loop and check\nevery result while the main thread switches the "
	       "implementation and tracing live.\n\n", NWORKERS, BUF_LEN);

	for (int i = 0; i < NWORKERS; i++)
		pthread_create(&workers[i].thread, NULL, work, &workers[i]);
	ustatic_get_stats(&s0);
	/* The ustatic flavour first, then the classic one. */
	for (int flavour = 1; flavour >= 0; flavour--) {
		__atomic_store_n(&use_static, flavour, __ATOMIC_RELAXED);
		for (unsigned s = 0; s < NSTEPS; s++) {
			if (s)
				lat[flavour][s] = do_switch(flavour, (int)s);
			res[flavour][s] = run_phase();
		}
	}
	ustatic_get_stats(&s1);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(workers[i].thread, NULL);

	printf("%-24s | %-28s | %-28s\n", "", "ustatic:",  "classic:");
	printf("%-24s | %-28s | %-28s\n", "", "static call + static key",
	       "fn pointer + if (flag)");
	printf("%-5s %-9s %-8s | %8s %8s %10s | %8s %8s %10s\n", "phase",
	       "checksum", "tracing", "Mcalls/s", "ns/call", "traced", "Mcalls/s",
	       "ns/call", "traced");
	for (unsigned s = 0; s < NSTEPS; s++)
		printf("%-5u %-9s %-8s | %8.1f %8.2f %10lu | %8.1f %8.2f %10lu\n",
		       s + 1, steps[s].checksum, steps[s].tracing,
		       res[1][s].calls_per_s / 1e6, res[1][s].ns_per_call, res[1][s].traced,
		       res[0][s].calls_per_s / 1e6, res[0][s].ns_per_call, res[0][s].traced);

	printf("\n%-24s | %-28s %8s | %-16s %8s\n", "switch", "ustatic", "us",
	       "classic", "us");
	for (unsigned s = 1; s < NSTEPS; s++)
		printf("%u -> %-19u | %-28s %8.1f | %-16s %8.3f\n", s, s + 1,
		       steps[s].ustatic_switch, lat[1][s] / 1e3,
		       steps[s].classic_switch, lat[0][s] / 1e3);

	wrong = total(offsetof(struct worker, wrong));
	printf("\nustatic_get_stats(): %lu sync rounds for %zu switches, "
	       "%lu int3 traps taken by the workers\n",
	       s1.sync_rounds - s0.sync_rounds, NSTEPS - 1, s1.traps - s0.traps);
	printf("(ns/call: the workers' CPU time per call, so other load does not "
	       "inflate it.\nA ustatic switch rewrites the code and serializes "
	       "every core; a classic switch\nis one store, but every call pays "
	       "for the load and the indirect branch.)\n");
	printf("\n%lu calls checked, %lu wrong: %s\n",
	       total(offsetof(struct worker, calls)), wrong,
	       wrong || failures ? "FAILED" : "OK");
	return wrong || failures ? 1 : 0;
}
