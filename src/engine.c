/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "debug.h"
#include "engine.h"
#include "grow.h"
#include "lock.h"
#include "sync.h"
#include "runtime.h"
#include "trap.h"
#include "writer.h"

bool us_engine_can_write(void)
{
	/* A copy that could not join the process's runtime has no lock
	 * shared with the others: it must not write code. */
	return US_ARCH_PATCHES_CODE && !us_runtime_foreign() &&
	       us_writer_method() != USTATIC_WRITE_NONE;
}

static int cmp_patch(const void *a, const void *b)
{
	const struct us_patch *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int check_shape(struct us_patch *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].addr || v[i].len < 1 || v[i].len > US_INSN_MAX)
			return us_fail(-EINVAL, "engine: bad entry");
		if (!us_arch_can_patch_in(v[i].new, v[i].len) ||
		    (!US_ARCH_USES_GUARDS && !us_arch_can_patch_in(v[i].old, v[i].len)))
			return us_fail(-EINVAL, "engine: new bytes are not one "
				       "instruction the engine may patch in");
		if (i && v[i - 1].addr + v[i - 1].len > v[i].addr)
			return us_fail(-EINVAL, "engine: overlapping entries");
	}
	return 0;
}

/* Byte compares of at most US_INSN_MAX bytes: cheaper inline than a
 * call to memcmp for each of 10,000 entries. */
/* The per-entry helpers run 10,000 times a batch: always inlined. */
#define US_INLINE inline __attribute__((always_inline))

static US_INLINE uint32_t load32(const uint8_t *p)
{
	uint32_t x;

	memcpy(&x, p, 4);
	return x;
}

static US_INLINE bool same(const uint8_t *a, const uint8_t *b, size_t len)
{
	if (len >= 4)		/* two words that may overlap cover 4..8 bytes */
		return load32(a) == load32(b) &&
		       load32(a + len - 4) == load32(b + len - 4);
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/*
 * Compares every site with its expected bytes; drops entries that already
 * hold their new bytes. Returns the number left, or -errno.
 */
static long check_sites(struct us_patch *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (same(v[i].addr, v[i].new, v[i].len))
			continue;
		if (!same(v[i].addr, v[i].old, v[i].len)) {
			us_log("engine: unexpected bytes at %p", (void *)v[i].addr);
			if (US_ARCH_USES_GUARDS && v[i].addr[0] == US_TRAP_BYTE &&
			    v[i].old[0] != US_TRAP_BYTE)
				return us_fail(-EBUSY, "engine: a breakpoint we "
					       "did not place sits on a site");
			return us_fail(-EILSEQ, "engine: site holds other "
				       "bytes than expected");
		}
		v[k++] = v[i];
	}
	return (long)k;
}

/*
 * Every write of a batch: the writer's way, and if that fails the other
 * way (us_writer_rescue(): /proc/self/mem for mprotect, a page made
 * writable for one store for /proc/self/mem). Tests inject failures here
 * (both ways fail) and in the writer (its way fails).
 */
static unsigned long test_fail_from, test_fail_count, test_writes;

void us_engine_test_fail_writes(unsigned long from, unsigned long count)
{
	test_fail_from = from;
	test_fail_count = count;
	test_writes = 0;
}

static int write_code(void *dst, const void *src, size_t len)
{
	int err;

	test_writes++;
	if (test_fail_count && test_writes >= test_fail_from &&
	    test_writes - test_fail_from < test_fail_count)
		return us_fail(-EIO, "engine: write failure injected");
	err = us_writer_write(dst, src, len);
	if (err && !us_writer_rescue(dst, src, len)) {
		us_log("engine: a write at %p failed, done the other way", dst);
		err = 0;
	}
	return err;
}

static US_INLINE const uint8_t *goal(const struct us_patch *p, bool to_new)
{
	return to_new ? p->new : p->old;
}

