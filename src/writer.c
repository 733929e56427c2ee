/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debug.h"
#include "lock.h"
#include "under_valgrind.h"
#include "writer.h"

/*
 * Locking: every mutable variable of this file is guarded by the engine
 * lock (us_engine_lock, src/lock.h; engine_mutex before it), which the
 * engine holds around every us_writer_begin()/write()/end() of a batch.
 * us_writer_init() runs once, from the library's pthread_once;
 * us_writer_after_fork() in the child of fork(), whose one thread holds
 * the engine lock (the atfork prepare handler took it); us_writer_force()
 * from tests while no batch runs. `method` alone is also read without the
 * lock (us_writer_method(): planning under the registry lock, stats), so
 * it is a relaxed atomic, paired with nothing: a reader that sees the old
 * method plans a batch that the engine, under the lock, writes with the
 * new one or refuses.
 */
static int method = USTATIC_WRITE_MPROTECT;
static int method_locked;	/* chosen by USTATIC_WRITE or a test: no fallback */

/*
 * The /proc/self/mem descriptor. Descriptors are the program's: it may
 * close ours and reuse the number (daemons close everything at start-up
 * and open their log files), and a child forked without our atfork
 * handler (_Fork(), a raw clone()) inherits it still writing the parent's
 * memory. So nothing is written through it unless it was proven just
 * before to be the file we opened (fstat(): same device and inode, which
 * stat("/proc/self/mem") gave right after the open) in the process that
 * opened it (getpid()): both at the start of every batch, the file again
 * before every write. A number that fails the proof is forgotten, never
 * closed: it is the program's now. A descriptor that is gone is opened
 * again.
 *
 * What remains possible: another thread closes our number and opens a
 * file on it between that fstat() and the pwrite() (a window of a few
 * hundred nanoseconds). The write then lands in the program's file, at an
 * offset equal to a code address. The bytes are read back from our code
 * after every write, so such a write is noticed and made again through a
 * new descriptor (the batch stays right), but the stray one cannot be
 * taken back. No system call writes read-only code of our own by address
 * other than through a descriptor (process_vm_writev() honours page
 * protections), so a check right before the write is the narrowest window
 * available; a program that closes descriptors it does not own while its
 * threads run breaks libc's own (syslog, nscd) the same way.
 *
 * Held from start-up: a program may enter a sandbox later that forbids
 * opening it (no /proc, a seccomp or Landlock policy).
 */
static int mem_fd = -1;
static pid_t mem_pid;		/* the process that opened it */
static dev_t mem_dev;		/* what fstat() said then */
static ino_t mem_ino;

/*
 * Times an open or a write is tried when another thread takes the
 * descriptor from us between it and its proof, each time anew. Taking it
 * once is a program closing what it does not own; four times in a row
 * within microseconds is one doing nothing else: give up then.
 */
#define MEM_TRIES 4

/* Page runs made writable by the open window, with their original prot. */
struct page_run {
	uintptr_t start, end;
	int prot;
};
static struct page_run *runs;
static size_t nruns;

static int get_method(void)
{
	return __atomic_load_n(&method, __ATOMIC_RELAXED);
}

static void set_method(int m)
{
	__atomic_store_n(&method, m, __ATOMIC_RELAXED);
}

/* Whether fd names the file that /proc/self/mem names now; *st gets
 * fd's identity. */
static bool is_proc_self_mem(int fd, struct stat *st)
{
	struct stat now;

	return !fstat(fd, st) && !stat("/proc/self/mem", &now) &&
	       st->st_dev == now.st_dev && st->st_ino == now.st_ino;
}

/*
 * Opens /proc/self/mem and records what proves it ours later. Another
 * thread may close the new number and reuse it at once: it is ours only
 * if it still names /proc/self/mem after the open; if not, it is
 * forgotten (not closed) and opened again, a few times at most.
 */
static int open_mem(void)
{
	for (int i = 0; i < MEM_TRIES; i++) {
		int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		struct stat st;

		if (fd < 0)
			return us_fail(-errno, "writer: cannot open /proc/self/mem");
		if (is_proc_self_mem(fd, &st)) {
			mem_fd = fd;
			mem_pid = getpid();
			mem_dev = st.st_dev;
			mem_ino = st.st_ino;
			return 0;
		}
	}
	return us_fail(-EBADF, "writer: /proc/self/mem descriptors are "
		       "closed as soon as opened");
}

/* Whether mem_fd still is the file we opened: not closed, not reused. */
static bool mem_fd_same_file(void)
{
	struct stat st;

	return mem_fd >= 0 && !fstat(mem_fd, &st) &&
	       st.st_dev == mem_dev && st.st_ino == mem_ino;
}

