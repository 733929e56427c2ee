/* SPDX-License-Identifier: MIT */
/*
 * The control protocol: one request per line, one reply per request.
 *
 * Request: a line of at most US_CTL_REQUEST_MAX bytes (its "\n" excluded;
 * a "\r" before it is dropped), a command and its argument:
 *   list                the debug sites, FILE:LINE [MODULE]FUNC =FLAGS "FORMAT"
 *   keys                the named static keys and static calls
 *   query QUERY         a dynamic-debug query (the rest of the line)
 *   enable NAME, disable NAME, inc NAME, dec NAME, count NAME
 *                       a named static key (NAME or MODULE:NAME)
 *   version             the protocol's name and version
 *   help                the commands
 * Reply: any number of data lines, each "* " and the text, then exactly
 * one terminator line:
 *   OK N                N: data lines (list, keys, help, version), sites
 *                       changed (query), the count (count), 0 (the rest)
 *   ERR -ERRNO MESSAGE  nothing was changed; MESSAGE says why
 * Every reply line is printable ASCII: any other byte (a control
 * character, a byte of a non-ASCII name) is sent as \ooo. A request longer
 * than the limit, or holding a NUL byte, is answered with ERR and the
 * connection is closed (the rest of the stream cannot be trusted to be
 * lines). Commands are case-sensitive; words are separated by blanks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "debug.h"
#include "dyndbg.h"

#define VERSION_LINE "ustatic-control 1"

static bool grow(struct us_ctl_buf *b, size_t more)
{
	size_t cap;
	char *p, *old;

	if (b->len + more <= b->cap)
		return true;
	if (b->len + more > US_CTL_REPLY_MAX) {
		b->full = true;
		return false;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > US_CTL_REPLY_MAX)
		cap = US_CTL_REPLY_MAX;
	/* Not realloc: b->p must name a live block at every instant, for a
	 * fork child (control.c) that keeps the buffer of a thread it lost. */
	p = malloc(cap);
	if (!p) {
		b->full = true;
		return false;
	}
	if (b->len)
		memcpy(p, b->p, b->len);
	old = b->p;
	__atomic_store_n(&b->p, p, __ATOMIC_RELAXED);
	b->cap = cap;
	free(old);
	return true;
}

/* Appends prefix, then text with control characters as \ooo, then "\n". */
static int put_line(struct us_ctl_buf *b, const char *prefix, const char *text)
{
	size_t np = strlen(prefix), nt = strlen(text);

	if (!grow(b, np + 4 * nt + 1))
		return -ENOBUFS;
	memcpy(b->p + b->len, prefix, np);
	b->len += np;
	for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
		if (*s < 0x20 || *s >= 0x7f)
			b->len += sprintf(b->p + b->len, "\\%03o", *s);
		else
			b->p[b->len++] = (char)*s;
	}
	b->p[b->len++] = '\n';
	return 0;
}

/* us_emit_fn: called by the core, maybe under the library's locks: it
 * only copies. */
static int emit(void *ctx, const char *line)
{
	struct us_ctl_buf *b = ctx;
	int err = put_line(b, "* ", line);

	if (!err)
		b->lines++;
	return err;
}

/* Forgotten before freed: see grow(). */
void us_ctl_buf_free(struct us_ctl_buf *b)
{
	char *p = b->p;

	__atomic_store_n(&b->p, NULL, __ATOMIC_RELAXED);
	*b = (struct us_ctl_buf){ 0 };
	free(p);
}

/* Replaces whatever data lines were added since mark with the error. */
static void fail_from(struct us_ctl_buf *b, size_t mark, int err,
		      const char *msg)
{
	b->len = mark;
	b->full = false;
	us_ctl_error(b, err, msg);
}

void us_ctl_error(struct us_ctl_buf *b, int err, const char *msg)
{
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "ERR %d ", err);
	if (put_line(b, prefix, msg && *msg ? msg : strerror(-err)))
		b->full = true;	/* the client's buffer is at its limit: drop it */
}

static void ok(struct us_ctl_buf *b, long n)
{
	char line[32];

	snprintf(line, sizeof(line), "OK %ld", n);
	if (put_line(b, "", line))
		b->full = true;
}