static US_INLINE bool settled(const struct us_patch *p, bool to_new)
{
	return same(p->addr, goal(p, to_new), p->len);
}

/*
 * What a phase writes of each entry, towards its new or (undoing) its old
 * instruction: its guard byte, its tail, its first byte, or (no other
 * thread) the whole instruction.
 */
enum phase { PH_GUARD, PH_TAIL, PH_FIRST, PH_WHOLE };

struct piece {
	uint8_t *at;
	const uint8_t *src;
	size_t len;
};

static const uint8_t int3_byte = US_TRAP_BYTE;

/* Whether entry p needs a write in phase ph, and which (reads the code:
 * each phase writes only what differs, so a failed pass is resumed). */
static US_INLINE bool piece_of(const struct us_patch *p, enum phase ph,
				bool trap_free,
		     bool to_new, struct piece *pc)
{
	const uint8_t *g = goal(p, to_new);
	const uint8_t *guard = trap_free ? &p->trapfree_guard : &int3_byte;

	switch (ph) {
	case PH_GUARD:
		if (settled(p, to_new) || p->addr[0] == *guard)
			return false;
		*pc = (struct piece){ p->addr, guard, 1 };
		return true;
	case PH_TAIL:
		if (p->len < 2 || same(p->addr + 1, g + 1, p->len - 1u))
			return false;
		*pc = (struct piece){ p->addr + 1, g + 1, p->len - 1u };
		return true;
	case PH_FIRST:
		if (p->addr[0] == g[0])
			return false;
		*pc = (struct piece){ p->addr, g, 1 };
		return true;
	default:
		if (settled(p, to_new))
			return false;
		*pc = (struct piece){ p->addr, g, p->len };
		return true;
	}
}

/*
 * A phase puts every entry's piece in with as few writes as it can: the
 * pieces of entries close together go in one write, which carries the
 * code bytes between them as they are, read right before it (nothing but
 * us changes code while we hold the engine lock). A write joins pieces
 * only while no page between them lacks one (each page written becomes a
 * private copy: none is written that the batch would not touch anyway),
 * and spans WRITE_MAX bytes at most. Only single bytes (guards, first
 * bytes) change in code that other threads may run, whatever the width
 * of the stores the kernel's copy uses: every other byte it stores is
 * the one already there. (AArch64 swaps are single aligned word stores
 * and never share a write: see swap_all().)
 */
#define WRITE_MAX (64 * 1024)
static uint8_t write_buf[WRITE_MAX];	/* engine lock */

/* pg_shift: log2 of the page size. */
static US_INLINE bool joins(const uint8_t *start, const uint8_t *end,
		  const struct piece *pc, unsigned pg_shift)
{
	return (uintptr_t)pc->at >> pg_shift <=
	       (((uintptr_t)end - 1) >> pg_shift) + 1 &&
	       (size_t)(pc->at + pc->len - start) <= WRITE_MAX;
}

static unsigned page_shift(void)
{
	return (unsigned)__builtin_ctzl((unsigned long)sysconf(_SC_PAGESIZE));
}

/* Most copies are a piece or the few bytes between two: inline, not a
 * call to memcpy (two words that may overlap cover 4..8 bytes). */
static US_INLINE void copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	if (len >= 4 && len <= 8) {
		uint32_t head = load32(src), tail = load32(src + len - 4);

		memcpy(dst, &head, 4);
		memcpy(dst + len - 4, &tail, 4);
	} else if (len > 8) {
		memcpy(dst, src, len);
	} else {
		for (size_t i = 0; i < len; i++)
			dst[i] = src[i];
	}
}

/* The write a phase is building: the code from start to end as it is,
 * with the pieces put in, in write_buf. */
struct pending {
	uint8_t *start, *end;
};

/* Writes it: 1, 0 if there was none, or -errno. */
static int flush(struct pending *w)
{
	int err;

	if (!w->start)
		return 0;
	err = write_code(w->start, write_buf, (size_t)(w->end - w->start));
	w->start = NULL;
	return err ? err : 1;
}

