/* SPDX-License-Identifier: MIT */
/*
 * ustatic-ctl PID COMMAND [ARG...]: talks to the control socket of a
 * process that runs with USTATIC_CONTROL=1 or called
 * ustatic_control_start() (man ustatic-ctl). Needs nothing but libc.
 *
 * The socket is looked for where that process made it: under the
 * XDG_RUNTIME_DIR of its environment (/proc/PID/environ, readable by its
 * own user and root), ours, /run/user/UID, and /tmp/ustatic-UID, UID being
 * the owner of /proc/PID. The first socket file found is used.
 *
 * Exit status: 0 the command succeeded; 1 the process refused it (an ERR
 * reply: a malformed query, an unknown key, a peer not allowed); 2 usage,
 * or the process could not be asked (no such process, no control socket,
 * no complete reply within the time limit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_MAX	4096
#define TIMEOUT_MS	30000
#define MAX_TRIED	4

static const char *prog = "ustatic-ctl";

__attribute__((noreturn, format(printf, 2, 3)))
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: %s PID COMMAND [ARG...]\n"
		"  list                     debug sites and their flags\n"
		"  keys                     static keys and static calls: state, target\n"
		"  query 'QUERY'            a dynamic-debug query, e.g. 'file net.c +p'\n"
		"  enable|disable|inc|dec|count NAME   a static key (NAME or MODULE:NAME)\n"
		"  help, version            ask the process\n"
		"The process must run with USTATIC_CONTROL=1 or call "
		"ustatic_control_start().\n", prog);
	exit(2);
}

/* XDG_RUNTIME_DIR from the target's environment, into out. */
static bool target_xdg(const char *pid, char *out, size_t size)
{
	static char env[1 << 16];
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, env, sizeof(env) - 1);
	close(fd);
	if (n <= 0)
		return false;
	env[n] = 0;
	for (char *s = env; s < env + n; s += strlen(s) + 1)
		if (!strncmp(s, "XDG_RUNTIME_DIR=", 16) && s[16] == '/') {
			snprintf(out, size, "%s", s + 16);
			return true;
		}
	return false;
}

struct tried {
	char path[MAX_TRIED][sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n;
};

static bool try_dir(struct tried *t, const char *dir, const char *pid)
{
	char path[sizeof(t->path[0])];
	struct stat st;
	int n = snprintf(path, sizeof(path), "%s/%s.sock", dir, pid);

	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->path[i], path))
			return false;
	if (t->n < MAX_TRIED)
		memcpy(t->path[t->n++], path, sizeof(path));
	return !lstat(path, &st) && S_ISSOCK(st.st_mode);
}

