/* SPDX-License-Identifier: MIT */
/*
 * Proves us_x86_insn_len() against GNU objdump on real binaries.
 *
 * For the C library, this program itself, build/libustatic.so (if present)
 * and any ELF files named on the command line, objdump -d lists every
 * instruction of the executable sections (.init, .plt*, .text, .fini) with
 * its raw bytes; the decoder must give the same length for each, reading
 * the bytes from the ELF file itself.  objdump's lines must tile each
 * section exactly, so no line can slip past the parser unchecked.
 *
 * Where objdump's listing is not an instruction we skip the line and go on
 * at objdump's next address: "(bad)" and ".byte" (data or padding inside
 * .text), hex dumps of data objects, and lines holding only prefixes that
 * objdump could not attach to an opcode.  Two documented disagreements are
 * accepted and counted: FWAIT (9B) is its own instruction, not a prefix of
 * the next x87 one; and encodings the decoder refuses on purpose (66 on a
 * near branch, 3DNow!, VEX/EVEX/XOP after a prefix that makes them #UD).
 *
 * Before that: hand-written checks of tricky encodings, and random
 * encodings run against a guard page to prove no byte past avail is read.
 *
 * Exit status: 0 pass, 77 skip (no objdump), 1 fail.
 *
 * White-box: the decoder (src/arch/x86_64_insn.h) is internal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dl_iterate_phdr, getline, popen, readlink */
#endif
#include <stdio.h>

#include "test.h"

#if !defined(__x86_64__) || defined(USTATIC_GENERIC)
/* The decoder is only built into x86-64 libraries that patch code. */
int main(void)
{
	SKIP("not an x86-64 build that patches code");
}
#else

#include "arch/x86_64_insn.h"

#include <ctype.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_LIBC_INSNS 100000UL
#define MAX_REPORTED 20

/* ---------------------------------------------------------------------- */
/* Hand-written cases                                                      */

struct unit {
	const char *what;
	const char *bytes;	/* C string literal of the encoding */
	size_t avail;		/* bytes handed to the decoder */
	int want;		/* expected length, or -1 */
};

#define U(what, bytes, want) { what, bytes, sizeof(bytes) - 1, want }
#define T(what, bytes, avail, want) { what, bytes, avail, want }