/* Adds a piece (after the last one), writing what was built first if the
 * piece does not join it. 1 if that was written, 0, or -errno. */
static US_INLINE int add_piece(struct pending *w, const struct piece *pc,
				unsigned pg)
{
	int wrote = 0;

	if (w->start && !joins(w->start, w->end, pc, pg))
		wrote = flush(w);
	if (wrote < 0)
		return wrote;
	if (!w->start)
		w->start = w->end = pc->at;
	/* The code between the last piece and this one, as it is. */
	copy(write_buf + (w->end - w->start), w->end, (size_t)(pc->at - w->end));
	copy(write_buf + (pc->at - w->start), pc->src, pc->len);
	w->end = pc->at + pc->len;
	return wrote;
}

/* One phase over every entry: 1 if something was written, 0 if nothing
 * was needed, or the -errno of a write. */
static int put_phase(struct us_patch *v, size_t n, enum phase ph,
		     bool trap_free, bool to_new)
{
	unsigned pg = page_shift();
	struct pending w = { NULL, NULL };
	struct piece pc;
	int wrote = 0, err;

	for (size_t i = 0; i < n; i++) {
		if (!piece_of(&v[i], ph, trap_free, to_new, &pc))
			continue;
		if ((err = add_piece(&w, &pc, pg)) < 0)
			return err;
		wrote |= err;
	}
	err = flush(&w);
	return err < 0 ? err : wrote | err;
}

/* Phase 1: a guard on the first byte of every entry not where it goes.
 * 1 if one was written, 0 if none, or -errno (so are the next two). */
static int put_guards(struct us_patch *v, size_t n, bool trap_free, bool to_new)
{
	return put_phase(v, n, PH_GUARD, trap_free, to_new);
}

/* Phase 2: the tails. */
static int put_tails(struct us_patch *v, size_t n, bool to_new)
{
	return put_phase(v, n, PH_TAIL, false, to_new);
}

/* Phase 3: the first bytes, which complete each instruction. */
static int put_first_bytes(struct us_patch *v, size_t n, bool to_new)
{
	return put_phase(v, n, PH_FIRST, false, to_new);
}

/*
 * Code written through /proc/self/mem is written through another linear
 * address than the one it runs at, and then the SDM (Vol. 3A 11.6) wants a
 * serializing instruction on the CPU that runs it, this one included.
 * membarrier(SYNC_CORE) serializes the calling CPU too since Linux 5.11
 * ("membarrier: Execute SYNC_CORE on the calling thread", also in some
 * stable kernels before), and its registration makes the kernel serialize
 * a CPU this thread later moves to; the signal broadcast and the lone-
 * thread sync serialize the caller themselves. Only older kernels need
 * this CPUID (slow in a VM: a few microseconds). Engine lock held.
 */
static void serialize_self(void)
{
	static int caller_synced = -1;
	struct utsname u;
	int major, minor;

	if (!US_ARCH_USES_GUARDS || us_sync_method() != USTATIC_SYNC_MEMBARRIER)
		return;
	if (caller_synced < 0)
		caller_synced = !uname(&u) &&
				sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
				(major > 5 || (major == 5 && minor >= 11));
	if (!caller_synced)
		us_arch_serialize();
}

/*
 * After the guards are visible everywhere nothing can run a torn
 * instruction, so later rounds are retried and the batch carried on
 * rather than abandoned (stopping would need the very syncs that failed).
 */
#define SYNC_TRIES 3	/* a signal round that timed out may pass the next time */

static void sync_forward(const char *when)
{
	for (int i = 0; i < SYNC_TRIES; i++)
		if (!us_sync_cores())
			return;
	us_log("engine: sync after %s failed; carried on", when);
}

/* A phase of undoing wrote something: one round, whose failure changes
 * nothing (a round that timed out once would time out again). */
