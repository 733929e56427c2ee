/* SPDX-License-Identifier: MIT */
/*
 * What the registry knows of an object (the executable or a shared
 * library that uses ustatic): its trampolines with their inline call
 * sites, and its static-branch sites. Types only.
 */
#ifndef USTATIC_OBJECT_H
#define USTATIC_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"

struct us_object;
struct static_call_key;
struct static_key;
struct ustatic_name;
struct ustatic_dbg_site;

struct us_tramp {
	uint8_t *addr;
	struct static_call_key *key;
	/* Owned by static_call.c, under the registry lock. */
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
	char *name;			/* file basename: "server", "libfoo.so.1" */
	uintptr_t text_start, text_end;	/* its executable segment */
	uint8_t *ret_stub, *ret0_stub;
	struct us_tramp *tramps;	/* sorted by address */
	size_t ntramps;
	struct us_site *sites;		/* grouped by trampoline */
	size_t nsites;
	struct us_jump *jumps;
	size_t njumps;
	/* In the object's own data (its ustatic_names, ustatic_dbg sections). */
	const struct ustatic_name *names;
	size_t nnames;
	struct ustatic_dbg_site **dbg;	/* debug sites (ours: sorted, each
					 * once); their flags are dyndbg.c's */
	size_t ndbg;
	struct us_object *next;
};

#endif
