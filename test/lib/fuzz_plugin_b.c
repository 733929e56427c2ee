/* SPDX-License-Identifier: MIT */
/*
 * A second plugin, the same as fuzz_plugin_a.c but a separate object, so
 * that objects are registered and unregistered in every order.
 */
#include "fuzz_plugin_a.c"
