/* SPDX-License-Identifier: MIT */
/*
 * A model-based concurrency fuzzer of the public interface.
 *
 * The model holds what the documentation promises: each static call's
 * target, each key's count (and so its state), each thread's transaction,
 * and which plugins each thread has loaded. FZ_WORKERS threads run random
 * operations on the library at once -- updates to functions, NULL and
 * RET0; inc/dec/enable/disable; nested begin/commit/abort; dlopen/dlclose
 * of two plugins that call the same calls and test the same keys; fork (the
 * child checks what it inherited, then changes things alone); signals whose
 * handlers call every site -- and check every result against what the
 * model allows at that moment:
 *
 * - A static call, or a key that only its owner changes (fz_pkf[w] and
 *   fz_pkt[w] belong to worker w), is a "cell": every change takes a ticket
 *   holding the value it may show before it starts, and when it returns
 *   the cell's floor rises past every value it superseded. A look that read
 *   the floor (acquire) before it started and the ticket count after it
 *   ended may only see a value of a ticket in between. That is "calls that
 *   start after the update's return is observed go to the new target",
 *   with several updaters at once.
 * - fz_sk0 and fz_sk1 count increments that every thread takes and drops,
 *   plainly and in transactions. A thread that holds one (its inc returned
 *   0, it has not called dec) must see the branch on and the count at least
 *   at what it holds; its dec must succeed.
 * - The owner of a key knows its count exactly, and so what each of its
 *   operations must return (-EINVAL, -EBUSY) and what a commit of its
 *   transaction must return: the first failure of the recorded operations,
 *   replayed from the counts at the commit, and then nothing applied.
 *
 * The run is cut into epochs of OPS_PER_EPOCH operations per thread; at the
 * end of each, every thread stops and the main thread checks the state
 * exactly: each call's target, each key's count against the sum of what
 * the threads hold, every site of every loaded object, the number of
 * registered objects. Each thread's operations come from a generator seeded
 * with (seed, thread, epoch) and depend only on that thread's own state, so
 * the printed seed replays the same operations (the interleaving differs).
 *
 *   build/test/fuzz [seed [seconds]]
 *   USTATIC_FUZZ_SEED, USTATIC_FUZZ_SECONDS (default 45, divided by
 *   USTATIC_TEST_SCALE), USTATIC_FUZZ_OPS (a list of the groups of
 *   operations to run, e.g. "calls,shared"; all by default: calls shared
 *   private txn dl fork signal).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ustatic.h>

#include "lib/fuzz_sites.h"
#include "helpers.h"
#include "test.h"

#define NCALLS		4	/* fz_c0, fz_c1, fz_l0, fz_v0 */
#define NIDS		5	/* the model's names of targets: 0..3, SPECIAL */
#define SPECIAL		4	/* RET0 for the calls with a value, NULL for fz_v0 */
#define NPLUG		2
#define OPS_PER_EPOCH	32
#define MAX_COUNT	4	/* a private key's count, outside transactions */
#define MAX_REC		12	/* operations recorded in one transaction */

/* ---- the static calls, keys and targets ---- */

/* Target k returns x * 8 + k + 1: the result names the target that ran
 * and shows that it received the argument. */
static int f0(int x) { return x * 8 + 1; }
static int f1(int x) { return x * 8 + 2; }
static int f2(int x) { return x * 8 + 3; }
static int f3(int x) { return x * 8 + 4; }
static long h0(long x) { return x * 8 + 1; }
static long h1(long x) { return x * 8 + 2; }
static long h2(long x) { return x * 8 + 3; }
static long h3(long x) { return x * 8 + 4; }

/* fz_v0's targets return nothing: they leave the value in the caller's
 * slot (a signal handler brings its own and puts the caller's back). */
static __thread long *vslot;
static void g0(int x) { *vslot = x * 8L + 1; }
static void g1(int x) { *vslot = x * 8L + 2; }
static void g2(int x) { *vslot = x * 8L + 3; }
static void g3(int x) { *vslot = x * 8L + 4; }

static fz_ifn *const ftab[4] = { f0, f1, f2, f3 };
static fz_lfn *const htab[4] = { h0, h1, h2, h3 };
static fz_vfn *const gtab[4] = { g0, g1, g2, g3 };

DEFINE_STATIC_CALL(fz_c0, f0);
DEFINE_STATIC_CALL_RET0(fz_c1, fz_ifn);
DEFINE_STATIC_CALL(fz_l0, h1);
DEFINE_STATIC_CALL_NULL(fz_v0, fz_vfn);
DEFINE_STATIC_KEY_FALSE(fz_sk0);
DEFINE_STATIC_KEY_TRUE(fz_sk1);
DEFINE_STATIC_KEY_ARRAY_FALSE(fz_pkf, FZ_WORKERS);
DEFINE_STATIC_KEY_ARRAY_TRUE(fz_pkt, FZ_WORKERS);

static const int initial_target[NCALLS] = { 0, SPECIAL, 1, SPECIAL };
static const char *const call_name[NCALLS] = { "fz_c0", "fz_c1", "fz_l0", "fz_v0" };
static const char *const target_name[NCALLS][NIDS] = {
	{ "f0", "f1", "f2", "f3", "RET0" }, { "f0", "f1", "f2", "f3", "RET0" },
	{ "h0", "h1", "h2", "h3", "RET0" }, { "g0", "g1", "g2", "g3", "NULL" },
};
static const char *const form_name[3] = { "call", "tail-call", "conditional tail-call" };

static const char *tname(int c, int id)
{
	return id >= 0 && id < NIDS ? target_name[c][id] : "no target of the model";
}

static int nforms(int c)
{
	return c == 3 ? 2 : 3;
}

static int update(int c, int id)
{
	void *ret0 = (void *)__static_call_return0;

	switch (c) {
	case 0:
		return id == SPECIAL ? static_call_update(fz_c0, ret0)
				     : static_call_update(fz_c0, ftab[id]);
	case 1:
		return id == SPECIAL ? static_call_update(fz_c1, ret0)
				     : static_call_update(fz_c1, ftab[id]);
	case 2:
		return id == SPECIAL ? static_call_update(fz_l0, ret0)
				     : static_call_update(fz_l0, htab[id]);
	default:
		return id == SPECIAL ? static_call_update(fz_v0, NULL)
				     : static_call_update(fz_v0, gtab[id]);
	}
}

/* static_call_query() as the model's target number, -1 for anything else. */
static int query(int c)
{
	void *p;

	switch (c) {
	case 0: p = (void *)static_call_query(fz_c0); break;
	case 1: p = (void *)static_call_query(fz_c1); break;
	case 2: p = (void *)static_call_query(fz_l0); break;
	default: p = (void *)static_call_query(fz_v0); break;
	}
	if (!p)
		return c == 3 ? SPECIAL : -1;
	if (p == (void *)__static_call_return0)
		return c == 3 ? -1 : SPECIAL;
	for (int k = 0; k < 4; k++)
		if (p == (c == 2 ? (void *)htab[k] : c == 3 ? (void *)gtab[k] : (void *)ftab[k]))
			return k;
	return -1;
}

