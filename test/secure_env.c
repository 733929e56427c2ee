/* SPDX-License-Identifier: MIT */
/*
 * A set-user-ID program ignores every USTATIC_* variable (secure
 * execution, AT_SECURE): the user who runs it must not switch its debug
 * prints on and read them (USTATIC_DYNDBG), weaken how it writes code
 * (USTATIC_WRITE=mprotect: W+X windows), or read its diagnostics
 * (USTATIC_DEBUG).
 *
 * As root: this binary is copied into a private directory, made set-uid
 * root, and run by a child that became nobody, with USTATIC_DYNDBG=+p,
 * USTATIC_WRITE=mprotect and USTATIC_DEBUG=1. There it checks AT_SECURE,
 * prints from a debug site, and reports the write method; the parent
 * checks that stderr stayed empty and the method is not mprotect.
 *
 * Convinced it can fail: with getenv() for USTATIC_DYNDBG (as the review
 * of issue 14 found it) the site's line reaches stderr.
 */
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

static int in_setuid(void)
{
	struct ustatic_stats st;

	if (!getauxval(AT_SECURE))
		return 3;
	ustatic_pr_debug("secret=%s", "hunter2");
	if (ustatic_get_stats(&st))
		return 4;
	return st.write_method == USTATIC_WRITE_MPROTECT ? 5 : 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/ustatic-secure-XXXXXX", bin[64], err[64], cmd[256];
	struct stat st;
	pid_t pid;
	int fd;

	if (argc > 1 && !strcmp(argv[1], "setuid"))
		return in_setuid();
	if (!T_PATCHES_CODE)
		SKIP("nothing is patched in this build");
	if (geteuid() != 0)
		SKIP("needs root (a set-uid root copy run by nobody)");
	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("the emulator cannot run a set-uid program as such");
	CHECK(mkdtemp(dir));
	CHECK(!chmod(dir, 0755));
	snprintf(bin, sizeof(bin), "%s/prog", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", argv[0], bin);
	CHECK(!system(cmd));
	CHECK(!chmod(bin, 04755));
	CHECK(!stat(bin, &st) && (st.st_mode & S_ISUID));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666);
		if (fd < 0 || dup2(fd, 2) < 0 || fchown(fd, 65534, 65534) ||
		    setgid(65534) || setuid(65534))
			_exit(2);
		setenv("USTATIC_DYNDBG", "+p", 1);
		setenv("USTATIC_WRITE", "mprotect", 1);
		setenv("USTATIC_DEBUG", "1", 1);
		execl(bin, bin, "setuid", (char *)NULL);
		_exit(127);
	}
	int status = t_wait(pid);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		SKIP("no secure execution here (a nosuid /tmp?)");
	CHECK_EQ(status, 0);
	CHECK(!stat(err, &st));
	if (st.st_size) {
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", err);
		CHECK(!system(cmd));
	}
	CHECK_EQ(st.st_size, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(!system(cmd));
	return 0;
}
