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

#include "arch.h"
#include "debug.h"
#include "lock.h"
#include "under_valgrind.h"
#include "writer.h"

/*
 * Locking: every mutable variable of this file is guarded by the engine
 * lock (us_engine_lock, src/lock.h), which the engine holds around every
 * us_writer_begin()/write()/end() of a batch. us_writer_init() runs once,
 * from the library's pthread_once; us_writer_after_fork() in the child of
 * fork(), whose one thread holds the engine lock (the atfork prepare
 * handler took it); us_writer_force() from tests while no batch runs.
 * Two variables are also touched without the lock, as relaxed atomics
 * paired with nothing:
 *   method    read by us_writer_method() (planning under the registry
 *             lock, stats): a reader that sees the old method plans a
 *             batch that the engine, under the lock, writes with the new
 *             one or refuses;
 *   text_gen  bumped by us_writer_text_changed() under the registry lock:
 *             a batch that touches a new object's code is planned under
 *             that lock after the object was published, and takes the
 *             engine lock after it, so it sees the bump; a batch that
 *             sees a stale value only looks pages up in the cache one
 *             batch longer, and reads the maps again on a miss anyway.
 */
static int method = USTATIC_WRITE_PROCMEM;
static int method_locked;	/* chosen by USTATIC_WRITE or a test: no fallback */

/* Ways refused for good (by the kernel, a sandbox, or because there is no
 * /proc): auto moves on to the next way, saying so once. */
static bool procmem_refused, mprotect_refused;

/* The open window: its way (a batch may use mprotect while the method is
 * still procmem, when the descriptor could not be opened this time), and
 * whether the batch runs with no other thread. */
static int win = USTATIC_WRITE_NONE;
static bool win_alone;

/*
 * The /proc/self/mem descriptor, opened by the first batch that writes
 * code (a process that never changes code never holds one).
 * Descriptors are the program's: it may close ours and reuse the number
 * (daemons close everything at start-up and open their log files), and a
 * child forked without our atfork handler (_Fork(), a raw clone())
 * inherits it still writing the parent's memory. So nothing is written
 * through it unless it was proven just before to be the file we opened
 * (fstat(): same device and inode, which stat("/proc/self/mem") gave
 * right after the open) in the process that opened it (getpid()): at the
 * start of every batch, and the file again before every write unless no
 * other thread exists (the batch then holds back asynchronous signals, so
 * nothing runs between the proof and the write). A number that fails the
 * proof is forgotten, never closed: it is the program's now. A descriptor
 * that is gone is opened again.
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
 * Opened late, it cannot be opened at all once the program has entered a
 * sandbox that forbids it (no /proc, a seccomp or Landlock policy) before
 * its first change of code; the mprotect window is the fallback then.
 */
static int mem_fd = -1;
static pid_t mem_pid;		/* the process that opened it */
static dev_t mem_dev;		/* what fstat() said then */
static ino_t mem_ino;
static bool mem_probed;		/* code written through it ran */

/*
 * Times an open or a write is tried when another thread takes the
 * descriptor from us between it and its proof, each time anew. Taking it
 * once is a program closing what it does not own; four times in a row
 * within microseconds is one doing nothing else: give up then.
 */
#define MEM_TRIES 4

static int get_method(void)
{
	return __atomic_load_n(&method, __ATOMIC_RELAXED);
}

static void set_method(int m)
{
	__atomic_store_n(&method, m, __ATOMIC_RELAXED);
}

/*
 * A way was refused for good: auto moves on to the next one that was not
 * (procmem, then mprotect, then none), and says so, once per change.
 */
static void refuse(int way, int err, const char *what)
{
	int next;

	if (way == USTATIC_WRITE_PROCMEM)
		procmem_refused = true;
	else
		mprotect_refused = true;
	if (method_locked)
		return;
	next = !procmem_refused ? USTATIC_WRITE_PROCMEM :
	       !mprotect_refused ? USTATIC_WRITE_MPROTECT : USTATIC_WRITE_NONE;
	if (next == get_method())
		return;
	set_method(next);
	if (next == USTATIC_WRITE_MPROTECT)
		us_log("writer: %s: %s; falling back to mprotect(RWX) windows: "
		       "the pages being patched are writable and executable "
		       "while a batch runs", what, strerror(-err));
	else
		us_log("writer: %s: %s; no way to write code, live patching "
		       "off", what, strerror(-err));
}

/* An error that a sandbox, the kernel's policy or a missing /proc gives
 * every time, as opposed to one that may pass (EMFILE, ENOMEM, EINTR). */
