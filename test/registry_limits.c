/* SPDX-License-Identifier: MIT */
/*
 * Resource limits. This object carries 10,000 inline call sites of one
 * static call and 10,000 branch sites over 1,000 keys: they all register,
 * update and flip (the keys in one transaction). Then allocation failures
 * are injected into the library (malloc/calloc/realloc fail when called
 * from libustatic.so, at the Nth call, for N = 1, 2, ...): an update fails
 * with -ENOMEM and changes nothing, and an object whose registration runs
 * out of memory (a dlopen'd plugin) still calls correctly through its
 * trampolines' indirect form and can be closed; the registry stays usable.
 * Where dlclose() does not unload (musl), each try loads a fresh copy of
 * the plugin, or the next dlopen() would not register anything.
 */
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <unistd.h>

#include "lib/mo.h"
#include "helpers.h"
#include "test.h"

/* ---- allocation failure injection ---------------------------------- */

/*
 * The C library's own allocator, under ours. glibc exports it as
 * __libc_malloc...; musl exports nothing of the kind, but its dlsym()
 * allocates nothing, so it can find the next malloc() for a malloc() that
 * is being called. A race on the first calls stores the same pointer.
 */
#ifdef __GLIBC__
extern void *__libc_malloc(size_t), *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
#define real_malloc __libc_malloc
#define real_calloc __libc_calloc
#define real_realloc __libc_realloc
#else
#define NEXT(fn) ((__typeof__(fn) *)next_fn(&next_##fn, #fn))

static void *next_malloc, *next_calloc, *next_realloc;

static void *next_fn(void **cache, const char *name)
{
	void *fn = __atomic_load_n(cache, __ATOMIC_RELAXED);

	if (!fn) {
		fn = dlsym(RTLD_NEXT, name);
		CHECK(fn != NULL);
		__atomic_store_n(cache, fn, __ATOMIC_RELAXED);
	}
	return fn;
}

#define real_malloc NEXT(malloc)
#define real_calloc NEXT(calloc)
#define real_realloc NEXT(realloc)
#endif

static uintptr_t lib_start, lib_end;
static long countdown;		/* > 0: fail when it reaches 0 */
static long failures;

static int from_library(void *ret)
{
	return (uintptr_t)ret >= lib_start && (uintptr_t)ret < lib_end;
}

static int inject(void *ret)
{
	if (countdown <= 0 || !from_library(ret) || --countdown)
		return 0;
	failures++;
	return 1;
}

void *malloc(size_t n)
{
	return inject(__builtin_return_address(0)) ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	return inject(__builtin_return_address(0)) ? NULL : real_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	return inject(__builtin_return_address(0)) ? NULL : real_realloc(p, n);
}

