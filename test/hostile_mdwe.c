/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: memory-deny-write-execute (PR_SET_MDWE).
 *
 * Once PR_MDWE_REFUSE_EXEC_GAIN is set, mprotect() can no longer make a page
 * both writable and executable, so the writer must fall back to pwrite() on
 * /proc/self/mem. Static calls and static keys must keep working (every
 * result is checked, also from a second thread calling concurrently), the
 * write method must become USTATIC_WRITE_PROCMEM, and after every update no
 * mapping of the process may be both writable and executable.
 *
 * Convinced it can fail: `USTATIC_WRITE=mprotect ./build/test/hostile_mdwe`
 * locks the writer to mprotect(RWX); the first update then returns -EACCES
 * and the test fails (checked by hand). Without MDWE (comment the prctl out)
 * the write_method check fails: the method stays USTATIC_WRITE_MPROTECT.
 */
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif

DEFINE_STATIC_CALL(mdwe_call, t_fa);
DEFINE_STATIC_KEY_FALSE(mdwe_key_f);
DEFINE_STATIC_KEY_TRUE(mdwe_key_t);

T_CALLER(call_it, mdwe_call)
T_BRANCH(branch_f, static_branch_unlikely, &mdwe_key_f)
T_BRANCH(branch_t, static_branch_likely, &mdwe_key_t)

static volatile bool stop, running;
static volatile long wrong, calls;

/* Calls concurrently: the result is always one of the targets' values. */
static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		if (!t_fabc_result(call_it(10)))
			wrong++;
		if (branch_f() > 1 || branch_t() > 1)
			wrong++;
		calls++;
		running = true;
	}
	return NULL;
}

int main(void)
{
	struct ustatic_stats st;
	pthread_t th;
	long rounds = test_scale(300);

	t_skip_without_procmem();
	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L)) {
		if (errno == EINVAL)
			SKIP("PR_SET_MDWE not supported by this kernel");
		perror("prctl(PR_SET_MDWE)");
		return T_EXIT_FAIL;
	}
	CHECK_EQ(prctl(PR_GET_MDWE, 0L, 0L, 0L, 0L) & PR_MDWE_REFUSE_EXEC_GAIN,
		 PR_MDWE_REFUSE_EXEC_GAIN);

	/* MDWE really is in force: a page cannot become W+X. */
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0);
	munmap(p, 4096);

	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(branch_f(), 0);
	CHECK_EQ(branch_t(), 1);
	t_check_no_wx("start");

	/* Single-threaded first: the fallback itself. */
	CHECK_EQ(static_call_update(mdwe_call, t_fb), 0);
	CHECK_EQ(call_it(10), 12);
	CHECK(static_call_query(mdwe_call) == t_fb);
	t_check_no_wx("first update");
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);

	CHECK_EQ(static_branch_enable(&mdwe_key_f), 0);
	CHECK_EQ(branch_f(), 1);
	CHECK(static_key_enabled(&mdwe_key_f));
	t_check_no_wx("enable");
	CHECK_EQ(static_branch_disable(&mdwe_key_t), 0);
	CHECK_EQ(branch_t(), 0);
	t_check_no_wx("disable");

	/* Then with a thread calling through the sites being patched. */
	t_thread_start(&th, worker, &running);
	for (long i = 0; i < rounds; i++) {
		int k = (int)(i % 3);
		bool on = i & 1;

		CHECK_EQ(static_call_update(mdwe_call, t_fabc[k]), 0);
		CHECK_EQ(call_it(10), t_fabc_of_10[k]);
		CHECK(static_call_query(mdwe_call) == t_fabc[k]);
		CHECK_EQ(T_BRANCH_SET(&mdwe_key_f, on), 0);
		CHECK_EQ(branch_f(), on);
		CHECK_EQ(T_BRANCH_SET(&mdwe_key_t, !on), 0);
		CHECK_EQ(branch_t(), !on);
		t_check_no_wx("stress");
	}
	stop = true;
	pthread_join(th, NULL);
	t_check_no_wx("end");
	CHECK_EQ(wrong, 0);

	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);
	printf("mdwe: %ld rounds, %ld concurrent calls, %lu batches, %lu traps, "
	       "%lu late traps\n", rounds, calls, st.batches, st.traps,
	       st.late_traps);
	return T_EXIT_PASS;
}
