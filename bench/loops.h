/* SPDX-License-Identifier: MIT */
/* One measured loop: n calls, each depending on the previous result. */
#ifndef USTATIC_BENCH_LOOPS_H
#define USTATIC_BENCH_LOOPS_H

#define LOOP(name, body)						\
	unsigned name(unsigned n, unsigned x)				\
	{								\
		for (unsigned i = 0; i < n; i++) {			\
			body;						\
		}							\
		return x;						\
	}

#define MANY(i)	many_targets[many_seq[(i) & (MANY_SEQ - 1)]]

#endif
