/* SPDX-License-Identifier: MIT */
/* Truth table of likely/unlikely x defined true/false x enabled/disabled,
 * the kernel's counting rules, arrays, and the bytes at a branch site. */
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_KEY_TRUE(ktrue);
DEFINE_STATIC_KEY_FALSE(kfalse);
DEFINE_STATIC_KEY_ARRAY_FALSE(key_arr, 4);

static __attribute__((noinline)) int lt(void) { return static_branch_likely(&ktrue) ? 1 : 0; }
static __attribute__((noinline)) int ut(void) { return static_branch_unlikely(&ktrue) ? 1 : 0; }
static __attribute__((noinline)) int lf(void) { return static_branch_likely(&kfalse) ? 1 : 0; }
static __attribute__((noinline)) int uf(void) { return static_branch_unlikely(&kfalse) ? 1 : 0; }
static __attribute__((noinline)) int arr(int i)
{
	switch (i) {
	case 0: return static_branch_unlikely(&key_arr[0]);
	case 1: return static_branch_unlikely(&key_arr[1]);
	case 2: return static_branch_likely(&key_arr[2]);
	default: return static_branch_likely(&key_arr[3]);
	}
}

static void expect(int t, int f)
{
	CHECK_EQ(lt(), t);
	CHECK_EQ(ut(), t);
	CHECK_EQ(lf(), f);
	CHECK_EQ(uf(), f);
	CHECK_EQ(static_key_enabled(&ktrue), t);
	CHECK_EQ(static_key_enabled(&kfalse), f);
}

int main(void)
{
	expect(1, 0);
	CHECK_EQ(static_branch_disable(&ktrue), 0);
	CHECK_EQ(static_branch_enable(&kfalse), 0);
	expect(0, 1);
	CHECK_EQ(static_branch_enable(&ktrue), 0);
	CHECK_EQ(static_branch_disable(&kfalse), 0);
	expect(1, 0);
	/* Enabling twice is still one enable; disable undoes it. */
	CHECK_EQ(static_branch_enable(&kfalse), 0);
	CHECK_EQ(static_branch_enable(&kfalse), 0);
	CHECK_EQ(static_key_count(&kfalse.key), 1);
	CHECK_EQ(static_branch_disable(&kfalse), 0);
	expect(1, 0);
	/* Counting: inc twice, dec once -> still on; dec again -> off. */
	CHECK_EQ(static_branch_inc(&kfalse), 0);
	CHECK_EQ(static_branch_inc(&kfalse), 0);
	CHECK_EQ(static_key_count(&kfalse.key), 2);
	expect(1, 1);
	CHECK_EQ(static_branch_dec(&kfalse), 0);
	expect(1, 1);
	CHECK_EQ(static_branch_dec(&kfalse), 0);
	expect(1, 0);
	CHECK_EQ(static_branch_dec(&kfalse), -EINVAL);	/* below zero */
	CHECK_EQ(static_key_count(&kfalse.key), 0);
	/* A true key counts from 1. */
	CHECK_EQ(static_key_count(&ktrue.key), 1);
	CHECK_EQ(static_branch_dec(&ktrue), 0);
	expect(0, 0);
	CHECK_EQ(static_branch_inc(&ktrue), 0);
	expect(1, 0);
	/* Array members are independent keys. */
	for (int i = 0; i < 4; i++)
		CHECK_EQ(arr(i), 0);
	CHECK_EQ(static_branch_enable(&key_arr[1]), 0);
	CHECK_EQ(static_branch_enable(&key_arr[3]), 0);
	CHECK(arr(0) == 0 && arr(1) == 1 && arr(2) == 0 && arr(3) == 1);
	/* Branch sites are patched code (unless this is the generic build). */
	struct ustatic_stats st;
	ustatic_get_stats(&st);
	printf("jump entries %lu, batches %lu\n", st.jump_entries, st.batches);
	if (T_PATCHES_CODE) {
		CHECK(st.jump_entries >= 8);
		CHECK(st.batches >= 10);
	}
	return T_EXIT_PASS;
}
