/* THROWAWAY stub of the dyndbg-core contract (deleted at the merge). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "dyndbg_stub.h"

static int flags_p[3];

int us_dyndbg_query(const char *q, char *err, size_t errlen)
{
	if (!strcmp(q, "file net.c +p")) { int n = !flags_p[0] + !flags_p[1]; flags_p[0] = flags_p[1] = 1; return n; }
	if (!strcmp(q, "file net.c -p")) { int n = flags_p[0] + flags_p[1]; flags_p[0] = flags_p[1] = 0; return n; }
	if (!strncmp(q, "file ", 5)) return 0;
	snprintf(err, errlen, "column 1: unknown keyword '%.20s'", q);
	return -EINVAL;
}

int us_dyndbg_list(us_emit_fn emit, void *ctx)
{
	char l[200];
	for (int i = 0; i < 3; i++) {
		snprintf(l, sizeof(l), "%s:%d [stub]f%d =%s \"hello %d\\n\"", i < 2 ? "net.c" : "db.c", 10 + i, i, flags_p[i] ? "p" : "_", i);
		int r = emit(ctx, l);
		if (r) return r;
	}
	return 0;
}

int us_names_list(us_emit_fn emit, void *ctx)
{
	int r = emit(ctx, "key stub:k1 disabled count 0");
	return r ? r : emit(ctx, "call stub:c1 target f+0x0");
}

int us_names_key_op(const char *name, enum us_key_op op, char *err, size_t errlen)
{
	if (strcmp(name, "k1")) { snprintf(err, errlen, "no key named '%s'", name); return -ENOENT; }
	return op == US_KEY_COUNT ? 0 : 0;
}
