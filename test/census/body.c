/* SPDX-License-Identifier: MIT */
/*
 * The static-call census program: built by test/static_call_census.c with
 * gcc and clang (C and C++), -O0 to -O3, -Os and -flto, PIE, non-PIE and
 * static. It retargets its calls, checks every result, checks that each
 * inline site found now calls the target directly, and prints how many
 * markers found their site.
 * White-box with CENSUS_INTERNALS (C builds): that check walks the
 * registry (src/registry.h); the C++ builds use the public header only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ustatic.h>

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static void note(int *p) { *p += 1; }

DEFINE_STATIC_CALL(c_add, add1);
DEFINE_STATIC_CALL_NULL(c_note, note);
DEFINE_STATIC_CALL_RET0(c_zero, add1);

#define N __attribute__((noinline))
N int plain(int x) { return static_call(c_add)(x); }
N int tail(int x) { return static_call(c_add)(x + 3); }
N int twice(int x) { return static_call(c_add)(x) * static_call(c_add)(x + 1); }
N int cond(int x) { if (x & 1) return static_call(c_add)(x); return -static_call(c_add)(x); }
N int loop(int n) { int s = 0; for (int i = 0; i < n; i++) s += static_call(c_add)(i); return s; }
N int sel(int x) { return x > 5 ? static_call(c_add)(x) : x; }
N void cnote(int *p) { static_call_cond(c_note)(p); }
N int zero(int x) { return static_call(c_zero)(x) + 100; }
static inline int inl(int x) { return static_call(c_add)(x) + 10; }
N int use_inl(int x) { return inl(x) + inl(x + 1); }

static int check(int d)
{
	int bad = 0, n = 0;

	bad += plain(1) != 1 + d;
	bad += tail(1) != 4 + d;
	bad += twice(2) != (2 + d) * (3 + d);
	bad += cond(3) != 3 + d;
	bad += cond(4) != -(4 + d);
	bad += loop(4) != 6 + 4 * d;
	bad += sel(9) != 9 + d || sel(1) != 1;
	bad += use_inl(1) != (1 + d + 10) + (2 + d + 10);
	cnote(&n);
	bad += n != (d == 2);
	bad += zero(5) != (d == 2 ? 107 : 100);
	return bad;
}

#if !defined(__cplusplus) && defined(__x86_64__) && defined(CENSUS_INTERNALS)
#include "registry.h"
/* Every site found must now transfer straight to the target (or to the
 * per-object stubs for NULL/RET0), never to the trampoline. */
static int sites_direct(void)
{
	int bad = 0;

	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t t = 0; t < o->ntramps; t++)
			for (size_t i = 0; i < o->tramps[t].nsites; i++) {
				int len;
				bool call;
				uint8_t *s = o->tramps[t].sites[i].addr;
				uintptr_t to = x86_branch_target(s, &len, &call);

				if (to == (uintptr_t)o->tramps[t].addr) {
					fprintf(stderr, "site %p still calls its trampoline\n", (void *)s);
					bad++;
				}
			}
	return bad;
}
#else
static int sites_direct(void) { return 0; }
#endif

int main(void)
{
	struct ustatic_stats st;
	int bad = check(1);

	bad += static_call_update(c_add, add2) != 0;
	bad += static_call_update(c_note, note) != 0;
	bad += static_call_update(c_zero, add2) != 0;
	bad += check(2);
	bad += sites_direct();
	bad += static_call_update(c_add, add1) != 0;
	bad += static_call_update(c_note, NULL) != 0;
	bad += static_call_update(c_zero, (int (*)(int))(void *)__static_call_return0) != 0;
	bad += check(1);
	ustatic_get_stats(&st);
	printf("sites %lu markers-without-site %lu bad %d\n", st.call_sites,
	       st.call_markers, bad);
	return bad != 0;
}
