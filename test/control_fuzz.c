/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the control protocol through the socket: random and malformed
 * lines (random bytes, commands cut short, with junk arguments, queries of
 * random words, keys of random names, very long lines, NUL bytes, bare
 * "\r", many requests in one write, connections dropped mid-request and
 * mid-reply) on several connections at once. Every reply must be well
 * formed (control_client.h), each request gets exactly one terminator, a
 * connection is closed only after a request that says so (too long, a NUL
 * byte), and the server keeps serving. USTATIC_FUZZ_SECONDS (default 5,
 * divided by USTATIC_TEST_SCALE), USTATIC_FUZZ_SEED to replay.
 *
 * Queries and key changes act on this program's own debug sites and keys
 * (none but the library's, unless a query names them): nothing to check
 * there but that the process survives; the dyndbg parser has its own.
 */
#include <signal.h>
#include <time.h>

#include "control.h"
#include "control_client.h"
#include "helpers.h"
#include "test.h"

static unsigned long long rng;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(rng >> 33) % n;
}

static const char *const words[] = {
	"list", "keys", "query", "enable", "disable", "inc", "dec", "count",
	"help", "version", "file", "func", "line", "format", "module", "+p",
	"-p", "=p", "+pflmt", "=_", "\"", "'", ";", "*", "net.c", "1-2", "0",
	"-1", "99999999999999999999", ":", "a:b", "stub:k1", "k1", "\\", "%s%n",
	"\t", "  ",
};

/* A random request into buf (no newline); returns its length and whether
 * the server is expected to close after it (NUL, too long). */
static size_t make_request(char *buf, size_t size, bool *closes)
{
	size_t n = 0;
	unsigned kind = rnd(10);

	*closes = false;
	if (kind == 0) {		/* random bytes, no newline */
		size_t len = rnd(200);

		for (; n < len; n++) {
			buf[n] = (char)rnd(256);
			if (buf[n] == '\n')
				buf[n] = ' ';
			if (!buf[n])
				*closes = true;
		}
		return n;
	}
	if (kind == 1) {		/* too long */
		n = US_CTL_REQUEST_MAX + 1 + rnd(3000);
		CHECK(n < size);
		memset(buf, 'a' + (int)rnd(26), n);
		*closes = true;
		return n;
	}
	/* words */
	for (unsigned k = 1 + rnd(6); k; k--) {
		const char *w = words[rnd(sizeof(words) / sizeof(*words))];
		size_t l = strlen(w);

		if (n + l + 1 >= size)
			break;
		memcpy(buf + n, w, l);
		n += l;
		if (rnd(4))
			buf[n++] = ' ';
	}
	if (kind == 2 && n)		/* cut short */
		n = rnd((unsigned)n);
	if (kind == 3 && n + 1 < size)
		buf[n++] = '\r';
	return n;
}

int main(void)
{
	const char *s = getenv("USTATIC_FUZZ_SECONDS");
	const char *seed_env = getenv("USTATIC_FUZZ_SEED");
	double secs = test_scale(s ? atol(s) * 1000 : 5000) / 1000.0, end;
	static char req[US_CTL_REQUEST_MAX * 2];
	unsigned long long seed;
	unsigned long requests = 0, closes = 0, drops = 0;
	char path[108];
	int fd[4];

	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE in the server kills us */
	seed = seed_env ? strtoull(seed_env, NULL, 0) :
			  (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
	rng = seed;
	printf("seed %llu, %.1f s\n", seed, secs);
	fflush(stdout);
	us_ctl_timeout_ms = 2000;
	CHECK_EQ(ustatic_control_start(), 0);
	cc_path(path, sizeof(path), getpid());
	for (int i = 0; i < 4; i++)
		CHECK((fd[i] = cc_connect(path)) >= 0);
	end = t_now() + secs;
	while (t_now() < end) {
		int c = (int)rnd(4), batch = 1 + (int)rnd(4);
		bool close_expected = false;
		struct cc_reply r;
		int sent = 0;

		/* Several requests in one go, each with its newline. */
		for (int b = 0; b < batch && !close_expected; b++) {
			size_t n = make_request(req, sizeof(req) - 1, &close_expected);

			req[n++] = '\n';
			/* After a request that closes, the rest may meet a
			 * closed connection (EPIPE). */
			if (!cc_send_try(fd[c], req, n))
				CHECK(close_expected);
			sent++;
		}
		if (!rnd(20)) {		/* leave now, replies unread */
			close(fd[c]);
			drops++;
			CHECK((fd[c] = cc_connect(path)) >= 0);
			continue;
		}
		for (int b = 0; b < sent; b++) {
			cc_read(fd[c], &r, 10000);
			CHECK(r.ok != -1);	/* a terminator for each */
			requests++;
		}
		if (close_expected) {
			CHECK_EQ(r.ok, 0);
			CHECK(cc_closed(fd[c], 5000));
			close(fd[c]);
			closes++;
			CHECK((fd[c] = cc_connect(path)) >= 0);
		}
	}
	for (int i = 0; i < 4; i++) {
		struct cc_reply r;

		cc_ask(fd[i], "version", &r);
		CHECK_EQ(r.ok, 1);
		close(fd[i]);
	}
	CHECK_EQ(ustatic_control_stop(), 0);
	printf("%lu requests answered, %lu closes asked for, %lu clients dropped\n",
	       requests, closes, drops);
	return 0;
}
