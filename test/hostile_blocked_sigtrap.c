/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: a thread that blocks every signal (SIGTRAP included)
 * runs static branches and static calls while the main thread flips the
 * keys and retargets the calls thousands of times.
 *
 * An int3 hit by a thread that blocks SIGTRAP kills the whole process (the
 * kernel forces SIG_DFL). The engine must see the blocked thread
 * (us_trap_usable(), from /proc/self/task/TID/status) and then:
 *  - patch static keys and trampolines with the trap-free guard
 *    (`cmp $imm,%eax` on the first byte), so they keep working
 *    (stats.trap_free_batches grows, stats.traps does not);
 *  - patch an inline call site only into the NOP5 (a NULL target) or back
 *    onto its trampoline from there, never straight at a function, which
 *    it could not leave without int3: call -> call updates go through the
 *    trampoline and succeed;
 *  - refuse, with -EDEADLK and nothing changed, an update that would have
 *    to move a site that int3 batches pointed straight at a function
 *    before the thread started blocking SIGTRAP; an update to the target
 *    it already has succeeds (nothing to write).
 * A second phase does the same with the library's SIGTRAP handler replaced
 * by the application, then puts it back: int3 batches work again.
 *
 * Convinced it can fail: with a private copy of the library whose
 * us_trap_usable() (src/trap.c) ignores the threads' signal masks, the
 * test fails every time: the process dies of SIGTRAP ("Trace/breakpoint
 * trap", status 133) or the first -EDEADLK check fails (checked by hand);
 * with HOSTILE_NO_BLOCK=1 (the worker blocks nothing) the -EDEADLK check
 * fails.
 *
 * White-box: counts the inline sites in the registry (src/registry.h) and
 * compares their bytes before and after a refused update.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <ustatic.h>

#include "registry.h"
#include "helpers.h"
#include "test.h"

#if !defined(__x86_64__) || !US_ARCH_USES_GUARDS
int main(void)
{
	SKIP("int3 guards (x86-64 builds) only: nothing to block elsewhere");
}
#else

/* Per-thread hit counters: the main thread sees exactly its own calls. */
static __thread unsigned long cnt_a, cnt_b;
static __attribute__((noinline)) void add_a(void) { cnt_a++; }
static __attribute__((noinline)) void add_b(void) { cnt_b++; }

/* Called only through its trampoline: no inline site. */
DEFINE_STATIC_CALL(bs_tramp, t_fa);
/* Called from inline sites. */
DEFINE_STATIC_CALL(bs_inline, t_fa);
DEFINE_STATIC_CALL(bs_cond, add_a);
DEFINE_STATIC_KEY_FALSE(bs_kf);
DEFINE_STATIC_KEY_TRUE(bs_kt);

static int (*volatile tramp_ptr)(int) = &STATIC_CALL_TRAMP(bs_tramp);

/* A `call` site, and a tail site (`jmp` to the trampoline). */
T_CALL_SITE(call_inline, bs_inline)
T_CALLER(call_inline_tail, bs_inline)

static __attribute__((noinline)) void call_cond(void)
{
	static_call_cond(bs_cond)();
	__asm__ __volatile__("" ::: "memory");
}

T_BRANCH(branch_f, static_branch_unlikely, &bs_kf)
T_BRANCH(branch_t, static_branch_likely, &bs_kt)

/* Trampolines and inline sites of key, from the registry. */
static void sites_of(struct static_call_key *key, size_t *ntramps,
		     size_t *ncall_sites, size_t *ntail_sites)
{
	*ntramps = *ncall_sites = *ntail_sites = 0;
	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++) {
			if (o->tramps[i].key != key)
				continue;
			(*ntramps)++;
			for (size_t s = 0; s < o->tramps[i].nsites; s++)
				*ncall_sites += o->tramps[i].sites[s].kind == US_SITE_CALL,
				*ntail_sites += o->tramps[i].sites[s].kind == US_SITE_TAIL;
		}
}

