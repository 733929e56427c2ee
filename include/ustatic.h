/* SPDX-License-Identifier: MIT */
/*
 * ustatic: the Linux kernel's static calls and static keys (jump labels)
 * for multithreaded user-space programs.
 *
 *   DEFINE_STATIC_CALL(hash, hash_generic);
 *   static_call(hash)(buf, len);            // a direct call, retargetable
 *   static_call_update(hash, hash_avx2);    // 0 or -errno
 *
 *   DEFINE_STATIC_KEY_FALSE(tracing);
 *   if (static_branch_unlikely(&tracing))   // one NOP while off
 *           trace(...);
 *   static_branch_enable(&tracing);         // 0 or -errno
 *
 * This header depends on nothing but the compiler (GCC or Clang, C or C++).
 * Every object (executable or shared library) that includes it registers its
 * own call sites and branches from a constructor and unregisters them from a
 * destructor, so dlopen/dlclose just work.
 */
#ifndef USTATIC_H
#define USTATIC_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USTATIC_API __attribute__((visibility("default")))

#if defined(__x86_64__) && !defined(USTATIC_GENERIC)
#define USTATIC_ARCH_X86_64 1
#define USTATIC_PATCHING 1
#elif defined(__aarch64__) && !defined(USTATIC_GENERIC)
#define USTATIC_ARCH_AARCH64 1
#define USTATIC_PATCHING 1
#endif

/* ------------------------------------------------------------------ */
/* Library-wide                                                        */
/* ------------------------------------------------------------------ */

/* How code is written and how other cores are made to see it. */
enum ustatic_write_method { USTATIC_WRITE_NONE, USTATIC_WRITE_MPROTECT,
			    USTATIC_WRITE_PROCMEM };
enum ustatic_sync_method { USTATIC_SYNC_NONE, USTATIC_SYNC_MEMBARRIER,
			   USTATIC_SYNC_SIGNAL };

struct ustatic_stats {
	unsigned long batches;		/* patch batches applied */
	unsigned long patches;		/* instructions replaced */
	unsigned long sync_rounds;	/* cross-core serializations */
	unsigned long traps;		/* int3 traps emulated */
	unsigned long late_traps;	/* traps re-executed after the batch */
	unsigned long trap_free_batches;/* batches applied without any int3 */
	unsigned long refused;		/* batches refused (nothing written) */
	unsigned long objects;		/* registered objects */
	unsigned long trampolines;	/* registered trampolines */
	unsigned long call_sites;	/* inline call sites found */
	unsigned long call_markers;	/* markers that led to no site */
	unsigned long jump_entries;	/* static-branch sites */
	int write_method;		/* enum ustatic_write_method */
	int sync_method;		/* enum ustatic_sync_method */
	unsigned long reserved[8];
};

/* Fills *st with counters since start-up. Returns 0 or -EINVAL. */
USTATIC_API int ustatic_get_stats(struct ustatic_stats *st);

/*
 * Transactions: between begin and commit, static_call_update() and static
 * key changes made by the calling thread are queued and then applied as one
 * patch batch (one set of cross-core serializations for all of them).
 * Nested begins are counted; only the outermost commit applies.
 * ustatic_batch_abort() drops everything queued since the outermost begin.
 */
USTATIC_API int ustatic_batch_begin(void);
USTATIC_API int ustatic_batch_commit(void);
USTATIC_API int ustatic_batch_abort(void);

/* ------------------------------------------------------------------ */
/* Static calls                                                        */
/* ------------------------------------------------------------------ */

/*
 * A static call's key. `func` is what the indirect form of every
 * trampoline jumps to (never NULL: a NULL target is __static_call_nop).
 * Keys live in writable data of the object that defines them.
 */
struct static_call_key {
	void *func;
};

USTATIC_API long ustatic_call_return0(void);
USTATIC_API void ustatic_call_nop(void);
USTATIC_API int ustatic_call_update(struct static_call_key *key, void *func);

