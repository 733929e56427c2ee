/* SPDX-License-Identifier: MIT */
/*
 * The SIGTRAP handler and what it reads. See trap.h.
 *
 * The handler never makes the writer wait for it. Everything it reads (the
 * published batch and the history of guarded addresses) sits in buffers
 * that are never freed, only retired when they grow (geometrically, so all
 * of them together stay under twice the largest), and is read under a
 * sequence count: the writer makes `seq` odd, changes the buffers, makes it
 * even again; a reader that saw an odd count, or a different count after
 * reading, looks again. So a handler that never returns (siglongjmp out of
 * a signal handler that interrupted it, thread cancellation, a thread
 * killed inside it) holds nothing, and a handler delayed for any time
 * reads buffers that still exist. This replaces the kernel's refcount and
 * the drain that waits for it: the kernel's int3 handler cannot be left
 * non-locally, ours can.
 *
 * Pairing (the kernel's "write int3 / sync / handler reads the batch"):
 *   writer: seq odd -> buffers -> seq even (release) -> write int3 -> sync
 *   handler: trap on int3 -> seq (acquire) -> buffers -> site byte ->
 *            fence (acquire) -> seq again
 * The int3 is written after the batch is visible, so a handler that finds
 * our int3 on a site finds the entry for it in the same snapshot, or sees
 * the count move and looks again.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "lock.h"
#include "runtime.h"
#include "sigmask.h"
#include "sync.h"
#include "tracer.h"
#include "trap.h"
#include "under_valgrind.h"

#define ARCH_SHSTK_STATUS 0x5005
#define ARCH_SHSTK_SHSTK  (1UL << 0)

_Static_assert(US_INSN_MAX <= 8, "an entry's bytes are read as one word");
_Static_assert(offsetof(struct us_pub_entry, addr) == 0,
	       "search() reads an entry's address as its first word");

/* The runtime's trap state (src/runtime.h), shared by every copy of the
 * library: whichever copy installed the handler reads what any copy's
 * batch published. Tables are written under us_engine_lock, between
 * seq_begin() and seq_end(); the handler reads them with relaxed loads
 * inside a seq snapshot. `kept` holds guards a failed batch could not
 * take back (every way of writing code refused): emulated as their old
 * instructions for good. `writer_tid` is the thread that last made seq
 * odd (a handler compares it with its own: gettid() is async-signal-safe,
 * thread-local storage may not be). `previous` becomes SIG_DFL after its
 * handler ran once if it asked for SA_RESETHAND (a plain store: only the
 * handlers that chain to it read it). */
#define T (&us_rt->trap)

static void seq_begin(void)
{
	us_assert_held(&us_engine_lock);
	__atomic_store_n(&T->writer_tid, gettid(), __ATOMIC_RELAXED);
	__atomic_store_n(&T->seq, T->seq + 1, __ATOMIC_RELAXED);
	/* The odd count is visible before any buffer store (pairs with the
	 * reader's acquire fence before its second look at seq). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void seq_end(void)
{
	/* Pairs with the reader's acquire load of seq. */
	__atomic_store_n(&T->seq, T->seq + 1, __ATOMIC_RELEASE);
}

/* ---- the handler's side ---- */

/*
 * Binary search of n sorted elements of `stride` bytes whose first word
 * is an address: the batch's entries and the history's addresses alike.
 * n is clamped to cap: a torn look is rejected by the seq check.
 */
