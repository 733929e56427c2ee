/* SPDX-License-Identifier: MIT */
/*
 * Hostile conditions: systemd's MemoryDenyWriteExecute= seccomp filter.
 *
 * The filter below reproduces systemd's rules (src/shared/seccomp-util.c,
 * seccomp_memory_deny_write_execute()): EPERM for
 *   mmap(..., prot & (PROT_WRITE|PROT_EXEC) == both, ...),
 *   mprotect(..., prot & PROT_EXEC) and pkey_mprotect(..., prot & PROT_EXEC),
 *   shmat(..., shmflg & SHM_EXEC),
 * installed with PR_SET_NO_NEW_PRIVS (no privilege needed). Even putting a
 * page back to r-x is refused, so mprotect(RWX) is useless and the writer
 * must use /proc/self/mem. Static calls and keys must keep working, with a
 * thread calling through the sites, and the code must stay executable.
 *
 * Convinced it can fail: `USTATIC_WRITE=mprotect ./build/test/hostile_seccomp_wx`
 * locks the writer to mprotect(); the first update returns -EPERM and the
 * test fails (checked by hand).
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#if defined(__x86_64__)
#define HOST_AUDIT_ARCH AUDIT_ARCH_X86_64
#ifndef __NR_pkey_mprotect
#define __NR_pkey_mprotect 329
#endif
#elif defined(__aarch64__)
#define HOST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#ifndef __NR_pkey_mprotect
#define __NR_pkey_mprotect 288
#endif
#endif

DEFINE_STATIC_CALL(sw_call, t_fa);
DEFINE_STATIC_KEY_FALSE(sw_key);

T_CALLER(call_it, sw_call)
T_BRANCH(branch, static_branch_unlikely, &sw_key)

#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#define EPERM_RET (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

static void install_filter(void)
{
	struct sock_filter f[] = {
		/* Native calls only (x32 and i386 ones are killed; systemd
		 * has per-architecture filters). */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),	/* x32 */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 6, 0),		/* -> 13 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 8, 0),	/* -> 16 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 7, 0),	/* -> 16 */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 1, 0),		/* -> 11 */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* 11: shmat, shmflg is args[2] */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SHM_EXEC, 5, 6),
		/* 13: mmap, prot is args[2] */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 2, 3),
		/* 16: mprotect / pkey_mprotect, prot is args[2] */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
		/* 18 */
		BPF_STMT(BPF_RET | BPF_K, EPERM_RET),
		/* 19 */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L), 0);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0L, 0L)) {
		if (errno == EINVAL)
			SKIP("seccomp filters not supported by this kernel");
		perror("PR_SET_SECCOMP");
		exit(T_EXIT_FAIL);
	}
}

/* The filter does what systemd's does, and nothing more. */
static void check_filter(void)
{
	const size_t pg = 4096;
	/* The system call itself: musl's mmap() reports the EPERM of an
	 * anonymous mapping as ENOMEM. */
	long r = syscall(SYS_mmap, NULL, pg, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *p;

	CHECK(r == -1 && errno == EPERM);
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	errno = 0;
	CHECK(mprotect(p, pg, PROT_READ | PROT_EXEC) == -1 && errno == EPERM);
	errno = 0;
	CHECK(syscall(__NR_pkey_mprotect, p, pg, PROT_READ | PROT_EXEC, -1) == -1 &&
	      errno == EPERM);
	CHECK_EQ(mprotect(p, pg, PROT_READ), 0);
	munmap(p, pg);
	p = mmap(NULL, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	munmap(p, pg);
}

static volatile bool stop, running;
static volatile long wrong, calls;

static void *worker(void *arg)
{
	(void)arg;
	while (!stop) {
		if (!t_fabc_result(call_it(10)))
			wrong++;
		(void)branch();
		calls++;
		running = true;
	}
	return NULL;
}

int main(void)
{
	struct ustatic_stats st;
	pthread_t th;
	long rounds = test_scale(300);

	t_skip_without_procmem();
	install_filter();
	check_filter();

	CHECK_EQ(call_it(10), 11);
	CHECK_EQ(static_call_update(sw_call, t_fb), 0);
	CHECK_EQ(call_it(10), 12);
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);
	CHECK_EQ(static_branch_enable(&sw_key), 0);
	CHECK_EQ(branch(), 1);
	CHECK_EQ(static_branch_disable(&sw_key), 0);
	CHECK_EQ(branch(), 0);

	t_thread_start(&th, worker, &running);
	for (long i = 0; i < rounds; i++) {
		int k = (int)(i % 3);
		bool on = i & 1;

		CHECK_EQ(static_call_update(sw_call, t_fabc[k]), 0);
		CHECK_EQ(call_it(10), t_fabc_of_10[k]);
		CHECK(static_call_query(sw_call) == t_fabc[k]);
		CHECK_EQ(T_BRANCH_SET(&sw_key, on), 0);
		CHECK_EQ(branch(), on);
	}
	stop = true;
	pthread_join(th, NULL);
	CHECK_EQ(wrong, 0);
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);
	printf("seccomp W^X: %ld rounds, %ld concurrent calls, %lu batches, "
	       "%lu traps\n", rounds, calls, st.batches, st.traps);
	return T_EXIT_PASS;
}
