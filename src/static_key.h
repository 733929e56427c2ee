/* SPDX-License-Identifier: MIT */
/*
 * Static keys: the owner of every key's count and patched state. Other
 * files ask for changes (one, or a transaction's several); this file
 * decides what they mean, queues the patches and stores the result when
 * the batch lands.
 */
#ifndef USTATIC_STATIC_KEY_H
#define USTATIC_STATIC_KEY_H

#include <stdbool.h>

#include "dyndbg.h"
#include "engine.h"
#include "registry.h"

/* enum us_key_op is dyndbg.h's (the control interface names it too);
 * US_KEY_COUNT is no change and never reaches this file. */

/* One key's change within a batch; lives until the batch finishes. */
struct us_key_change {
	struct static_key *key;
	int from, to;			/* counts before and after */
};

/* Lock-free: true if op was carried out without crossing zero (nothing
 * to patch); false if it needs the slow path below. */
bool us_key_fast(struct static_key *key, enum us_key_op op);

/*
 * Registry lock held. us_key_hold() takes key out of the fast paths'
 * reach for the rest of the batch; us_key_replay() applies op to the
 * change (an op that cannot be applied fails the batch); us_key_queue()
 * queues the patches for the result. When the batch finishes the key gets
 * its new count, or its old one back.
 */
int us_key_hold(struct us_batch *b, struct us_key_change *c,
		struct static_key *key);
int us_key_replay(struct us_batch *b, struct us_key_change *c,
		  enum us_key_op op);
void us_key_queue(struct us_batch *b, struct us_key_change *c);
/* The same for c[0..n), sorted by key address: one pass over the jumps. */
void us_key_queue_many(struct us_batch *b, struct us_key_change *c, size_t n);

/* Registry lock held: queues what brings a new object's branches in line
 * with their keys. */
void us_key_queue_object(struct us_batch *b, struct us_object *o);

int us_key_count(struct static_key *key);

#endif
