/* SPDX-License-Identifier: MIT */
/*
 * The tests' shared fixtures (test/helpers.h), linked into every test.
 */
#include <limits.h>
#include <link.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"
#include "test.h"

/*
 * The one place that reads an internal header: the black-box tests learn
 * what the build does from the public one, which must say the same.
 */
#include "arch.h"
_Static_assert(T_PATCHES_CODE == US_ARCH_PATCHES_CODE,
	       "USTATIC_PATCHING disagrees with src/arch.h");
_Static_assert(T_USES_GUARDS == US_ARCH_USES_GUARDS,
	       "USTATIC_ARCH_X86_64 disagrees with src/arch.h");

int t_fa(int x) { return x + 1; }
int t_fb(int x) { return x + 2; }
int t_fc(int x) { return x * 3; }
int (*const t_fabc[3])(int) = { t_fa, t_fb, t_fc };
const int t_fabc_of_10[3] = { 11, 12, 30 };

bool t_fabc_result(int r)
{
	return r == 11 || r == 12 || r == 30;
}

int t_ret0(void) { return 0; }
int t_ret1(void) { return 1; }
int t_ret2(void) { return 2; }
int t_ret3(void) { return 3; }
int (*const t_ret[4])(void) = { t_ret0, t_ret1, t_ret2, t_ret3 };

int t_hits;
void t_bump(int by) { t_hits += by; }
long t_ret7(void) { return 7; }

void t_skip_without_procmem(void)
{
	if (!T_PATCHES_CODE)
		SKIP("no code is written in this build");
	if (!test_procmem_ok())
		SKIP("writes to /proc/self/mem are not seen here (qemu-user)");
}

void t_check_no_wx(const char *when)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char perms[8] = "";

		if (sscanf(line, "%*s %7s", perms) != 1)
			continue;
		if (perms[1] == 'w' && perms[2] == 'x') {
			fprintf(stderr, "%s: W+X mapping: %s", when, line);
			exit(T_EXIT_FAIL);
		}
	}
	fclose(f);
}

/*
 * The executable's code segment is the one that holds this function
 * (helpers.c is linked into every test executable). Not "the object
 * without a name": glibc leaves the main program's name empty, musl gives
 * it its path.
 */
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct t_text *t = arg;
	uintptr_t self = (uintptr_t)find_text;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    self >= start && self - start < ph->p_memsz) {
			t->start = (uint8_t *)start;
			t->len = ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

void t_text_snapshot(struct t_text *t)
{
	if (!t->start) {
		dl_iterate_phdr(find_text, t);
		CHECK(t->start != NULL);
		t->copy = malloc(t->len);
		CHECK(t->copy != NULL);
	}
	memcpy(t->copy, t->start, t->len);
}

void t_text_check(const struct t_text *t, const char *when,
		  const uint8_t *cc_at)
{
	for (size_t i = 0; i < t->len; i++) {
		uint8_t want = t->start + i == cc_at ? 0xcc : t->copy[i];

		if (t->start[i] != want) {
			fprintf(stderr, "%s: code byte %p is %02x, expected %02x\n",
				when, (void *)(t->start + i), t->start[i], want);
			exit(T_EXIT_FAIL);
		}
	}
}

void t_thread_start(pthread_t *th, void *(*fn)(void *),
		    volatile bool *running)
{
	CHECK_EQ(pthread_create(th, NULL, fn, NULL), 0);
	while (!*running)
		sched_yield();
}

int t_wait(pid_t pid)
{
	int status;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

int t_fork_run(int (*fn)(void *), void *arg, unsigned int secs)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		alarm(secs);
		exit(fn(arg));
	}
	return t_wait(pid);
}

int t_run(const char *const env[], const char *const argv[])
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		for (; env && *env; env++)
			putenv((char *)*env);
		/* execvp() would hand a binary the kernel cannot run
		 * (another architecture, without binfmt_misc) to /bin/sh. */
		if (strchr(argv[0], '/'))
			execv(argv[0], (char **)argv);
		else
			execvp(argv[0], (char **)argv);
		_exit(127);
	}
	return t_wait(pid);
}

int t_run_self(const char *env, const char *arg, ...)
{
	char self[PATH_MAX];
	const char *argv[8] = { self }, *envv[] = { env, NULL };
	int argc = 1;
	va_list ap;

	test_self_path(self, sizeof(self));
	va_start(ap, arg);
	for (; arg; arg = va_arg(ap, const char *)) {
		CHECK(argc < 7);
		argv[argc++] = arg;
	}
	va_end(ap);
	return t_run(envv, argv);
}

double t_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int t_two_cpus(int cpu[2])
{
	cpu_set_t set;
	int n = 0;

	cpu[0] = cpu[1] = -1;
	CHECK_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	return n;
}

void t_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK_EQ(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), 0);
}

/*
 * Whether cc builds for musl: its <stdio.h> does not define __GLIBC__.
 * Asked once per compiler (a compile each time would add seconds to the
 * tests that try dozens of builds).
 */
static bool builds_for_musl(const char *cc)
{
	static struct {
		char cc[32];
		bool musl;
	} seen[8];
	static int nseen;
	char cmd[256];
	bool musl;

	for (int i = 0; i < nseen; i++)
		if (!strcmp(seen[i].cc, cc))
			return seen[i].musl;
	CHECK(snprintf(cmd, sizeof(cmd), "printf '#include <stdio.h>\\n"
		       "#ifdef __GLIBC__\\n#error glibc\\n#endif\\n' | "
		       "%s -x c -E - >/dev/null 2>&1", cc) < (int)sizeof(cmd));
	musl = system(cmd) == 0;
	if (nseen < 8 && strlen(cc) < sizeof(seen[0].cc)) {
		strcpy(seen[nseen].cc, cc);
		seen[nseen++].musl = musl;
	}
	return musl;
}

static bool installed(const char *cc)
{
	char cmd[128];

	CHECK(snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", cc) <
	      (int)sizeof(cmd));
	return system(cmd) == 0;
}

const char *t_cc(const char *cmd, char *out, size_t size)
{
	int n = (int)strcspn(cmd, " ");
	char cc[32];

	CHECK(n < (int)sizeof(cc));
	snprintf(cc, sizeof(cc), "%.*s", n, cmd);
	if (!installed(cc))
		return "not installed";
	if (T_LIBC_MUSL && !builds_for_musl(cc)) {
		/* Debian's musl-tools: a gcc wrapper, C only. */
		if (strcmp(cc, "gcc") && strcmp(cc, "cc"))
			return "builds for glibc; this build is for musl";
		if (!installed("musl-gcc") || !builds_for_musl("musl-gcc"))
			return "builds for glibc, and there is no musl-gcc";
		CHECK(snprintf(out, size, "musl-gcc%s", cmd + n) < (int)size);
		return NULL;
	}
	CHECK(snprintf(out, size, "%s", cmd) < (int)size);
	return NULL;
}

int t_capture(const char *cmd, char *out, size_t size, size_t *len)
{
	FILE *p;
	int st;

	fflush(stdout);
	p = popen(cmd, "r");
	CHECK(p);
	*len = fread(out, 1, size - 1, p);
	out[*len] = 0;
	st = pclose(p);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}
