/* SPDX-License-Identifier: MIT */
/*
 * ustatic-ctl PID COMMAND [ARG...]: talks to the control socket of a
 * process that runs with USTATIC_CONTROL=1 or called
 * ustatic_control_start() (man ustatic-ctl). Needs nothing but libc.
 *
 * The socket is looked for where that process made it: under the
 * XDG_RUNTIME_DIR of its environment (/proc/PID/environ, readable by its
 * own user and root), ours, /run/user/UID, and /tmp/ustatic-UID, UID being
 * the process's effective uid (/proc/PID/status). The first socket file
 * found is used.
 *
 * Another user's process is not to be trusted (root runs this tool on
 * anything): it may have planted a socket at a path we look at (its own
 * XDG_RUNTIME_DIR, a /tmp/ustatic-UID it made before UID did), and it
 * writes what it likes in its replies. So the socket's directory must be
 * the process's uid's (or root's), a real directory closed to group and
 * others, the socket file the same uid's; the peer that answers must be
 * process PID itself (SO_PEERCRED: the pid that called listen(), in our
 * pid namespace), of that uid or root; and nothing that came from outside
 * (reply lines, paths from the process's environment) reaches the
 * terminal raw: bytes outside printable ASCII are printed as \ooo.
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
#define MALFORMED_SHOWN	80

/* The target: its pid as given, and its effective uid (the owner of the
 * socket's directory and file, since its server made them with it). */
struct target {
	const char *pid;
	uid_t euid;
};

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

/*
 * The first n bytes of s, made safe for a terminal: bytes outside
 * 0x20..0x7e as \ooo (octal, as the server's own escapes in formats).
 * Backslashes are left as they are: the server escapes them itself in
 * what it lists (\\, \", \n as the kernel's control file), and a
 * lone backslash cannot drive a terminal. Cut short (and "..." appended)
 * when out is too small. Returns out.
 */
static const char *safe(char *out, size_t size, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c <= 0x7e)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\%03o", c);
	}
	if (i < n && size >= 4)
		memcpy(out + (o < size - 4 ? o : size - 4), "...", 4);
	else
		out[o] = 0;
	return out;
}

/* A NUL-terminated string from outside, safe to print (cut at PATH_MAX). */
#define SAFE(s) safe((char[PATH_MAX * 4 + 4]){ 0 }, PATH_MAX * 4 + 4, \
		     (s), strlen(s))

/*
 * Strictly a process id: decimal digits, no sign, no space, no leading
 * zero, within pid_t (Linux pids are at most 2^22). Anything else is a
 * usage error rather than "no process" later: /proc/030091 and
 * "/proc/ 30091" do not exist, and they should not have to.
 */
static bool parse_pid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 10 || s[0] < '1' || s[0] > '9')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return strtoll(s, NULL, 10) <= INT_MAX;
}

/*
 * The process's thread-group id and effective uid, from /proc/PID/status
 * (readable by anyone). A thread id has a /proc entry too (not listed,
 * but there): it is told apart by its Tgid, and refused with the process
 * to ask instead, rather than reported as "no control socket".
 */
