/* SPDX-License-Identifier: MIT */
/*
 * The SIGTRAP handler behind the int3 protocol. While a batch is
 * published, a thread that hits one of its int3 guards has the new
 * instruction emulated. Traps that arrive after the batch (the int3 is
 * gone, or a debugger already rewound the PC) re-execute the instruction.
 * Everything else goes to the handler that was installed before ours.
 */
#ifndef USTATIC_TRAP_H
#define USTATIC_TRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"

void us_trap_init(void);

/* Whether int3 guards may be placed now: our handler is installed and no
 * thread blocks SIGTRAP (which would make the kernel kill the process). */
bool us_trap_usable(void);

/* Makes v[0..n) (sorted by address) visible to the handler. */
void us_trap_publish(const struct us_patch *v, size_t n);
/* Prepares (before any int3 is placed: it allocates) and then records the
 * batch's addresses, so that late traps on them are recognised. */
int us_trap_prepare_history(const struct us_patch *v, size_t n);
void us_trap_remember(void);
/* Hides the batch, then waits until no thread is inside the handler. */
void us_trap_unpublish(void);

/* Under a user shadow stack CALLs are never emulated (also for tests). */
void us_trap_set_shadow_stack(bool on);

#endif