/* Forgets mem_fd without closing it (it is not ours) and opens anew. */
static int reopen_mem(void)
{
	if (mem_fd >= 0)
		us_log("writer: descriptor %d is no longer our /proc/self/mem "
		       "(closed or reused by the program); opening a new one",
		       mem_fd);
	mem_fd = -1;
	return open_mem();
}

/* Makes mem_fd a descriptor of this process's own memory, or fails. */
static int own_mem_fd(void)
{
	bool same = mem_fd_same_file();

	if (same && mem_pid == getpid())
		return 0;
	if (!same)
		return reopen_mem();
	/* Ours, inherited by a fork: it writes the parent's memory. */
	us_log("writer: /proc/self/mem descriptor inherited from process %d; "
	       "opening our own", (int)mem_pid);
	close(mem_fd);
	mem_fd = -1;
	return open_mem();
}

void us_writer_init(void)
{
	const char *e = getenv("USTATIC_WRITE");
	int m = USTATIC_WRITE_MPROTECT;

	if (!e || !*e || !strcmp(e, "auto"))
		m = USTATIC_WRITE_MPROTECT;
	else if (!strcmp(e, "mprotect"))
		m = USTATIC_WRITE_MPROTECT, method_locked = 1;
	else if (!strcmp(e, "procmem"))
		m = USTATIC_WRITE_PROCMEM, method_locked = 1;
	else if (!strcmp(e, "none"))
		m = USTATIC_WRITE_NONE, method_locked = 1;
	else
		us_log("writer: unknown USTATIC_WRITE=%s, using auto", e);
	/* Needed by procmem, and by mprotect when it may fall back. */
	if (m == USTATIC_WRITE_PROCMEM ||
	    (m == USTATIC_WRITE_MPROTECT && !method_locked))
		open_mem();
	if (m == USTATIC_WRITE_PROCMEM && mem_fd < 0)
		m = USTATIC_WRITE_NONE;
	set_method(m);
}

void us_writer_after_fork(void)
{
	/* Our copy writes the parent: the child gets its own right away,
	 * before it may enter a sandbox that forbids opening one. */
	if (mem_fd >= 0)
		own_mem_fd();
}

int us_writer_method(void)
{
	return get_method();
}

int us_writer_force(int m)
{
	if (m == USTATIC_WRITE_PROCMEM && own_mem_fd())
		return -EINVAL;
	set_method(m);
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

	if (fd < 0) {
		int err = -errno;

		free(buf);
		free(m);
		return err;
	}
	if (!buf || !m)
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

/* A loaded object's segment holding the page, as a mapping. */
static int segment_of(struct dl_phdr_info *info, size_t size US_UNUSED,
		      void *arg)
{
	struct mapping *m = arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || m->start < s ||
		    m->start >= s + ph->p_memsz)
			continue;
		m->prot = (ph->p_flags & PF_R ? PROT_READ : 0) |
			  (ph->p_flags & PF_W ? PROT_WRITE : 0) |
			  (ph->p_flags & PF_X ? PROT_EXEC : 0);
		return 1;
	}
	return 0;
}

/*
 * Without /proc (a container or sandbox that has none), the protection of
 * the pages we write, all in loaded objects' executable segments, comes
 * from the objects' program headers: one mapping per range's first page.
 */
static int maps_from_phdrs(const struct us_range *r, size_t n,
			   struct mapping **out, size_t *count)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct mapping *m = malloc((n + 1) * sizeof(*m));
	size_t k = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct mapping one = { .start = r[i].start & ~(pg - 1) };

		if (!dl_iterate_phdr(segment_of, &one)) {
			free(m);
			return -EFAULT;
		}
		/* A range may cross into the next page: cover both. */
		one.end = (r[i].end + pg - 1) & ~(pg - 1);
		if (k && m[k - 1].end >= one.start && m[k - 1].prot == one.prot)
			m[k - 1].end = one.end > m[k - 1].end ? one.end : m[k - 1].end;
		else
			m[k++] = one;
	}
	*out = m;
	*count = k;
	return 0;
}

