/* SPDX-License-Identifier: MIT */
/*
 * A plugin that test/fuzz.c loads and unloads while other threads update
 * the executable's static calls and keys: its own copy of every site
 * (lib/fuzz_sites.h), reached through fz_plugin().
 */
#include "fuzz_sites.h"

const struct fz_sites *fz_plugin(void);

const struct fz_sites *fz_plugin(void)
{
	return &fz_sites;
}
