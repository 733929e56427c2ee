/* SPDX-License-Identifier: MIT */
/*
 * Dynamic debug and names, as the control interface (control.c) sees them:
 * the internal contract between the engine side (dyndbg.c, names.c) and the
 * socket side. Every function here takes the library's locks itself and is
 * callable from any thread.
 */
#ifndef USTATIC_DYNDBG_H
#define USTATIC_DYNDBG_H

#include <stddef.h>

/* One line of text, no newline; return 0 to go on, or -errno to stop the
 * walk (returned as is). */
typedef int (*us_emit_fn)(void *ctx, const char *line);

/* Runs one or more queries (the kernel's dynamic-debug language,
 * ';'-separated). Returns the number of sites whose flags changed, or
 * -errno with a one-line message in err saying exactly where the query is
 * wrong (column and token). Nothing is changed on error. */
int us_dyndbg_query(const char *query, char *err, size_t errlen);

/* One line per debug site, the kernel's control-file format:
 *   FILE:LINE [MODULE]FUNC =FLAGS "FORMAT"
 * (FLAGS "_" when none; the format escaped with \n, \t, \", \\ and \ooo). */
int us_dyndbg_list(us_emit_fn emit, void *ctx);

/* One line per named static key and static call, in every object loaded:
 *   key MODULE:NAME enabled|disabled count N
 *   call MODULE:NAME target SYMBOL
 * (SYMBOL as "name", "name+0xOFF" or "MODULE+0xOFF"). */
int us_names_list(us_emit_fn emit, void *ctx);

/* What us_names_key_op() does (the first four are static_key.c's too). */
enum us_key_op { US_KEY_ENABLE, US_KEY_DISABLE, US_KEY_INC, US_KEY_DEC,
		 US_KEY_COUNT };

/* NAME is "NAME" or "MODULE:NAME" (an element of a key array:
 * "NAME[I]"). An unqualified name found in several objects is -EINVAL
 * with "ambiguous" in err. Returns the count for US_KEY_COUNT, 0 for the
 * others, or -errno with err set. */
int us_names_key_op(const char *name, enum us_key_op op, char *err,
		    size_t errlen);

#endif