static const struct unit units[] = {
	U("nop", "\x90", 1),
	U("add eax, imm32", "\x05\x11\x22\x33\x44", 5),
	U("66: add ax, imm16", "\x66\x05\x11\x22", 4),
	U("66+REX.W: add rax, imm32", "\x66\x48\x05\x11\x22\x33\x44", 7),
	U("66: add word [rax], imm16", "\x66\x81\x00\x11\x22", 5),
	U("66: push imm16", "\x66\x68\x11\x22", 4),
	U("mov eax, imm32", "\xb8\x11\x22\x33\x44", 5),
	U("66: mov ax, imm16", "\x66\xb8\x11\x22", 4),
	U("REX.B: mov r8d, imm32", "\x41\xb8\x11\x22\x33\x44", 6),
	U("REX.W: mov rax, imm64", "\x48\xb8\1\2\3\4\5\6\7\x08", 10),
	U("REX.WB: mov r15, imm64", "\x49\xbf\1\2\3\4\5\6\7\x08", 10),
	U("mov eax, moffs64", "\xa1\1\2\3\4\5\6\7\x08", 9),
	U("REX.W: mov moffs64, rax", "\x48\xa3\1\2\3\4\5\6\7\x08", 10),
	U("67: mov al, moffs32", "\x67\xa0\1\2\3\4", 6),
	U("RIP-relative load", "\x48\x8b\x05\1\2\3\4", 7),
	U("RIP-relative cmp imm32", "\x48\x81\x3d\1\2\3\4\5\6\7\x08", 11),
	U("RIP-relative cmp imm8", "\x83\x3d\1\2\3\4\5", 7),
	U("67: 32-bit addr, disp32 stays", "\x67\x8b\x05\1\2\3\4", 7),
	U("67: SIB, no disp", "\x67\x8b\x04\x24", 4),
	U("SIB disp8", "\x8b\x44\x24\x08", 4),
	U("SIB disp32", "\x8b\x84\x24\1\2\3\4", 7),
	U("SIB no base, disp32", "\x8b\x04\x25\1\2\3\4", 7),
	U("SIB base=rbp mod=01", "\x8b\x44\x25\x08", 4),
	U("test al, imm8 (F6 /0)", "\xf6\xc0\x01", 3),
	U("test byte [rax], imm8 (F6 /1 alias)", "\xf6\x08\x01", 3),
	U("not al (F6 /2)", "\xf6\xd0", 2),
	U("test eax, imm32 (F7 /0)", "\xf7\xc0\1\2\3\4", 6),
	U("66: test ax, imm16", "\x66\xf7\xc0\1\2", 5),
	U("neg eax (F7 /3)", "\xf7\xd8", 2),
	U("div qword [rip] (F7 /6)", "\x48\xf7\x35\1\2\3\4", 7),
	U("enter imm16, imm8", "\xc8\x10\x00\x01", 4),
	U("ret imm16", "\xc2\x08\x00", 3),
	U("66: ret imm16", "\x66\xc2\x08\x00", 4),
	U("call rel32", "\xe8\1\2\3\4", 5),
	U("jcc rel32", "\x0f\x84\1\2\3\4", 6),
	U("66+REX.W: call rel32", "\x66\x48\xe8\1\2\3\4", 7),
	U("xbegin rel32", "\xc7\xf8\1\2\3\4", 6),
	U("66: xbegin rel16", "\x66\xc7\xf8\1\2", 5),
	U("xabort imm8", "\xc6\xf8\x01", 3),
	U("endbr64", "\xf3\x0f\x1e\xfa", 4),
	U("nopl 0(rax,rax,1)", "\x0f\x1f\x44\x00\x00", 5),
	U("66 cs nopw 0(rax,rax,1)", "\x66\x2e\x0f\x1f\x84\x00\0\0\0\0", 10),
	U("prefetchw", "\x0f\x0d\x08", 3),
	U("lock cmpxchg16b", "\xf0\x48\x0f\xc7\x0e", 5),
	U("mov cr0, rax ignores mod", "\x0f\x22\x80", 3),
	U("rdrand", "\x0f\xc7\xf0", 3),
	U("vmcall (0F 01 special)", "\x0f\x01\xc1", 3),
	U("popcnt", "\xf3\x0f\xb8\xc1", 4),
	U("pshufb (0F 38)", "\x66\x0f\x38\x00\xc1", 5),
	U("palignr (0F 3A)", "\x66\x0f\x3a\x0f\xc1\x08", 6),
	U("extrq ib ib", "\x66\x0f\x78\xc0\x01\x02", 6),
	U("vmread", "\x0f\x78\xc1", 3),
	U("shufps ib", "\x0f\xc6\xc1\x1b", 4),
	U("shld ib", "\x0f\xa4\xc1\x04", 4),
	U("bswap", "\x0f\xc8", 2),
	U("VIA PadLock rep xcrypt-cbc", "\xf3\x0f\xa7\xd0", 4),
	U("x87 fld", "\xd9\x45\x08", 3),
	U("pop r/m (8F /0)", "\x8f\x00", 2),
	U("14 prefixes + nop = 15", "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
	  "\x2e\x3e\x26\x64\x90", 15),
	U("REX then legacy prefix: REX ignored", "\x48\x66\x90", 3),
	U("VEX2 vzeroupper", "\xc5\xf8\x77", 3),
	U("VEX3 vzeroupper", "\xc4\xe1\x78\x77", 4),
	U("VEX vpshufd ib", "\xc5\xf9\x70\xc1\x05", 5),
	U("VEX vmovdqu rip", "\xc5\xfe\x6f\x05\1\2\3\4", 8),
	U("VEX 0F38 vbroadcastss rip", "\xc4\xe2\x79\x18\x05\1\2\3\4", 9),
	U("VEX 0F3A vpalignr ib", "\xc4\xe3\x79\x0f\xc1\x05", 6),
	U("67 + VEX", "\x67\xc5\xf8\x10\x00", 5),
	U("AMX tileloadd", "\xc4\xe2\x7b\x4b\x04\x24", 6),
	U("AMX tilerelease", "\xc4\xe2\x78\x49\xc0", 5),
	U("EVEX vmovups disp8*N", "\x62\xf1\x7c\x48\x10\x44\x24\x01", 8),
	U("EVEX map1 vpshufd ib", "\x62\xf1\x7d\x48\x70\xc1\x05", 7),
	U("EVEX map2 vpermd rip", "\x62\xf2\x75\x48\x36\x05\1\2\3\4", 10),
	U("EVEX map3 vpcmpud ib", "\x62\xf3\x7d\x48\x1e\xc1\x05", 7),
	U("EVEX map5 vaddph (FP16)", "\x62\xf5\x7c\x48\x58\xc1", 6),
	U("XOP map 8 vprotd ib", "\x8f\xe8\x78\xc2\xc1\x01", 6),
	U("XOP map 9 vfrczps rip", "\x8f\xe9\x78\x80\x05\1\2\3\4", 9),
	U("XOP map A bextr imm32", "\x8f\xea\x78\x10\xc1\1\2\3\4", 9),
	/* Invalid in 64-bit mode, or deliberately refused. */
	U("push es", "\x06", -1),
	U("daa", "\x27", -1),
	U("pusha", "\x60", -1),
	U("82 alias of group 1", "\x82\xc0\x01", -1),
	U("call far", "\x9a\1\2\3\4\5\6", -1),
	U("aam", "\xd4\x0a", -1),
	U("salc", "\xd6", -1),
	U("jmp far", "\xea\1\2\3\4\5\6", -1),
	U("3DNow! 0F 0F", "\x0f\x0f\xc1\x9e", -1),
	U("mov tr", "\x0f\x24\xc0", -1),
	U("0F 0B ud2 is valid", "\x0f\x0b", 2),
	U("8F /2: neither pop nor an XOP map", "\x8f\x10\x00", -1),
	U("XOP map 9 rip: VEX prefix rules", "\x66\x8f\xe9\x78\x81\xc1", -1),
	U("VEX map 0", "\xc4\xe0\x78\x77", -1),
	U("66 + VEX is #UD", "\x66\xc5\xf8\x77", -1),
	U("REX + VEX is #UD", "\x48\xc5\xf8\x77", -1),
	U("EVEX P1 bit 2 clear", "\x62\xf1\x78\x48\x10\xc1", -1),
	U("EVEX P0 bit 3 set", "\x62\xf9\x7c\x48\x10\xc1", -1),
	U("EVEX map 4 (APX)", "\x62\xf4\x7c\x48\x58\xc1", -1),
	U("66: call rel16/rel32 (vendor dependent)", "\x66\xe8\1\2\3\4", -1),
	U("66: jcc rel16/rel32 (vendor dependent)", "\x66\x0f\x84\1\2\3\4", -1),
	U("15 prefixes + nop = 16", "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
	  "\x66\x2e\x3e\x26\x64\x90", -1),
	/* Truncated input. */
	T("empty", "\x90", 0, -1),
	T("imm32 cut", "\xb8\x11\x22\x33\x44", 4, -1),
	T("imm64 cut", "\x48\xb8\1\2\3\4\5\6\7\x08", 9, -1),
	T("prefix only", "\x66\x90", 1, -1),
	T("REX only", "\x48\x90", 1, -1),
	T("escape only", "\x0f\x05", 1, -1),
	T("ModRM missing", "\x8b\xc0", 1, -1),
	T("SIB missing", "\x8b\x04\x24", 2, -1),
	T("disp32 cut", "\x8b\x05\1\2\3\4", 5, -1),
	T("VEX payload cut", "\xc4\xe1\x78\x77", 3, -1),
	T("EVEX imm8 cut", "\x62\xf3\x7d\x48\x1e\xc1\x05", 6, -1),
	T("exact fit", "\xb8\x11\x22\x33\x44", 5, 5),
	T("avail > 15 is clamped", "\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90"
	  "\x90\x90\x90\x90\x90\x90\x90\x90\x90\x90", 20, 1),
};