static void sync_once(int wrote)
{
	if (wrote > 0)
		us_sync_cores();
}

/* One pass of the three phases towards the old instructions. Returns 0,
 * or the error of a write. */
static int undo_once(struct us_patch *v, size_t n, bool trap_free)
{
	int guards = put_guards(v, n, trap_free, false), tails, firsts;

	if (guards < 0)
		return guards;
	sync_once(guards);
	tails = put_tails(v, n, false);
	if (tails < 0)
		return tails;
	sync_once(tails);
	firsts = put_first_bytes(v, n, false);
	if (firsts < 0)
		return firsts;
	/* Old first bytes back over tails that never changed (a batch
	 * refused at its first sync) need no round: a core that still sees
	 * a guard runs it as the old instruction or takes a late trap. */
	if (guards > 0 || tails > 0)
		sync_once(firsts);
	return 0;
}

/* A failing write is tried again by every pass, as long as it may be
 * passing (a descriptor taken once, a transient error). */
#define UNDO_TRIES 4

/*
 * Takes every entry back to its old bytes, whatever mix of old, guarded
 * and new it holds: the same three phases towards the old instruction,
 * writing only what differs, so a pass that failed is resumed by the next.
 * The trap handler emulates the old instructions meanwhile.
 */
static void unwind(struct us_patch *v, size_t n, bool trap_free)
{
	int err = -EIO;

	if (!trap_free)
		us_trap_show(v, n, false);
	for (int i = 0; i < UNDO_TRIES && err < 0; i++)
		err = undo_once(v, n, trap_free);
	if (err >= 0)
		return;
	us_log("engine: a failed batch could not be undone: code at %p.. "
	       "keeps guard bytes", (void *)v[0].addr);
	/* Every way of writing is refused: the guards still in place stay
	 * ours, run as the old instructions (trap-free guards already are
	 * one of the two states). */
	if (!trap_free)
		us_trap_keep(v, n);
}

/*
 * Guards, sync, tails, sync, first bytes, sync. Until the first sync has
 * succeeded the trap handler emulates the old instruction, so a batch
 * refused there was never visible; a write that fails at any point is
 * undone by unwind().
 */
static int run_phases(struct us_patch *v, size_t n, bool trap_free)
{
	int err = put_guards(v, n, trap_free, true), tails;

	if (err >= 0)
		err = us_sync_cores();
	if (err) {
		unwind(v, n, trap_free);
		return err;
	}
	if (!trap_free)
		us_trap_show(v, n, true);
	tails = put_tails(v, n, true);
	if (tails > 0)
		sync_forward("tails");
	err = tails < 0 ? tails : put_first_bytes(v, n, true);
	if (err < 0) {
		unwind(v, n, trap_free);
		return err;
	}
	sync_forward("first bytes");
	serialize_self();
	return 0;
}

/*
 * No other thread exists, so no other CPU runs this code and nothing can
 * see an instruction half written: every entry goes in whole (one write
 * per run of nearby entries), then one serialization. A failed write is
 * undone the same way, every entry not back to its old bytes tried again
 * by each pass. Asynchronous signals are held on this thread for the
 * batch (hold_signals()), so no handler runs the code in between either.
 */
static int run_alone(struct us_patch *v, size_t n)
{
	int err = put_phase(v, n, PH_WHOLE, false, true), undo = -EIO;

	if (err >= 0) {
		if (err > 0) {
			sync_forward("the batch");
			serialize_self();
		}
		return 0;
	}
	for (int i = 0; i < UNDO_TRIES && undo < 0; i++)
		undo = put_phase(v, n, PH_WHOLE, false, false);
	if (undo < 0) {
		/* Every way of writing refused after one worked in this batch:
		 * nothing known does that (a write is refused before it
		 * writes). Some entries may hold other bytes now. */
		us_log("engine: a failed batch could not be undone: code at "
		       "%p.. may hold changed instructions", (void *)v[0].addr);
		sync_forward("a failed batch");
		serialize_self();
	}
	return err;
}