static void read_status(struct target *t)
{
	char path[64], line[256];
	long tgid = -1;
	unsigned long euid = ULONG_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", t->pid);
	f = fopen(path, "re");
	if (!f)
		die(2, "no process %s", t->pid);
	while (fgets(line, sizeof(line), f)) {
		unsigned long r;

		if (!strncmp(line, "Tgid:", 5))
			tgid = strtol(line + 5, NULL, 10);
		else if (!strncmp(line, "Uid:", 4))
			sscanf(line + 4, "%lu %lu", &r, &euid);
	}
	fclose(f);
	if (tgid <= 0 || euid == ULONG_MAX)
		die(2, "no process %s (cannot read %s)", t->pid, path);
	if (tgid != strtol(t->pid, NULL, 10))
		die(2, "%s is a thread of process %ld, not a process: ask %ld",
		    t->pid, tgid, tgid);
	t->euid = (uid_t)euid;
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

/* Owned by the process's uid, or by root (trusted anyway). */
static bool owner_ok(const struct stat *st, const struct target *tg)
{
	return st->st_uid == tg->euid || st->st_uid == 0;
}

/*
 * The socket file found must be the process's: its directory a real
 * directory (lstat: not a symlink) of the process's uid, closed to group
 * and others (as its server made and checked it), the file that uid's.
 * Anything else was put there by someone else: refused, exit 2.
 */
static void check_place(const char *path, const struct target *tg)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = 0;
	if (lstat(dir, &st))
		die(2, "%s: %s", SAFE(dir), strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die(2, "%s: not a directory (a symbolic link?): refused, not "
		    "process %s's socket", SAFE(dir), tg->pid);
	if (!owner_ok(&st, tg))
		die(2, "%s belongs to uid %u, not to process %s's uid %u: "
		    "refused, someone else's socket", SAFE(dir),
		    (unsigned)st.st_uid, tg->pid, (unsigned)tg->euid);
	if (st.st_mode & 077)
		die(2, "%s has mode %03o (group or others may write there): "
		    "refused, not process %s's socket", SAFE(dir),
		    (unsigned)(st.st_mode & 0777), tg->pid);
	if (lstat(path, &st))
		die(2, "%s: %s", SAFE(path), strerror(errno));
	if (!owner_ok(&st, tg))
		die(2, "%s belongs to uid %u, not to process %s's uid %u: "
		    "refused, someone else's socket", SAFE(path),
		    (unsigned)st.st_uid, tg->pid, (unsigned)tg->euid);
}

/* The socket's path, or exits 2 saying where it looked. */
static const char *find_socket(const struct target *tg, struct tried *t)
{
	const char *pid = tg->pid;
	char dir[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (target_xdg(pid, dir, sizeof(dir) - 8) &&
	    try_dir(t, strcat(dir, "/ustatic"), pid))
		return t->path[t->n - 1];
	if (xdg && xdg[0] == '/' && strlen(xdg) < sizeof(dir) - 8 &&
	    try_dir(t, strcat(strcpy(dir, xdg), "/ustatic"), pid))
		return t->path[t->n - 1];
	snprintf(dir, sizeof(dir), "/run/user/%u/ustatic", (unsigned)tg->euid);
	if (try_dir(t, dir, pid))
		return t->path[t->n - 1];
	snprintf(dir, sizeof(dir), "/tmp/ustatic-%u", (unsigned)tg->euid);
	if (try_dir(t, dir, pid))
		return t->path[t->n - 1];
	fprintf(stderr, "%s: process %s has no control socket (looked for", prog, pid);
	for (int i = 0; i < t->n; i++)
		fprintf(stderr, "%s %s", i ? "," : "", SAFE(t->path[i]));
	fprintf(stderr, ");\n%s: start it with USTATIC_CONTROL=1 or make it call "
		"ustatic_control_start() (USTATIC_DEBUG=1 says why a start "
		"failed)\n", prog);
	exit(2);
}

/*
 * The peer must be process PID itself: SO_PEERCRED on our end holds the
 * credentials of whoever called listen() on the other (its pid is the
 * thread group's, in our pid namespace). A server of another process,
 * however it got its socket where we looked, has another pid.
 */
static void check_peer(int fd, const char *path, const struct target *tg)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		die(2, "%s: cannot read the server's credentials: %s",
		    SAFE(path), strerror(errno));
	if ((long)cr.pid != strtol(tg->pid, NULL, 10))
		die(2, "%s is served by process %d, not by process %s: refused",
		    SAFE(path), (int)cr.pid, tg->pid);
	if (cr.uid != tg->euid && cr.uid != 0)
		die(2, "%s is served by uid %u, not by process %s's uid %u: "
		    "refused", SAFE(path), (unsigned)cr.uid, tg->pid,
		    (unsigned)tg->euid);
}

static int connect_to(const char *path, const struct target *tg)
{
	const char *pid = tg->pid;

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die(2, "socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		check_peer(fd, path, tg);
		return fd;
	}
	if (errno == ECONNREFUSED)
		die(2, "%s: nobody serves it (process %s exited, exec'd or "
		    "stopped serving; the file is stale)", SAFE(path), pid);
	if (errno == EACCES || errno == EPERM)
		die(2, "%s: permission denied (the socket is its owner's and "
		    "root's only)", SAFE(path));
	die(2, "%s: %s", SAFE(path), strerror(errno));
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
 * Reads reply lines: data lines ("* TEXT") go to stdout as TEXT, made
 * safe (the process may be anybody's; see the top); returns
 * at the terminator, with its status (OK: 0 and *value; ERR: 1, message
 * printed). A line that is neither, or the connection closing first: 2.
 */
static int read_reply(int fd, long long deadline, long *value)
{
	static char buf[1 << 16], out[4 * sizeof(buf) + 4];
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n;

		while ((nl = memchr(buf, '\n', len))) {
			char *line = buf;

			*nl = 0;
			if (!strncmp(line, "* ", 2)) {
				puts(safe(out, sizeof(out), line + 2,
					  (size_t)(nl - line) - 2));
			} else if (!strncmp(line, "OK ", 3)) {
				*value = strtol(line + 3, NULL, 10);
				return 0;
			} else if (!strncmp(line, "ERR ", 4)) {
				char *msg;
				long e = strtol(line + 4, &msg, 10);

				const char *why = strerror((int)-e);

				msg = *msg ? msg + 1 : (char *)"error";
				if (strstr(msg, why))	/* said already */
					why = "";
				fprintf(stderr, "%s: %s%s%s%s\n", prog,
					safe(out, sizeof(out), msg,
					     (size_t)(nl - msg)),
					*why ? " (" : "", why, *why ? ")" : "");
				return 1;
			} else {
				size_t n = (size_t)(nl - line);

				fprintf(stderr, "%s: malformed reply line: %s%s\n",
					prog, safe(out, sizeof(out), line,
						   n < MALFORMED_SHOWN ? n :
						   MALFORMED_SHOWN),
					n > MALFORMED_SHOWN ? "..." : "");
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
	char req[REQUEST_MAX + 2];
	const char *cmd, *path;
	struct tried tried = { .n = 0 };
	struct target tg = { .pid = argv[1] };
	long long deadline;
	long value = 0;
	size_t len;
	int fd, st;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3)
		usage();
	if (!parse_pid(argv[1]))
		die(2, "not a process id: %s (a decimal number, without sign, "
		    "spaces or leading zeros)", SAFE(argv[1]));
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
	read_status(&tg);
	path = find_socket(&tg, &tried);
	check_place(path, &tg);
	fd = connect_to(path, &tg);
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
