/* SPDX-License-Identifier: MIT */
/*
 * AArch64: ustatic only ever swaps B, BL and NOP, the instructions the Arm
 * ARM (DDI0487, B2.2.5) allows to be modified while another core executes
 * them: the core then executes either the old or the new instruction. Each
 * change is one aligned 32-bit store, then cache maintenance on the writer
 * (__builtin___clear_cache: DC CVAU, DSB, IC IVAU, DSB, ISB) and a context
 * synchronization event on every other core (membarrier SYNC_CORE).
 */
#ifndef USTATIC_ARCH_AARCH64_H
#define USTATIC_ARCH_AARCH64_H

#include <stdbool.h>
#include <stdint.h>

#define A64_NOP		0xd503201fu
#define A64_BTI_C	0xd503245fu
#define A64_B		0x14000000u
#define A64_BL		0x94000000u
#define A64_BRANCH_MASK	0x7c000000u	/* B and BL differ only in bit 31 */

bool a64_is_hotpatch_safe(uint32_t insn);

#endif
