/* SPDX-License-Identifier: MIT */
/*
 * A tiny "server" with dynamic debug: a loop that takes a request, reads
 * it (server/net.c) and looks it up (server/db.c), each step
 * with ustatic_pr_debug() sites, which are NOPs until a query turns them
 * on. Run it with USTATIC_CONTROL=1 and switch its sites from outside:
 *
 *   USTATIC_CONTROL=1 ./debug_server &
 *   ustatic-ctl $! query 'file net.c +p'     # net.c's sites print
 *   ustatic-ctl $! query 'file net.c -p'     # and stop
 *   ustatic-ctl $! list                      # every site and its flags
 *   ustatic-ctl $! keys                      # keys and static calls
 *   ustatic-ctl $! enable db_cache_off       # a static key, by name
 *
 * `./debug_server N` stops after N requests (default: runs until killed);
 * USTATIC_DYNDBG='file db.c +p' turns sites on from the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <ustatic.h>

#include "server/server.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : -1;
	struct timespec pause = { 0, 500 * 1000 * 1000 };

	printf("debug_server: pid %d, a request every 0.5 s\n", (int)getpid());
	fflush(stdout);
	for (long i = 1; n < 0 || i <= n; i++) {
		char req[64];
		int len = net_receive(i, req, sizeof(req));

		printf("request %ld: %s -> %s\n", i, req, db_lookup(req, len));
		fflush(stdout);
		nanosleep(&pause, NULL);
	}
	return 0;
}
