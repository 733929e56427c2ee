/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include "debug.h"
#include "trap.h"

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

/* Returns true when the trap was ours and the context is fixed up. */
static bool handle_trap(ucontext_t *uc)
{
	uintptr_t pc = us_arch_trap_pc(uc), site = pc - 1;
	const struct published *b = __atomic_load_n(&batch, __ATOMIC_SEQ_CST);
	const struct history *h;
	const struct us_patch *p = find_patch(b, site);
	bool guarded = *(volatile uint8_t *)site == US_TRAP_BYTE;

	if (p) {
		if (!guarded) {
			late_trap(uc, site);	/* int3 already replaced */
		} else if (us_arch_emulate(p->new, site, uc, shadow_stack)) {
			US_COUNT(traps, 1);
		} else {
			late_trap(uc, site);	/* retry once the patch lands */
			sched_yield();
		}
		return true;
	}
	/* A debugger may already have moved the PC back onto the site. */
	if (find_patch(b, pc)) {
		US_COUNT(late_traps, 1);
		return true;
	}
	h = __atomic_load_n(&history, __ATOMIC_SEQ_CST);
	if (!guarded && in_history(h, site)) {
		late_trap(uc, site);
		return true;
	}
	if (in_history(h, pc)) {
		US_COUNT(late_traps, 1);
		return true;
	}
	return false;
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
	if (si->si_code == SI_KERNEL &&
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
	if (si->si_code == SI_KERNEL)
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

/*
 * What a thread's signal mask means for an int3. glibc (and musl) block
 * every signal, their internal ones (32 and 33) included, while a thread
 * starts or runs certain internal code; a mask set by the application can
 * never contain those two, because pthread_sigmask() removes them.
 */
enum trap_mask { TRAP_OK, TRAP_BLOCKED, TRAP_BLOCKED_BRIEFLY };

#define SIG_BIT(n) (1ULL << ((n) - 1))
#define LIBC_INTERNAL_SIGNALS (SIG_BIT(32) | SIG_BIT(33))

static enum trap_mask thread_trap_mask(const char *tid)
{
	char path[64], buf[2048], *l;
	unsigned long long blocked;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%s/status", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return TRAP_OK;	/* the thread has exited */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return TRAP_OK;
	buf[n] = 0;
	l = strstr(buf, "\nSigBlk:");
	blocked = l ? strtoull(l + 8, NULL, 16) : 0;
	if (!(blocked & SIG_BIT(SIGTRAP)))
		return TRAP_OK;
	if ((blocked & LIBC_INTERNAL_SIGNALS) == LIBC_INTERNAL_SIGNALS)
		return TRAP_BLOCKED_BRIEFLY;
	return TRAP_BLOCKED;
}

static enum trap_mask worst_trap_mask(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	enum trap_mask worst = TRAP_OK, m;

	if (!d)
		return TRAP_OK;
	while (worst != TRAP_BLOCKED && (de = readdir(d)))
		if (de->d_name[0] != '.' && (m = thread_trap_mask(de->d_name)) > worst)
			worst = m;
	closedir(d);
	return worst;
}

bool us_trap_usable(void)
{
	const char *e = getenv("USTATIC_TRAPFREE");
	enum trap_mask m;

	if (!US_ARCH_USES_GUARDS || (e && atoi(e)))
		return false;
	if (!handler_installed()) {
		us_log("trap: our SIGTRAP handler was replaced");
		return false;
	}
	/* A libc-internal block passes; wait it out (at most ~200 ms). */
	for (int i = 0; (m = worst_trap_mask()) == TRAP_BLOCKED_BRIEFLY && i < 2000; i++)
		usleep(100);
	if (m == TRAP_OK)
		return true;
	us_log("trap: a thread blocks SIGTRAP; an int3 would kill it");
	return false;
}

void us_trap_publish(const struct us_patch *v, size_t n)
{
	batch_slot.v = v;
	batch_slot.n = n;
	__atomic_store_n(&batch, &batch_slot, __ATOMIC_SEQ_CST);
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

int us_trap_remember(const struct us_patch *v, size_t n)
{
	struct history *old = history, *h;
	size_t add = 0, k;

	for (size_t i = 0; i < n; i++)
		add += !in_history(old, (uintptr_t)v[i].addr);
	if (!add)
		return 0;
	h = malloc(sizeof(*h));
	k = old ? old->n : 0;
	if (!h || !(h->addr = malloc((k + add) * sizeof(uintptr_t)))) {
		free(h);
		return -ENOMEM;
	}
	if (k)
		memcpy(h->addr, old->addr, k * sizeof(uintptr_t));
	for (size_t i = 0; i < n; i++)
		if (!in_history(old, (uintptr_t)v[i].addr))
			h->addr[k++] = (uintptr_t)v[i].addr;
	qsort(h->addr, k, sizeof(uintptr_t), cmp_addr);
	h->n = k;
	__atomic_store_n(&history, h, __ATOMIC_SEQ_CST);
	retired = old;
	return 0;
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
