/* SPDX-License-Identifier: MIT */
/*
 * The control server (src/control*.c), each case in its own child process:
 *   perms      socket 0600 in a 0700 directory of ours; gone after stop
 *   dirs       a symlink, a file, a directory open to others or owned by
 *              someone else is refused; XDG_RUNTIME_DIR used when private,
 *              else /tmp/ustatic-UID
 *   peer_uid   a peer of another uid (root: a child that became nobody)
 *              gets ERR -EACCES and is disconnected; with the default
 *              modes it cannot even connect
 *   oversized  a request over 4096 bytes: ERR -E2BIG, then closed; one of
 *              4096 is served; a NUL byte: ERR, closed
 *   vanish     a client that leaves mid-request, and one that leaves with
 *              replies unread (SIGPIPE left at its default: it would kill
 *              us), then another client is served
 *   slow       a client that takes no reply is dropped after the timeout,
 *              and others are served meanwhile
 *   many       32 clients connected at once all get their replies
 *   fork       fork with a client connected: the child has no server
 *              thread and none of its descriptors; the client goes on with
 *              the parent; the child can start its own
 *   cycles     50 start/stop cycles, with a client connected at each stop,
 *              leak no descriptor and no thread; stop joins
 *   cloexec    every descriptor of the server is close-on-exec
 *   mask       the server thread blocks every asynchronous signal, not
 *              SIGTRAP or the synchronous ones
 *   exit       the program exits with a client connected: no crash, the
 *              client sees the end, the socket file is removed
 *   api        start twice: -EALREADY; stop when stopped: -ESRCH
 *   cancel     a thread cancelled inside start or stop leaves no lock
 *              held: the next call returns
 *   emfile     out of descriptors with a client waiting: the server thread
 *              does not spin (accept4 fails EMFILE while the socket stays
 *              readable) and serves the client once it can
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "control.h"
#include "control_client.h"
#include "helpers.h"
#include "test.h"

/* Descriptors open now, as a bit set (0..1023). */
struct fdset {
	unsigned char on[1024];
	int n;
};

