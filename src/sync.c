/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define US_HAVE_SINGLE_THREADED 1
#endif
#endif

#include "arch.h"
#include "debug.h"
#include "lock.h"
#include "runtime.h"
#include "sync.h"
#include "under_valgrind.h"

/*
 * The signal broadcast, used without membarrier: every other thread is
 * sent the sync signal, runs a serializing instruction in its handler and
 * acknowledges.
 *
 * ACK_TIMEOUT_NS: a handler only needs its thread to get a CPU, which
 * takes well under a second even on a loaded machine; a thread that
 * blocks the signal never acknowledges, and then an update fails with
 * -ETIMEDOUT after this long rather than hanging.
 *
 * ROUND_FIRST_NS: a thread that exits after being signalled and before
 * handling it (libc blocks every signal on the way out) never
 * acknowledges either. So when a round has not completed after this long,
 * a new one goes to the threads listed again (an exited one is no longer
 * there), and each round waits twice as long as the one before, so that
 * few are sent. A thread that only lacked a CPU handles every pending
 * signal, the current round's included, once it runs.
 *
 * DEFAULT_SYNC_SIGNAL: a real-time signal queues rather than merges;
 * glibc keeps the first ones for itself, programs count theirs up from
 * SIGRTMIN, and valgrind takes SIGRTMAX.
 */
#define ACK_TIMEOUT_NS (1000 * 1000 * 1000L)
/* valgrind runs one thread at a time, each much slower. */
#define VALGRIND_SLOWDOWN 10
#define ROUND_FIRST_NS (10 * 1000 * 1000L)
#define DEFAULT_SYNC_SIGNAL (SIGRTMAX - 1)

/*
 * Locking: the engine lock (us_engine_lock, src/lock.h; engine_mutex
 * before it) is held around every us_sync_cores() call of a batch, and
 * guards every plain variable below; us_sync_init() runs once, from the
 * library's pthread_once; us_sync_force() from tests while no batch runs.
 */
static int membarrier_ok;	/* registered at start-up */
static int method_locked;	/* chosen by USTATIC_SYNC or a test: no fallback */
static pid_t self_pid;		/* sender fields of the round's signals */
static uid_t self_uid;
static pid_t dead_leader;	/* a process whose main thread we saw dead */

/* Written under the engine lock, read without it (stats): a relaxed
 * atomic, paired with nothing; a stale method only makes the stats lag. */
static int method = USTATIC_SYNC_NONE;

/*
 * The runtime's sync state (src/runtime.h), one per process: the signal
 * and its handler (one copy's, installed once), and the current round.
 * `signal` is written under the engine lock and read without it (the
 * handler-mask check): relaxed; a stale 0 only makes that check read our
 * handler's mask, which is empty. `round_acks` holds the current round's
 * tag in the high 32 bits and the threads that acknowledged it in the
 * low 32. A handler adds one only if its signal carries that tag, so a
 * signal left pending by an earlier round (its thread blocked the signal
 * then) counts for nothing when it is handled later. The handler's
 * release compare-and-swap, made after its serializing instruction, pairs
 * with the acquire load in acked(); the round's seq_cst store of a new tag
 * comes before its first signal.
 */
#define S (&us_rt->sync)

static int membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

static void register_membarrier(void)
{
	int q = membarrier(MEMBARRIER_CMD_QUERY);

	if (q < 0 || !(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)) {
		us_log("sync: membarrier SYNC_CORE not available");
		return;
	}
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) {
		us_log("sync: membarrier registration refused: %s", strerror(errno));
		return;
	}
	membarrier_ok = 1;
}

static int get_method(void)
{
	return __atomic_load_n(&method, __ATOMIC_RELAXED);
}

static void set_method(int m)
{
	__atomic_store_n(&method, m, __ATOMIC_RELAXED);
}

/* Acknowledges the round whose tag the signal carries, if still current.
 * Lock-free: async-signal-safe. */
