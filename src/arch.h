/* SPDX-License-Identifier: MIT */
/*
 * What the portable layers ask of an architecture.
 *
 * x86-64 changes instructions with the int3 protocol (guard byte, tails,
 * first bytes). AArch64 only ever swaps B, BL and NOP, which the Arm ARM
 * (B2.2.5) lets a core execute while they change: one aligned 32-bit store
 * each, cache maintenance, one context synchronization for everyone. Every
 * other architecture uses the generic fallback: no code is patched, calls
 * go through the key and branches load it.
 */
#ifndef USTATIC_ARCH_H
#define USTATIC_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#if defined(__x86_64__) && !defined(USTATIC_GENERIC)
#include "arch/x86_64.h"
#define US_ARCH_PATCHES_CODE	1
#define US_ARCH_USES_GUARDS	1	/* the three-phase int3 protocol */
#define US_INSN_MAX		X86_INSN_MAX
#define US_TRAP_BYTE		X86_INT3
#elif defined(__aarch64__) && !defined(USTATIC_GENERIC)
#include "arch/aarch64.h"
#define US_ARCH_PATCHES_CODE	1
#define US_ARCH_USES_GUARDS	0	/* single-store CMODX-safe swaps */
#define US_INSN_MAX		4
#define US_TRAP_BYTE		0
#else
#define US_ARCH_PATCHES_CODE	0
#define US_ARCH_USES_GUARDS	0
#define US_INSN_MAX		8
#define US_TRAP_BYTE		0
#endif

/* For hooks an architecture does not need every argument of. */
#define US_U __attribute__((unused))

enum us_site_kind { US_SITE_CALL, US_SITE_TAIL, US_SITE_JCC };

struct us_site {
	uint8_t *addr;
	uint8_t kind;			/* enum us_site_kind */
	uint8_t cc;			/* condition, for US_SITE_JCC */
};

#if US_ARCH_PATCHES_CODE
/* ---- the engine's needs ---- */

/* Whether `insn` (len bytes) may be written into live code: on x86 one
 * instruction the trap handler can emulate, on AArch64 a B, BL or NOP. */
bool us_arch_can_patch_in(const uint8_t *insn, unsigned len);
/* Emulates insn at `at` in a trapped context (x86); false: retry later. */
bool us_arch_emulate(const uint8_t *insn, uintptr_t at, ucontext_t *uc,
		     bool shadow_stack);
uintptr_t us_arch_trap_pc(const ucontext_t *uc);
void us_arch_set_pc(ucontext_t *uc, uintptr_t pc);
/* A serializing instruction / context synchronization on this CPU. */
void us_arch_serialize(void);
/* Makes freshly written code visible to this CPU's instruction fetch. */
void us_arch_flush_icache(void *start, size_t len);

/* ---- what static calls and static keys ask ---- */


/* The patchable first instruction of a trampoline, and its length. */
uint8_t *us_arch_tramp_slot(void *tramp);
unsigned us_arch_tramp_slot_len(void);
/* Slot bytes that jump to `to`, or (to == NULL) run the indirect form. */
void us_arch_encode_tramp(uint8_t *out, const uint8_t *slot, const void *to);

bool us_arch_in_reach(const void *from, const void *to);
unsigned us_arch_site_len(const struct us_site *s);
/* Bytes of site s transferring control to `to` (in reach). */
void us_arch_encode_site(uint8_t *out, const struct us_site *s, const void *to);
/* A call site that does nothing (NULL target); always one instruction. */
void us_arch_encode_site_nop(uint8_t *out, const struct us_site *s);
/* A call site that returns 0 in one instruction, if the arch has one. */
bool us_arch_encode_site_ret0(uint8_t *out, const struct us_site *s);

/* A static-branch site: a jump to `target` or a NOP. */
unsigned us_arch_jump_len(void);
void us_arch_encode_jump(uint8_t *out, const uint8_t *code,
			 const void *target, bool jump);

/* Trap-free guards (x86 only, see engine.h); 0 = none. */
uint8_t us_arch_tramp_guard(void);
uint8_t us_arch_jump_guard(void);
uint8_t us_arch_site_guard(const struct us_site *s, const uint8_t *old,
			   const uint8_t *new);

/*
 * Decodes the instruction at p (no more than avail bytes). Returns its
 * length, or -1 if it cannot be decoded. When it is a call/jump/jcc to
 * `tramp`, fills *s and sets *found.
 */
int us_arch_decode_site(uint8_t *p, size_t avail, const void *tramp,
			struct us_site *s, bool *found);
/* Whether the len-byte instruction at p ends straight-line code (return,
 * indirect jump, trap, padding): what follows may not be code. */
bool us_arch_ends_flow(const uint8_t *p, int len);

#else
#include "arch/generic.h"
#endif

#endif
