/* SPDX-License-Identifier: MIT */
/*
 * No per-mapping work per batch: updates never read /proc/self/maps,
 * whose size grows with the process's mappings. Counted by interposing
 * open(), openat() and fopen() in this executable (the library, linked in
 * statically, calls ours):
 *   default writer  static-call updates (between a function of this
 *                   executable and libc's abs(), a loaded object that
 *                   uses no ustatic) and key flips, alone and beside a
 *                   thread that runs the sites: no read at all;
 *   mprotect        the fallback caches the page protections: one read
 *                   for the first batch, none for the next ones, one
 *                   again after the executable mappings may have changed
 *                   (us_writer_text_changed(), which object registration
 *                   and unregistration call), then none.
 * Convinced it can fail: against main (c69296a), which read the maps in
 * every mprotect batch and for every target outside a registered object,
 * the first part counts hundreds of reads.
 * White-box for the last step (src/writer.h).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <ustatic.h>

#include "writer.h"
#include "helpers.h"
#include "test.h"

static atomic_long maps_opens;

static void count(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (n > 5 && !strncmp(path, "/proc/", 6) && !strcmp(path + n - 5, "/maps"))
		atomic_fetch_add(&maps_opens, 1);
}

static int open_at(int dirfd, const char *path, int flags, va_list ap)
{
	mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;

	count(path);
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

/* The library's opens come here (this executable defines them). */
int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_at(AT_FDCWD, path, flags, ap);
	va_end(ap);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_at(dirfd, path, flags, ap);
	va_end(ap);
	return fd;
}

/* glibc's *64 names are symbols of their own; musl's are macros. */
#ifdef __GLIBC__
int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_at(AT_FDCWD, path, flags, ap);
	va_end(ap);
	return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_at(dirfd, path, flags, ap);
	va_end(ap);
	return fd;
}
#endif

static FILE *open_file(const char *path, const char *mode)
{
	int flags = strchr(mode, '+') ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
	int fd;
	FILE *f;

	if (mode[0] == 'w')
		flags |= O_CREAT | O_TRUNC;
	if (mode[0] == 'a')
		flags |= O_CREAT | O_APPEND;
	if (strchr(mode, 'e'))
		flags |= O_CLOEXEC;
	fd = open(path, flags, 0666);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, mode[0] == 'r' ? (strchr(mode, '+') ? "r+" : "r") :
		   mode[0] == 'w' ? (strchr(mode, '+') ? "w+" : "w") :
		   (strchr(mode, '+') ? "a+" : "a"));
	if (!f)
		close(fd);
	return f;
}

FILE *fopen(const char *path, const char *mode)
{
	return open_file(path, mode);
}

#ifdef __GLIBC__
FILE *fopen64(const char *path, const char *mode)
{
	return open_file(path, mode);
}
#endif

DEFINE_STATIC_CALL(mr_call, t_fa);
DEFINE_STATIC_KEY_FALSE(mr_key);

T_CALL_SITE(call_it, mr_call)
T_BRANCH(branch, static_branch_unlikely, &mr_key)

/* abs() lives in libc, which registers nothing with ustatic. */
static int (*const targets[2])(int) = { t_fa, abs };

static void update(long i)
{
	CHECK_EQ(static_call_update(mr_call, targets[i & 1]), 0);
	CHECK_EQ(call_it(-10), i & 1 ? 10 : -9);
	CHECK_EQ(T_BRANCH_SET(&mr_key, i & 1), 0);
	CHECK_EQ(branch(), i & 1);
}

/* Reads of the maps by n updates. */
static long reads_of(long n)
{
	long before = atomic_load(&maps_opens);

	for (long i = 0; i < n; i++)
		update(i);
	return atomic_load(&maps_opens) - before;
}

static atomic_bool stop;

static void *caller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int r = call_it(-10);

		CHECK(r == 10 || r == -9);
		(void)branch();
	}
	return NULL;
}

int main(void)
{
	long alone, beside, first, next, changed, after;
	long start = atomic_load(&maps_opens);
	pthread_t th;

	t_skip_without_procmem();
	if (getenv("USTATIC_WRITE"))
		SKIP("USTATIC_WRITE chooses the writer");
	/* The interposition works: one read through each of ours. */
	fclose(fopen("/proc/self/maps", "re"));
	close(open("/proc/self/maps", O_RDONLY));
	CHECK_EQ(atomic_load(&maps_opens) - start, 2);

	alone = reads_of(200);
	CHECK_EQ(pthread_create(&th, NULL, caller, NULL), 0);
	beside = reads_of(200);
	printf("default writer: maps read %ld times by 200 updates alone, "
	       "%ld times by 200 beside a thread\n", alone, beside);
	CHECK_EQ(alone, 0);
	CHECK_EQ(beside, 0);

	CHECK_EQ(us_writer_force(USTATIC_WRITE_MPROTECT), 0);
	first = reads_of(1);
	next = reads_of(200);
	us_writer_text_changed();
	changed = reads_of(1);
	after = reads_of(200);
	printf("mprotect fallback: %ld read(s) by the first batch, %ld by 200 "
	       "more, %ld after a change of the mappings, %ld by 200 more\n",
	       first, next, changed, after);
	CHECK(first <= 1);
	CHECK_EQ(next, 0);
	CHECK_EQ(changed, 1);
	CHECK_EQ(after, 0);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	return T_EXIT_PASS;
}
