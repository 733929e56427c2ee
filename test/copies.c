/* SPDX-License-Identifier: MIT */
/*
 * One runtime per process, however many copies of ustatic it holds. This
 * executable links libustatic.so; it loads two plugins that each carry
 * their own static copy (libustatic.a linked with --exclude-libs,ALL, so
 * no symbol of it is visible: test/copies/copy.c). Worker threads call
 * every copy's static call and key while the main thread updates them all:
 * every update succeeds, every result is valid, one SIGTRAP handler.
 * Then, in a child, a plugin whose copy was built with another runtime ABI
 * (libcopy_abi2.so): it must not patch, its static call must still work
 * (through its trampoline), and the other copies must not notice.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#define COPIES 3
#define ROUNDS 600

struct copy {
	const char *lib;
	int (*call)(void), (*branch)(void), (*update)(int), (*key_set)(int);
	int (*stats)(struct ustatic_stats *);
	unsigned long done, pending, key_done, key_pending;
};

DEFINE_STATIC_CALL(exe_sc, t_ret0);
DEFINE_STATIC_KEY_FALSE(exe_key);
T_CALL_SITE_VOID(exe_call, exe_sc)
T_BRANCH(exe_branch, static_branch_unlikely, &exe_key)
static int exe_update(int k) { return static_call_update(exe_sc, t_ret[k & 3]); }
static int exe_key_set(int on) { return T_BRANCH_SET(&exe_key, on); }

static struct copy copies[COPIES] = {
	{ .lib = NULL, .call = exe_call, .branch = exe_branch,
	  .update = exe_update, .key_set = exe_key_set, .stats = ustatic_get_stats },
	{ .lib = "libcopy_a.so" }, { .lib = "libcopy_b.so" },
};
static unsigned long wrong, calls;
static bool stop;

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);

	if (!p) {
		fprintf(stderr, "%s\n", dlerror());
		exit(T_EXIT_FAIL);
	}
	return p;
}

static void load(struct copy *c)
{
	char path[PATH_MAX];
	void *h;

	test_beside_self(path, sizeof(path), c->lib);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		exit(T_EXIT_FAIL);
	}
	c->call = sym(h, "copy_call");
	c->branch = sym(h, "copy_branch");
	c->update = sym(h, "copy_update");
	c->key_set = sym(h, "copy_key_set");
	c->stats = sym(h, "copy_stats");
}

static void check(struct copy *c)
{
	unsigned long d0 = __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
	unsigned long k0 = __atomic_load_n(&c->key_done, __ATOMIC_ACQUIRE);
	int r = c->call(), b = c->branch();
	unsigned long p1 = __atomic_load_n(&c->pending, __ATOMIC_ACQUIRE);
	unsigned long k1 = __atomic_load_n(&c->key_pending, __ATOMIC_ACQUIRE);

	/* Key update s sets the key to s & 1. */
	if (!test_in_window(r, d0, p1) ||
	    (k0 == k1 && b != (int)(k0 & 1))) {
		fprintf(stderr, "%s: call %d (valid %lu..%lu), branch %d (%lu..%lu)\n",
			c->lib ? c->lib : "exe", r, d0, p1, b, k0, k1);
		__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
	}
}

static void *worker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < COPIES; i++)
			check(&copies[i]);
		__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void update(struct copy *c, unsigned long s)
{
	int err;

	__atomic_store_n(&c->pending, s, __ATOMIC_RELEASE);
	err = c->update((int)s);
	if (err) {
		fprintf(stderr, "%s: update %lu: %s\n", c->lib ? c->lib : "exe",
			s, strerror(-err));
		exit(T_EXIT_FAIL);
	}
	__atomic_store_n(&c->done, s, __ATOMIC_RELEASE);
	__atomic_store_n(&c->key_pending, s, __ATOMIC_RELEASE);
	err = c->key_set((int)(s & 1));
	CHECK_EQ(err, 0);
	__atomic_store_n(&c->key_done, s, __ATOMIC_RELEASE);
}

/* A SIGTRAP handler was installed (by one copy: had two copies each
 * installed theirs, one's updates would have failed: "replaced"). */
static void check_one_handler(void)
{
	struct sigaction sa;

	CHECK(!sigaction(SIGTRAP, NULL, &sa));
	CHECK(sa.sa_flags & SA_SIGINFO);
}

static int all_copies(void)
{
	pthread_t w[2];

	for (int i = 1; i < COPIES; i++)
		load(&copies[i]);
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_create(&w[i], NULL, worker, NULL));
	for (unsigned long s = 1; s <= ROUNDS; s++)
		for (int i = 0; i < COPIES; i++)
			update(&copies[i], s);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_join(w[i], NULL));
	for (int i = 0; i < COPIES; i++) {
		struct ustatic_stats st;

		CHECK_EQ(copies[i].stats(&st), 0);
		CHECK_EQ(st.refused, 0);
		if (T_USES_GUARDS)
			CHECK(st.traps + st.late_traps + st.trap_free_batches > 0 ||
			      st.batches > 0);
	}
	if (T_USES_GUARDS && !getenv("USTATIC_TRAPFREE"))
		check_one_handler();
	printf("%d copies, %d updates each, %lu rounds of calls, %lu wrong\n",
	       COPIES, ROUNDS, calls, wrong);
	CHECK_EQ(wrong, 0);
	return 0;
}

/* A copy of another runtime ABI: refuses to write code, still calls
 * right; the others carry on. */
static int foreign_copy(void)
{
	struct copy f = { .lib = "libcopy_abi2.so" };
	struct ustatic_stats st;

	load(&copies[1]);
	load(&f);
	for (unsigned long s = 1; s <= 20; s++) {
		update(&copies[0], s);
		update(&copies[1], s);
		CHECK_EQ(f.update((int)s), 0);
		CHECK_EQ(f.call(), (int)(s & 3));
		CHECK_EQ(copies[0].call(), (int)(s & 3));
		CHECK_EQ(copies[1].call(), (int)(s & 3));
		/* Keys need code written: refused, nothing changed. */
		CHECK_EQ(f.key_set(1), -EPERM);
		CHECK_EQ(f.branch(), 0);
	}
	CHECK_EQ(f.stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_NONE);
	CHECK_EQ(copies[1].stats(&st), 0);
	CHECK(st.write_method != USTATIC_WRITE_NONE);
	return 0;
}

int main(int argc, char **argv)
{
	int st;

	if (!T_PATCHES_CODE)
		SKIP("nothing is patched in this build");
	if (argc > 1)
		return strcmp(argv[1], "foreign") ? all_copies() : foreign_copy();
	st = t_run_self(NULL, "all", NULL);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		SKIP("cannot run this test again (emulator without binfmt)");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = t_run_self(NULL, "foreign", NULL);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}
