/* SPDX-License-Identifier: MIT */
/* The example server's two parts (debug_server.c). */
#ifndef DEBUG_SERVER_H
#define DEBUG_SERVER_H

#include <stddef.h>

/* Reads request number i into buf; its length. */
int net_receive(long i, char *buf, size_t size);
/* The value stored for key. */
const char *db_lookup(const char *key, int len);

#endif