static int find_library(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	if (!strstr(info->dlpi_name, "libustatic.so"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD &&
		    (info->dlpi_phdr[i].p_flags & PF_X)) {
			lib_start = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
			lib_end = lib_start + info->dlpi_phdr[i].p_memsz;
		}
	return 1;
}

/* ---- a large object --------------------------------------------------- */

static int t1(int x) { return x + 1; }
static int t2(int x) { return x + 2; }
DEFINE_STATIC_CALL(big_call, t1);
DEFINE_STATIC_KEY_ARRAY_FALSE(big_keys, 1000);

#define R10(x) x x x x x x x x x x
#define R100(x) R10(R10(x))
#define R1000(x) R10(R100(x))

/*
 * 10 functions of 1,000 call sites and 1,000 branch sites each (20,000
 * sites in all; one huge function would take the compiler minutes). Each
 * call site adds its result so that none is merged; the branches cycle
 * over the 1,000 keys.
 */
#define MANY(i)								\
	static __attribute__((noinline)) long many_calls_##i(int x)	\
	{								\
		long s = 0;						\
		R1000(s += static_call(big_call)(x);)			\
		return s;						\
	}								\
	static __attribute__((noinline)) long many_branches_##i(void)	\
	{								\
		long s = 0;						\
		R1000(if (static_branch_unlikely(			\
			&big_keys[__COUNTER__ % 1000])) s++;)		\
		return s;						\
	}
MANY(0) MANY(1) MANY(2) MANY(3) MANY(4) MANY(5) MANY(6) MANY(7) MANY(8)
MANY(9)

#define LIST(f) f##_0, f##_1, f##_2, f##_3, f##_4, f##_5, f##_6, f##_7,	\
	f##_8, f##_9
static long (*const calls_fn[10])(int) = { LIST(many_calls) };
static long (*const branches_fn[10])(void) = { LIST(many_branches) };

static long many_calls(int x)
{
	long s = 0;

	for (int i = 0; i < 10; i++)
		s += calls_fn[i](x);
	return s;
}

static long many_branches(void)
{
	long s = 0;

	for (int i = 0; i < 10; i++)
		s += branches_fn[i]();
	return s;
}

static void big_object(void)
{
	struct ustatic_stats a, b;

	CHECK_EQ(many_calls(0), 10000);
	CHECK_EQ(many_branches(), 0);
	ustatic_get_stats(&a);
	CHECK_EQ(static_call_update(big_call, t2), 0);
	CHECK_EQ(many_calls(0), 20000);
	CHECK_EQ(ustatic_batch_begin(), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(static_branch_enable(&big_keys[i]), 0);
	CHECK_EQ(ustatic_batch_commit(), 0);
	CHECK_EQ(many_branches(), 10000);
	ustatic_get_stats(&b);
	printf("large object: %lu call sites, %lu jump entries; update of all "
	       "call sites and a 1,000-key transaction: %lu batches\n",
	       b.call_sites, b.jump_entries, b.batches - a.batches);
	if (T_PATCHES_CODE) {
		CHECK(b.call_sites >= 10000);
		CHECK(b.jump_entries >= 10000);
		CHECK_EQ(b.batches - a.batches, 2);
	}
}

/* ---- failures ------------------------------------------------------ */

static int ta(int x) { return x + 3; }
static __attribute__((noinline)) int call_mo(int x) { return static_call(mo_call)(x); }

static void update_runs_out(void)
{
	long n;
	int err = -ENOMEM;

	for (n = 1; err == -ENOMEM && n < 1000; n++) {
		int (*before)(int) = static_call_query(mo_call);

		countdown = n;
		err = static_call_update(mo_call, before == ta ? mo_base : ta);
		countdown = 0;
		if (err) {
			CHECK_EQ(err, -ENOMEM);
			CHECK(static_call_query(mo_call) == before);
			CHECK_EQ(call_mo(1), before(1));
			CHECK_EQ(mo_call_from_lib(1), before(1));
		}
	}
	CHECK_EQ(err, 0);
	CHECK_EQ(call_mo(1), static_call_query(mo_call)(1));
	printf("update: failed cleanly at each of its first %ld allocations\n", n - 2);
}

/*
 * The plugin to load for try n: the plugin itself where dlclose() unloads
 * it; else a copy of its own (a new file: musl knows an object by its
 * device and inode), which needs no rpath: what it links is loaded.
 */
static const char *fresh_plugin(const char *plugin, const char *dir, long n,
				char *copy, size_t size)
{
	char cmd[2 * PATH_MAX + 16];

	if (T_DLCLOSE_UNLOADS)
		return plugin;
	CHECK(snprintf(copy, size, "%s/plugin-%ld.so", dir, n) < (int)size);
	CHECK(snprintf(cmd, sizeof(cmd), "cp %s %s", plugin, copy) <
	      (int)sizeof(cmd));
	CHECK_EQ(system(cmd), 0);
	return copy;
}

static void registration_runs_out(const char *plugin)
{
	char dir[] = "/tmp/ustatic-limits-XXXXXX", copy[PATH_MAX];
	struct ustatic_stats a, b;
	long n;
	int registered = 0;

	CHECK(mkdtemp(dir));
	CHECK_EQ(static_call_update(mo_call, ta), 0);
	for (n = 1; !registered && n < 1000; n++) {
		const char *path = fresh_plugin(plugin, dir, n, copy, sizeof(copy));
		int (*plug_call)(int);
		void *h;

		ustatic_get_stats(&a);
		countdown = n;
		h = dlopen(path, RTLD_NOW);
		countdown = 0;
		if (path == copy)
			unlink(copy);
		if (!h)
			continue;	/* the loader itself ran out */
		ustatic_get_stats(&b);
		registered = b.objects > a.objects;
		plug_call = (int (*)(int))dlsym(h, "mo_call_from_plugin");
		CHECK(plug_call);
		CHECK_EQ(plug_call(1), 4);
		CHECK_EQ(static_call_update(mo_call, mo_base), 0);
		CHECK_EQ(plug_call(1), 10);
		CHECK_EQ(call_mo(1), 10);
		CHECK_EQ(static_call_update(mo_call, ta), 0);
		CHECK_EQ(dlclose(h), 0);
	}
	rmdir(dir);
	CHECK(registered || !T_PATCHES_CODE);
	printf("registration: ran out of memory %ld times before it could "
	       "complete; every time the plugin still called correctly\n", n - 2);
}

int main(void)
{
	char plugin[PATH_MAX];

	test_beside_self(plugin, sizeof(plugin), "libmo_plugin.so");
	big_object();
	/* The generic build allocates nothing that could fail. */
	if (!T_PATCHES_CODE)
		return T_EXIT_PASS;
	dl_iterate_phdr(find_library, NULL);
	CHECK(lib_end > lib_start);
	update_runs_out();
	registration_runs_out(plugin);
	CHECK(failures > 0);
	return T_EXIT_PASS;
}
