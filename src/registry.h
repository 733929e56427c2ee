/* SPDX-License-Identifier: MIT */
/*
 * The registry: every object (executable, shared library) that uses
 * ustatic, with its trampolines and static-branch sites, read from the
 * object's own sections (see object.h). Objects and their tables only:
 * what the code of an object should encode is static_call.c's and
 * static_key.c's business.
 */
#ifndef USTATIC_REGISTRY_H
#define USTATIC_REGISTRY_H

#include "debug.h"
#include "lock.h"
#include "object.h"

/* Every registered object; read and changed under us_registry_lock. */
extern struct us_object *us_objects;

#define us_for_each_object(o) \
	for (struct us_object *o = us_objects; o; o = o->next)

/* Reads an object's trampolines and jump entries (not yet published).
 * NULL if already registered (*err 0) or out of memory (*err -ENOMEM). */
struct us_object *us_registry_read(const struct ustatic_object_tables2 *t,
				   int *err);
/* Publishes o in us_objects; or frees an object that was read. */
void us_registry_publish(struct us_object *o);
void us_registry_discard(struct us_object *o);
/* Unlinks and frees the object registered for these tables, if any. */
void us_registry_remove(const struct ustatic_object_tables *t);

/* Whether `at` lies in executable memory (a static-call target). */
bool us_is_code(const void *at);

/* The trampoline of o at addr, or NULL. */
struct us_tramp *us_object_tramp_at(struct us_object *o, uint8_t *addr);

#endif
