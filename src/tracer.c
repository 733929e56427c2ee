/* SPDX-License-Identifier: MIT */
/*
 * Tracer detection. See tracer.h.
 *
 * Why the leader's TracerPid alone. ptrace attaches to threads one by one,
 * but the debuggers that stop on SIGTRAP attach to every thread of the
 * group, the leader among them, and keep it traced for as long as any
 * other: gdb attaches the leader first and detaches it last; gdb and lldb
 * stop every thread before detaching, so no thread still traced runs
 * after the leader is let go. A tracer of single threads (strace -p TID)
 * passes our SIGTRAP on to the handler, which is all an int3 needs. Reading
 * every thread's status would cost one such read per thread per batch.
 *
 * Cost (2 vCPUs, Linux 6.x, idle): open/read/close of /proc/self/status
 * ~5 us; the same file kept open and read again with pread ~3.3 us (not
 * taken: a descriptor held for good is one the program can close or
 * reuse); every thread's status ~8 us per thread. /proc/self/stat, no
 * cheaper (~3.3 us), has no tracer field; no system call answers the
 * question (PTRACE_TRACEME would, by making the parent our tracer).
 *
 * Fail closed: a status file that cannot be read, or has no TracerPid
 * line we can parse, counts as traced. A wrong "not traced" stops the
 * program in the debugger at our int3 (gdb's batch mode then kills it); a
 * wrong "traced" costs only what a trap-free batch costs (inline call
 * sites stay on their trampolines, or -EDEADLK for one that points at a
 * function). And where /proc cannot be read, the signal-mask scan already
 * counts every thread as blocking SIGTRAP: no int3 is placed either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "tracer.h"

/* TracerPid is the eighth line: Name (16 bytes of comm, escaped: at most
 * 64), Umask, State, Tgid, Ngid, Pid, PPid come first. */
#define HEAD 512

/* Reads the start of /proc/self/status into buf; its length or -errno. */
static ssize_t read_head(char *buf, size_t size)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return (ssize_t)len;
}

/* The tracer's pid (0: none), or -1 when the line is missing or malformed. */
static long parse_tracer(const char *status)
{
	const char *l = strstr(status, "\nTracerPid:");
	char *end;
	long pid;

	if (!l)
		return -1;
	l += strlen("\nTracerPid:");
	errno = 0;
	pid = strtol(l, &end, 10);
	if (errno || end == l || pid < 0 || (*end != '\n' && *end))
		return -1;
	return pid;
}

bool us_tracer_attached(void)
{
	char buf[HEAD];
	ssize_t n = read_head(buf, sizeof(buf));
	long pid;

	if (n < 0) {
		us_log("tracer: cannot read /proc/self/status (%s): counted "
		       "as traced", strerror((int)-n));
		return true;
	}
	pid = parse_tracer(buf);
	if (pid < 0) {
		us_log("tracer: no TracerPid in /proc/self/status: counted as "
		       "traced");
		return true;
	}
	if (pid)
		us_log("tracer: process %ld traces this one (a debugger?): "
		       "no int3 guards while it does", pid);
	return pid != 0;
}
