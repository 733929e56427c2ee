/* SPDX-License-Identifier: MIT */
/* The library that defines the static call and the key. */
#include "mo.h"

int mo_base(int x) { return x * 10; }
DEFINE_STATIC_CALL(mo_call, mo_base);
DEFINE_STATIC_KEY_FALSE(mo_key);

int mo_call_from_lib(int x) { return static_call(mo_call)(x); }
int mo_branch_from_lib(void) { return static_branch_unlikely(&mo_key) ? 1 : 0; }
