/* SPDX-License-Identifier: MIT */
/*
 * The query language of the kernel's dynamic debug
 * (Documentation/admin-guide/dynamic-debug-howto.rst), parsed:
 *
 *   query   ::= match* flags          queries separated by ';' or newline
 *   match   ::= 'file' GLOB | 'func' GLOB | 'module' GLOB
 *             | 'format' STRING | 'line' N | 'line' N-M | 'line' -M | 'line' N-
 *   flags   ::= ('+' | '-' | '=') ('p' | 'f' | 'l' | 'm' | 't' | '_')+
 *
 * Words are separated by blanks; a word may be quoted ("..." or '...'),
 * and \n, \t, \\, \", \' and \ooo are unescaped in every word. As in the
 * kernel, the last word of a query is its flags, globs know * and ?, a
 * format matches as a substring (anchored at the start with a leading ^),
 * and a file matches the recorded path or its basename. Unlike the
 * kernel, ';' inside quotes belongs to the word. Errors name the column
 * (1-based, in the whole string) and the word. Parsing only: nothing here
 * touches a site.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyndbg_query.h"
#include "grow.h"

struct word {
	size_t col;			/* 1-based column of its first byte */
	const char *raw;		/* as written, for messages */
	size_t rawlen;
	char *text;			/* unescaped, malloc'd */
	bool semi;			/* a ';' or newline, not a word */
};

struct words {
	struct word *v;
	size_t n, cap;
};

static int fail(char *err, size_t errlen, size_t col, const char *what,
		const char *raw, size_t rawlen)
{
	if (errlen)
		snprintf(err, errlen, "column %zu: %s '%.*s'", col, what,
			 (int)(rawlen > 60 ? 60 : rawlen), raw);
	return -EINVAL;
}

static void free_words(struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].text);
	free(w->v);
}

/* An escape at *p (just after the backslash): the byte it stands for, or
 * -1. Advances *p past it. */
static int unescape(const char **p)
{
	const char *s = *p;
	int c = 0, i;

	switch (*s) {
	case 'n': *p = s + 1; return '\n';
	case 't': *p = s + 1; return '\t';
	case '\\': case '"': case '\'': *p = s + 1; return *s;
	}
	for (i = 0; i < 3 && s[i] >= '0' && s[i] <= '7'; i++)
		c = c * 8 + (s[i] - '0');
	if (!i || c > 255 || c == 0)
		return -1;
	*p = s + i;
	return c;
}

/* How far the word at p runs (at most what it unescapes to, plus one):
 * its allocation, so that many words cost their own length, not the
 * rest of the query each. */
static size_t raw_length(const char *p, char quote)
{
	const char *e = p;

	while (*e && (quote ? *e != quote : !strchr(" \t\r\n;", *e)))
		e += (*e == '\\' && e[1]) ? 2 : 1;
	return (size_t)(e - p);
}

/* One word starting at s[*pos]; appends it to w. */
static int lex_word(const char *s, size_t *pos, struct words *w, char *err,
		    size_t errlen)
{
	const char *p = s + *pos, *start = p;
	char quote = (*p == '"' || *p == '\'') ? *p++ : 0;
	size_t len = 0;
	char *text = malloc(raw_length(p, quote) + 1);

	if (!text)
		return -ENOMEM;
	for (;;) {
		if (!*p && quote) {
			free(text);
			return fail(err, errlen, (size_t)(start - s) + 1,
				    "unterminated quote in", start,
				    (size_t)(p - start));
		}
		if (!*p || (quote ? *p == quote :
			    strchr(" \t\r\n;", *p) != NULL))
			break;
		if (*p == '\\') {
			const char *e = ++p;
			int c = unescape(&p);

			if (c < 0) {
				free(text);
				return fail(err, errlen, (size_t)(e - s),
					    "bad escape in", start,
					    (size_t)(e - start) + (*e != 0));
			}
			text[len++] = (char)c;
			continue;
		}
		text[len++] = *p++;
	}
	text[len] = 0;
	if (quote)
		p++;
	if (us_grow(&w->v, &w->cap, w->n, sizeof(*w->v))) {
		free(text);
		return -ENOMEM;
	}
	w->v[w->n++] = (struct word){ (size_t)(start - s) + 1, start,
				      (size_t)(p - start), text, false };
	*pos = (size_t)(p - s);
	return 0;
}

