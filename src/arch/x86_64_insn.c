/* SPDX-License-Identifier: MIT */
/*
 * x86-64 instruction length decoder (64-bit mode only).
 *
 * We only need the length, so the decoder walks the encoding layers
 *
 *   [legacy prefixes] [REX] opcode [ModRM [SIB] [disp]] [imm]
 *   [prefixes] C5/C4 VEX payload  opcode ModRM [SIB] [disp] [imm8]
 *   [prefixes] 62 EVEX payload    opcode ModRM [SIB] [disp] [imm8]
 *   [prefixes] 8F XOP payload     opcode ModRM [SIB] [disp] [imm]
 *
 * and looks up per-opcode "operand classes" in tables transcribed from the
 * opcode maps of the Intel SDM, Volume 2, Appendix A.  Anything we are not
 * sure about returns -1: a caller that patches code must never guess.
 */
#include "arch/x86_64_insn.h"

#include <stdbool.h>

/* Architectural maximum length of one instruction. */
#define MAX_LEN 15

/*
 * Operand classes, one character per opcode in the tables below:
 *   .  nothing after the opcode
 *   m  ModRM (+ SIB + displacement)
 *   r  ModRM that always names registers: mod is ignored, so no SIB/disp
 *   b  imm8 (or rel8)
 *   w  imm16
 *   z  imm16 with a 66 prefix, else imm32
 *   J  near branch rel32 (see rel32_known())
 *   B  ModRM + imm8
 *   Z  ModRM + imm16/imm32
 *   p  prefix (consumed before the opcode is looked up; never seen here)
 *   x  invalid in 64-bit mode
 *   *  needs a closer look (handled by name in the code)
 */

/* One-byte opcode map, row = high nibble, column = low nibble. */
static const char map1[16][17] = {
	/*0123456789ABCDEF */
	"mmmmbzxxmmmmbzx*", /* 0_: 06/07/0E push/pop seg invalid, 0F escape */
	"mmmmbzxxmmmmbzxx", /* 1_: 16/17/1E/1F push/pop seg invalid */
	"mmmmbzpxmmmmbzpx", /* 2_: 26/2E segment prefixes, 27/2F daa/das */
	"mmmmbzpxmmmmbzpx", /* 3_: 36/3E segment prefixes, 37/3F aaa/aas */
	"pppppppppppppppp", /* 4_: REX */
	"................", /* 5_: push/pop reg */
	"xx*mppppzZbB....", /* 6_: pusha/popa gone, 62 EVEX, 63 movsxd */
	"bbbbbbbbbbbbbbbb", /* 7_: jcc rel8 */
	"BZxBmmmmmmmmmmm*", /* 8_: group 1 (82 gone), 8F group 1A/XOP */
	"..........x.....", /* 9_: 9A far call gone */
	"****....bz......", /* A_: A0-A3 moffs */
	"bbbbbbbb********", /* B_: mov reg, imm8; B8-BF mov reg, imm16/32/64 */
	"BBw.**BZ*.w..bx.", /* C_: C4/C5 VEX, C8 enter, CE into gone */
	"mmmmxxx.mmmmmmmm", /* D_: D4/D5 aam/aad, D6 salc gone; x87 */
	"bbbbbbbbJJxb....", /* E_: loop/jrcxz/in/out, call/jmp, EA gone */
	"p.pp..**......mm", /* F_: F6/F7 group 3 */
};