static const void *search(const void *base, size_t n, size_t cap,
			  size_t stride, uintptr_t a)
{
	size_t lo = 0, hi = n < cap ? n : cap;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uintptr_t *m = (const void *)((const char *)base + mid * stride);
		uintptr_t v = __atomic_load_n(m, __ATOMIC_RELAXED);

		if (a == v)
			return m;
		if (a < v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct us_pub_entry *find_entry(const struct us_pub_batch *b,
					     uintptr_t a)
{
	if (!b)
		return NULL;
	return search(b->e, __atomic_load_n(&b->n, __ATOMIC_RELAXED), b->cap,
		      sizeof(b->e[0]), a);
}

static bool in_history(const struct us_pub_history *h, uintptr_t a)
{
	return h && search(h->addr, __atomic_load_n(&h->n, __ATOMIC_RELAXED),
			   h->cap, sizeof(h->addr[0]), a);
}

static uint8_t code_byte(uintptr_t at)
{
	return *(volatile uint8_t *)at;
}

/* Whether an instruction that raises SIGTRAP ends at pc: int3 (cc),
 * `int $3` (cd 03), icebp (f1). */
static bool trap_insn_before(uintptr_t pc)
{
	uint8_t b1 = code_byte(pc - 1);

	return b1 == 0xcc || b1 == 0xf1 ||
	       (b1 == 0x03 && code_byte(pc - 2) == 0xcd);
}

enum verdict { EMULATE, REEXECUTE_SITE, REEXECUTE_PC, NOT_OURS };

struct look {
	enum verdict v;
	uint64_t insn;			/* EMULATE: the new instruction */
};

/* One look at the batch, the history and the code; valid only if seq did
 * not move meanwhile. */
static struct look look_once(uintptr_t pc, bool pc_may_be_site)
{
	uintptr_t site = pc - 1;
	const struct us_pub_batch *b = __atomic_load_n(&T->batch, __ATOMIC_RELAXED);
	const struct us_pub_history *h = __atomic_load_n(&T->history, __ATOMIC_RELAXED);
	const struct us_pub_entry *e = find_entry(b, site);

	if (!e && code_byte(site) == US_TRAP_BYTE)
		e = find_entry(__atomic_load_n(&T->kept, __ATOMIC_RELAXED), site);
	if (e) {
		if (code_byte(site) != US_TRAP_BYTE)
			return (struct look){ REEXECUTE_SITE, 0 };
		return (struct look){ EMULATE,
			__atomic_load_n(&e->word, __ATOMIC_RELAXED) };
	}
	if (in_history(h, site)) {
		/* Our int3 is gone: a late trap. An int3 on one of our sites
		 * that no batch holds is somebody else's breakpoint. */
		if (code_byte(site) != US_TRAP_BYTE)
			return (struct look){ REEXECUTE_SITE, 0 };
		return (struct look){ NOT_OURS, 0 };
	}
	/* A PC on one of our sites: gdb, finding the int3 it stopped on gone,
	 * takes it for a breakpoint of its own and rewinds the PC (valgrind
	 * reports the int3's own address too): re-execute. Unless what ends
	 * just before is a trap instruction (int3, `int $3`, icebp): that is
	 * somebody else's trap, right before one of our sites. */
	if (pc_may_be_site && (find_entry(b, pc) || in_history(h, pc)) &&
	    !trap_insn_before(pc))
		return (struct look){ REEXECUTE_PC, 0 };
	return (struct look){ NOT_OURS, 0 };
}

/*
 * A consistent look. The writer holds seq odd only while it copies into
 * the buffers, with asynchronous signals blocked on its thread, so the
 * wait is short. A signal that is not blocked there (a SIGSEGV or SIGBUS
 * sent with pthread_kill) may still run a site on the writer's own
 * thread while seq is odd: waiting would never end, and need not, for the
 * writer is stopped under us and every word it stores is whole (an entry
 * shows its old or its new instruction; no int3 of a batch being copied
 * in is placed yet). Then the look is taken as it is.
 */
static struct look look(uintptr_t pc, bool pc_may_be_site)
{
	for (;;) {
		unsigned long s = __atomic_load_n(&T->seq, __ATOMIC_ACQUIRE);
		struct look l;

		if ((s & 1) && __atomic_load_n(&T->writer_tid, __ATOMIC_RELAXED) ==
			       gettid())
			return look_once(pc, pc_may_be_site);
		if (s & 1) {
			sched_yield();
			continue;
		}
		l = look_once(pc, pc_may_be_site);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&T->seq, __ATOMIC_RELAXED) == s)
			return l;
	}
}

/*
 * Returns true when the trap was ours and the context is fixed up. `sent`:
 * the siginfo is a SIGTRAP some thread sent. The kernel does not queue a
 * second SIGTRAP while one is pending, so an int3 of ours executed while a
 * sent one was pending shows only the sent one: a PC just past one of our
 * guarded sites (inside its instruction: only our int3 leads there) is
 * such a merged trap, and is ours too.
 */
