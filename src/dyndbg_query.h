/* SPDX-License-Identifier: MIT */
/* Dynamic-debug queries: parsed, matched against a site, applied to flags. */
#ifndef USTATIC_DYNDBG_QUERY_H
#define USTATIC_DYNDBG_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "debug.h"
#include "dyndbg_core.h"

struct us_query {
	char *file, *func, *module, *format;	/* NULL: any */
	bool has_line;
	unsigned int lo, hi;
	char op;				/* '+', '-' or '=' */
	unsigned int mask;			/* US_DD_* */
};

/* Parses every query of s into a malloc'd array. 0, or -EINVAL with
 * "column N: what 'word'" in err (-ENOMEM: "out of memory"). */
int us_queries_parse(const char *s, struct us_query **out, size_t *n,
		     char *err, size_t errlen);
void us_query_free(struct us_query *q);
void us_queries_free(struct us_query *q, size_t n);

bool us_query_matches(const struct us_query *q,
		      const struct ustatic_dbg_site *s);
unsigned int us_query_apply(const struct us_query *q, unsigned int flags);
/* later, applied after earlier, leaves nothing of earlier's effect. */
bool us_query_overrides(const struct us_query *later,
			const struct us_query *earlier);
/* q is "=_" on every site. */
bool us_query_clears_all(const struct us_query *q);

#endif
