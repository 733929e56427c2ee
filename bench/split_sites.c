/* SPDX-License-Identifier: MIT */
/*
 * libbenchsplit1.so and libbenchsplit2.so (SPLIT_PART=1, 2): 3,333 sites
 * each of static_call(sc_split), whose key the bench executable defines.
 */
#include "sites.h"
#include "split.h"

#define CALL	x = static_call(sc_split)(x);
#define XSTR(s)	STR(s)
#define STR(s)	#s
#define TAG(i)	"split" XSTR(SPLIT_PART) "_" #i

static SITES_FN(part_0, TAG(0), R1000(CALL))
static SITES_FN(part_1, TAG(1), R1000(CALL))
static SITES_FN(part_2, TAG(2), R1000(CALL))
static SITES_FN(part_3, TAG(3), R100(CALL) R100(CALL) R100(CALL)
		R10(CALL) R10(CALL) R10(CALL) R1(CALL) R1(CALL) R1(CALL))

unsigned split_run(unsigned x)
{
	return part_3(part_2(part_1(part_0(x))));
}
