/* SPDX-License-Identifier: MIT */
/*
 * The query parser, fuzzed: random queries from the language's words,
 * random bytes, and valid queries mutated (bytes flipped, inserted,
 * deleted, cut, spliced). Every query either succeeds with a count that
 * is exactly the number of sites whose listing changed, or fails with
 * -EINVAL and "column N: ... 'WORD'" where N lies in the query and the
 * word is at that column (or -ENOSPC, saying so, when too many distinct
 * queries are kept); a failure changes no site. "=_" (which also empties
 * the kept queries) now and then. No crash, no hang: run by `make check`
 * for about 3 s (USTATIC_TEST_SCALE divides it);
 * `make fuzz-dyndbg SEED=... SECONDS=...` runs it longer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

__attribute__((noinline)) static void s1(int x) { ustatic_pr_debug("one %d\n", x); }
__attribute__((noinline)) static void s2(int x) { ustatic_pr_debug("two;\"%d\"\n", x); }
__attribute__((noinline)) static void s3(int x) { ustatic_pr_debug("three\t%d\n", x); }
__attribute__((noinline)) static int s4(void) { return ustatic_debug_enabled(); }

static uint64_t rng;
static long lines;

static void discard(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	CHECK(strlen(line) == len);
	lines++;
}

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static const char *const vocab[] = {
	"file", "func", "module", "format", "line", "+p", "-p", "=p", "+pflmt",
	"=_", "-fl", "+t", "+x", "=", "s1", "s*", "s?", "*", "dyndbg_fuzz.c",
	"test/dyndbg_fuzz.c", "dyndbg_fuzz", "lib*.so", "\"one\"", "'two;'",
	"\"\\\"\"", "\\t", "\\101", "\\9", "^one", "1", "1-99999", "-30", "30-",
	"5-1", "x-y", ";", ";", "\n", " ", "\t", "\"", "'", "\\", "%d",
	"123456789012", "",
};
#define NV (sizeof(vocab) / sizeof(*vocab))

static void from_words(char *q, size_t size)
{
	size_t n = 0, words = rnd(9);

	for (size_t i = 0; i < words && n + 40 < size; i++)
		n += (size_t)snprintf(q + n, size - n, "%s%s", vocab[rnd(NV)],
				      rnd(4) ? " " : "");
	q[n] = 0;
}

static void from_bytes(char *q, size_t size)
{
	size_t n = rnd((uint32_t)size - 1);

	for (size_t i = 0; i < n; i++)
		q[i] = (char)(rnd(255) + 1);
	q[n] = 0;
}

static const char *const valid[] = {
	"file dyndbg_fuzz.c +p", "func s1 line 1-9999 =pf",
	"format \"two;\\\"\" +pt", "module dyndbg_fuzz func s? -p; +m",
	"line -100 format '\\t' =_", "func s4 +p ; func s1 -pflmt",
};

static void mutated(char *q, size_t size)
{
	size_t n;

	snprintf(q, size, "%s", valid[rnd(sizeof(valid) / sizeof(*valid))]);
	for (int m = (int)rnd(4) + 1; m > 0; m--) {
		n = strlen(q);
		switch (rnd(5)) {
		case 0:			/* flip */
			if (n)
				q[rnd((uint32_t)n)] = (char)(rnd(255) + 1);
			break;
		case 1:			/* insert */
			if (n + 2 < size) {
				size_t at = rnd((uint32_t)n + 1);

				memmove(q + at + 1, q + at, n - at + 1);
				q[at] = "\"';\\ +-=*?^\n"[rnd(12)];
			}
			break;
		case 2:			/* delete */
			if (n) {
				size_t at = rnd((uint32_t)n);

				memmove(q + at, q + at + 1, n - at);
			}
			break;
		case 3:			/* cut */
			q[rnd((uint32_t)n + 1)] = 0;
			break;
		case 4:			/* splice a word */
			if (n + 40 < size)
				strcat(q, vocab[rnd(NV)]);
			break;
		}
	}
}

static int changed_lines(const char *a, const char *b)
{
	int n = 0;

	while (*a && *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

		n += la != lb || memcmp(a, b, la);
		a += la + (a[la] != 0);
		b += lb + (b[lb] != 0);
	}
	return n;
}

static void check(const char *q)
{
	char err[256], *before = dd_listing(), *after;
	int r = us_dyndbg_query(q, err, sizeof(err));
	unsigned long col;

	after = dd_listing();
	if (r >= 0) {
		if (r != changed_lines(before, after)) {
			fprintf(stderr, "'%s': %d sites changed, said %d\n", q,
				changed_lines(before, after), r);
			exit(T_EXIT_FAIL);
		}
	} else if (r == -ENOSPC) {
		CHECK(strstr(err, "distinct queries"));
		CHECK(!strcmp(before, after));
	} else {
		char word[64];
		const char *quote = strchr(err, '\'');

		if (r != -EINVAL || sscanf(err, "column %lu:", &col) != 1 ||
		    col < 1 || col > strlen(q) + 1 || !quote ||
		    strcmp(before, after)) {
			fprintf(stderr, "'%s': %d '%s'\n", q, r, err);
			exit(T_EXIT_FAIL);
		}
		/* The word quoted is in the query (up to 60 bytes of it). */
		snprintf(word, sizeof(word), "%.*s", (int)(strlen(quote + 1) - 1),
			 quote + 1);
		if (!strstr(q, word)) {
			fprintf(stderr, "'%s': '%s' names '%s', not in it\n", q,
				err, word);
			exit(T_EXIT_FAIL);
		}
	}
	free(before);
	free(after);
}

int main(void)
{
	const char *sd = getenv("USTATIC_FUZZ_SEED");
	const char *ss = getenv("USTATIC_FUZZ_SECONDS");
	double secs = ss ? atof(ss) : test_scale(30) / 10.0;
	double end = t_now() + secs;
	char q[512];
	long n = 0;

	dd_need_registry();
	rng = sd ? strtoull(sd, NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
	CHECK_EQ(ustatic_dyndbg_set_sink(discard, NULL), 0);
	printf("seed %llu (USTATIC_FUZZ_SEED to replay), %.1f s\n",
	       (unsigned long long)rng, secs);
	for (; t_now() < end; n++) {
		switch (rnd(3)) {
		case 0: from_words(q, sizeof(q)); break;
		case 1: from_bytes(q, 64); break;
		default: mutated(q, sizeof(q)); break;
		}
		check(q);
		if (rnd(50) == 0) {
			char *all;

			check("=_");
			all = dd_listing();
			CHECK(!strstr(all, " =p"));
			free(all);
		}
		if (n % 1000 == 0) {
			s1(1); s2(2); s3(3); s4();
		}
	}
	printf("%ld queries, %ld lines printed\n", n, lines);
	CHECK(n > 100);
	return 0;
}