/* Two-byte opcode map (0F xx). */
static const char map2[16][17] = {
	/*0123456789ABCDEF */
	"mmmmx.....x.xm.x", /* 0_: 0D prefetch, 0E femms, 0F 3DNow! refused */
	"mmmmmmmmmmmmmmmm", /* 1_: SSE moves, 18-1F hint NOPs/endbr */
	"rrrrxxxxmmmmmmmm", /* 2_: mov cr/dr ignore mod; 24-27 mov tr gone */
	"......x.*x*xxxxx", /* 3_: 38/3A escapes to the three-byte maps */
	"mmmmmmmmmmmmmmmm", /* 4_: cmovcc */
	"mmmmmmmmmmmmmmmm", /* 5_ */
	"mmmmmmmmmmmmmmmm", /* 6_ */
	"BBBBmmm.*mxxmmmm", /* 7_: 70-73 ib, 77 emms, 78 vmread/extrq */
	"JJJJJJJJJJJJJJJJ", /* 8_: jcc rel32 */
	"mmmmmmmmmmmmmmmm", /* 9_: setcc */
	"...mBmmm...mBmmm", /* A_: shld/shrd ib, A6/A7 VIA PadLock, AE grp 15 */
	"mmmmmmmm*mBmmmmm", /* B_: B8 popcnt needs F3, BA group 8 ib */
	"mmBmBBBm........", /* C_: cmpps/pinsrw/pextrw/shufps ib; bswap */
	"mmmmmmmmmmmmmmmm", /* D_ */
	"mmmmmmmmmmmmmmmm", /* E_ */
	"mmmmmmmmmmmmmmmm", /* F_: FF ud0 */
};

struct dec {
	const unsigned char *p;
	size_t lim;	/* min(avail, 15): we never read at or past p + lim */
	size_t i;	/* offset of the next unread byte */
	bool osize16;	/* 66 seen */
	bool asize32;	/* 67 seen */
	bool rep;	/* F3 seen */
	bool repne;	/* F2 seen */
	bool rexw;	/* REX.W on the REX that directly precedes the opcode */
	bool vex_ub;	/* a prefix that makes a following VEX/EVEX/XOP #UD */
};

/* Next byte, or -1 when it lies beyond the readable window. */
static int next(struct dec *d)
{
	return d->i < d->lim ? d->p[d->i++] : -1;
}

/* Skip n bytes that need no inspection (displacement, immediate). */
static bool skip(struct dec *d, size_t n)
{
	if (n > d->lim - d->i)
		return false;
	d->i += n;
	return true;
}

/*
 * Legacy prefixes and REX.  A REX only counts when it is the last byte
 * before the opcode; one followed by another prefix is ignored by the CPU,
 * so its W bit is forgotten.  Returns the first opcode byte or -1.
 */
static int prefixes(struct dec *d)
{
	for (;;) {
		int b = next(d);

		if (b < 0)
			return -1;
		if ((b & 0xF0) == 0x40) {
			d->rexw = b & 8;
			d->vex_ub = true;
			continue;
		}
		switch (b) {
		case 0x66: d->osize16 = true; d->vex_ub = true; break;
		case 0x67: d->asize32 = true; break;
		case 0xF2: d->repne = true; d->vex_ub = true; break;
		case 0xF3: d->rep = true; d->vex_ub = true; break;
		case 0xF0: d->vex_ub = true; break;
		case 0x26: case 0x2E: case 0x36: case 0x3E: case 0x64: case 0x65:
			break;
		default:
			return b;
		}
		d->rexw = false;	/* a REX before this prefix is void */
	}
}

/*
 * ModRM, optional SIB, displacement.  In 64-bit mode the 67 prefix selects
 * 32-bit addressing, whose ModRM/SIB forms have the same displacement sizes
 * as 64-bit addressing (16-bit addressing is unreachable), so address size
 * does not matter here.  mod=00 rm=101 is RIP-relative with disp32; SIB
 * base=101 with mod=00 means "no base, disp32".
 */
static bool modrm(struct dec *d)
{
	int m = next(d), mod, rm, sib;

	if (m < 0)
		return false;
	mod = m >> 6;
	rm = m & 7;
	if (mod == 3)
		return true;
	if (rm == 4) {
		sib = next(d);
		if (sib < 0)
			return false;
		if (mod == 0 && (sib & 7) == 5)
			return skip(d, 4);
	}
	if (mod == 1)
		return skip(d, 1);
	if (mod == 2 || rm == 5)
		return skip(d, 4);
	return true;
}

