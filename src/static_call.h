/* SPDX-License-Identifier: MIT */
/* Static-call planning, shared with transactions. */
#ifndef USTATIC_STATIC_CALL_H
#define USTATIC_STATIC_CALL_H

#include "registry.h"

/* Queues the patches that retarget trampoline t (and its sites) to func. */
int us_static_call_plan_tramp(const struct us_tramp *t, void *func,
			      struct us_patch_vec *pv);
/* The same for every trampoline of key in every object. */
int us_static_call_plan_key(struct static_call_key *key, void *func,
			    struct us_patch_vec *pv);
/* Records that those patches are in place. */
void us_static_call_commit_key(struct static_call_key *key, void *func);

#endif
