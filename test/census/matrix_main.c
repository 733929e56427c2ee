/* SPDX-License-Identifier: MIT */
/*
 * The main program of test/header_matrix.c: flips every key and retargets
 * the static call, and checks what every copy of every site returns, its
 * own and the library's. Prints "ok" and exits 0 when all are right.
 */
#include <stdio.h>
#include "matrix.h"

M_UNIT_DEFINE(m_unit0, m_use0);

struct state {
	int op2, off, on, k1, k2;
};

static int check(const struct state *s)
{
	const struct m_unit *units[] = { &m_unit0, &m_unit1, &m_unit2 };
	int bad = 0;

	for (int i = 0; i < 3; i++) {
		const struct m_unit *u = units[i];
		int x = 5 + i;
		int inl = x + (s->op2 ? 2 : 1) + (s->off ? 100 : 0) +
			  (s->on ? 1000 : 0);
		int t1 = x + (s->k1 ? 10 : 0), t2 = x + (s->k2 ? 20 : 0);

		if (u->inl(x) != inl || u->tmpl1(x) != t1 ||
		    u->tmpl2(x) != t2 || u->use(x) != inl + t1 + t2) {
			fprintf(stderr, "unit %d in state %d%d%d%d%d: %d %d %d %d\n",
				i, s->op2, s->off, s->on, s->k1, s->k2,
				u->inl(x), u->tmpl1(x), u->tmpl2(x), u->use(x));
			bad++;
		}
	}
	return bad;
}

static int set(const struct state *s)
{
	int err = 0;

	err |= static_call_update(m_op, s->op2 ? m_add2 : m_add1);
	err |= s->off ? static_branch_enable(&m_off) : static_branch_disable(&m_off);
	err |= s->on ? static_branch_enable(&m_on) : static_branch_disable(&m_on);
	err |= s->k1 ? static_branch_enable(&m_keys[1]) :
		       static_branch_disable(&m_keys[1]);
	err |= s->k2 ? static_branch_enable(&m_keys[2]) :
		       static_branch_disable(&m_keys[2]);
	return err != 0;
}

int main(void)
{
	static const struct state states[] = {
		{ 0, 0, 1, 0, 0 }, { 1, 1, 0, 1, 0 }, { 0, 1, 1, 0, 1 },
		{ 1, 0, 0, 1, 1 }, { 0, 0, 1, 0, 0 },
	};
	int bad = check(&states[0]);

	for (size_t i = 1; i < sizeof(states) / sizeof(states[0]); i++) {
		bad += set(&states[i]);
		bad += check(&states[i]);
	}
	if (bad)
		return 1;
	puts("ok");
	return 0;
}