static bool is_refusal(int err)
{
	return err == -ENOENT || err == -EACCES || err == -EPERM ||
	       err == -EROFS || err == -ENXIO || err == -ENOTDIR;
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

/* Whether mem_fd still is the file we opened, open for writing: not
 * closed, not reused (a program that closes ours and opens
 * /proc/self/mem read-only for itself gets the same number and file). */
static bool mem_fd_same_file(void)
{
	struct stat st;
	int fl;

	return mem_fd >= 0 && !fstat(mem_fd, &st) &&
	       st.st_dev == mem_dev && st.st_ino == mem_ino &&
	       (fl = fcntl(mem_fd, F_GETFL)) >= 0 && (fl & O_ACCMODE) == O_RDWR;
}

/* Forgets mem_fd without closing it (it is not ours) and opens anew. */
static int reopen_mem(void)
{
	us_log("writer: descriptor %d is no longer our /proc/self/mem "
	       "(closed or reused by the program); opening a new one", mem_fd);
	mem_fd = -1;
	return open_mem();
}

/* Makes mem_fd a descriptor of this process's own memory, opening one
 * if there is none yet, or fails. */
static int own_mem_fd(void)
{
	bool same;

	if (mem_fd < 0)
		return open_mem();
	same = mem_fd_same_file();
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
	const char *e = secure_getenv("USTATIC_WRITE");
	struct stat st;
	int m = USTATIC_WRITE_PROCMEM;

	if (!e || !*e || !strcmp(e, "auto"))
		m = USTATIC_WRITE_PROCMEM;
	else if (!strcmp(e, "mprotect"))
		m = USTATIC_WRITE_MPROTECT, method_locked = 1;
	else if (!strcmp(e, "procmem"))
		m = USTATIC_WRITE_PROCMEM, method_locked = 1;
	else if (!strcmp(e, "none"))
		m = USTATIC_WRITE_NONE, method_locked = 1;
	else
		us_log("writer: unknown USTATIC_WRITE=%s, using auto", e);
	set_method(m);
	if (m == USTATIC_WRITE_MPROTECT)
		us_log("writer: USTATIC_WRITE=mprotect: the pages being patched "
		       "are writable and executable while a batch runs");
	/* No descriptor yet: only whether there is a file to open. */
	if (m == USTATIC_WRITE_PROCMEM && stat("/proc/self/mem", &st)) {
		refuse(USTATIC_WRITE_PROCMEM, -errno, "no /proc/self/mem");
		if (method_locked)
			set_method(USTATIC_WRITE_NONE);
	}
}

void us_writer_after_fork(void)
{
	/* Ours, but a copy that writes the parent: the child opens its own
	 * when it first changes code. */
	if (mem_fd >= 0 && mem_fd_same_file())
		close(mem_fd);
	mem_fd = -1;
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

/* Whether the code at dst holds src: a write through a descriptor that
 * was taken from us went elsewhere. (Reading text through memcmp is fine
 * under the sanitizers; only stores into it are kept from them.) */
static bool holds(const uint8_t *dst, const uint8_t *src, size_t len)
{
	return !memcmp(dst, src, len);
}

/*
 * A pwrite() through a descriptor proven ours just before (when `prove`;
 * else by the caller, with nothing running since), and checked after: 0,
 * -EAGAIN when the descriptor was taken from us (the write went elsewhere
 * or nowhere; mem_fd is then forgotten) or could not be opened again, or
 * the error of a write our own descriptor refused (-EIO when it reported
 * success but the code does not hold the bytes: qemu-user).
 */
static int pwrite_mem(const void *src, size_t len, void *dst, bool prove)
{
	ssize_t n;
	int err;

	if (mem_fd < 0 ? open_mem() : prove && !mem_fd_same_file() && reopen_mem())
		return -EAGAIN;
	n = pwrite(mem_fd, src, len, (off_t)(uintptr_t)dst);
	err = n < 0 ? -errno : -EIO;
	if (n == (ssize_t)len && holds(dst, src, len))
		return 0;
	if (!mem_fd_same_file()) {
		us_log("writer: descriptor %d was taken from us while we wrote "
		       "through it; writing again through a new one", mem_fd);
		mem_fd = -1;	/* the program's now: forgotten, not closed */
		return -EAGAIN;
	}
	if (n >= 0 && n < (ssize_t)len)
		return -EFAULT;		/* a short write: a page it cannot reach */
	return err;
}

/* pwrite_mem() again, through a new descriptor each time, while the
 * program keeps taking ours. A refusal of our own descriptor (the
 * kernel's proc_mem.force_override, a seccomp filter, qemu-user) is for
 * good. */
static int write_mem(void *dst, const void *src, size_t len, bool prove)
{
	int err = -EAGAIN;

	for (int i = 0; i < MEM_TRIES && err == -EAGAIN; i++)
		err = pwrite_mem(src, len, dst, prove || i);
	if (err == -EAGAIN)
		err = -EBADF;
	if (err == -EIO || err == -EPERM || err == -EACCES)
		refuse(USTATIC_WRITE_PROCMEM, err, "pwrite(/proc/self/mem) refused");
	return err ? us_fail(err, "writer: pwrite(/proc/self/mem)") : 0;
}

/*
 * Whether code written through /proc/self/mem is the code that runs. The
 * kernel may refuse the write (proc_mem.force_override=never: EIO), and an
 * emulator may take it without its translated code ever seeing it
 * (qemu-user, whose guest then reads the new bytes back but runs the old
 * ones). So once per process the writer changes the constant a function
 * of its own returns, calls it, and puts it back. That page of our own
 * text becomes a private copy, as every page we patch does. The function
 * is ours alone: no other thread runs it while it changes.
 */
#if defined(__x86_64__)
/* endbr64; mov $0, %eax; ret: the immediate is at byte 5. */
__asm__(".pushsection .text\n.balign 16\n"
	".globl us_writer_probe\n.hidden us_writer_probe\n"
	".type us_writer_probe,@function\n"
	"us_writer_probe:\n.byte 0xf3,0x0f,0x1e,0xfa\nmovl $0,%eax\nret\n"
	".size us_writer_probe,.-us_writer_probe\n.popsection\n");
#define PROBE_AT 5
static const uint8_t probe_off[4] = { 0, 0, 0, 0 }, probe_on[4] = { 1, 0, 0, 0 };
#elif defined(__aarch64__)
/* bti c; mov w0, #0; ret: the mov is the second word. */
__asm__(".pushsection .text\n.balign 16\n"
	".globl us_writer_probe\n.hidden us_writer_probe\n"
	".type us_writer_probe,%function\n"
	"us_writer_probe:\nhint 34\nmov w0, #0\nret\n"
	".size us_writer_probe,.-us_writer_probe\n.popsection\n");
#define PROBE_AT 4
static const uint8_t probe_off[4] = { 0x00, 0x00, 0x80, 0x52 },
		     probe_on[4] = { 0x20, 0x00, 0x80, 0x52 };
#endif

#ifdef PROBE_AT
int us_writer_probe(void);

/* Writes the probe's constant and makes this CPU fetch it anew. */
static int set_probe(const uint8_t *bytes)
{
	uint8_t *at = (uint8_t *)(uintptr_t)us_writer_probe + PROBE_AT;
	int err = write_mem(at, bytes, 4, !win_alone);

	if (!err) {
		VALGRIND_DISCARD_TRANSLATIONS(at, 4);
		us_arch_flush_icache(at, 4);
		us_arch_serialize();
	}
	return err;
}

static int probe_mem(void)
{
	int err, seen;

	/* Run once first: an emulator then holds a translation of the old
	 * code, which a write it does not see leaves in use. */
	if (us_writer_probe() != 0)
		return us_fail(-EIO, "writer: the probe function was changed");
	if ((err = set_probe(probe_on)))
		return err;
	seen = us_writer_probe();
	err = set_probe(probe_off);
	if (!err && seen != 1) {
		err = -EIO;
		refuse(USTATIC_WRITE_PROCMEM, err, "code written through "
		       "/proc/self/mem does not run (an emulator?)");
	}
	return err;
}
#else
static int probe_mem(void)
{
	return 0;
}
#endif

/* The descriptor for a batch, and once per process the probe above. */
static int begin_procmem(void)
{
	int err = own_mem_fd();

	if (err) {
		if (is_refusal(err))
			refuse(USTATIC_WRITE_PROCMEM, err, "cannot open /proc/self/mem");
		return err;
	}
	if (mem_probed)
		return 0;
	err = probe_mem();
	mem_probed = !err;
	return err;
}

/* ---- the mprotect fallback: page protections, cached ---- */

/*
 * The executable mappings and their protections, from /proc/self/maps
 * (or, without /proc, from the loaded objects' program headers), read
 * when first needed and again only after us_writer_text_changed() or when
 * a page is not found. Our own mprotect() puts back the protection read
 * from here, so a restore that succeeds leaves it true; one that fails
 * makes it be read again. A program that changes the protection of its
 * own code itself is not seen until then.
 */
struct mapping {
	uintptr_t start, end;
	int prot;
};
static struct mapping *xmaps;
static size_t nxmaps;
static unsigned long xmaps_gen;		/* text_gen when read; 0: never */
static unsigned long text_gen = 1;

void us_writer_text_changed(void)
{
	__atomic_add_fetch(&text_gen, 1, __ATOMIC_RELAXED);
}

static int cmp_mapping(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int add_mapping(struct mapping **m, size_t *n, size_t *cap,
		       struct mapping one)
{
	if (*n == *cap) {
		struct mapping *nm = realloc(*m, (*cap = *cap ? 2 * *cap : 16) *
					     sizeof(**m));
		if (!nm)
			return -ENOMEM;
		*m = nm;
	}
	(*m)[(*n)++] = one;
	return 0;
}

/* Reads a whole file into a NUL-terminated buffer. */
static int slurp(const char *path, char **out)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t got;

	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	while ((got = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)got;
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
	}
	if (got < 0)
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

/* The executable lines of /proc/self/maps (sorted by address there). */
static int read_exec_maps(struct mapping **out, size_t *count)
{
	struct mapping *m = NULL;
	size_t n = 0, cap = 0;
	char *buf, *line, *save;
	int err = slurp("/proc/self/maps", &buf);

	if (err)
		return err;
	for (line = strtok_r(buf, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long s, e;
		char p[5];

		if (sscanf(line, "%lx-%lx %4s", &s, &e, p) != 3 || p[2] != 'x')
			continue;
		err = add_mapping(&m, &n, &cap, (struct mapping){ s, e,
			(p[0] == 'r' ? PROT_READ : 0) |
			(p[1] == 'w' ? PROT_WRITE : 0) | PROT_EXEC });
	}
	free(buf);
	if (err) {
		free(m);
		return err;
	}
	*out = m;
	*count = n;
	return 0;
}

struct segments {
	struct mapping *m;
	size_t n, cap;
	int err;
};

/* Every executable PT_LOAD segment of a loaded object, as whole pages. */
static int add_segments(struct dl_phdr_info *info, size_t size US_UNUSED,
			void *arg)
{
	struct segments *s = arg;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; !s->err && i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		s->err = add_mapping(&s->m, &s->n, &s->cap, (struct mapping){
			start & ~(pg - 1), (start + ph->p_memsz + pg - 1) & ~(pg - 1),
			(ph->p_flags & PF_R ? PROT_READ : 0) |
			(ph->p_flags & PF_W ? PROT_WRITE : 0) | PROT_EXEC });
	}
	return s->err;
}

/* Without /proc (a container or sandbox that has none): the pages we
 * write are all in loaded objects' executable segments. */
static int read_exec_segments(struct mapping **out, size_t *count)
{
	struct segments s = { 0 };

	dl_iterate_phdr(add_segments, &s);
	if (s.err) {
		free(s.m);
		return s.err;
	}
	qsort(s.m, s.n, sizeof(*s.m), cmp_mapping);
	*out = s.m;
	*count = s.n;
	return 0;
}

static int refresh_xmaps(unsigned long gen)
{
	struct mapping *m = NULL;
	size_t n = 0;
	int err = read_exec_maps(&m, &n);

	if (err == -ENOENT || err == -EACCES || err == -EPERM) {
		us_log("writer: /proc/self/maps unreadable (%s); page "
		       "protections from the program headers", strerror(-err));
		err = read_exec_segments(&m, &n);
	}
	if (err)
		return err;
	free(xmaps);
	xmaps = m;
	nxmaps = n;
	xmaps_gen = gen;
	return 0;
}

static int find_prot(uintptr_t page)
{
	size_t lo = 0, hi = nxmaps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (page < xmaps[mid].start)
			hi = mid;
		else if (page >= xmaps[mid].end)
			lo = mid + 1;
		else
			return xmaps[mid].prot;
	}
	return -1;
}

/* The protection of a page of code; the cache is read again (once per
 * *fresh) when stale or when it does not know the page. */
static int prot_of_page(uintptr_t page, bool *fresh)
{
	unsigned long gen = __atomic_load_n(&text_gen, __ATOMIC_RELAXED);
	int prot, err;

	if (xmaps_gen != gen && !*fresh) {
		if ((err = refresh_xmaps(gen)))
			return err;
		*fresh = true;
	}
	prot = find_prot(page);
	if (prot < 0 && !*fresh) {
		if ((err = refresh_xmaps(gen)))
			return err;
		*fresh = true;
		prot = find_prot(page);
	}
	return prot < 0 ? -EFAULT : prot;
}

/* Page runs made writable by the open window, with their original prot. */
struct page_run {
	uintptr_t start, end;
	int prot;
};
static struct page_run *runs;
static size_t nruns;

/* Groups the pages under r[] into runs of equal original protection. */
static int plan_runs(const struct us_range *r, size_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	size_t cap = 16;
	bool fresh = false;

	nruns = 0;
	runs = malloc(cap * sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		for (uintptr_t p = r[i].start & ~(pg - 1); p < r[i].end; p += pg) {
			struct page_run *last = nruns ? &runs[nruns - 1] : NULL;
			int prot;

			if (last && p < last->end)
				continue;
			prot = prot_of_page(p, &fresh);
			if (prot < 0)
				return prot;
			if (last && last->end == p && last->prot == prot) {
				last->end = p + pg;
				continue;
			}
			if (nruns == cap) {
				struct page_run *nr = realloc(runs, (cap *= 2) * sizeof(*runs));

				if (!nr)
					return -ENOMEM;
				runs = nr;
			}
			runs[nruns++] = (struct page_run){ p, p + pg, prot };
		}
	}
	return 0;
}

static void restore_runs(size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (mprotect((void *)runs[i].start, runs[i].end - runs[i].start,
			     runs[i].prot)) {
			us_log("writer: restoring protection failed: %s",
			       strerror(errno));
			xmaps_gen = 0;
		}
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

/* The window of the mprotect way over the pages of the ranges. */
static int begin_mprotect(us_ranges_fn *ranges, void *arg)
{
	size_t n = ranges(arg, NULL);
	struct us_range *r = malloc((n ? n : 1) * sizeof(*r));
	int err = r ? 0 : -ENOMEM;

	if (!err) {
		ranges(arg, r);
		err = plan_runs(r, n);
		free(r);
	}
	if (!err)
		err = open_runs();
	if (!err)
		return 0;
	free_runs();
	if (err == -EACCES || err == -EPERM)
		refuse(USTATIC_WRITE_MPROTECT, err, "mprotect(RWX) refused "
		       "(a W^X policy)");
	return err;
}

int us_writer_begin(us_ranges_fn *ranges, void *arg, bool alone)
{
	int m = get_method(), err = -EPERM;

	us_assert_held(&us_engine_lock);
	win_alone = alone;
	if (m == USTATIC_WRITE_PROCMEM) {
		err = begin_procmem();
		if (!err) {
			win = USTATIC_WRITE_PROCMEM;
			return 0;
		}
		if (method_locked)
			return us_fail(-EPERM, "writer: no /proc/self/mem "
				       "descriptor of our own for this batch");
		if (get_method() == USTATIC_WRITE_PROCMEM)
			us_log("writer: /proc/self/mem unusable for this batch "
			       "(%s); an mprotect(RWX) window instead",
			       strerror(-err));
		m = USTATIC_WRITE_MPROTECT;
	}
	if (m == USTATIC_WRITE_MPROTECT) {
		err = begin_mprotect(ranges, arg);
		if (!err) {
			win = USTATIC_WRITE_MPROTECT;
			return 0;
		}
		if (method_locked || !is_refusal(err))
			return us_fail(err, "writer: mprotect(RWX)");
	}
	return us_fail(-EPERM, "writer: no way to write code, live patching off");
}

/*
 * Plain byte stores into text (the mprotect way): TSan has no shadow for
 * it, keep it out. A byte that already holds its value is not stored
 * again (a write covers the code between nearby entries, which nothing
 * but us changes while we hold the engine lock).
 */
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
		if (dst[i] != src[i])
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
	if (win == USTATIC_WRITE_PROCMEM) {
		int err = write_mem(dst, src, len, !win_alone);

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
	if (win == USTATIC_WRITE_MPROTECT)
		restore_runs(nruns);
	free_runs();
	win = USTATIC_WRITE_NONE;
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
	if (err == -EACCES || err == -EPERM)
		refuse(USTATIC_WRITE_MPROTECT, err, "mprotect(RWX) refused "
		       "(a W^X policy)");
	return err;
}

int us_writer_rescue(void *dst, const void *src, size_t len)
{
	int err;

	us_assert_held(&us_engine_lock);
	if (win == USTATIC_WRITE_MPROTECT) {
		err = own_mem_fd() ? -EBADF : write_mem(dst, src, len, true);
	} else {
		us_log("writer: writing %zu byte(s) at %p through an mprotect "
		       "window: that page is writable and executable meanwhile",
		       len, dst);
		err = store_through_mprotect(dst, src, len);
	}
	if (!err)
		VALGRIND_DISCARD_TRANSLATIONS(dst, len);
	return err;
}
