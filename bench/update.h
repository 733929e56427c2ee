/* SPDX-License-Identifier: MIT */
/* The update-side benchmarks (update.c) and the targets summary. */
#ifndef USTATIC_BENCH_UPDATE_H
#define USTATIC_BENCH_UPDATE_H

void bench_update_latency(int quick);
void bench_throughput(int quick);

/* objects.c: registering 10,000 markers on dlopen; one update of a static
 * call whose sites are in the executable and two shared objects. */
void bench_register(int quick);
void bench_split(int quick);

/* Private dirty memory before registration (a priority-102 constructor),
 * at main() and after the updates. */
void memory_snapshot_main(void);
void bench_memory(void);

/* Records a target: value `op` limit, op "<=", ">=" or "==". */
void target_ratio(const char *what, double value, double limit, const char *op);
/* Records a correctness failure (wrong results seen by a busy thread). */
void bench_failed(const char *what, unsigned long count);
/* Prints every target met or missed; returns the exit status. */
int print_targets(void);

#endif
