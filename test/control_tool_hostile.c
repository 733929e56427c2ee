/* SPDX-License-Identifier: MIT */
/*
 * ustatic-ctl against what is not a ustatic server, or not the process
 * asked for: root may run the tool on anybody's process, and that process
 * (or another user's) may have put a socket where the tool looks.
 *
 * - A fake server (this test run again: `control_tool_hostile serve DIR
 *   KIND [NAME]`, no ustatic server in it) replies with terminal escape
 *   sequences in data lines, in an ERR message and in a malformed line:
 *   the tool's output holds only printable ASCII and newlines, and a
 *   malformed line is shown cut short.
 * - A server whose socket is named for another process (a sleeping child)
 *   is refused: its SO_PEERCRED pid is not the pid asked for.
 * - A socket in a directory group or others may write, in a symbolic link
 *   to a directory, or (as root) in another uid's directory, is refused.
 * - The process id: strict decimal (no sign, space, leading zero, nothing
 *   beyond pid_t), one message; a thread id is told to be a thread of its
 *   process.
 * `control_tool_hostile PART` runs one part: pids, escapes, wrong_peer,
 * bad_dirs.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "control.h"
#include "helpers.h"
#include "test.h"

static char tool[PATH_MAX], self[PATH_MAX];
static size_t out_len;

/* Runs `tool args` (a shell word list); its output (stdout and stderr) to
 * out (out_len bytes); returns its exit status. */
static int ctl(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ctl(char *out, size_t size, const char *fmt, ...)
{
	char cmd[PATH_MAX + 512];
	size_t n;
	va_list ap;
	int st;

	n = (size_t)snprintf(cmd, sizeof(cmd), "'%s' ", tool);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	st = t_capture(cmd, out, size, &out_len);
	printf("$ ustatic-ctl %s -> %d\n", cmd + strlen(tool) + 3, st);
	/* Shown escaped here, whatever the tool did: this log may reach a
	 * terminal too. */
	for (size_t i = 0; i < out_len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '\n' || (c >= 0x20 && c <= 0x7e))
			putchar(c);
		else
			printf("<%02x>", c);
	}
	return st;
}

/* Only printable ASCII and newlines. */
static bool clean(const char *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c != '\n' && (c < 0x20 || c > 0x7e))
			return false;
	}
	return true;
}

/* What the fake server answers, connection after connection. */
static const char esc_data[] =
	"* \033]0;owned-title\007\033[31mRED\033[0m fake site\t\377\n"
	"* back\\slash and \\033 as text\n"
	"OK 0\n";
static const char esc_err[] = "ERR -1 \033[2Jscreen cleared\n";
static const char esc_bad[] =
	"\033[2J\033[H"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"\033]0;late-title\007\n";
static const char ok_reply[] = "* served\nOK 0\n";

/*
 * The fake server: binds DIR/NAME.sock (NAME: its own pid unless given),
 * says "ready", then answers each connection after reading its request:
 * KIND "esc" rotates through esc_data, esc_err, esc_bad; "ok" sends
 * ok_reply. Killed by the test.
 */
static int serve(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool esc = !strcmp(argv[3], "esc");
	char req[4200];
	int fd, n = 0;

	if (argc > 4)
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock",
			 argv[2], argv[4]);
	else
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock",
			 argv[2], (int)getpid());
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	unlink(sa.sun_path);	/* left by a failed run */
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(fd, 8) == 0);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (;; n++) {
		int c = accept(fd, NULL, NULL);
		const char *r = ok_reply;
		size_t len = sizeof(ok_reply) - 1;

		if (c < 0)
			continue;
		if (esc && n % 3 == 0)
			r = esc_data, len = sizeof(esc_data) - 1;
		else if (esc && n % 3 == 1)
			r = esc_err, len = sizeof(esc_err) - 1;
		else if (esc)
			r = esc_bad, len = sizeof(esc_bad) - 1;
		(void)!recv(c, req, sizeof(req), 0);
		(void)!send(c, r, len, MSG_NOSIGNAL);
		close(c);
	}
}

struct server {
	pid_t pid;
	char sock[108];
};