/* Groups the pages under r[] into runs of equal original protection. */
static int plan_runs(const struct us_range *r, size_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct mapping *maps = NULL;
	size_t nmaps = 0, cap = 16;
	int err = read_maps(n ? r[n - 1].end : 0, &maps, &nmaps);

	if (err == -ENOENT || err == -EACCES || err == -EPERM) {
		us_log("writer: /proc/self/maps unreadable (%s); page "
		       "protections from the program headers", strerror(-err));
		err = maps_from_phdrs(r, n, &maps, &nmaps);
	}
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

static void free_runs(void)
{
	free(runs);
	runs = NULL;
	nruns = 0;
}

/* Whether the code at dst holds src: a write through a descriptor that
 * was taken from us went elsewhere. Reads text: no TSan shadow there. */
__attribute__((no_sanitize("thread"), noinline))
static bool holds(const volatile uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (dst[i] != src[i])
			return false;
	return true;
}

/*
 * A pwrite() through a descriptor proven ours just before, and checked
 * after: 0, -EAGAIN when the descriptor was taken from us (the write went
 * elsewhere or nowhere; mem_fd is then forgotten) or could not be opened
 * again, or the error of a write our own descriptor refused.
 */
static int pwrite_mem(const void *src, size_t len, void *dst)
{
	ssize_t n;
	int err;

	if (!mem_fd_same_file() && reopen_mem())
		return -EAGAIN;
	n = pwrite(mem_fd, src, len, (off_t)(uintptr_t)dst);
	err = n < 0 ? -errno : -EIO;
	if (n == (ssize_t)len && holds(dst, src, len))
		return 0;
	if (mem_fd_same_file())
		return err;
	return -EAGAIN;
}

/* pwrite_mem() again, through a new descriptor each time, while the
 * program keeps taking ours. */
static int write_mem(void *dst, const void *src, size_t len)
{
	int err = -EAGAIN;

	for (int i = 0; i < MEM_TRIES && err == -EAGAIN; i++)
		err = pwrite_mem(src, len, dst);
	if (err == -EAGAIN)
		err = -EBADF;
	return err ? us_fail(err, "writer: pwrite(/proc/self/mem)") : 0;
}

int us_writer_begin(const struct us_range *r, size_t n)
{
	int m = get_method(), err;

	us_assert_held(&us_engine_lock);

	if (m == USTATIC_WRITE_MPROTECT) {
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
		m = own_mem_fd() ? USTATIC_WRITE_NONE : USTATIC_WRITE_PROCMEM;
		set_method(m);
	}
	if (m == USTATIC_WRITE_PROCMEM) {
		/* Lost or inherited since the last batch: nothing written. */
		if (own_mem_fd())
			return us_fail(-EPERM, "writer: no /proc/self/mem "
				       "descriptor of our own for this batch");
		/* Whether the kernel lets us write (proc_mem.force_override):
		 * the same value back, through a descriptor of our own. */
		err = n ? write_mem((void *)r[0].start, (void *)r[0].start, 1) : 0;
		if (!err)
			return 0;
		if (err == -EBADF)
			return us_fail(-EPERM, "writer: our /proc/self/mem "
				       "descriptor keeps being taken, this batch");
		/* Our own descriptor refused: that is the kernel's policy. */
		if (!method_locked)
			set_method(USTATIC_WRITE_NONE);
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

/* Tests: make writes number [from, from + count) of this way fail. */
static unsigned long test_fail_from, test_fail_count, test_writes;

void us_writer_test_fail(unsigned long from, unsigned long count)
{
	test_fail_from = from;
	test_fail_count = count;
	test_writes = 0;
}

static bool test_failure(void)
{
	test_writes++;
	return test_fail_count && test_writes >= test_fail_from &&
	       test_writes - test_fail_from < test_fail_count;
}

int us_writer_write(void *dst, const void *src, size_t len)
{
	us_assert_held(&us_engine_lock);
	if (test_failure())
		return us_fail(-EIO, "writer: write failure injected");
	if (get_method() == USTATIC_WRITE_PROCMEM) {
		int err = write_mem(dst, src, len);

		if (err)
			return err;
	} else {
		store_bytes(dst, src, len);
	}
	VALGRIND_DISCARD_TRANSLATIONS(dst, len);
	return 0;
}

void us_writer_end(void)
{
	if (get_method() == USTATIC_WRITE_MPROTECT)
		restore_runs(nruns);
	free_runs();
}

/*
 * One store through the page(s) made writable for it alone, their
 * protection restored at once: the other way for a window opened on
 * /proc/self/mem (whose page runs are then unused).
 */
static int store_through_mprotect(void *dst, const void *src, size_t len)
{
	struct us_range r = { (uintptr_t)dst, (uintptr_t)dst + len };
	int err = plan_runs(&r, 1);

	if (!err)
		err = open_runs();
	if (!err) {
		store_bytes(dst, src, len);
		restore_runs(nruns);
	}
	free_runs();
	return err;
}

int us_writer_rescue(void *dst, const void *src, size_t len)
{
	int err;

	us_assert_held(&us_engine_lock);
	if (get_method() == USTATIC_WRITE_MPROTECT)
		err = own_mem_fd() ? -EBADF : write_mem(dst, src, len);
	else
		err = store_through_mprotect(dst, src, len);
	if (!err)
		VALGRIND_DISCARD_TRANSLATIONS(dst, len);
	return err;
}
