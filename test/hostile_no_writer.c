/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: code cannot be written at all (USTATIC_WRITE=none, as
 * under a kernel booted with proc_mem.force_override=never plus a W^X
 * policy). The library constructor reads the variable before main(), so the
 * test re-executes itself with it set.
 *
 * Then, from start-up on, every trampoline stays in its indirect form
 * (through key->func) and:
 *  - static_call_update() returns 0 and calls reach the new target (also
 *    NULL and RET0, also from a second thread), because updating the key
 *    alone is enough;
 *  - static key changes return a negative errno, the key keeps its value
 *    and its branches their behaviour;
 *  - a transaction is all-or-nothing: one holding a key change fails and
 *    its static-call updates are rolled back; one holding only static-call
 *    updates succeeds like static_call_update() does;
 *  - no byte of the executable's code ever changes.
 *
 * Convinced it can fail: `./build/test/hostile_no_writer --child` (the child
 * body without USTATIC_WRITE=none) fails at the write-method check. Against
 * the library as first committed (7dd42bc) it failed twice over: the first
 * update marked the trampolines "direct" although nothing had been written,
 * so the second update of a key returned -EILSEQ (the check_indirect()
 * after the first update caught it), and a transaction of static-call
 * updates only returned -EPERM. Both were fixed in 41dd430.
 *
 * White-box: reads the registry (src/registry.h) to see that every
 * trampoline stayed in its indirect form, which no public call tells.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>
#include <ustatic.h>

#include "registry.h"
#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(nw_call, t_fa);
DEFINE_STATIC_CALL_NULL(nw_void, t_bump);
DEFINE_STATIC_CALL_RET0(nw_ret0, t_ret7);
DEFINE_STATIC_KEY_FALSE(nw_kf);
DEFINE_STATIC_KEY_TRUE(nw_kt);

T_CALLER(call_it, nw_call)
T_COND_CALLER(call_void, nw_void)
T_RET0_CALLER(call_ret0, nw_ret0)
T_BRANCH(branch_f, static_branch_unlikely, &nw_kf)
T_BRANCH(branch_t, static_branch_likely, &nw_kt)

/* The executable's code, copied so that any change shows. */
static struct t_text code;

/* Every trampoline of key is in its indirect form; returns its sites. */
static size_t check_indirect(struct static_call_key *key)
{
	size_t found = 0, sites = 0;

	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++) {
			struct us_tramp *t = &o->tramps[i];

			if (t->key != key)
				continue;
			found++;
			sites += t->nsites;
			CHECK(t->applied == NULL);
#if US_ARCH_USES_GUARDS
			CHECK_EQ(t->addr[0], 0x3d);	/* cmp $imm,%eax */
#endif
		}
	CHECK(found > 0);
	return sites;
}

static volatile bool stop, running;
static volatile long wrong;

static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		if (!t_fabc_result(call_it(10)))
			wrong++;
		if (branch_f() != 0 || branch_t() != 1)
			wrong++;
		running = true;
	}
	return NULL;
}

