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
 * This header depends on nothing but the compiler (GCC or Clang, C99 or
 * C++11 and later).
 * Every object (executable or shared library) that includes it registers its
 * own call sites and branches from a constructor and unregisters them from a
 * destructor, so dlopen/dlclose just work.
 */
#ifndef USTATIC_H
#define USTATIC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * In C++, static branches prove with constexpr that their key is a global
 * object (C does it with a static initializer): without that check, a key
 * that is a parameter or an automatic variable would compile and crash
 * the program before main.
 */
#if defined(__cplusplus) && __cplusplus < 201103L
#error "ustatic.h needs C++11 or later (-std=c++11): static branches check their key with constexpr"
#endif

/* The x86-64 tables hold 64-bit pointers; x32 has 32-bit ones. */
#if defined(__x86_64__) && defined(__ILP32__) && !defined(USTATIC_GENERIC)
#error "ustatic.h: -mx32 is not supported (build with -m64, or with -DUSTATIC_GENERIC and the generic library)"
#endif

#ifdef __cplusplus
/* The function type in a decltype(): F for fn, F & for *pointer. */
template <typename T> struct __ustatic_fn { typedef T type; };
template <typename T> struct __ustatic_fn<T &> { typedef T type; };

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
	unsigned long refused;		/* changes that failed (each call once) */
	unsigned long objects;		/* registered objects */
	unsigned long trampolines;	/* registered trampolines */
	unsigned long call_sites;	/* inline call sites found */
	unsigned long call_markers;	/* markers that led to no site */
	unsigned long jump_entries;	/* static-branch sites */
	int write_method;		/* enum ustatic_write_method */
	int sync_method;		/* enum ustatic_sync_method */
	unsigned long mask_scans;	/* reads of every thread's signal mask */
	unsigned long reserved[7];
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

/*
 * Control from outside the process (ustatic-ctl(1)): a thread serves a
 * Unix socket, $XDG_RUNTIME_DIR/ustatic/PID.sock or /tmp/ustatic-UID/PID.sock
 * (mode 0600, in a private directory; peers of the same uid or root only),
 * through which the debug sites and the named static keys and static calls
 * are listed and changed. USTATIC_CONTROL=1 starts it at start-up. Start:
 * 0, or -EALREADY, or -errno (no usable directory, socket, thread). Stop
 * (joins the thread, closes every descriptor, removes the socket): 0 or
 * -ESRCH when not serving. A fork child does not serve.
 */
USTATIC_API int ustatic_control_start(void);
USTATIC_API int ustatic_control_stop(void);

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

/*
 * Each static call has three symbols:
 *   __SCK__name  the key, in the object that defines it; every object
 *                that calls the static call reads it (its trampoline
 *                does), so it is exported when other objects may call;
 *   __SCU__name  a function, also defined there, that returns the key:
 *                static_call_update() goes through it, so it is exported
 *                only when other objects may update (in the kernel, only
 *                EXPORT_STATIC_CALL exports the key, EXPORT_STATIC_CALL_TRAMP
 *                just the trampoline);
 *   __SCT__name  the trampoline, one per object that calls, hidden.
 */
#define STATIC_CALL_KEY(name)	__SCK__##name
#define STATIC_CALL_TRAMP(name)	__SCT__##name
#define __USTATIC_STR(x)	#x
#define __USTATIC_XSTR(x)	__USTATIC_STR(x)

/*
 * Trampolines are emitted for every build of these architectures, the
 * generic one included: they are what STATIC_CALL_TRAMP_ADDR() returns.
 * Only patching builds rewrite them.
 */
#if defined(__x86_64__) && !defined(__ILP32__)
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
#elif defined(__aarch64__)
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

#ifdef __USTATIC_TRAMP_BODY
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

/* A function pointer that always calls the current target: this object's
 * trampoline. */
