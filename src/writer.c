/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "debug.h"
#include "under_valgrind.h"
#include "writer.h"

static int method = USTATIC_WRITE_MPROTECT;
static int method_locked;	/* chosen by USTATIC_WRITE: no fallback */
static int mem_fd = -1;

/* Page runs made writable by the open window, with their original prot. */
struct page_run {
	uintptr_t start, end;
	int prot;
};
static struct page_run *runs;
static size_t nruns;

static void open_proc_mem(void)
{
	if (mem_fd >= 0)
		close(mem_fd);
	mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	if (mem_fd < 0)
		us_log("writer: cannot open /proc/self/mem: %s", strerror(errno));
}

void us_writer_init(void)
{
	const char *e = getenv("USTATIC_WRITE");

	open_proc_mem();
	if (!e || !*e || !strcmp(e, "auto"))
		method = USTATIC_WRITE_MPROTECT;
	else if (!strcmp(e, "mprotect"))
		method = USTATIC_WRITE_MPROTECT, method_locked = 1;
	else if (!strcmp(e, "procmem"))
		method = USTATIC_WRITE_PROCMEM, method_locked = 1;
	else if (!strcmp(e, "none"))
		method = USTATIC_WRITE_NONE, method_locked = 1;
	else
		us_log("writer: unknown USTATIC_WRITE=%s, using auto", e);
	if (method == USTATIC_WRITE_PROCMEM && mem_fd < 0)
		method = USTATIC_WRITE_NONE;
}

void us_writer_after_fork(void)
{
	if (mem_fd >= 0)
		open_proc_mem();
}

int us_writer_method(void)
{
	return method;
}

int us_writer_force(int m)
{
	if (m == USTATIC_WRITE_PROCMEM && mem_fd < 0)
		return -EINVAL;
	method = m;
	method_locked = 1;
	return 0;
}

/* Protection of every mapping, from /proc/self/maps (sorted by address). */
struct mapping {
	uintptr_t start, end;
	int prot;
};

/* Mappings up to `limit` (the lines are sorted by address). */
static int read_maps(uintptr_t limit, struct mapping **out, size_t *count)
{
	size_t cap = 64, n = 0, len = 0, bufcap = 1 << 16;
	char *buf = malloc(bufcap), *line, *save;
	struct mapping *m = malloc(cap * sizeof(*m));
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (!buf || !m || fd < 0)
		goto fail;
	while ((got = read(fd, buf + len, bufcap - len - 1)) > 0) {
		len += got;
		if (bufcap - len < 4096) {
			char *nb = realloc(buf, bufcap *= 2);
			if (!nb)
				goto fail;
			buf = nb;
		}
	}
	buf[len] = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) != 3)
			continue;
		if (s >= limit)
			break;
		if (n == cap) {
			struct mapping *nm = realloc(m, (cap *= 2) * sizeof(*m));
			if (!nm)
				goto fail;
			m = nm;
		}
		m[n].start = s;
		m[n].end = e;
		m[n].prot = (p[0] == 'r' ? PROT_READ : 0) |
			    (p[1] == 'w' ? PROT_WRITE : 0) |
			    (p[2] == 'x' ? PROT_EXEC : 0);
		n++;
	}
	close(fd);
	free(buf);
	*out = m;
	*count = n;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(m);
	return -ENOMEM;
}

static int prot_of(const struct mapping *m, size_t n, uintptr_t page)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (page < m[mid].start)
			hi = mid;
		else if (page >= m[mid].end)
			lo = mid + 1;
		else
			return m[mid].prot;
	}
	return -1;
}

