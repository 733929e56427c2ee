/* SPDX-License-Identifier: MIT */
/*
 * x86-64 encodings for the instructions ustatic patches, and their
 * emulation from the SIGTRAP handler while an int3 guards a site.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "arch.h"
#include "arch/x86_64_insn.h"

static const uint8_t nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
/* One 5-byte instruction, never two: a thread may stop between two. */
static const uint8_t xor5[5] = { 0x2e, 0x2e, 0x2e, 0x31, 0xc0 };

static int rel32(uintptr_t next, uintptr_t target, int32_t *out)
{
	int64_t d = (int64_t)(target - next);

	if (d != (int32_t)d)
		return -ERANGE;
	*out = (int32_t)d;
	return 0;
}

static int encode_rel(uint8_t *out, unsigned oplen, unsigned len,
		      uintptr_t at, uintptr_t target)
{
	int32_t d;

	if (rel32(at + len, target, &d))
		return -ERANGE;
	memcpy(out + oplen, &d, 4);
	return 0;
}

int x86_encode_call(uint8_t out[5], uintptr_t at, uintptr_t target)
{
	out[0] = X86_CALL;
	return encode_rel(out, 1, 5, at, target);
}

int x86_encode_jmp(uint8_t out[5], uintptr_t at, uintptr_t target)
{
	out[0] = X86_JMP32;
	return encode_rel(out, 1, 5, at, target);
}

int x86_encode_jcc(uint8_t out[6], uintptr_t at, uint8_t cc, uintptr_t target)
{
	out[0] = 0x0f;
	out[1] = 0x80 | (cc & 0xf);
	return encode_rel(out, 2, 6, at, target);
}

void x86_encode_nop5(uint8_t out[5])
{
	memcpy(out, nop5, 5);
}

void x86_encode_xor5(uint8_t out[5])
{
	memcpy(out, xor5, 5);
}

uintptr_t x86_branch_target(const uint8_t *at, int *len, bool *is_call)
{
	int32_t d;
	unsigned n;

	if (at[0] == X86_CALL || at[0] == X86_JMP32)
		n = 5;
	else if (at[0] == 0x0f && (at[1] & 0xf0) == 0x80)
		n = 6;
	else
		return 0;
	memcpy(&d, at + n - 4, 4);
	*len = (int)n;
	*is_call = at[0] == X86_CALL;
	return (uintptr_t)at + n + (intptr_t)d;
}

/* Length of the instruction at insn if it is one we emulate, else 0. */
static unsigned emulated_len(const uint8_t *insn)
{
	switch (insn[0]) {
	case X86_CALL:
	case X86_JMP32:
	case X86_CMP_EAX:
		return 5;
	case X86_RET:
		return 1;
	case 0x0f:
		if ((insn[1] & 0xf0) == 0x80)
			return 6;
		return memcmp(insn, nop5, 5) ? 0 : 5;
	case 0x2e:
		return memcmp(insn, xor5, 5) ? 0 : 5;
	}
	return 0;
}

bool us_arch_can_patch_in(const uint8_t *insn, unsigned len)
{
	unsigned n = len >= 1 ? emulated_len(insn) : 0;

	if (n == 0 || n > len)
		return false;
	/* Bytes after an unconditional JMP or RET are never executed, and no
	 * thread can be stopped inside the one instruction they replace. */
	return n == len || insn[0] == X86_JMP32 || insn[0] == X86_RET;
}

#define EFL_CF 0x001
#define EFL_PF 0x004
#define EFL_AF 0x010
#define EFL_ZF 0x040
#define EFL_SF 0x080
#define EFL_OF 0x800
#define EFL_ARITH (EFL_CF | EFL_PF | EFL_AF | EFL_ZF | EFL_SF | EFL_OF)

static uint64_t parity_flag(uint8_t v)
{
	return __builtin_parity(v) ? 0 : EFL_PF;
}