/* Which target produced r for argument x: 0..3, SPECIAL for 0 (RET0, or
 * no call for fz_v0), -1 for anything else. */
static int decode(long r, long x)
{
	long d = r - x * 8 - 1;

	if (r == 0)
		return SPECIAL;
	return d >= 0 && d < 4 ? (int)d : -1;
}

static __thread unsigned argseq;

/* Calls static call c through one site of the object whose sites are s. */
static int observe(const struct fz_sites *s, int c, int form, long *raw)
{
	long x = 1 + (argseq++ & 0xffff);

	switch (c) {
	case 0: *raw = s->c0[form]((int)x); break;
	case 1: *raw = s->c1[form]((int)x); break;
	case 2:
		x += 1L << 33;		/* RET0 must clear all 64 bits */
		*raw = s->l0[form](x);
		break;
	default: {
		long slot = 0, *saved = vslot;

		vslot = &slot;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		s->v0[form]((int)x);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		vslot = saved;
		*raw = slot;
	}
	}
	return decode(*raw, x);
}

enum { K_INC, K_DEC, K_ENABLE, K_DISABLE };
static const char *const kop_name[4] = {
	"static_key_slow_inc", "static_key_slow_dec", "static_key_enable",
	"static_key_disable",
};

static struct static_key *key_ptr(int k)
{
	if (k == 0)
		return &fz_sk0.key;
	if (k == 1)
		return &fz_sk1.key;
	if (k < 2 + FZ_WORKERS)
		return &fz_pkf[k - 2].key;
	return &fz_pkt[k - 2 - FZ_WORKERS].key;
}

static const char *const key_name[FZ_KEYS] = {
	"fz_sk0", "fz_sk1", "fz_pkf[0]", "fz_pkf[1]", "fz_pkf[2]", "fz_pkf[3]",
	"fz_pkt[0]", "fz_pkt[1]", "fz_pkt[2]", "fz_pkt[3]",
};

/* The shared keys through the static_branch_ macros, the others through
 * the static_key_ functions (an array element chosen at run time). */
static int key_op(int k, int op)
{
	if (k < 2 && op == K_INC)
		return k ? static_branch_inc(&fz_sk1) : static_branch_inc(&fz_sk0);
	if (k < 2 && op == K_DEC)
		return k ? static_branch_dec(&fz_sk1) : static_branch_dec(&fz_sk0);
	switch (op) {
	case K_INC: return static_key_slow_inc(key_ptr(k));
	case K_DEC: return static_key_slow_dec(key_ptr(k));
	case K_ENABLE: return static_key_enable(key_ptr(k));
	default: return static_key_disable(key_ptr(k));
	}
}

/* The model of a key (kernel/jump_label.c): what op does to a count and
 * what it returns. A failed operation changes nothing. */
static int model_key_op(int *count, int op)
{
	switch (op) {
	case K_INC:
		++*count;
		return 0;
	case K_DEC:
		if (*count == 0)
			return -EINVAL;
		--*count;
		return 0;
	case K_ENABLE:
		if (*count == 0)
			*count = 1;
		return 0;
	default:
		if (*count > 1)
			return -EBUSY;
		*count = 0;
		return 0;
	}
}

/* ---- settings, threads, failure reports ---- */

enum {
	OP_CHECK, OP_SWEEP, OP_QUERY, OP_UPDATE, OP_INC, OP_DEC, OP_BURST,
	OP_PRIVATE, OP_TXN, OP_STRAY, OP_DL, OP_FORK, OP_SIGNAL, NOPS
};

struct worker {
	int id;
	pid_t tid;
	uint64_t rng;
	unsigned long epoch, opno;
	char desc[160];			/* the operation under way */
	int holds[2];			/* increments of fz_sk0, fz_sk1 held */
	int pcount[2];			/* fz_pkf[id], fz_pkt[id]: exact */
	void *dl[NPLUG];
	const struct fz_sites *plug[NPLUG];	/* set once loaded */
	unsigned long n_op[NOPS], checks, signals, forks, loads;
	unsigned long txn_ok, txn_failed, txn_aborted;
};

static struct worker workers[FZ_WORKERS];
static __thread struct worker *self;
static __thread int in_handler;
static int in_child;
static unsigned long long seed;
static long seconds;
static bool qemu;
static double t_start;
static unsigned long cur_epoch;
static char plugin_path[NPLUG][PATH_MAX];
/* Where dlclose() does not unload (musl), a plugin once loaded stays
 * registered: set by the first dlopen, read between epochs. */
static bool ever_loaded[NPLUG];
static const char *const plugin_name[NPLUG] = { "libfuzz_plugin_a.so", "libfuzz_plugin_b.so" };
static char self_path[PATH_MAX];
static int failing;
static const char all_groups[] = "calls,shared,private,txn,dl,fork,signal";
static const char *groups = all_groups;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t add(char *b, size_t size, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t add(char *b, size_t size, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (n >= size)
		return n;
	va_start(ap, fmt);
	r = vsnprintf(b + n, size - n, fmt, ap);
	va_end(ap);
	return r < 0 ? n : n + (size_t)r < size ? n + (size_t)r : size - 1;
}

/*
 * Reports a failure and ends the process. It may run in a signal handler
 * or a fork child: snprintf into a buffer, write(2), _exit(2), nothing
 * that locks. No signal handler may interrupt it (it would fail as well,
 * and wait for this one forever); a second failure in another thread
 * waits for the first.
 */
static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	static char buf[8192];
	struct worker *w = self;
	sigset_t all;
	size_t n = 0;
	va_list ap;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (__atomic_exchange_n(&failing, 1, __ATOMIC_SEQ_CST))
		for (;;)
			pause();
	n = add(buf, sizeof(buf), n, "FAIL after %.1f s: ", now() - t_start);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (w)
		n = add(buf, sizeof(buf), n, "\n  thread %d, epoch %lu, operation %lu: %.160s%s%s",
			w->id, w->epoch, w->opno, w->desc,
			in_handler ? " (in a signal handler)" : "",
			in_child ? " (in the fork child)" : "");
	else
		n = add(buf, sizeof(buf), n, "\n  main thread, check after epoch %lu", cur_epoch);
	n = add(buf, sizeof(buf), n, "\n  seed %llu; replay: USTATIC_FUZZ_SEED=%llu "
		"USTATIC_FUZZ_SECONDS=%ld%s%s %s\n", seed, seed,
		(long)(now() - t_start) + 10, groups == all_groups ? "" : " USTATIC_FUZZ_OPS=",
		groups == all_groups ? "" : groups, self_path);
	if (write(2, buf, n) < 0)
		n = 0;
	_exit(1);
}

