/* SPDX-License-Identifier: MIT */
/* Library start-up: runs once, from a constructor or from the first call. */
#ifndef USTATIC_INIT_H
#define USTATIC_INIT_H

void us_init(void);

#endif
