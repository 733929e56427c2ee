/* SPDX-License-Identifier: MIT */
/*
 * Dynamic debug, as the engine side sees it: the registration of an
 * object gets the flags of the queries applied so far (replayed in order),
 * patched in the batch that aligns the object; and names for messages.
 */
#ifndef USTATIC_DYNDBG_CORE_H
#define USTATIC_DYNDBG_CORE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "object.h"

/* Site flags (struct ustatic_dbg_site.flags): p is the key's state. */
enum { US_DD_P = 1, US_DD_F = 2, US_DD_L = 4, US_DD_M = 8, US_DD_T = 16,
       US_DD_ALL = 31 };

struct us_dyndbg_plan;

/* Registry lock held, o published, nothing queued in b yet: applies
 * USTATIC_DYNDBG if not done yet (a batch of its own), then queues into b
 * what the kept queries give o's debug sites. After b finishes, the
 * caller passes the result to us_dyndbg_settle() (which takes NULL). */
struct us_dyndbg_plan *us_dyndbg_queue_object(struct us_batch *b,
					      struct us_object *o);
void us_dyndbg_settle(struct us_dyndbg_plan *p, int err);

/* The recorded name of the key or static call at addr ("name",
 * "name[3]"), or false. Takes the registry lock unless the caller has it. */
bool us_names_find(const void *addr, char *buf, size_t size);

#endif
