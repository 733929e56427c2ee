/* SPDX-License-Identifier: MIT */
/*
 * valgrind's client requests when its header is installed, harmless
 * stand-ins otherwise: code runs the same way outside valgrind.
 */
#ifndef USTATIC_UNDER_VALGRIND_H
#define USTATIC_UNDER_VALGRIND_H

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#ifndef VALGRIND_DISCARD_TRANSLATIONS
#define VALGRIND_DISCARD_TRANSLATIONS(addr, len) ((void)(addr), (void)(len))
#endif

#endif
