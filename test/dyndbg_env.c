/* SPDX-License-Identifier: MIT */
/*
 * USTATIC_DYNDBG: applied at start-up (the executable's sites are on when
 * main runs, before any query), before the program's own queries (which
 * come after it and win); a malformed one changes nothing and says where
 * on stderr, even without USTATIC_DEBUG. Each case in a child run with
 * the variable set.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

static int line_early;

__attribute__((noinline)) static int early(void)
{
	line_early = __LINE__ + 1;
	if (ustatic_debug_enabled())
		return 1;
	return 0;
}

static int child(const char *mode)
{
	int on = early();

	if (!strcmp(mode, "on")) {
		CHECK_EQ(on, 1);
		CHECK(!strcmp(dd_flags(__FILE__, line_early), "pf"));
		/* The program's queries come after it. */
		CHECK_EQ(ustatic_dyndbg_query("func early -p"), 1);
		CHECK_EQ(early(), 0);
	} else {
		CHECK_EQ(on, 0);
		CHECK(!strcmp(dd_flags(__FILE__, line_early), "_"));
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[] = "/tmp/dyndbg_envXXXXXX", out[1024];
	int fd, saved = dup(2);
	ssize_t n;

	dd_need_registry();
	if (argc > 1)
		return child(argv[1]);
	CHECK_EQ(early(), 0);
	CHECK_EQ(dd_child(t_run_self("USTATIC_DYNDBG=func early +p; "
				     "file dyndbg_env.c +f", "on", NULL)), 0);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	dup2(fd, 2);
	n = t_run_self("USTATIC_DYNDBG=func early +p; fiel x +p", "off", NULL);
	dup2(saved, 2);
	CHECK_EQ(dd_child((int)n), 0);
	n = pread(fd, out, sizeof(out) - 1, 0);
	CHECK(n > 0);
	out[n] = 0;
	printf("malformed: %s", out);
	CHECK(strstr(out, "USTATIC_DYNDBG"));
	CHECK(strstr(out, "column 16: unknown keyword"));
	CHECK(strstr(out, "'fiel'"));
	puts("ok");
	return 0;
}