/* A return value as the library's documentation spells it. */
static const char *ret_name(int r)
{
	static const struct { int err; const char *name; } e[] = {
		{ 0, "0" }, { -EINVAL, "-EINVAL" }, { -EBUSY, "-EBUSY" },
		{ -EDEADLK, "-EDEADLK" }, { -EPERM, "-EPERM" }, { -ENOMEM, "-ENOMEM" },
		{ -EILSEQ, "-EILSEQ" }, { -ETIMEDOUT, "-ETIMEDOUT" },
		{ -EOPNOTSUPP, "-EOPNOTSUPP" }, { -EOVERFLOW, "-EOVERFLOW" },
		{ -EINTR, "-EINTR" }, { -EAGAIN, "-EAGAIN" },
	};

	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
		if (e[i].err == r)
			return e[i].name;
	return "an unknown value";
}

static void expect(int got, int want, const char *what)
{
	if (got != want)
		fail("%s returned %d (%s), the model expects %s", what, got,
		     ret_name(got), ret_name(want));
}

/* ---- cells: values that may show, between a floor and the ticket count ---- */

#define LOG 4096
enum { INFLIGHT, DONE, FAILED };

struct cell {
	pthread_mutex_t mu;		/* the writers' bookkeeping */
	unsigned long started;		/* tickets issued */
	unsigned long floor;		/* no ticket below it can show */
	unsigned long unfinished;	/* none below it is in flight */
	unsigned long log[LOG];		/* ticket << 16 | state << 8 | value */
};

static struct cell call_cell[NCALLS], key_cell[2 * FZ_WORKERS];

static unsigned long pack(unsigned long t, int state, int v)
{
	return t << 16 | (unsigned long)state << 8 | (unsigned)(v & 0xff);
}

static int e_state(unsigned long e) { return e >> 8 & 0xff; }
static int e_value(unsigned long e) { return e & 0xff; }

static void cell_init(struct cell *c, int v)
{
	pthread_mutex_init(&c->mu, NULL);
	c->log[0] = pack(0, DONE, v);
	c->started = 1;
	c->floor = 0;
	c->unfinished = 1;
}

/*
 * Before a change: tickets for the n values it may show, in order (a
 * transaction may show a key's count between its operations). *base is
 * the lowest ticket still in flight, ours included: every ticket below it
 * ended before this change began, so the change supersedes them.
 */
static unsigned long cell_begin(struct cell *c, const int *v, int n, unsigned long *base)
{
	unsigned long t;

	pthread_mutex_lock(&c->mu);
	t = c->started;
	while (c->unfinished < t &&
	       e_state(__atomic_load_n(&c->log[c->unfinished % LOG], __ATOMIC_RELAXED)) != INFLIGHT)
		c->unfinished++;
	*base = c->unfinished;
	for (int i = 0; i < n; i++)
		__atomic_store_n(&c->log[(t + i) % LOG], pack(t + i, INFLIGHT, v[i]),
				 __ATOMIC_RELAXED);
	/* Published before the change starts: a look that sees the change
	 * reads a ticket count that includes it. */
	__atomic_store_n(&c->started, t + n, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->mu);
	return t;
}

/*
 * After it returned. If it succeeded, nothing it superseded may show from
 * now on: the floor rises to the base, or to its last ticket when nothing
 * was in flight before it (then its own earlier values are gone as well).
 */
static void cell_end(struct cell *c, unsigned long t, int n, unsigned long base, bool ok)
{
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < n; i++) {
		unsigned long e = c->log[(t + i) % LOG];

		__atomic_store_n(&c->log[(t + i) % LOG],
				 pack(t + i, ok ? DONE : FAILED, e_value(e)), __ATOMIC_RELEASE);
	}
	if (ok) {
		unsigned long f = base == t ? t + n - 1 : base;

		if (f > c->floor)
			__atomic_store_n(&c->floor, f, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->mu);
}

/*
 * Whether a look that read floor lo before it began and ticket count hi
 * after it ended may have seen v (or, for a branch, the state v). `settled`
 * (nothing in flight, or a fork child) leaves out changes that failed.
 */
static bool cell_allows(const struct cell *c, unsigned long lo, unsigned long hi,
			int v, bool state, bool settled)
{
	if (hi - lo > LOG / 2)
		return true;		/* too far behind to tell */
	for (unsigned long t = lo; t < hi; t++) {
		unsigned long e = __atomic_load_n(&c->log[t % LOG], __ATOMIC_ACQUIRE);

		if (e >> 16 != t)
			return true;	/* overwritten since: cannot tell */
		if (settled && e_state(e) == FAILED)
			continue;
		if (state ? (e_value(e) > 0) == (v > 0) : e_value(e) == v)
			return true;
	}
	return false;
}

/* The tickets lo..hi-1 as "{f1 (ticket 4, done), ...}". */
static const char *window(char *b, size_t size, const struct cell *c, unsigned long lo,
			  unsigned long hi, int call)
{
	static const char *const st[3] = { "in flight", "done", "failed" };
	size_t n = add(b, size, 0, "{");

	if (hi - lo > 16)
		lo = hi - 16;
	for (unsigned long t = lo; t < hi; t++) {
		unsigned long e = __atomic_load_n(&c->log[t % LOG], __ATOMIC_ACQUIRE);

		if (call >= 0)
			n = add(b, size, n, "%s%s", t > lo ? ", " : "", tname(call, e_value(e)));
		else
			n = add(b, size, n, "%scount %d", t > lo ? ", " : "", e_value(e));
		n = add(b, size, n, " (ticket %lu, %s)", t, st[e_state(e) % 3]);
	}
	add(b, size, n, "}");
	return b;
}