#define STATIC_CALL_TRAMP_ADDR(name)	(&__SCT__##name)
#else
#define __USTATIC_TRAMP(name)
#define STATIC_CALL_TRAMP_ADDR(name) __extension__ ({			\
	__USTATIC_STATIC_ASSERT(sizeof(__SCK__##name) == 0,		\
		"STATIC_CALL_TRAMP_ADDR needs a trampoline, and ustatic.h "\
		"has none for this architecture");			\
	(__typeof__(&__SCT__##name))0; })
#endif

#ifdef USTATIC_PATCHING
/*
 * static_call(name) records a marker just before the call; registration
 * decodes forward from it to the call/jmp/jcc that targets this object's
 * trampoline and rewrites that instruction to reach the target directly.
 * The record joins the section group of the code it is in ("?"): when the
 * linker keeps one copy of a C++ inline function or template, the other
 * copies' records go with their code.
 */
#define __USTATIC_MARK(name)						\
	__asm__ __volatile__("990:\n"					\
		".pushsection ustatic_sites,\"aR?\"\n"			\
		".balign 4\n"						\
		".long 990b - .\n"					\
		".long __SCT__" #name " - .\n"				\
		".popsection\n")
#else
#define __USTATIC_MARK(name)
#endif

#define DECLARE_STATIC_CALL(name, func)					\
	extern struct static_call_key __SCK__##name			\
		__asm__("__SCK__" #name);				\
	extern __typeof__(func) __SCT__##name				\
		__asm__("__SCT__" #name)				\
		__attribute__((visibility("hidden")));			\
	extern struct static_call_key *__SCU__##name(void)		\
		__asm__("__SCU__" #name);				\
	__USTATIC_TRAMP(name)

/*
 * The function type of func. In C++, decltype also takes a function
 * template specialization (fn<0>), which __typeof__ cannot resolve.
 */
#ifdef __cplusplus
#define __USTATIC_FUNC_TYPE(func)	__ustatic_fn<decltype(func)>::type
#else
#define __USTATIC_FUNC_TYPE(func)	__typeof__(func)
#endif

/*
 * Who else may use it: the key's visibility (others call), the update
 * function's (others update), and a mark that EXPORT_STATIC_CALL*()
 * check: 3 for both, 2 for calls only, 1 for this object only.
 */
#define __DEFINE_STATIC_CALL(name, type, init, kvis, uvis, scope)	\
	DECLARE_STATIC_CALL(name, type);				\
	kvis struct static_call_key __SCK__##name =			\
		{ __extension__ (void *)(init) };			\
	uvis struct static_call_key *__SCU__##name(void)		\
	{								\
		return &__SCK__##name;					\
	}								\
	__USTATIC_NAME(name, &__SCK__##name, #name, 1, 1);		\
	typedef char __SCE__##name[scope]

/*
 * Names recorded at definition: each DEFINE_STATIC_KEY_*() and
 * DEFINE_STATIC_CALL*() leaves one record {address, name} in the object's
 * ustatic_names section, which the library reads when the object
 * registers: USTATIC_DEBUG messages and the control interface name keys
 * and static calls by it, with or without -rdynamic. The record is a
 * second declaration after the definition, with its own `static`, so a
 * definition may still begin with `static`.
 */
struct ustatic_name {
	const void *addr;	/* struct static_key *, or struct static_call_key * */
	const char *name;
	unsigned int count;	/* keys in an array, else 1 */
	unsigned int kind;	/* 0: static key, 1: static call */
};
#define __USTATIC_NAME(sym, addr, str, count, kind)			\
	static struct ustatic_name __USN__##sym				\
		__attribute__((section("ustatic_names"), used, aligned(8))) = \
		{ (const void *)(addr), str, count, kind }

#define __USTATIC_HIDDEN __attribute__((visibility("hidden")))

/* Every object may call and update it (the kernel's EXPORT_STATIC_CALL). */
#define DEFINE_STATIC_CALL(name, func)					\
	__DEFINE_STATIC_CALL(name, __USTATIC_FUNC_TYPE(func),		\
		(__USTATIC_FUNC_TYPE(func) *)(func), USTATIC_API,	\
		USTATIC_API, 3)
#define DEFINE_STATIC_CALL_NULL(name, type)				\
	__DEFINE_STATIC_CALL(name, type, __static_call_nop, USTATIC_API,\
		USTATIC_API, 3)
#define DEFINE_STATIC_CALL_RET0(name, type)				\
	__DEFINE_STATIC_CALL(name, type, __static_call_return0,		\
		USTATIC_API, USTATIC_API, 3)

/* Only this object (executable or shared library) may call or update it:
 * its name is free in every other object. */
#define DEFINE_STATIC_CALL_HIDDEN(name, func)				\
	__DEFINE_STATIC_CALL(name, __USTATIC_FUNC_TYPE(func),		\
		(__USTATIC_FUNC_TYPE(func) *)(func), __USTATIC_HIDDEN,	\
		__USTATIC_HIDDEN, 1)
#define DEFINE_STATIC_CALL_NULL_HIDDEN(name, type)			\
	__DEFINE_STATIC_CALL(name, type, __static_call_nop,		\
		__USTATIC_HIDDEN, __USTATIC_HIDDEN, 1)
#define DEFINE_STATIC_CALL_RET0_HIDDEN(name, type)			\
	__DEFINE_STATIC_CALL(name, type, __static_call_return0,		\
		__USTATIC_HIDDEN, __USTATIC_HIDDEN, 1)

/* Every object may call it, only this one may update it (the kernel's
 * EXPORT_STATIC_CALL_TRAMP). */
#define DEFINE_STATIC_CALL_CALLONLY(name, func)				\
	__DEFINE_STATIC_CALL(name, __USTATIC_FUNC_TYPE(func),		\
		(__USTATIC_FUNC_TYPE(func) *)(func), USTATIC_API,	\
		__USTATIC_HIDDEN, 2)
#define DEFINE_STATIC_CALL_NULL_CALLONLY(name, type)			\
	__DEFINE_STATIC_CALL(name, type, __static_call_nop, USTATIC_API,\
		__USTATIC_HIDDEN, 2)
#define DEFINE_STATIC_CALL_RET0_CALLONLY(name, type)			\
	__DEFINE_STATIC_CALL(name, type, __static_call_return0,		\
		USTATIC_API, __USTATIC_HIDDEN, 2)

#ifdef __cplusplus
#define __USTATIC_STATIC_ASSERT(cond, msg)	static_assert(cond, msg)
#else
#define __USTATIC_STATIC_ASSERT(cond, msg)	__extension__ _Static_assert(cond, msg)
#endif

/*
 * The kernel's export macros, for code written for it: in user space
 * what other objects may do is chosen where the static call is defined,
 * and these check that the definition says what they say.
 */
#define EXPORT_STATIC_CALL(name)					\
	__USTATIC_STATIC_ASSERT(sizeof(__SCE__##name) == 3,		\
		"EXPORT_STATIC_CALL(" #name "): other objects may update "	\
		"only a static call defined with DEFINE_STATIC_CALL*() "	\
		"(not _HIDDEN or _CALLONLY)")
#define EXPORT_STATIC_CALL_GPL(name)	EXPORT_STATIC_CALL(name)
#define EXPORT_STATIC_CALL_TRAMP(name)					\
	__USTATIC_STATIC_ASSERT(sizeof(__SCE__##name) == 2,		\
		"EXPORT_STATIC_CALL_TRAMP(" #name "): to let other objects "	\
		"call but not update it, define it with "		\
		"DEFINE_STATIC_CALL*_CALLONLY()")
#define EXPORT_STATIC_CALL_TRAMP_GPL(name) EXPORT_STATIC_CALL_TRAMP(name)

#ifdef USTATIC_PATCHING
#define static_call(name)						\
	(*__extension__ ({ __USTATIC_MARK(name); &__SCT__##name; }))
#else
/* Generic: an indirect call through the key. */
#define static_call(name)						\
	(*__extension__ (__typeof__(&__SCT__##name))__atomic_load_n(	\
		&__SCK__##name.func, __ATOMIC_ACQUIRE))
#endif

/* For void calls whose target may be NULL (then the call does nothing). */
#define static_call_cond(name)	(void)static_call(name)

/* Type-checked like the kernel: func must convert to the call's type. */
#define static_call_update(name, func) __extension__ ({			\
	__typeof__(&__SCT__##name) __ustatic_f = (func);		\
	ustatic_call_update(__SCU__##name(), (void *)__ustatic_f);	\
})

#define static_call_query(name) __extension__ ({			\
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

#define STATIC_KEY_INIT_TRUE	{ 1, 1, 1 }
#define STATIC_KEY_INIT_FALSE	{ 0, 0, 0 }

/*
 * From C++14, a true key is true without an initializer: C++ has no
 * range designators, and this is how an array of them gets its values. It
 * stays an aggregate, initialized at compile time (C++11 would make it
 * a class with a constructor).
 */
#if defined(__cplusplus) && __cplusplus >= 201402L
struct static_key_true  { struct static_key key = STATIC_KEY_INIT_TRUE; };
#else
struct static_key_true  { struct static_key key; };
#endif
struct static_key_false { struct static_key key; };

/* Like any global, a key another object uses must not be hidden. */
#define DEFINE_STATIC_KEY_TRUE(name)					\
	struct static_key_true name = { STATIC_KEY_INIT_TRUE };		\
	__USTATIC_NAME(name, &name.key, #name, 1, 0)
#define DEFINE_STATIC_KEY_FALSE(name)					\
	struct static_key_false name = { STATIC_KEY_INIT_FALSE };	\
	__USTATIC_NAME(name, &name.key, #name, 1, 0)
#define DECLARE_STATIC_KEY_TRUE(name)	extern struct static_key_true name
#define DECLARE_STATIC_KEY_FALSE(name)	extern struct static_key_false name
/* All-zero is a false key, so a false array needs no initializer. */
#define DEFINE_STATIC_KEY_ARRAY_FALSE(name, count)			\
	struct static_key_false name[count];				\
	__USTATIC_NAME(name, &name[0].key, #name, count, 0)
#if defined(__cplusplus) && __cplusplus >= 201402L
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	struct static_key_true name[count];				\
	__USTATIC_NAME(name, &name[0].key, #name, count, 0)
#elif defined(__cplusplus)
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	static_assert(sizeof(count) == 0,				\
		"DEFINE_STATIC_KEY_ARRAY_TRUE needs C++14 (-std=c++14) in C++")
#endif
/* (C's DEFINE_STATIC_KEY_ARRAY_TRUE is at the end of this header.) */

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

/*
 * A branch's key must be a global object (static storage duration): its
 * address is then a constant, which the linker puts in the jump entry.
 * C proves it with a static initializer, C++ with constexpr: a key that
 * is a pointer parameter or an automatic variable does not compile. The
 * generic build checks the same, so that code stays portable. (A static,
 * not an automatic constexpr: Clang refuses an asm goto that could jump
 * over an initialized automatic variable, which it takes every other
 * branch's to be.) In C, patching builds use the pointer (see below).
 */
#ifdef __cplusplus
#define __USTATIC_KEY_CHECK(x, attr)					\
	static constexpr struct static_key *__ustatic_k			\
		__attribute__((unused)) = __USTATIC_KEY(x);
#else
#define __USTATIC_KEY_CHECK(x, attr)					\
	static struct static_key *const __ustatic_k			\
		__attribute__((attr)) = __USTATIC_KEY(x);
#endif

#ifdef USTATIC_ARCH_X86_64
/*
 * A symbol's address as an asm operand, in every code model and under
 * -fPIC: "i" is refused there for a preemptible symbol, and by GCC for
 * any symbol under -mcmodel=large. GCC's "X" takes the address as it is
 * and %p prints it bare; Clang's "s" takes a symbolic constant and %c
 * prints it bare.
 */
#ifdef __clang__
#define __USTATIC_SYM		"s"
#define __USTATIC_SYMREF(op)	"%c[" #op "]"
#else
#define __USTATIC_SYM		"X"
#define __USTATIC_SYMREF(op)	"%p[" #op "]"
#endif
/* NOP5, or a 5-byte `jmp l_yes`. */
#define __USTATIC_JUMP_INSNS						\
	".if %c[jmp]\n"							\
	".byte 0xe9\n.long %l[__ustatic_yes] - (. + 4)\n"		\
	".else\n"							\
	".byte 0x0f,0x1f,0x44,0x00,0x00\n"				\
	".endif\n"
#elif defined(USTATIC_ARCH_AARCH64)
/* GCC refuses "i" for a symbol under -fPIC and has "S", exactly a
 * symbol's address; Clang (14) takes "i" and refuses "S" in C++. */
#ifdef __clang__
#define __USTATIC_SYM		"i"
#else
#define __USTATIC_SYM		"S"
#endif
#define __USTATIC_SYMREF(op)	"%c[" #op "]"
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
 * Each site's entry refers to its key through a pointer (data relocations
 * only, so -fPIC code has no text relocations). In C that pointer is the
 * static the check above defines, a local symbol. In C++ a static in an
 * inline function or template has vague linkage: a weak, preemptible
 * symbol that -fPIC code cannot name in a constant. There the check's
 * constexpr pointer is only read, as a constant operand, and the asm
 * emits the pointer itself; "0 +" makes the assembler refuse anything
 * but a symbol (should a compiler ever pass a register).
 */
#ifdef __cplusplus
#define __USTATIC_REF_ASM						\
	".pushsection .data.rel.ro.ustatic_keys,\"aw?\"\n"		\
	".balign 8\n"							\
	"992:\n" __USTATIC_PTR " 0 + " __USTATIC_SYMREF(ref) "\n"	\
	".popsection\n"
#define __USTATIC_REF_ENTRY	".long 992b - .\n"
#define __USTATIC_REF_OP	__ustatic_k
#else
#define __USTATIC_REF_ASM	""
#define __USTATIC_REF_ENTRY	".long " __USTATIC_SYMREF(ref) " - .\n"
#define __USTATIC_REF_OP	&__ustatic_k
#endif

/*
 * One instruction in the hot path, a NOP or a jump to l_yes, with the
 * other path out of line. As in the kernel, the site holds a jump exactly
 * when (key enabled) XOR (branch is "likely"). The jump entry records the
 * site, l_yes, the pointer to the key and the likely bit. It joins the
 * section group of the code it is in ("?"), as static_call()'s record
 * does: a discarded copy of a C++ inline function takes its entries along.
 */
#define __USTATIC_BRANCH(x, jump_at_build, likely) __extension__ ({	\
	__label__ __ustatic_yes, __ustatic_out;				\
	__USTATIC_KEY_CHECK(x, used)					\
	int __ustatic_r;						\
	__asm__ __volatile__ goto("991:\n"				\
		__USTATIC_JUMP_INSNS					\
		__USTATIC_REF_ASM					\
		".pushsection ustatic_jumps,\"aR?\"\n"			\
		".balign 4\n"						\
		".long 991b - .\n"					\
		".long %l[__ustatic_yes] - .\n"				\
		__USTATIC_REF_ENTRY					\
		".long %c[lik]\n"					\
		".popsection\n"						\
		: : [ref] __USTATIC_SYM(__USTATIC_REF_OP),		\
		    [jmp] "i"(jump_at_build), [lik] "i"(likely)		\
		: : __ustatic_yes);					\
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
#define __USTATIC_LOAD(x) __extension__ ({				\
	__USTATIC_KEY_CHECK(x, unused)					\
	__atomic_load_n(&(x)->key.enabled, __ATOMIC_ACQUIRE) > 0; })
#define static_branch_likely(x)		__builtin_expect(__USTATIC_LOAD(x), 1)
#define static_branch_unlikely(x)	__builtin_expect(__USTATIC_LOAD(x), 0)
#endif

/* ------------------------------------------------------------------ */
/* Dynamic debug (the kernel's pr_debug and dynamic_debug/control)     */
/* ------------------------------------------------------------------ */

/*
 * A debug site: its own static key (off: the site is one NOP) and where
 * it is, for queries. The library fills in `module` and owns `flags`
 * (which decorations print).
 */
struct ustatic_dbg_site {
	struct static_key_false key;
	unsigned int flags;		/* library-private */
	unsigned int line;
	const char *file, *func, *format;
	const char *module;		/* set when the object registers */
};

/*
 * The site is an ordinary static; a pointer to it goes to the object's
 * ustatic_dbg section from an asm in the code, joining the code's section
 * group ("?") as jump entries do. Not a section attribute on the site:
 * GCC ignores that on a static in a C++ template. Writable ("w"): the
 * pointers are relocated at load time. A copy of the code (inlining,
 * cloning) repeats the pointer; the library drops the repeats.
 */
#ifdef USTATIC_PATCHING
#define __USTATIC_DBG_REF(var)						\
	__asm__ __volatile__(".pushsection ustatic_dbg,\"awR?\"\n"	\
		".balign 8\n"						\
		__USTATIC_PTR " " __USTATIC_SYMREF(site) "\n"		\
		".popsection\n" : : [site] __USTATIC_SYM(&var))
#else
#define __USTATIC_DBG_REF(var)	((void)0)
#endif
#define __USTATIC_DBG_SITE(var, fmt)					\
	static struct ustatic_dbg_site var __attribute__((used)) =	\
		{ { STATIC_KEY_INIT_FALSE }, 0, __LINE__, __FILE__,	\
		  __func__, fmt, (const char *)0 };			\
	__USTATIC_DBG_REF(var)

/* Prints one line for the site (called only when it is enabled). */
USTATIC_API void ustatic_dyndbg_print(struct ustatic_dbg_site *site,
				      const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * ustatic_pr_debug("fmt", args...): prints when a query enabled the site
 * (+p), as the kernel's pr_debug(); a NOP otherwise. The format must be a
 * string literal (it goes into the site's record). The first argument is
 * taken apart from the rest without GNU's `, ##__VA_ARGS__`.
 */
#define __USTATIC_FIRST(fmt, ...)	fmt
#define __USTATIC_PR_DEBUG(fmt, ...) do {				\
	__USTATIC_DBG_SITE(__ustatic_dd, fmt);				\
	if (static_branch_unlikely(&__ustatic_dd.key))			\
		ustatic_dyndbg_print(&__ustatic_dd, __VA_ARGS__);	\
} while (0)
#define ustatic_pr_debug(...)						\
	__USTATIC_PR_DEBUG(__USTATIC_FIRST(__VA_ARGS__, ""), __VA_ARGS__)

/* The block form: `if (ustatic_debug_enabled()) { ... }` is a site of its
 * own (an empty format), true when a query enabled it. */
#define ustatic_debug_enabled() __extension__ ({			\
	__USTATIC_DBG_SITE(__ustatic_dd, "");				\
	static_branch_unlikely(&__ustatic_dd.key); })

/* Runs queries (`file net.c +p; func parse* =pfl`): the number of sites
 * whose flags changed, or -errno (-EINVAL: malformed, nothing changed). */
USTATIC_API int ustatic_dyndbg_query(const char *query);

/* Where enabled sites print: a line (no newline) with its length. NULL
 * restores stderr. Returns 0, or -EDEADLK from inside a sink. */
USTATIC_API int ustatic_dyndbg_set_sink(void (*sink)(void *ctx,
						     const char *line,
						     size_t len), void *ctx);

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

/* Since 0.3: the tables above and the names and debug sites. Objects
 * built with an older header call ustatic_object_register(). */
struct ustatic_object_tables2 {
	struct ustatic_object_tables base;
	const void *names_start, *names_stop;
	const void *dbg_start, *dbg_stop;
};
USTATIC_API void ustatic_object_register2(const struct ustatic_object_tables2 *t);

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
__USTATIC_SECTION_BOUNDS(ustatic_names);
__USTATIC_SECTION_BOUNDS(ustatic_dbg);

static const struct ustatic_object_tables2 __ustatic_this_object = {
	{
		__ustatic_ret_stub,
		__start_ustatic_tramps, __stop_ustatic_tramps,
		__start_ustatic_sites, __stop_ustatic_sites,
		__start_ustatic_jumps, __stop_ustatic_jumps,
		__ustatic_ret_stub, __ustatic_ret0_stub,
	},
	__start_ustatic_names, __stop_ustatic_names,
	__start_ustatic_dbg, __stop_ustatic_dbg,
};

/* Idempotent: every translation unit of an object calls them. */
__attribute__((constructor, used)) static void __ustatic_object_ctor(void)
{
	ustatic_object_register2(&__ustatic_this_object);
}
__attribute__((destructor, used)) static void __ustatic_object_dtor(void)
{
	ustatic_object_unregister(&__ustatic_this_object.base);
}
#endif

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
/*
 * C's true key arrays need the GNU range designator: ISO C has no other
 * way to give `count` elements one value, and -Wpedantic warns about it.
 * __extension__ cannot silence it, as it cannot follow the `static` that
 * a definition may begin with. So Clang's warning is turned off around
 * it, and GCC, which takes no pragma inside a declaration, sees the rest
 * of this header as a system header (it reports nothing in what a system
 * header's macro expands to). Hence this comes last.
 */
#ifdef __clang__
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	_Pragma("clang diagnostic push")				\
	_Pragma("clang diagnostic ignored \"-Wgnu-designator\"")	\
	struct static_key_true name[count] =				\
		{ [0 ... (count) - 1] = { STATIC_KEY_INIT_TRUE } }	\
	_Pragma("clang diagnostic pop");				\
	__USTATIC_NAME(name, &name[0].key, #name, count, 0)
#else
#if __INCLUDE_LEVEL__ > 0
#pragma GCC system_header
#endif
#define DEFINE_STATIC_KEY_ARRAY_TRUE(name, count)			\
	struct static_key_true name[count] =				\
		{ [0 ... (count) - 1] = { STATIC_KEY_INIT_TRUE } };	\
	__USTATIC_NAME(name, &name[0].key, #name, count, 0)
#endif
#endif

#endif /* USTATIC_H */
