/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: a user shadow stack (x86 CET SHSTK).
 *
 * Emulating a CALL from the SIGTRAP handler pushes the return address on
 * the normal stack only; under a shadow stack the callee's RET would then
 * fault. So with a shadow stack active the handler must never emulate a
 * CALL: a thread that hits the int3 on a call site is rewound to the site
 * and retries (a "late trap") until the new instruction is in place. JMPs
 * (trampolines) are still emulated.
 *
 * This machine may have no SHSTK; USTATIC_FORCE_SHSTK=1 makes the library
 * behave as if it had one. The test re-executes itself twice:
 *   shstk:   USTATIC_FORCE_SHSTK=1
 *   control: USTATIC_FORCE_SHSTK=0
 * and in each child, with two threads calling all the time, the main thread
 *   J. retargets a hand-made `jmp rel32` (trampoline-like) stub 1000 times
 *      with us_engine_apply(): traps > 0 in both modes (JMPs are emulated);
 *   C. retargets a hand-made `call rel32` site 2000 times (fewer if 4 s
 *      pass first: with a shadow stack a waiting thread re-traps until the
 *      CALL lands, which slows every batch down), each batch holding
 *      only that CALL: shstk: stats.traps does not move and late_traps does
 *      (every trap re-executed, none emulated); control: traps > 0 (the
 *      CALL is emulated), which is what shows that check C can fail;
 *   S. retargets a real static call whose callers have an inline CALL site
 *      1000 times (or 2 s): every result is correct. Under a shadow stack
 *      the registry leaves inline CALL sites on their trampolines (a CALL
 *      site could only be left by emulating a CALL, and the thread that
 *      must land the patch could be the one waiting: a signal handler on
 *      the updating thread), so it finds none; only the trampoline's JMP
 *      slot is guarded. In the control run it finds the site.
 * Every result of every call is checked against the targets that were
 * valid while it ran.
 *
 * White-box: J and C patch hand-made code (test/stubs.h: stub_jmp and
 * stub_call's site) through the engine (src/engine.h) directly, and the
 * registry (src/registry.h) shows that the static call has a CALL site.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "engine.h"
#include "registry.h"
#include "stubs.h"
#include "helpers.h"
#include "test.h"

#if !defined(__x86_64__) || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("x86-64 int3 engine only (CALL emulation)");
}
#else

DEFINE_STATIC_CALL(hs_sc, t_ret0);

T_CALL_SITE_VOID(call_sc, hs_sc)

#define WORKERS 2

/* Target of sequence number s is s % 4. A call that started after done_seq
 * was d0 and ended before pending_seq passed p1 may return d0..p1. */
static unsigned long done_seq, pending_seq;
static int phase;			/* 'J', 'C' or 'S' */
static bool stop;
static unsigned long wrong, calls, running;

/* Workers on one CPU, the patching thread on another: the workers then
 * run while int3s are armed, at every batch. */
static int cpu_main = -1, cpu_workers = -1;

