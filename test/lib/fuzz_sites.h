/* SPDX-License-Identifier: MIT */
/*
 * The fuzzer's static calls, static keys and the sites that use them,
 * shared by the executable (test/fuzz.c, which defines the calls and keys)
 * and its plugins (test/lib/fuzz_plugin_*.c, which only declare them).
 * Every object that includes this file gets its own copy of every site, so
 * a plugin's sites are registered when it is loaded and unregistered when
 * it is unloaded, while the calls and keys stay in the executable.
 */
#ifndef USTATIC_TEST_FUZZ_SITES_H
#define USTATIC_TEST_FUZZ_SITES_H

#include <ustatic.h>

/* Worker threads; each owns one key of fz_pkf[] and one of fz_pkt[]. */
#define FZ_WORKERS	4
/* Key numbers: 0 fz_sk0, 1 fz_sk1, then fz_pkf[0..3], then fz_pkt[0..3]. */
#define FZ_KEYS		(2 + 2 * FZ_WORKERS)

typedef int fz_ifn(int);
typedef long fz_lfn(long);
typedef void fz_vfn(int);

DECLARE_STATIC_CALL(fz_c0, fz_ifn);
DECLARE_STATIC_CALL(fz_c1, fz_ifn);
DECLARE_STATIC_CALL(fz_l0, fz_lfn);
DECLARE_STATIC_CALL(fz_v0, fz_vfn);
DECLARE_STATIC_KEY_FALSE(fz_sk0);
DECLARE_STATIC_KEY_TRUE(fz_sk1);
extern struct static_key_false fz_pkf[FZ_WORKERS];
extern struct static_key_true fz_pkt[FZ_WORKERS];

/*
 * Every kind of site: [0] a call whose result is used after it returns,
 * [1] a tail call (a jmp), [2] a conditional tail call (a jcc on x86-64
 * where the compiler makes one). fz_v0 has no value: [0] a call, [1] a
 * tail call. branch(key, likely) tests key number `key` with
 * static_branch_likely or static_branch_unlikely: 1 or 0.
 */
struct fz_sites {
	int (*c0[3])(int);
	int (*c1[3])(int);
	long (*l0[3])(long);
	void (*v0[2])(int);
	int (*branch)(int key, int likely);
};

#define FZ_VALUE_SITES(name, type)					\
	static __attribute__((noinline)) type name##_call(type x)	\
	{								\
		type r = static_call(name)(x);				\
									\
		__asm__ __volatile__("" : "+r"(r));			\
		return r;						\
	}								\
	static __attribute__((noinline)) type name##_tail(type x)	\
	{								\
		return static_call(name)(x);				\
	}								\
	static __attribute__((noinline)) type name##_ctail(type x)	\
	{								\
		if (x > 0)						\
			return static_call(name)(x);			\
		return -1;						\
	}

FZ_VALUE_SITES(fz_c0, int)
FZ_VALUE_SITES(fz_c1, int)
FZ_VALUE_SITES(fz_l0, long)

static __attribute__((noinline)) void fz_v0_call(int x)
{
	static_call_cond(fz_v0)(x);
	__asm__ __volatile__("");	/* runs after the call: no tail call */
}

static __attribute__((noinline)) void fz_v0_tail(int x)
{
	static_call_cond(fz_v0)(x);
}

/* A branch needs its key's address as a constant: one case per key. */
#define FZ_BRANCH(n, key)						\
	case n:								\
		if (likely)						\
			return static_branch_likely(key) ? 1 : 0;	\
		return static_branch_unlikely(key) ? 1 : 0;

static __attribute__((noinline)) int fz_branch(int key, int likely)
{
	switch (key) {
	FZ_BRANCH(0, &fz_sk0)
	FZ_BRANCH(1, &fz_sk1)
	FZ_BRANCH(2, &fz_pkf[0])
	FZ_BRANCH(3, &fz_pkf[1])
	FZ_BRANCH(4, &fz_pkf[2])
	FZ_BRANCH(5, &fz_pkf[3])
	FZ_BRANCH(6, &fz_pkt[0])
	FZ_BRANCH(7, &fz_pkt[1])
	FZ_BRANCH(8, &fz_pkt[2])
	FZ_BRANCH(9, &fz_pkt[3])
	}
	return -1;
}
_Static_assert(FZ_WORKERS == 4, "fz_branch() lists the private keys of 4 workers");

static const struct fz_sites fz_sites = {
	{ fz_c0_call, fz_c0_tail, fz_c0_ctail },
	{ fz_c1_call, fz_c1_tail, fz_c1_ctail },
	{ fz_l0_call, fz_l0_tail, fz_l0_ctail },
	{ fz_v0_call, fz_v0_tail },
	fz_branch,
};

#endif
