/* SPDX-License-Identifier: MIT */
/*
 * The SIGTRAP handler behind the int3 protocol. While a batch is
 * published, a thread that hits one of its int3 guards has the new
 * instruction emulated. Traps that arrive after the batch (the int3 is
 * gone, or a debugger already rewound the PC) re-execute the instruction.
 * Everything else goes to the handler that was installed before ours.
 * The handler never blocks the writer: see trap.c.
 */
#ifndef USTATIC_TRAP_H
#define USTATIC_TRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "patch.h"

void us_trap_init(void);

/* Whether a user shadow stack is active (or forced): CALLs are then never
 * emulated, so no inline CALL site is ever guarded by int3. */
bool us_trap_shadow_stack(void);

/* Any lock or none. Whether int3 guards may be placed now: the handler is
 * installed (or may be: it is installed by the first us_trap_publish()),
 * and no thread blocks SIGTRAP (which would make the kernel kill the
 * process). */
bool us_trap_usable(void);

/* Engine lock held. Makes sorted v[0..n) visible to the handler, which
 * emulates each entry's old instruction, and adds its addresses to the
 * late-trap history, before any int3 is placed; installs the handler
 * first if no batch has yet. -ENOMEM or -EAGAIN (no handler: nothing
 * published) are its failures. */
int us_trap_publish(const struct us_patch *v, size_t n);
/* From now on the handler emulates the new (or again the old) ones. */
void us_trap_show(const struct us_patch *v, size_t n, bool new_insn);
/* A failed batch's int3 guards that could not be taken back: the handler
 * runs them as their old instructions from now on. */
void us_trap_keep(const struct us_patch *v, size_t n);
/* Hides the batch. Does not wait for handlers. */
void us_trap_unpublish(void);

#endif
