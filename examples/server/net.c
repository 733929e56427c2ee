/* SPDX-License-Identifier: MIT */
/* The example server's network side: two debug sites. */
#include <stdio.h>
#include <ustatic.h>

#include "server.h"

int net_receive(long i, char *buf, size_t size)
{
	int len = snprintf(buf, size, "user%ld", i % 5);

	ustatic_pr_debug("client %ld connected", i);
	ustatic_pr_debug("received %d bytes: \"%s\"", len, buf);
	return len;
}