static int run_units(void)
{
	int bad = 0;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		const struct unit *u = &units[i];
		int got = us_x86_insn_len((const unsigned char *)u->bytes,
					  u->avail);

		if (got != u->want) {
			fprintf(stderr, "unit: %s: got %d, want %d\n",
				u->what, got, u->want);
			bad++;
		}
	}
	printf("unit checks: %zu, failures: %d\n",
	       sizeof(units) / sizeof(units[0]), bad);
	return bad;
}

/*
 * Random byte strings, biased towards prefixes and escapes, placed so they
 * end at a PROT_NONE page: any read past p + avail faults.  The answer for
 * a window of k bytes must be the full-window length L when k >= L, else
 * -1, so truncation never yields a different "valid" length.
 */
static int run_fuzz(void)
{
	static const unsigned char hot[] = {
		0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x48, 0x41, 0x0F, 0x38,
		0x3A, 0xC4, 0xC5, 0x62, 0x8F, 0xF6, 0xF7, 0xA1, 0xB8, 0xC8,
		0x04, 0x05, 0x44, 0x84, 0x24, 0x25, 0xE8, 0x80, 0x90, 0xFF,
	};
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *end;
	unsigned long x = 88172645463325252UL;
	int bad = 0;

	if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE))
		return 1;
	end = m + pg;
	for (int it = 0; it < 200000 && bad < 5; it++) {
		unsigned char buf[15];
		int full;

		for (int i = 0; i < 15; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = x & 1 ? hot[(x >> 8) % sizeof(hot)]
				       : (unsigned char)(x >> 24);
		}
		memcpy(end - 15, buf, 15);
		full = us_x86_insn_len(end - 15, 15);
		for (size_t k = 0; k < 15; k++) {
			int want = full > 0 && (int)k >= full ? full : -1, got;

			memcpy(end - k, buf, k);
			got = us_x86_insn_len(end - k, k);
			if (got != want) {
				fprintf(stderr, "fuzz: %02x %02x %02x..., %zu "
					"bytes: got %d, want %d\n", buf[0],
					buf[1], buf[2], k, got, want);
				bad++;
			}
		}
	}
	munmap(m, 2 * (size_t)pg);
	printf("fuzz: 200000 random encodings, failures: %d\n", bad);
	return bad;
}

