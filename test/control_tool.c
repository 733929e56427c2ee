/* SPDX-License-Identifier: MIT */
/*
 * ustatic-ctl end to end: this test runs itself again as a server
 * (`control_tool serve`, with USTATIC_CONTROL=1: the library's constructor
 * starts the server) and runs build/tools/ustatic-ctl against it: each
 * command's output and exit status (0 done, 1 refused by the process,
 * 2 usage or no way to ask), a process without a control socket, no such
 * process, a stale socket file. The server has a debug site, a static key
 * and a static call: `query 'file control_tool.c +p'` makes the site print
 * (seen on its output), `-p` stops it, `enable ctl_tool_key` turns the
 * branch on (the server says so), keys shows the call's target by name.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "control.h"
#include "helpers.h"
#include "test.h"

static char tool[PATH_MAX];

DEFINE_STATIC_KEY_FALSE(ctl_tool_key);
/* Global, so that -rdynamic gives it a name keys can show. */
int ctl_target_a(int x);
int ctl_target_a(int x) { return x + 1; }
DEFINE_STATIC_CALL(ctl_tool_call, ctl_target_a);

static __attribute__((noinline)) void tick(int n)
{
	ustatic_pr_debug("control_tool tick %d", n);
}

/* Runs `tool args` (a shell word list); its output (stdout and stderr) to
 * out; returns its exit status. */
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
	st = t_capture(cmd, out, size, &n);
	printf("$ ustatic-ctl %s -> %d\n%s", cmd + strlen(tool) + 3, st, out);
	return st;
}

/* The server: says its pid, then runs commands from its input until it
 * ends: p (run the debug site, then say "done"), k (say whether the
 * key's branch is on). Its stderr is its stdout. */
static int serve(void)
{
	int n = 0;
	char c;

	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (read(0, &c, 1) > 0) {
		if (c == 'p') {
			tick(++n);
			printf("done\n");
		} else if (c == 'k') {
			printf("key %d call %d\n",
			       static_branch_unlikely(&ctl_tool_key) ? 1 : 0,
			       static_call(ctl_tool_call)(1));
		}
		fflush(stdout);
	}
	return 0;
}

/* Has the server run its site: whether it printed before "done". */
static bool printed(int to, FILE *from)
{
	char line[256];
	bool seen = false;

	CHECK(write(to, "p", 1) == 1);
	while (fgets(line, sizeof(line), from) && strcmp(line, "done\n"))
		seen |= strstr(line, "control_tool tick") != NULL;
	return seen;
}

static int key_on(int to, FILE *from)
{
	int k, c;

	CHECK(write(to, "k", 1) == 1);
	CHECK(fscanf(from, " key %d call %d", &k, &c) == 2);
	CHECK_EQ(c, 2);
	return k;
}

