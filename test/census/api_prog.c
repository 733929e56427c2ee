/* SPDX-License-Identifier: MIT */
/*
 * The API program of test/header_api.c, built as C and as C++: a function
 * pointer that follows a static call's target (STATIC_CALL_TRAMP_ADDR),
 * static calls typed after a structure member's function pointer, a C++
 * function template as the first target, and arrays of true keys. Exits 0
 * and prints "ok" when every check passes.
 */
#include <stdio.h>
#include <ustatic.h>

static int add1(int x) { return x + 1; }
static int add2(int x) { return x + 2; }
static int hits;
static void note(int by) { hits += by; }

/* Operations chosen at run time, as zlib-ng's functable. */
struct ops {
	int (*op)(int);
	void (*note)(int);
	long (*count)(void);
};
struct ops api_ops = { add1, note, 0 };

/* Typed after a member: through a null pointer or through an object. */
DEFINE_STATIC_CALL(api_op, add1);
DEFINE_STATIC_CALL_NULL(api_note, *((struct ops *)0)->note);
DEFINE_STATIC_CALL_RET0(api_count, *api_ops.count);
DECLARE_STATIC_CALL(api_member, *((struct ops *)0)->op);
DEFINE_STATIC_CALL(api_member, add1);

/* True keys, one array with external linkage and one without. */
DEFINE_STATIC_KEY_ARRAY_TRUE(api_true, 3);
static DEFINE_STATIC_KEY_ARRAY_TRUE(api_true_s, 2);

#ifdef __cplusplus
template <int N> int api_t(int x) { return x + N; }
/* A specialization as the first target; another one as the next. */
DEFINE_STATIC_CALL(api_tmpl, api_t<1>);
DECLARE_STATIC_CALL(api_tmpl, decltype(api_t<0>));
/* Several template arguments: in parentheses (the man page says so). */
template <int A, int B> int api_t2(int x) { return x + A * B; }
DEFINE_STATIC_CALL(api_tmpl2, (api_t2<2, 3>));
#endif

static int bad;
#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "line %d: %s\n", __LINE__, #cond);	\
		bad++;							\
	}								\
} while (0)

__attribute__((noinline)) static int branch_true(int i)
{
	switch (i) {
	case 0: return static_branch_likely(&api_true[0]);
	case 1: return static_branch_likely(&api_true[1]);
	case 2: return static_branch_unlikely(&api_true[2]);
	default: return static_branch_unlikely(&api_true_s[1]);
	}
}

/* What deflate does: pick one function into a local pointer, then call
 * it in a loop. The trampoline's address keeps following the target. */
__attribute__((noinline)) static int pick_and_loop(int fast, int n)
{
	int (*fn)(int) = fast ? STATIC_CALL_TRAMP_ADDR(api_op) : add1;
	int s = 0;

	for (int i = 0; i < n; i++)
		s += fn(i);
	return s;
}

int main(void)
{
	int (*op)(int) = STATIC_CALL_TRAMP_ADDR(api_op);
	void (*nt)(int) = STATIC_CALL_TRAMP_ADDR(api_note);
	long (*cnt)(void) = STATIC_CALL_TRAMP_ADDR(api_count);

	/* The pointer follows every update, NULL and RET0 included. */
	EXPECT(op(10) == 11);
	EXPECT(pick_and_loop(1, 4) == 10);
	EXPECT(static_call_update(api_op, add2) == 0);
	EXPECT(op(10) == 12 && static_call(api_op)(10) == 12);
	EXPECT(pick_and_loop(1, 4) == 14 && pick_and_loop(0, 4) == 10);
	EXPECT(op == STATIC_CALL_TRAMP_ADDR(api_op));
	nt(5);
	EXPECT(hits == 0);
	EXPECT(static_call_update(api_note, note) == 0);
	nt(5);
	static_call_cond(api_note)(1);
	EXPECT(hits == 6);
	EXPECT(static_call_update(api_note, NULL) == 0);
	nt(5);
	EXPECT(hits == 6);
	EXPECT(cnt() == 0 && static_call(api_count)() == 0);

	EXPECT(static_call(api_member)(1) == 2);
	EXPECT(static_call_update(api_member, api_ops.op) == 0);
	EXPECT(static_call_update(api_member, add2) == 0);
	EXPECT(static_call(api_member)(1) == 3);

#ifdef __cplusplus
	EXPECT(static_call(api_tmpl)(1) == 2);
	EXPECT(static_call_update(api_tmpl, api_t<5>) == 0);
	EXPECT(static_call(api_tmpl)(1) == 6);
	EXPECT(static_call_query(api_tmpl) == api_t<5>);
	EXPECT(static_call(api_tmpl2)(1) == 7);
	EXPECT(static_call_update(api_tmpl2, (api_t2<4, 5>)) == 0);
	EXPECT(static_call(api_tmpl2)(1) == 21);
#endif

	EXPECT(static_key_enabled(&api_true[0]) && static_key_enabled(&api_true[2]));
	EXPECT(static_key_enabled(&api_true_s[0]) && static_key_enabled(&api_true_s[1]));
	EXPECT(branch_true(0) == 1 && branch_true(1) == 1);
	EXPECT(branch_true(2) == 1 && branch_true(3) == 1);
	EXPECT(static_branch_disable(&api_true[1]) == 0);
	EXPECT(static_branch_disable(&api_true_s[1]) == 0);
	EXPECT(branch_true(0) == 1 && branch_true(1) == 0);
	EXPECT(branch_true(2) == 1 && branch_true(3) == 0);

	if (bad)
		return 1;
	puts("ok");
	return 0;
}
