/*
 * Hand-made patchable code for the engine tests, in the executable's own
 * text so rel32 reaches everything:
 *   stub_jmp:   jmp rel32 -> target   (a trampoline)
 *   stub_call:  call rel32 -> target; ret   (a call site, at stub_call + 4)
 *   target_N:   return N
 * stub_call keeps the stack 16-byte aligned around its call.
 */
#ifndef USTATIC_TEST_STUBS_H
#define USTATIC_TEST_STUBS_H

#include <stdint.h>
#include <string.h>

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

int stub_jmp(void);
int stub_call(void);
extern uint8_t stub_call_site[];
extern uint8_t stub_many[];	/* 12,000 x `jmp rel32` to next insn */
int target_0(void), target_1(void), target_2(void), target_3(void);

static int (*const stub_targets[4])(void) = {
	target_0, target_1, target_2, target_3,
};

/* Encodes `op rel32` at `at` towards `to`. */
static inline void stub_encode(uint8_t out[5], uint8_t op, const void *at,
			       const void *to)
{
	int32_t d = (int32_t)((intptr_t)to - ((intptr_t)at + 5));

	out[0] = op;
	memcpy(out + 1, &d, 4);
}

#endif
