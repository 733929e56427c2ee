/* SPDX-License-Identifier: MIT */
/*
 * Signal masks that would make an int3 fatal, read from /proc (threads)
 * and sigaction() (handlers). See sigmask.h.
 *
 * Fail closed: what cannot be read or parsed counts as blocking SIGTRAP.
 * A wrong "not blocking" lets an int3 kill the process; a wrong "blocking"
 * costs a trap-free batch or -EDEADLK. Only a thread that is gone (it
 * exited between the listing and the read: ENOENT, ESRCH) or dead (a
 * zombie runs no code) counts as not blocking without its mask.
 *
 * The scans keep everything on the caller's stack; the cached verdict
 * lives in the runtime (src/runtime.h), under its own lock there, beside
 * which each copy keeps one hint (the blocker it found, see
 * blocker_gone()).
 *
 * The cache. Reading every thread's mask costs ~10 us a thread, so it is
 * not done for every batch: a "nothing blocks SIGTRAP" verdict stands
 * while the number of threads (the link count of /proc/self/task, one
 * stat()) and the runtime's mask epoch stay the same. With libustatic.so
 * loaded, no mask set through libc can block SIGTRAP at all
 * (src/interpose.c), and a new thread starts with its creator's mask. What
 * the cache misses: a mask that blocks SIGTRAP set with the raw system
 * call, setcontext(), pselect/ppoll/epoll_pwait, or in a handler's
 * ucontext, in a thread that exists already, while the number of threads
 * stays the same; or through libc in a program that links the static
 * archive and not the shared library. If such a thread then meets an int3
 * the kernel kills the process. docs/DESIGN.md says so; USTATIC_MASK_SCAN=1
 * reads every mask before every batch that places an int3.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "debug.h"
#include "lock.h"
#include "runtime.h"
#include "sigmask.h"
#include "sync.h"
#include "under_valgrind.h"

/*
 * What a thread's signal mask means for an int3. glibc blocks every signal,
 * its internal 32 and 33 included (an exiting thread leaves 33 open), only
 * where it runs its own code: around clone() in pthread_create() and
 * posix_spawn() (whose caller sleeps until the child execs), in a new
 * thread until it restores its creator's mask, on the way out after the
 * thread's destructors ran. A mask set through libc can hold neither 32 nor
 * 33 (pthread_sigmask() removes them), so such a thread runs libc's code
 * until its mask is the program's again. Asleep with it (posix_spawn()'s
 * caller sleeps until the child execs, which may take long), it can run
 * nothing and wakes into libc: it counts as not blocking. Running with it,
 * it is waited for (below). Only a raw system call could give program
 * code such a mask (unseen, as every raw mask; a thread that does so and
 * sleeps is taken for libc's). musl's passing masks look like an
 * application's: see below.
 */
/* Ordered: a scan keeps the worst it saw. */
enum trap_mask { TRAP_OK, TRAP_BLOCKED_BRIEFLY, TRAP_BLOCKED };

#define SIG_BIT(n) (1ULL << ((n) - 1))
#define LIBC_INTERNAL_SIGNALS (SIG_BIT(32) | SIG_BIT(33))

/*
 * musl is not so kind. While a thread starts (the new thread until its
 * first instructions restore the creator's mask, and the creator around
 * clone()), and in raise(), it blocks every signal but its own 32-34 with
 * the raw system call: exactly what sigfillset() and pthread_sigmask()
 * give an application that links the static archive (the wrappers of
 * src/interpose.c take SIGTRAP out only in programs that load
 * libustatic.so), since musl's sigfillset() leaves 32-34 out. (Its
 * exiting threads block all: the rule above.) Such a mask is libc's only
 * as long as the thread runs next to nothing with it and does not sleep:
 * musl's start-up restores the mask within microseconds of the thread's
 * first run, and sleeps only on a futex while its creator sets explicit
 * scheduling attributes. A thread that blocks every signal for good (a
 * sigwait() thread, a worker) is refused after MUSL_RUN_NS on a CPU or
 * MUSL_ASLEEP_NS asleep with it, so that a scan does not wait
 * BRIEF_ASLEEP_NS or BRIEF_MAX_NS for it. schedstat gives the time on a
 * CPU; without it the general bounds apply.
 */
