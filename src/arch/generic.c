/* SPDX-License-Identifier: MIT */
/*
 * The portable fallback, for every architecture without a code patcher (and
 * x86-64 built with GENERIC=1): no code is ever written. static_call() is an
 * indirect call through key->func, static branches load key->enabled, and
 * updates only store to the key, which is always correct.
 */
#include "arch.h"

#if !US_ARCH_PATCHES_CODE
bool us_arch_can_patch_in(const uint8_t *insn, unsigned len)
{
	(void)insn, (void)len;
	return false;
}

bool us_arch_emulate(const uint8_t *insn, uintptr_t at, ucontext_t *uc,
		     bool shadow_stack)
{
	(void)insn, (void)at, (void)uc, (void)shadow_stack;
	return false;
}

uintptr_t us_arch_trap_pc(const ucontext_t *uc)
{
	(void)uc;
	return 0;
}

void us_arch_set_pc(ucontext_t *uc, uintptr_t pc)
{
	(void)uc, (void)pc;
}

void us_arch_serialize(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void us_arch_flush_icache(void *start, size_t len)
{
	(void)start, (void)len;
}

uint8_t *us_arch_tramp_slot(void *tramp)
{
	return tramp;
}

unsigned us_arch_tramp_slot_len(void)
{
	return 0;
}

void us_arch_encode_tramp(uint8_t *out, const uint8_t *slot, const void *to)
{
	(void)out, (void)slot, (void)to;
}

bool us_arch_in_reach(const void *from, const void *to)
{
	(void)from, (void)to;
	return false;
}

unsigned us_arch_site_len(const struct us_site *s)
{
	(void)s;
	return 0;
}

void us_arch_encode_site(uint8_t *out, const struct us_site *s, const void *to)
{
	(void)out, (void)s, (void)to;
}

void us_arch_encode_site_nop(uint8_t *out, const struct us_site *s)
{
	(void)out, (void)s;
}

bool us_arch_encode_site_ret0(uint8_t *out, const struct us_site *s)
{
	(void)out, (void)s;
	return false;
}

unsigned us_arch_jump_len(void)
{
	return 0;
}

void us_arch_encode_jump(uint8_t *out, const uint8_t *code,
			 const void *target, bool jump)
{
	(void)out, (void)code, (void)target, (void)jump;
}

uint8_t us_arch_tramp_guard(void)
{
	return 0;
}

uint8_t us_arch_jump_guard(void)
{
	return 0;
}

uint8_t us_arch_site_guard(const struct us_site *s, const uint8_t *old,
			   const uint8_t *new)
{
	(void)s, (void)old, (void)new;
	return 0;
}

bool us_arch_ends_flow(const uint8_t *p, int len)
{
	(void)p, (void)len;
	return true;
}

int us_arch_decode_site(uint8_t *p, size_t avail, const void *tramp,
			struct us_site *s, bool *found)
{
	(void)p, (void)avail, (void)tramp, (void)s;
	*found = false;
	return -1;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int us_generic_unused;
#endif