static unsigned long acq(const unsigned long *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* ---- checks ---- */

static void counted(void)
{
	if (self)
		self->checks++;
}

/* One call of c through one site of an object, against its cell. */
static void check_call(const struct fz_sites *s, const char *obj, int c, int form, bool settled)
{
	struct cell *cl = &call_cell[c];
	unsigned long lo = acq(&cl->floor), hi;
	char win[1024];
	long raw;
	int id = observe(s, c, form, &raw);

	hi = acq(&cl->started);
	counted();
	/* qemu-user may run a stale translation for a while (test/test.h). */
	if (id >= 0 && (qemu || cell_allows(cl, lo, hi, id, false, settled)))
		return;
	fail("static_call(%s) through the %s site of %s went to %s (result %ld); "
	     "the model allows %s", call_name[c], form_name[form], obj, tname(c, id),
	     raw, window(win, sizeof(win), cl, lo, hi, c));
}

static void check_query(int c, bool settled)
{
	struct cell *cl = &call_cell[c];
	unsigned long lo = acq(&cl->floor), hi;
	char win[1024];
	int id = query(c);

	hi = acq(&cl->started);
	counted();
	if (id >= 0 && cell_allows(cl, lo, hi, id, false, settled))
		return;
	fail("static_call_query(%s) returned %s; the model allows %s", call_name[c],
	     tname(c, id), window(win, sizeof(win), cl, lo, hi, c));
}

/* A private key k (its owner's, through a cell): branches and count. */
static void check_key(const struct fz_sites *s, const char *obj, int k, bool settled)
{
	struct cell *cl = &key_cell[k - 2];
	unsigned long lo, hi;
	char win[1024];
	int v;

	for (int likely = 0; likely < 2; likely++) {
		lo = acq(&cl->floor);
		v = s->branch(k, likely);
		hi = acq(&cl->started);
		counted();
		if (!qemu && !cell_allows(cl, lo, hi, v, true, settled))
			fail("static_branch_%s(&%s) in %s is %s; the model allows %s",
			     likely ? "likely" : "unlikely", key_name[k], obj,
			     v ? "on" : "off", window(win, sizeof(win), cl, lo, hi, -1));
	}
	lo = acq(&cl->floor);
	v = static_key_count(key_ptr(k));
	hi = acq(&cl->started);
	if (!cell_allows(cl, lo, hi, v, false, settled))
		fail("static_key_count(&%s.key) is %d; the model allows %s", key_name[k], v,
		     window(win, sizeof(win), cl, lo, hi, -1));
}

static int hold(int k)
{
	return __atomic_load_n(&self->holds[k], __ATOMIC_RELAXED);
}

/*
 * What a thread holds is never more than it really holds: it counts an
 * increment after inc returned and drops it before dec starts, so its own
 * signal handler may check at any point.
 */
static void hold_set(int k, int n)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&self->holds[k], n, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The holder's invariant on fz_sk0 and fz_sk1. */
static void check_holds(const struct fz_sites *s, const char *obj)
{
	for (int k = 0; k < 2; k++) {
		int h = hold(k), n;

		for (int likely = 0; h > 0 && !qemu && likely < 2; likely++)
			if (s->branch(k, likely) != 1)
				fail("this thread holds %d increment(s) of %s, yet "
				     "static_branch_%s(&%s) in %s is off (count now %d)",
				     h, key_name[k], likely ? "likely" : "unlikely",
				     key_name[k], obj, static_key_count(key_ptr(k)));
		n = static_key_count(key_ptr(k));
		counted();
		if (h > 0 && !(k ? static_key_enabled(&fz_sk1) : static_key_enabled(&fz_sk0)))
			fail("this thread holds %d increment(s) of %s, yet "
			     "static_key_enabled() is false", h, key_name[k]);
		if (n < h || n < 0)
			fail("static_key_count(&%s.key) is %d while this thread holds %d "
			     "increment(s)", key_name[k], n, h);
	}
}

static int own_key(int j)
{
	return 2 + j * FZ_WORKERS + self->id;
}

/* The objects this thread may call into: the executable and its plugins. */
static int objects(const struct fz_sites **o, const char **name)
{
	int n = 0;

	o[n] = &fz_sites;
	name[n++] = "the executable";
	for (int p = 0; p < NPLUG; p++)
		if (self->plug[p]) {
			o[n] = self->plug[p];
			name[n++] = plugin_name[p];
		}
	return n;
}

/* The owner's exact view of its key j, between its own operations. */
static void check_own_key(int j, const char *when)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int k = own_key(j), want = self->pcount[j], n = static_key_count(key_ptr(k));
	int no = objects(o, on);

	counted();
	if (n != want)
		fail("%s: static_key_count(&%s.key) is %d, the model says %d", when,
		     key_name[k], n, want);
	for (int i = 0; i < no && !qemu; i++)
		for (int likely = 0; likely < 2; likely++)
			if (o[i]->branch(k, likely) != (want > 0))
				fail("%s: static_branch_%s(&%s) in %s is %s, the model "
				     "says count %d", when, likely ? "likely" : "unlikely",
				     key_name[k], on[i], want > 0 ? "off" : "on", want);
}

/* ---- operations ---- */