/* The kernel's spellings, over the prefixed symbols (as liburcu maps its
 * RCU names), so the library claims no kernel name in the program's
 * global namespace. */
#define __static_call_return0	ustatic_call_return0
#define __static_call_nop	ustatic_call_nop

#define STATIC_CALL_KEY(name)	__SCK__##name
#define STATIC_CALL_TRAMP(name)	__SCT__##name
#define __USTATIC_STR(x)	#x
#define __USTATIC_XSTR(x)	__USTATIC_STR(x)

#ifdef USTATIC_ARCH_X86_64
/*
 * The trampoline's body. It is born in the indirect form:
 *   +0  3d imm32        cmp $imm,%eax   (no-op: flags are dead at a call)
 *   +5  mov KEY@GOTPCREL(%rip),%r11
 *   +12 jmp *(%r11)     through key->func
 *   +15 int3            speculation stop
 * Promotion rewrites only the first instruction into `jmp rel32 target`;
 * demotion puts the `cmp` back. A thread stopped anywhere in the
 * trampoline therefore always lands on a valid target.
 */
#define __USTATIC_TRAMP_BODY(name)					\
	".byte 0x3d\n.long 0\n"					\
	"movq __SCK__" #name "@GOTPCREL(%rip),%r11\n"			\
	"jmpq *(%r11)\n"						\
	"int3\n"
#define __USTATIC_PTR ".quad"
#elif defined(USTATIC_ARCH_AARCH64)
/*
 * bti c (landing pad), then the slot: `nop` falls through to the indirect
 * form through key->func, `b target` is the promoted form.
 */
#define __USTATIC_TRAMP_BODY(name)					\
	"hint #34\n"							\
	"nop\n"							\
	"adrp x16, :got:__SCK__" #name "\n"				\
	"ldr x16, [x16, :got_lo12:__SCK__" #name "]\n"			\
	"ldr x16, [x16]\n"						\
	"br x16\n"
#define __USTATIC_PTR ".quad"
#endif

#ifdef USTATIC_PATCHING
/*
 * The trampoline, one per object per static call: a COMDAT group (so one
 * per object however many translation units use it), emitted at most once
 * per translation unit thanks to .ifndef, hidden so -fPIC code reaches it
 * with a direct call, in the ustatic_text section so all trampolines of an
 * object share a page or two. Its (trampoline, key) pair goes to the
 * object's ustatic_tramps table in the same group.
 */
#define __USTATIC_TRAMP(name)						\
	__asm__(".ifndef __SCT__" #name "\n"				\
		".pushsection ustatic_text,\"axG\",%progbits,__SCT__" #name ",comdat\n" \
		".weak __SCT__" #name "\n"				\
		".hidden __SCT__" #name "\n"				\
		".type __SCT__" #name ",%function\n"			\
		".balign 16\n"						\
		"__SCT__" #name ":\n"					\
		__USTATIC_TRAMP_BODY(name)				\
		".size __SCT__" #name ", . - __SCT__" #name "\n"	\
		".pushsection ustatic_tramps,\"awG\",%progbits,__SCT__" #name ",comdat\n" \
		".balign 8\n"						\
		__USTATIC_PTR " __SCT__" #name "\n"			\
		__USTATIC_PTR " __SCK__" #name "\n"			\
		".popsection\n.popsection\n.endif\n")

/*
 * static_call(name) records a marker just before the call; registration
 * decodes forward from it to the call/jmp/jcc that targets this object's
 * trampoline and rewrites that instruction to reach the target directly.
 */
#define __USTATIC_MARK(name)						\
	__asm__ __volatile__("990:\n"					\
		".pushsection ustatic_sites,\"aR\"\n"			\
		".balign 4\n"						\
		".long 990b - .\n"					\
		".long __SCT__" #name " - .\n"				\
		".popsection\n")