/* The flags `cmp $imm,%eax` leaves, so even dead flags come out exact. */
static uint64_t cmp_flags(uint32_t a, uint32_t b)
{
	uint32_t r = a - b;
	uint64_t f = parity_flag((uint8_t)r);

	if (a < b)
		f |= EFL_CF;
	if (((a ^ b ^ r) & 0x10))
		f |= EFL_AF;
	if (r == 0)
		f |= EFL_ZF;
	if (r & 0x80000000u)
		f |= EFL_SF;
	if (((a ^ b) & (a ^ r)) & 0x80000000u)
		f |= EFL_OF;
	return f;
}

/* Evaluates condition code cc (the low nibble of Jcc) against rflags. */
static bool condition_holds(uint8_t cc, uint64_t fl)
{
	bool cf = fl & EFL_CF, zf = fl & EFL_ZF, sf = fl & EFL_SF;
	bool of = fl & EFL_OF, pf = fl & EFL_PF, r;

	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return (cc & 1) ? !r : r;
}

static int32_t disp_at(const uint8_t *p)
{
	int32_t d;

	memcpy(&d, p, 4);
	return d;
}

bool us_arch_emulate(const uint8_t *insn, uintptr_t at, ucontext_t *uc,
		 bool shadow_stack)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t next = at + emulated_len(insn);

	switch (insn[0]) {
	case X86_CALL:
		/* A pushed return address the shadow stack never saw would
		 * fault at the callee's RET: let the thread retry instead. */
		if (shadow_stack)
			return false;
		g[REG_RSP] -= 8;
		*(uint64_t *)g[REG_RSP] = next;
		g[REG_RIP] = (greg_t)(next + disp_at(insn + 1));
		return true;
	case X86_JMP32:
		g[REG_RIP] = (greg_t)(next + disp_at(insn + 1));
		return true;
	case X86_RET:
		g[REG_RIP] = *(greg_t *)g[REG_RSP];
		g[REG_RSP] += 8;
		return true;
	case X86_CMP_EAX:
		g[REG_EFL] = (g[REG_EFL] & ~EFL_ARITH) |
			cmp_flags((uint32_t)g[REG_RAX], (uint32_t)disp_at(insn + 1));
		g[REG_RIP] = (greg_t)next;
		return true;
	case 0x2e:	/* xor %eax,%eax: rax = 0, ZF and PF set */
		g[REG_RAX] = 0;
		g[REG_EFL] = (g[REG_EFL] & ~EFL_ARITH) | EFL_ZF | EFL_PF;
		g[REG_RIP] = (greg_t)next;
		return true;
	}
	if (insn[1] == 0x1f) {	/* NOP5: a jump to the next instruction */
		g[REG_RIP] = (greg_t)next;
		return true;
	}
	/* Jcc rel32 */
	if (condition_holds(insn[1] & 0xf, (uint64_t)g[REG_EFL]))
		next += disp_at(insn + 2);
	g[REG_RIP] = (greg_t)next;
	return true;
}

void us_arch_serialize(void)
{
	unsigned a = 0, b, c = 0, d;

	__asm__ __volatile__("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d)
			     : : "memory");
}

/* ------------------------------------------------------------------ */
/* The portable layers' interface (src/arch.h)                         */
/* ------------------------------------------------------------------ */

uintptr_t us_arch_trap_pc(const ucontext_t *uc)
{
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
}

void us_arch_set_pc(ucontext_t *uc, uintptr_t pc)
{
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
}

/* x86 keeps instruction fetch coherent with stores (SDM 11.6). */
void us_arch_flush_icache(void *start US_U, size_t len US_U)
{
}

/* Trampoline: `cmp $imm,%eax` (indirect form) or `jmp rel32`, 5 bytes. */
uint8_t *us_arch_tramp_slot(void *tramp)
{
	return tramp;
}

unsigned us_arch_tramp_slot_len(void)
{
	return 5;
}

void us_arch_encode_tramp(uint8_t *out, const uint8_t *slot, const void *to)
{
	memcpy(out, slot, 5);	/* the cmp's immediate is never used */
	if (to)
		x86_encode_jmp(out, (uintptr_t)slot, (uintptr_t)to);
	else
		out[0] = X86_CMP_EAX;
}

