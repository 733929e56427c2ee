/* SPDX-License-Identifier: MIT */
/* The one growable-array helper: doubles *cap until n + 1 items fit. */
#ifndef USTATIC_GROW_H
#define USTATIC_GROW_H

#include <errno.h>
#include <stdlib.h>

#define US_GROW_MIN 16

/* Makes room for one more item after the n in *v. 0 or -ENOMEM. */
static inline int us_grow(void *v, size_t *cap, size_t n, size_t size)
{
	void **p = v, *nv;
	size_t c = *cap ? *cap * 2 : US_GROW_MIN;

	if (n < *cap)
		return 0;
	if (c > (size_t)-1 / size || !(nv = realloc(*p, c * size)))
		return -ENOMEM;
	*p = nv;
	*cap = c;
	return 0;
}

#endif
