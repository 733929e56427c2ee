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
 *   S. retargets a real static call whose callers use its inline call site
 *      1000 times (or 2 s): every result is correct; shstk: no emulation either.
 * Every result of every call is checked against the targets that were
 * valid while it ran.
 */
#include <ustatic.h>
#include "engine.h"
#include "registry.h"
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__) || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("x86-64 int3 engine only (CALL emulation)");
}
#else

/* Hand-made code in our own .text (rel32 reaches everything):
 *   hs_jmp:  jmp rel32 -> hs_t<k>
 *   hs_call: sub $8,%rsp; call rel32 -> hs_t<k>; add $8,%rsp; ret
 *   hs_t<k>: return k */
__asm__(".pushsection .text\n"
	".balign 16\nhs_jmp:\n.byte 0xe9\n.long hs_t0 - . - 4\nint3\n"
	".balign 16\nhs_call:\nsubq $8,%rsp\n"
	"hs_call_site:\n.byte 0xe8\n.long hs_t0 - . - 4\naddq $8,%rsp\nret\n"
	".balign 16\nhs_t0:\nmovl $0,%eax\nret\n"
	".balign 16\nhs_t1:\nmovl $1,%eax\nret\n"
	".balign 16\nhs_t2:\nmovl $2,%eax\nret\n"
	".balign 16\nhs_t3:\nmovl $3,%eax\nret\n"
	".popsection\n");
int hs_jmp(void) __asm__("hs_jmp");
int hs_call(void) __asm__("hs_call");
extern uint8_t hs_call_site[] __asm__("hs_call_site");
int hs_t0(void) __asm__("hs_t0");
int hs_t1(void) __asm__("hs_t1");
int hs_t2(void) __asm__("hs_t2");
int hs_t3(void) __asm__("hs_t3");
static int (*const hs_targets[4])(void) = { hs_t0, hs_t1, hs_t2, hs_t3 };

static __attribute__((noinline)) int g0(void) { return 0; }
static __attribute__((noinline)) int g1(void) { return 1; }
static __attribute__((noinline)) int g2(void) { return 2; }
static __attribute__((noinline)) int g3(void) { return 3; }
static int (*const g_targets[4])(void) = { g0, g1, g2, g3 };

DEFINE_STATIC_CALL(hs_sc, g0);

static __attribute__((noinline)) int call_sc(void)
{
	int r = static_call(hs_sc)();

	__asm__ __volatile__("" : "+r"(r));	/* a `call` site, not a tail */
	return r;
}

#define WORKERS 2

/* Target of sequence number s is s % 4. A call that started after done_seq
 * was d0 and ended before pending_seq passed p1 may return d0..p1. */
static unsigned long done_seq, pending_seq;
static int phase;			/* 'J', 'C' or 'S' */
static bool stop;
static unsigned long wrong, calls, running;

/* Workers on one CPU, the patching thread on another: the workers then
 * run while int3s are armed, at every batch. */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK_EQ(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);
}

static int cpu_main = -1, cpu_workers = -1;

static void *worker(void *arg)
{
	unsigned long n = 0, bad = 0;

	(void)arg;
	if (cpu_workers >= 0)
		pin(cpu_workers);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int r = phase == 'J' ? hs_jmp() : phase == 'C' ? hs_call() : call_sc();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		bad += !test_in_window(r, d0, p1);
		if (++n == 1000)
			__atomic_fetch_add(&running, 1, __ATOMIC_RELEASE);
	}
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	__atomic_fetch_add(&calls, n, __ATOMIC_RELAXED);
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void encode(uint8_t out[5], uint8_t op, const void *at, const void *to)
{
	int32_t d = (int32_t)((intptr_t)to - ((intptr_t)at + 5));

	out[0] = op;
	memcpy(out + 1, &d, 4);
}

static int cur_target[128];		/* per phase: index in *_targets */

/* One retarget of phase p to sequence number s. */
static void retarget(int p, unsigned long s)
{
	__atomic_store_n(&pending_seq, s, __ATOMIC_RELEASE);
	if (p == 'S') {
		CHECK_EQ(static_call_update(hs_sc, g_targets[s % 4]), 0);
		CHECK_EQ(call_sc(), (int)(s % 4));
	} else {
		uint8_t *at = p == 'J' ? (uint8_t *)hs_jmp : hs_call_site;
		uint8_t op = p == 'J' ? 0xe9 : 0xe8;
		struct us_patch pt = { .addr = at, .len = 5 };

		encode(pt.old, op, at, hs_targets[cur_target[p]]);
		encode(pt.new, op, at, hs_targets[s % 4]);
		CHECK_EQ(us_engine_apply(&pt, 1), 0);
		CHECK_EQ(p == 'J' ? hs_jmp() : hs_call(), (int)(s % 4));
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
	t0 = now();
	for (;;) {
		retarget(p, ++s);
		CHECK_EQ(ustatic_get_stats(&b), 0);
		n++;
		if ((n >= min && b.traps + b.late_traps - a.traps -
		     a.late_traps >= 200) || n >= 20000 ||
		    (n >= 200 && now() - t0 > cap))
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
	CHECK(nsites > 0);

	/* Two CPUs we may run on, if there are. */
	cpu_set_t set;

	CHECK_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set)) {
			if (cpu_main < 0)
				cpu_main = i;
			else if (cpu_workers < 0)
				cpu_workers = i;
		}
	if (cpu_workers < 0)
		SKIP("needs two CPUs: threads must run while int3s are armed");
	pin(cpu_main);

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
		CHECK_EQ(s.traps, 0);
	} else {
		CHECK(c.traps > 0);	/* the CALL is emulated: C can fail */
	}
	return 0;
}

static int run_child(char *self, const char *force)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("USTATIC_FORCE_SHSTK", force, 1);
		execl("/proc/self/exe", self, "--child", force, (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "child USTATIC_FORCE_SHSTK=%s failed (status %#x)\n",
			force, status);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--child"))
		return child(atoi(argv[2]) != 0);
	fflush(stdout);
	if (run_child(argv[0], "1") || run_child(argv[0], "0"))
		return 1;
	return 0;
}
#endif
