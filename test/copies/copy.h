/* SPDX-License-Identifier: MIT */
/* What test/copies.c finds in each plugin with its own copy of ustatic. */
#include <ustatic.h>

int copy_call(void);
int copy_branch(void);
int copy_update(int k);
int copy_key_set(int on);
int copy_stats(struct ustatic_stats *st);
