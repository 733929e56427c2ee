/* SPDX-License-Identifier: MIT */
/*
 * Hand-made patchable code for the engine tests, in the executable's own
 * text so a direct branch reaches everything:
 *   stub_jmp:        a jump to target_N       (a trampoline's slot)
 *   stub_call:       calls target_N through the call at stub_call_site
 *   stub_many:       12,000 jumps to the next instruction
 *   target_N:        returns N
 * stub_jump_insn()/stub_call_insn() encode those instructions; STUB_LEN is
 * their length. On x86-64 the engine guards them with int3; on AArch64 it
 * swaps them with single stores.
 */
#ifndef USTATIC_TEST_STUBS_H
#define USTATIC_TEST_STUBS_H

#include <stdint.h>
#include <string.h>

#include "arch.h"

#if !US_ARCH_PATCHES_CODE
#define HAVE_STUBS 0
#elif defined(__x86_64__)
#define HAVE_STUBS 1
#define STUB_LEN 5
__asm__(".pushsection .text\n"
	".balign 16\n.globl stub_jmp\n.type stub_jmp,@function\n"
	"stub_jmp:\n.byte 0xe9\n.long target_0 - . - 4\nint3\n"
	".balign 16\n.globl stub_call\n.type stub_call,@function\n"
	"stub_call:\nsubq $8,%rsp\n"
	".globl stub_call_site\nstub_call_site:\n"
	".byte 0xe8\n.long target_0 - . - 4\naddq $8,%rsp\nret\n"
	".balign 16\n.globl stub_many\nstub_many:\n"
	".rept 12000\n.byte 0xe9\n.long 0\n.endr\n"
	".balign 16\ntarget_0:\nmovl $0,%eax\nret\n"
	".balign 16\ntarget_1:\nmovl $1,%eax\nret\n"
	".balign 16\ntarget_2:\nmovl $2,%eax\nret\n"
	".balign 16\ntarget_3:\nmovl $3,%eax\nret\n"
	".globl target_0, target_1, target_2, target_3\n"
	".popsection\n");

static inline void stub_rel32(uint8_t *out, uint8_t op, const void *at,
			      const void *to)
{
	int32_t d = (int32_t)((intptr_t)to - ((intptr_t)at + 5));

	out[0] = op;
	memcpy(out + 1, &d, 4);
}

static inline void stub_jump_insn(uint8_t *out, const void *at, const void *to)
{
	stub_rel32(out, 0xe9, at, to);
}

static inline void stub_call_insn(uint8_t *out, const void *at, const void *to)
{
	stub_rel32(out, 0xe8, at, to);
}

/* Something the engine must refuse to patch in: two one-byte NOPs... */
static const uint8_t stub_bad_insn[STUB_LEN] = { 0x90, 0x90, 0x90, 0x90, 0x90 };
#elif defined(__aarch64__)
#define HAVE_STUBS 1
#define STUB_LEN 4
__asm__(".pushsection .text\n"
	".balign 16\n.globl stub_jmp\n.type stub_jmp,%function\n"
	"stub_jmp:\nb target_0\n"
	".balign 16\n.globl stub_call\n.type stub_call,%function\n"
	"stub_call:\nstp x29, x30, [sp, #-16]!\n"
	".globl stub_call_site\nstub_call_site:\n"
	"bl target_0\nldp x29, x30, [sp], #16\nret\n"
	".balign 16\n.globl stub_many\nstub_many:\n"
	".rept 12000\nb .+4\n.endr\n"
	".balign 16\ntarget_0:\nmov w0, #0\nret\n"
	".balign 16\ntarget_1:\nmov w0, #1\nret\n"
	".balign 16\ntarget_2:\nmov w0, #2\nret\n"
	".balign 16\ntarget_3:\nmov w0, #3\nret\n"
	".globl target_0, target_1, target_2, target_3\n"
	".popsection\n");

static inline void stub_branch(uint8_t *out, uint32_t op, const void *at,
			       const void *to)
{
	int64_t d = (intptr_t)to - (intptr_t)at;
	uint32_t insn = op | ((uint32_t)(d >> 2) & 0x03ffffffu);

	memcpy(out, &insn, 4);
}

static inline void stub_jump_insn(uint8_t *out, const void *at, const void *to)
{
	stub_branch(out, 0x14000000u, at, to);
}

static inline void stub_call_insn(uint8_t *out, const void *at, const void *to)
{
	stub_branch(out, 0x94000000u, at, to);
}

/* ... or, on AArch64, an instruction outside the CMODX-safe set. */
static const uint8_t stub_bad_insn[STUB_LEN] = { 0x00, 0x00, 0x80, 0xd2 };
#endif

#if HAVE_STUBS
int stub_jmp(void);
int stub_call(void);
extern uint8_t stub_call_site[];
extern uint8_t stub_many[];
int target_0(void), target_1(void), target_2(void), target_3(void);

static int (*const stub_targets[4])(void) = {
	target_0, target_1, target_2, target_3,
};
#endif

#endif
