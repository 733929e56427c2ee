/* SPDX-License-Identifier: MIT */
/* Static-key planning, shared with transactions. */
#ifndef USTATIC_STATIC_KEY_H
#define USTATIC_STATIC_KEY_H

#include <stdbool.h>

#include "registry.h"

/* Queues the patches that make every branch on key encode `on`. */
int us_static_key_plan_key(struct static_key *key, bool on,
			   struct us_patch_vec *pv);

#endif
