/* SPDX-License-Identifier: MIT */
/*
 * What an enabled site prints: the message alone, then with each
 * decoration (t, m, f, l) and all of them, in the kernel's order
 * ("[tid] module:func:line: msg"); to stderr with a newline, in one
 * write; to a sink without it; a line longer than the buffer is cut and
 * marked; NULL restores stderr; errno is kept; a disabled site prints
 * nothing; from inside a sink, a swap is refused and a site prints to
 * stderr; a fork child of a process with a thread inside the sink can
 * swap and print.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

static int site_line;

__attribute__((noinline)) static void say(const char *what, int n)
{
	site_line = __LINE__ + 1;
	ustatic_pr_debug("say %s %d\n", what, n);
}

static char big[3000];

__attribute__((noinline)) static void say_big(void)
{
	ustatic_pr_debug("%s", big);
}

static struct dd_capture cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A sink that swaps the sink (refused) and prints from a site (which
 * goes to stderr, not back into it). */
static int inner_swap = 1, inner_calls;

__attribute__((noinline)) static void from_sink(void)
{
	ustatic_pr_debug("printed from the sink\n");
}

static void nested_sink(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	(void)line;
	(void)len;
	inner_calls++;
	inner_swap = ustatic_dyndbg_set_sink(NULL, NULL);
	from_sink();
}

static const char *last(void)
{
	CHECK(cap.n > 0);
	return cap.lines[(cap.n - 1) % DD_KEEP];
}

static void q(const char *query)
{
	CHECK(ustatic_dyndbg_query(query) >= 0);
}

/* What say() writes to stderr (a temporary file), read back. */
static void from_stderr(char *out, size_t size)
{
	char path[] = "/tmp/dyndbg_outputXXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	CHECK(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, 2);
	errno = 1234;
	say("to", 7);
	CHECK_EQ(errno, 1234);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, size - 1, 0);
	CHECK(n >= 0);
	out[n] = 0;
	close(fd);
}

static volatile int in_slow, release_slow;

static void slow_sink(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	(void)line;
	(void)len;
	__atomic_store_n(&in_slow, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release_slow, __ATOMIC_ACQUIRE))
		usleep(1000);
}

static void *print_slowly(void *arg)
{
	(void)arg;
	say("slow", 1);
	return NULL;
}

static int child_swaps(void *arg)
{
	(void)arg;
	CHECK_EQ(ustatic_dyndbg_set_sink(dd_capture_sink, &cap), 0);
	cap.n = 0;
	say("child", 2);
	CHECK_EQ(cap.n, 1);
	return 0;
}

static void fork_while_in_sink(void)
{
	pthread_t th;

	q("func say =p");
	CHECK_EQ(ustatic_dyndbg_set_sink(slow_sink, NULL), 0);
	CHECK_EQ(pthread_create(&th, NULL, print_slowly, NULL), 0);
	while (!__atomic_load_n(&in_slow, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK_EQ(t_fork_run(child_swaps, NULL, 10), 0);
	__atomic_store_n(&release_slow, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
}

int main(void)
{
	char want[256], got[2048], mod[64];
	int before;

	dd_need_registry();
	snprintf(mod, sizeof(mod), "dyndbg_output");
	memset(big, 'x', sizeof(big) - 1);

	/* Off: nothing reaches the sink. */
	CHECK_EQ(ustatic_dyndbg_set_sink(dd_capture_sink, &cap), 0);
	say("off", 0);
	CHECK_EQ(cap.n, 0);

	q("func say =p");
	say("plain", 1);
	CHECK_EQ(cap.n, 1);
	CHECK(!strcmp(last(), "say plain 1"));	/* no newline to a sink */

	q("func say +f");
	say("f", 2);
	CHECK(!strcmp(last(), "say: say f 2"));
	q("func say =pl");
	say("l", 3);
	snprintf(want, sizeof(want), "%d: say l 3", site_line);
	CHECK(!strcmp(last(), want));
	q("func say =pm");
	say("m", 4);
	snprintf(want, sizeof(want), "%s: say m 4", mod);
	CHECK(!strcmp(last(), want));
	q("func say =pt");
	say("t", 5);
	snprintf(want, sizeof(want), "[%d] say t 5", (int)gettid());
	CHECK(!strcmp(last(), want));
	q("func say =ptmfl");
	say("all", 6);
	snprintf(want, sizeof(want), "[%d] %s:say:%d: say all 6", (int)gettid(),
		 mod, site_line);
	printf("all decorations: %s\n", last());
	CHECK(!strcmp(last(), want));

	/* Too long: cut, marked, still one line within the bound. */
	q("func say_big +p");
	before = cap.n;
	say_big();
	CHECK_EQ(cap.n, before + 1);
	printf("long line: %zu bytes, ends '%s'\n", strlen(last()),
	       last() + strlen(last()) - 20);
	CHECK(strlen(last()) < 1024);
	CHECK(strstr(last(), "[...truncated]"));
	CHECK(!strcmp(last() + strlen(last()) - 14, "[...truncated]"));

	/* NULL: back to stderr, with the newline, in one line. */
	CHECK_EQ(ustatic_dyndbg_set_sink(NULL, NULL), 0);
	q("func say =p");
	before = cap.n;
	from_stderr(got, sizeof(got));
	CHECK_EQ(cap.n, before);
	CHECK(!strcmp(got, "say to 7\n"));
	q("func say =pfl");
	from_stderr(got, sizeof(got));
	snprintf(want, sizeof(want), "say:%d: say to 7\n", site_line);
	CHECK(!strcmp(got, want));
	q("func say -p");
	from_stderr(got, sizeof(got));
	CHECK(!strcmp(got, ""));

	/* From inside a sink: no swap, no recursion. */
	q("func say =p; func from_sink +p");
	CHECK_EQ(ustatic_dyndbg_set_sink(nested_sink, NULL), 0);
	from_stderr(got, sizeof(got));
	CHECK_EQ(inner_swap, -EDEADLK);
	CHECK_EQ(inner_calls, 1);
	CHECK(!strcmp(got, "printed from the sink\n"));
	CHECK_EQ(ustatic_dyndbg_set_sink(NULL, NULL), 0);

	/* A fork child while another thread sits in the sink: the child
	 * swaps and prints. */
	fork_while_in_sink();
	puts("ok");
	return 0;
}
