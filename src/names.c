/* SPDX-License-Identifier: MIT */
/*
 * Static keys and static calls by the names recorded where they are
 * defined (each object's ustatic_names records, read at registration):
 * for messages, for listing, and for switching a key by name. The records
 * live in their objects; the registry lock keeps the objects.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyndbg.h"
#include "dyndbg_core.h"
#include "grow.h"
#include "init.h"
#include "runtime.h"
#include "static_key.h"

enum { KIND_KEY = 0, KIND_CALL = 1 };

/* The element of record r that addr is, or -1. */
static long element(const struct ustatic_name *r, const void *addr)
{
	size_t size = r->kind == KIND_KEY ? sizeof(struct static_key_false) :
					    sizeof(struct static_call_key);
	const char *a = addr, *b = r->addr;

	if (a < b || a >= b + size * (r->count ? r->count : 1) ||
	    (size_t)(a - b) % size)
		return -1;
	return (long)((size_t)(a - b) / size);
}

static void format_name(const struct ustatic_name *r, long i, char *buf,
			size_t size)
{
	if (r->count > 1)
		snprintf(buf, size, "%s[%ld]", r->name, i);
	else
		snprintf(buf, size, "%s", r->name);
}

bool us_names_find(const void *addr, char *buf, size_t size)
{
	bool locked = us_lock(&us_registry_lock) == 0, found = false;

	us_for_each_object(o)
		for (size_t i = 0; !found && i < o->nnames; i++) {
			long e = element(&o->names[i], addr);

			if (e >= 0) {
				format_name(&o->names[i], e, buf, size);
				found = true;
			}
		}
	if (locked)
		us_unlock(&us_registry_lock);
	return found;
}

/* A code address as "name", "name+0xOFF" or "MODULE+0xOFF". */
static void code_symbol(const void *addr, char *buf, size_t size)
{
	Dl_info info;
	const char *base;

	if (!dladdr(addr, &info)) {
		snprintf(buf, size, "anonymous+%#lx", (unsigned long)addr);
		return;
	}
	if (info.dli_sname && info.dli_saddr) {
		size_t off = (size_t)((const char *)addr -
				      (const char *)info.dli_saddr);

		if (!off)
			snprintf(buf, size, "%s", info.dli_sname);
		else
			snprintf(buf, size, "%s+%#zx", info.dli_sname, off);
		return;
	}
	base = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
	base = base ? base + 1 : info.dli_fname;
	snprintf(buf, size, "%s+%#zx", base && *base ? base : "?",
		 (size_t)((const char *)addr - (const char *)info.dli_fbase));
}

#define NAME_LINE 512

/* Lines made under the lock into one buffer, emitted after it. */
struct lines {
	char *v;
	size_t len, cap;
};

