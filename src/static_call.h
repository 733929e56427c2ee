/* SPDX-License-Identifier: MIT */
/*
 * Static calls: the owner of every trampoline's state and of key->func.
 * Other files ask for a change; this file queues its patches into a batch
 * and records the new state when the batch lands.
 */
#ifndef USTATIC_STATIC_CALL_H
#define USTATIC_STATIC_CALL_H

#include <stdbool.h>

#include "engine.h"
#include "registry.h"

/*
 * "key now calls func" (func NULL: nothing), or, with obj set, "obj's
 * trampolines follow their keys' current targets" (a new object). Lives
 * until the batch finishes.
 */
struct us_call_change {
	struct static_call_key *key;
	void *func;
	struct us_object *obj;
	bool sites;			/* private: inline sites move too */
};

/* Registry lock held. Queues c's patches and its settle callback. */
int us_static_call_queue(struct us_batch *b, struct us_call_change *c);

#endif
