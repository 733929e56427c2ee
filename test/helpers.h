/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the tests, as liburing's test/helpers.h: static-call
 * targets, functions that hold call and branch sites, checks of W^X and of
 * the executable's code, child processes, the clock and CPUs.
 * test/helpers.c is linked into every test; it needs only the public header.
 */
#ifndef USTATIC_TEST_HELPERS_H
#define USTATIC_TEST_HELPERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ustatic.h>

/*
 * What this build does, from the public header alone, for the black-box
 * tests (test/helpers.c checks that src/arch.h agrees).
 */
#ifdef USTATIC_PATCHING
#define T_PATCHES_CODE	1	/* code is rewritten (x86-64, AArch64) */
#else
#define T_PATCHES_CODE	0	/* the generic fallback */
#endif
#ifdef USTATIC_ARCH_X86_64
#define T_USES_GUARDS	1	/* patches are guarded by int3 */
#else
#define T_USES_GUARDS	0
#endif

/*
 * The C library the tests are built for: glibc, or musl (which, unlike
 * glibc, defines no macro of its own: musl is what is not glibc here).
 * __GLIBC__ comes with any libc header (<pthread.h> above).
 */
#ifdef __GLIBC__
#define T_LIBC_MUSL	0
#else
#define T_LIBC_MUSL	1
#endif
/*
 * Whether dlclose() unloads an object that no one else holds. glibc does,
 * running its destructors; musl's dlclose() never unloads: the object
 * stays mapped, its constructors ran once and its destructors run at exit,
 * and a dlopen() of the same file again returns it as it was.
 */
#define T_DLCLOSE_UNLOADS	(!T_LIBC_MUSL)

/* ---- static-call targets ---- */

/* For 10 they return 11, 12 and 30: t_fabc[k](10) == t_fabc_of_10[k]. */
int t_fa(int x);		/* x + 1 */
int t_fb(int x);		/* x + 2 */
int t_fc(int x);		/* x * 3 */
extern int (*const t_fabc[3])(int);
extern const int t_fabc_of_10[3];
/* Whether r is what one of t_fa, t_fb, t_fc returns for 10. */
bool t_fabc_result(int r);

/* t_ret[k]() returns k: update s goes to t_ret[s % 4] (test_in_window). */
int t_ret0(void), t_ret1(void), t_ret2(void), t_ret3(void);
extern int (*const t_ret[4])(void);

/* A void target that adds `by` to t_hits, and a RET0 call's other target. */
extern int t_hits;
void t_bump(int by);
long t_ret7(void);

/* ---- sites ----
 * A site belongs to the object whose code holds it, so these macros define
 * the function in the test itself, with exactly this body:
 *   T_CALLER(fn, sc)         int fn(int x), returns static_call(sc)(x):
 *                            the compiler may make it a tail jmp
 *   T_CALL_SITE(fn, sc)      the same, but always a `call` site: the empty
 *                            asm uses the result after the call returns
 *   T_CALL_SITE_VOID(fn, sc) int fn(void), a `call` site
 *   T_COND_CALLER(fn, sc)    void fn(int x), static_call_cond(sc)(x)
 *   T_RET0_CALLER(fn, sc)    long fn(void), returns static_call(sc)()
 *   T_BRANCH(fn, how, key)   int fn(void), 1 if how(key) else 0; how is
 *                            static_branch_likely or static_branch_unlikely
 */
#define T_CALLER(fn, sc)						\
	static __attribute__((noinline)) int fn(int x)			\
	{								\
		return static_call(sc)(x);				\
	}

#define T_CALL_SITE(fn, sc)						\
	static __attribute__((noinline)) int fn(int x)			\
	{								\
		int r = static_call(sc)(x);				\
									\
		__asm__ __volatile__("" : "+r"(r));			\
		return r;						\
	}

#define T_CALL_SITE_VOID(fn, sc)					\
	static __attribute__((noinline)) int fn(void)			\
	{								\
		int r = static_call(sc)();				\
									\
		__asm__ __volatile__("" : "+r"(r));			\
		return r;						\
	}