static int add_line(struct lines *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int add_line(struct lines *l, const char *fmt, ...)
{
	va_list ap;
	int w;

	while (l->cap - l->len < NAME_LINE)
		if (us_grow(&l->v, &l->cap, l->cap + NAME_LINE, 1))
			return -ENOMEM;
	va_start(ap, fmt);
	w = vsnprintf(l->v + l->len, NAME_LINE, fmt, ap);
	va_end(ap);
	l->len += (w < 0 ? 0 : w < NAME_LINE ? (size_t)w : NAME_LINE - 1) + 1;
	l->v[l->len - 1] = 0;
	return 0;
}

static int list_record(struct lines *l, const struct us_object *o,
		       const struct ustatic_name *r)
{
	char name[256], target[256];
	int err = 0;

	if (r->kind == KIND_CALL) {
		const struct static_call_key *k = r->addr;

		code_symbol(__atomic_load_n(&k->func, __ATOMIC_ACQUIRE),
			    target, sizeof(target));
		return add_line(l, "call %s:%s target %s", o->name, r->name,
				target);
	}
	for (unsigned int i = 0; !err && i < (r->count ? r->count : 1); i++) {
		struct static_key *k = &((struct static_key_false *)
					 (uintptr_t)r->addr)[i].key;
		int n = us_key_count(k);

		format_name(r, i, name, sizeof(name));
		err = add_line(l, "key %s:%s %s count %d", o->name, name,
			       n > 0 ? "enabled" : "disabled", n);
	}
	return err;
}

int us_names_list(us_emit_fn emit, void *ctx)
{
	struct lines l = { 0 };
	int err = 0;

	us_init();
	us_lock(&us_registry_lock);
	us_for_each_object(o)
		for (size_t i = 0; !err && i < o->nnames; i++)
			err = list_record(&l, o, &o->names[i]);
	us_unlock(&us_registry_lock);
	for (size_t at = 0; !err && at < l.len; at += strlen(l.v + at) + 1)
		err = emit(ctx, l.v + at);
	free(l.v);
	return err;
}

/* ---- a key by name ---- */

struct wanted {
	const char *module;		/* NULL: any */
	size_t modlen;
	const char *name;
	size_t namelen;
	long index;			/* -1: none given */
};

/* "NAME", "MODULE:NAME", either with "[I]". */
static int parse_name(const char *s, struct wanted *w, char *err,
		      size_t errlen)
{
	const char *colon = strrchr(s, ':'), *br;

	*w = (struct wanted){ .name = s, .index = -1 };
	if (colon) {
		w->module = s;
		w->modlen = (size_t)(colon - s);
		w->name = colon + 1;
	}
	br = strchr(w->name, '[');
	w->namelen = br ? (size_t)(br - w->name) : strlen(w->name);
	if (br) {
		char *end;

		w->index = strtol(br + 1, &end, 10);
		if (end == br + 1 || *end != ']' || end[1] || w->index < 0) {
			snprintf(err, errlen, "bad key name '%s': an index is "
				 "NAME[N]", s);
			return -EINVAL;
		}
	}
	if (!w->namelen || (w->module && !w->modlen)) {
		snprintf(err, errlen, "bad key name '%s': NAME or MODULE:NAME",
			 s);
		return -EINVAL;
	}
	return 0;
}

static bool is(const char *s, size_t len, const char *full)
{
	return strlen(full) == len && !strncmp(s, full, len);
}

/* Registry lock held: the key named w, or NULL with err set. */
static struct static_key *find_key(const struct wanted *w, const char *s,
				   char *err, size_t errlen)
{
	const struct us_object *where = NULL;
	const struct ustatic_name *found = NULL;

	us_for_each_object(o) {
		if (w->module && !is(w->module, w->modlen, o->name))
			continue;
		for (size_t i = 0; i < o->nnames; i++) {
			const struct ustatic_name *r = &o->names[i];

			if (!is(w->name, w->namelen, r->name))
				continue;
			/* Two records of one key: a definition the
			 * executable's interposed (the same address). */
			if (found && found->addr == r->addr)
				continue;
			if (found) {
				snprintf(err, errlen, "'%s' is ambiguous: "
					 "defined in %s and %s (say MODULE:NAME)",
					 s, where->name, o->name);
				return NULL;
			}
			found = r;
			where = o;
		}
	}
	if (!found) {
		snprintf(err, errlen, "no static key named '%s'", s);
		return NULL;
	}
	if (found->kind != KIND_KEY) {
		snprintf(err, errlen, "'%s' is a static call, not a key", s);
		return NULL;
	}
	if (w->index >= (long)(found->count ? found->count : 1) ||
	    (w->index < 0 && found->count > 1)) {
		snprintf(err, errlen, "'%s': %s is an array of %u keys: "
			 "say %s[0] to %s[%u]", s, found->name, found->count,
			 found->name, found->name, found->count - 1);
		return NULL;
	}
	return &((struct static_key_false *)(uintptr_t)found->addr)
		[w->index < 0 ? 0 : w->index].key;
}

/* Registry lock held: op as one batch (the slow path of api.c). */
static int key_op(struct static_key *key, enum us_key_op op)
{
	struct us_batch b = US_BATCH_INIT;
	struct us_key_change c;

	if (!us_key_hold(&b, &c, key) && !us_key_replay(&b, &c, op))
		us_key_queue(&b, &c);
	return us_batch_finish(&b);
}

int us_names_key_op(const char *name, enum us_key_op op, char *err,
		    size_t errlen)
{
	struct static_key *key;
	struct wanted w;
	char dummy[1];
	int r;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*err = 0;
	if (!name || (r = parse_name(name, &w, err, errlen)))
		return name ? r : -EINVAL;
	us_init();
	us_lock(&us_registry_lock);
	key = find_key(&w, name, err, errlen);
	if (!key)
		r = strstr(err, "no static key") ? -ENOENT : -EINVAL;
	else if (op == US_KEY_COUNT)
		r = us_key_count(key);
	else if ((r = key_op(key, op)))
		snprintf(err, errlen, "'%s': %s", name, strerror(-r));
	us_unlock(&us_registry_lock);
	return r;
}