/*
 * AArch64: every entry is one CMODX-safe instruction (B, BL, NOP) replaced
 * by another with a single aligned 32-bit store, so a core sees the old or
 * the new one; clean/invalidate the caches, then one synchronization makes
 * every core fetch the new one. A failed write is undone the same way,
 * every entry not back to its old instruction tried again by each pass.
 */
static int swap_all(struct us_patch *v, size_t n, bool to_new)
{
	int err = 0;

	for (size_t i = 0; i < n; i++)
		if (!settled(&v[i], to_new)) {
			int e = write_code(v[i].addr, goal(&v[i], to_new), v[i].len);

			if (e && to_new)
				return e;	/* stop at the first: undo */
			err = err ? err : e;
		}
	return err;
}

static int run_swaps(struct us_patch *v, size_t n)
{
	int err = swap_all(v, n, true);

	for (int i = 0; err && i < UNDO_TRIES; i++)
		if (!swap_all(v, n, false))
			break;
	for (size_t i = 0; i < n; i++)
		us_arch_flush_icache(v[i].addr, v[i].len);
	if (err) {
		us_sync_cores();
		return err;
	}
	return us_sync_cores();
}

/* Whether int3 guards may be placed: always true where none are used. */
static bool traps_usable(void)
{
	return !US_ARCH_USES_GUARDS || us_trap_usable();
}

/* traps < 0: not asked yet. Returns whether the batch runs trap-free. */
static int choose_mode(const struct us_patch *v, size_t n, int traps,
		       bool *trap_free)
{
	if (traps < 0)
		traps = traps_usable();
	*trap_free = US_ARCH_USES_GUARDS && !traps;
	for (size_t i = 0; *trap_free && i < n; i++)
		if (!v[i].trapfree_guard)
			return us_fail(-EDEADLK, "engine: int3 needed but traps "
				       "are unusable (a tracer attached, SIGTRAP "
				       "blocked or our handler replaced)");
	return 0;
}

struct entries {
	const struct us_patch *v;
	size_t n;
};

/* The runs of nearby entries a phase may write in one go (see joins()):
 * their pages are the ones the writer opens. Returns how many; fills r
 * unless it is NULL. */
static size_t spans(void *arg, struct us_range *r)
{
	const struct entries *e = arg;
	const struct us_patch *v = e->v;
	size_t n = e->n;
	unsigned pg = page_shift();
	uint8_t *start = NULL, *end = NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct piece pc = { v[i].addr, v[i].new, v[i].len };

		if (!k || !joins(start, end, &pc, pg)) {
			start = pc.at;
			if (r)
				r[k].start = (uintptr_t)start;
			k++;
		}
		end = pc.at + pc.len;
		if (r)
			r[k - 1].end = (uintptr_t)end;
	}
	return k;
}

static int open_writer(const struct us_patch *v, size_t n, bool solo)
{
	struct entries e = { v, n };

	return us_writer_begin(spans, &e, solo);
}

/* With int3 guards: the handler must see the batch while any is placed. */
static int run_guarded(struct us_patch *v, size_t n)
{
	int err = us_trap_publish(v, n);

	if (err)
		return err;
	err = run_phases(v, n, false);
	/* Even a failed batch placed int3s: traps on them may still be
	 * pending and must be recognised as ours after unpublishing. */
	us_trap_unpublish();
	return err;
}

