/* SPDX-License-Identifier: MIT */
/* Static-call planning, shared with transactions. */
#ifndef USTATIC_STATIC_CALL_H
#define USTATIC_STATIC_CALL_H

#include <stdbool.h>

#include "registry.h"

/*
 * Queues the patches that retarget trampoline t to func, and its inline
 * sites too when `sites` (else they are put back on the trampoline).
 */
int us_static_call_plan_tramp(const struct us_tramp *t, void *func, bool sites,
			      struct us_patch_vec *pv);
/* The same for every trampoline of key in every object. */
int us_static_call_plan_key(struct static_call_key *key, void *func, bool sites,
			    struct us_patch_vec *pv);
/* Records that those patches are in place, then stores key->func. */
void us_static_call_commit_key(struct static_call_key *key, void *func,
			       bool sites);

#endif
