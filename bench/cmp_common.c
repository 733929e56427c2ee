/* SPDX-License-Identifier: MIT */
/* The comparison's shared pieces: results, the floor, maps, children. */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmp.h"

void result(const char *fmt, ...)
{
	va_list ap;

	fputs("R ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static long membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0, 0);
}

int floor_init(void)
{
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)) {
		fprintf(stderr, "cmp: membarrier SYNC_CORE: %m\n");
		return -1;
	}
	return 0;
}

double floor_us(void)
{
	double t0 = now_ns();

	for (int i = 0; i < 3; i++)
		membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
	return (now_ns() - t0) / 1e3;
}

double med(double *v, int n)
{
	return n > 0 ? median(v, (size_t)n) : 0;
}

int count_maps(void)
{
	char buf[65536];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("cmp: mmap");
		exit(2);
	}
	return p;
}

int run_child(void (*fn)(void *arg), void *arg, int timeout_s)
{
	double deadline = now_ns() + timeout_s * 1e9;
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		perror("cmp: fork");
		exit(2);
	}
	if (!pid) {
		fn(arg);
		_exit(0);
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			perror("cmp: waitpid");
			exit(2);
		}
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		sleep_ns(5 * 1000 * 1000);
	}
	if (WIFSIGNALED(st))
		return WTERMSIG(st);
	return WEXITSTATUS(st) ? -2 : 0;
}
