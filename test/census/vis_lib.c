/* SPDX-License-Identifier: MIT */
/*
 * A library of test/header_visibility.c, built twice (VIS_ID 1 and 2):
 * both define a static call named vis_hash, each private to its library,
 * so neither meets the other's, nor the main program's exported one.
 */
#include "vis.h"

#define VIS_PASTE(a, b)		a##b
#define VIS_NAME(a, b)		VIS_PASTE(a, b)

static int lib_one(int x) { return x + 10 * VIS_ID + 1; }
static int lib_two(int x) { return x + 10 * VIS_ID + 2; }

DEFINE_STATIC_CALL_HIDDEN(vis_hash, lib_one);

int VIS_NAME(vis_call_, VIS_ID)(int x)
{
	return static_call(vis_hash)(x);
}

int VIS_NAME(vis_set_, VIS_ID)(int two)
{
	return static_call_update(vis_hash, two ? lib_two : lib_one);
}

void *VIS_NAME(vis_key_, VIS_ID)(void)
{
	return &STATIC_CALL_KEY(vis_hash);
}

#if VIS_ID == 1
static int cb_double(int x) { return x * 2; }
static int cb_triple(int x) { return x * 3; }

DEFINE_STATIC_CALL_CALLONLY(vis_cb, cb_double);
EXPORT_STATIC_CALL_TRAMP(vis_cb);

int vis_cb_set(int triple)
{
	return static_call_update(vis_cb, triple ? cb_triple : cb_double);
}
#endif
