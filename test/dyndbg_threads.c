/* SPDX-License-Identifier: MIT */
/*
 * Several threads print through enabled sites at once:
 *  1. to stderr (a pipe, read by another thread): every line arrives
 *     whole (one write each), none lost;
 *  2. to sinks swapped by the main thread all the while: once
 *     ustatic_dyndbg_set_sink() returns, the old sink is never called
 *     again (its context is poisoned right after the swap, and the sink
 *     checks it), and every line goes to exactly one sink;
 *  3. while another thread switches the sites on and off with queries.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

#define THREADS 4

static volatile int stop;
static long printed[THREADS];

__attribute__((noinline)) static void say(int t, long i)
{
	ustatic_pr_debug("thread %d line %ld %s\n", t, i,
			 "................................................"
			 "................................................");
}

static void *printer(void *arg)
{
	int t = (int)(long)arg;

	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		say(t, i);
		printed[t]++;
	}
	return NULL;
}

/* Part 1: the pipe's reader checks every line. */
static int pipe_fd;
static long lines_read;

static void check_line(const char *l)
{
	int t;
	long i;
	char dots[200];

	if (sscanf(l, "thread %d line %ld %199s", &t, &i, dots) != 3 ||
	    t < 0 || t >= THREADS || strlen(dots) != 96) {
		fprintf(stderr, "torn line: '%s'\n", l);
		exit(T_EXIT_FAIL);
	}
}

static void *reader(void *arg)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;

	(void)arg;
	while ((n = read(pipe_fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		char *p = buf, *nl;

		len += (size_t)n;
		buf[len] = 0;
		while ((nl = strchr(p, '\n'))) {
			*nl = 0;
			check_line(p);
			lines_read++;
			p = nl + 1;
		}
		len -= (size_t)(p - buf);
		memmove(buf, p, len);
	}
	return NULL;
}

static void run_printers(double secs, void (*meanwhile)(void))
{
	pthread_t th[THREADS];
	double end = t_now() + secs;

	stop = 0;
	for (long t = 0; t < THREADS; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, printer, (void *)t), 0);
	/* At least 11 rounds, however slow (qemu-user made 9 toggles in
	 * the time once). */
	for (int k = 0; t_now() < end || k < 11; k++)
		meanwhile();
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
}

static void nothing(void)
{
	usleep(1000);
}

/* Part 2. */
struct ctx {
	int alive;
	long lines;
};
static struct ctx ctxs[2];

static void sink(void *c, const char *line, size_t len)
{
	struct ctx *x = c;

	if (!__atomic_load_n(&x->alive, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "old sink called after the swap returned\n");
		abort();
	}
	check_line(line);
	CHECK(len == strlen(line));
	__atomic_fetch_add(&x->lines, 1, __ATOMIC_RELAXED);
}

static int swaps;

static void swap(void)
{
	struct ctx *next = &ctxs[++swaps % 2], *old = &ctxs[(swaps + 1) % 2];

	__atomic_store_n(&next->alive, 1, __ATOMIC_RELEASE);
	CHECK_EQ(ustatic_dyndbg_set_sink(sink, next), 0);
	__atomic_store_n(&old->alive, 0, __ATOMIC_RELEASE);
}

static int toggles;

static void toggle(void)
{
	CHECK(ustatic_dyndbg_query(toggles++ % 2 ? "func say +p" :
				   "func say -p") >= 0);
	swap();
}

int main(void)
{
	int fds[2], saved = dup(2);
	pthread_t rd;
	long total = 0;
	double secs = test_scale(20) / 10.0;

	dd_need_registry();
	CHECK(ustatic_dyndbg_query("func say +p") == 1);

	/* 1. stderr is a pipe. */
	CHECK(pipe(fds) == 0);
	pipe_fd = fds[0];
	CHECK_EQ(pthread_create(&rd, NULL, reader, NULL), 0);
	dup2(fds[1], 2);
	close(fds[1]);
	run_printers(secs, nothing);
	dup2(saved, 2);
	pthread_join(rd, NULL);
	for (int t = 0; t < THREADS; t++)
		total += printed[t], printed[t] = 0;
	printf("stderr: %ld lines printed, %ld read whole\n", total, lines_read);
	CHECK(total > 0);
	CHECK_EQ(lines_read, total);

	/* 2. sinks swapped under the printers. */
	ctxs[0].alive = 1;
	CHECK_EQ(ustatic_dyndbg_set_sink(sink, &ctxs[0]), 0);
	run_printers(secs, swap);
	total = 0;
	for (int t = 0; t < THREADS; t++)
		total += printed[t], printed[t] = 0;
	printf("sinks: %d swaps, %ld lines printed, %ld + %ld received\n",
	       swaps, total, ctxs[0].lines, ctxs[1].lines);
	CHECK_EQ(ctxs[0].lines + ctxs[1].lines, total);
	CHECK(swaps > 10);

	/* 3. and queries switching the site. */
	run_printers(secs, toggle);
	printf("queries: %d toggles\n", toggles);
	CHECK(toggles > 10);
	CHECK_EQ(ustatic_dyndbg_set_sink(NULL, NULL), 0);
	puts("ok");
	return 0;
}
