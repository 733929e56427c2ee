/* SPDX-License-Identifier: MIT */
/*
 * Dynamic debug: the owner of every debug site's flags and of the log of
 * applied queries. Everything here runs under the registry lock, which
 * also guards the objects and their sites (one lock: a query and an
 * object's arrival are ordered, so a plugin gets exactly the queries that
 * came before it).
 *
 * A query string is one patch batch: its queries are applied in order to
 * every site's flags in memory, the sites whose p flag changes have their
 * keys held, switched and queued with us_key_queue_many(), and only when
 * the batch has landed are the new flags stored. On any error nothing
 * changed.
 *
 * The log keeps every query that succeeded, in order, so that an object
 * registered later gets them replayed on its sites (as the kernel applies
 * dyndbg= parameters when a module loads). A query is dropped from the
 * log when a later one with the same match (or none: every site) touches
 * all its flags (see us_query_overrides): a control tool switching a file
 * on and off forever keeps one entry, and "=_" empties the log. At most
 * LOG_MAX distinct queries are kept; past that a query is refused with
 * -ENOSPC, before anything changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dyndbg.h"
#include "dyndbg_query.h"
#include "grow.h"
#include "init.h"
#include "runtime.h"
#include "static_key.h"

#define LOG_MAX 1024
#define US_DD_QUERY_MAX 65536	/* bytes in one query string */

static struct us_query *qlog;		/* registry lock */
static size_t nlog, caplog;		/* registry lock */
static bool env_read;			/* registry lock */

/* One site whose flags change in a batch. */
struct change {
	struct ustatic_dbg_site *site;
	unsigned int flags;
};

struct us_dyndbg_plan {
	struct change *v;
	size_t n, cap;
	struct us_key_change *keys;	/* until the batch finishes */
};

/*
 * Flags are written here under the registry lock, after the batch that
 * switched the site's branch has landed, and read by printing threads
 * without a lock: relaxed both ways, as nothing else is published with
 * them (a thread may print one line with the previous decorations).
 */
static unsigned int flags_of(const struct ustatic_dbg_site *s)
{
	return __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
}

static bool overridden(const struct us_query *old, const struct us_query *q,
		       size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (us_query_overrides(&q[j], old))
			return true;
	return false;
}

/*
 * Which of q[0..n) the log keeps: not one a later query of the same string
 * overrides ("+p; -p" a thousand times is one entry), and not "=_" on
 * every site (it empties the log, and an object loaded later starts with
 * every flag clear anyway). Returns how many are kept.
 */
static size_t log_choose(const struct us_query *q, size_t n, bool *keep)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		keep[i] = !overridden(&q[i], q + i + 1, n - i - 1) &&
			  !us_query_clears_all(&q[i]);
		m += keep[i];
	}
	return m;
}

/* Makes room in the log for the m of q[0..n) it keeps (what any of q
 * overrides goes), before anything is applied, so that logging them
 * cannot fail afterwards. */
static int log_reserve(const struct us_query *q, size_t n, size_t m,
		       char *err, size_t errlen)
{
	size_t kept = 0;

	for (size_t i = 0; m <= LOG_MAX && i < nlog; i++)
		kept += !overridden(&qlog[i], q, n);
	if (kept + m > LOG_MAX) {
		snprintf(err, errlen, "more than %d distinct queries to keep "
			 "for objects loaded later: refused", LOG_MAX);
		return -ENOSPC;
	}
	if (nlog + m > caplog) {
		struct us_query *v = realloc(qlog, (nlog + m) * sizeof(*v));

		if (!v) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		qlog = v;
		caplog = nlog + m;
	}
	return 0;
}

/* Appends the kept ones of q[0..n) (taking their strings), dropping what
 * any of q overrides. */
static void log_commit(struct us_query *q, size_t n, const bool *keep)
{
	size_t kept = 0;

	for (size_t i = 0; i < nlog; i++) {
		if (overridden(&qlog[i], q, n))
			us_query_free(&qlog[i]);
		else
			qlog[kept++] = qlog[i];
	}
	for (size_t i = 0; i < n; i++)
		if (keep[i]) {
			qlog[kept++] = q[i];
			/* The strings are the log's now. */
			memset(&q[i], 0, sizeof(q[i]));
		}
	nlog = kept;
}

/* Flags of s after q[0..n). */
static unsigned int replay(const struct us_query *q, size_t n,
			   const struct ustatic_dbg_site *s, unsigned int f)
{
	for (size_t i = 0; i < n; i++)
		if (us_query_matches(&q[i], s))
			f = us_query_apply(&q[i], f);
	return f;
}

