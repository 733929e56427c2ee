/* SPDX-License-Identifier: MIT */
/*
 * The query language (src/dyndbg_query.c) on this test's own sites:
 * every keyword, line ranges, globs on file, func and module, formats
 * (substring, ^anchored, quoted, escaped), +, - and = with each flag,
 * several queries in one string (one batch), the count of sites changed; malformed
 * queries fail with -EINVAL, a message naming the column and the word,
 * and change nothing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ustatic.h>

#include "dd.h"
#include "helpers.h"

#define F "dyndbg_parse.c"	/* __FILE__ is test/dyndbg_parse.c */

static int line_a, line_b, line_c, line_d;

__attribute__((noinline)) static void alpha(int x)
{
	line_a = __LINE__ + 1;
	ustatic_pr_debug("alpha says %d\n", x);
}

__attribute__((noinline)) static void alpha_two(int x)
{
	line_b = __LINE__ + 1;
	ustatic_pr_debug("second; \"quoted\" %d\n", x);
}

__attribute__((noinline)) static int beta(void)
{
	line_c = __LINE__ + 1;
	if (ustatic_debug_enabled())
		return 1;
	line_d = __LINE__ + 1;
	ustatic_pr_debug("tab\there\n");
	return 0;
}

static int q(const char *query)
{
	char err[256];

	return us_dyndbg_query(query, err, sizeof(err));
}

/* Every site back to no flags. */
static void reset(void)
{
	CHECK(q("=_") >= 0);
}

static void expect(int line, const char *flags)
{
	const char *f = dd_flags(__FILE__, line);

	if (!f || strcmp(f, flags)) {
		fprintf(stderr, "site at line %d: flags %s, expected %s\n",
			line, f ? f : "(no site)", flags);
		exit(T_EXIT_FAIL);
	}
}

/* query selects exactly the sites whose lines are listed (0-terminated). */
static void selects(const char *query, ...)
{
	int lines[] = { line_a, line_b, line_c, line_d }, want[4] = { 0 };
	int n = 0, l;
	va_list ap;
	char full[256];

	va_start(ap, query);
	while ((l = va_arg(ap, int)))
		for (int i = 0; i < 4; i++)
			if (lines[i] == l)
				want[i] = 1, n++;
	va_end(ap);
	reset();
	snprintf(full, sizeof(full), "%s +p", query);
	if (q(full) != n) {
		fprintf(stderr, "'%s' changed %d sites, expected %d\n", full,
			q("=_"), n);
		exit(T_EXIT_FAIL);
	}
	for (int i = 0; i < 4; i++)
		expect(lines[i], want[i] ? "p" : "_");
}

static void fails(const char *query, const char *col, const char *word)
{
	char err[256], *before = dd_listing(), *after;
	int r = us_dyndbg_query(query, err, sizeof(err));

	after = dd_listing();
	if (r != -EINVAL || !strstr(err, col) || !strstr(err, word) ||
	    strcmp(before, after)) {
		fprintf(stderr, "'%s': %d '%s' (want -EINVAL, '%s', '%s')%s\n",
			query, r, err, col, word,
			strcmp(before, after) ? ", and sites changed" : "");
		exit(T_EXIT_FAIL);
	}
	printf("%-32s -> %s\n", query, err);
	free(before);
	free(after);
}

/*
 * The log of queries kept for objects loaded later holds 1024 distinct
 * ones. A string that repeats one query, or switches the same sites on
 * and off, keeps one; "=_" empties the log and is not kept itself.
 */