/* The reg field of the ModRM byte at the cursor, without consuming it. */
static int peek_reg(const struct dec *d)
{
	return d->i < d->lim ? (d->p[d->i] >> 3) & 7 : -1;
}

/* imm16/imm32 operand: REX.W wins over 66 and keeps a 32-bit immediate. */
static size_t immz(const struct dec *d)
{
	return d->osize16 && !d->rexw ? 2 : 4;
}

/*
 * Near call/jmp/jcc rel32 with a 66 prefix (and no REX.W) is vendor
 * specific in 64-bit mode: Intel ignores the prefix (rel32), AMD and
 * objdump use rel16.  A length we cannot be sure of is no length.
 */
static bool rel32_known(const struct dec *d)
{
	return !d->osize16 || d->rexw;
}

/* Apply an operand class from map1/map2; false for x and '*'. */
static bool operands(struct dec *d, char cls)
{
	switch (cls) {
	case '.': return true;
	case 'm': return modrm(d);
	case 'r': return next(d) >= 0;
	case 'b': return skip(d, 1);
	case 'w': return skip(d, 2);
	case 'z': return skip(d, immz(d));
	case 'J': return rel32_known(d) && skip(d, 4);
	case 'B': return modrm(d) && skip(d, 1);
	case 'Z': return modrm(d) && skip(d, immz(d));
	default: return false;
	}
}

/*
 * VEX/EVEX map 1 (the 0F map): every opcode has ModRM except vzeroupper /
 * vzeroall (77, VEX only); imm8 on the same opcodes as in the legacy map:
 * shuffles/shifts 70-73, cmpps C2, pinsrw C4, pextrw C5, shufps C6.
 */
static bool vex_map1(struct dec *d, int op, bool evex)
{
	bool imm = (op >= 0x70 && op <= 0x73) || op == 0xC2 ||
		   (op >= 0xC4 && op <= 0xC6);

	if (op == 0x77 && !evex)
		return true;
	return modrm(d) && (!imm || skip(d, 1));
}

/* Body of a VEX/EVEX instruction after its payload, given the map. */
static bool vex_body(struct dec *d, int map, bool evex)
{
	int op = next(d);

	if (op < 0)
		return false;
	switch (map) {
	case 1: return vex_map1(d, op, evex);
	case 2: return modrm(d);		/* 0F38: no immediates */
	case 3: return modrm(d) && skip(d, 1);	/* 0F3A: all imm8 */
	case 5: case 6: return evex && modrm(d); /* AVX512-FP16 maps */
	default: return false;
	}
}

/*
 * VEX: C5 is the two-byte form (map 0F implied), C4 the three-byte form
 * whose first payload byte carries the map in its low five bits.  In 64-bit
 * mode these are never LES/LDS.  66/F2/F3/F0/REX before VEX is #UD.
 */
static bool vex(struct dec *d, int esc)
{
	int p0 = next(d);

	if (p0 < 0 || d->vex_ub)
		return false;
	if (esc == 0xC5)
		return vex_body(d, 1, false);
	if (next(d) < 0)
		return false;
	return vex_body(d, p0 & 0x1F, false);
}

/*
 * EVEX: 62 P0 P1 P2.  P0 bits 2:0 select the map (1, 2, 3, or 5/6 for
 * AVX512-FP16), P0 bit 3 must be 0 and P1 bit 2 must be 1 (both are
 * reused by APX, which we do not decode).  In 64-bit mode 62 is never
 * BOUND.  Disp8*N compression changes scaling, not the byte count.
 */
static bool evex(struct dec *d)
{
	int p0 = next(d), p1 = next(d), p2 = next(d);

	if (p0 < 0 || p1 < 0 || p2 < 0 || d->vex_ub)
		return false;
	if ((p0 & 0x08) || !(p1 & 0x04))
		return false;
	return vex_body(d, p0 & 7, true);
}

