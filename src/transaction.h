/* SPDX-License-Identifier: MIT */
/*
 * Transactions (ustatic_batch_begin/commit/abort): a thread's static-call
 * updates and key changes, recorded and applied as one engine batch.
 */
#ifndef USTATIC_TRANSACTION_H
#define USTATIC_TRANSACTION_H

#include <stdbool.h>

#include "static_key.h"

bool us_transaction_active(void);
int us_transaction_add_call(struct static_call_key *key, void *func);
int us_transaction_add_key(struct static_key *key, enum us_key_op op);
/* A change of the open batch failed before it could be recorded: the
 * batch's commit will fail with err (no-op without a batch). Returns err. */
int us_transaction_failed(int err);

#endif
