/* SPDX-License-Identifier: MIT */
/* Repeats a statement 1 to 1,000 times: many call sites from a few lines. */
#ifndef USTATIC_BENCH_SITES_H
#define USTATIC_BENCH_SITES_H

#define R1(s)		s
#define R10(s)		s s s s s s s s s s
#define R100(s)		R10(s) R10(s) R10(s) R10(s) R10(s) R10(s) R10(s) R10(s) R10(s) R10(s)
#define R1000(s)	R100(s) R100(s) R100(s) R100(s) R100(s) R100(s) R100(s) R100(s) \
			R100(s) R100(s)

/* Each body gets a distinct asm comment: identical code folding would
 * otherwise merge functions with the same sites into one. */
#define SITES_FN(name, tag, body)					\
	__attribute__((noinline)) unsigned name(unsigned x)		\
	{ __asm__ __volatile__("# " tag); body return x; }

#endif
