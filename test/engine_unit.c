/* SPDX-License-Identifier: MIT */
/* Engine unit tests: encoders, all-or-nothing validation, both writers,
 * both sync methods, alone (whole instructions, one sync round) and with
 * another thread (the three phases, three rounds), and the trap
 * handler's emulation.
 * White-box: unit tests of the internal layers (src/engine.h, src/writer.h,
 * src/sync.h, the x86 encoders) on the hand-made code of test/stubs.h. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <ustatic.h>

#include "engine.h"
#include "lock.h"
#include "trap.h"
#include "sync.h"
#include "writer.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else

static struct us_patch jmp_patch(uint8_t *at, int from, int to)
{
	struct us_patch p = { .addr = at, .len = STUB_LEN };

	stub_jump_insn(p.old, at, stub_targets[from]);
	stub_jump_insn(p.new, at, stub_targets[to]);
	return p;
}

#ifdef __x86_64__
static void test_encoders(void)
{
	uint8_t b[6];
	int len;
	bool call;

	CHECK_EQ(x86_encode_call(b, 0x1000, 0x2000), 0);
	CHECK(b[0] == 0xe8 && x86_branch_target(b, &len, &call) == (uintptr_t)b + 0x1000);
	CHECK(call && len == 5);
	CHECK_EQ(x86_encode_jmp(b, 0, 0x100000000ULL), -ERANGE);
	CHECK_EQ(x86_encode_jcc(b, 0x1000, 0x5, 0x1010), 0);
	CHECK(b[0] == 0x0f && b[1] == 0x85);
	x86_encode_nop5(b);
	CHECK(us_arch_can_patch_in(b, 5));
	x86_encode_xor5(b);
	CHECK(us_arch_can_patch_in(b, 5) && b[3] == 0x31 && b[4] == 0xc0);
	/* Refused: two instructions, padding after a non-transfer, junk. */
	static const uint8_t two[5] = { 0x90, 0x90, 0x90, 0x90, 0x90 };
	static const uint8_t movpad[5] = { 0x89, 0xc0, 0xcc, 0xcc, 0xcc };
	CHECK(!us_arch_can_patch_in(two, 5));
	CHECK(!us_arch_can_patch_in(movpad, 5));
	static const uint8_t retpad[5] = { 0xc3, 0xcc, 0xcc, 0xcc, 0xcc };
	CHECK(us_arch_can_patch_in(retpad, 5));
	CHECK(!us_arch_can_patch_in(b, 4));
}
#endif

/* One bad entry among good ones: nothing at all is written. */
static void test_all_or_nothing(void)
{
	struct us_patch v[3];
	uint8_t before[3 * STUB_LEN];

	memcpy(before, stub_many, sizeof(before));
	for (int i = 0; i < 3; i++) {
		v[i] = (struct us_patch){ .addr = stub_many + STUB_LEN * i, .len = STUB_LEN };
		memcpy(v[i].old, stub_many + STUB_LEN * i, STUB_LEN);
		stub_jump_insn(v[i].new, v[i].addr, target_1);
	}
	v[1].old[2] ^= 0xff;		/* a mismatch in the middle */
	CHECK_EQ(us_engine_apply(v, 3), -EILSEQ);
	CHECK(!memcmp(before, stub_many, sizeof(before)));
	v[1].old[2] ^= 0xff;
	memcpy(v[2].new, stub_bad_insn, STUB_LEN);	/* not patchable */
	CHECK_EQ(us_engine_apply(v, 3), -EINVAL);
	CHECK(!memcmp(before, stub_many, sizeof(before)));
	v[2] = v[1];			/* overlapping entries */
	v[2].addr += 2;
	CHECK_EQ(us_engine_apply(v, 3), -EINVAL);
	CHECK(!memcmp(before, stub_many, sizeof(before)));
}


/* Retargets stub_jmp 0->1->2->0 with the given writer and sync method:
 * one round per batch alone or on AArch64, else three. */
