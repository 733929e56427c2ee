/* SPDX-License-Identifier: MIT */
/*
 * A change that cannot even be recorded in an open batch (here a target
 * outside executable memory: -EINVAL at once) makes the batch's commit fail
 * with that error and apply none of its changes: all or nothing. Before,
 * the commit returned 0 and applied the rest. When several recorded
 * operations fail, the commit reports the first in recorded order (before:
 * the first of the first key). Black box.
 */
#include <ustatic.h>

#include "test.h"

static int g1(int x) { return x + 1; }
static int g2(int x) { return x + 2; }

DEFINE_STATIC_CALL(tr_sc, g1);
DEFINE_STATIC_CALL(tr_other, g1);
DEFINE_STATIC_KEY_FALSE(tr_k);
DEFINE_STATIC_KEY_FALSE(tr_b);

static int data_word;

int main(void)
{
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(tr_sc, g2), 0);
	CHECK_EQ(static_branch_enable(&tr_k), 0);
	CHECK_EQ(static_call_update(tr_other, (int (*)(int))(void *)&data_word),
		 -EINVAL);
	CHECK_EQ(ustatic_batch_commit(), -EINVAL);
	CHECK(static_call_query(tr_sc) == g1);
	CHECK(static_call_query(tr_other) == g1);
	CHECK(!static_key_enabled(&tr_k));
	CHECK_EQ(static_call(tr_sc)(1), 2);
	/* Several recorded operations fail: the commit reports the first in
	 * the order they were recorded (a disable of a count of 2 before a
	 * dec of 0 on another key), and applies nothing. */
	CHECK_EQ(static_branch_inc(&tr_b), 0);
	CHECK_EQ(static_branch_inc(&tr_b), 0);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_branch_inc(&tr_k), 0);
	CHECK_EQ(static_branch_disable(&tr_b), 0);
	CHECK_EQ(static_branch_dec(&tr_k), 0);
	CHECK_EQ(static_branch_dec(&tr_k), 0);
	CHECK_EQ(ustatic_batch_commit(), -EBUSY);
	CHECK_EQ(static_key_count(&tr_k.key), 0);
	CHECK_EQ(static_key_count(&tr_b.key), 2);
	/* The next batch starts clean. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(tr_sc, g2), 0);
	CHECK_EQ(ustatic_batch_commit(), 0);
	CHECK_EQ(static_call(tr_sc)(1), 3);
	return 0;
}
