/*
 * Hostile conditions: code cannot be written at all (USTATIC_WRITE=none, as
 * under a kernel booted with proc_mem.force_override=never plus a W^X
 * policy). The library constructor reads the variable before main(), so the
 * test re-executes itself with it set.
 *
 * Then, from start-up on, every trampoline stays in its indirect form
 * (through key->func) and:
 *  - static_call_update() returns 0 and calls reach the new target (also
 *    NULL and RET0, also from a second thread), because updating the key
 *    alone is enough;
 *  - static key changes return a negative errno, the key keeps its value
 *    and its branches their behaviour;
 *  - a transaction is all-or-nothing: one holding a key change fails and
 *    its static-call updates are rolled back; one holding only static-call
 *    updates succeeds like static_call_update() does;
 *  - no byte of the executable's code ever changes.
 *
 * Convinced it can fail: `./build/test/hostile_no_writer --child` (the child
 * body without USTATIC_WRITE=none) fails at the write-method check. Against
 * the library as first committed (7dd42bc) it failed twice over: the first
 * update marked the trampolines "direct" although nothing had been written,
 * so the second update of a key returned -EILSEQ (the check_indirect()
 * after the first update caught it), and a transaction of static-call
 * updates only returned -EPERM. Both were fixed in 41dd430.
 */
#include <ustatic.h>
#include "registry.h"
#include "test.h"

#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static __attribute__((noinline)) int f_a(int x) { return x + 1; }
static __attribute__((noinline)) int f_b(int x) { return x + 2; }
static __attribute__((noinline)) int f_c(int x) { return x * 3; }
static int hits;
static __attribute__((noinline)) void bump(int by) { hits += by; }
static __attribute__((noinline)) long ret7(void) { return 7; }

DEFINE_STATIC_CALL(nw_call, f_a);
DEFINE_STATIC_CALL_NULL(nw_void, bump);
DEFINE_STATIC_CALL_RET0(nw_ret0, ret7);
DEFINE_STATIC_KEY_FALSE(nw_kf);
DEFINE_STATIC_KEY_TRUE(nw_kt);

static __attribute__((noinline)) int call_it(int x)
{
	return static_call(nw_call)(x);
}

static __attribute__((noinline)) void call_void(int x)
{
	static_call_cond(nw_void)(x);
}

static __attribute__((noinline)) long call_ret0(void)
{
	return static_call(nw_ret0)();
}

static __attribute__((noinline)) int branch_f(void)
{
	if (static_branch_unlikely(&nw_kf))
		return 1;
	return 0;
}

static __attribute__((noinline)) int branch_t(void)
{
	if (static_branch_likely(&nw_kt))
		return 1;
	return 0;
}

/* The executable's code segment, copied so that any change shows. */
static uint8_t *text, *text_copy;
static size_t text_len;

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0;	/* not the main program */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			text = (uint8_t *)(info->dlpi_addr + ph->p_vaddr);
			text_len = ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

static void check_text_unchanged(const char *when)
{
	if (memcmp(text, text_copy, text_len)) {
		for (size_t i = 0; i < text_len; i++)
			if (text[i] != text_copy[i]) {
				fprintf(stderr, "%s: code byte %p changed: "
					"%02x -> %02x\n", when, (void *)(text + i),
					text_copy[i], text[i]);
				break;
			}
		exit(1);
	}
}

/* Every trampoline of key is in its indirect form; returns its sites. */
static size_t check_indirect(struct static_call_key *key)
{
	size_t found = 0, sites = 0;

	for (struct us_object *o = us_objects; o; o = o->next)
		for (size_t i = 0; i < o->ntramps; i++) {
			struct us_tramp *t = &o->tramps[i];

			if (t->key != key)
				continue;
			found++;
			sites += t->nsites;
			CHECK(t->applied == NULL);
#if US_ARCH_USES_GUARDS
			CHECK_EQ(t->addr[0], 0x3d);	/* cmp $imm,%eax */
#endif
		}
	CHECK(found > 0);
	return sites;
}

static volatile bool stop, running;
static volatile long wrong;

static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		int r = call_it(10);

		if (r != 11 && r != 12 && r != 30)
			wrong++;
		if (branch_f() != 0 || branch_t() != 1)
			wrong++;
		running = true;
	}
	return NULL;
}