/* The socket's path, or exits 2 saying where it looked. */
static const char *find_socket(const char *pid, struct tried *t)
{
	char proc[64], dir[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	snprintf(proc, sizeof(proc), "/proc/%s", pid);
	if (stat(proc, &st))
		die(2, "no process %s", pid);
	if (target_xdg(pid, dir, sizeof(dir) - 8) &&
	    try_dir(t, strcat(dir, "/ustatic"), pid))
		return t->path[t->n - 1];
	if (xdg && xdg[0] == '/' && strlen(xdg) < sizeof(dir) - 8 &&
	    try_dir(t, strcat(strcpy(dir, xdg), "/ustatic"), pid))
		return t->path[t->n - 1];
	snprintf(dir, sizeof(dir), "/run/user/%u/ustatic", (unsigned)st.st_uid);
	if (try_dir(t, dir, pid))
		return t->path[t->n - 1];
	snprintf(dir, sizeof(dir), "/tmp/ustatic-%u", (unsigned)st.st_uid);
	if (try_dir(t, dir, pid))
		return t->path[t->n - 1];
	fprintf(stderr, "%s: process %s has no control socket (looked for", prog, pid);
	for (int i = 0; i < t->n; i++)
		fprintf(stderr, "%s %s", i ? "," : "", t->path[i]);
	fprintf(stderr, ");\n%s: start it with USTATIC_CONTROL=1 or make it call "
		"ustatic_control_start() (USTATIC_DEBUG=1 says why a start "
		"failed)\n", prog);
	exit(2);
}

static int connect_to(const char *path, const char *pid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die(2, "socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return fd;
	if (errno == ECONNREFUSED)
		die(2, "%s: nobody serves it (process %s exited, exec'd or "
		    "stopped serving; the file is stale)", path, pid);
	if (errno == EACCES || errno == EPERM)
		die(2, "%s: permission denied (the socket is its owner's and "
		    "root's only)", path);
	die(2, "%s: %s", path, strerror(errno));
	return -1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events, within the overall deadline. */
static void wait_for(int fd, short events, long long deadline)
{
	struct pollfd p = { fd, events, 0 };
	long long left = deadline - now_ms();
	int r;

	if (left <= 0)
		die(2, "no complete reply within %d s", TIMEOUT_MS / 1000);
	r = poll(&p, 1, (int)left);
	if (r == 0)
		die(2, "no complete reply within %d s", TIMEOUT_MS / 1000);
	if (r < 0 && errno != EINTR)
		die(2, "poll: %s", strerror(errno));
}

static void send_all(int fd, const char *req, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_for(fd, POLLOUT, deadline);
			continue;
		}
		if (n < 0)
			die(2, "sending the request: %s", strerror(errno));
		req += n;
		len -= (size_t)n;
	}
}

/*
 * Reads reply lines: data lines ("* TEXT") go to stdout as TEXT; returns
 * at the terminator, with its status (OK: 0 and *value; ERR: 1, message
 * printed). A line that is neither, or the connection closing first: 2.
 */
static int read_reply(int fd, long long deadline, long *value)
{
	static char buf[1 << 16];
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', len))) {
			char *line = buf;

			*nl = 0;
			if (!strncmp(line, "* ", 2)) {
				puts(line + 2);
			} else if (!strncmp(line, "OK ", 3)) {
				*value = strtol(line + 3, NULL, 10);
				return 0;
			} else if (!strncmp(line, "ERR ", 4)) {
				char *msg;
				long e = strtol(line + 4, &msg, 10);

				const char *why = strerror((int)-e);

				msg = *msg ? msg + 1 : (char *)"error";
				if (strstr(msg, why))	/* said already */
					fprintf(stderr, "%s: %s\n", prog, msg);
				else
					fprintf(stderr, "%s: %s (%s)\n", prog, msg, why);
				return 1;
			} else {
				fprintf(stderr, "%s: malformed reply line: %.80s\n",
					prog, line);
				return 2;
			}
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf))
			die(2, "reply line longer than %zu bytes", sizeof(buf));
		n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			wait_for(fd, POLLIN, deadline);
			continue;
		}
		if (n < 0)
			die(2, "reading the reply: %s", strerror(errno));
		if (n == 0)
			die(2, "the process closed the connection before the "
			    "reply ended (it exited, or stopped serving)");
		len += (size_t)n;
	}
}

static bool is_command(const char *c, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(c, *set))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static const char *const bare[] = { "list", "keys", "help", "version", NULL };
	static const char *const named[] = { "enable", "disable", "inc", "dec",
					     "count", NULL };
	char req[REQUEST_MAX + 2], *end;
	const char *cmd, *path;
	struct tried tried = { .n = 0 };
	long long deadline;
	long value = 0;
	size_t len;
	int fd, st;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3)
		usage();
	strtol(argv[1], &end, 10);
	if (!*argv[1] || *end || argv[1][0] == '-' || argv[1][0] == '+')
		die(2, "not a process id: %s", argv[1]);
	cmd = argv[2];
	if (is_command(cmd, bare) && argc == 3) {
		len = (size_t)snprintf(req, sizeof(req), "%s\n", cmd);
	} else if (is_command(cmd, named) && argc == 4) {
		len = (size_t)snprintf(req, sizeof(req), "%s %s\n", cmd, argv[3]);
	} else if (!strcmp(cmd, "query") && argc >= 4) {
		len = (size_t)snprintf(req, sizeof(req), "query");
		for (int i = 3; i < argc && len < sizeof(req); i++)
			len += (size_t)snprintf(req + len, sizeof(req) - len,
						" %s", argv[i]);
		if (len < sizeof(req))
			len += (size_t)snprintf(req + len, sizeof(req) - len, "\n");
	} else {
		usage();
	}
	if (len > REQUEST_MAX + 1)
		die(2, "request longer than %d bytes", REQUEST_MAX);
	if (memchr(req, '\n', len - 1))
		die(2, "an argument holds a newline");
	path = find_socket(argv[1], &tried);
	fd = connect_to(path, argv[1]);
	deadline = now_ms() + TIMEOUT_MS;
	send_all(fd, req, len, deadline);
	st = read_reply(fd, deadline, &value);
	close(fd);
	if (st == 0 && !strcmp(cmd, "count"))
		printf("%ld\n", value);
	else if (st == 0 && !strcmp(cmd, "query"))
		printf("%ld debug site%s changed\n", value, value == 1 ? "" : "s");
	if (fflush(stdout))
		return 2;
	return st;
}
