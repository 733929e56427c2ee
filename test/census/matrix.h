/* SPDX-License-Identifier: MIT */
/*
 * The program test/header_matrix.c builds in every mode it tries: two
 * translation units of a library (matrix_lib.c as MATRIX_TU 1 and 2: a
 * -fPIC shared object, or part of the executable) and matrix_main.c, all
 * C or all C++. Each of the three emits its own out-of-line copy of
 * m_inline() and of the m_tmpl instances (they take their addresses): in
 * C++ those are COMDAT copies of which the linker keeps one per object,
 * so the sites and jump entries of the discarded copies must go with them.
 */
#ifndef MATRIX_H
#define MATRIX_H

#include <ustatic.h>

/* Exported even under -fvisibility=hidden: the main program uses them. */
#define M_API __attribute__((visibility("default")))

typedef int m_fn(int);
int m_add1(int x) M_API;
int m_add2(int x) M_API;

DECLARE_STATIC_KEY_FALSE(m_off) M_API;
DECLARE_STATIC_KEY_TRUE(m_on) M_API;
extern struct static_key_false m_keys[4] M_API;
DECLARE_STATIC_CALL(m_op, m_fn);

#ifdef __cplusplus
/* Vague linkage: defined in every translation unit that uses them. */
inline int m_inline(int x)
{
	int r = static_call(m_op)(x);

	if (static_branch_unlikely(&m_off))
		r += 100;
	if (static_branch_likely(&m_on))
		r += 1000;
	return r;
}

template <int N> int m_tmpl(int x)
{
	if (static_branch_unlikely(&m_keys[N]))
		return x + 10 * N;
	return x;
}
#define M_TMPL(n)	m_tmpl<n>
#else
static inline int m_inline(int x)
{
	int r = static_call(m_op)(x);

	if (static_branch_unlikely(&m_off))
		r += 100;
	if (static_branch_likely(&m_on))
		r += 1000;
	return r;
}

#define M_TMPL_DEFINE(N)						\
	static inline int m_tmpl_##N(int x)				\
	{								\
		if (static_branch_unlikely(&m_keys[N]))			\
			return x + 10 * N;				\
		return x;						\
	}
M_TMPL_DEFINE(1)
M_TMPL_DEFINE(2)
#define M_TMPL(n)	m_tmpl_##n
#endif

/* What one translation unit offers: its inline and template copies, and
 * a function that uses them inline. */
struct m_unit {
	int (*inl)(int);
	int (*tmpl1)(int);
	int (*tmpl2)(int);
	int (*use)(int);
};

#define M_UNIT_DEFINE(var, usefn)					\
	static int usefn(int x)						\
	{								\
		return m_inline(x) + M_TMPL(1)(x) + M_TMPL(2)(x);	\
	}								\
	const struct m_unit var = {					\
		m_inline, M_TMPL(1), M_TMPL(2), usefn			\
	}

extern const struct m_unit m_unit0 M_API, m_unit1 M_API, m_unit2 M_API;

#endif
