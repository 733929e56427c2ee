/* SPDX-License-Identifier: MIT */
/*
 * The library of test/header_matrix.c, built twice: MATRIX_TU 1 defines
 * the keys and the static call, MATRIX_TU 2 only uses them (see matrix.h).
 */
#include "matrix.h"

#if MATRIX_TU == 1
int m_add1(int x) { return x + 1; }
int m_add2(int x) { return x + 2; }

DEFINE_STATIC_KEY_FALSE(m_off);
DEFINE_STATIC_KEY_TRUE(m_on);
DEFINE_STATIC_KEY_ARRAY_FALSE(m_keys, 4);
DEFINE_STATIC_CALL(m_op, m_add1);

M_UNIT_DEFINE(m_unit1, m_use1);
#else
M_UNIT_DEFINE(m_unit2, m_use2);
#endif
