/* SPDX-License-Identifier: MIT */
/*
 * A thread cancelled (deferred) while it loops over updates, key flips or
 * commits never leaves the library's locks held: cancellation is held off
 * inside every call and acted upon when it returns. After each of 20
 * cancellations the main thread updates, forks (the child updates too)
 * and flips a key: before the fix the first of these hung for ever on a
 * lock the cancelled thread took with it. A watchdog bounds the test.
 * Found by the adversarial review (h_t18). Black box.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int g1(int x) { return x + 1; }
static int g2(int x) { return x + 2; }

DEFINE_STATIC_CALL(ci_sc, g1);
DEFINE_STATIC_KEY_FALSE(ci_k);

static const char *volatile stage = "start";

static void *looper(void *arg)
{
	long m = (long)arg;

	for (long i = 0;; i++) {
		if (m == 0) {
			static_call_update(ci_sc, i & 1 ? g1 : g2);
		} else if (m == 1) {
			static_branch_enable(&ci_k);
			static_branch_disable(&ci_k);
		} else {
			ustatic_batch_begin();
			static_call_update(ci_sc, i & 1 ? g1 : g2);
			static_branch_inc(&ci_k);
			static_branch_dec(&ci_k);
			ustatic_batch_commit();
		}
	}
	return NULL;
}

static void *watchdog(void *arg)
{
	(void)arg;
	sleep(30);
	fprintf(stderr, "hung at '%s' after cancelling a thread\n", stage);
	_exit(T_EXIT_FAIL);
}

int main(void)
{
	pthread_t w;

	CHECK_EQ(pthread_create(&w, NULL, watchdog, NULL), 0);
	for (int r = 0; r < 20; r++) {
		pthread_t t;
		pid_t pid;

		stage = "cancel";
		CHECK_EQ(pthread_create(&t, NULL, looper, (void *)(long)(r % 3)), 0);
		usleep(1000 + r * 300);
		CHECK_EQ(pthread_cancel(t), 0);
		CHECK_EQ(pthread_join(t, NULL), 0);
		stage = "update";
		CHECK_EQ(static_call_update(ci_sc, g2), 0);
		CHECK_EQ(static_call_update(ci_sc, g1), 0);
		stage = "key";
		CHECK_EQ(static_branch_enable(&ci_k), 0);
		CHECK_EQ(static_branch_disable(&ci_k), 0);
		stage = "fork";
		fflush(stdout);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			_exit(static_call_update(ci_sc, g2) ? 1 : 0);
		CHECK_EQ(t_wait(pid), 0);
	}
	printf("20 cancellations inside updates, key flips and commits\n");
	return 0;
}
