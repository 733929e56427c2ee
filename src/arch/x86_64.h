/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 instructions the engine may put into live code, and how the
 * trap handler emulates them. Anything else is refused: every state a CPU
 * can observe while we patch must be one whole, valid instruction.
 */
#ifndef USTATIC_ARCH_X86_64_H
#define USTATIC_ARCH_X86_64_H

#include <stdbool.h>
#include <stdint.h>
#include <ucontext.h>

#define X86_INT3	0xcc
#define X86_CALL	0xe8
#define X86_JMP32	0xe9
#define X86_RET		0xc3
#define X86_CMP_EAX	0x3d	/* cmp $imm32,%eax: a 5-byte no-op at a call */
#define X86_INSN_MAX	8	/* longest patchable slot: 7-byte mov + pad */

/* Encoders: 0, or -ERANGE when the target is beyond rel32 reach. */
int x86_encode_call(uint8_t out[5], uintptr_t at, uintptr_t target);
int x86_encode_jmp(uint8_t out[5], uintptr_t at, uintptr_t target);
int x86_encode_jcc(uint8_t out[6], uintptr_t at, uint8_t cc, uintptr_t target);
void x86_encode_nop5(uint8_t out[5]);
void x86_encode_xor5(uint8_t out[5]);	/* cs cs cs xor %eax,%eax */

/* Target of a rel32 call/jmp/jcc at `at`, or 0 if it is none of them. */
uintptr_t x86_branch_target(const uint8_t *at, int *len, bool *is_call);

/* x86_64.c also implements src/arch.h: us_arch_can_patch_in() is "the
 * trap handler can emulate it" (call/jmp rel32, jcc rel32, ret, NOP5, the
 * 5-byte xor, cmp $imm32,%eax; padding after an unconditional transfer),
 * us_arch_emulate() refuses a CALL under a shadow stack, and
 * us_arch_serialize() is CPUID (SDM 8.1.3). */

#endif