#define T_COND_CALLER(fn, sc)						\
	static __attribute__((noinline)) void fn(int x)		\
	{								\
		static_call_cond(sc)(x);				\
	}

#define T_RET0_CALLER(fn, sc)						\
	static __attribute__((noinline)) long fn(void)			\
	{								\
		return static_call(sc)();				\
	}

#define T_BRANCH(fn, how, key)						\
	static __attribute__((noinline)) int fn(void)			\
	{								\
		if (how(key))						\
			return 1;					\
		return 0;						\
	}

/* Enables key if on, else disables it: 0 or -errno. */
#define T_BRANCH_SET(key, on)						\
	((on) ? static_branch_enable(key) : static_branch_disable(key))

/* ---- code and mappings ---- */

/* Skips the test unless this build writes code and the /proc/self/mem
 * writer works here (qemu-user does not see what it writes). */
void t_skip_without_procmem(void);

/* Fails the test if a mapping of the process (/proc/self/maps) is both
 * writable and executable; `when` says at which point. */
void t_check_no_wx(const char *when);

/* The executable's code segment, and a copy of it to compare with. */
struct t_text {
	uint8_t *start;
	size_t len;
	uint8_t *copy;
};

/* Finds the code segment (on the first call) and copies it. */
void t_text_snapshot(struct t_text *t);
/* Fails the test unless every code byte is as in the last snapshot, but
 * the one at cc_at (if not NULL), which must hold a planted int3 (0xcc). */
void t_text_check(const struct t_text *t, const char *when,
		  const uint8_t *cc_at);

/* ---- threads, processes, time ---- */

/*
 * Starts fn in a thread and waits until fn has set *running. A thread that
 * glibc is still starting has every signal blocked, which the library
 * (rightly or not) takes as "traps unusable" for as long as it lasts.
 */
void t_thread_start(pthread_t *th, void *(*fn)(void *),
		    volatile bool *running);

/*
 * Child processes; each returns the child's wait status. stdout is flushed
 * before the fork, or the child would print what is pending there again.
 */
/* Waits for child pid. */
int t_wait(pid_t pid);

/* Runs cmd with the shell; its output to out (*len bytes, then a NUL);
 * returns its exit status (a death by signal fails the test). */
int t_capture(const char *cmd, char *out, size_t size, size_t *len);
/* Runs fn(arg) in a child that exits with its value. A child still
 * running after secs seconds (0: no limit) is killed by SIGALRM. */
int t_fork_run(int (*fn)(void *), void *arg, unsigned int secs);
/* Runs argv[0] (from PATH) with the arguments argv (NULL-terminated) and
 * the entries of env ("NAME=value", NULL-terminated, or NULL) added to its
 * environment. Exit 127: it could not be started. */
int t_run(const char *const env[], const char *const argv[]);
/* Runs this executable again as `self arg...` (a NULL-terminated list),
 * with env ("NAME=value", or NULL) added. Exit 127: it could not be
 * started (an emulator without binfmt_misc, for one). */
int t_run_self(const char *env, const char *arg, ...);

/*
 * Compilers run by the tests, for programs linked with this build's
 * library: they must build for the same C library. cmd is a compiler and
 * its options ("g++ -O2"); the command to run instead goes to out. With
 * glibc that is cmd itself; built for musl, cmd where its compiler builds
 * for musl (Alpine's), else musl-gcc for gcc or cc (Debian's musl-tools),
 * else none: musl-gcc has no C++ library, clang no musl target here.
 * Returns NULL, or why there is none ("not installed", ...) to print with
 * the skip.
 */
const char *t_cc(const char *cmd, char *out, size_t size);

/* CLOCK_MONOTONIC, in seconds. */
double t_now(void);
/* The first two CPUs this thread may run on (-1 for none); how many. */
int t_two_cpus(int cpu[2]);
/* Pins the calling thread to cpu; nothing for cpu < 0. */
void t_pin(int cpu);

#endif
