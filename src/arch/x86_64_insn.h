/* SPDX-License-Identifier: MIT */
/*
 * x86-64 instruction length decoding, for finding call sites by walking
 * forward from a known instruction boundary (a static_call marker).
 */
#ifndef USTATIC_ARCH_X86_64_INSN_H
#define USTATIC_ARCH_X86_64_INSN_H

#include <stddef.h>

/*
 * Length in bytes (1..15) of the 64-bit-mode instruction that starts at p,
 * reading no more than min(avail, 15) bytes; -1 if the bytes are not a
 * valid instruction or need more than avail bytes.
 */
int us_x86_insn_len(const unsigned char *p, size_t avail);

#endif