static bool group_on(const char *g)
{
	size_t n = strlen(g);

	for (const char *p = groups; (p = strstr(p, g)); p += n)
		if ((p == groups || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return true;
	return false;
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned rnd(unsigned n)
{
	self->rng += 0x9e3779b97f4a7c15ULL;
	return (unsigned)(mix(self->rng) % n);
}

static void desc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void desc(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(self->desc, sizeof(self->desc), fmt, ap);
	va_end(ap);
}

static void desc_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void desc_add(const char *fmt, ...)
{
	size_t n = strlen(self->desc);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(self->desc + n, sizeof(self->desc) - n, fmt, ap);
	va_end(ap);
}

static void op_check(void)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int i = (int)rnd((unsigned)objects(o, on)), c = (int)rnd(NCALLS);

	desc("check through %s", on[i]);
	check_call(o[i], on[i], c, (int)rnd((unsigned)nforms(c)), false);
	check_key(o[i], on[i], 2 + (int)rnd(2 * FZ_WORKERS), false);
	check_holds(o[i], on[i]);
}

/* Every site of every object this thread has, every key. */
static void sweep(const char *why)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int no = objects(o, on);

	desc("%s", why);
	for (int i = 0; i < no; i++) {
		for (int c = 0; c < NCALLS; c++)
			for (int f = 0; f < nforms(c); f++)
				check_call(o[i], on[i], c, f, false);
		for (int k = 2; k < FZ_KEYS; k++)
			check_key(o[i], on[i], k, false);
		check_holds(o[i], on[i]);
	}
	check_own_key(0, why);
	check_own_key(1, why);
}

static void op_query(void)
{
	desc("static_call_query of every call");
	for (int c = 0; c < NCALLS; c++)
		check_query(c, false);
}

static void op_update(void)
{
	int c = (int)rnd(NCALLS), id = (int)rnd(NIDS), err;
	unsigned long base, t;

	desc("static_call_update(%s, %s)", call_name[c], tname(c, id));
	t = cell_begin(&call_cell[c], &id, 1, &base);
	err = update(c, id);
	cell_end(&call_cell[c], t, 1, base, err == 0);
	expect(err, 0, "static_call_update");
	/* Its own return is observed: its next call goes there (or to a
	 * concurrent update's target). */
	check_call(&fz_sites, "the executable", c, (int)rnd((unsigned)nforms(c)), false);
	check_query(c, false);
}

static void shared_inc(int k)
{
	desc("%s(&%s.key), holding %d", kop_name[K_INC], key_name[k], hold(k));
	expect(key_op(k, K_INC), 0, kop_name[K_INC]);
	hold_set(k, hold(k) + 1);
	check_holds(&fz_sites, "the executable");
}

static void shared_dec(int k)
{
	int err;

	desc("%s(&%s.key), holding %d", kop_name[K_DEC], key_name[k], hold(k));
	hold_set(k, hold(k) - 1);
	err = key_op(k, K_DEC);
	if (err)
		fail("static_key_slow_dec(&%s.key) returned %s while this thread "
		     "held %d increment(s); count now %d", key_name[k], ret_name(err),
		     hold(k) + 1, static_key_count(key_ptr(k)));
	check_holds(&fz_sites, "the executable");
}

/*
 * fz_sk0 is the hot key: a thread holds at most one increment of it, so
 * its count keeps crossing zero, and each 1 -> 0 dec races the others'
 * incs. fz_sk1 counts higher.
 */
static const int max_hold[2] = { 1, 3 };

static void op_inc(void)
{
	int k = (int)rnd(2);

	if (hold(k) >= max_hold[k])
		shared_dec(k);
	else
		shared_inc(k);
}

static void op_dec(void)
{
	int k = (int)rnd(2);

	if (hold(k) == 0)
		shared_inc(k);
	else
		shared_dec(k);
}

/* The loop: inc, check the branch is on, dec, again and again. */
static void op_burst(void)
{
	int k = rnd(4) ? 0 : 1, n = 4 + (int)rnd(12);
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int no = objects(o, on);

	for (int i = 0; i < n; i++) {
		shared_inc(k);
		desc_add(" (burst %d of %d)", i + 1, n);
		for (int j = 1; j < no; j++)
			check_holds(o[j], on[j]);
		shared_dec(k);
	}
}

static void op_private(void)
{
	int j = (int)rnd(2), k = own_key(j), before = self->pcount[j], after = before;
	int op = (int)rnd(4), want, err, v;
	unsigned long base = 0, t = 0;

	if (op == K_INC && before >= MAX_COUNT)
		op = K_DEC;
	want = model_key_op(&after, op);
	desc("%s(&%s.key) on count %d", kop_name[op], key_name[k], before);
	v = after;
	if (after != before)
		t = cell_begin(&key_cell[k - 2], &v, 1, &base);
	err = key_op(k, op);
	if (after != before)
		cell_end(&key_cell[k - 2], t, 1, base, err == 0);
	expect(err, want, kop_name[op]);
	self->pcount[j] = after;
	check_own_key(j, "after it returned");
}

static void op_stray(void)
{
	desc("ustatic_batch_commit and _abort without a batch");
	expect(ustatic_batch_commit(), -EINVAL, "ustatic_batch_commit");
	expect(ustatic_batch_abort(), -EINVAL, "ustatic_batch_abort");
}

struct rec {
	char kind;		/* 's' a shared key, 'p' a private key */
	int j, op;
};

/*
 * A transaction: begin, up to 7 steps (updates, key operations, nested
 * begins and commits, checks that nothing shows yet), then abort or the
 * commits. The model replays the recorded key operations from the counts
 * at the commit: the first failure is what commit must return, and then
 * nothing may change.
 */
static void op_txn(void)
{
	struct rec r[MAX_REC];
	int nr = 0, depth = 1, err, want = 0, last[NCALLS] = { -1, -1, -1, -1 };
	int bal[2], low[2], pc[2], vals[2][MAX_REC], nv[2] = { 0, 0 }, kerr[2] = { 0, 0 };
	unsigned long tc[NCALLS] = { 0 }, bc[NCALLS] = { 0 }, tp[2] = { 0 }, bp[2] = { 0 };
	int steps = 1 + (int)rnd(7);
	bool shared = group_on("shared"), priv = group_on("private");

	for (int k = 0; k < 2; k++)
		bal[k] = low[k] = hold(k);
	desc("txn: begin");
	expect(ustatic_batch_begin(), 0, "ustatic_batch_begin");
	for (int s = 0; s < steps && nr < MAX_REC; s++) {
		int c, id, k, j, op;

		switch (rnd(9)) {
		case 0: case 1: case 2:
			if (!group_on("calls"))
				break;
			c = (int)rnd(NCALLS);
			id = (int)rnd(NIDS);
			desc_add(", update %s=%s", call_name[c], tname(c, id));
			expect(update(c, id), 0, "static_call_update in a batch");
			last[c] = id;
			break;
		case 3: case 4:
			if (!shared)
				break;
			k = (int)rnd(2);
			/* Never more decs than it holds: these cannot fail. */
			op = bal[k] > 0 && (bal[k] >= max_hold[k] || rnd(2)) ? K_DEC : K_INC;
			desc_add(", %s %s", op == K_INC ? "inc" : "dec", key_name[k]);
			expect(key_op(k, op), 0, "a key change in a batch");
			bal[k] += op == K_INC ? 1 : -1;
			if (bal[k] < low[k])
				low[k] = bal[k];
			r[nr++] = (struct rec){ 's', k, op };
			break;
		case 5: case 6:
			if (!priv)
				break;
			j = (int)rnd(2);
			op = (int)rnd(4);
			desc_add(", %s %s", kop_name[op] + 11, key_name[own_key(j)]);
			expect(key_op(own_key(j), op), 0, "a key change in a batch");
			r[nr++] = (struct rec){ 'p', j, op };
			break;
		case 7:
			if (depth < 3) {
				desc_add(", begin");
				expect(ustatic_batch_begin(), 0, "nested ustatic_batch_begin");
				depth++;
			} else {
				desc_add(", commit");
				expect(ustatic_batch_commit(), 0, "inner ustatic_batch_commit");
				depth--;
			}
			break;
		default:
			/* Nothing recorded shows before the outermost commit. */
			check_own_key(0, "inside a batch");
			check_own_key(1, "inside a batch");
			check_holds(&fz_sites, "the executable");
			break;
		}
	}
	if (rnd(8) == 0) {
		desc_add(", abort");
		expect(ustatic_batch_abort(), 0, "ustatic_batch_abort");
		if (depth > 1) {
			/* Abort ended the batch: the enclosing commit has none. */
			desc_add(", commit");
			expect(ustatic_batch_commit(), -EINVAL, "commit after an inner abort");
		}
		self->txn_aborted++;
		check_own_key(0, "after abort");
		check_own_key(1, "after abort");
		check_holds(&fz_sites, "the executable");
		return;
	}
	for (; depth > 1; depth--) {
		desc_add(", commit");
		expect(ustatic_batch_commit(), 0, "inner ustatic_batch_commit");
		check_own_key(0, "after an inner commit");
		check_own_key(1, "after an inner commit");
	}

	/*
	 * The model's commit: the recorded operations in order, from the
	 * counts now. The first to fail is what commit returns; keys are
	 * independent, so the first failure of any key is accepted too (the
	 * library replays key by key).
	 */
	pc[0] = self->pcount[0];
	pc[1] = self->pcount[1];
	for (int i = 0; i < nr; i++) {
		int j = r[i].j, e;

		if (r[i].kind != 'p' || kerr[j])
			continue;
		e = model_key_op(&pc[j], r[i].op);
		if (e) {
			kerr[j] = e;
			want = want ? want : e;
		} else if (pc[j] != (nv[j] ? vals[j][nv[j] - 1] : self->pcount[j])) {
			vals[j][nv[j]++] = pc[j];
		}
	}
	for (int j = 0; j < 2 && !want; j++)
		if (nv[j])
			tp[j] = cell_begin(&key_cell[own_key(j) - 2], vals[j], nv[j], &bp[j]);
	for (int c = 0; c < NCALLS; c++)
		if (last[c] >= 0)
			tc[c] = cell_begin(&call_cell[c], &last[c], 1, &bc[c]);
	for (int k = 0; k < 2 && !want; k++)
		hold_set(k, low[k]);
	desc_add(", commit");
	err = ustatic_batch_commit();
	for (int c = 0; c < NCALLS; c++)
		if (last[c] >= 0)
			cell_end(&call_cell[c], tc[c], 1, bc[c], err == 0);
	for (int j = 0; j < 2 && !want; j++)
		if (nv[j])
			cell_end(&key_cell[own_key(j) - 2], tp[j], nv[j], bp[j], err == 0);
	if (err != want && !(want && err && (err == kerr[0] || err == kerr[1])))
		fail("ustatic_batch_commit returned %s, the model expects %s "
		     "from counts %s=%d, %s=%d", ret_name(err), ret_name(want),
		     key_name[own_key(0)], self->pcount[0],
		     key_name[own_key(1)], self->pcount[1]);
	if (!err) {
		for (int k = 0; k < 2; k++)
			hold_set(k, bal[k]);
		self->pcount[0] = pc[0];
		self->pcount[1] = pc[1];
		self->txn_ok++;
	} else {
		self->txn_failed++;
	}
	check_own_key(0, "after the commit");
	check_own_key(1, "after the commit");
	check_holds(&fz_sites, "the executable");
	for (int c = 0; c < NCALLS; c++)
		if (last[c] >= 0)
			check_call(&fz_sites, "the executable", c, (int)rnd((unsigned)nforms(c)), false);
}

static void op_dl(void)
{
	int p = (int)rnd(NPLUG);
	const struct fz_sites *(*get)(void);
	void *h;

	if (self->plug[p]) {
		desc("dlclose(%s)", plugin_name[p]);
		/* Its signal handler must not call into it from here on. */
		__atomic_store_n(&self->plug[p], NULL, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (dlclose(self->dl[p]))
			fail("dlclose(%s): %s", plugin_name[p], dlerror());
		self->dl[p] = NULL;
		return;
	}
	desc("dlopen(%s)", plugin_name[p]);
	h = dlopen(plugin_path[p], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fail("dlopen(%s): %s", plugin_path[p], dlerror());
	*(void **)&get = dlsym(h, "fz_plugin");
	if (!get)
		fail("dlsym(fz_plugin): %s", dlerror());
	self->dl[p] = h;
	self->loads++;
	__atomic_store_n(&ever_loaded[p], true, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&self->plug[p], get(), __ATOMIC_RELAXED);
	/* Its first calls run the current targets and key states. */
	sweep("first calls into a plugin just loaded");
}

/* Exact, in a fork child, where no other thread changes anything. */
static void child_expect_call(int c, int id, const char *when)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int no = objects(o, on);
	long raw;

	for (int i = 0; i < no; i++)
		for (int f = 0; f < nforms(c); f++) {
			int got = observe(o[i], c, f, &raw);

			if (got != id)
				fail("%s: static_call(%s) through the %s site of %s went to "
				     "%s (result %ld), the child expects %s", when, call_name[c],
				     form_name[f], on[i], tname(c, got), raw, tname(c, id));
		}
	if (query(c) != id)
		fail("%s: static_call_query(%s) returned %s, the child expects %s", when,
		     call_name[c], tname(c, query(c)), tname(c, id));
}

static void child_expect_key(int k, int count, const char *when)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int no = objects(o, on), n = static_key_count(key_ptr(k));

	if (count >= 0 && n != count)
		fail("%s: static_key_count(&%s.key) is %d, the child expects %d", when,
		     key_name[k], n, count);
	for (int i = 0; i < no && !qemu; i++)
		for (int likely = 0; likely < 2; likely++)
			if (o[i]->branch(k, likely) != (n > 0))
				fail("%s: static_branch_%s(&%s) in %s disagrees with its "
				     "count %d", when, likely ? "likely" : "unlikely",
				     key_name[k], on[i], n);
}

/*
 * The fork child: first what it inherited (the other threads stopped
 * wherever they were: any change in flight may or may not show, but code
 * and counts agree), then changes of its own, which must be exact.
 */
static void child_main(pid_t parent)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int no = objects(o, on), id, n, sum;

	in_child = 1;
	/* A thread of the parent may have been failing at the fork: this
	 * child reports for itself. It dies with the thread that waits for
	 * it (SIGKILL: the library may block other signals where it hangs). */
	__atomic_store_n(&failing, 0, __ATOMIC_SEQ_CST);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	for (int i = 0; i < no; i++) {
		for (int c = 0; c < NCALLS; c++)
			for (int f = 0; f < nforms(c); f++)
				check_call(o[i], on[i], c, f, true);
		for (int k = 2; k < FZ_KEYS; k++)
			check_key(o[i], on[i], k, true);
	}
	for (int c = 0; c < NCALLS; c++)
		check_query(c, true);
	for (int k = 0; k < FZ_KEYS; k++)
		child_expect_key(k, -1, "inherited");
	for (int k = 0; k < 2; k++) {
		sum = 0;
		for (int w = 0; w < FZ_WORKERS; w++)
			sum += workers[w].holds[k];
		n = static_key_count(key_ptr(k));
		if (n < sum)
			fail("inherited static_key_count(&%s.key) is %d, but the threads "
			     "held %d increment(s) at the fork", key_name[k], n, sum);
	}

	for (int c = 0; c < NCALLS; c++) {
		id = (int)rnd(NIDS);
		desc("fork child: static_call_update(%s, %s)", call_name[c], tname(c, id));
		expect(update(c, id), 0, "static_call_update in the fork child");
		child_expect_call(c, id, "after its own update");
	}
	for (int k = 0; k < 2; k++) {
		n = static_key_count(key_ptr(k));
		desc("fork child: inc and dec %s", key_name[k]);
		expect(key_op(k, K_INC), 0, "static_key_slow_inc in the fork child");
		child_expect_key(k, n + 1, "after its own inc");
		expect(key_op(k, K_DEC), 0, "static_key_slow_dec in the fork child");
		child_expect_key(k, n, "after its own dec");
	}
	for (int op = 0; op < 6 && group_on("private"); op++) {
		int k = own_key(op & 1), count = static_key_count(key_ptr(k));
		int kop = (int)rnd(4), want = model_key_op(&count, kop);

		desc("fork child: %s(&%s.key)", kop_name[kop], key_name[k]);
		expect(key_op(k, kop), want, kop_name[kop]);
		child_expect_key(k, count, "after its own change");
	}
	id = (int)rnd(4);
	n = static_key_count(key_ptr(0));
	desc("fork child: batch of update fz_c0=%s, inc fz_sk0", tname(0, id));
	expect(ustatic_batch_begin(), 0, "ustatic_batch_begin in the fork child");
	expect(update(0, id), 0, "static_call_update in a batch");
	expect(key_op(0, K_INC), 0, "a key change in a batch");
	expect(ustatic_batch_commit(), 0, "ustatic_batch_commit in the fork child");
	child_expect_call(0, id, "after its commit");
	child_expect_key(0, n + 1, "after its commit");
	_exit(0);
}