#ifdef __GLIBC__
#define MUSL_APP_MASK 0ULL
#else
#define MUSL_APP_MASK (~(SIG_BIT(32) | SIG_BIT(33) | SIG_BIT(34) | \
			 SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP)))
#endif
#define MUSL_RUN_NS (1000 * 1000L)
#define MUSL_ASLEEP_NS (5 * 1000 * 1000L)

/*
 * Waiting for threads in libc's passing masks. Such a thread runs a short
 * stretch of libc (thread start-up or exit) and then unblocks, once it
 * has a CPU. On a busy machine it may wait for one far longer than it
 * runs (a runnable thread behind others, under a sanitizer, in a VM), and
 * an update right after pthread_create() must not fail for that. So a
 * thread is waited for as long as it is runnable, and counts as blocking
 * only when
 *   - it has been seen asleep (neither running nor runnable) with that
 *     mask for BRIEF_ASLEEP_NS in all: libc does not sleep there beyond a
 *     moment (a lock its creator holds while it sets the new thread up),
 *     so this is a mask made with the raw system call that stays (a
 *     sanitizer's background thread has one);
 *   - or BRIEF_MAX_NS have passed: a thread that runs that long with the
 *     mask is not in libc's start-up either, and no update waits longer.
 *     Ten times the worst scheduling delay seen under load (ASan, load ~7
 *     on 2 CPUs: a fixed 200 ms was not enough).
 * Polls start at POLL_FIRST_NS (a thread starting on an idle machine is
 * done in microseconds) and double up to POLL_MAX_NS, so that the waiting
 * takes little CPU from the thread it waits for.
 */
#define BRIEF_ASLEEP_NS (200 * 1000 * 1000L)
#define BRIEF_MAX_NS (2000 * 1000 * 1000L)
#define POLL_FIRST_NS (50 * 1000L)
#define POLL_MAX_NS (10 * 1000 * 1000L)
#define BRIEF_MAX 64		/* followed at once; more: scanned again after */

/* What one read of a /proc status file gave. */
struct status {
	char state;			/* State: R, S, D, T, Z, X... */
	unsigned long long sigblk, sigcgt;
	unsigned fields;		/* ST_* seen */
};
enum { ST_STATE = 1, ST_SIGBLK = 2, ST_SIGCGT = 4 };

/* A thread followed while libc holds its signals. */
struct brief {
	long tid;
	long asleep_ns;			/* seen asleep with the mask, in all */
	long run0_ns;			/* musl's mask: time on a CPU when first
					   seen (schedstat), or -1 */
};

/* Parses a mask line's hex value; false if it is not one. */
static bool parse_mask(const char *s, unsigned long long *mask)
{
	char *end;

	errno = 0;
	*mask = strtoull(s, &end, 16);
	return !errno && end != s && !*end;
}

/* Takes the fields we read from one line; false if one is malformed. */
static bool parse_line(const char *l, struct status *st)
{
	if (!strncmp(l, "State:", 6)) {
		st->state = l[6 + strspn(l + 6, " \t")];
		st->fields |= ST_STATE;
	} else if (!strncmp(l, "SigBlk:", 7)) {
		if (!parse_mask(l + 7, &st->sigblk))
			return false;
		st->fields |= ST_SIGBLK;
	} else if (!strncmp(l, "SigCgt:", 7)) {
		if (!parse_mask(l + 7, &st->sigcgt))
			return false;
		st->fields |= ST_SIGCGT;
	}
	return true;
}

/*
 * Reads a /proc status file into st, however long it is: the Groups: line
 * alone may hold 65,536 groups. Lines longer than the buffer are skipped
 * (no field we read is). 0; -ENOENT or -ESRCH when the task is gone;
 * -EINVAL when a field we read is malformed; else the -errno of the
 * open or the read.
 */