/* ---------------------------------------------------------------------- */
/* ELF sections                                                            */

/* Sections objdump -d disassembles that we compare. */
static const char *const wanted[] = {
	".init", ".plt", ".plt.got", ".plt.sec", ".text", ".fini",
};
#define NWANTED (sizeof(wanted) / sizeof(wanted[0]))

struct sect {
	const char *name;
	Elf64_Addr addr;
	const unsigned char *bytes;	/* inside the mapped file */
	Elf64_Xword size;
};

struct elf {
	void *map;
	size_t maplen;
	struct sect s[NWANTED];
	size_t n;
};

static int want_section(const char *name)
{
	for (size_t i = 0; i < NWANTED; i++)
		if (!strcmp(name, wanted[i]))
			return 1;
	return 0;
}

/* Bounds-checked pointer to [off, off+len) inside the mapped file. */
static const void *at(const struct elf *e, Elf64_Off off, size_t len)
{
	if (off > e->maplen || len > e->maplen - off)
		return NULL;
	return (const char *)e->map + off;
}

static int collect_sections(struct elf *e, const char *path)
{
	const Elf64_Ehdr *eh = at(e, 0, sizeof(*eh));
	const Elf64_Shdr *sh, *strsh;
	const char *strtab;

	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr)) {
		fprintf(stderr, "%s: not an x86-64 ELF64 file\n", path);
		return -1;
	}
	sh = at(e, eh->e_shoff, (size_t)eh->e_shnum * sizeof(*sh));
	if (!sh || eh->e_shstrndx >= eh->e_shnum) {
		fprintf(stderr, "%s: bad section headers\n", path);
		return -1;
	}
	strsh = &sh[eh->e_shstrndx];
	strtab = at(e, strsh->sh_offset, strsh->sh_size);
	if (!strtab)
		return -1;
	for (size_t i = 0; i < eh->e_shnum && e->n < NWANTED; i++) {
		const char *name = strtab + sh[i].sh_name;

		if (sh[i].sh_name >= strsh->sh_size ||
		    sh[i].sh_type != SHT_PROGBITS ||
		    !(sh[i].sh_flags & SHF_EXECINSTR) || !want_section(name))
			continue;
		e->s[e->n] = (struct sect){
			.name = name, .addr = sh[i].sh_addr, .size = sh[i].sh_size,
			.bytes = at(e, sh[i].sh_offset, sh[i].sh_size),
		};
		if (e->s[e->n].bytes)
			e->n++;
	}
	return 0;
}