static void check_log_limit(void)
{
	char q[32], err[256], *rep = malloc(1100 * 22 + 1);
	int accepted = 0;

	CHECK(rep);
	CHECK_EQ(us_dyndbg_query("=_", err, sizeof(err)) >= 0, 1);
	rep[0] = 0;
	for (int i = 0; i < 1100; i++)
		strcat(rep, i % 2 ? "func alpha -p;" : "func alpha +p;");
	CHECK(us_dyndbg_query(rep, err, sizeof(err)) >= 0);
	rep[0] = 0;
	for (int i = 0; i < 1100; i++)
		strcat(rep, "func alpha +p;");
	CHECK(us_dyndbg_query(rep, err, sizeof(err)) >= 0);
	free(rep);
	CHECK_EQ(us_dyndbg_query("=_", err, sizeof(err)) >= 0, 1);
	for (int i = 1; i <= 1025; i++) {
		snprintf(q, sizeof(q), "line %d +p", 100000 + i);
		if (us_dyndbg_query(q, err, sizeof(err)) >= 0)
			accepted++;
		else
			CHECK(strstr(err, "distinct queries"));
	}
	CHECK_EQ(accepted, 1024);	/* "=_" took no slot */
	CHECK_EQ(us_dyndbg_query("=_", err, sizeof(err)) >= 0, 1);
}

