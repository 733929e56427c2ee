/* SPDX-License-Identifier: MIT */
/*
 * What other objects may not do with a library's static calls, each a
 * build that test/header_visibility.c expects to fail (VIS_BAD 1 to 5),
 * and what they may (VIS_BAD 0, which must build, run and print "ok").
 */
#include <stdio.h>
#include "vis.h"

static __attribute__((unused)) int twice(int x) { return x * 2; }

#if VIS_BAD == 1
/* libvis1's vis_cb is call-only: updating it from here must not link. */
int main(void)
{
	return static_call_update(vis_cb, twice);
}
#elif VIS_BAD == 2
/* The libraries' vis_hash is hidden: calling it from here must not link. */
DECLARE_STATIC_CALL(vis_hash, vis_fn);

int main(void)
{
	return static_call(vis_hash)(0);
}
#elif VIS_BAD == 3
/* A call-only static call is not exported for updates. */
DEFINE_STATIC_CALL_CALLONLY(vis_mine, twice);
EXPORT_STATIC_CALL(vis_mine);
int main(void) { return 0; }
#elif VIS_BAD == 4
/* One that everyone may update is more than the kernel's TRAMP export. */
DEFINE_STATIC_CALL(vis_mine, twice);
EXPORT_STATIC_CALL_TRAMP(vis_mine);
int main(void) { return 0; }
#elif VIS_BAD == 5
/* A hidden one is not exported at all. */
DEFINE_STATIC_CALL_HIDDEN(vis_mine, twice);
EXPORT_STATIC_CALL_GPL(vis_mine);
int main(void) { return 0; }
#else
DEFINE_STATIC_CALL_CALLONLY(vis_mine, twice);
EXPORT_STATIC_CALL_TRAMP_GPL(vis_mine);

int main(void)
{
	if (static_call(vis_cb)(1) + static_call(vis_mine)(1) != 4)
		return 1;
	puts("ok");
	return 0;
}
#endif