static bool handle_trap(ucontext_t *uc, bool sent)
{
	uintptr_t pc = us_arch_trap_pc(uc);
	struct look l = look(pc, !sent);
	uint8_t insn[8];

	if (sent && l.v != EMULATE && l.v != REEXECUTE_SITE)
		return false;

	switch (l.v) {
	case EMULATE:
		memcpy(insn, &l.insn, sizeof(insn));
		if (us_arch_emulate(insn, pc - 1, uc, T->shadow_stack)) {
			US_COUNT(traps, 1);
			return true;
		}
		/* A CALL under a shadow stack: run the site again once the
		 * new instruction is in place (the writer is another thread:
		 * its own are not delivered signals during a batch). */
		sched_yield();
		/* fall through */
	case REEXECUTE_SITE:
		us_arch_set_pc(uc, pc - 1);
		/* fall through */
	case REEXECUTE_PC:
		US_COUNT(late_traps, 1);
		return true;
	case NOT_OURS:
		break;
	}
	return false;
}

/*
 * A trap the kernel raised for an int3 (SI_KERNEL; valgrind says
 * TRAP_BRKPT), not a SIGTRAP some thread sent (si_code <= 0). Whose int3
 * it was is for the address lookup to decide.
 */
static bool from_int3(const siginfo_t *si)
{
	return si->si_code == SI_KERNEL || si->si_code == TRAP_BRKPT;
}

/*
 * Runs the program's handler as the kernel would have: with its sa_mask
 * (and SIGTRAP, unless SA_NODEFER) blocked while it runs, and, for
 * SA_RESETHAND, only once: after it, SIGTRAP is as if SIG_DFL (our handler
 * stays, our own traps need it).
 */
