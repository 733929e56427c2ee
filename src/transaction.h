/* SPDX-License-Identifier: MIT */
/*
 * Transactions (ustatic_batch_begin/commit/abort): a thread's static-call
 * updates and key changes, queued and applied as one engine batch.
 */
#ifndef USTATIC_TRANSACTION_H
#define USTATIC_TRANSACTION_H

#include <stdbool.h>

#include "debug.h"

enum us_key_op { US_KEY_INC, US_KEY_DEC, US_KEY_ENABLE, US_KEY_DISABLE };

bool us_transaction_active(void);
int us_transaction_add_call(struct static_call_key *key, void *func);
int us_transaction_add_key(struct static_key *key, enum us_key_op op);

#endif
