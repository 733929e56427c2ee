/* SPDX-License-Identifier: MIT */
/* A dlopen'd plugin: calls the key and provides a target. */
#include "mo.h"

int mo_plugin_target(int x) { return x * 100; }
int mo_call_from_plugin(int x) { return static_call(mo_call)(x); }
int mo_branch_from_plugin(void) { return static_branch_unlikely(&mo_key) ? 1 : 0; }
