/* SPDX-License-Identifier: MIT */
/*
 * ustatic-ctl end to end: this test runs itself again as a server
 * (`control_tool serve`, with USTATIC_CONTROL=1: the library's constructor
 * starts the server) and runs build/tools/ustatic-ctl against it: each
 * command's output and exit status (0 done, 1 refused by the process,
 * 2 usage or no way to ask), a process without a control socket, no such
 * process, a stale socket file.
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

/* Runs `tool args` (a shell word list); its output (stdout and stderr) to
 * out; returns its exit status. */
static int ctl(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ctl(char *out, size_t size, const char *fmt, ...)
{
	char cmd[PATH_MAX + 512];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	n = (size_t)snprintf(cmd, sizeof(cmd), "'%s' ", tool);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	p = popen(cmd, "r");
	CHECK(p);
	n = fread(out, 1, size - 1, p);
	out[n] = 0;
	st = pclose(p);
	CHECK(WIFEXITED(st));
	printf("$ ustatic-ctl %s -> %d\n%s", cmd + strlen(tool) + 3,
	       WEXITSTATUS(st), out);
	return WEXITSTATUS(st);
}

/* The server: says its pid, then waits for its input to end. */
static int serve(void)
{
	char c;

	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
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
	CHECK_EQ(ctl(out, sizeof(out), "%d keys", spid), 0);
	CHECK_EQ(ctl(out, sizeof(out), "%d help", spid), 0);
	CHECK(strstr(out, "query QUERY"));
	CHECK_EQ(ctl(out, sizeof(out), "%d query 'file nosuch.c +p'", spid), 0);
	CHECK(strstr(out, "0 debug sites changed"));
	CHECK_EQ(ctl(out, sizeof(out), "%d query 'bogus +p'", spid), 1);
	CHECK(strstr(out, "ustatic-ctl: "));
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