static int child(void)
{
	struct ustatic_stats st;
	pthread_t th;
	int (*const targets[3])(int) = { f_a, f_b, f_c };
	const int expect[3] = { 11, 12, 30 };
	long rounds = test_scale(3000);

	if (!US_ARCH_PATCHES_CODE)
		SKIP("no code is written in this build");
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_NONE);
	dl_iterate_phdr(find_text, NULL);
	CHECK(text != NULL);
	text_copy = malloc(text_len);
	CHECK(text_copy != NULL);
	memcpy(text_copy, text, text_len);

	/* Registration could not promote anything. */
	CHECK(check_indirect(&STATIC_CALL_KEY(nw_call)) > 0);	/* inline site */
	check_indirect(&STATIC_CALL_KEY(nw_void));
	check_indirect(&STATIC_CALL_KEY(nw_ret0));
	CHECK_EQ(st.batches, 0);

	/* Static calls: the key alone decides. */
	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(static_call_update(nw_call, f_b), 0);
	CHECK_EQ(call_it(10), 12);
	CHECK(static_call_query(nw_call) == f_b);
	/* Nothing was written, so the registry must still say "indirect"
	 * (else the next update expects a `jmp` that is not there). */
	check_indirect(&STATIC_CALL_KEY(nw_call));
	CHECK_EQ(static_call_update(nw_call, f_c), 0);
	CHECK_EQ(call_it(10), 30);

	call_void(5);
	CHECK_EQ(hits, 0);
	CHECK_EQ(static_call_update(nw_void, bump), 0);
	call_void(5);
	CHECK_EQ(hits, 5);
	CHECK_EQ(static_call_update(nw_void, NULL), 0);
	call_void(5);
	CHECK_EQ(hits, 5);
	CHECK(static_call_query(nw_void) == NULL);

	CHECK_EQ(call_ret0(), 0);
	CHECK_EQ(static_call_update(nw_ret0, ret7), 0);
	CHECK_EQ(call_ret0(), 7);
	CHECK_EQ(static_call_update(nw_ret0, (void *)__static_call_return0), 0);
	CHECK_EQ(call_ret0(), 0);
	check_text_unchanged("static calls");

	/* Static keys: refused, nothing changes. */
	int err = static_branch_enable(&nw_kf);
	CHECK(err < 0);
	printf("static_branch_enable without a writer: %d (%s)\n", err,
	       strerror(-err));
	CHECK(!static_key_enabled(&nw_kf));
	CHECK_EQ(static_key_count(&nw_kf.key), 0);
	CHECK_EQ(branch_f(), 0);
	CHECK(static_branch_inc(&nw_kf) < 0);
	CHECK_EQ(static_key_count(&nw_kf.key), 0);
	CHECK_EQ(branch_f(), 0);
	CHECK(static_branch_disable(&nw_kt) < 0);
	CHECK(static_key_enabled(&nw_kt));
	CHECK_EQ(branch_t(), 1);
	CHECK(static_branch_dec(&nw_kt) < 0);
	CHECK_EQ(static_key_count(&nw_kt.key), 1);
	CHECK_EQ(branch_t(), 1);
	/* Enabling an enabled key, disabling a disabled one: nothing to do. */
	CHECK_EQ(static_branch_enable(&nw_kt), 0);
	CHECK_EQ(static_branch_disable(&nw_kf), 0);
	check_text_unchanged("static keys");

	/* Concurrent callers while the key is retargeted. */
	CHECK_EQ(pthread_create(&th, NULL, worker, NULL), 0);
	while (!running)
		sched_yield();
	for (long i = 0; i < rounds; i++) {
		int k = (int)(i % 3);

		CHECK_EQ(static_call_update(nw_call, targets[k]), 0);
		CHECK_EQ(call_it(10), expect[k]);
		CHECK(static_call_query(nw_call) == targets[k]);
		if (i % 500 == 0)
			CHECK(static_branch_enable(&nw_kf) < 0);
	}
	stop = true;
	pthread_join(th, NULL);
	CHECK_EQ(wrong, 0);
	check_text_unchanged("stress");

	/* A transaction with a key change fails as a whole. */
	CHECK_EQ(static_call_update(nw_call, f_a), 0);
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(nw_call, f_c), 0);
	CHECK_EQ(static_branch_enable(&nw_kf), 0);	/* only queued */
	CHECK(ustatic_batch_commit() < 0);
	CHECK(static_call_query(nw_call) == f_a);
	CHECK_EQ(call_it(10), 11);
	CHECK(!static_key_enabled(&nw_kf));
	CHECK_EQ(branch_f(), 0);
	check_text_unchanged("failed transaction");

	/* One with static-call updates only needs no code either. */
	CHECK_EQ(ustatic_batch_begin(), 0);
	CHECK_EQ(static_call_update(nw_call, f_b), 0);
	CHECK_EQ(static_call_update(nw_ret0, ret7), 0);
	err = ustatic_batch_commit();
	if (err) {
		fprintf(stderr, "BUG: a transaction of static-call updates "
			"fails without a writer (%d) although "
			"static_call_update() alone succeeds\n", err);
		return 1;
	}
	CHECK(static_call_query(nw_call) == f_b);
	CHECK_EQ(call_it(10), 12);
	CHECK_EQ(call_ret0(), 7);
	/* ... and leaves the trampolines known as indirect: updates go on. */
	check_indirect(&STATIC_CALL_KEY(nw_call));
	CHECK_EQ(static_call_update(nw_call, f_a), 0);
	CHECK_EQ(call_it(10), 11);
	check_text_unchanged("transaction");

	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.batches, 0);
	CHECK(st.refused > 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_NONE);
	printf("no writer: %ld updates through indirect trampolines, "
	       "%lu batches refused, code unchanged\n", rounds, st.refused);
	return 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (argv[1] && !strcmp(argv[1], "--child"))
		return child();
	if (getenv("USTATIC_WRITE") && !strcmp(getenv("USTATIC_WRITE"), "none"))
		return child();	/* already started that way */
	/* The constructor already chose a writer: start again with none. */
	setenv("USTATIC_WRITE", "none", 1);
	execl("/proc/self/exe", argv[0], "--child", (char *)NULL);
	if (errno == ENOEXEC)	/* run by an emulator without binfmt_misc */
		SKIP("cannot re-execute myself here: %s", strerror(errno));
	perror("exec /proc/self/exe");
	return 1;
}