/* A child of ours dies with us, a failed CHECK included: no server left
 * behind holding the test's output open. */
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/* Starts `self serve dir kind [name]` with XDG_RUNTIME_DIR=xdg (or as
 * ours, when NULL) in its environment: the tool reads it from there. */
static void start(struct server *s, const char *xdg, const char *dir,
		  const char *kind, const char *name)
{
	pid_t me = getpid();
	int p[2], pid;
	FILE *f;

	CHECK(pipe(p) == 0);
	fflush(stdout);
	s->pid = fork();
	CHECK(s->pid >= 0);
	if (!s->pid) {
		die_with_parent(me);
		dup2(p[1], 1);
		close(p[0]);
		if (xdg)
			setenv("XDG_RUNTIME_DIR", xdg, 1);
		execl(self, self, "serve", dir, kind, name, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	CHECK(f && fscanf(f, "ready %d", &pid) == 1 && pid == s->pid);
	fclose(f);
	snprintf(s->sock, sizeof(s->sock), "%s/%s.sock", dir,
		 name ? name : "");
	if (!name)
		snprintf(s->sock, sizeof(s->sock), "%s/%d.sock", dir,
			 (int)s->pid);
}

static void stop(struct server *s)
{
	kill(s->pid, SIGKILL);
	t_wait(s->pid);
	unlink(s->sock);
}

static void escapes(char *out, size_t size)
{
	struct server s;
	char dir[108];

	CHECK(us_ctl_dir(dir, sizeof(dir)) == 0);
	start(&s, NULL, dir, "esc", NULL);
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 0);
	CHECK(clean(out, out_len));
	CHECK(strstr(out, "\\033]0;owned-title\\007\\033[31mRED\\033[0m fake "
		      "site\\011\\377\n"));
	/* Printable bytes as sent, backslashes included. */
	CHECK(strstr(out, "back\\slash and \\033 as text\n"));
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 1);
	CHECK(clean(out, out_len));
	CHECK(strstr(out, "ustatic-ctl: \\033[2Jscreen cleared ("));
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 2);
	CHECK(clean(out, out_len));
	CHECK(strstr(out, "malformed reply line: \\033[2J\\033[HAAAA"));
	CHECK(strstr(out, "...\n"));
	CHECK(!strstr(out, "late-title"));	/* cut short */
	CHECK(out_len < 200);
	stop(&s);
}

/* A socket named for process `other`, served by another one. */
static void wrong_peer(char *out, size_t size)
{
	struct server s;
	char dir[108], name[16];
	pid_t other, me = getpid();

	CHECK(us_ctl_dir(dir, sizeof(dir)) == 0);
	fflush(stdout);
	other = fork();
	CHECK(other >= 0);
	if (!other) {
		die_with_parent(me);
		pause();
		_exit(0);
	}
	snprintf(name, sizeof(name), "%d", (int)other);
	start(&s, NULL, dir, "ok", name);
	CHECK_EQ(ctl(out, size, "%d list", (int)other), 2);
	CHECK(clean(out, out_len));
	CHECK(!strstr(out, "served\n"));
	CHECK(strstr(out, "is served by process"));
	CHECK(strstr(out, "refused"));
	stop(&s);
	kill(other, SIGKILL);
	t_wait(other);
}

