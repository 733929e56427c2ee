/* SPDX-License-Identifier: MIT */
/* One change of one instruction: the unit of a batch (engine.h) and of
 * what the trap handler is shown (trap.h). Type only. */
#ifndef USTATIC_PATCH_H
#define USTATIC_PATCH_H

#include <stdint.h>

#include "arch.h"

struct us_patch {
	uint8_t *addr;
	uint8_t len;			/* 1..US_INSN_MAX */
	uint8_t trapfree_guard;		/* 0: this change needs int3 */
	uint8_t old[US_INSN_MAX];	/* must be there, or nothing is written */
	uint8_t new[US_INSN_MAX];
};

#endif