bool us_arch_in_reach(const void *from, const void *to)
{
	int32_t d;

	return rel32((uintptr_t)from + 6, (uintptr_t)to, &d) == 0 &&
	       rel32((uintptr_t)from, (uintptr_t)to, &d) == 0;
}

unsigned us_arch_site_len(const struct us_site *s)
{
	return s->kind == US_SITE_JCC ? 6 : 5;
}

void us_arch_encode_site(uint8_t *out, const struct us_site *s, const void *to)
{
	uintptr_t at = (uintptr_t)s->addr;

	if (s->kind == US_SITE_CALL)
		x86_encode_call(out, at, (uintptr_t)to);
	else if (s->kind == US_SITE_TAIL)
		x86_encode_jmp(out, at, (uintptr_t)to);
	else
		x86_encode_jcc(out, at, s->cc, (uintptr_t)to);
}

void us_arch_encode_site_nop(uint8_t *out, const struct us_site *s US_U)
{
	x86_encode_nop5(out);
}

bool us_arch_encode_site_ret0(uint8_t *out, const struct us_site *s US_U)
{
	x86_encode_xor5(out);
	return true;
}

unsigned us_arch_jump_len(void)
{
	return 5;
}

void us_arch_encode_jump(uint8_t *out, const uint8_t *code,
			 const void *target, bool jump)
{
	if (jump)
		x86_encode_jmp(out, (uintptr_t)code, (uintptr_t)target);
	else
		x86_encode_nop5(out);
}

/*
 * Trap-free guard: `cmp $imm32,%eax` covers the whole 5-byte slot and only
 * changes flags, which are dead at a call and at an asm statement. At a
 * trampoline it falls through to the indirect form; at a static branch it
 * acts as the NOP; at a call site it is valid only if old or new is NOP5.
 */
uint8_t us_arch_tramp_guard(void)
{
	return X86_CMP_EAX;
}

uint8_t us_arch_jump_guard(void)
{
	return X86_CMP_EAX;
}

uint8_t us_arch_site_guard(const struct us_site *s, const uint8_t *old,
			   const uint8_t *new)
{
	/* The first byte rules out all but NOP5 without a call to memcmp:
	 * this runs for each of thousands of sites an update plans. */
	if (s->kind == US_SITE_CALL &&
	    ((old[0] == nop5[0] && !memcmp(old, nop5, 5)) ||
	     (new[0] == nop5[0] && !memcmp(new, nop5, 5))))
		return X86_CMP_EAX;
	return 0;
}

bool us_arch_ends_flow(const uint8_t *p, int len)
{
	const uint8_t *op = p, *end = p + len;

	/* Skip legacy and REX prefixes (e.g. `rep ret`, `41 ff e3`). */
	while (op < end - 1 && ((*op & 0xf0) == 0x40 || *op == 0xf3 ||
				*op == 0xf2 || *op == 0x66 || *op == 0x2e ||
				*op == 0x3e))
		op++;
	switch (op[0]) {
	case X86_RET: case 0xc2: case X86_INT3: case 0xf4:
		return true;
	case 0x0f:
		return op + 1 < end && op[1] == 0x0b;		/* ud2 */
	case 0xff:					/* jmp *r/m */
		return op + 1 < end && ((op[1] >> 3) & 7) >= 4 &&
		       ((op[1] >> 3) & 7) <= 5;
	}
	return false;
}

int us_arch_decode_site(uint8_t *p, size_t avail, const void *tramp,
			struct us_site *s, bool *found)
{
	int len = us_x86_insn_len(p, avail), blen = 0;
	bool is_call = false;

	*found = false;
	if (len <= 0)
		return -1;
	if (x86_branch_target(p, &blen, &is_call) == (uintptr_t)tramp &&
	    blen == len) {
		s->addr = p;
		s->kind = is_call ? US_SITE_CALL :
			  p[0] == X86_JMP32 ? US_SITE_TAIL : US_SITE_JCC;
		s->cc = p[1] & 0xf;
		*found = true;
	}
	return len;
}