static int open_elf(struct elf *e, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(e, 0, sizeof(*e));
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	e->maplen = (size_t)st.st_size;
	e->map = mmap(NULL, e->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (e->map == MAP_FAILED) {
		perror(path);
		return -1;
	}
	if (collect_sections(e, path) == 0)
		return 0;
	munmap(e->map, e->maplen);
	return -1;
}

static const struct sect *find_sect(const struct elf *e, const char *name)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].name, name))
			return &e->s[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Lockstep with objdump                                                   */

struct stats {
	unsigned long checked, mismatches, bad_skipped, prefix_skipped, data,
		      fwait, refused;
	unsigned long next;	/* address objdump's next line must have */
};

/* objdump -d over the wanted sections; the path goes through the
 * environment so that no shell quoting is needed. */
static FILE *run_objdump(const struct elf *e, const char *path)
{
	char cmd[256] = "objdump -d -w -z";

	for (size_t i = 0; i < e->n; i++) {
		strcat(cmd, " -j ");
		strcat(cmd, e->s[i].name);
	}
	strcat(cmd, " -- \"$US_INSN_FILE\" 2>/dev/null");
	if (setenv("US_INSN_FILE", path, 1))
		return NULL;
	return popen(cmd, "r");
}

/*
 * Parse "  addr:\tb1 b2 ... \tmnemonic" and return the byte count; -1 for
 * a line that is no instruction (label, blank).  *mnem is NULL for the hex
 * dump objdump prints over a data object (STT_OBJECT) inside .text:
 * bytes, four spaces, their ASCII rendering, and no tab.
 */
static int parse_insn(char *line, unsigned long *addr, unsigned char *raw,
		      const char **mnem)
{
	char *end, *p;
	int n = 0;

	*addr = strtoul(line, &end, 16);
	if (end == line || end[0] != ':' || end[1] != '\t')
		return -1;
	p = end + 2;
	/* Raw bytes: two hex digits each, single-space separated. */
	while (n < 32 && isxdigit((unsigned char)p[0]) &&
	       isxdigit((unsigned char)p[1]) && (p[2] == ' ' || p[2] == '\t')) {
		raw[n++] = (unsigned char)strtoul((char[3]){ p[0], p[1], 0 },
						  NULL, 16);
		p += p[2] == ' ' ? 3 : 2;
	}
	while (*p == ' ')
		p++;
	*mnem = *p == '\t' ? p + 1 : NULL;
	return n > 0 ? n : -1;
}

/* Print one of the first MAX_REPORTED mismatches. */
static void report(const char *path, unsigned long addr,
		   const unsigned char *raw, int theirs, int ours,
		   const char *mnem, unsigned long nth)
{
	char hex[3 * 32 + 1] = "";

	if (nth > MAX_REPORTED)
		return;
	for (int i = 0; i < theirs; i++)
		sprintf(hex + 3 * i, "%02x ", raw[i]);
	fprintf(stderr, "  %s: %#lx: %sobjdump %d, ours %d: %s", path, addr,
		hex, theirs, ours, mnem);
}

static int is_prefix(unsigned char b)
{
	return (b & 0xF0) == 0x40 || b == 0x66 || b == 0x67 || b == 0xF0 ||
	       b == 0xF2 || b == 0xF3 || b == 0x26 || b == 0x2E ||
	       b == 0x36 || b == 0x3E || b == 0x64 || b == 0x65;
}

/*
 * objdump prints a prefix it cannot attach to an opcode (a REX followed by
 * another prefix, a prefix before "(bad)", more prefixes than it accepts)
 * on a line of its own, e.g. "47  rex.RXB".  Such a line is no
 * instruction; the CPU would fold the bytes into the next one.
 */
static int only_prefixes(const unsigned char *raw, int n)
{
	for (int i = 0; i < n; i++)
		if (!is_prefix(raw[i]))
			return 0;
	return 1;
}

/*
 * objdump treats FWAIT (9B) like a prefix and shows it fused with the next
 * x87 instruction (fstcw = fwait; fnstcw).  The CPU sees an instruction
 * of its own that ends at the 9B, and so do we: accept our length when it
 * ends on 9B and the rest of objdump's line splits the same way.
 */
static int fwait_split(const unsigned char *b, size_t avail, int n, int ours)
{
	int rest = n - ours, next;

	if (ours <= 0 || rest <= 0 || b[ours - 1] != 0x9B)
		return 0;
	next = us_x86_insn_len(b + ours, avail - (size_t)ours);
	return next == rest || only_prefixes(b + ours, rest) ||
	       fwait_split(b + ours, avail - (size_t)ours, rest, next);
}

/*
 * Encodings objdump decodes but the decoder refuses on purpose (returns
 * -1): a 66-prefixed near call/jmp/jcc (rel16 on AMD and in objdump, rel32
 * on Intel), 3DNow! (0F 0F), and VEX/EVEX/XOP after 66/F2/F3/F0/REX,
 * which the CPU rejects with #UD.  Seen only in data inside .text.
 */
static int refused_form(const unsigned char *b, int n)
{
	int i = 0, o16 = 0, rexw = 0, vex_ub = 0;

	for (; i < n && is_prefix(b[i]); i++) {
		int rex = (b[i] & 0xF0) == 0x40;

		o16 |= b[i] == 0x66;
		vex_ub |= rex || b[i] == 0x66 || b[i] == 0xF0 ||
			  b[i] == 0xF2 || b[i] == 0xF3;
		rexw = rex && (b[i] & 8);
	}
	if (i + 1 >= n)
		return 0;
	if (b[i] == 0x0F && b[i + 1] == 0x0F)
		return 1;
	if (o16 && !rexw && (b[i] == 0xE8 || b[i] == 0xE9 ||
			     (b[i] == 0x0F && (b[i + 1] & 0xF0) == 0x80)))
		return 1;
	return vex_ub && (b[i] == 0xC4 || b[i] == 0xC5 || b[i] == 0x62 ||
			  (b[i] == 0x8F && (b[i + 1] & 0x38)));
}

/*
 * Lines must tile the section: each starts where the previous one ended,
 * so a line the parser failed to recognise cannot go unnoticed.  Their
 * bytes must be the file's, which proves the address-to-offset mapping.
 */
static int in_lockstep(const char *path, const struct sect *s,
		       unsigned long addr, const unsigned char *raw, int n,
		       struct stats *st)
{
	if (addr != st->next) {
		fprintf(stderr, "%s: objdump line at %#lx, expected %#lx\n",
			path, addr, st->next);
		return 0;
	}
	if (addr - s->addr + (size_t)n > s->size) {
		fprintf(stderr, "%s: %#lx runs past %s\n", path, addr, s->name);
		return 0;
	}
	if (memcmp(s->bytes + (addr - s->addr), raw, (size_t)n)) {
		fprintf(stderr, "%s: %#lx: file bytes differ from objdump's\n",
			path, addr);
		return 0;
	}
	st->next = addr + (unsigned long)n;
	return 1;
}

/* One line of a section's listing; updates the counters. */
static int check_line(const char *path, const struct sect *s, char *line,
		      struct stats *st)
{
	unsigned char raw[32];
	unsigned long addr;
	const char *mnem;
	int n = parse_insn(line, &addr, raw, &mnem), ours;
	size_t off;

	if (n < 0)
		return 0;	/* symbol label, blank */
	if (!in_lockstep(path, s, addr, raw, n, st))
		return -1;
	if (!mnem) {
		st->data++;
		return 0;
	}
	if (strstr(mnem, "(bad)") || !strncmp(mnem, ".byte", 5)) {
		st->bad_skipped++;	/* resync at objdump's next line */
		return 0;
	}
	if (only_prefixes(raw, n)) {
		st->prefix_skipped++;
		return 0;
	}
	off = addr - s->addr;
	ours = us_x86_insn_len(s->bytes + off, s->size - off);
	st->checked++;
	if (fwait_split(s->bytes + off, s->size - off, n, ours))
		st->fwait++;
	else if (ours == -1 && refused_form(raw, n))
		st->refused++;
	else if (ours != n)
		report(path, addr, raw, n, ours, mnem, ++st->mismatches);
	return 0;
}

/* A section's listing must end at the section's end. */
static int section_done(const char *path, const struct sect *s,
			const struct stats *st)
{
	if (!s || st->next == s->addr + s->size)
		return 0;
	fprintf(stderr, "%s: objdump stopped at %#lx in %s, which ends at "
		"%#lx\n", path, st->next, s->name,
		(unsigned long)(s->addr + s->size));
	return -1;
}

static int check_binary(const char *path, unsigned long *checked)
{
	char *line = NULL;
	size_t cap = 0;
	struct stats st = { 0 };
	const struct sect *cur = NULL;
	struct elf e;
	FILE *f;
	int err = 0;

	if (open_elf(&e, path) < 0)
		return -1;
	if (e.n == 0 || !(f = run_objdump(&e, path))) {
		fprintf(stderr, "%s: nothing to disassemble\n", path);
		munmap(e.map, e.maplen);
		return -1;
	}
	while (!err && getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "Disassembly of section ", 23)) {
			err = section_done(path, cur, &st);
			line[strcspn(line, ":")] = 0;
			cur = find_sect(&e, line + 23);
			st.next = cur ? cur->addr : 0;
		} else if (cur) {
			err = check_line(path, cur, line, &st);
		}
	}
	if (!err)
		err = section_done(path, cur, &st);
	if (pclose(f) != 0 && !err) {
		fprintf(stderr, "%s: objdump failed\n", path);
		err = -1;
	}
	free(line);
	munmap(e.map, e.maplen);
	printf("%s: %lu instructions checked, %lu mismatches (skipped: %lu "
	       "(bad), %lu prefix-only, %lu data lines; accepted: %lu fwait "
	       "split, %lu refused)\n", path, st.checked, st.mismatches,
	       st.bad_skipped, st.prefix_skipped, st.data, st.fwait,
	       st.refused);
	*checked = st.checked;
	return err || st.mismatches || st.checked == 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------- */