static void op_fork(void)
{
	double limit = qemu ? 120 : 30, t0;
	int status = 0;
	pid_t pid, parent;

	desc("fork");
	self->forks++;
	parent = getpid();
	pid = fork();
	if (pid < 0)
		return;		/* EAGAIN: nothing to check */
	if (pid == 0)
		child_main(parent);
	/* A child that hangs (a lock it inherited held) is a failure too. */
	for (t0 = now();; usleep(1000)) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			fail("waitpid for the fork child: errno %d", errno);
		if (now() - t0 > limit) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail("the fork child did not finish in %.0f s", limit);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("the fork child failed (wait status %#x; its report is above)", status);
}

static void op_signal(void)
{
	int w = (int)rnd(FZ_WORKERS);

	desc("signal worker %d", w);
	syscall(SYS_tgkill, getpid(), workers[w].tid, SIGUSR1);
}

/* A signal handler calls every site of the executable and of this thread's
 * plugins, tests every key, and checks what this thread holds. */
static void on_usr1(int sig)
{
	const struct fz_sites *o[1 + NPLUG];
	const char *on[1 + NPLUG];
	int saved = errno, no;

	(void)sig;
	if (!self || in_child || __atomic_load_n(&failing, __ATOMIC_RELAXED))
		return;
	in_handler++;
	no = objects(o, on);
	for (int i = 0; i < no; i++) {
		for (int c = 0; c < NCALLS; c++)
			check_call(o[i], on[i], c, (int)(argseq % (unsigned)nforms(c)), false);
		for (int k = 2; k < FZ_KEYS; k++)
			check_key(o[i], on[i], k, false);
		check_holds(o[i], on[i]);
	}
	self->signals++;
	in_handler--;
	errno = saved;
}


