/* SPDX-License-Identifier: MIT */
/*
 * AArch64 encodings for static calls and static keys. Trampoline:
 *   +0  bti c                 landing pad for indirect callers
 *   +4  nop | b target        the patchable slot
 *   +8  adrp x16, :got:KEY; ldr x16, [x16, :got_lo12:KEY]
 *       ldr x16, [x16]; br x16   the indirect form, through key->func
 * Sites: `bl tramp` <-> `bl target` | nop (NULL) | `bl ret0 stub`;
 * tail `b tramp` <-> `b target` | `b stub`; keys: nop <-> `b l_yes`.
 * Targets beyond +-128 MiB stay on the trampoline's indirect form.
 */
#include <string.h>
#include <ucontext.h>

#include "arch.h"

#define BRANCH_RANGE (128L << 20)

static uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void store32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static bool is_branch(uint32_t insn)
{
	return (insn & A64_BRANCH_MASK) == A64_B;
}

bool a64_is_hotpatch_safe(uint32_t insn)
{
	return insn == A64_NOP || is_branch(insn);
}

static uintptr_t branch_target(uintptr_t at, uint32_t insn)
{
	int64_t imm = (int64_t)((uint64_t)(insn & 0x03ffffffu) << 38) >> 36;

	return at + imm;
}

static uint32_t encode_branch(uint32_t op, const void *at, const void *to)
{
	int64_t d = (intptr_t)to - (intptr_t)at;

	return op | ((uint32_t)(d >> 2) & 0x03ffffffu);
}

bool us_arch_can_patch_in(const uint8_t *insn, unsigned len)
{
	return len == 4 && a64_is_hotpatch_safe(load32(insn));
}

/* No trap is ever placed on AArch64. */
bool us_arch_emulate(const uint8_t *insn US_U, uintptr_t at US_U,
		     ucontext_t *uc US_U, bool shadow_stack US_U)
{
	return false;
}

uintptr_t us_arch_trap_pc(const ucontext_t *uc)
{
	return (uintptr_t)uc->uc_mcontext.pc;
}

void us_arch_set_pc(ucontext_t *uc, uintptr_t pc)
{
	uc->uc_mcontext.pc = pc;
}

void us_arch_serialize(void)
{
	__asm__ __volatile__("isb" : : : "memory");
}

void us_arch_flush_icache(void *start, size_t len)
{
	__builtin___clear_cache((char *)start, (char *)start + len);
}

uint8_t *us_arch_tramp_slot(void *tramp)
{
	return (uint8_t *)tramp + 4;
}

unsigned us_arch_tramp_slot_len(void)
{
	return 4;
}

void us_arch_encode_tramp(uint8_t *out, const uint8_t *slot, const void *to)
{
	store32(out, to ? encode_branch(A64_B, slot, to) : A64_NOP);
}

bool us_arch_in_reach(const void *from, const void *to)
{
	int64_t d = (intptr_t)to - (intptr_t)from;

	return (d & 3) == 0 && d >= -BRANCH_RANGE && d < BRANCH_RANGE;
}

unsigned us_arch_site_len(const struct us_site *s US_U)
{
	return 4;
}

void us_arch_encode_site(uint8_t *out, const struct us_site *s, const void *to)
{
	store32(out, encode_branch(s->kind == US_SITE_CALL ? A64_BL : A64_B,
				   s->addr, to));
}

void us_arch_encode_site_nop(uint8_t *out, const struct us_site *s US_U)
{
	store32(out, A64_NOP);
}

/* `mov x0, #0` would skip the call but not be one of the CMODX-safe
 * instructions: RET0 sites call the object's stub instead. */
bool us_arch_encode_site_ret0(uint8_t *out US_U, const struct us_site *s US_U)
{
	return false;
}

unsigned us_arch_jump_len(void)
{
	return 4;
}

void us_arch_encode_jump(uint8_t *out, const uint8_t *code,
			 const void *target, bool jump)
{
	store32(out, jump ? encode_branch(A64_B, code, target) : A64_NOP);
}

uint8_t us_arch_tramp_guard(void)
{
	return 0;
}

uint8_t us_arch_jump_guard(void)
{
	return 0;
}

uint8_t us_arch_site_guard(const struct us_site *s US_U,
			   const uint8_t *old US_U, const uint8_t *new US_U)
{
	return 0;
}

bool us_arch_ends_flow(const uint8_t *p, int len)
{
	uint32_t insn = len == 4 ? load32(p) : 0;

	return (insn & 0xfffffc1fu) == 0xd65f0000u ||	/* ret */
	       (insn & 0xfffffc1fu) == 0xd61f0000u ||	/* br */
	       (insn & 0xffe0001fu) == 0xd4200000u ||	/* brk */
	       (insn >> 16) == 0;			/* udf */
}

int us_arch_decode_site(uint8_t *p, size_t avail, const void *tramp,
			struct us_site *s, bool *found)
{
	uint32_t insn;

	*found = false;
	if (avail < 4 || ((uintptr_t)p & 3))
		return -1;
	insn = load32(p);
	if (is_branch(insn) && branch_target((uintptr_t)p, insn) == (uintptr_t)tramp) {
		s->addr = p;
		s->kind = (insn & 0x80000000u) ? US_SITE_CALL : US_SITE_TAIL;
		s->cc = 0;
		*found = true;
	}
	return 4;
}