static void call_previous(int sig, siginfo_t *si, ucontext_t *uc)
{
	struct sigaction p = T->previous;
	sigset_t mask = p.sa_mask, saved;

	if (!(p.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	if (p.sa_flags & SA_RESETHAND) {
		T->previous.sa_handler = SIG_DFL;
		T->previous.sa_flags &= ~SA_SIGINFO;
	}
	pthread_sigmask(SIG_BLOCK, &mask, &saved);
	if (p.sa_flags & SA_SIGINFO)
		p.sa_sigaction(sig, si, uc);
	else
		p.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

/* Not ours: behave as if we had never been installed. */
static void chain(int sig, siginfo_t *si, ucontext_t *uc)
{
	const struct sigaction *p = &T->previous;

	if ((p->sa_flags & SA_SIGINFO) ||
	    (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN)) {
		call_previous(sig, si, uc);
		return;
	}
	/* Ignored, as inherited (`trap '' TRAP`): a sent SIGTRAP stays
	 * ignored, as it would be without us. */
	if (p->sa_handler == SIG_IGN && !from_int3(si))
		return;
	/*
	 * The kernel forces the default action on an int3 even when SIGTRAP
	 * is ignored: restore it, then re-execute the int3 if it is still
	 * there (the core then shows where it was), else raise the signal.
	 */
	signal(SIGTRAP, SIG_DFL);
	if (from_int3(si) &&
	    *(volatile uint8_t *)(us_arch_trap_pc(uc) - 1) == US_TRAP_BYTE)
		us_arch_set_pc(uc, us_arch_trap_pc(uc) - 1);
	else
		raise(SIGTRAP);
}

static void on_sigtrap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int saved = errno;
	bool sent = !from_int3(si);

	/* A sent SIGTRAP that swallowed one of our int3s is both: ours is
	 * handled, and the sent one goes where it would have gone. */
	if (!handle_trap(uc, sent) || sent)
		chain(sig, si, uc);
	errno = saved;
}

static bool detect_shadow_stack(void)
{
	unsigned long features = 0;

	if (secure_getenv("USTATIC_FORCE_SHSTK"))
		return atoi(secure_getenv("USTATIC_FORCE_SHSTK")) != 0;
#ifdef __x86_64__
	if (syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &features) != 0)
		return false;
#endif
	return features & ARCH_SHSTK_SHSTK;
}

void us_trap_init(void)
{
	/* The same answer from every copy: a process-wide property. */
	if (US_ARCH_USES_GUARDS)
		T->shadow_stack = detect_shadow_stack();
}

bool us_trap_shadow_stack(void)
{
	return T->shadow_stack;
}

/*
 * Whether the handler may be installed: SIGTRAP's disposition can be read
 * and is not SIG_IGN. Ignored (`trap '' TRAP` before exec, or the
 * program's SIG_IGN): a handler of ours would also reset it to SIG_DFL in
 * every program this one execs, so the program keeps its disposition and
 * no int3 is ever used.
 */
static bool installable(void)
{
	struct sigaction old;

	if (__atomic_load_n(&T->ignored, __ATOMIC_RELAXED))
		return false;
	if (sigaction(SIGTRAP, NULL, &old)) {
		us_log("trap: cannot read SIGTRAP's disposition: %s", strerror(errno));
		return false;
	}
	if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) {
		us_log("trap: SIGTRAP is ignored: left so, and no int3 is used");
		__atomic_store_n(&T->ignored, true, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

/*
 * Installs the handler, once per process, when the first batch that
 * places an int3 is published: a process that never needs one keeps
 * SIGTRAP as it was. The chain is set before the handler can run.
 */
static int install_handler(void)
{
	struct sigaction sa;

	us_assert_held(&us_engine_lock);
	if (T->handler)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigtrap;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, NULL, &T->previous) ||
	    sigaction(SIGTRAP, &sa, NULL))
		return us_fail(-errno, "trap: installing the SIGTRAP handler");
	/* Read without the lock by us_trap_usable(). */
	__atomic_store_n(&T->handler, on_sigtrap, __ATOMIC_RELEASE);
	if (T->shadow_stack)
		us_log("trap: shadow stack active, CALLs are never emulated");
	return 0;
}

/* Whether the process's handler h (any copy's) is still SIGTRAP's. */
static bool handler_installed(us_sigaction_fn *h)
{
	struct sigaction cur;

	if (sigaction(SIGTRAP, NULL, &cur))
		return false;
	return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == h;
}

/*
 * Whether a tracer is attached. A process with no other thread writes
 * whole instructions and places no int3 (engine.c); it asks only whether
 * int3 could later take a site back from a function (a debugger started
 * with the program must keep sites on their trampolines), so its first
 * answer stands while it stays alone: one /proc read, not one per update.
 * Once a second thread exists every batch that may place an int3 reads it
 * again, and forgets the answer: where "alone" is a thread count (not
 * glibc), the process may be alone again later, and a tracer may have
 * come meanwhile. Per copy; a race between threads cannot happen while
 * alone.
 */
static bool traced(void)
{
	static int alone_verdict = -1;

	if (!us_alone()) {
		alone_verdict = -1;
		return us_tracer_attached();
	}
	if (alone_verdict < 0)
		alone_verdict = us_tracer_attached();
	return alone_verdict;
}

bool us_trap_usable(void)
{
	const char *e = secure_getenv("USTATIC_TRAPFREE");
	us_sigaction_fn *h = __atomic_load_n(&T->handler, __ATOMIC_ACQUIRE);

	if (!US_ARCH_USES_GUARDS || (e && atoi(e)))
		return false;
	if (!h ? !installable() : !handler_installed(h)) {
		us_log("trap: SIGTRAP is ignored, or its handler was replaced");
		return false;
	}
	/* A debugger would stop on our int3 (see tracer.h). */
	if (traced())
		return false;
	if (us_sigtrap_may_be_blocked()) {
		us_log("trap: a thread or a handler blocks SIGTRAP, or a mask "
		       "cannot be read; an int3 could kill the process");
		return false;
	}
	return true;
}


/* ---- the writer's side (engine lock held) ---- */

static size_t grown_cap(size_t cap, size_t need)
{
	size_t c = cap ? cap : 64;

	while (c < need)
		c *= 2;
	return c;
}

/* Room for `need` entries, allocated before seq goes odd: nothing fails
 * once an int3 may be placed. The buffer replaced is retired, not freed. */
static int reserve_batch(size_t need)
{
	struct us_pub_batch *nb;
	size_t cap;

	if (T->batch && T->batch->cap >= need)
		return 0;
	cap = grown_cap(T->batch ? T->batch->cap : 0, need);
	nb = calloc(1, sizeof(*nb) + cap * sizeof(nb->e[0]));
	if (!nb)
		return -ENOMEM;
	nb->cap = cap;
	nb->retired = T->batch;
	seq_begin();
	__atomic_store_n(&T->batch, nb, __ATOMIC_RELAXED);
	seq_end();
	return 0;
}

/* How many of sorted v's addresses the history lacks. */
static size_t count_new(const struct us_patch *v, size_t n)
{
	size_t k = T->history ? T->history->n : 0, i = 0, fresh = 0;

	for (size_t j = 0; j < n; j++) {
		while (i < k && T->history->addr[i] < (uintptr_t)v[j].addr)
			i++;
		fresh += i == k || T->history->addr[i] != (uintptr_t)v[j].addr;
	}
	return fresh;
}

static int reserve_history(size_t need)
{
	struct us_pub_history *nh;
	size_t cap;

	if (T->history && T->history->cap >= need)
		return 0;
	cap = grown_cap(T->history ? T->history->cap : 0, need);
	nh = calloc(1, sizeof(*nh) + cap * sizeof(nh->addr[0]));
	if (!nh)
		return -ENOMEM;
	nh->cap = cap;
	if (T->history) {
		memcpy(nh->addr, T->history->addr, T->history->n * sizeof(nh->addr[0]));
		nh->n = T->history->n;
	}
	nh->retired = T->history;
	seq_begin();
	__atomic_store_n(&T->history, nh, __ATOMIC_RELAXED);
	seq_end();
	return 0;
}

/* Merges sorted v's addresses into the history, from the back, in place
 * (seq is odd). */
static void merge_history(const struct us_patch *v, size_t n, size_t fresh)
{
	size_t i = T->history->n, j = n, out = T->history->n + fresh;

	__atomic_store_n(&T->history->n, out, __ATOMIC_RELAXED);
	while (j > 0) {
		uintptr_t a = (uintptr_t)v[j - 1].addr;
		uintptr_t b = i ? T->history->addr[i - 1] : 0;

		if (i && b >= a) {
			__atomic_store_n(&T->history->addr[--out], b, __ATOMIC_RELAXED);
			i--;
			j -= b == a;
		} else {
			__atomic_store_n(&T->history->addr[--out], a, __ATOMIC_RELAXED);
			j--;
		}
	}
}

/* The instruction a guarded entry runs as: its new one, or its old one
 * (when that can be emulated) while the batch may still be refused. */
static const uint8_t *shown(const struct us_patch *p, bool new_insn)
{
	return new_insn || !us_arch_can_patch_in(p->old, p->len) ? p->new : p->old;
}

static void copy_batch(const struct us_patch *v, size_t n, bool new_insn)
{
	for (size_t i = 0; i < n; i++) {
		struct us_pub_entry e = { .addr = (uintptr_t)v[i].addr };

		memcpy(e.insn, shown(&v[i], new_insn), v[i].len);
		__atomic_store_n(&T->batch->e[i].addr, e.addr, __ATOMIC_RELAXED);
		__atomic_store_n(&T->batch->e[i].word, e.word, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&T->batch->n, n, __ATOMIC_RELAXED);
}

int us_trap_publish(const struct us_patch *v, size_t n)
{
	size_t fresh = count_new(v, n);

	us_assert_held(&us_engine_lock);
	if (install_handler())
		return -EAGAIN;
	if (reserve_batch(n) ||
	    reserve_history((T->history ? T->history->n : 0) + fresh))
		return us_fail(-ENOMEM, "trap: publishing a batch");
	seq_begin();
	copy_batch(v, n, false);
	if (fresh)
		merge_history(v, n, fresh);
	seq_end();
	return 0;
}

void us_trap_show(const struct us_patch *v, size_t n, bool new_insn)
{
	seq_begin();
	copy_batch(v, n, new_insn);
	seq_end();
}

void us_trap_unpublish(void)
{
	seq_begin();
	__atomic_store_n(&T->batch->n, 0, __ATOMIC_RELAXED);
	seq_end();
}

static int cmp_entry(const void *a, const void *b)
{
	const struct us_pub_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void us_trap_keep(const struct us_patch *v, size_t n)
{
	size_t old = T->kept ? T->kept->n : 0, k = old;
	struct us_pub_batch *nk;

	us_assert_held(&us_engine_lock);
	nk = calloc(1, sizeof(*nk) + (old + n) * sizeof(nk->e[0]));
	if (!nk) {
		us_log("trap: no memory to keep a failed batch's guards");
		return;
	}
	if (old)
		memcpy(nk->e, T->kept->e, old * sizeof(nk->e[0]));
	for (size_t i = 0; i < n; i++) {
		if (code_byte((uintptr_t)v[i].addr) != US_TRAP_BYTE)
			continue;
		nk->e[k] = (struct us_pub_entry){ .addr = (uintptr_t)v[i].addr };
		memcpy(nk->e[k++].insn, v[i].old, v[i].len);
	}
	qsort(nk->e, k, sizeof(nk->e[0]), cmp_entry);
	nk->cap = nk->n = k;
	nk->retired = T->kept;
	seq_begin();
	__atomic_store_n(&T->kept, nk, __ATOMIC_RELAXED);
	seq_end();
	us_log("trap: %zu guard(s) of a failed batch stay, run as their old "
	       "instructions", k - old);
}