static int find_libc_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strstr(info->dlpi_name, "/libc.so")) {
		snprintf(data, PATH_MAX, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

static int have_objdump(void)
{
	return system("objdump --version >/dev/null 2>&1") == 0;
}

int main(int argc, char **argv)
{
	static char libc[PATH_MAX] = "/lib/x86_64-linux-gnu/libc.so.6";
	static char self[PATH_MAX];
	unsigned long n;
	int fail = run_units() != 0;

	if (run_fuzz() != 0)
		fail = 1;
	if (!have_objdump()) {
		fprintf(stderr, "SKIP: objdump not found in PATH\n");
		return fail ? T_EXIT_FAIL : T_EXIT_SKIP;
	}
	dl_iterate_phdr(find_libc_cb, libc);
	if (check_binary(libc, &n) < 0 || n < MIN_LIBC_INSNS) {
		fprintf(stderr, "FAIL: %s (need >= %lu instructions)\n", libc,
			MIN_LIBC_INSNS);
		fail = 1;
	}
	/* objdump would read its own /proc/self/exe: resolve ours first. */
	test_self_path(self, sizeof(self));
	if (check_binary(self, &n) < 0)
		fail = 1;
	if (access("build/libustatic.so", R_OK) == 0 &&
	    check_binary("build/libustatic.so", &n) < 0)
		fail = 1;
	for (int i = 1; i < argc; i++)
		if (check_binary(argv[i], &n) < 0)
			fail = 1;
	printf("%s\n", fail ? "FAIL" : "PASS");
	return fail ? T_EXIT_FAIL : T_EXIT_PASS;
}

#endif /* x86-64, not generic */