static void fds_now(struct fdset *s)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	CHECK(d);
	memset(s, 0, sizeof(*s));
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == dirfd(d) || fd >= 1024)
			continue;
		s->on[fd] = 1;
		s->n++;
	}
	closedir(d);
}

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	CHECK(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int t_perms(void *arg)
{
	char path[108], dir[108];
	struct stat st;

	(void)arg;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	CHECK(lstat(path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(st.st_uid, geteuid());
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	CHECK(lstat(dir, &st) == 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0700);
	CHECK_EQ(st.st_uid, geteuid());
	CHECK_EQ(ustatic_control_stop(), 0);
	CHECK(lstat(path, &st) != 0 && errno == ENOENT);
	return 0;
}

static int t_dirs(void *arg)
{
	char base[] = "/tmp/ustatic-test-XXXXXX", p[256], q[256], path[108];
	struct stat st;
	int fd;

	(void)arg;
	CHECK(mkdtemp(base));
	/* A symlink to a private directory of ours: refused. */
	snprintf(p, sizeof(p), "%s/real", base);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(q, sizeof(q), "%s/link", base);
	CHECK(symlink(p, q) == 0);
	CHECK_EQ(us_ctl_private_dir(q, geteuid()), -ELOOP);
	CHECK_EQ(us_ctl_private_dir(p, geteuid()), 0);
	/* Open to the group: refused, not repaired. */
	snprintf(p, sizeof(p), "%s/open", base);
	CHECK(mkdir(p, 0750) == 0 && chmod(p, 0750) == 0);
	CHECK_EQ(us_ctl_private_dir(p, geteuid()), -EPERM);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0750);
	/* A file. */
	snprintf(p, sizeof(p), "%s/file", base);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(us_ctl_private_dir(p, geteuid()), -ENOTDIR);
	/* Someone else's. */
	snprintf(p, sizeof(p), "%s/theirs", base);
	CHECK(mkdir(p, 0700) == 0);
	CHECK_EQ(us_ctl_private_dir(p, geteuid() + 1), -EPERM);

	/* XDG_RUNTIME_DIR private and ours: the socket goes under it. */
	CHECK(chmod(base, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", base, 1);
	CHECK_EQ(ustatic_control_start(), 0);
	snprintf(p, sizeof(p), "%s/ustatic/%d.sock", base, (int)getpid());
	CHECK(lstat(p, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_EQ(ustatic_control_stop(), 0);
	/* Its ustatic/ a symlink: refused; the socket goes to /tmp instead. */
	snprintf(p, sizeof(p), "%s/ustatic", base);
	CHECK(rmdir(p) == 0);
	snprintf(q, sizeof(q), "%s/real", base);
	CHECK(symlink(q, p) == 0);
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	snprintf(q, sizeof(q), "/tmp/ustatic-%u/%d.sock", (unsigned)geteuid(),
		 (int)getpid());
	CHECK(!strcmp(path, q));
	CHECK(lstat(q, &st) == 0 && S_ISSOCK(st.st_mode));
	snprintf(q, sizeof(q), "%s/real/%d.sock", base, (int)getpid());
	CHECK(lstat(q, &st) != 0);
	CHECK_EQ(ustatic_control_stop(), 0);
	/* XDG_RUNTIME_DIR too long for a socket path under it: /tmp. */
	snprintf(p, sizeof(p), "%s/%067d", base, 0);	/* its ustatic/: 100 */
	CHECK(mkdir(p, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", p, 1);
	cc_path(path, sizeof(path), getpid());
	CHECK(!strncmp(path, "/tmp/ustatic-", 13));
	CHECK_EQ(ustatic_control_start(), 0);
	CHECK_EQ(ustatic_control_stop(), 0);
	setenv("XDG_RUNTIME_DIR", base, 1);
	/* XDG_RUNTIME_DIR open to others: not used. */
	CHECK(chmod(base, 0755) == 0);
	cc_path(path, sizeof(path), getpid());
	CHECK(!strncmp(path, "/tmp/ustatic-", 13));
	snprintf(p, sizeof(p), "rm -rf '%s'", base);
	CHECK(system(p) == 0);
	return 0;
}

/* As nobody: connect to path, expect what the parent told us. */
static int as_nobody(const char *path, bool reachable)
{
	struct passwd *pw = getpwnam("nobody");
	struct cc_reply r;
	uid_t uid = pw ? pw->pw_uid : 65534;
	int fd;

	alarm(10);
	CHECK(setgid(pw ? pw->pw_gid : 65534) == 0 && setuid(uid) == 0);
	fd = cc_connect(path);
	if (!reachable) {
		CHECK_EQ(fd, -EACCES);
		return 0;
	}
	CHECK(fd >= 0);
	cc_read(fd, &r, 5000);		/* told at once, then closed */
	CHECK_EQ(r.ok, 0);
	CHECK_EQ(r.value, -EACCES);
	CHECK(strstr(r.msg, "permission denied"));
	CHECK(cc_closed(fd, 5000));
	return 0;
}

static int t_peer_uid(void *arg)
{
	char path[108], dir[108];
	struct cc_reply r;
	pid_t pid;
	int fd;

	(void)arg;
	char base[] = "/tmp/ustatic-test-XXXXXX", rm[64];

	if (geteuid() != 0)
		SKIP("peer_uid needs root (to make a peer of another uid)");
	/* A directory of its own, opened up below. */
	CHECK(mkdtemp(base));
	setenv("XDG_RUNTIME_DIR", base, 1);
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	/* The directory and the socket keep nobody out. */
	pid = fork();
	if (!pid)
		_exit(as_nobody(path, false));	/* no LeakSanitizer pass as nobody */
	CHECK_EQ(t_wait(pid), 0);
	/* Opened up by hand, the peer check still refuses. */
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	CHECK(chmod(base, 0711) == 0);
	CHECK(chmod(dir, 0711) == 0 && chmod(path, 0666) == 0);
	pid = fork();
	if (!pid)
		_exit(as_nobody(path, true));
	CHECK_EQ(t_wait(pid), 0);
	CHECK(chmod(dir, 0700) == 0 && chmod(path, 0600) == 0);
	fd = cc_connect(path);		/* and root still may */
	CHECK(fd >= 0);
	cc_ask(fd, "version", &r);
	CHECK_EQ(r.ok, 1);
	close(fd);
	CHECK_EQ(ustatic_control_stop(), 0);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", base);
	CHECK(system(rm) == 0);
	return 0;
}

static int t_oversized(void *arg)
{
	static char big[8192];
	char path[108];
	struct cc_reply r;
	int fd;

	(void)arg;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	/* 4096 bytes and a newline: a request (an unknown command). */
	memset(big, 'x', 4096);
	big[4096] = '\n';
	fd = cc_connect(path);
	cc_send(fd, big, 4097);
	cc_read(fd, &r, 5000);
	CHECK_EQ(r.ok, 0);
	CHECK_EQ(r.value, -EINVAL);
	cc_ask(fd, "version", &r);	/* and the connection goes on */
	CHECK_EQ(r.ok, 1);
	close(fd);
	/* 8192 bytes without a newline: ERR -E2BIG, then closed. */
	memset(big, 'y', sizeof(big));
	fd = cc_connect(path);
	cc_send(fd, big, 4097);
	cc_read(fd, &r, 5000);
	CHECK_EQ(r.ok, 0);
	CHECK_EQ(r.value, -E2BIG);
	CHECK(cc_closed(fd, 5000));
	close(fd);
	/* A NUL byte in a line: ERR, closed. */
	fd = cc_connect(path);
	cc_send(fd, "li\0st\n", 6);
	cc_read(fd, &r, 5000);
	CHECK_EQ(r.ok, 0);
	CHECK(cc_closed(fd, 5000));
	close(fd);
	/* Blank, unknown, extra arguments, missing arguments. */
	fd = cc_connect(path);
	cc_ask(fd, "", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "frobnicate", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "list extra", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "enable", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "enable a b", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "query", &r);
	CHECK_EQ(r.ok, 0);
	cc_ask(fd, "help\r", &r);	/* CRLF, as from telnet */
	CHECK_EQ(r.ok, 1);
	CHECK(r.lines > 3);
	close(fd);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static void check_served(const char *path)
{
	struct cc_reply r;
	int fd = cc_connect(path);

	CHECK(fd >= 0);
	cc_ask(fd, "version", &r);
	CHECK_EQ(r.ok, 1);
	CHECK(!strcmp(r.first, "ustatic-control 1"));
	close(fd);
}

static int t_vanish(void *arg)
{
	char path[108], many[4000];
	int fd;

	(void)arg;
	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE would kill us */
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	for (int i = 0; i < 20; i++) {
		/* Mid-request. */
		fd = cc_connect(path);
		cc_send(fd, "lis", 3);
		close(fd);
		/* Mid-reply: 800 requests, replies never read, reset. */
		for (size_t k = 0; k + 5 <= sizeof(many); k += 5)
			memcpy(many + k, "help\n", 5);
		fd = cc_connect(path);
		cc_send(fd, many, sizeof(many));
		usleep(i % 3 ? 1000 : 0);
		close(fd);
	}
	check_served(path);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_slow(void *arg)
{
	char path[108], many[4000];
	double t0;
	int fd, small = 4096;

	(void)arg;
	us_ctl_timeout_ms = 500;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	/* Says nothing. */
	fd = cc_connect(path);
	t0 = t_now();
	CHECK(cc_closed(fd, 5000));
	CHECK(t_now() - t0 >= 0.4);
	close(fd);
	/* Takes no replies: it is dropped, and others served meanwhile. */
	for (size_t k = 0; k + 5 <= sizeof(many); k += 5)
		memcpy(many + k, "help\n", 5);
	fd = cc_connect(path);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	cc_send(fd, many, sizeof(many));
	t0 = t_now();
	check_served(path);
	CHECK(t_now() - t0 < 0.4);
	usleep(1000 * 1000);
	CHECK(cc_closed(fd, 2000));
	close(fd);
	check_served(path);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_many(void *arg)
{
	char path[108];
	int fd[32];

	(void)arg;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	for (int i = 0; i < 32; i++) {
		fd[i] = cc_connect(path);
		CHECK(fd[i] >= 0);
	}
	for (int i = 0; i < 32; i++)
		cc_send(fd[i], "list\nkeys\n", 10);
	/* 16 are served at once, the others wait in the backlog until one
	 * of them leaves: in order, each closed once answered. */
	for (int i = 0; i < 32; i++) {
		struct cc_reply r;

		cc_read(fd[i], &r, 10000);
		CHECK_EQ(r.ok, 1);
		CHECK_EQ(r.value, r.lines);
		cc_read(fd[i], &r, 10000);
		CHECK_EQ(r.ok, 1);
		close(fd[i]);
	}
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_fork(void *arg)
{
	char path[108], cpath[108];
	struct fdset before, child;
	struct cc_reply r;
	int fd, pfd[2], threads;
	pid_t pid;

	(void)arg;
	CHECK(pipe2(pfd, O_CLOEXEC) == 0);
	fds_now(&before);
	threads = threads_now();	/* 1, or more under qemu-user (its own) */
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	fd = cc_connect(path);
	cc_ask(fd, "version", &r);
	CHECK_EQ(r.ok, 1);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		alarm(20);
		/* Only the client's own socket is new; no server thread. */
		fds_now(&child);
		for (int i = 0; i < 1024; i++)
			if (child.on[i] != before.on[i] && i != fd) {
				fprintf(stderr, "descriptor %d left in the child\n", i);
				exit(1);
			}
		CHECK_EQ(threads_now(), threads);
		CHECK_EQ(ustatic_control_stop(), -ESRCH);
		/* The child can serve on its own (not under qemu-user 7.2,
		 * which asserts when a fork child of a threaded program
		 * creates a thread: cpu_exec "cpu == current_cpu"). */
		if (getenv("USTATIC_TEST_QEMU"))
			exit(0);
		CHECK_EQ(ustatic_control_start(), 0);
		cc_path(cpath, sizeof(cpath), getpid());
		check_served(cpath);
		CHECK_EQ(ustatic_control_stop(), 0);
		CHECK(access(path, F_OK) == 0);	/* the parent's stays */
		exit(0);
	}
	cc_ask(fd, "help", &r);		/* while the child runs */
	CHECK_EQ(r.ok, 1);
	CHECK_EQ(t_wait(pid), 0);
	cc_ask(fd, "keys", &r);
	CHECK_EQ(r.ok, 1);
	close(fd);
	check_served(path);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_cycles(void *arg)
{
	struct fdset a, b;
	int threads;
	char path[108];

	(void)arg;
	fds_now(&a);
	threads = threads_now();
	for (int i = 0; i < 50; i++) {
		struct cc_reply r;
		int fd;

		CHECK_EQ(ustatic_control_start(), 0);
		CHECK_EQ(threads_now(), threads + 1);
		cc_path(path, sizeof(path), getpid());
		fd = cc_connect(path);
		CHECK(fd >= 0);
		cc_ask(fd, i % 2 ? "list" : "keys", &r);
		CHECK_EQ(r.ok, 1);
		if (i % 3 == 0)
			cc_send(fd, "ver", 3);	/* a request half sent */
		CHECK_EQ(ustatic_control_stop(), 0);
		CHECK(cc_closed(fd, 5000));
		close(fd);
		CHECK(access(path, F_OK) != 0);
	}
	fds_now(&b);
	CHECK_EQ(b.n, a.n);
	CHECK(!memcmp(a.on, b.on, sizeof(a.on)));
	CHECK_EQ(threads_now(), threads);
	return 0;
}

static int t_cloexec(void *arg)
{
	struct fdset a, b;
	char path[108];
	struct cc_reply r;
	int fd, n = 0;

	(void)arg;
	fds_now(&a);
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	fd = cc_connect(path);		/* so that the server holds a client */
	cc_ask(fd, "version", &r);
	fds_now(&b);
	for (int i = 0; i < 1024; i++)
		if (b.on[i] && !a.on[i] && i != fd) {
			CHECK(fcntl(i, F_GETFD) & FD_CLOEXEC);
			n++;
		}
	CHECK_EQ(n, 3);		/* listening socket, eventfd, the client */
	close(fd);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

/* The server thread's id (the thread named ustatic-ctl). */
static long server_tid(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long tid = 0;

	CHECK(d);
	while (!tid && (e = readdir(d))) {
		char p[320], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, "ustatic-ctl", 11))
			tid = atol(e->d_name);
		fclose(f);
	}
	closedir(d);
	/* Without thread names (musl), in a process of two threads: the
	 * one that is not main. */
	if (!tid && threads_now() == 2) {
		d = opendir("/proc/self/task");
		CHECK(d);
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' && atol(e->d_name) != getpid())
				tid = atol(e->d_name);
		closedir(d);
	}
	CHECK(tid > 0);
	return tid;
}

/* SigBlk of the server thread. */
static unsigned long long server_sigblk(void)
{
	unsigned long long blk = 0;
	char p[64], line[256];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/self/task/%ld/status", server_tid());
	f = fopen(p, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigBlk:", 7))
			blk = strtoull(line + 7, NULL, 16);
	fclose(f);
	return blk;
}

static int t_mask(void *arg)
{
	unsigned long long blk;

	(void)arg;
	if (T_LIBC_MUSL)
		SKIP("musl has no pthread_setname_np: the thread cannot be found by name");
	char path[108];

	CHECK_EQ(ustatic_control_start(), 0);
	/* Past its start-up (glibc blocks everything while a thread starts). */
	cc_path(path, sizeof(path), getpid());
	check_served(path);
	blk = server_sigblk();
#define BIT(s) (1ull << ((s) - 1))
	CHECK(!(blk & BIT(SIGTRAP)));
	CHECK(!(blk & (BIT(SIGSEGV) | BIT(SIGBUS) | BIT(SIGILL) | BIT(SIGFPE))));
	CHECK(blk & BIT(SIGINT));
	CHECK(blk & BIT(SIGTERM));
	CHECK(blk & BIT(SIGUSR1));
	CHECK(blk & BIT(SIGCHLD));
	CHECK(blk & BIT(SIGPIPE));
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_exit(void *arg)
{
	char path[108];
	struct cc_reply r;
	int pfd[2], fd;
	pid_t pid;

	(void)arg;
	CHECK(pipe(pfd) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		char c;

		close(pfd[1]);
		CHECK_EQ(ustatic_control_start(), 0);
		CHECK(read(pfd[0], &c, 1) == 1);	/* the client is in */
		exit(c);		/* with it connected */
	}
	close(pfd[0]);
	cc_path(path, sizeof(path), pid);
	for (int i = 0; i < 500 && (fd = cc_connect(path)) < 0; i++)
		usleep(10000);
	CHECK(fd >= 0);
	cc_ask(fd, "version", &r);
	CHECK_EQ(r.ok, 1);
	cc_send(fd, "li", 2);		/* mid-request */
	CHECK(write(pfd[1], "\x07", 1) == 1);
	CHECK(cc_closed(fd, 10000));
	CHECK_EQ(t_wait(pid), 7 << 8);
	CHECK(access(path, F_OK) != 0);
	close(fd);
	return 0;
}

static void *do_stop(void *arg)
{
	(void)ustatic_control_stop();
	return arg;
}

static void *do_start(void *arg)
{
	(void)ustatic_control_start();
	return arg;
}

/* A thread cancelled inside start or stop leaves nothing held: the next
 * call returns (a lock left held hangs it: the case times out). */
static int t_cancel(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		pthread_t t;
		int r;

		CHECK_EQ(ustatic_control_start(), 0);
		CHECK_EQ(pthread_create(&t, NULL, do_stop, NULL), 0);
		if (i % 2)
			usleep(100);
		pthread_cancel(t);
		CHECK_EQ(pthread_join(t, NULL), 0);
		r = ustatic_control_stop();
		CHECK(r == 0 || r == -ESRCH);
		CHECK_EQ(pthread_create(&t, NULL, do_start, NULL), 0);
		pthread_cancel(t);
		CHECK_EQ(pthread_join(t, NULL), 0);
		r = ustatic_control_start();
		CHECK(r == 0 || r == -EALREADY);
		CHECK_EQ(ustatic_control_stop(), 0);
	}
	return 0;
}

/* utime + stime of a thread, in clock ticks, through an open stat file. */
static long cpu_ticks(int fd)
{
	char buf[1024], *s;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long v[2] = { 0, 0 };

	CHECK(n > 0);
	buf[n] = 0;
	s = strrchr(buf, ')');
	CHECK(s);
	/* Fields 14 and 15; s is at the end of field 2. */
	for (int f = 2; f < 15 && (s = strchr(s + 1, ' ')); f++)
		if (f >= 13)
			v[f - 13] = atol(s + 1);
	return v[0] + v[1];
}

/*
 * The program is out of descriptors while a client waits: accept4()
 * fails (EMFILE) and the listening socket stays readable. The server must
 * not spin on it (at most 20 % of a CPU here), and serves the client
 * once a descriptor is free.
 */
static int t_emfile(void *arg)
{
	struct rlimit rl;
	char path[108], p[64];
	int statfd, first = -1, last = -1, fd;
	long before, ticks = sysconf(_SC_CLK_TCK);
	pid_t client;

	(void)arg;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	snprintf(p, sizeof(p), "/proc/self/task/%ld/stat", server_tid());
	statfd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(statfd >= 0);
	CHECK(!getrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = 64;
	CHECK(!setrlimit(RLIMIT_NOFILE, &rl));
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) {
		if (first < 0)
			first = fd;
		last = fd;
	}
	CHECK(first >= 0);
	client = fork();
	CHECK(client >= 0);
	if (!client) {			/* a client, in the backlog */
		struct cc_reply r;

		close(last);
		fd = cc_connect(path);
		if (fd < 0)
			_exit(2);
		cc_ask(fd, "version", &r);
		_exit(r.ok == 1 ? 0 : 3);
	}
	usleep(300 * 1000);
	before = cpu_ticks(statfd);
	sleep(1);
	CHECK(cpu_ticks(statfd) - before <= ticks / 5);
	for (fd = first; fd <= last; fd++)
		close(fd);
	CHECK_EQ(t_wait(client), 0);	/* served, once it could be */
	close(statfd);
	CHECK_EQ(ustatic_control_stop(), 0);
	return 0;
}

static int t_api(void *arg)
{
	(void)arg;
	CHECK_EQ(ustatic_control_stop(), -ESRCH);
	CHECK_EQ(ustatic_control_start(), 0);
	CHECK_EQ(ustatic_control_start(), -EALREADY);
	CHECK_EQ(ustatic_control_stop(), 0);
	CHECK_EQ(ustatic_control_stop(), -ESRCH);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void *);
} cases[] = {
	{ "perms", t_perms }, { "dirs", t_dirs }, { "peer_uid", t_peer_uid },
	{ "oversized", t_oversized }, { "vanish", t_vanish },
	{ "slow", t_slow }, { "many", t_many }, { "fork", t_fork },
	{ "cycles", t_cycles }, { "cloexec", t_cloexec }, { "mask", t_mask },
	{ "exit", t_exit }, { "api", t_api }, { "cancel", t_cancel },
	{ "emfile", t_emfile },
};

int main(int argc, char **argv)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		int st;

		if (argc > 1 && strcmp(argv[1], cases[i].name))
			continue;
		st = t_fork_run(cases[i].fn, NULL, 30);
		if (WIFEXITED(st) && WEXITSTATUS(st) == T_EXIT_SKIP) {
			printf("%-10s skipped\n", cases[i].name);
			continue;
		}
		printf("%-10s %s\n", cases[i].name, st ? "FAILED" : "ok");
		failed += st != 0;
	}
	return failed ? T_EXIT_FAIL : T_EXIT_PASS;
}