static const struct {
	const char *name, *group;
	unsigned weight;
	void (*run)(void);
} optab[NOPS] = {
	[OP_CHECK]   = { "check",   NULL,      20, op_check },
	[OP_SWEEP]   = { "sweep",   NULL,       3, NULL },
	[OP_QUERY]   = { "query",   NULL,       3, op_query },
	[OP_UPDATE]  = { "update",  "calls",    8, op_update },
	[OP_INC]     = { "inc",     "shared",  10, op_inc },
	[OP_DEC]     = { "dec",     "shared",  10, op_dec },
	[OP_BURST]   = { "burst",   "shared",   6, op_burst },
	[OP_PRIVATE] = { "private", "private", 10, op_private },
	[OP_TXN]     = { "txn",     "txn",     10, op_txn },
	[OP_STRAY]   = { "stray",   "txn",      1, op_stray },
	[OP_DL]      = { "dl",      "dl",       2, op_dl },
	[OP_FORK]    = { "fork",    "fork",     1, op_fork },
	[OP_SIGNAL]  = { "signal",  "signal",   6, op_signal },
};

static bool op_on(int op)
{
	return !optab[op].group || group_on(optab[op].group);
}

/*
 * One epoch in 8 (the same for every thread) is a storm: three operations
 * in four are bursts, mostly on fz_sk0, so that every thread takes and
 * drops it at once (a race between a 1 -> 0 dec and the other threads'
 * incs is short where no code is written, as in the generic build).
 */
static bool storm_epoch(unsigned long epoch)
{
	return group_on("shared") && mix(seed ^ ~(uint64_t)epoch) % 8 == 0;
}

static int pick_op(bool storm)
{
	unsigned total = 0, r;

	if (storm && rnd(4))
		return OP_BURST;
	for (int op = 0; op < NOPS; op++)
		total += op_on(op) ? optab[op].weight : 0;
	r = rnd(total);
	for (int op = 0; op < NOPS; op++) {
		if (!op_on(op))
			continue;
		if (r < optab[op].weight)
			return op;
		r -= optab[op].weight;
	}
	return OP_CHECK;
}

/* ---- epochs ---- */

static pthread_mutex_t ep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ep_go_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ep_done_cv = PTHREAD_COND_INITIALIZER;
static unsigned long ep_go;		/* epochs opened */
static int ep_arrived;
static bool ep_stop;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long seen = 0;
	bool stop, storm;

	self = w;
	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	for (;;) {
		pthread_mutex_lock(&ep_mu);
		while (ep_go == seen && !ep_stop)
			pthread_cond_wait(&ep_go_cv, &ep_mu);
		seen = ep_go;
		stop = ep_stop;
		pthread_mutex_unlock(&ep_mu);
		if (stop)
			break;
		w->epoch = seen - 1;
		w->rng = mix(seed ^ mix((uint64_t)w->id << 40 ^ w->epoch));
		storm = storm_epoch(w->epoch);
		for (w->opno = 0; w->opno < OPS_PER_EPOCH; w->opno++) {
			int op = pick_op(storm);

			w->n_op[op]++;
			if (op == OP_SWEEP)
				sweep("sweep of every site");
			else
				optab[op].run();
		}
		desc("waiting for the next epoch");
		pthread_mutex_lock(&ep_mu);
		ep_arrived++;
		pthread_cond_signal(&ep_done_cv);
		pthread_mutex_unlock(&ep_mu);
	}
	for (int p = 0; p < NPLUG; p++)
		if (w->plug[p]) {
			__atomic_store_n(&w->plug[p], NULL, __ATOMIC_RELAXED);
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			if (dlclose(w->dl[p]))
				fail("dlclose(%s): %s", plugin_name[p], dlerror());
		}
	return NULL;
}

/*
 * Between epochs nothing runs: the state must be exactly the model's. A
 * call may still have several possible targets when updates overlapped
 * (their order is not specified), never one that failed or was superseded.
 */
