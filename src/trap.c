/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "debug.h"
#include "sigmask.h"
#include "trap.h"
#include "under_valgrind.h"

#define ARCH_SHSTK_STATUS 0x5005
#define ARCH_SHSTK_SHSTK  (1UL << 0)

/* A sorted array published to the lock-free handler. */
struct published {
	const struct us_patch *v;
	size_t n;
};
struct history {
	uintptr_t *addr;
	size_t n;
};

static struct sigaction previous;
static struct published batch_slot;
static struct published *batch;		/* NULL while no batch runs */
static struct history *history;		/* every address ever guarded by int3 */
static struct history *retired;		/* freed once handlers drained */
static struct history *pending;		/* prepared for the running batch */
static unsigned long active;		/* handlers between lookup and return */
static bool shadow_stack;

static const struct us_patch *find_patch(const struct published *b, uintptr_t a)
{
	size_t lo = 0, hi = b ? b->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uintptr_t m = (uintptr_t)b->v[mid].addr;

		if (a == m)
			return &b->v[mid];
		if (a < m)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static bool in_history(const struct history *h, uintptr_t a)
{
	size_t lo = 0, hi = h ? h->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a == h->addr[mid])
			return true;
		if (a < h->addr[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static void late_trap(ucontext_t *uc, uintptr_t site)
{
	us_arch_set_pc(uc, site);
	US_COUNT(late_traps, 1);
}

static bool guarded(uintptr_t site)
{
	return *(volatile uint8_t *)site == US_TRAP_BYTE;
}

/* One look at the published batch and the history; see handle_trap(). */
enum verdict { EMULATED, REEXECUTE, NOT_OURS, UNSETTLED };

static enum verdict judge(ucontext_t *uc, uintptr_t pc)
{
	uintptr_t site = pc - 1;
	const struct published *b = __atomic_load_n(&batch, __ATOMIC_SEQ_CST);
	const struct us_patch *p = find_patch(b, site);
	const struct history *h;

	if (p) {
		if (!guarded(site)) {
			late_trap(uc, site);	/* int3 already replaced */
		} else if (us_arch_emulate(p->new, site, uc, shadow_stack)) {
			US_COUNT(traps, 1);
			return EMULATED;
		} else {
			late_trap(uc, site);	/* retry once the patch lands */
			sched_yield();
		}
		return REEXECUTE;
	}
	h = __atomic_load_n(&history, __ATOMIC_SEQ_CST);
	/* A debugger may already have moved the PC back onto the site. */
	if (find_patch(b, pc) || in_history(h, pc)) {
		US_COUNT(late_traps, 1);
		return REEXECUTE;
	}
	if (!in_history(h, site))
		return NOT_OURS;
	if (!guarded(site)) {
		late_trap(uc, site);		/* the batch is over */
		return REEXECUTE;
	}
	/* An int3 on a site of ours, but no batch holds it: a batch being
	 * published or retired under our feet, or a debugger's breakpoint. */
	return UNSETTLED;
}

/*
 * Returns true when the trap was ours and the context is fixed up. The
 * byte and the batch are read at different moments while batches come and
 * go, so an int3 found on one of our sites with no batch holding it is
 * looked at again: ours settles within a batch; a foreign one never does.
 */
static bool handle_trap(ucontext_t *uc)
{
	uintptr_t pc = us_arch_trap_pc(uc);

	for (int tries = 0; tries < 1000; tries++) {
		enum verdict v = judge(uc, pc);

		if (v != UNSETTLED)
			return v != NOT_OURS;
		sched_yield();
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

/* Not ours: behave as if we had never been installed. */
static void chain(int sig, siginfo_t *si, ucontext_t *uc)
{
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uc);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
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
	bool ours = false;

	__atomic_fetch_add(&active, 1, __ATOMIC_SEQ_CST);
	if (from_int3(si))
		ours = handle_trap(uc);
	__atomic_fetch_sub(&active, 1, __ATOMIC_SEQ_CST);
	if (!ours)
		chain(sig, si, uc);
	errno = saved;
}

static bool detect_shadow_stack(void)
{
	unsigned long features = 0;

	if (getenv("USTATIC_FORCE_SHSTK"))
		return atoi(getenv("USTATIC_FORCE_SHSTK")) != 0;
#ifdef __x86_64__
	if (syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &features) != 0)
		return false;
#endif
	return features & ARCH_SHSTK_SHSTK;
}

void us_trap_init(void)
{
	struct sigaction sa;

	if (!US_ARCH_USES_GUARDS)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigtrap;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &previous))
		us_log("trap: cannot install SIGTRAP handler: %s", strerror(errno));
	shadow_stack = detect_shadow_stack();
	if (shadow_stack)
		us_log("trap: shadow stack active, CALLs are never emulated");
}

void us_trap_set_shadow_stack(bool on)
{
	shadow_stack = on;
}

static bool handler_installed(void)
{
	struct sigaction cur;

	if (sigaction(SIGTRAP, NULL, &cur))
		return false;
	return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigtrap;
}

bool us_trap_usable(void)
{
	const char *e = getenv("USTATIC_TRAPFREE");
	int sig;

	if (!US_ARCH_USES_GUARDS || (e && atoi(e)))
		return false;
	if (!handler_installed()) {
		us_log("trap: our SIGTRAP handler was replaced");
		return false;
	}
	if ((sig = us_sigtrap_masked_by_handler())) {
		us_log("trap: the handler of signal %d blocks SIGTRAP while it runs", sig);
		return false;
	}
	/* Under valgrind every thread's host mask blocks everything (valgrind
	 * keeps the program's masks to itself): /proc cannot tell us. */
	if (!RUNNING_ON_VALGRIND && us_sigtrap_blocked_by_thread()) {
		us_log("trap: a thread blocks SIGTRAP; an int3 would kill it");
		return false;
	}
	return true;
}

void us_trap_publish(const struct us_patch *v, size_t n)
{
	batch_slot.v = v;
	batch_slot.n = n;
	__atomic_store_n(&batch, &batch_slot, __ATOMIC_SEQ_CST);
}

/*
 * The history the batch v[0..n) will need, built before any int3 is
 * placed so that nothing can fail once one is: the current history plus
 * v's new addresses, sorted (none when nothing is new).
 */
/* Whether sorted v holds an address the history lacks: a search per
 * entry for small batches, one walk of both for large ones. */
static bool has_new_address(const struct history *old, const struct us_patch *v,
			    size_t n)
{
	size_t k = old ? old->n : 0, i = 0;

	if (n * 16 < k) {
		for (size_t j = 0; j < n; j++)
			if (!in_history(old, (uintptr_t)v[j].addr))
				return true;
		return false;
	}
	for (size_t j = 0; j < n; j++) {
		while (i < k && old->addr[i] < (uintptr_t)v[j].addr)
			i++;
		if (i == k || old->addr[i] != (uintptr_t)v[j].addr)
			return true;
	}
	return false;
}

int us_trap_prepare_history(const struct us_patch *v, size_t n)
{
	const struct history *old = history;
	size_t k = old ? old->n : 0, i = 0, j = 0, out = 0;
	struct history *h;

	pending = NULL;
	if (!has_new_address(old, v, n))
		return 0;
	h = malloc(sizeof(*h));
	if (!h || !(h->addr = malloc((k + n) * sizeof(uintptr_t)))) {
		free(h);
		return -ENOMEM;
	}
	/* Both are sorted: merge them, each address once. */
	while (i < k || j < n) {
		uintptr_t a = j < n ? (uintptr_t)v[j].addr : UINTPTR_MAX;
		uintptr_t b = i < k ? old->addr[i] : UINTPTR_MAX;

		if (b <= a) {
			h->addr[out++] = b;
			i++;
			j += a == b;
		} else {
			h->addr[out++] = a;
			j++;
		}
	}
	h->n = out;
	pending = h;
	return 0;
}

void us_trap_remember(void)
{
	if (!pending)
		return;
	retired = history;
	__atomic_store_n(&history, pending, __ATOMIC_SEQ_CST);
	pending = NULL;
}

void us_trap_unpublish(void)
{
	__atomic_store_n(&batch, NULL, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&active, __ATOMIC_SEQ_CST))
		sched_yield();
	if (retired) {
		free(retired->addr);
		free(retired);
		retired = NULL;
	}
}
