/* SPDX-License-Identifier: MIT */
/*
 * The patch engine: the kernel's text_poke_bp batch, for user space.
 * Any number of (address, expected old bytes, new bytes) entries are applied
 * as one batch with at most three cross-core serializations:
 *   guard byte on every first byte -> sync -> every tail -> sync ->
 *   every real first byte -> sync -> wait for trap handlers to leave.
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

#include "arch.h"

struct us_patch {
	uint8_t *addr;
	uint8_t len;			/* 1..US_INSN_MAX */
	uint8_t trapfree_guard;		/* 0: this change needs int3 */
	uint8_t old[US_INSN_MAX];	/* must be there, or nothing is written */
	uint8_t new[US_INSN_MAX];
};

/*
 * Applies v[0..n) (sorted in place) all-or-nothing. Returns 0, or -errno
 * with nothing written:
 *   -EINVAL  bad entry (length, overlap, an instruction we cannot emulate)
 *   -EBUSY   a site holds an int3 we did not place (debugger, uprobe)
 *   -EILSEQ  a site holds other bytes than expected
 *   -EDEADLK traps are unusable now and an entry has no trap-free guard
 *   -EPERM   code cannot be written (no writer works)
 *   other    from the sync layer (-ETIMEDOUT, ...)
 */
int us_engine_apply(struct us_patch *v, size_t n);

/* Whether code can be written at all (an architecture that patches, and a
 * working writer). */
bool us_engine_can_write(void);

/* The engine's process-wide lock, for pthread_atfork. */
void us_engine_lock(void);
void us_engine_unlock(void);

#endif