/* Engine lock held, asynchronous signals held on this thread. */
static int apply_locked(struct us_patch *v, size_t n, int traps)
{
	bool trap_free = false, solo = us_alone();
	long left = check_sites(v, n);
	int err = 0;

	us_assert_held(&us_engine_lock);
	if (left <= 0)
		return (int)left;
	n = (size_t)left;
	/* Alone, no guard is placed: whether traps are usable is moot. */
	if (!solo)
		err = choose_mode(v, n, traps, &trap_free);
	if (!err)
		err = open_writer(v, n, solo);
	if (err)
		return err;
	if (!US_ARCH_USES_GUARDS)
		err = run_swaps(v, n);
	else if (solo)
		err = run_alone(v, n);
	else if (trap_free)
		err = run_phases(v, n, true);
	else
		err = run_guarded(v, n);
	us_writer_end();
	if (!err) {
		US_COUNT(batches, 1);
		US_COUNT(patches, n);
		if (trap_free || solo || !US_ARCH_USES_GUARDS)
			US_COUNT(trap_free_batches, 1);
	}
	return err;
}

static void sort_patches(struct us_patch *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (v[i - 1].addr > v[i].addr) {
			qsort(v, n, sizeof(*v), cmp_patch);
			return;
		}
}

/*
 * While it holds the engine lock the updating thread takes no signal but
 * the synchronous ones: a handler run there could need the batch to end
 * first (it re-enters an update, or runs a CALL site that a shadow stack
 * keeps us from emulating), and the trap handler never waits on this
 * thread (see trap.c). The program's mask is put back before we return;
 * a signal is only delayed, for the length of one batch.
 */
static void hold_signals(sigset_t *saved)
{
	static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
					    SIGTRAP, SIGSYS };
	sigset_t s;

	sigfillset(&s);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(int); i++)
		sigdelset(&s, sync_signals[i]);
	pthread_sigmask(SIG_BLOCK, &s, saved);
}

static int apply(struct us_patch *v, size_t n, int traps)
{
	sigset_t saved;
	int err;

	if (!n)
		return 0;
	if (!US_ARCH_PATCHES_CODE)
		return us_fail(-EOPNOTSUPP, "engine: no code patching on this arch");
	if (us_runtime_foreign())
		return us_fail(-EPERM, "engine: this copy of ustatic could not "
			       "join the process's runtime: it writes no code");
	sort_patches(v, n);
	err = check_shape(v, n);
	if (err)
		return err;
	hold_signals(&saved);
	err = us_lock(&us_engine_lock);
	if (!err) {
		err = apply_locked(v, n, traps);
		us_unlock(&us_engine_lock);
	} else {
		us_fail(err, "engine: re-entered from a signal handler");
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return err;
}

int us_engine_apply(struct us_patch *v, size_t n)
{
	return apply(v, n, -1);
}

/* ---- batches ---- */

int us_batch_fail(struct us_batch *b, int err)
{
	if (!b->err)
		b->err = err;
	return err;
}

int us_batch_add(struct us_batch *b, const struct us_patch *p)
{
	if (b->err)
		return b->err;
	if (us_grow(&b->v, &b->cap, b->n, sizeof(*b->v)))
		return us_batch_fail(b, us_fail(-ENOMEM, "engine: batch"));
	b->v[b->n++] = *p;
	return 0;
}

int us_batch_on_settle(struct us_batch *b, us_settle_fn *fn, void *state)
{
	if (us_grow(&b->settle, &b->capsettle, b->nsettle, sizeof(*b->settle)))
		return us_batch_fail(b, us_fail(-ENOMEM, "engine: batch"));
	b->settle[b->nsettle++] = (struct us_settle){ fn, state };
	return 0;
}

bool us_batch_may_trap(struct us_batch *b)
{
	if (b->traps < 0)
		b->traps = traps_usable();
	return b->traps;
}

int us_batch_finish(struct us_batch *b)
{
	int err = b->err;

	if (!err)
		err = apply(b->v, b->n, b->traps);
	/* A callback that could not be recorded failed the batch above; the
	 * ones recorded learn the outcome. */
	for (size_t i = 0; i < b->nsettle; i++)
		b->settle[i].fn(b->settle[i].state, err);
	free(b->v);
	free(b->settle);
	*b = (struct us_batch)US_BATCH_INIT;
	return err;
}
