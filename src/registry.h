/* SPDX-License-Identifier: MIT */
/*
 * The registry: every object (executable, shared library) that uses
 * ustatic, with its trampolines, inline call sites and jump entries, read
 * from the object's own sections by a constructor it carries.
 */
#ifndef USTATIC_REGISTRY_H
#define USTATIC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "debug.h"
#include "engine.h"

struct us_object;

struct us_tramp {
	uint8_t *addr;
	struct static_call_key *key;
	void *applied;			/* target its slot encodes; NULL = indirect */
	void *sites_applied;		/* target its sites encode; NULL = call it */
	struct us_site *sites;		/* this trampoline's inline sites */
	size_t nsites;
	struct us_object *obj;
};

struct us_jump {
	uint8_t *code;
	uint8_t *target;
	struct static_key *key;
	bool likely;
};

struct us_object {
	const void *id;
	uint8_t *ret_stub, *ret0_stub;
	struct us_tramp *tramps;
	size_t ntramps;
	struct us_site *sites;
	size_t nsites;
	struct us_jump *jumps;
	size_t njumps;
	struct us_object *next;
};

/* Every registered object; read and changed under the registry lock. */
extern struct us_object *us_objects;

void us_registry_lock(void);
void us_registry_unlock(void);

/* A growable batch of patches. */
struct us_patch_vec {
	struct us_patch *v;
	size_t n, cap;
};
int us_patch_vec_push(struct us_patch_vec *pv, const struct us_patch *p);
void us_patch_vec_free(struct us_patch_vec *pv);

/* Hooks of the static_call and static_key layers: the patches that bring a
 * freshly registered object in line with the current key values (inline
 * call sites included, or left on their trampolines), and the bookkeeping
 * once they are applied. */
int us_static_call_plan_object(struct us_object *o, bool sites,
			       struct us_patch_vec *pv);
void us_static_call_commit_object(struct us_object *o, bool sites);
int us_static_key_plan_object(struct us_object *o, struct us_patch_vec *pv);

#endif
