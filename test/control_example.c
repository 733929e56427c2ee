/* SPDX-License-Identifier: MIT */
/*
 * The README's transcript, run: examples/debug_server built against this
 * build's library (make -C examples debug_server), started with
 * USTATIC_CONTROL=1; `ustatic-ctl PID query 'file net.c +p'` makes
 * net.c's sites print, `-p` stops them, `keys` names the example's key
 * and static call. Runs from the top of the source tree, as every test.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "control.h"
#include "helpers.h"
#include "test.h"

static char dir[] = "/tmp/ustatic-example-XXXXXX";
static char tool[PATH_MAX], logf[PATH_MAX];

static int count(const char *what)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(logf, "r");

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

static int ctl(pid_t pid, const char *args, const char *expect)
{
	char cmd[2 * PATH_MAX], out[4096];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' %d %s 2>&1", tool, (int)pid, args);
	p = popen(cmd, "r");
	CHECK(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	printf("$ ustatic-ctl %d %s\n%s", (int)pid, args, out);
	CHECK(!expect || strstr(out, expect));
	return pclose(p);
}

int main(void)
{
	char libdir[PATH_MAX], cc[64], cmd[3 * PATH_MAX], sock[PATH_MAX];
	const char *why;
	pid_t pid;
	int before;

	if (!T_PATCHES_CODE)
		SKIP("the generic build registers no object: no debug sites");
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("under qemu-user the example and the tool are foreign "
		     "binaries, started only with binfmt_misc");
	if (access("examples/debug_server.c", R_OK))
		SKIP("not run from the top of the source tree");
	if ((why = t_cc("gcc", cc, sizeof(cc))))
		SKIP("gcc: %s", why);
	test_beside_self(libdir, sizeof(libdir), "..");
	test_beside_self(tool, sizeof(tool), "../tools/ustatic-ctl");
	CHECK(mkdtemp(dir));
	snprintf(logf, sizeof(logf), "%s/log", dir);
	snprintf(cmd, sizeof(cmd), "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "
		 "make -s -C examples debug_server CC=%s WERROR=1 B=%s O=%s "
		 ">%s 2>&1", cc, libdir, dir, logf);
	if (system(cmd)) {
		snprintf(cmd, sizeof(cmd), "cat %s", logf);
		CHECK(system(cmd) >= 0);
		CHECK(!"the example builds");
	}
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		int fd = open(logf, O_WRONLY | O_TRUNC);

		dup2(fd, 1);
		dup2(fd, 2);
		setenv("USTATIC_CONTROL", "1", 1);
		snprintf(cmd, sizeof(cmd), "%s/debug_server", dir);
		execl(cmd, cmd, "10", (char *)NULL);
		_exit(127);
	}
	CHECK(us_ctl_dir(sock, sizeof(sock)) == 0);	/* as the child chooses */
	snprintf(sock + strlen(sock), sizeof(sock) - strlen(sock), "/%d.sock",
		 (int)pid);
	for (int i = 0; i < 500 && count("request 1:") == 0; i++)
		usleep(10000);
	CHECK(count("request 1:") == 1);
	CHECK_EQ(count("connected"), 0);	/* off: NOPs */
	/* By file, then line (the registry's order was 13 before 12). */
	CHECK_EQ(ctl(pid, "list", "server/net.c:12 [debug_server]net_receive "
		     "=_ \"client %ld connected\"\nserver/net.c:13 "), 0);
	CHECK_EQ(ctl(pid, "keys", "call debug_server:db_backend target db_memory"), 0);
	CHECK_EQ(ctl(pid, "query 'file net.c +p'", "2 debug sites changed"), 0);
	for (int i = 0; i < 300 && count("connected") < 2; i++)
		usleep(10000);
	CHECK(count("connected") >= 2);
	CHECK(count("received 5 bytes") >= 2);
	CHECK_EQ(count("lookup"), 0);		/* db.c's stay off */
	CHECK_EQ(ctl(pid, "query 'file net.c -p'", "2 debug sites changed"), 0);
	before = count("connected");
	CHECK_EQ(t_wait(pid), 0);
	CHECK(count("request 10:") == 1);
	CHECK_EQ(count("connected"), before);	/* off again */
	CHECK(access(sock, F_OK) != 0);		/* removed at exit */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return 0;
}
