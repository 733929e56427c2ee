/* SPDX-License-Identifier: MIT */
/*
 * The main program of test/header_visibility.c: it exports a static call
 * named vis_hash too (it is linked with -rdynamic), yet each library keeps
 * its own; and it calls libvis1's call-only vis_cb, which only libvis1
 * updates. Prints "ok" and exits 0 when every check passes.
 */
#include <stdio.h>
#include "vis.h"

static int main_one(int x) { return x + 1000; }
static int main_two(int x) { return x + 2000; }

DEFINE_STATIC_CALL(vis_hash, main_one);
EXPORT_STATIC_CALL(vis_hash);

static int bad;
#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "line %d: %s\n", __LINE__, #cond);	\
		bad++;							\
	}								\
} while (0)

static void expect_hashes(int h1, int h2, int hm)
{
	EXPECT(vis_call_1(0) == h1);
	EXPECT(vis_call_2(0) == h2);
	EXPECT(static_call(vis_hash)(0) == hm);
}

int main(void)
{
	vis_fn *cb = STATIC_CALL_TRAMP_ADDR(vis_cb);

	/* Three keys named vis_hash, three targets. */
	EXPECT(vis_key_1() != vis_key_2());
	EXPECT(vis_key_1() != (void *)&STATIC_CALL_KEY(vis_hash));
	EXPECT(vis_key_2() != (void *)&STATIC_CALL_KEY(vis_hash));
	expect_hashes(11, 21, 1000);
	EXPECT(vis_set_1(1) == 0);
	expect_hashes(12, 21, 1000);
	EXPECT(vis_set_2(1) == 0);
	expect_hashes(12, 22, 1000);
	EXPECT(static_call_update(vis_hash, main_two) == 0);
	expect_hashes(12, 22, 2000);
	EXPECT(vis_set_1(0) == 0);
	expect_hashes(11, 22, 2000);

	/* Called here, updated there. */
	EXPECT(static_call(vis_cb)(5) == 10 && cb(5) == 10);
	EXPECT(vis_cb_set(1) == 0);
	EXPECT(static_call(vis_cb)(5) == 15 && cb(5) == 15);
	EXPECT(static_call_query(vis_cb) != NULL);
	EXPECT(vis_cb_set(0) == 0);
	EXPECT(static_call(vis_cb)(7) == 14);

	if (bad)
		return 1;
	puts("ok");
	return 0;
}