static int lex(const char *s, struct words *w, char *err, size_t errlen)
{
	size_t pos = 0;
	int r;

	while (s[pos]) {
		if (strchr(" \t\r", s[pos])) {
			pos++;
		} else if (s[pos] == ';' || s[pos] == '\n') {
			if (us_grow(&w->v, &w->cap, w->n, sizeof(*w->v)))
				return -ENOMEM;
			w->v[w->n++] = (struct word){ pos + 1, s + pos, 1,
						      NULL, true };
			pos++;
		} else if ((r = lex_word(s, &pos, w, err, errlen))) {
			return r;
		}
	}
	return 0;
}

static const char *const keywords[] = { "file", "func", "module", "format",
					"line" };

/* Decimal, at most 9 digits (a line number), from s to end. */
static bool number(const char *s, const char *end, unsigned int *out)
{
	unsigned int v = 0;

	if (s == end || end - s > 9)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned int)(*s - '0');
	}
	*out = v;
	return true;
}

/* N, N-M, -M (from 0), N- (to the end). */
static int parse_lines(struct us_query *q, const struct word *v, char *err,
		       size_t errlen)
{
	const char *t = v->text, *dash = strchr(t, '-');
	const char *end = t + strlen(t);

	q->has_line = true;
	if (!dash) {
		if (!number(t, end, &q->lo))
			goto bad;
		q->hi = q->lo;
		return 0;
	}
	q->lo = 0;
	q->hi = ~0u;
	if (dash > t && !number(t, dash, &q->lo))
		goto bad;
	if (dash + 1 < end && !number(dash + 1, end, &q->hi))
		goto bad;
	if (dash == t && dash + 1 == end)
		goto bad;
	if (q->lo > q->hi)
		return fail(err, errlen, v->col, "line range ends before it "
			    "starts:", v->raw, v->rawlen);
	return 0;
bad:
	return fail(err, errlen, v->col, "bad line number or range "
		    "(N, N-M, -M or N-):", v->raw, v->rawlen);
}

static int parse_flags(struct us_query *q, const struct word *v, char *err,
		       size_t errlen)
{
	static const char names[] = "pflmt";
	const char *t = v->text;

	if (*t != '+' && *t != '-' && *t != '=')
		return fail(err, errlen, v->col, "the query must end with "
			    "flags (+p, -p, =p, ...), not", v->raw, v->rawlen);
	q->op = *t;
	if (!t[1])
		return fail(err, errlen, v->col, "no flag after the operator "
			    "(p, f, l, m, t or _):", v->raw, v->rawlen);
	for (const char *c = t + 1; *c; c++) {
		const char *f = *c ? strchr(names, *c) : NULL;

		if (*c == '_')
			continue;
		if (!f)
			return fail(err, errlen, v->col + (size_t)(c - t),
				    "unknown flag (p, f, l, m, t or _) in",
				    v->raw, v->rawlen);
		q->mask |= 1u << (f - names);
	}
	return 0;
}

/* Takes the keyword's value (moves the string into q). */
static int parse_match(struct us_query *q, struct word *k, struct word *v,
		       char *err, size_t errlen)
{
	char **slot[] = { &q->file, &q->func, &q->module, &q->format, NULL };
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(*keywords); i++)
		if (!strcmp(k->text, keywords[i]))
			break;
	if (i == sizeof(keywords) / sizeof(*keywords))
		return fail(err, errlen, k->col, "unknown keyword (file, func, "
			    "module, format or line):", k->raw, k->rawlen);
	if (slot[i] ? *slot[i] != NULL : q->has_line)
		return fail(err, errlen, k->col, "keyword given twice in one "
			    "query:", k->raw, k->rawlen);
	if (!slot[i])
		return parse_lines(q, v, err, errlen);
	*slot[i] = v->text;
	v->text = NULL;
	return 0;
}

static bool is_flags(const struct word *v)
{
	return strchr("+-=", v->text[0]) && v->text[0];
}

/* Words w[0..n) are one query (no ';' among them, n >= 1): the last is
 * the flags, the others keyword-value pairs. */