static int read_status(const char *path, struct status *st)
{
	char buf[1024];
	size_t len = 0;
	bool skipping = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	memset(st, 0, sizeof(*st));
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *line = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : err;
			break;
		}
		len += (size_t)n;
		while ((nl = memchr(line, '\n', (size_t)(buf + len - line)))) {
			*nl = 0;
			if (!skipping && !parse_line(line, st))
				err = -EINVAL;
			skipping = false;
			line = nl + 1;
		}
		len = (size_t)(buf + len - line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1) {	/* a line longer than buf */
			skipping = true;
			len = 0;
		}
	}
	close(fd);
	return err;
}

/* Names the thread that blocks SIGTRAP, for USTATIC_DEBUG. */
static void log_blocker(long tid)
{
	char path[64], name[32] = "?";
	int fd;
	ssize_t n;

	if (!us_debug)
		return;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, name, sizeof(name) - 1);
		name[n > 0 ? n : 0] = 0;
		name[strcspn(name, "\n")] = 0;
		close(fd);
	}
	us_log("sigmask: thread %ld (\"%s\") blocks SIGTRAP", tid, name);
}

/* Whether the mask is musl's passing one, which an application's may equal. */
static bool musl_app_mask(unsigned long long sigblk)
{
	return MUSL_APP_MASK &&
	       (sigblk & ~(SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP))) == MUSL_APP_MASK;
}

/* A thread's time on a CPU in ns (the first field of its schedstat), or
 * -1 if it cannot be read. */
static long run_ns(long tid)
{
	char path[64], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

/* *musl: the mask was musl's passing one. */
static enum trap_mask thread_trap_mask(long tid, char *state, bool *musl)
{
	char path[64];
	struct status st;
	int err;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", tid);
	err = read_status(path, &st);
	if (err == -ENOENT || err == -ESRCH)
		return TRAP_OK;			/* exited since the listing */
	if (!err && !(st.fields & ST_SIGBLK))
		err = -EINVAL;
	if (err) {
		us_log("sigmask: cannot read the signal mask of thread %ld "
		       "(%s): counted as blocking SIGTRAP", tid, strerror(-err));
		return TRAP_BLOCKED;
	}
	*state = st.state;
	if (st.state == 'Z' || st.state == 'X')
		return TRAP_OK;			/* exited, not reaped yet */
	if (!(st.sigblk & SIG_BIT(SIGTRAP)))
		return TRAP_OK;
#ifdef __GLIBC__
	if ((st.sigblk & LIBC_INTERNAL_SIGNALS) && st.state != 'R')
		return TRAP_OK;
#endif
	*musl = musl_app_mask(st.sigblk);
	if ((st.sigblk & LIBC_INTERNAL_SIGNALS) || *musl)
		return TRAP_BLOCKED_BRIEFLY;
	log_blocker(tid);
	return TRAP_BLOCKED;
}

/* Scans every thread; collects those in libc's passing state (*more:
 * some were left out). */
static enum trap_mask scan_threads(struct brief *b, int *nb, bool *more,
				    long *who)
{
	DIR *d = opendir("/proc/self/task");
	enum trap_mask worst = TRAP_OK;

	*nb = 0;
	*more = false;
	if (!d) {
		us_log("sigmask: cannot list threads (/proc/self/task: %s): "
		       "counted as blocking SIGTRAP", strerror(errno));
		return TRAP_BLOCKED;
	}
	while (worst != TRAP_BLOCKED) {
		struct dirent *de;
		long tid;
		char state;
		bool musl = false;
		enum trap_mask m;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno) {
				us_log("sigmask: listing threads failed (%s): "
				       "counted as blocking SIGTRAP", strerror(errno));
				worst = TRAP_BLOCKED;
			}
			break;
		}
		if ((tid = atol(de->d_name)) <= 0)
			continue;		/* "." and ".." */
		m = thread_trap_mask(tid, &state, &musl);
		if (m == TRAP_BLOCKED_BRIEFLY && *nb < BRIEF_MAX)
			b[(*nb)++] = (struct brief){ tid, 0,
						     musl ? run_ns(tid) : -1 };
		else if (m == TRAP_BLOCKED_BRIEFLY)
			*more = true;
		else if (m == TRAP_BLOCKED)
			*who = tid;
		if (m > worst)
			worst = m;
	}
	closedir(d);
	return worst;
}

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Whether a thread with musl's passing mask has held it longer than musl
 * would (MUSL_RUN_NS, MUSL_ASLEEP_NS). */