static void test_methods(int wm, int sm)
{
	int rounds = US_ARCH_USES_GUARDS && !us_alone() ? 3 : 1;

	struct us_patch p;
	struct ustatic_stats a, b;

	CHECK_EQ(us_writer_force(wm), 0);
	CHECK_EQ(us_sync_force(sm), 0);
	ustatic_get_stats(&a);
	for (int i = 0; i < 3; i++) {
		p = jmp_patch((uint8_t *)stub_jmp, i, (i + 1) % 3);
		CHECK_EQ(us_engine_apply(&p, 1), 0);
		CHECK_EQ(stub_jmp(), (i + 1) % 3);
		/* Already there: a no-op, not an error. */
		CHECK_EQ(us_engine_apply(&p, 1), 0);
	}
	ustatic_get_stats(&b);
	CHECK_EQ(b.batches - a.batches, 3);
	CHECK_EQ(b.sync_rounds - a.sync_rounds, 3 * rounds);
	CHECK_EQ(b.write_method, wm);
	CHECK_EQ(b.sync_method, sm);
}

#ifdef __x86_64__
static size_t one_range(void *arg, struct us_range *r)
{
	if (r)
		*r = *(struct us_range *)arg;
	return 1;
}

/* With the int3 armed by hand, calling the stub must trap and run the
 * emulated new instruction (here: the call site's `call target_3`). */
static void test_trap_emulation(void)
{
	struct us_patch p = { .addr = stub_call_site, .len = STUB_LEN };
	uint8_t cc = 0xcc;
	struct ustatic_stats a, b;

	memcpy(p.old, stub_call_site, 5);
	stub_call_insn(p.new, stub_call_site, target_3);
	CHECK_EQ(us_writer_force(USTATIC_WRITE_MPROTECT), 0);
	struct us_range r = { (uintptr_t)p.addr, (uintptr_t)p.addr + 5 };
	CHECK_EQ(us_lock(&us_engine_lock), 0);
	CHECK(us_trap_usable());	/* installs the handler, on first need */
	CHECK_EQ(us_writer_begin(one_range, &r, false), 0);
	CHECK_EQ(us_trap_publish(&p, 1), 0);
	CHECK_EQ(us_writer_write(p.addr, &cc, 1), 0);
	ustatic_get_stats(&a);
	CHECK_EQ(stub_call(), 0);		/* until shown: the old CALL */
	us_trap_show(&p, 1, true);
	CHECK_EQ(stub_call(), 3);		/* emulated CALL target_3 */
	ustatic_get_stats(&b);
	CHECK_EQ(b.traps - a.traps, 2);
	CHECK_EQ(us_writer_write(p.addr, p.old, 1), 0);	/* back to old */
	us_trap_unpublish();
	us_writer_end();
	us_unlock(&us_engine_lock);
	CHECK_EQ(stub_call(), 0);
}
#endif

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
#ifdef __x86_64__
	test_encoders();
	test_trap_emulation();
#endif
	test_all_or_nothing();
	for (int threads = 1; threads <= 2; threads++) {
		pthread_t th;

		/* A second thread that only waits: it runs no stub code. */
		if (threads == 2)
			CHECK_EQ(pthread_create(&th, NULL, idle, NULL), 0);
		test_methods(USTATIC_WRITE_MPROTECT, USTATIC_SYNC_MEMBARRIER);
		if (test_signal_sync_ok())
			test_methods(USTATIC_WRITE_MPROTECT, USTATIC_SYNC_SIGNAL);
		if (test_procmem_ok()) {
			test_methods(USTATIC_WRITE_PROCMEM, USTATIC_SYNC_MEMBARRIER);
			test_methods(USTATIC_WRITE_PROCMEM, USTATIC_SYNC_SIGNAL);
		}
	}
	/* A writer that cannot write refuses the batch. */
	CHECK_EQ(us_writer_force(USTATIC_WRITE_NONE), 0);
	struct us_patch p = jmp_patch((uint8_t *)stub_jmp, 0, 1);
	CHECK_EQ(us_engine_apply(&p, 1), -EPERM);
	CHECK_EQ(stub_jmp(), 0);
	return T_EXIT_PASS;
}
#endif