#else
#define __USTATIC_TRAMP(name)
#define __USTATIC_MARK(name)
#endif

#define DECLARE_STATIC_CALL(name, func)					\
	extern struct static_call_key __SCK__##name			\
		__asm__("__SCK__" #name);				\
	extern __typeof__(func) __SCT__##name				\
		__asm__("__SCT__" #name)				\
		__attribute__((visibility("hidden")));			\
	__USTATIC_TRAMP(name)

#define __DEFINE_STATIC_CALL(name, type, init)				\
	DECLARE_STATIC_CALL(name, type);				\
	USTATIC_API struct static_call_key __SCK__##name = { (void *)(init) }

#define DEFINE_STATIC_CALL(name, func)					\
	__DEFINE_STATIC_CALL(name, func, func)
#define DEFINE_STATIC_CALL_NULL(name, type)				\
	__DEFINE_STATIC_CALL(name, type, __static_call_nop)
#define DEFINE_STATIC_CALL_RET0(name, type)				\
	__DEFINE_STATIC_CALL(name, type, __static_call_return0)

#ifdef USTATIC_PATCHING
#define static_call(name)						\
	(*({ __USTATIC_MARK(name); &__SCT__##name; }))
#else
/* Generic: an indirect call through the key. */
#define static_call(name)						\
	(*(__typeof__(&__SCT__##name))__atomic_load_n(			\
		&__SCK__##name.func, __ATOMIC_ACQUIRE))
#endif

/* For void calls whose target may be NULL (then the call does nothing). */
#define static_call_cond(name)	(void)static_call(name)

/* Type-checked like the kernel: func must convert to the call's type. */
#define static_call_update(name, func) ({				\
	__typeof__(&__SCT__##name) __ustatic_f = (func);		\
	ustatic_call_update(&__SCK__##name, (void *)__ustatic_f);	\
})

#define static_call_query(name) ({					\
	void *__ustatic_q = __atomic_load_n(&__SCK__##name.func,	\
					    __ATOMIC_ACQUIRE);		\
	(__typeof__(&__SCT__##name))(__ustatic_q ==			\
		(void *)__static_call_nop ? (void *)0 : __ustatic_q);	\
})

/* ------------------------------------------------------------------ */
/* Static keys (jump labels)                                           */
/* ------------------------------------------------------------------ */

struct static_key {
	int enabled;		/* count (library-private encoding) */
	int initial;		/* value at definition: 0 or 1 */
	int patched;		/* value the code encodes (library-private) */
};
struct static_key_true  { struct static_key key; };
struct static_key_false { struct static_key key; };

#define STATIC_KEY_INIT_TRUE	{ 1, 1, 1 }
#define STATIC_KEY_INIT_FALSE	{ 0, 0, 0 }

/* Like any global, a key another object uses must not be hidden. */
#define DEFINE_STATIC_KEY_TRUE(name)					\
	struct static_key_true name = { STATIC_KEY_INIT_TRUE }
#define DEFINE_STATIC_KEY_FALSE(name)					\
	struct static_key_false name = { STATIC_KEY_INIT_FALSE }
#define DECLARE_STATIC_KEY_TRUE(name)	extern struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name)	extern struct static_key_false name
/* All-zero is a false key, so a false array needs no initializer. */
#define DEFINE_STATIC_KEY_ARRAY_FALSE(name, count)			\
	struct static_key_false name[count]
#ifndef __cplusplus
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	struct static_key_true name[count] =				\
		{ [0 ... (count) - 1] = { STATIC_KEY_INIT_TRUE } }
#else
/* C++ has no range designators; write the initializers out instead. */
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	static_assert(false, "DEFINE_STATIC_KEY_ARRAY_TRUE is C only")
#endif

USTATIC_API int ustatic_key_slow_inc(struct static_key *key);
USTATIC_API int ustatic_key_slow_dec(struct static_key *key);
USTATIC_API int ustatic_key_enable(struct static_key *key);
USTATIC_API int ustatic_key_disable(struct static_key *key);
USTATIC_API int ustatic_key_count(struct static_key *key);

#define static_key_slow_inc	ustatic_key_slow_inc
#define static_key_slow_dec	ustatic_key_slow_dec
#define static_key_enable	ustatic_key_enable
#define static_key_disable	ustatic_key_disable
#define static_key_count	ustatic_key_count

#define __USTATIC_KEY(x)	(&(x)->key)
#define static_branch_inc(x)	static_key_slow_inc(__USTATIC_KEY(x))
#define static_branch_dec(x)	static_key_slow_dec(__USTATIC_KEY(x))
#define static_branch_enable(x)	static_key_enable(__USTATIC_KEY(x))
#define static_branch_disable(x) static_key_disable(__USTATIC_KEY(x))
#define static_key_enabled(x)	(static_key_count(__USTATIC_KEY(x)) > 0)

#ifdef __cplusplus
} /* extern "C" */
template <typename T> struct __ustatic_is_true { enum { value = 0 }; };
template <> struct __ustatic_is_true<struct static_key_true> { enum { value = 1 }; };
#define __USTATIC_IS_TRUE(x)	(__ustatic_is_true<__typeof__(*(x))>::value)
extern "C" {
#else
#define __USTATIC_IS_TRUE(x)						\
	__builtin_types_compatible_p(__typeof__(*(x)), struct static_key_true)
#endif

#ifdef USTATIC_ARCH_X86_64
/* A symbol's address as an asm operand ("i" is refused for it under -fPIC
 * on AArch64, where "S" means exactly a symbolic address). */
#define __USTATIC_SYM "i"
/* NOP5, or a 5-byte `jmp l_yes`. */
#define __USTATIC_JUMP_INSNS						\
	".if %c[jmp]\n"							\
	".byte 0xe9\n.long %l[__ustatic_yes] - (. + 4)\n"		\
	".else\n"							\
	".byte 0x0f,0x1f,0x44,0x00,0x00\n"				\
	".endif\n"
#elif defined(USTATIC_ARCH_AARCH64)
#define __USTATIC_SYM "S"
/* NOP, or `b l_yes`. */
#define __USTATIC_JUMP_INSNS						\
	".if %c[jmp]\n"							\
	"b %l[__ustatic_yes]\n"					\
	".else\n"							\
	"nop\n"								\
	".endif\n"
#endif

#ifdef USTATIC_PATCHING
/*
 * One instruction in the hot path, a NOP or a jump to l_yes, with the
 * other path out of line. As in the kernel, the site holds a jump exactly
 * when (key enabled) XOR (branch is "likely"). The jump entry records the
 * site, l_yes, the key (through a per-site hidden pointer, which keeps
 * -fPIC code free of text relocations) and the likely bit.
 */
#define __USTATIC_BRANCH(x, jump_at_build, likely) ({			\
	__label__ __ustatic_yes, __ustatic_out;				\
	static struct static_key *const __ustatic_ref			\
		__attribute__((used)) = __USTATIC_KEY(x);		\
	int __ustatic_r;						\
	__asm__ __volatile__ goto("991:\n"				\
		__USTATIC_JUMP_INSNS					\
		".pushsection ustatic_jumps,\"aR\"\n"			\
		".balign 4\n"						\
		".long 991b - .\n"					\
		".long %l[__ustatic_yes] - .\n"				\
		".long %c[ref] - .\n"					\
		".long %c[lik]\n"					\
		".popsection\n"						\
		: : [ref] __USTATIC_SYM(&__ustatic_ref), [jmp] "i"(jump_at_build),\
		    [lik] "i"(likely) : : __ustatic_yes);		\
	__ustatic_r = 0; goto __ustatic_out;				\
__ustatic_yes:								\
	__ustatic_r = 1;						\
__ustatic_out:								\
	__ustatic_r; })

/* JMP at build iff initial XOR likely (see above). */
#define static_branch_likely(x)						\
	(__builtin_expect(!__USTATIC_BRANCH(x, !__USTATIC_IS_TRUE(x), 1), 1))
#define static_branch_unlikely(x)					\
	(__builtin_expect(__USTATIC_BRANCH(x, __USTATIC_IS_TRUE(x), 0), 0))
#else
#define static_branch_likely(x)						\
	__builtin_expect(__atomic_load_n(&(x)->key.enabled, __ATOMIC_ACQUIRE) > 0, 1)
#define static_branch_unlikely(x)					\
	__builtin_expect(__atomic_load_n(&(x)->key.enabled, __ATOMIC_ACQUIRE) > 0, 0)
#endif

/* ------------------------------------------------------------------ */
/* Per-object registration (emitted into every object that uses us)    */
/* ------------------------------------------------------------------ */

struct ustatic_object_tables {
	const void *id;			/* unique per object: its ret stub */
	const void *tramps_start, *tramps_stop;
	const void *sites_start, *sites_stop;
	const void *jumps_start, *jumps_stop;
	const void *ret_stub, *ret0_stub;
};
USTATIC_API void ustatic_object_register(const struct ustatic_object_tables *t);
USTATIC_API void ustatic_object_unregister(const struct ustatic_object_tables *t);

#if defined(USTATIC_PATCHING) && !defined(USTATIC_BUILDING_LIBRARY)
/*
 * Per-object stubs that sites jump to for NULL (return) and RET0 (return
 * 0): a site can reach them even when the library itself is 40,000 GiB
 * away. The ret stub also names the object.
 */
#ifdef USTATIC_ARCH_X86_64
#define __USTATIC_STUBS							\
	"__ustatic_ret_stub:\nret\nint3\n"				\
	"__ustatic_ret0_stub:\nxorl %eax,%eax\nret\nint3\n"
#else
#define __USTATIC_STUBS							\
	"__ustatic_ret_stub:\nret\n"					\
	"__ustatic_ret0_stub:\nmov x0, #0\nret\n"
#endif
__asm__(".ifndef __ustatic_ret_stub\n"
	".pushsection ustatic_text,\"axG\",%progbits,__ustatic_ret_stub,comdat\n"
	".balign 16\n"
	".weak __ustatic_ret_stub\n.hidden __ustatic_ret_stub\n"
	".weak __ustatic_ret0_stub\n.hidden __ustatic_ret0_stub\n"
	__USTATIC_STUBS
	".popsection\n.endif\n");

extern const char __ustatic_ret_stub[] __attribute__((visibility("hidden")));
extern const char __ustatic_ret0_stub[] __attribute__((visibility("hidden")));
#define __USTATIC_SECTION_BOUNDS(sec)					\
	extern const char __start_##sec[]				\
		__attribute__((weak, visibility("hidden")));		\
	extern const char __stop_##sec[]				\
		__attribute__((weak, visibility("hidden")))
__USTATIC_SECTION_BOUNDS(ustatic_tramps);
__USTATIC_SECTION_BOUNDS(ustatic_sites);
__USTATIC_SECTION_BOUNDS(ustatic_jumps);

static const struct ustatic_object_tables __ustatic_this_object = {
	__ustatic_ret_stub,
	__start_ustatic_tramps, __stop_ustatic_tramps,
	__start_ustatic_sites, __stop_ustatic_sites,
	__start_ustatic_jumps, __stop_ustatic_jumps,
	__ustatic_ret_stub, __ustatic_ret0_stub,
};

/* Idempotent: every translation unit of an object calls them. */
__attribute__((constructor, used)) static void __ustatic_object_ctor(void)
{
	ustatic_object_register(&__ustatic_this_object);
}
__attribute__((destructor, used)) static void __ustatic_object_dtor(void)
{
	ustatic_object_unregister(&__ustatic_this_object);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* USTATIC_H */