/*
 * XOP (AMD): 8F RXB.mmmmm W.vvvv.L.pp opcode ModRM ...  The map field
 * overlays ModRM.reg of POP r/m (8F /0), so map >= 8 cannot be a POP.
 * Map 8 always has an imm8 (is4 register or a count), map 9 none, and
 * map A an imm32 (bextr, lwpins, lwpval).  Same prefix rules as VEX.
 */
static bool xop(struct dec *d)
{
	static const unsigned char imm[3] = { 1, 0, 4 };
	int p0 = next(d), map;

	if (p0 < 0 || d->vex_ub)
		return false;
	map = p0 & 0x1F;
	if (map < 8 || map > 10)
		return false;
	return next(d) >= 0 && next(d) >= 0 && modrm(d) &&
	       skip(d, imm[map - 8]);
}

/* 0F 78: vmread r/m (no prefix); extrq (66) and insertq (F2) add ib ib. */
static bool op_0f78(struct dec *d)
{
	return modrm(d) && (!(d->osize16 || d->repne) || skip(d, 2));
}

/*
 * 0F xx, 0F 38 xx (all ModRM) and 0F 3A xx (all ModRM + imm8).  The
 * three-byte maps are uniform, so their unassigned opcodes get a length
 * too rather than -1; objdump calls those "(bad)".
 */
static bool two_byte(struct dec *d)
{
	int op = next(d);

	if (op < 0)
		return false;
	switch (op) {
	case 0x38: return next(d) >= 0 && modrm(d);
	case 0x3A: return next(d) >= 0 && modrm(d) && skip(d, 1);
	case 0x78: return op_0f78(d);
	case 0xB8: return d->rep && modrm(d);	/* popcnt; bare 0F B8 is jmpe */
	default: return operands(d, map2[op >> 4][op & 15]);
	}
}

/* F6/F7 group 3: only test (/0, and its alias /1) has an immediate. */
static bool group3(struct dec *d, int op)
{
	int reg = peek_reg(d);

	if (reg < 0 || !modrm(d))
		return false;
	if (reg > 1)
		return true;
	return skip(d, op == 0xF6 ? 1 : immz(d));
}

/* One-byte opcodes whose class is '*'. */
static bool special(struct dec *d, int op)
{
	if (op == 0x0F)
		return two_byte(d);
	if (op == 0x62)
		return evex(d);
	if (op == 0xC4 || op == 0xC5)
		return vex(d, op);
	if (op == 0x8F)		/* pop r/m is /0; other reg values are XOP */
		return peek_reg(d) == 0 ? modrm(d) : xop(d);
	if (op >= 0xA0 && op <= 0xA3)	/* mov moffs: address-sized offset */
		return skip(d, d->asize32 ? 4 : 8);
	if (op >= 0xB8 && op <= 0xBF)	/* mov reg, imm16/32/64 */
		return skip(d, d->rexw ? 8 : immz(d));
	if (op == 0xC8)		/* enter imm16, imm8 */
		return skip(d, 3);
	return group3(d, op);	/* F6, F7 */
}

/*
 * Every read goes through next()/skip()/peek_reg(), which stop at d.lim,
 * so the window is never overrun and an instruction that would be longer
 * than 15 bytes (too many prefixes) fails like a truncated one.
 */
int us_x86_insn_len(const unsigned char *p, size_t avail)
{
	struct dec d = { .p = p, .lim = avail < MAX_LEN ? avail : MAX_LEN };
	int op;
	char cls;
	bool ok;

	if (!p)
		return -1;
	op = prefixes(&d);
	if (op < 0)
		return -1;
	cls = map1[op >> 4][op & 15];
	ok = cls == '*' ? special(&d, op) : operands(&d, cls);
	return ok ? (int)d.i : -1;
}