/* The code bytes of every trampoline and site of key. */
static size_t snapshot(struct static_call_key *key, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++) {
			struct us_tramp *t = &o->tramps[i];

			if (t->key != key)
				continue;
			CHECK(n + 5 <= cap);
			memcpy(buf + n, t->addr, 5);
			n += 5;
			for (size_t s = 0; s < t->nsites; s++) {
				CHECK(n + 6 <= cap);
				memcpy(buf + n, t->sites[s].addr, 6);
				n += 6;
			}
		}
	return n;
}

static volatile bool stop, running;
static volatile long wrong, loops;

static void *worker(void *arg)
{
	sigset_t all;

	(void)arg;
	if (!getenv("HOSTILE_NO_BLOCK")) {
		sigfillset(&all);
		CHECK_EQ(pthread_sigmask(SIG_BLOCK, &all, NULL), 0);
	}
	while (!stop) {
		if (!t_fabc_result(tramp_ptr(10)))
			wrong++;
		if (call_inline(10) != 11 || call_inline_tail(10) != 11)
			wrong++;	/* never retargeted */
		call_cond();
		(void)branch_f();
		(void)branch_t();
		loops++;
		running = true;
	}
	return NULL;
}

/* The inline sites cannot go from `call t_fa` to `call t_fb` (nor the tail
 * site from `jmp t_fa` to `jmp t_fb`) without an int3. */
static void check_inline_refused(void)
{
	uint8_t before[256], after[256];
	size_t n = snapshot(&STATIC_CALL_KEY(bs_inline), before, sizeof(before));

	CHECK_EQ(static_call_update(bs_inline, t_fb), -EDEADLK);
	CHECK(static_call_query(bs_inline) == t_fa);
	/* Its current target needs no write: done, whatever the masks. */
	CHECK_EQ(static_call_update(bs_inline, t_fa), 0);
	CHECK_EQ(call_inline(10), 11);
	CHECK_EQ(call_inline_tail(10), 11);
	CHECK_EQ(snapshot(&STATIC_CALL_KEY(bs_inline), after, sizeof(after)), n);
	CHECK(!memcmp(before, after, n));
}

/* Both inline sites go to t_fb and back (int3 batches). */
static void check_inline_retargets(void)
{
	CHECK_EQ(static_call_update(bs_inline, t_fb), 0);
	CHECK_EQ(call_inline(10), 12);
	CHECK_EQ(call_inline_tail(10), 12);
	CHECK_EQ(static_call_update(bs_inline, t_fa), 0);
	CHECK_EQ(call_inline(10), 11);
	CHECK_EQ(call_inline_tail(10), 11);
}

/* Keeps the process threaded, blocking nothing. */
static volatile bool idle_stop;
static void *idle(void *arg)
{
	while (!idle_stop)
		usleep(1000);
	return arg;
}

