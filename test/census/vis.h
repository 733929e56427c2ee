/* SPDX-License-Identifier: MIT */
/*
 * What test/header_visibility.c's libraries (vis_lib.c, built as
 * libvis1.so and libvis2.so) offer its main programs (vis_main.c,
 * vis_bad.c).
 */
#ifndef VIS_H
#define VIS_H

#include <ustatic.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int vis_fn(int);

/* Each library's private vis_hash: call it, retarget it, its key. */
int vis_call_1(int x), vis_call_2(int x);
int vis_set_1(int two), vis_set_2(int two);
void *vis_key_1(void), *vis_key_2(void);

/*
 * libvis1's vis_cb: every object may call it, only libvis1 updates it
 * (vis_cb_set), to x * 2 or x * 3. Not declared in libvis2, which does
 * not link libvis1: a declaration makes each object that sees it refer to
 * the key (its trampoline does), whether it calls the static call or not.
 */
#if !defined(VIS_ID) || VIS_ID == 1
DECLARE_STATIC_CALL(vis_cb, vis_fn);
#endif
int vis_cb_set(int triple);

#ifdef __cplusplus
}
#endif

#endif