/* Plans the sites of o whose flags q[0..n) change. */
static int plan_object(struct us_dyndbg_plan *p, struct us_object *o,
		       const struct us_query *q, size_t n)
{
	for (size_t i = 0; i < o->ndbg; i++) {
		struct ustatic_dbg_site *s = o->dbg[i];
		unsigned int was = flags_of(s), f = replay(q, n, s, was);

		if (f == was)
			continue;
		if (us_grow(&p->v, &p->cap, p->n, sizeof(*p->v)))
			return -ENOMEM;
		p->v[p->n++] = (struct change){ s, f };
	}
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	return x->site < y->site ? -1 : x->site > y->site;
}

/*
 * Holds and switches the key of every planned site whose p flag changes,
 * in key order (the key is the site's first member), and queues their
 * patches in one pass.
 */
static int queue_plan(struct us_batch *b, struct us_dyndbg_plan *p)
{
	size_t nk = 0;

	if (p->n) {
		size_t k = 1;

		qsort(p->v, p->n, sizeof(*p->v), cmp_site);
		/* A C++ inline function's site is one (a unique symbol)
		 * however many objects list it: change it once. */
		for (size_t i = 1; i < p->n; i++)
			if (p->v[i].site != p->v[k - 1].site)
				p->v[k++] = p->v[i];
		p->n = k;
	}
	if (!p->keys)
		p->keys = calloc(p->n + 1, sizeof(*p->keys));
	if (!p->keys)
		return us_batch_fail(b, -ENOMEM);
	for (size_t i = 0; i < p->n && !b->err; i++) {
		struct ustatic_dbg_site *s = p->v[i].site;
		bool on = p->v[i].flags & US_DD_P;

		if (on == ((flags_of(s) & US_DD_P) != 0))
			continue;
		if (us_key_hold(b, &p->keys[nk], &s->key.key))
			break;
		us_key_replay(b, &p->keys[nk++],
			      on ? US_KEY_ENABLE : US_KEY_DISABLE);
	}
	if (!b->err)
		us_key_queue_many(b, p->keys, nk);
	return b->err;
}

static void plan_free(struct us_dyndbg_plan *p)
{
	free(p->v);
	free(p->keys);
}

/* After the batch: the flags land with the code, or not at all. */
static void settle_plan(struct us_dyndbg_plan *p, int err)
{
	if (!err)
		for (size_t i = 0; i < p->n; i++)
			__atomic_store_n(&p->v[i].site->flags, p->v[i].flags,
					 __ATOMIC_RELAXED);
}

/* Registry lock held: q[0..n) on every object's sites, one batch. */
static int apply_all(const struct us_query *q, size_t n, char *err,
		     size_t errlen)
{
	struct us_dyndbg_plan p = { 0 };
	struct us_batch b = US_BATCH_INIT;
	int r = 0;

	us_for_each_object(o)
		if (!r)
			r = plan_object(&p, o, q, n);
	if (r)
		us_batch_fail(&b, r);
	else
		queue_plan(&b, &p);
	r = us_batch_finish(&b);
	settle_plan(&p, r);
	if (r)
		snprintf(err, errlen, "the sites could not be patched: %s "
			 "(nothing changed)", strerror(-r));
	else
		r = (int)(p.n > (size_t)0x7fffffff ? 0x7fffffff : p.n);
	plan_free(&p);
	return r;
}

/* Registry lock held: parse, apply, log. */
static int query_locked(const char *s, char *err, size_t errlen)
{
	struct us_query *q;
	bool *keep;
	size_t n;
	int r;

	if (strlen(s) > US_DD_QUERY_MAX) {
		snprintf(err, errlen, "query longer than %d bytes",
			 US_DD_QUERY_MAX);
		return -E2BIG;
	}
	r = us_queries_parse(s, &q, &n, err, errlen);
	if (r)
		return r;
	keep = calloc(n ? n : 1, sizeof(*keep));
	if (!keep) {
		snprintf(err, errlen, "out of memory");
		r = -ENOMEM;
	} else {
		r = log_reserve(q, n, log_choose(q, n, keep), err, errlen);
	}
	if (!r)
		r = apply_all(q, n, err, errlen);
	if (r >= 0)
		log_commit(q, n, keep);
	free(keep);
	us_queries_free(q, n);
	return r;
}

/* USTATIC_DYNDBG, once, before any other query and any object's sites. */
static void read_env(void)
{
	const char *s = secure_getenv("USTATIC_DYNDBG");
	char err[256];
	int r;

	if (env_read)
		return;
	env_read = true;
	if (!s || !*s)
		return;
	r = query_locked(s, err, sizeof(err));
	if (r < 0) {
		/* Asked for explicitly: said even without USTATIC_DEBUG. */
		char line[400];
		int len = snprintf(line, sizeof(line), "ustatic: USTATIC_DYNDBG "
				   "ignored: %s\n", err);

		if (write(2, line, (size_t)len < sizeof(line) ? (size_t)len :
			  sizeof(line) - 1) < 0)
			return;
	}
}