int main(void)
{
	dd_need_registry();
	alpha(0);
	alpha_two(0);
	beta();
	CHECK(dd_flags(__FILE__, line_a) && dd_flags(__FILE__, line_d));
	expect(line_a, "_");

	/* Keywords. */
	selects("file " F, line_a, line_b, line_c, line_d, 0);
	selects("file test/" F, line_a, line_b, line_c, line_d, 0);
	selects("file */dyndbg_p?rse.c", line_a, line_b, line_c, line_d, 0);
	selects("file other.c", 0);
	selects("file parse.c", 0);		/* globs match whole names */
	selects("func alpha", line_a, 0);
	selects("func alpha*", line_a, line_b, 0);
	selects("func *a", line_a, line_c, line_d, 0);
	selects("func ?eta", line_c, line_d, 0);
	selects("module dyndbg_parse", line_a, line_b, line_c, line_d, 0);
	selects("module dyndbg_*", line_a, line_b, line_c, line_d, 0);
	selects("module libother.so", 0);
	selects("format says", line_a, 0);
	selects("format \"says %d\"", line_a, 0);
	selects("format '; \"quoted\"'", line_b, 0);
	selects("format \"\\\"quoted\\\"\"", line_b, 0);
	selects("format tab\\there", line_d, 0);
	selects("format ^alpha", line_a, 0);
	selects("format ^says", 0);
	selects("format %d", line_a, line_b, 0);
	{
		char s[64];

		snprintf(s, sizeof(s), "line %d", line_a);
		selects(s, line_a, 0);
		snprintf(s, sizeof(s), "line %d-%d", line_a, line_c);
		selects(s, line_a, line_b, line_c, 0);
		snprintf(s, sizeof(s), "line -%d", line_b);
		selects(s, line_a, line_b, 0);
		snprintf(s, sizeof(s), "line %d-", line_c);
		selects(s, line_c, line_d, 0);
		snprintf(s, sizeof(s), "func beta line %d", line_d);
		selects(s, line_d, 0);
	}
	selects("", line_a, line_b, line_c, line_d, 0);	/* just "+p" */

	/* Flags: +, -, = and each decoration; the count is of changed sites. */
	reset();
	CHECK_EQ(q("func alpha +pflmt"), 1);
	expect(line_a, "pflmt");
	CHECK_EQ(q("func alpha +p"), 0);		/* no change */
	CHECK_EQ(q("func alpha -fl"), 1);
	expect(line_a, "pmt");
	CHECK_EQ(q("func alpha =l"), 1);
	expect(line_a, "l");
	CHECK_EQ(q("func alpha =_"), 1);
	expect(line_a, "_");
	CHECK_EQ(q("func alpha +_"), 0);
	/* Several queries; the later wins per flag. */
	CHECK_EQ(q("func alpha +p; func beta +pf ;func alpha -p; func alpha_two +t"), 3);
	expect(line_a, "_");
	expect(line_b, "t");
	expect(line_c, "pf");
	expect(line_d, "pf");
	/* One query string, one batch, however many sites it switches. */
	{
		struct ustatic_stats s0, s1;

		reset();
		ustatic_get_stats(&s0);
		CHECK_EQ(q("func alpha* +p; func beta +p"), 4);
		ustatic_get_stats(&s1);
		CHECK_EQ(s1.batches - s0.batches, 1);
		reset();
	}
	CHECK_EQ(q("func alpha +p\nfunc alpha +f"), 1);
	expect(line_a, "pf");
	CHECK_EQ(q(" ; ;; "), 0);			/* empty queries */
	CHECK_EQ(q(""), 0);
	/* The p flag is the site's branch. */
	reset();
	CHECK_EQ(beta(), 0);
	{
		char s[64];

		snprintf(s, sizeof(s), "func beta line %d +p", line_c);
		CHECK_EQ(q(s), 1);
	}
	CHECK_EQ(beta(), 1);
	CHECK_EQ(ustatic_dyndbg_query("func beta -p"), 1);
	CHECK_EQ(beta(), 0);

	/* Errors: column and word; nothing changes. */
	CHECK_EQ(q("func alpha +p"), 1);
	fails("fiel x.c +p", "column 1:", "'fiel'");
	fails("func alpha +x", "column 13:", "'+x'");
	fails("func alpha +pq", "column 14:", "'+pq'");
	fails("func alpha p", "column 12:", "'p'");
	fails("func alpha", "column 6:", "'alpha'");
	fails("func", "column 1:", "'func'");
	fails("func +p", "column 1:", "'func'");
	fails("+p func", "column 4:", "'func'");
	fails("+p -p", "column 1:", "'+p'");
	fails("+p func a -p", "column 1:", "'+p'");
	fails("func a func b +p", "column 8:", "'func'");
	fails("line x +p", "column 6:", "'x'");
	fails("line 10-5 +p", "column 6:", "'10-5'");
	fails("line 1-2-3 +p", "column 6:", "'1-2-3'");
	fails("line - +p", "column 6:", "'-'");
	fails("line 12345678901 +p", "column 6:", "'12345678901'");
	fails("format \"abc +p", "column 8:", "'\"abc +p'");
	fails("format ab\\q +p", "column 10:", "'ab\\q'");
	fails("func alpha +", "column 12:", "'+'");
	fails("func alpha +p; file", "column 16:", "'file'");
	fails("func beta =p; func alpha =p; bogus 1 +p", "column 30:", "'bogus'");
	fails("func alpha +p;;module", "column 16:", "'module'");
	/* A long query costs its length: 9,000 words (each word's buffer
	 * was once the rest of the query); over 64 KiB it is refused whole
	 * (an 11 MB one once took 317 MB). */
	{
		size_t n = 9000, len = n * 7 + 3;
		char *big = malloc(200000 * 7 + 3), err[256];
		double t0 = t_now();

		CHECK(big);
		for (size_t i = 0; i < 200000; i++)
			memcpy(big + 7 * i, "func a ", 7);
		memcpy(big + 7 * n, "+p", 3);
		CHECK(len <= 65536);
		CHECK_EQ(us_dyndbg_query(big, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "column 8: keyword given twice"));
		printf("9,000 words: %.3f s\n", t_now() - t0);
		CHECK(t_now() - t0 < 10);
		memcpy(big + 7 * n, "func a ", 7);
		memcpy(big + 7 * 200000, "+p", 3);
		CHECK_EQ(us_dyndbg_query(big, err, sizeof(err)), -E2BIG);
		CHECK(strstr(err, "longer than 65536 bytes"));
		free(big);
	}
	CHECK_EQ(ustatic_dyndbg_query("nonsense"), -EINVAL);
	CHECK_EQ(ustatic_dyndbg_query(NULL), -EINVAL);
	expect(line_a, "p");
	expect(line_c, "_");
	check_log_limit();
	puts("ok");
	return 0;
}
