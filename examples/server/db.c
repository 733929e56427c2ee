/* SPDX-License-Identifier: MIT */
/*
 * The example server's storage side: a debug site, a static call that
 * picks the backend and a static key that bypasses the cache, both
 * listed by name by `ustatic-ctl PID keys`.
 */
#include <string.h>
#include <ustatic.h>

#include "server.h"

static const char *const names[] = { "Ada", "Brian", "Dennis", "Ken", "Linus" };

const char *db_memory(const char *key);
const char *db_memory(const char *key)
{
	return names[(key[strlen(key) - 1] - '0') % 5];
}

DEFINE_STATIC_CALL(db_backend, db_memory);
DEFINE_STATIC_KEY_FALSE(db_cache_off);

const char *db_lookup(const char *key, int len)
{
	const char *v = static_call(db_backend)(key);

	if (static_branch_unlikely(&db_cache_off))
		ustatic_pr_debug("cache bypassed for %s", key);
	ustatic_pr_debug("lookup %.*s -> %s", len, key, v);
	return v;
}
