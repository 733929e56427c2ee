/* SPDX-License-Identifier: MIT */
/*
 * What the portable layers need from the architecture. x86-64 patches code
 * with the int3 protocol; every other architecture (for now) uses the
 * generic fallback: indirect calls through the key, load-and-branch keys,
 * and no code patching at all.
 */
#ifndef USTATIC_ARCH_H
#define USTATIC_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <ucontext.h>

#if defined(__x86_64__) && !defined(USTATIC_GENERIC)
#include "arch/x86_64.h"
#define US_ARCH_PATCHES_CODE	1
#define US_INSN_MAX		X86_INSN_MAX
#define US_TRAP_BYTE		X86_INT3
#define us_arch_can_emulate	x86_can_emulate
#define us_arch_emulate		x86_emulate
#define us_arch_serialize	x86_serialize
static inline uintptr_t us_arch_trap_pc(const ucontext_t *uc)
{
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
}
static inline void us_arch_set_pc(ucontext_t *uc, uintptr_t pc)
{
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
}
#else
#define US_ARCH_PATCHES_CODE	0
#define US_INSN_MAX		8
#define US_TRAP_BYTE		0
static inline bool us_arch_can_emulate(const uint8_t *i, unsigned n)
{
	(void)i, (void)n;
	return false;
}
static inline bool us_arch_emulate(const uint8_t *i, uintptr_t at,
				   ucontext_t *uc, bool shstk)
{
	(void)i, (void)at, (void)uc, (void)shstk;
	return false;
}
static inline void us_arch_serialize(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
static inline uintptr_t us_arch_trap_pc(const ucontext_t *uc)
{
	(void)uc;
	return 0;
}
static inline void us_arch_set_pc(ucontext_t *uc, uintptr_t pc)
{
	(void)uc, (void)pc;
}
#endif

#endif
