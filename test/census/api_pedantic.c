/* SPDX-License-Identifier: MIT */
/*
 * Every macro and function of the public header (dynamic debug too), in one translation unit
 * that test/header_api.c compiles (only) with -Wall -Wextra -Wpedantic
 * -Werror in several C and C++ standards, patching and generic, x86-64
 * and AArch64. Nothing but the public header is included.
 */
#include <ustatic.h>

typedef int api_fn(int);
typedef void api_vfn(int);
typedef long api_lfn(void);

int api_f(int x);
int api_f(int x) { return x + 1; }

DEFINE_STATIC_CALL(api_sc, api_f);
EXPORT_STATIC_CALL(api_sc);
EXPORT_STATIC_CALL_GPL(api_sc);
DEFINE_STATIC_CALL_NULL(api_scn, api_vfn);
DEFINE_STATIC_CALL_RET0(api_scr, api_lfn);
DEFINE_STATIC_CALL_HIDDEN(api_h, api_f);
DEFINE_STATIC_CALL_NULL_HIDDEN(api_hn, api_vfn);
DEFINE_STATIC_CALL_RET0_HIDDEN(api_hr, api_lfn);
DEFINE_STATIC_CALL_CALLONLY(api_c, api_f);
EXPORT_STATIC_CALL_TRAMP(api_c);
EXPORT_STATIC_CALL_TRAMP_GPL(api_c);
DEFINE_STATIC_CALL_NULL_CALLONLY(api_cn, api_vfn);
DEFINE_STATIC_CALL_RET0_CALLONLY(api_cr, api_lfn);
DECLARE_STATIC_CALL(api_ext, api_fn);

DEFINE_STATIC_KEY_TRUE(api_kt);
DEFINE_STATIC_KEY_FALSE(api_kf);
static DEFINE_STATIC_KEY_FALSE(api_ks);
DECLARE_STATIC_KEY_TRUE(api_kt_ext);
DECLARE_STATIC_KEY_FALSE(api_kf_ext);
DEFINE_STATIC_KEY_ARRAY_FALSE(api_kaf, 4);
#if !defined(__cplusplus) || __cplusplus >= 201402L
DEFINE_STATIC_KEY_ARRAY_TRUE(api_kat, 4);
static DEFINE_STATIC_KEY_ARRAY_TRUE(api_kats, 2);
#define API_KAT(i) (&api_kat[i])
#define API_KATS(i) (&api_kats[i])
#else
#define API_KAT(i) (&api_kt)
#define API_KATS(i) (&api_kt)
#endif
static struct static_key_true api_kinit = { STATIC_KEY_INIT_TRUE };
static struct static_key_false api_kinitf = { STATIC_KEY_INIT_FALSE };

int api_calls(int x);
int api_calls(int x)
{
	api_fn *p = STATIC_CALL_TRAMP_ADDR(api_sc);
	int r = static_call(api_sc)(x) + static_call(api_h)(x) +
		static_call(api_c)(x) + static_call(api_ext)(x) + p(x);

	static_call_cond(api_scn)(x);
	static_call_cond(api_hn)(x);
	static_call_cond(api_cn)(x);
	r += (int)(static_call(api_scr)() + static_call(api_hr)() +
		   static_call(api_cr)());
	r += static_call_update(api_sc, api_f) + static_call_update(api_h, api_f);
	r += static_call_update(api_c, api_f) + static_call_update(api_ext, api_f);
	r += static_call_update(api_scn, (api_vfn *)0);
	r += static_call_query(api_sc) == api_f;
	r += static_call_query(api_scr) == (api_lfn *)__static_call_return0;
	r += STATIC_CALL_KEY(api_sc).func != (void *)0;
	r += &STATIC_CALL_TRAMP(api_sc) != STATIC_CALL_TRAMP_ADDR(api_h);
	(void)__static_call_nop;
	return r;
}

int api_branches(int i);
int api_branches(int i)
{
	int r = 0;

	if (static_branch_likely(&api_kt))
		r++;
	if (static_branch_unlikely(&api_kf))
		r++;
	if (static_branch_unlikely(&api_ks))
		r++;
	if (static_branch_likely(&api_kt_ext))
		r++;
	if (static_branch_unlikely(&api_kf_ext))
		r++;
	if (static_branch_unlikely(&api_kaf[2]))
		r++;
	if (static_branch_likely(API_KAT(3)) && static_branch_unlikely(API_KATS(1)))
		r++;
	if (static_branch_likely(&api_kinit) && static_branch_unlikely(&api_kinitf))
		r++;
	r += static_branch_enable(&api_kf) + static_branch_disable(&api_kf);
	r += static_branch_inc(&api_ks) + static_branch_dec(&api_ks);
	r += static_key_enabled(&api_kt) + static_key_count(&api_kf.key);
	r += static_key_enable(&api_kf.key) + static_key_disable(&api_kf.key);
	r += static_key_slow_inc(&api_kf.key) + static_key_slow_dec(&api_kf.key);
	return r + i;
}

int api_library(void);
int api_library(void)
{
	struct ustatic_stats st;
	int r = ustatic_get_stats(&st);

	r += ustatic_batch_begin();
	r += ustatic_batch_abort();
	r += ustatic_batch_begin();
	r += ustatic_batch_commit();
	return r + (int)st.batches;
}

static void api_sink(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	(void)line;
	(void)len;
}

/* Dynamic debug (0.3): both site forms, in a function and in an inline
 * one (C++: a COMDAT copy per translation unit), queries, the sink. */
static inline int api_inline_debug(int x)
{
	ustatic_pr_debug("inline %d\n", x);
	return x;
}

int api_dyndbg(int x);
int api_dyndbg(int x)
{
	int r = 0;

	ustatic_pr_debug("plain\n");
	ustatic_pr_debug("x=%d s=%s\n", x, "str");
	if (ustatic_debug_enabled())
		r++;
	r += ustatic_dyndbg_query("file api_pedantic.c +p");
	r += ustatic_dyndbg_set_sink(api_sink, (void *)0);
	r += ustatic_dyndbg_set_sink((void (*)(void *, const char *, size_t))0,
				     (void *)0);
	return r + api_inline_debug(x);
}
