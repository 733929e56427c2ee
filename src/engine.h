/* SPDX-License-Identifier: MIT */
/*
 * The patch engine: the kernel's text_poke_bp batch, for user space.
 * Callers only add to a batch and finish it (as with the kernel's
 * smp_text_poke_batch_add()/_finish()); nobody else owns a patch array.
 * Finishing applies every entry with at most three cross-core
 * serializations:
 *   guard byte on every first byte -> sync -> every tail -> sync ->
 *   every real first byte -> sync
 * and then tells every owner that queued state whether the batch landed,
 * so state changes are committed exactly when the code changed.
 * The guard is int3 (the trap handler emulates the new instruction), or,
 * for entries that supply one, a trap-free guard: a first byte that turns
 * the slot into a same-length instruction whose effect is a valid state
 * (e.g. `cmp $imm,%eax` where flags are dead), used when traps cannot be
 * taken (a thread blocks SIGTRAP, our handler was replaced, USTATIC_TRAPFREE=1).
 */
#ifndef USTATIC_ENGINE_H
#define USTATIC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "patch.h"


/* Called once by us_batch_finish() with 0 (the code changed) or the
 * error that left everything as it was. */
typedef void us_settle_fn(void *state, int err);

struct us_settle {
	us_settle_fn *fn;
	void *state;
};

/*
 * A batch being built. Entries and settle callbacks are added under the
 * registry lock by the owners of the state they change; the first error
 * sticks and makes finish apply nothing.
 */
struct us_batch {
	struct us_patch *v;
	size_t n, cap;
	struct us_settle *settle;
	size_t nsettle, capsettle;
	int err;
	signed char traps;		/* -1: not asked yet */
};

#define US_BATCH_INIT { .traps = -1 }

int us_batch_add(struct us_batch *b, const struct us_patch *p);
/* fn(state, err) runs when the batch finishes, landed or not. */
int us_batch_on_settle(struct us_batch *b, us_settle_fn *fn, void *state);
/* Makes finish fail with err (the first error sticks). Returns err. */
int us_batch_fail(struct us_batch *b, int err);
/* Whether entries that need an int3 guard can be applied now (else the
 * caller queues only entries with a trap-free guard). Asked once. */
bool us_batch_may_trap(struct us_batch *b);
/*
 * Applies every entry all-or-nothing, runs the settle callbacks, frees
 * the batch. Returns 0, or -errno with nothing written:
 *   -EINVAL  bad entry (length, overlap, an instruction we cannot emulate)
 *   -EBUSY   a site holds an int3 we did not place (debugger, uprobe)
 *   -EILSEQ  a site holds other bytes than expected
 *   -EDEADLK traps are unusable now and an entry has no trap-free guard
 *   -EPERM   code cannot be written (no writer works)
 *   other    from the sync layer (-ETIMEDOUT, ...) or an owner
 */
int us_batch_finish(struct us_batch *b);

/* The apply step alone, on an array the caller sorted or not (engine
 * tests drive it directly). Takes the engine lock. */
int us_engine_apply(struct us_patch *v, size_t n);

/* Tests: writes number [from, from + count) of the engine fail with -EIO,
 * both ways (counted from this call). */
void us_engine_test_fail_writes(unsigned long from, unsigned long count);

/* Whether code can be written at all (an architecture that patches, and a
 * working writer). */
bool us_engine_can_write(void);

#endif