static void check_settled(bool final)
{
	const struct fz_sites *o[1 + FZ_WORKERS * NPLUG];
	const char *on[1 + FZ_WORKERS * NPLUG];
	bool loaded[NPLUG] = { false, false };
	int no = 0, nloaded = 0;
	struct ustatic_stats st;

	o[no] = &fz_sites;
	on[no++] = "the executable";
	for (int w = 0; w < FZ_WORKERS; w++)
		for (int p = 0; p < NPLUG; p++)
			if (workers[w].plug[p]) {
				o[no] = workers[w].plug[p];
				on[no++] = plugin_name[p];
				loaded[p] = true;
			}
	for (int c = 0; c < NCALLS; c++) {
		for (int i = 0; i < no; i++)
			for (int f = 0; f < nforms(c); f++)
				check_call(o[i], on[i], c, f, true);
		check_query(c, true);
	}
	for (int k = 0; k < FZ_KEYS; k++) {
		int want = 0, n = static_key_count(key_ptr(k));

		if (k < 2)
			for (int w = 0; w < FZ_WORKERS; w++)
				want += workers[w].holds[k];
		else
			want = workers[(k - 2) % FZ_WORKERS].pcount[(k - 2) / FZ_WORKERS];
		if (n != want)
			fail("static_key_count(&%s.key) is %d, the model says %d%s", key_name[k],
			     n, want, k < 2 ? " (the sum of what the threads hold)" : "");
		for (int i = 0; i < no && !qemu; i++)
			for (int likely = 0; likely < 2; likely++)
				if (o[i]->branch(k, likely) != (want > 0))
					fail("static_branch_%s(&%s) in %s is %s with count %d",
					     likely ? "likely" : "unlikely", key_name[k], on[i],
					     want > 0 ? "off" : "on", want);
	}
	for (int p = 0; p < NPLUG; p++)
		nloaded += T_DLCLOSE_UNLOADS ? loaded[p] :
			   __atomic_load_n(&ever_loaded[p], __ATOMIC_RELAXED);
	expect(ustatic_get_stats(&st), 0, "ustatic_get_stats");
#ifdef USTATIC_PATCHING
	/* The executable and every plugin loaded: dlclose unregisters (the
	 * epoch's mutex orders ever_loaded's stores before these loads). */
	if (st.objects != 1UL + (unsigned long)nloaded)
		fail("ustatic_get_stats() counts %lu registered objects; the executable "
		     "and %d plugin(s) are loaded%s", st.objects, nloaded,
		     final ? " at the end" : "");
#else
	(void)final;
	(void)nloaded;
#endif
}

static void hang(double waited)
{
	char buf[2048];
	size_t n = 0;

	for (int w = 0; w < FZ_WORKERS; w++)
		n = add(buf, sizeof(buf), n, "\n    thread %d: operation %lu: %.160s", w,
			workers[w].opno, workers[w].desc);
	fail("epoch %lu has not ended after %.0f s; the threads are at:%s", cur_epoch,
	     waited, buf);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	const char *s = getenv("USTATIC_FUZZ_SEED"), *secs = getenv("USTATIC_FUZZ_SECONDS");
	pthread_t th[FZ_WORKERS];
	unsigned long epochs = 0, tot[NOPS] = { 0 }, checks = 0, signals = 0;
	unsigned long forks = 0, loads = 0, tok = 0, tfail = 0, tabort = 0;

	t_start = now();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1)
		s = argv[1];
	if (argc > 2)
		secs = argv[2];
	seed = s && *s ? strtoull(s, NULL, 0)
		       : mix((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
	seconds = test_scale(secs && *secs ? atol(secs) : 45);
	qemu = getenv("USTATIC_TEST_QEMU") != NULL;
	if (getenv("USTATIC_FUZZ_OPS") && *getenv("USTATIC_FUZZ_OPS"))
		groups = getenv("USTATIC_FUZZ_OPS");
	test_self_path(self_path, sizeof(self_path));
	for (int p = 0; p < NPLUG; p++)
		test_beside_self(plugin_path[p], sizeof(plugin_path[p]), plugin_name[p]);
	printf("fuzz: seed %llu, %ld s, %d threads, operations: %s\n", seed, seconds,
	       FZ_WORKERS, groups);
	printf("fuzz: replay with USTATIC_FUZZ_SEED=%llu (or make fuzz SEED=%llu)\n",
	       seed, seed);

	for (int c = 0; c < NCALLS; c++)
		cell_init(&call_cell[c], initial_target[c]);
	for (int k = 2; k < FZ_KEYS; k++)
		cell_init(&key_cell[k - 2], k < 2 + FZ_WORKERS ? 0 : 1);
	for (int w = 0; w < FZ_WORKERS; w++) {
		workers[w].id = w;
		workers[w].pcount[1] = 1;	/* fz_pkt[] start true */
	}
	workers[0].holds[1] = 1;	/* fz_sk1 starts at 1: thread 0 holds that */
	sigaction(SIGUSR1, &sa, NULL);
	for (int w = 0; w < FZ_WORKERS; w++)
		CHECK_EQ(pthread_create(&th[w], NULL, worker_main, &workers[w]), 0);
	/* Signals go to a thread's id: have them all before anyone sends one. */
	for (int w = 0; w < FZ_WORKERS; w++)
		while (!__atomic_load_n(&workers[w].tid, __ATOMIC_ACQUIRE))
			usleep(1000);
	check_settled(false);

	for (;; epochs++) {
		double t0 = now();

		cur_epoch = epochs;
		pthread_mutex_lock(&ep_mu);
		ep_arrived = 0;
		ep_go++;
		pthread_cond_broadcast(&ep_go_cv);
		while (ep_arrived < FZ_WORKERS) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&ep_done_cv, &ep_mu, &ts);
			if (ep_arrived < FZ_WORKERS && now() - t0 > (qemu ? 300 : 60))
				hang(now() - t0);
		}
		pthread_mutex_unlock(&ep_mu);
		check_settled(false);
		if (now() - t_start >= seconds) {
			epochs++;
			break;
		}
	}
	pthread_mutex_lock(&ep_mu);
	ep_stop = true;
	pthread_cond_broadcast(&ep_go_cv);
	pthread_mutex_unlock(&ep_mu);
	for (int w = 0; w < FZ_WORKERS; w++)
		CHECK_EQ(pthread_join(th[w], NULL), 0);
	check_settled(true);

	for (int w = 0; w < FZ_WORKERS; w++) {
		for (int op = 0; op < NOPS; op++)
			tot[op] += workers[w].n_op[op];
		checks += workers[w].checks;
		signals += workers[w].signals;
		forks += workers[w].forks;
		loads += workers[w].loads;
		tok += workers[w].txn_ok;
		tfail += workers[w].txn_failed;
		tabort += workers[w].txn_aborted;
	}
	printf("fuzz: %lu epochs in %.1f s, %lu checks; operations:", epochs,
	       now() - t_start, checks);
	for (int op = 0; op < NOPS; op++)
		printf(" %s %lu", optab[op].name, tot[op]);
	printf("\nfuzz: transactions committed %lu, failed as the model expected %lu, "
	       "aborted %lu; %lu signal handlers ran, %lu forks, %lu dlopens\n",
	       tok, tfail, tabort, signals, forks, loads);
	return 0;
}