static void on_sync_signal(int sig, siginfo_t *si, void *uc)
{
	uint64_t tag = (uint32_t)si->si_value.sival_int;
	uint64_t s = __atomic_load_n(&S->round_acks, __ATOMIC_RELAXED);

	(void)sig, (void)uc;
	us_arch_serialize();
	while (s >> 32 == tag &&
	       !__atomic_compare_exchange_n(&S->round_acks, &s, s + 1, true,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

/* Whether sa is a handler of the program's (not the default, not ignore). */
static bool has_handler(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) ||
	       (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN);
}

/*
 * Installs the sync signal's handler, unless the program handles that
 * signal itself (it could install one between our look and ours: no
 * system call compares and swaps a disposition). Its mask is empty: a
 * thread inside it must not look, to the engine's check of masks before
 * a batch, like one that blocks SIGTRAP.
 */
static int install_signal(void)
{
	const char *e = secure_getenv("USTATIC_SYNC_SIGNAL");
	int sig = e ? atoi(e) : DEFAULT_SYNC_SIGNAL;
	struct sigaction sa, old;

	if (__atomic_load_n(&S->signal, __ATOMIC_RELAXED))
		return 0;		/* installed by this or another copy */
	if (sigaction(sig, NULL, &old))
		return us_fail(-errno, "sync: sync signal");
	if (has_handler(&old)) {
		us_log("sync: signal %d has the program's handler", sig);
		return -EBUSY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sync_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		return us_fail(-errno, "sync: sync signal");
	S->handler = on_sync_signal;
	__atomic_store_n(&S->signal, sig, __ATOMIC_RELAXED);
	return 0;
}

/* Whether our handler is still the sync signal's: a program's handler
 * would be sent signals it never asked for. */
static bool handler_still_ours(void)
{
	struct sigaction cur;

	return !sigaction(S->signal, NULL, &cur) &&
	       (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == S->handler;
}

void us_sync_init(void)
{
	const char *e = secure_getenv("USTATIC_SYNC");
	int m;

	register_membarrier();
	if (e && !strcmp(e, "signal"))
		m = USTATIC_SYNC_SIGNAL, method_locked = 1;
	else if (e && !strcmp(e, "membarrier"))
		m = membarrier_ok ? USTATIC_SYNC_MEMBARRIER : USTATIC_SYNC_NONE,
		method_locked = 1;
	else
		m = membarrier_ok ? USTATIC_SYNC_MEMBARRIER : USTATIC_SYNC_SIGNAL;
	if (m == USTATIC_SYNC_SIGNAL && install_signal())
		m = USTATIC_SYNC_NONE;
	set_method(m);
}

bool us_sync_owns_signal(int sig)
{
	int s = __atomic_load_n(&S->signal, __ATOMIC_RELAXED);

	return s && sig == s;
}

int us_sync_method(void)
{
	return get_method();
}

int us_sync_force(int m)
{
	if (m == USTATIC_SYNC_MEMBARRIER && !membarrier_ok)
		return -EINVAL;
	if (m == USTATIC_SYNC_SIGNAL && install_signal())
		return -EINVAL;
	set_method(m);
	method_locked = 1;
	return 0;
}

/*
 * Calls fn(tid) for every thread but the caller. fn returns 0 (counted),
 * > 0 (the thread is gone: not counted) or -errno (stop). Returns the
 * count, or -errno: a listing that fails counts no thread as reached.
 */
static int for_each_other_thread(int (*fn)(pid_t tid))
{
	DIR *d = opendir("/proc/self/task");
	pid_t self = (pid_t)syscall(SYS_gettid);
	int n = 0;

	if (!d)
		return -errno;
	for (;;) {
		struct dirent *de;
		pid_t tid;
		int r;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				n = -errno;
			break;
		}
		tid = (pid_t)atoi(de->d_name);
		if (tid <= 0 || tid == self)
			continue;
		if ((r = fn ? fn(tid) : 0) < 0) {
			n = r;
			break;
		}
		n += !r;
	}
	closedir(d);
	return n;
}

unsigned long us_thread_links(void)
{
	struct stat st;

	if (stat("/proc/self/task", &st) || st.st_nlink < 3)
		return 0;
	return st.st_nlink - 2;
}

/*
 * glibc keeps __libc_single_threaded true until the first pthread_create()
 * (and false in a dlmopen namespace): it is what its own malloc and stdio
 * trust to skip their locks. A thread made by a raw clone(CLONE_VM) system
 * call is not counted: such a program breaks those too, and ours then.
 * Other C libraries have no such flag: there one thread in /proc/self/task
 * is the proof. It stays true while we look: only a thread of this
 * process can make another, and the only one is the caller. Unreadable
 * counts as not alone.
 */
bool us_alone(void)
{
#ifdef US_HAVE_SINGLE_THREADED
	return __libc_single_threaded;
#else
	return us_thread_links() == 1;
#endif
}

int us_thread_count(void)
{
	int n = for_each_other_thread(NULL);

	return n < 0 ? n : n + 1;
}

/*
 * Notes a main thread that is dead: after pthread_exit() it stays listed,
 * a zombie, while other threads run, and takes signals it never handles.
 * Only the main thread lingers so (others are reaped as they exit), and a
 * zombie stays one: looked at when a round stalls, remembered for the
 * process.
 */
static void check_leader(void)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (dead_leader == self_pid)
		return;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)self_pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	/* "pid (comm) S ...": the comm may hold spaces and parentheses. */
	if ((p = strrchr(buf, ')')) && p[1] == ' ' &&
	    (p[2] == 'Z' || p[2] == 'X')) {
		us_log("sync: the main thread has exited: not waiting for it");
		dead_leader = self_pid;
	}
}

/* Sends the sync signal tagged with the current round. */
static int send_sync_signal(pid_t tid)
{
	siginfo_t si;

	if (tid == self_pid && dead_leader == self_pid)
		return 1;			/* a zombie runs no code */
	memset(&si, 0, sizeof(si));
	si.si_signo = S->signal;
	si.si_code = SI_QUEUE;
	si.si_pid = self_pid;
	si.si_uid = self_uid;
	si.si_value.sival_int = (int)S->round_tag;
	if (!syscall(SYS_rt_tgsigqueueinfo, self_pid, tid, S->signal, &si))
		return 0;
	return errno == ESRCH ? 1 : -errno;	/* ESRCH: it exited */
}

/* Starts a round: a new tag, then a signal to every other thread.
 * Returns how many were sent one, or -errno. */
static int send_round(void)
{
	S->round_tag++;
	__atomic_store_n(&S->round_acks, (uint64_t)S->round_tag << 32,
			 __ATOMIC_SEQ_CST);
	self_pid = getpid();
	self_uid = getuid();
	return for_each_other_thread(send_sync_signal);
}

static uint32_t acked(void)
{
	return (uint32_t)__atomic_load_n(&S->round_acks, __ATOMIC_ACQUIRE);
}

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Rounds until one is acknowledged by every thread it reached; see
 * ACK_TIMEOUT_NS and ROUND_FIRST_NS. */
static int sync_by_signal(void)
{
	long start = now_ns(), window = ROUND_FIRST_NS;

	if (!handler_still_ours())
		return us_fail(-EBUSY, "sync: the program replaced the sync "
			       "signal's handler");
	us_arch_serialize();
	for (;;) {
		long round_start = now_ns(), t;
		int sent = send_round();

		if (sent < 0)
			return us_fail(sent, "sync: signalling the threads");
		while (acked() < (uint32_t)sent) {
			t = now_ns();
			if (t - start >= ACK_TIMEOUT_NS *
					  (RUNNING_ON_VALGRIND ? VALGRIND_SLOWDOWN : 1))
				return us_fail(-ETIMEDOUT, "sync: a thread did "
					       "not acknowledge the sync signal "
					       "(blocked?)");
			if (t - round_start >= window)
				break;
			sched_yield();
		}
		if (acked() >= (uint32_t)sent)
			return 0;
		check_leader();
		window *= 2;
	}
}

/* Only safe while no other thread exists: nothing reaches other cores. */
static int sync_alone(void)
{
	if (us_thread_count() != 1)
		return us_fail(-EOPNOTSUPP, "sync: no cross-core "
			       "serialization and other threads exist");
	us_arch_serialize();
	return 0;
}

/*
 * membarrier() failed although it was registered at start-up: a seccomp
 * filter installed since (sandboxes do that) denies it. Falls back for
 * good to the signal broadcast, or, if the program handles that signal,
 * to nothing (patching then only while single-threaded).
 */
static int fall_back(int err)
{
	us_log("sync: membarrier failed (%s), the signal broadcast from now on",
	       strerror(-err));
	set_method(install_signal() ? USTATIC_SYNC_NONE : USTATIC_SYNC_SIGNAL);
	return get_method() == USTATIC_SYNC_SIGNAL ? sync_by_signal() : sync_alone();
}

int us_sync_cores(void)
{
	int err = 0;

	us_assert_held(&us_engine_lock);
	switch (get_method()) {
	case USTATIC_SYNC_MEMBARRIER:
		if (!membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
			break;
		err = -errno;
		err = method_locked ? us_fail(err, "sync: membarrier") : fall_back(err);
		break;
	case USTATIC_SYNC_SIGNAL:
		err = sync_by_signal();
		break;
	default:
		err = sync_alone();
	}
	if (!err)
		US_COUNT(sync_rounds, 1);
	return err;
}
