/* SPDX-License-Identifier: MIT */
/*
 * ustatic showcase: what static calls and static keys do, what they buy
 * and what they cost, side by side in one run (`make run`).
 *
 *   1. Live switching: worker threads call a static call and test a
 *      static key in a loop, checking every result, while the main
 *      thread retargets the call and flips the key hundreds of times.
 *   2. What one call costs: a direct call, a static call and a function
 *      pointer, in an ordinary build, with a pointer whose target changes
 *      from call to call, and in a retpoline build.
 *   3. A static key that is off against `if (flag)`, in a loop that does
 *      real work.
 *   4. What one switch costs, with no other thread and with a busy one.
 *
 * Then it says where ustatic paid on this machine and where it did not.
 * SHOWCASE_QUICK=1 runs it all in a fraction of a second (for tests; the
 * timings are then rough).
 *
 * Exit status: 0 when every result was right and every switch succeeded,
 * 1 otherwise. Timings never fail it: they are what this machine gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "showcase.h"

/* ---- what is called and switched -------------------------------------- */

/* Two cheap mixing steps (a few cycles each), with different answers. */
__attribute__((noinline)) uint64_t step_a(uint64_t x)
{
	return (x ^ (x >> 31)) * 0x9e3779b97f4a7c15u;
}

__attribute__((noinline)) uint64_t step_b(uint64_t x)
{
	return (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9u;
}

DEFINE_STATIC_CALL(step, step_a);
step_fn *step_ptr = step_a;
step_fn *const step_table[2] = { step_a, step_b };

DEFINE_STATIC_KEY_FALSE(tracing);
int tracing_flag;
unsigned long traced;

void trace_hit(void)
{
	__atomic_fetch_add(&traced, 1, __ATOMIC_RELAXED);
}

bool quick;

/* Every check of the run adds to these. */
static unsigned long checked, wrong;
/* Switches the library refused (nothing changed): not wrong results, but
 * not the point either (USTATIC_WRITE=none, a sandbox that forbids code
 * writes). */
static unsigned long refused;

/* ---- the machine ------------------------------------------------------ */

static void machine(void)
{
	char line[256], model[128] = "unknown CPU";
	double load = -1;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/loadavg", "r");
	if (f && fscanf(f, "%lf", &load) != 1)
		load = -1;
	if (f)
		fclose(f);
	printf("Machine: %s, %ld CPUs, load average %.2f; %s %d.%d%s\n",
	       model, sysconf(_SC_NPROCESSORS_ONLN), load,
#ifdef __clang__
	       "clang", __clang_major__, __clang_minor__,
#else
	       "gcc", __GNUC__, __GNUC_MINOR__,
#endif
	       quick ? "; SHOWCASE_QUICK: rough timings" : "");
	if (load > 0.5 * sysconf(_SC_NPROCESSORS_ONLN))
		printf("(other programs keep this machine busy: timings are "
		       "noisier than usual)\n");
}

/* ---- 1. live switching ------------------------------------------------ */

static void part_live(void)
{
	struct ustatic_stats s0, s1;
	struct live_report r;
	int ms = quick ? 100 : 600;

	printf("\n1. Switching live. 2 threads run this in a loop and check every result:\n"
	       "       r = static_call(step)(x);        /* a direct call to step_a or step_b */\n"
	       "       if (static_branch_unlikely(&tracing))   /* a NOP while off */\n"
	       "               traced++;\n"
	       "   while the main thread, for %d ms, switches them again and again:\n"
	       "   static_call_update(step, step_b), static_branch_enable(&tracing),\n"
	       "   static_branch_disable(&tracing), static_call_update(step, step_a), ...\n\n",
	       ms);
	ustatic_get_stats(&s0);
	live_run(2, ms, &r);
	ustatic_get_stats(&s1);
	checked += r.calls;
	wrong += r.wrong + r.missed;
	refused += r.failed_switches;

	printf("   switches made                 %12lu (%lu instructions rewritten)\n",
	       r.switches, s1.patches - s0.patches);
	if (r.failed_switches)
		printf("   switches that failed          %12lu\n", r.failed_switches);
	printf("   calls made and checked        %12lu   wrong results: %lu\n",
	       r.calls, r.wrong);
	printf("   ... went to step_a / step_b   %12lu / %lu\n", r.to_a, r.to_b);
	printf("   ... ran the tracing branch    %12lu\n", r.traced);
	printf("   ... met an instruction being rewritten (an int3 trap, handled): %lu\n",
	       s1.traps - s0.traps);
	printf("   calls that began after a switch returned but did not see it: %lu\n",
	       r.missed);
}

/* ---- 2. what one call costs ------------------------------------------- */

/* The loops' answers, computed here the plain way. */
static uint64_t expect_chain(long n)
{
	uint64_t x = 1;

	for (long i = 0; i < n; i++)
		x = step_a(x);
	return x;
}

static uint64_t expect_pick(long n, bool follow_pick)
{
	uint64_t x = 1;

	for (long i = 0; i < n; i++) {
		unsigned k = pick[i & (PICK_LEN - 1)];

		x = (follow_pick && k ? step_b : step_a)(x ^ k);
	}
	return x;
}

/*
 * The rows of the table; every loop of every row is measured in one
 * interleaved run, so that rows compare with each other too.
 */
enum { ORDINARY, PICKED, RETPOLINE, NROWS };
enum { DIRECT, STATIC, POINTER, NCOLS };

static const struct {
	const char *what, *what2, *summary;
} row_text[NROWS] = {
	[ORDINARY] = { "ordinary build (-O2)",
		       "the pointer always holds step_a: the CPU predicts the call",
		       "an ordinary build, well-predicted pointer" },
	[PICKED] = { "mispredicted pointer",
		     "its target changes at random per call (step_a or step_b)",
		     "a mispredicted pointer" },
	[RETPOLINE] = { "retpoline build",
			"every indirect call goes through a thunk that defeats prediction",
			"a retpoline build" },
};
static struct variant calls[NROWS * NCOLS];
static struct ratio ptr_vs_static[NROWS], static_vs_direct[NROWS];
static int nrows;

#define CELL(row, col)	calls[(row) * NCOLS + (col)]

static void add_row(int row, loop_fn *direct, loop_fn *sc, loop_fn *ptr)
{
	CELL(row, DIRECT).fn = direct;
	CELL(row, STATIC).fn = sc;
	CELL(row, POINTER).fn = ptr;
	nrows = row + 1;
}

static const char *call_verdict(struct ratio r)
{
	if (within_noise(r))
		return "no real difference";
	return r.mid > 1 ? "static call pays" : "static call loses";
}

static void part_calls(void)
{
	const struct call_loops *p = &loops_plain, *h = &loops_hardened;
	uint64_t chain, picked, picked_ptr;
	bool same_as_direct = true;
	long n;

	add_row(ORDINARY, p->direct, p->static_call, p->pointer);
	add_row(PICKED, p->pick_direct, p->pick_static_call, p->pick_pointer);
	if (hardened_flags[0])
		add_row(RETPOLINE, h->direct, h->static_call, h->pointer);

	n = calibrate(p->direct);
	chain = expect_chain(n);
	picked = expect_pick(n, false);
	picked_ptr = expect_pick(n, true);
	for (int i = 0; i < nrows * NCOLS; i++)
		calls[i].expect = i / NCOLS != PICKED ? chain :
				  i % NCOLS == POINTER ? picked_ptr : picked;
	measure(calls, nrows * NCOLS, n);
	for (int i = 0; i < nrows * NCOLS; i++) {
		checked += reps();
		wrong += calls[i].wrong;
	}

	printf("\n2. What one call costs. x = f(x) in a loop, f a few cycles of work, called\n"
	       "   through a direct call, a static call (patched to call step_a) or a\n"
	       "   function pointer. ns per call, median of %d interleaved runs.\n\n",
	       reps());
	printf("   %-34s %6s  %6s  %7s   %s\n", "", "direct", "static", "pointer",
	       "pointer / static call");
	for (int row = 0; row < NROWS; row++) {
		if (row >= nrows) {
			printf("   %-34s (not built: no retpoline flags for this "
			       "compiler or CPU)\n", row_text[row].what);
			continue;
		}
		ptr_vs_static[row] = ratio_of(&CELL(row, POINTER), &CELL(row, STATIC));
		static_vs_direct[row] = ratio_of(&CELL(row, STATIC), &CELL(row, DIRECT));
		printf("   %-34s %6.2f  %6.2f  %7.2f   %5.2fx  %s\n",
		       row_text[row].what, CELL(row, DIRECT).median,
		       CELL(row, STATIC).median, CELL(row, POINTER).median,
		       ptr_vs_static[row].mid, row == PICKED ?
		       "not the same work (see below)" :
		       call_verdict(ptr_vs_static[row]));
		printf("     %s\n", row_text[row].what2);
		if (row == RETPOLINE)
			printf("     (built with %s)\n", hardened_flags);
	}
	printf("   A static call against a direct call:");
	for (int row = 0; row < nrows; row++) {
		printf(" %.2fx%s", static_vs_direct[row].mid,
		       row + 1 < nrows ? "," : "");
		same_as_direct = same_as_direct &&
			(within_noise(static_vs_direct[row]) ||
			 static_vs_direct[row].mid < 1);
	}
	printf("%s", same_as_direct ? ": once patched, it is one.\n" :
	       ": here it costs more than a direct call\n"
	       "   (its sites may be on their trampolines: USTATIC_DEBUG=1 says why).\n");
	printf("   The mispredicted row does not compare like with like: its pointer picks\n"
	       "   step_a or step_b per call, which a static call cannot do; its static\n"
	       "   column always calls step_a. It shows the price of a wrong guess, which\n"
	       "   a direct call never pays. A static call has one target between\n"
	       "   switches: it replaces a pointer that changes rarely, not per call.\n");
}

/* ---- 3. a static key off vs if (flag) ---------------------------------- */

static struct variant keys[2];
static struct ratio flag_vs_key;

static void part_keys(void)
{
	long n = calibrate(key_loop);
	uint64_t sum = 0;
	unsigned long traced0 = traced;

	for (long i = 0; i < n; i++)
		sum += checksum(records[i % NRECORDS]);
	keys[0] = (struct variant){ .fn = key_loop, .expect = sum };
	keys[1] = (struct variant){ .fn = flag_loop, .expect = sum };
	measure(keys, 2, n);
	flag_vs_key = ratio_of(&keys[1], &keys[0]);
	for (int i = 0; i < 2; i++) {
		checked += reps();
		wrong += keys[i].wrong;
	}
	checked++;
	wrong += traced != traced0;	/* tracing was off throughout */

	printf("\n3. Tracing off, in a loop that does real work (a %d-byte checksum per\n"
	       "   iteration): a static key (a NOP) against if (flag) (a load and a\n"
	       "   predicted branch). ns per iteration, median of %d interleaved runs.\n\n",
	       RECORD_LEN, reps());
	printf("   static key %6.2f   if (flag) %6.2f   flag / key %5.2fx  %s\n",
	       keys[0].median, keys[1].median, flag_vs_key.mid,
	       within_noise(flag_vs_key) ? "no real difference" :
	       flag_vs_key.mid > 1 ? "static key pays" : "static key loses");
}

/* ---- 4. what one switch costs ------------------------------------------ */

static struct switch_cost cost[2];	/* with 0 and 1 busy threads */

static void part_switch(void)
{
	int samples = quick ? 4 : 25;

	for (int busy = 0; busy <= 1; busy++) {
		struct live_report r;

		switch_latency(busy, samples, &cost[busy], &r);
		checked += r.calls;
		wrong += r.wrong + r.missed;
		refused += r.failed_switches;
	}
	printf("\n4. What one switch costs: the time the call takes to return (it\n"
	       "   rewrites the code and serializes every core that runs this\n"
	       "   program's threads), median of %d; microseconds.\n\n", samples);
	printf("   %-32s %14s   %s\n", "", "no other thread", "1 busy thread");
	printf("   %-32s %14.1f   %13.1f\n", "static_call_update()",
	       cost[0].update_ns / 1e3, cost[1].update_ns / 1e3);
	printf("   %-32s %14.1f   %13.1f\n", "static_branch_enable/disable()",
	       cost[0].key_ns / 1e3, cost[1].key_ns / 1e3);
}

/* ---- where it pays, where it does not ------------------------------------ */

/* One comparison of the summary: ustatic's way against the classic one. */
struct outcome {
	const char *what, *ours;
	struct ratio r;		/* classic / ustatic */
	double saved_ns;	/* per call or iteration */
};

static bool pays(const struct outcome *o)
{
	return !within_noise(o->r) && o->r.mid > 1;
}

static void summary(void)
{
	struct outcome o[NROWS + 1];
	int n = 0;

	for (int row = 0; row < nrows; row++)
		o[n++] = (struct outcome){ row_text[row].summary, "a static call",
			ptr_vs_static[row],
			CELL(row, POINTER).median - CELL(row, STATIC).median };
	o[n++] = (struct outcome){ "a static key off against if (flag) beside real work",
		"the key", flag_vs_key, keys[1].median - keys[0].median };

	printf("\nOn this machine, in this run:\n  ustatic pays\n");
	for (int i = 0; i < n; i++)
		if (pays(&o[i]))
			printf("    - %s: %s runs %.1fx as fast (%.1f ns less per call)\n",
			       o[i].what, o[i].ours, o[i].r.mid, o[i].saved_ns);
	printf("  ustatic does not pay\n");
	for (int i = 0; i < n; i++)
		if (!pays(&o[i]))
			printf("    - %s: %.2fx, %s\n", o[i].what, o[i].r.mid,
			       within_noise(o[i].r) ? "no real difference" :
			       "ustatic's way is slower");
	printf("    - a switch: %.0f us with a busy thread, where storing a pointer\n"
	       "      takes nanoseconds. Switch rarely (configuration, CPU features,\n"
	       "      tracing on and off), never per call.\n", cost[1].update_ns / 1e3);
}

/* ---- main -------------------------------------------------------------- */

static void init_data(void)
{
	uint32_t s = 2463534242u;	/* xorshift32: the same picks every run */

	for (int i = 0; i < PICK_LEN; i++) {
		s ^= s << 13, s ^= s >> 17, s ^= s << 5;
		pick[i] = s >> 31;
	}
	for (int r = 0; r < NRECORDS; r++)
		for (int i = 0; i < RECORD_LEN; i++)
			records[r][i] = (uint8_t)(r * 37 + i * 11 + 5);
}

int main(void)
{
	const char *q = getenv("SHOWCASE_QUICK");

	quick = q && *q && strcmp(q, "0");
	setvbuf(stdout, NULL, _IOLBF, 0);
	init_data();
	printf("ustatic showcase: static calls and static keys, switched live\n");
	machine();
	part_live();
	part_calls();
	part_keys();
	part_switch();
	summary();
	if (wrong) {
		printf("\nFAILED: %lu of %lu checks went wrong\n", wrong, checked);
		return 1;
	}
	printf("\nAll %lu checks passed: every result was right.\n", checked);
	if (refused) {
		printf("But the library refused %lu switches here (each changed "
		       "nothing; USTATIC_DEBUG=1 says why).\n", refused);
		return 2;
	}
	return 0;
}