int main(void)
{
	struct ustatic_stats st0, st;
	size_t nt, ns, ntail;
	pthread_t th, idler;
	long rounds = test_scale(3000);
	void (*const conds[4])(void) = { NULL, add_b, NULL, add_a };

	CHECK_EQ(ustatic_get_stats(&st0), 0);
	if (st0.sync_method != USTATIC_SYNC_MEMBARRIER)
		SKIP("sync method %d: a thread blocking every signal also "
		     "blocks the sync signal", st0.sync_method);

	sites_of(&STATIC_CALL_KEY(bs_tramp), &nt, &ns, &ntail);
	CHECK(nt > 0 && ns == 0 && ntail == 0);
	sites_of(&STATIC_CALL_KEY(bs_inline), &nt, &ns, &ntail);
	CHECK(nt > 0 && ns > 0 && ntail > 0);
	sites_of(&STATIC_CALL_KEY(bs_cond), &nt, &ns, &ntail);
	CHECK(nt > 0 && ns > 0);

	/* A thread that blocks nothing, alive throughout: the process is
	 * threaded, so the batches below place int3 (and install the
	 * library's SIGTRAP handler, which phase 2 replaces) as in any
	 * threaded program, where they would otherwise write whole
	 * instructions with no handler. (A thread that ends at once would
	 * do on glibc, whose flag stays "threaded", not on musl.) */
	CHECK_EQ(pthread_create(&idler, NULL, idle, NULL), 0);

	/* Before the hostile thread exists, int3 batches work. */
	check_inline_retargets();

	t_thread_start(&th, worker, &running);
	CHECK_EQ(ustatic_get_stats(&st0), 0);

	/* Up to `rounds` rounds (4 updates each), at most ~8 s of them:
	 * every batch re-checks every thread's signal mask. */
	double t0 = t_now();
	long i;

	for (i = 0; i < rounds && (i < 100 || t_now() - t0 < 8); i++) {
		int k = (int)(i % 3);
		bool on = i & 1;

		CHECK_EQ(T_BRANCH_SET(&bs_kf, on), 0);
		CHECK_EQ(branch_f(), on);
		CHECK_EQ(T_BRANCH_SET(&bs_kt, !on), 0);
		CHECK_EQ(branch_t(), !on);
		CHECK_EQ(static_call_update(bs_tramp, t_fabc[k]), 0);
		CHECK_EQ(tramp_ptr(10), t_fabc_of_10[k]);
		CHECK(static_call_query(bs_tramp) == t_fabc[k]);

		/* call add_a -> NOP5 -> call add_b -> NOP5 -> ...: each step
		 * has the NOP5 on one side, so it has a trap-free guard. */
		void (*c)(void) = conds[i % 4];
		unsigned long a = cnt_a, b = cnt_b;

		CHECK_EQ(static_call_update(bs_cond, c), 0);
		CHECK(static_call_query(bs_cond) == c);
		call_cond();
		CHECK_EQ(cnt_a - a, c == add_a);
		CHECK_EQ(cnt_b - b, c == add_b);

		if (i % 100 == 0)
			check_inline_refused();
	}
	/* Without int3 a site is never pointed straight at a function (it
	 * could not leave that state): call -> call works, through the
	 * trampoline. */
	CHECK_EQ(static_call_update(bs_cond, add_a), 0);
	CHECK_EQ(static_call_update(bs_cond, add_b), 0);
	CHECK(static_call_query(bs_cond) == add_b);
	{
		unsigned long a = cnt_a, b = cnt_b;

		call_cond();
		CHECK_EQ(cnt_a - a, 0);
		CHECK_EQ(cnt_b - b, 1);
	}
	check_inline_refused();

	CHECK_EQ(ustatic_get_stats(&st), 0);
	stop = true;
	pthread_join(th, NULL);
	CHECK_EQ(wrong, 0);
	if (!getenv("HOSTILE_NO_BLOCK"))
		CHECK_EQ(st.traps, st0.traps);	/* no int3 ever placed */
	CHECK(st.trap_free_batches - st0.trap_free_batches >= (unsigned long)i);
	printf("blocked SIGTRAP: %ld rounds in %.1f s, %ld worker loops, %lu "
	       "trap-free batches, %lu refused\n", i, t_now() - t0, loops,
	       st.trap_free_batches - st0.trap_free_batches,
	       st.refused - st0.refused);

	/* Phase 2: the application replaces our SIGTRAP handler. */
	struct sigaction mine = { .sa_handler = SIG_DFL }, lib;

	CHECK_EQ(sigaction(SIGTRAP, &mine, &lib), 0);
	CHECK_EQ(static_branch_enable(&bs_kf), 0);
	CHECK_EQ(branch_f(), 1);
	CHECK_EQ(static_call_update(bs_tramp, t_fc), 0);
	CHECK_EQ(tramp_ptr(10), 30);
	check_inline_refused();
	CHECK_EQ(sigaction(SIGTRAP, &lib, NULL), 0);
	/* Handler back, no blocking thread: int3 batches again. */
	check_inline_retargets();
	idle_stop = true;
	CHECK_EQ(pthread_join(idler, NULL), 0);
	return T_EXIT_PASS;
}
#endif
