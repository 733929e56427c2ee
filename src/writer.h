/* SPDX-License-Identifier: MIT */
/*
 * The text writer: puts bytes into live code without ever making a page
 * non-executable, and by default without ever making one writable.
 * Methods, in order: pwrite() to /proc/self/mem (the kernel writes the
 * page through its own mapping, as it pokes its own text through a
 * temporary mm: the live mapping stays r-x, under PR_SET_MDWE and seccomp
 * W^X filters too); mprotect(RWX) on the touched pages for the length of
 * a batch, restored afterwards, only where /proc/self/mem cannot be used;
 * none (degraded mode). Nothing is opened before the first batch.
 */
#ifndef USTATIC_WRITER_H
#define USTATIC_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct us_range {
	uintptr_t start, end;		/* [start, end) bytes to be written */
};

/* Reads USTATIC_WRITE=auto|mprotect|procmem|none. Opens nothing. */
void us_writer_init(void);
/* In a fork child: the inherited /proc/self/mem fd writes the parent. */
void us_writer_after_fork(void);

/* Fills r (unless NULL) with the sorted ranges a batch writes; returns
 * how many. Called only when they are needed (the mprotect window). */
typedef size_t us_ranges_fn(void *arg, struct us_range *r);

/*
 * Opens a write window on the ranges ranges(arg) gives: after 0,
 * us_writer_write() may write inside them until us_writer_end(). `alone`:
 * no other thread exists (and the caller holds back asynchronous
 * signals), so nothing can take the descriptor between the proof made
 * here and each write. -EPERM when no method works.
 */
int us_writer_begin(us_ranges_fn *ranges, void *arg, bool alone);
int us_writer_write(void *dst, const void *src, size_t len);
/* Inside the window, after us_writer_write() failed: the same write the
 * other way (/proc/self/mem for mprotect, and back). 0 or -errno. */
int us_writer_rescue(void *dst, const void *src, size_t len);
void us_writer_end(void);

/*
 * The executable mappings may have changed (an object was registered or
 * unregistered): the page protections the mprotect fallback cached from
 * /proc/self/maps are read again before they are used next. Any lock.
 */
void us_writer_text_changed(void);

/* Tests: writes number [from, from + count) of the window's way fail
 * with -EIO (counted from this call). */
void us_writer_test_fail(unsigned long from, unsigned long count);

/* enum ustatic_write_method */
int us_writer_method(void);
/* For tests: switch methods at run time (-EINVAL for an unusable one). */
int us_writer_force(int method);

#endif