/* Groups the pages under r[] into runs of equal original protection. */
static int plan_runs(const struct us_range *r, size_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct mapping *maps;
	size_t nmaps, cap = 16;
	int err = read_maps(n ? r[n - 1].end : 0, &maps, &nmaps);

	if (err)
		return err;
	nruns = 0;
	runs = malloc(cap * sizeof(*runs));
	for (size_t i = 0; runs && i < n; i++) {
		for (uintptr_t p = r[i].start & ~(pg - 1); p < r[i].end; p += pg) {
			int prot = prot_of(maps, nmaps, p);
			struct page_run *last = nruns ? &runs[nruns - 1] : NULL;

			if (prot < 0) {
				err = -EFAULT;
				goto out;
			}
			if (last && p < last->end)
				continue;
			if (last && last->end == p && last->prot == prot) {
				last->end = p + pg;
				continue;
			}
			if (nruns == cap) {
				struct page_run *nr = realloc(runs, (cap *= 2) * sizeof(*runs));
				if (!nr) {
					err = -ENOMEM;
					goto out;
				}
				runs = nr;
			}
			runs[nruns++] = (struct page_run){ p, p + pg, prot };
		}
	}
	if (!runs)
		err = -ENOMEM;
out:
	free(maps);
	return err;
}

static void restore_runs(size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (mprotect((void *)runs[i].start, runs[i].end - runs[i].start,
			     runs[i].prot))
			us_log("writer: restoring protection failed: %s",
			       strerror(errno));
}

/* Adds PROT_WRITE to every run, never removing PROT_EXEC. */
static int open_runs(void)
{
	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].prot & PROT_WRITE)
			continue;
		if (mprotect((void *)runs[i].start, runs[i].end - runs[i].start,
			     runs[i].prot | PROT_WRITE)) {
			int err = -errno;
			restore_runs(i);
			return err;
		}
	}
	return 0;
}

/* Checks that /proc/self/mem really writes, with a same-value write. */
static int probe_proc_mem(uintptr_t at)
{
	uint8_t b = *(volatile uint8_t *)at;

	if (mem_fd < 0)
		return -EPERM;
	if (pwrite(mem_fd, &b, 1, (off_t)at) != 1)
		return -errno;
	return 0;
}

static void free_runs(void)
{
	free(runs);
	runs = NULL;
	nruns = 0;
}

int us_writer_begin(const struct us_range *r, size_t n)
{
	int err;

	if (method == USTATIC_WRITE_MPROTECT) {
		err = plan_runs(r, n);
		if (!err)
			err = open_runs();
		if (!err)
			return 0;
		free_runs();
		if (method_locked || (err != -EACCES && err != -EPERM))
			return us_fail(err, "writer: mprotect(RWX)");
		us_log("writer: mprotect(RWX) refused (W^X policy?), "
		       "switching to /proc/self/mem");
		method = mem_fd >= 0 ? USTATIC_WRITE_PROCMEM : USTATIC_WRITE_NONE;
	}
	if (method == USTATIC_WRITE_PROCMEM) {
		err = n ? probe_proc_mem(r[0].start) : 0;
		if (!err)
			return 0;
		us_fail(err, "writer: /proc/self/mem write");
		if (!method_locked)
			method = USTATIC_WRITE_NONE;
	}
	return us_fail(-EPERM, "writer: no way to write code, live patching off");
}

/* Plain byte stores into text: TSan has no shadow for it, keep it out. */
__attribute__((no_sanitize("thread"), noinline))
static void store_bytes(volatile uint8_t *dst, const uint8_t *src, size_t len)
{
	/*
	 * An aligned word goes in with one single-copy-atomic store (the
	 * AArch64 swaps). A volatile aligned word store is one `str`; an
	 * __atomic store would be instrumented by TSan even here.
	 */
	if (len == 4 && !((uintptr_t)dst & 3)) {
		uint32_t w;

		memcpy(&w, src, 4);
		*(volatile uint32_t *)dst = w;
		return;
	}
	for (size_t i = 0; i < len; i++)
		dst[i] = src[i];
}

int us_writer_write(void *dst, const void *src, size_t len)
{
	if (method == USTATIC_WRITE_PROCMEM) {
		if (pwrite(mem_fd, src, len, (off_t)(uintptr_t)dst) != (ssize_t)len)
			return us_fail(-errno ? -errno : -EIO, "writer: pwrite");
	} else {
		store_bytes(dst, src, len);
	}
	VALGRIND_DISCARD_TRANSLATIONS(dst, len);
	return 0;
}

void us_writer_end(void)
{
	if (method == USTATIC_WRITE_MPROTECT)
		restore_runs(nruns);
	free_runs();
}