static void *worker(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	t_pin(cpu_workers);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int r = phase == 'J' ? stub_jmp() : phase == 'C' ? stub_call() : call_sc();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		bad += !test_in_window(r, d0, p1);
		if (++n == 1000)
			__atomic_fetch_add(&running, 1, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
	return NULL;
}

static int cur_target[128];		/* per phase: index in the targets */

/* One retarget of phase p to sequence number s. */
static void retarget(int p, unsigned long s)
{
	__atomic_store_n(&pending_seq, s, __ATOMIC_RELEASE);
	if (p == 'S') {
		CHECK_EQ(static_call_update(hs_sc, t_ret[s % 4]), 0);
		CHECK_EQ(call_sc(), (int)(s % 4));
	} else {
		uint8_t *at = p == 'J' ? (uint8_t *)stub_jmp : stub_call_site;
		void (*encode)(uint8_t *, const void *, const void *) =
			p == 'J' ? stub_jump_insn : stub_call_insn;
		struct us_patch pt = { .addr = at, .len = STUB_LEN };

		encode(pt.old, at, stub_targets[cur_target[p]]);
		encode(pt.new, at, stub_targets[s % 4]);
		CHECK_EQ(us_engine_apply(&pt, 1), 0);
		CHECK_EQ(p == 'J' ? stub_jmp() : stub_call(), (int)(s % 4));
	}
	cur_target[p] = (int)(s % 4);
	__atomic_store_n(&done_seq, s, __ATOMIC_RELEASE);
}

struct result {
	unsigned long batches, traps, late_traps, calls;
};

/* Runs phase p: workers call, main retargets at least `min` times and
 * until the workers ran into 200 int3s (emulated or re-executed), but at
 * most 20000 times or (after 200) `cap` seconds. Returns the counters it
 * moved. */
static struct result run_phase(int p, unsigned long min, double cap)
{
	struct ustatic_stats a, b;
	pthread_t th[WORKERS];
	unsigned long s = done_seq, n = 0;
	double t0;

	retarget(p, s);		/* no caller yet: start at target s % 4 */
	phase = p;
	stop = false;
	running = 0;
	calls = 0;
	for (int i = 0; i < WORKERS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, worker, NULL), 0);
	while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) < WORKERS)
		sched_yield();
	CHECK_EQ(ustatic_get_stats(&a), 0);
	t0 = t_now();
	for (;;) {
		retarget(p, ++s);
		CHECK_EQ(ustatic_get_stats(&b), 0);
		n++;
		if ((n >= min && b.traps + b.late_traps - a.traps -
		     a.late_traps >= 200) || n >= 20000 ||
		    (n >= 200 && t_now() - t0 > cap))
			break;
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ(wrong, 0);
	return (struct result){ b.batches - a.batches, b.traps - a.traps,
				b.late_traps - a.late_traps, calls };
}

static int child(bool shstk)
{
	const char *mode = shstk ? "shstk" : "control";
	struct result j, c, s;
	size_t nsites = 0;

	/* The static call has an inline CALL site and the workers use it. */
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++)
			if (o->tramps[i].key == &STATIC_CALL_KEY(hs_sc))
				for (size_t k = 0; k < o->tramps[i].nsites; k++)
					nsites += o->tramps[i].sites[k].kind == US_SITE_CALL;
	if (shstk)
		CHECK_EQ(nsites, 0);	/* left on the trampoline */
	else
		CHECK(nsites > 0);

	/* Two CPUs we may run on, if there are. */
	int cpu[2];

	if (t_two_cpus(cpu) < 2)
		SKIP("needs two CPUs: threads must run while int3s are armed");
	cpu_main = cpu[0];
	cpu_workers = cpu[1];
	t_pin(cpu_main);

	j = run_phase('J', 1000, 2);
	c = run_phase('C', 2000, 4);
	s = run_phase('S', 1000, 2);
	printf("%s: J %lu batches %lu traps %lu late | C %lu batches %lu traps "
	       "%lu late | S %lu batches %lu traps %lu late\n", mode,
	       j.batches, j.traps, j.late_traps, c.batches, c.traps,
	       c.late_traps, s.batches, s.traps, s.late_traps);
	CHECK(j.traps > 0);		/* JMPs are emulated in both modes */
	if (shstk) {
		CHECK_EQ(c.traps, 0);	/* a CALL is never emulated */
		CHECK(c.late_traps > 0);/* ... its traps are re-executed */
	} else {
		CHECK(c.traps > 0);	/* the CALL is emulated: C can fail */
	}
	return 0;
}

/* This test again, as a child with USTATIC_FORCE_SHSTK=force. */
static int run_child(const char *force)
{
	char env[32];
	int status;

	snprintf(env, sizeof(env), "USTATIC_FORCE_SHSTK=%s", force);
	status = t_run_self(env, "--child", force, NULL);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "child %s failed (status %#x)\n", env, status);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--child"))
		return child(atoi(argv[2]) != 0);
	if (run_child("1") || run_child("0"))
		return T_EXIT_FAIL;
	return T_EXIT_PASS;
}
#endif
