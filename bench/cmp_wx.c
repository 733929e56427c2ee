/* SPDX-License-Identifier: MIT */
/*
 * Code pages writable and executable at once: a thread reads
 * /proc/self/maps over and over while the main thread updates 10,000
 * inline sites back to back, and counts the reads that saw a mapping with
 * both w and x. Reads made before the first update (the baseline) must
 * see none: anything there is not the library's.
 *
 * A read of maps holds the address space's lock, as mprotect() does, so
 * a read sees each protection change whole: a W+X window shows up in the
 * fraction of reads that fall into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustatic.h>

#include "cmp.h"

enum { BASELINE, UPDATING, STOP };

static int phase;			/* written by main, read by the poller */
static unsigned long polls[2], hits[2];	/* the poller's, read after join */
static char first_wx[256];		/* the first W+X line seen updating */

static size_t read_maps(char *buf, size_t size)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return 0;
	while (len + 1 < size && (r = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	buf[len] = 0;
	return len;
}

/* The first line whose permissions ("rwxp" after the range) have w and x. */
static const char *find_wx(const char *buf)
{
	for (const char *l = buf; *l; ) {
		const char *sp = strchr(l, ' '), *nl = strchr(l, '\n');

		if (sp && (!nl || sp < nl) && sp[1] && sp[2] == 'w' && sp[3] == 'x')
			return l;
		if (!nl)
			break;
		l = nl + 1;
	}
	return NULL;
}

static void *poller(void *arg)
{
	size_t size = 8 << 20;
	char *buf = malloc(size);

	(void)arg;
	if (!buf)
		return NULL;
	for (;;) {
		/* Acquire pairs with main's release: a read counts for a phase
		 * only when the phase did not change around it. */
		int p0 = __atomic_load_n(&phase, __ATOMIC_ACQUIRE), p1;
		const char *wx;

		if (p0 == STOP)
			break;
		read_maps(buf, size);
		wx = find_wx(buf);
		p1 = __atomic_load_n(&phase, __ATOMIC_ACQUIRE);
		if (p0 != p1)
			continue;
		polls[p0]++;
		if (wx) {
			hits[p0]++;
			if (p0 == UPDATING && !first_wx[0])
				snprintf(first_wx, sizeof(first_wx), "%.*s",
					 (int)strcspn(wx, "\n"), wx);
		}
	}
	free(buf);
	return NULL;
}

int row_wx(int argc, char **argv)
{
	long ms = argc > 2 ? atol(argv[2]) : 1000;
	unsigned long updates = 0;
	int fails = 0, err = 0;
	pthread_t t;
	double t0;

	if (pthread_create(&t, NULL, poller, NULL))
		return 2;
	sleep_ns(200 * 1000 * 1000L);
	__atomic_store_n(&phase, UPDATING, __ATOMIC_RELEASE);
	t0 = now_ns();
	while (now_ns() - t0 < ms * 1e6) {
		int r = update_sites(SITES_10K, updates++ & 1 ? step_a : step_b);

		if (r && !fails++)
			err = r;
	}
	if (updates & 1)
		fails += update_sites(SITES_10K, step_a) != 0;
	__atomic_store_n(&phase, STOP, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	if (first_wx[0])
		fprintf(stderr, "cmp wx: first W+X mapping seen: %s\n", first_wx);
	result("id=wx polls=%lu hits=%lu frac_pct=%.2f base_polls=%lu "
	       "base_hits=%lu updates=%lu upd_us=%.1f fails=%d err=%d",
	       polls[UPDATING], hits[UPDATING],
	       polls[UPDATING] ? 100.0 * hits[UPDATING] / polls[UPDATING] : 0,
	       polls[BASELINE], hits[BASELINE], updates,
	       updates ? ms * 1e3 / updates : 0, fails, err);
	return 0;
}