/* A walk over lines (list, keys): all of them and OK, or ERR alone. */
static void walk(struct us_ctl_buf *b, int (*fn)(us_emit_fn, void *))
{
	size_t mark = b->len;
	int err;

	b->lines = 0;
	err = fn(emit, b);
	if (err == -ENOBUFS && b->full)
		fail_from(b, mark, err, "reply longer than 8 MiB: not sent");
	else if (err < 0)
		fail_from(b, mark, err, strerror(-err));
	else
		ok(b, (long)b->lines);
}

static const char *const help[] = {
	"list                 debug sites: FILE:LINE [MODULE]FUNC =FLAGS \"FORMAT\"",
	"keys                 static keys and static calls: state, count, target",
	"query QUERY          run a dynamic-debug query, e.g. query file net.c +p",
	"enable|disable|inc|dec|count NAME   a static key (NAME or MODULE:NAME)",
	"version              the protocol version",
	"help                 this text",
};

static int help_walk(us_emit_fn fn, void *ctx)
{
	for (size_t i = 0; i < sizeof(help) / sizeof(*help); i++) {
		int err = fn(ctx, help[i]);

		if (err)
			return err;
	}
	return 0;
}

static int version_walk(us_emit_fn fn, void *ctx)
{
	return fn(ctx, VERSION_LINE);
}

static const struct {
	const char *name;
	enum us_key_op op;
} key_ops[] = {
	{ "enable", US_KEY_ENABLE }, { "disable", US_KEY_DISABLE },
	{ "inc", US_KEY_INC }, { "dec", US_KEY_DEC }, { "count", US_KEY_COUNT },
};

static void key_op(struct us_ctl_buf *b, enum us_key_op op, const char *arg)
{
	char err[256] = "", name[256];
	size_t n = strcspn(arg, " \t");
	int r;

	if (!n)
		return us_ctl_error(b, -EINVAL, "missing key name");
	if (arg[n + strspn(arg + n, " \t")])
		return us_ctl_error(b, -EINVAL, "one key name only");
	if (n >= sizeof(name))
		return us_ctl_error(b, -ENAMETOOLONG, "key name too long");
	memcpy(name, arg, n);
	name[n] = 0;
	r = us_names_key_op(name, op, err, sizeof(err));
	if (r < 0)
		return us_ctl_error(b, r, err);
	ok(b, r);
}

static void query(struct us_ctl_buf *b, const char *arg)
{
	char err[512] = "";
	int r;

	if (!*arg)
		return us_ctl_error(b, -EINVAL, "missing query (e.g. query file net.c +p)");
	r = us_dyndbg_query(arg, err, sizeof(err));
	if (r < 0)
		return us_ctl_error(b, r, err);
	ok(b, r);
}

bool us_ctl_execute(const char *line, size_t len, struct us_ctl_buf *b)
{
	char cmd[16];
	const char *arg;
	size_t n;

	if (strlen(line) != len) {
		us_ctl_error(b, -EINVAL, "NUL byte in request: closing");
		return true;
	}
	line += strspn(line, " \t");
	n = strcspn(line, " \t");
	arg = line + n;
	arg += strspn(arg, " \t");
	if (!n)
		return us_ctl_error(b, -EINVAL, "empty request (try help)"), false;
	if (n >= sizeof(cmd)) {
		us_ctl_error(b, -EINVAL, "unknown command (try help)");
		return false;
	}
	memcpy(cmd, line, n);
	cmd[n] = 0;
	if (!strcmp(cmd, "list") || !strcmp(cmd, "keys") ||
	    !strcmp(cmd, "help") || !strcmp(cmd, "version")) {
		if (*arg)
			us_ctl_error(b, -EINVAL, "this command takes no argument");
		else
			walk(b, cmd[0] == 'l' ? us_dyndbg_list :
				cmd[0] == 'k' ? us_names_list :
				cmd[0] == 'h' ? help_walk : version_walk);
		return false;
	}
	if (!strcmp(cmd, "query")) {
		query(b, arg);
		return false;
	}
	for (size_t i = 0; i < sizeof(key_ops) / sizeof(*key_ops); i++)
		if (!strcmp(cmd, key_ops[i].name)) {
			key_op(b, key_ops[i].op, arg);
			return false;
		}
	us_ctl_error(b, -EINVAL, "unknown command (try help)");
	return false;
}