static bool musl_held(const struct brief *b)
{
	long run;

	if (b->run0_ns < 0)
		return false;		/* not musl's mask, or no schedstat */
	run = run_ns(b->tid);
	return b->asleep_ns >= MUSL_ASLEEP_NS ||
	       (run >= 0 && run - b->run0_ns >= MUSL_RUN_NS);
}

/* Follows b[0..n) until libc lets go of them; see BRIEF_ASLEEP_NS. */
static enum trap_mask wait_brief(struct brief *b, int n, long start,
				  long *who)
{
	long poll = POLL_FIRST_NS, last = now_ns();

	while (n > 0) {
		struct timespec nap = { 0, poll };
		long t;
		int k = 0;

		nanosleep(&nap, NULL);
		t = now_ns();
		for (int i = 0; i < n; i++) {
			char state = 0;
			bool musl = false;
			enum trap_mask m = thread_trap_mask(b[i].tid, &state, &musl);

			if (m == TRAP_OK)
				continue;
			*who = b[i].tid;
			if (m == TRAP_BLOCKED)
				return TRAP_BLOCKED;
			if (state != 'R')
				b[i].asleep_ns += t - last;
			if (musl_held(&b[i])) {
				log_blocker(b[i].tid);
				return TRAP_BLOCKED;
			}
			if (b[i].asleep_ns >= BRIEF_ASLEEP_NS) {
				us_log("sigmask: thread %ld sleeps with every "
				       "signal blocked", b[i].tid);
				return TRAP_BLOCKED;
			}
			b[k++] = b[i];
		}
		n = k;
		if (n && t - start >= BRIEF_MAX_NS) {
			us_log("sigmask: thread %ld kept every signal blocked "
			       "for %ld ms", b[0].tid, BRIEF_MAX_NS / 1000000);
			return TRAP_BLOCKED;
		}
		last = t;
		poll = poll * 2 < POLL_MAX_NS ? poll * 2 : POLL_MAX_NS;
	}
	return TRAP_OK;
}

/*
 * A handler whose sa_mask holds SIGTRAP blocks it while it runs: an int3
 * in code it calls would be fatal. Returns such a signal, or 0. Our own
 * sync-signal handler runs no patchable code.
 */
int us_sigtrap_masked_by_handler(void)
{
	/* SigCgt: the signals that have a handler, so only those are read;
	 * without it, every signal is. */
	struct status st;
	bool known = !read_status("/proc/self/status", &st) &&
		     (st.fields & ST_SIGCGT);

	for (int sig = 1; sig <= SIGRTMAX && sig <= 64; sig++) {
		struct sigaction sa;

		if (known && !(st.sigcgt & SIG_BIT(sig)))
			continue;
		/* valgrind keeps the last real-time signal for itself. */
		if (sig == SIGTRAP || us_sync_owns_signal(sig) ||
		    (RUNNING_ON_VALGRIND && sig == SIGRTMAX) ||
		    sigaction(sig, NULL, &sa))
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (sigismember(&sa.sa_mask, SIGTRAP))
			return sig;
	}
	return 0;
}

bool us_sigtrap_blocked_by_thread(long *who)
{
	struct brief b[BRIEF_MAX];
	long start = now_ns();
	enum trap_mask m;
	bool more;
	int n;

	/* Threads beyond BRIEF_MAX in libc's state: those followed first,
	 * then everyone again. */
	*who = 0;
	do {
		m = scan_threads(b, &n, &more, who);
		if (m == TRAP_BLOCKED_BRIEFLY)
			m = wait_brief(b, n, start, who);
	} while (m == TRAP_OK && more);
	return m != TRAP_OK;
}

