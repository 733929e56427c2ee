/* SPDX-License-Identifier: MIT */
/*
 * Whether a tracer (gdb, lldb, strace, ...) is attached. A debugger sees
 * every SIGTRAP of the process before it is delivered, stops on it and,
 * unless told otherwise, throws it away: an int3 guard met by a thread
 * under a debugger stops the program (gdb's batch mode then kills it).
 * So while a tracer is attached the engine places no int3 guards.
 */
#ifndef USTATIC_TRACER_H
#define USTATIC_TRACER_H

#include <stdbool.h>

/*
 * Whether the process is traced now: TracerPid of the thread-group
 * leader, from /proc/self/status (about 5 us). A file that cannot be read
 * or parsed counts as traced (see tracer.c). Asked by the updating thread
 * before each batch that would place int3.
 */
bool us_tracer_attached(void);

#endif