int us_dyndbg_query(const char *query, char *err, size_t errlen)
{
	char dummy[1];
	int r;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*err = 0;
	if (!query) {
		snprintf(err, errlen, "no query");
		return -EINVAL;
	}
	us_init();
	us_lock(&us_registry_lock);
	read_env();
	r = query_locked(query, err, errlen);
	us_unlock(&us_registry_lock);
	return r;
}

int ustatic_dyndbg_query(const char *query)
{
	char err[256];
	int r = us_enter("ustatic_dyndbg_query");

	if (r)
		return r;
	r = us_dyndbg_query(query, err, sizeof(err));
	if (r < 0)
		us_log_each("ustatic_dyndbg_query: %s", err);
	us_leave_cancelable(r < 0 ? r : 0);
	return r;
}

struct us_dyndbg_plan *us_dyndbg_queue_object(struct us_batch *b,
					      struct us_object *o)
{
	struct us_dyndbg_plan *p;

	us_assert_held(&us_registry_lock);
	read_env();
	if (!o->ndbg || !nlog)
		return NULL;
	/* Out of memory here, the object keeps its sites off rather than
	 * fail the batch that brings its static calls and keys in line. */
	p = calloc(1, sizeof(*p));
	if (!p || plan_object(p, o, qlog, nlog) ||
	    !(p->keys = calloc(p->n + 1, sizeof(*p->keys)))) {
		us_log("dyndbg: out of memory replaying queries on object %s: "
		       "its debug sites stay off", o->name);
		us_dyndbg_settle(p, -ENOMEM);
		return NULL;
	}
	queue_plan(b, p);
	return p;
}

void us_dyndbg_settle(struct us_dyndbg_plan *p, int err)
{
	if (!p)
		return;
	settle_plan(p, err);
	plan_free(p);
	free(p);
}

/* ---- listing ---- */

/* The format as the kernel's control file shows it. */
static size_t escape(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s && n + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			n += (size_t)snprintf(out + n, size - n, "\\n");
		else if (c == '\t')
			n += (size_t)snprintf(out + n, size - n, "\\t");
		else if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, size - n, "\\%c", c);
		else if (c < 32 || c >= 127)
			n += (size_t)snprintf(out + n, size - n, "\\%03o", c);
		else
			out[n++] = (char)c;
	}
	out[n] = 0;
	return n;
}

static void us_dyndbg_flags_string(unsigned int f, char out[8])
{
	static const char names[] = "pflmt";
	size_t n = 0;

	for (int i = 0; i < 5; i++)
		if (f & (1u << i))
			out[n++] = names[i];
	if (!n)
		out[n++] = '_';
	out[n] = 0;
}

#define LIST_LINE 1024

/* Within an object, sites listed by file, then line (the registry keeps
 * them by address, which is no order for a reader). */
static int by_place(const void *a, const void *b)
{
	const struct ustatic_dbg_site *x = *(const struct ustatic_dbg_site *const *)a;
	const struct ustatic_dbg_site *y = *(const struct ustatic_dbg_site *const *)b;
	int c = strcmp(x->file, y->file);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Registry lock held: o's sites in listing order, or NULL (no memory:
 * then in the registry's order). The caller frees it. */
static struct ustatic_dbg_site **sorted_sites(const struct us_object *o)
{
	struct ustatic_dbg_site **v;

	if (!o->ndbg || !(v = malloc(o->ndbg * sizeof(*v))))
		return NULL;
	memcpy(v, o->dbg, o->ndbg * sizeof(*v));
	qsort(v, o->ndbg, sizeof(*v), by_place);
	return v;
}

/*
 * Lines are made under the registry lock into one buffer and emitted
 * after it is released: a slow reader of the control socket must not
 * hold every update up.
 */
int us_dyndbg_list(us_emit_fn emit, void *ctx)
{
	char *all = NULL, fmt[LIST_LINE / 2], flags[8];
	size_t len = 0, cap = 0;
	int r = 0;

	us_init();
	us_lock(&us_registry_lock);
	us_for_each_object(o) {
		struct ustatic_dbg_site **v = sorted_sites(o);

		for (size_t i = 0; !r && i < o->ndbg; i++) {
			const struct ustatic_dbg_site *s = v ? v[i] : o->dbg[i];

			escape(fmt, sizeof(fmt), s->format);
			us_dyndbg_flags_string(flags_of(s), flags);
			while (!r && cap - len < LIST_LINE + 1)
				r = us_grow(&all, &cap, cap + LIST_LINE + 1, 1)
					? -ENOMEM : 0;
			if (!r) {
				int w = snprintf(all + len, LIST_LINE,
					"%s:%u [%s]%s =%s \"%s\"", s->file,
					s->line, o->name, s->func, flags, fmt);

				len += (w < LIST_LINE ? (size_t)w :
					LIST_LINE - 1) + 1;
			}
		}
		free(v);
	}
	us_unlock(&us_registry_lock);
	for (size_t at = 0; !r && at < len; at += strlen(all + at) + 1)
		r = emit(ctx, all + at);
	free(all);
	return r;
}