/* *who: the thread found blocking, or 0 (a handler, an unreadable list). */
static bool scan_blocked(long *who)
{
	int sig = us_sigtrap_masked_by_handler();

	*who = 0;
	if (sig) {
		us_log("sigmask: the handler of signal %d blocks SIGTRAP while "
		       "it runs", sig);
		return true;
	}
	/* Under valgrind every thread's host mask blocks everything (valgrind
	 * keeps the program's masks to itself): /proc cannot tell us. */
	return !RUNNING_ON_VALGRIND && us_sigtrap_blocked_by_thread(who);
}

/*
 * The thread this copy's last scan found blocking, and the verdict it
 * belongs to (its blocked_until): a hint, per copy, under the runtime's
 * mask lock. A "blocked" verdict stands only while that thread still
 * blocks: a count of threads can stay the same while the blocker exits and
 * another thread starts. One status read, not a scan. A verdict another
 * copy made, or one without a thread, stands its 100 ms.
 */
static long hint_tid, hint_until;

static bool blocker_gone(const struct us_mask_state *m)
{
	char state = 0;
	bool musl = false;

	if (!hint_tid || hint_until != m->blocked_until)
		return false;
	return thread_trap_mask(hint_tid, &state, &musl) == TRAP_OK;
}

/*
 * Whether the process's pthread_sigmask, sigprocmask and sigaction are the
 * wrappers of a libustatic.so (src/interpose.c): only then does every mask
 * set through libc leave SIGTRAP open. Not when the library came with
 * dlopen (libc is ahead in the global scope: the program's calls bind
 * there) or only static archives are linked. Asked once per copy, at
 * start-up: the global scope's order never changes, and dlsym() takes the
 * loader's lock, which a thread running constructors holds while it waits
 * for our registry lock.
 */
static bool filtered_masks;

void us_sigmask_init(void)
{
	static const char *const names[] = {
		"pthread_sigmask", "sigprocmask", "sigaction",
	};

	filtered_masks = true;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (!us_runtime_in_copy(dlsym(RTLD_DEFAULT, names[i])))
			filtered_masks = false;
	if (!filtered_masks)
		us_log("sigmask: libc's signal functions are not libustatic.so's "
		       "wrappers here: every thread's mask is read before every "
		       "batch that places an int3");
}

/* A "blocked" verdict stands this long: a thread that unblocks is seen
 * that late (its updates go trap-free or fail meanwhile, never worse),
 * and no batch pays a scan of every thread while one blocks for good. */
#define BLOCKED_KEEP_NS (100 * 1000 * 1000L)

bool us_sigtrap_may_be_blocked(void)
{
	struct us_mask_state *m = &us_rt->masks;
	/* Pairs with the release increment in src/interpose.c. */
	unsigned long epoch = __atomic_load_n(&m->epoch, __ATOMIC_ACQUIRE);
	unsigned long threads = us_alone() ? 1 : us_thread_links();
	const char *e = secure_getenv("USTATIC_MASK_SCAN");
	bool always = (e && atoi(e) > 0) || !filtered_masks;
	long now = now_ns(), who;
	bool blocked;

	/* A thread in a signal handler that interrupted it asks again
	 * without the cache: -EDEADLK is not an answer here. */
	if (us_lock(&m->lock))
		return scan_blocked(&who);
	if (m->checked && m->checked_epoch == epoch &&
	    m->checked_threads == threads && threads &&
	    (m->blocked ? now < m->blocked_until && !blocker_gone(m) :
	     !always)) {
		blocked = m->blocked;
	} else {
		blocked = scan_blocked(&who);
		m->checked = true;
		m->blocked = blocked;
		m->blocked_until = now + BLOCKED_KEEP_NS;
		hint_tid = who;
		hint_until = m->blocked_until;
		m->checked_epoch = epoch;
		m->checked_threads = threads;
		US_COUNT(mask_scans, 1);
	}
	us_unlock(&m->lock);
	return blocked;
}