int main(int argc, char **argv)
{
	char out[8192], self[PATH_MAX], path[160], dir[108];
	int in[2], from[2];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	FILE *f;
	pid_t pid;
	int spid, fd;

	if (argc > 1 && !strcmp(argv[1], "serve"))
		return serve();
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("under qemu-user the tool and this test's second run are "
		     "foreign binaries, started only with binfmt_misc");
	test_beside_self(tool, sizeof(tool), "../tools/ustatic-ctl");
	CHECK(access(tool, X_OK) == 0);
	test_self_path(self, sizeof(self));
	signal(SIGPIPE, SIG_IGN);

	CHECK(pipe(in) == 0 && pipe(from) == 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		dup2(in[0], 0);
		dup2(from[1], 1);
		dup2(from[1], 2);
		close(in[1]);
		close(from[0]);
		setenv("USTATIC_CONTROL", "1", 1);
		execl(self, self, "serve", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(from[1]);
	f = fdopen(from[0], "r");
	CHECK(f && fscanf(f, "ready %d", &spid) == 1 && spid == pid);

	/* Usage: 2. */
	CHECK_EQ(ctl(out, sizeof(out), "%s", ""), 2);
	CHECK(strstr(out, "usage"));
	CHECK_EQ(ctl(out, sizeof(out), "abc list"), 2);
	CHECK_EQ(ctl(out, sizeof(out), "%d frob", spid), 2);
	CHECK_EQ(ctl(out, sizeof(out), "%d enable", spid), 2);
	CHECK_EQ(ctl(out, sizeof(out), "%d list extra", spid), 2);

	/* Commands. */
	CHECK_EQ(ctl(out, sizeof(out), "%d version", spid), 0);
	CHECK(!strcmp(out, "ustatic-control 1\n"));
	CHECK_EQ(ctl(out, sizeof(out), "%d list", spid), 0);
	/* The generic build registers no object: no sites, no names there;
	 * the tool and the protocol are tested all the same. */
	if (T_PATCHES_CODE) {
		CHECK(strstr(out, "control_tool.c:"));
		CHECK(strstr(out, "[control_tool]tick =_ \"control_tool tick %d\""));
		CHECK_EQ(ctl(out, sizeof(out), "%d keys", spid), 0);
		CHECK(strstr(out, "key control_tool:ctl_tool_key disabled count 0"));
		CHECK(strstr(out, "call control_tool:ctl_tool_call target ctl_target_a"));
	}
	CHECK_EQ(ctl(out, sizeof(out), "%d help", spid), 0);
	CHECK(strstr(out, "query QUERY"));
	CHECK_EQ(ctl(out, sizeof(out), "%d query 'file nosuch.c +p'", spid), 0);
	CHECK(strstr(out, "0 debug sites changed"));
	CHECK_EQ(ctl(out, sizeof(out), "%d query 'bogus +p'", spid), 1);
	CHECK(strstr(out, "ustatic-ctl: "));
	if (T_PATCHES_CODE) {
		/* The site prints only while +p. */
		CHECK(!printed(in[1], f));
		CHECK_EQ(ctl(out, sizeof(out), "%d query 'file control_tool.c +p'", spid), 0);
		CHECK(strstr(out, "1 debug site changed"));
		CHECK(printed(in[1], f));
		CHECK(printed(in[1], f));
		CHECK_EQ(ctl(out, sizeof(out), "%d list", spid), 0);
		CHECK(strstr(out, "[control_tool]tick =p "));
		CHECK_EQ(ctl(out, sizeof(out), "%d query file control_tool.c -p", spid), 0);
		CHECK(strstr(out, "1 debug site changed"));
		CHECK(!printed(in[1], f));
		/* The key. */
		CHECK_EQ(key_on(in[1], f), 0);
		CHECK_EQ(ctl(out, sizeof(out), "%d enable ctl_tool_key", spid), 0);
		CHECK_EQ(key_on(in[1], f), 1);
		CHECK_EQ(ctl(out, sizeof(out), "%d count control_tool:ctl_tool_key", spid), 0);
		CHECK(!strcmp(out, "1\n"));
		CHECK_EQ(ctl(out, sizeof(out), "%d inc ctl_tool_key", spid), 0);
		CHECK_EQ(ctl(out, sizeof(out), "%d disable ctl_tool_key", spid), 1);
		CHECK(strstr(out, "busy"));	/* count 2 (-EBUSY, as strerror words it) */
		CHECK_EQ(ctl(out, sizeof(out), "%d dec ctl_tool_key", spid), 0);
		CHECK_EQ(ctl(out, sizeof(out), "%d disable ctl_tool_key", spid), 0);
		CHECK_EQ(key_on(in[1], f), 0);
		CHECK_EQ(ctl(out, sizeof(out), "%d dec ctl_tool_key", spid), 1);
		CHECK_EQ(ctl(out, sizeof(out), "%d keys", spid), 0);
		CHECK(strstr(out, "key control_tool:ctl_tool_key disabled count 0"));
	}
	CHECK_EQ(ctl(out, sizeof(out), "%d enable no_such_key_anywhere", spid), 1);
	CHECK_EQ(ctl(out, sizeof(out), "%d count no_such_key_anywhere", spid), 1);

	/* No socket: this process serves nothing. */
	CHECK_EQ(ctl(out, sizeof(out), "%d list", (int)getpid()), 2);
	CHECK(strstr(out, "has no control socket"));
	CHECK(strstr(out, "USTATIC_CONTROL=1"));
	/* A stale socket file: ours, bound and closed. */
	CHECK(us_ctl_dir(dir, sizeof(dir)) == 0);
	snprintf(path, sizeof(path), "%s/%d.sock", dir, (int)getpid());
	CHECK(strlen(path) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	CHECK_EQ(ctl(out, sizeof(out), "%d list", (int)getpid()), 2);
	CHECK(strstr(out, "nobody serves it"));
	unlink(path);

	/* The server goes away: no process, then. */
	close(in[1]);
	CHECK_EQ(t_wait(pid), 0);
	snprintf(path, sizeof(path), "%s/%d.sock", dir, spid);
	CHECK(access(path, F_OK) != 0);		/* removed at exit */
	CHECK_EQ(ctl(out, sizeof(out), "%d list", spid), 2);
	CHECK(strstr(out, "no process") || strstr(out, "no control socket"));
	fclose(f);
	return 0;
}
