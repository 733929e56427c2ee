/* SPDX-License-Identifier: MIT */
/* Dynamic debug: stub bodies until the implementation lands. */
#include <errno.h>
#include <stdio.h>

#include "debug.h"
#include "dyndbg.h"

int us_dyndbg_query(const char *query, char *err, size_t errlen)
{
	(void)query;
	snprintf(err, errlen, "dynamic debug: not implemented yet");
	return -ENOSYS;
}

int us_dyndbg_list(us_emit_fn emit, void *ctx)
{
	(void)emit; (void)ctx;
	return -ENOSYS;
}

int us_names_list(us_emit_fn emit, void *ctx)
{
	(void)emit; (void)ctx;
	return -ENOSYS;
}

int us_names_key_op(const char *name, enum us_key_op op, char *err,
		    size_t errlen)
{
	(void)name; (void)op;
	snprintf(err, errlen, "names: not implemented yet");
	return -ENOSYS;
}