static int parse_one(struct us_query *q, struct word *w, size_t n,
		     char *err, size_t errlen)
{
	int r;

	*q = (struct us_query){ .op = 0 };
	if (!is_flags(&w[n - 1]))
		return fail(err, errlen, w[n - 1].col, "the query must end "
			    "with flags (+p, -p, =p, ...), not", w[n - 1].raw,
			    w[n - 1].rawlen);
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (is_flags(&w[i]))
			return fail(err, errlen, w[i].col, "flags come last, "
				    "once:", w[i].raw, w[i].rawlen);
		if (i + 2 == n)
			return fail(err, errlen, w[i].col, "no value (or no "
				    "flags after it) for", w[i].raw,
				    w[i].rawlen);
		if ((r = parse_match(q, &w[i], &w[i + 1], err, errlen)))
			return r;
	}
	return parse_flags(q, &w[n - 1], err, errlen);
}

void us_query_free(struct us_query *q)
{
	free(q->file);
	free(q->func);
	free(q->module);
	free(q->format);
}

void us_queries_free(struct us_query *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		us_query_free(&q[i]);
	free(q);
}

int us_queries_parse(const char *s, struct us_query **out, size_t *nout,
		     char *err, size_t errlen)
{
	struct words w = { 0 };
	struct us_query *q = NULL;
	size_t n = 0, cap = 0, start = 0;
	int r;

	if (errlen)
		*err = 0;
	*out = NULL;
	*nout = 0;
	r = lex(s, &w, err, errlen);
	for (size_t i = 0; !r && i <= w.n; i++) {
		if (i < w.n && !w.v[i].semi)
			continue;
		if (i > start) {
			if (us_grow(&q, &cap, n, sizeof(*q))) {
				r = -ENOMEM;
				break;
			}
			r = parse_one(&q[n], &w.v[start], i - start, err, errlen);
			n++;		/* freed below even when it failed */
		}
		start = i + 1;
	}
	free_words(&w);
	if (r == -ENOMEM && errlen)
		snprintf(err, errlen, "out of memory");
	if (r) {
		us_queries_free(q, n);
		return r;
	}
	*out = q;
	*nout = n;
	return 0;
}

/* ---- matching ---- */

/* The kernel's match_wildcard(): '*' any run, '?' any one byte. */
static bool glob(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			retry = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

static bool match_file(const char *pattern, const char *file)
{
	const char *base = strrchr(file, '/');

	return glob(pattern, file) || (base && glob(pattern, base + 1));
}

static bool match_format(const char *want, const char *format)
{
	if (*want == '^')
		return !strncmp(format, want + 1, strlen(want + 1));
	return strstr(format, want) != NULL;
}

bool us_query_matches(const struct us_query *q,
		      const struct ustatic_dbg_site *s)
{
	return (!q->file || match_file(q->file, s->file)) &&
	       (!q->func || glob(q->func, s->func)) &&
	       (!q->module || glob(q->module, s->module ? s->module : "")) &&
	       (!q->format || match_format(q->format, s->format)) &&
	       (!q->has_line || (s->line >= q->lo && s->line <= q->hi));
}

unsigned int us_query_apply(const struct us_query *q, unsigned int flags)
{
	switch (q->op) {
	case '+': return flags | q->mask;
	case '-': return flags & ~q->mask;
	default:  return q->mask;
	}
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool matches_all(const struct us_query *q)
{
	return !q->file && !q->func && !q->module && !q->format &&
	       !q->has_line;
}

bool us_query_clears_all(const struct us_query *q)
{
	return matches_all(q) && q->op == '=' && !q->mask;
}

/*
 * Whether `later` makes `earlier` useless for every site: it matches the
 * same sites (the same match, or no match at all: every site) and sets or
 * clears again every flag bit earlier sets or clears. Per bit, the last
 * query that touches it wins, so dropping earlier changes no result.
 */
bool us_query_overrides(const struct us_query *later,
			const struct us_query *earlier)
{
	unsigned int touched = earlier->op == '=' ? US_DD_ALL : earlier->mask;
	unsigned int covers = later->op == '=' ? US_DD_ALL : later->mask;

	if ((touched & ~covers) != 0)
		return false;
	if (matches_all(later))
		return true;
	return same(later->file, earlier->file) &&
	       same(later->func, earlier->func) &&
	       same(later->module, earlier->module) &&
	       same(later->format, earlier->format) &&
	       later->has_line == earlier->has_line &&
	       (!later->has_line || (later->lo == earlier->lo &&
				     later->hi == earlier->hi));
}
