/*
 * Hostile conditions: membarrier() denied after start-up (issue:
 * "membarrier denied later"), as a sandbox's seccomp filter installed once
 * the program runs does (Docker's default profile answers EPERM, systemd's
 * SystemCallFilter= EPERM or ENOSYS).
 *
 * The library registered membarrier at start-up. Once the filter is in,
 * every update must keep working through the signal broadcast, with
 * threads running the code being patched (every result checked), and the
 * sync method must read "signal" afterwards:
 *   eperm    membarrier() fails with EPERM;
 *   enosys   membarrier() fails with ENOSYS;
 *   taken    EPERM, and the program has its own handler on the signal the
 *            broadcast would use: with another thread running, the update
 *            is refused (-EOPNOTSUPP: nothing reaches other threads),
 *            nothing changes, and the program's handler stays.
 * Each case runs in its own child.
 *
 * Convinced it can fail: linked against src/sync.c of 1c2710d, the first
 * update of "eperm" fails with -EPERM and of "enosys" with -ENOSYS, and
 * "taken" with -EPERM (membarrier's error, whatever else could be done).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "engine.h"
#include "sync.h"
#include "stubs.h"
#include "test.h"

#if !HAVE_STUBS
int main(void)
{
	SKIP("no code patching in this build");
}
#else

#if defined(__x86_64__)
#define HOST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define HOST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* membarrier() -> errno err; everything else allowed. */
static void deny_membarrier(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L), 0);
	CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0L, 0L), 0);
	CHECK_EQ(syscall(__NR_membarrier,
			 MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0), -1);
	CHECK_EQ(errno, err);
}

static unsigned long done_seq, pending_seq;	/* target of seq s: s % 4 */
static bool stop, running;
static unsigned long wrong, calls;

static void *worker(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		unsigned long d0 = __atomic_load_n(&done_seq, __ATOMIC_ACQUIRE);
		int a = stub_jmp(), b = stub_call();
		unsigned long p1 = __atomic_load_n(&pending_seq, __ATOMIC_ACQUIRE);

		if (!test_in_window(a, d0, p1) || !test_in_window(b, d0, p1))
			__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&running, true, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Both stubs: target s % 4 -> (s + 1) % 4. */
static int step(unsigned long s)
{
	struct us_patch p[2] = {
		{ .addr = (uint8_t *)stub_jmp, .len = STUB_LEN },
		{ .addr = stub_call_site, .len = STUB_LEN },
	};

	stub_jump_insn(p[0].old, p[0].addr, stub_targets[s % 4]);
	stub_jump_insn(p[0].new, p[0].addr, stub_targets[(s + 1) % 4]);
	stub_call_insn(p[1].old, p[1].addr, stub_targets[s % 4]);
	stub_call_insn(p[1].new, p[1].addr, stub_targets[(s + 1) % 4]);
	return us_engine_apply(p, 2);
}

static void start_worker(pthread_t *th)
{
	CHECK_EQ(pthread_create(th, NULL, worker, NULL), 0);
	while (!__atomic_load_n(&running, __ATOMIC_RELAXED))
		sched_yield();
}

static int falls_back(int err)
{
	unsigned long s = 0;
	pthread_t th;

	deny_membarrier(err);
	start_worker(&th);
	for (; s < (unsigned long)test_scale(300); s++) {
		__atomic_store_n(&pending_seq, s + 1, __ATOMIC_SEQ_CST);
		int e = step(s);
		if (e) {
			fprintf(stderr, "update %lu returned %d (%s)\n", s, e,
				strerror(-e));
			exit(1);
		}
		__atomic_store_n(&done_seq, s + 1, __ATOMIC_RELEASE);
		CHECK_EQ(stub_jmp(), (int)((s + 1) % 4));
		CHECK_EQ(stub_call(), (int)((s + 1) % 4));
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("%s: %lu updates through the signal broadcast, %lu calls "
	       "checked, %lu wrong\n", err == EPERM ? "eperm" : "enosys", s,
	       calls, wrong);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(us_sync_method(), USTATIC_SYNC_SIGNAL);
	return 0;
}

static int case_eperm(void)
{
	return falls_back(EPERM);
}

static int case_enosys(void)
{
	return falls_back(ENOSYS);
}

static void programs_handler(int sig)
{
	(void)sig;
}

static int case_taken(void)
{
	struct sigaction sa = { .sa_handler = programs_handler }, now;
	uint8_t before[2][STUB_LEN];
	pthread_t th;
	int r = stub_jmp(), err;

	CHECK_EQ(sigaction(SIGRTMAX - 1, &sa, NULL), 0);
	deny_membarrier(EPERM);
	/* The update is refused at its first sync: until then a call that
	 * meets an int3 guard runs the old instruction, so no call may ever
	 * reach the new target. */
	done_seq = (unsigned long)r;
	pending_seq = (unsigned long)r;
	start_worker(&th);
	memcpy(before[0], (void *)stub_jmp, STUB_LEN);
	memcpy(before[1], stub_call_site, STUB_LEN);
	err = step((unsigned long)r);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("taken: update returned %d (%s)\n", err, strerror(-err));
	CHECK_EQ(err, -EOPNOTSUPP);
	CHECK(!memcmp(before[0], (void *)stub_jmp, STUB_LEN));
	CHECK(!memcmp(before[1], stub_call_site, STUB_LEN));
	CHECK_EQ(stub_jmp(), r);
	CHECK_EQ(stub_call(), r);
	CHECK_EQ(sigaction(SIGRTMAX - 1, NULL, &now), 0);
	CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == programs_handler);
	CHECK_EQ(wrong, 0);
	return 0;
}

static void run_case(const char *name, int (*fn)(void), int *failed)
{
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(60);
		exit(fn());
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "%s: failed (status 0x%x)\n", name, status);
		*failed = 1;
	}
}

int main(void)
{
	int failed = 0;

	if (us_sync_method() != USTATIC_SYNC_MEMBARRIER)
		SKIP("the library does not use membarrier here");
	if (getenv("USTATIC_TRAPFREE"))
		SKIP("the stubs' updates need int3, never used with USTATIC_TRAPFREE");
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("a seccomp filter would see qemu's own system calls");
	run_case("eperm", case_eperm, &failed);
	run_case("enosys", case_enosys, &failed);
	run_case("taken", case_taken, &failed);
	return failed;
}
#endif