static int child(void)
{
	struct ustatic_stats st;
	pthread_t th;
	long rounds = test_scale(3000);

	if (!T_PATCHES_CODE)
		SKIP("no code is written in this build");
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_NONE);
	t_text_snapshot(&code);

	/* Registration could not promote anything. */
	CHECK(check_indirect(&STATIC_CALL_KEY(nw_call)) > 0);	/* inline site */
	check_indirect(&STATIC_CALL_KEY(nw_void));
	check_indirect(&STATIC_CALL_KEY(nw_ret0));
	CHECK_EQ(st.batches, 0);

	/* Static calls: the key alone decides. */
	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(static_call_update(nw_call, t_fb), 0);
	CHECK_EQ(call_it(10), 12);
	CHECK(static_call_query(nw_call) == t_fb);
	/* Nothing was written, so the registry must still say "indirect"
	 * (else the next update expects a `jmp` that is not there). */
	check_indirect(&STATIC_CALL_KEY(nw_call));
	CHECK_EQ(static_call_update(nw_call, t_fc), 0);
	CHECK_EQ(call_it(10), 30);

	call_void(5);
	CHECK_EQ(t_hits, 0);
	CHECK_EQ(static_call_update(nw_void, t_bump), 0);
	call_void(5);
	CHECK_EQ(t_hits, 5);
	CHECK_EQ(static_call_update(nw_void, NULL), 0);
	call_void(5);
	CHECK_EQ(t_hits, 5);
	CHECK(static_call_query(nw_void) == NULL);

	CHECK_EQ(call_ret0(), 0);
	CHECK_EQ(static_call_update(nw_ret0, t_ret7), 0);
	CHECK_EQ(call_ret0(), 7);
	CHECK_EQ(static_call_update(nw_ret0, (void *)__static_call_return0), 0);
	CHECK_EQ(call_ret0(), 0);
	t_text_check(&code, "static calls", NULL);

	/* Static keys: refused, nothing changes. */
	int err = static_branch_enable(&nw_kf);
	CHECK(err < 0);
	printf("static_branch_enable without a writer: %d (%s)\n", err,
	       strerror(-err));
	CHECK(!static_key_enabled(&nw_kf));
	CHECK_EQ(static_key_count(&nw_kf.key), 0);
	CHECK_EQ(branch_f(), 0);
	CHECK(static_branch_inc(&nw_kf) < 0);
	CHECK_EQ(static_key_count(&nw_kf.key), 0);
	CHECK_EQ(branch_f(), 0);
	CHECK(static_branch_disable(&nw_kt) < 0);
	CHECK(static_key_enabled(&nw_kt));
	CHECK_EQ(branch_t(), 1);
	CHECK(static_branch_dec(&nw_kt) < 0);
	CHECK_EQ(static_key_count(&nw_kt.key), 1);
	CHECK_EQ(branch_t(), 1);
	/* Enabling an enabled key, disabling a disabled one: nothing to do. */
	CHECK_EQ(static_branch_enable(&nw_kt), 0);
	CHECK_EQ(static_branch_disable(&nw_kf), 0);
	t_text_check(&code, "static keys", NULL);

	/* Concurrent callers while the key is retargeted. */
	t_thread_start(&th, worker, &running);
	for (long i = 0; i < rounds; i++) {
		int k = (int)(i % 3);

		CHECK_EQ(static_call_update(nw_call, t_fabc[k]), 0);
		CHECK_EQ(call_it(10), t_fabc_of_10[k]);
		CHECK(static_call_query(nw_call) == t_fabc[k]);
		if (i % 500 == 0)
			CHECK(static_branch_enable(&nw_kf) < 0);
	}
	stop = true;
	pthread_join(th, NULL);
	CHECK_EQ(wrong, 0);
	t_text_check(&code, "stress", NULL);

	/* A transaction with a key change fails as a whole. */
	CHECK_EQ(static_call_update(nw_call, t_fa), 0);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(nw_call, t_fc), 0);
	CHECK_EQ(static_branch_enable(&nw_kf), 0);	/* only queued */
	CHECK(ustatic_batch_commit() < 0);
	CHECK(static_call_query(nw_call) == t_fa);
	CHECK_EQ(call_it(10), 11);
	CHECK(!static_key_enabled(&nw_kf));
	CHECK_EQ(branch_f(), 0);
	t_text_check(&code, "failed transaction", NULL);

	/* One with static-call updates only needs no code either. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(nw_call, t_fb), 0);
	CHECK_EQ(static_call_update(nw_ret0, t_ret7), 0);
	err = ustatic_batch_commit();
	if (err) {
		fprintf(stderr, "BUG: a transaction of static-call updates "
			"fails without a writer (%d) although "
			"static_call_update() alone succeeds\n", err);
		return T_EXIT_FAIL;
	}
	CHECK(static_call_query(nw_call) == t_fb);
	CHECK_EQ(call_it(10), 12);
	CHECK_EQ(call_ret0(), 7);
	/* ... and leaves the trampolines known as indirect: updates go on. */
	check_indirect(&STATIC_CALL_KEY(nw_call));
	CHECK_EQ(static_call_update(nw_call, t_fa), 0);
	CHECK_EQ(call_it(10), 11);
	t_text_check(&code, "transaction", NULL);

	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.batches, 0);
	CHECK(st.refused > 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_NONE);
	printf("no writer: %ld updates through indirect trampolines, "
	       "%lu batches refused, code unchanged\n", rounds, st.refused);
	return T_EXIT_PASS;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (argv[1] && !strcmp(argv[1], "--child"))
		return child();
	if (getenv("USTATIC_WRITE") && !strcmp(getenv("USTATIC_WRITE"), "none"))
		return child();	/* already started that way */
	/* The constructor already chose a writer: start again with none. */
	setenv("USTATIC_WRITE", "none", 1);
	execl("/proc/self/exe", argv[0], "--child", (char *)NULL);
	if (errno == ENOEXEC)	/* run by an emulator without binfmt_misc */
		SKIP("cannot re-execute myself here: %s", strerror(errno));
	perror("exec /proc/self/exe");
	return T_EXIT_FAIL;
}