/* A socket under XDG_RUNTIME_DIR/ustatic that is not private: refused. */
static void bad_dirs(char *out, size_t size)
{
	char xdg[] = "/tmp/ustatic-hostile-XXXXXX", dir[108], real[108];
	struct server s;

	CHECK(mkdtemp(xdg));
	snprintf(dir, sizeof(dir), "%s/ustatic", xdg);
	snprintf(real, sizeof(real), "%s/real", xdg);

	/* Group and others may write there. */
	CHECK(mkdir(dir, 0700) == 0 && chmod(dir, 0777) == 0);
	start(&s, xdg, dir, "ok", NULL);
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 2);
	CHECK(strstr(out, "has mode 777"));
	CHECK(!strstr(out, "served\n"));
	stop(&s);

	/* The same, 0700: served (what was refused was the mode). */
	CHECK(chmod(dir, 0700) == 0);
	start(&s, xdg, dir, "ok", NULL);
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 0);
	CHECK(!strcmp(out, "served\n"));
	stop(&s);

	/* Another uid's (root may make it so). */
	if (geteuid() == 0) {
		CHECK(chown(dir, 12345, 12345) == 0);
		start(&s, xdg, dir, "ok", NULL);
		CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 2);
		CHECK(strstr(out, "belongs to uid 12345"));
		CHECK(!strstr(out, "served\n"));
		stop(&s);
		CHECK(chown(dir, 0, 0) == 0);
	} else {
		printf("not root: the other-uid directory case is not run\n");
	}

	/* A symbolic link to a private directory. */
	CHECK(rmdir(dir) == 0);
	CHECK(mkdir(real, 0700) == 0 && symlink(real, dir) == 0);
	start(&s, xdg, real, "ok", NULL);
	CHECK_EQ(ctl(out, size, "%d list", (int)s.pid), 2);
	CHECK(strstr(out, "not a directory"));
	CHECK(!strstr(out, "served\n"));
	stop(&s);
	CHECK(unlink(dir) == 0 && rmdir(real) == 0 && rmdir(xdg) == 0);
}

static volatile pid_t thread_tid;

static void *idle(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	pause();
	return NULL;
}

static void pids(char *out, size_t size)
{
	static const char *const bad[] = {
		"'0%d'", "' %d'", "'%d '", "'+%d'", "'-%d'", "'%d.0'",
		"'0x%x'", "'%d0000000000'", NULL
	};
	pthread_t th;
	int me = (int)getpid();

	for (int i = 0; bad[i]; i++) {
		char fmt[64];

		snprintf(fmt, sizeof(fmt), "%s list", bad[i]);
		CHECK_EQ(ctl(out, size, fmt, me), 2);
		CHECK(strstr(out, "not a process id"));
		CHECK(strstr(out, "without sign, spaces or leading zeros"));
	}
	CHECK_EQ(ctl(out, size, "0 list"), 2);
	CHECK(strstr(out, "not a process id"));
	CHECK_EQ(ctl(out, size, "2147483648 list"), 2);
	CHECK(strstr(out, "not a process id"));
	CHECK_EQ(ctl(out, size, "''"), 2);
	CHECK(strstr(out, "usage"));
	/* Within range, no such process. */
	CHECK_EQ(ctl(out, size, "2147483647 list"), 2);
	CHECK(strstr(out, "no process 2147483647"));

	/* A thread of ours. */
	CHECK(pthread_create(&th, NULL, idle, NULL) == 0);
	while (!thread_tid)
		usleep(1000);
	CHECK_EQ(ctl(out, size, "%d list", (int)thread_tid), 2);
	CHECK(strstr(out, "is a thread of process"));
	{
		char want[64];

		snprintf(want, sizeof(want), "%d is a thread of process %d",
			 (int)thread_tid, me);
		CHECK(strstr(out, want));
	}
	/* The process itself: recognised, no socket. */
	CHECK_EQ(ctl(out, size, "%d list", me), 2);
	CHECK(strstr(out, "has no control socket"));
}

int main(int argc, char **argv)
{
	static char out[1 << 16];

	if (argc > 3 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("under qemu-user the tool and this test's second run are "
		     "foreign binaries, started only with binfmt_misc");
	test_beside_self(tool, sizeof(tool), "../tools/ustatic-ctl");
	CHECK(access(tool, X_OK) == 0);
	test_self_path(self, sizeof(self));
	signal(SIGPIPE, SIG_IGN);

	/* `control_tool_hostile PART`: that part alone. */
	if (argc < 2 || !strcmp(argv[1], "pids"))
		pids(out, sizeof(out));
	if (argc < 2 || !strcmp(argv[1], "escapes"))
		escapes(out, sizeof(out));
	if (argc < 2 || !strcmp(argv[1], "wrong_peer"))
		wrong_peer(out, sizeof(out));
	if (argc < 2 || !strcmp(argv[1], "bad_dirs"))
		bad_dirs(out, sizeof(out));
	return 0;
}
