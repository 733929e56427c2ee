/* SPDX-License-Identifier: MIT */
/* Shared between the multi-object test's executable, library and plugin. */
#include <ustatic.h>

int mo_base(int x);
DECLARE_STATIC_CALL(mo_call, mo_base);
DECLARE_STATIC_KEY_FALSE(mo_key);
int mo_call_from_lib(int x);
int mo_branch_from_lib(void);
