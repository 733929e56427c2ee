/* SPDX-License-Identifier: MIT */
/*
 * The today-vs-new comparison (bench/compare.sh, issue 13): what its
 * programs share. Each program is built twice, against the library of
 * each side, runs one row of the comparison in a fresh process and prints
 * its results as one line per measurement:
 *
 *   R id=ROW key=value key=value ...
 *
 * which compare.sh collects and bench/compare.awk turns into tables.
 */
#ifndef USTATIC_BENCH_CMP_H
#define USTATIC_BENCH_CMP_H

#include <stddef.h>

#include "bench.h"

/* One result line on stdout, flushed at once (the process may die next). */
void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The floor: three bare membarrier(PRIVATE_EXPEDITED_SYNC_CORE) rounds,
 * what every int3-protocol update must pay at least. floor_init()
 * registers the process for them (the kernel refuses them before).
 */
int floor_init(void);
double floor_us(void);

/* Median of n values (sorts v); 0 when n is 0. */
double med(double *v, int n);

/* Lines of /proc/self/maps: the number of mappings. */
int count_maps(void);

/*
 * Runs fn(arg) in a forked child and waits at most timeout_s seconds.
 * What the child counts belongs in shared memory (shared_alloc), so that
 * the counts survive its death. Returns the signal that killed the child,
 * 0 when it exited 0, -1 when it timed out (and was killed), -2 when it
 * exited with another status.
 */
void *shared_alloc(size_t size);
int run_child(void (*fn)(void *arg), void *arg, int timeout_s);

/* Rows of `cmp` in their own files: cmp_wx.c, cmp_sigwait.c. */
int row_wx(int argc, char **argv);
int row_sigwait(int argc, char **argv);

#endif
