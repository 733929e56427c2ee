/* SPDX-License-Identifier: MIT */
/*
 * Inline call-site discovery. Decoding from a marker, a known instruction
 * boundary, one whole instruction at a time is what makes it exact: a byte
 * scan for a call opcode could land inside another instruction.
 */
#include <errno.h>
#include <stdlib.h>

#include "debug.h"
#include "grow.h"
#include "registry.h"
#include "sites.h"
#include "trap.h"

/* Site table entry, as the public header's static_call() emits it. */
struct site_entry {
	int32_t marker;			/* self-relative */
	int32_t tramp;			/* self-relative */
};

/* How far past a marker the call it announces may be. */
#define MARKER_WINDOW_BYTES 256
#define MARKER_WINDOW_INSNS 48

static void *rel(const int32_t *field)
{
	return (uint8_t *)field + *field;
}

/* A site found while decoding, with the trampoline it calls. */
struct found_site {
	struct us_site site;
	uint8_t *tramp;
};

struct found_sites {
	struct found_site *v;
	size_t n, cap;
};

static int push_site(struct found_sites *f, const struct us_site *s, uint8_t *tramp)
{
	if (us_grow(&f->v, &f->cap, f->n, sizeof(*f->v)))
		return -ENOMEM;
	f->v[f->n++] = (struct found_site){ *s, tramp };
	return 0;
}

/*
 * Decodes forward from a marker, one whole instruction at a time, and
 * collects every call/jmp/jcc to `tramp`, up to the end of straight-line
 * code (a return, an indirect jump, padding), past which bytes may not be
 * instructions, and never past `stop` (the next marker for the same
 * trampoline, which takes over from there). Returns how many it found.
 */
static long scan_marker(uint8_t *p, uint8_t *stop, const struct us_object *o,
			uint8_t *tramp, struct found_sites *f)
{
	uint8_t *end = p + MARKER_WINDOW_BYTES;
	long found = 0;

	if ((uintptr_t)end > o->text_end)
		end = (uint8_t *)o->text_end;
	if (stop && stop < end)
		end = stop;
	for (int i = 0; i < MARKER_WINDOW_INSNS && p < end; i++) {
		struct us_site s;
		bool hit;
		int len = us_arch_decode_site(p, (size_t)(end - p), tramp, &s, &hit);

		if (len <= 0)
			break;
		/* Under a shadow stack a CALL site could only be left by
		 * emulating a CALL, which the handler must not do: such a
		 * site stays on its trampoline (whose slot is a JMP). */
		if (hit && !(s.kind == US_SITE_CALL && us_trap_shadow_stack())) {
			if (push_site(f, &s, tramp))
				return -ENOMEM;
			found++;
		}
		if (us_arch_ends_flow(p, len))
			break;
		p += len;
	}
	return found;
}

struct marker {
	uint8_t *tramp, *at;
};

/* By trampoline, then address: each trampoline's markers in code order. */
static int cmp_marker(const void *a, const void *b)
{
	const struct marker *x = a, *y = b;

	if (x->tramp != y->tramp)
		return x->tramp < y->tramp ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * The object's markers that can lead anywhere: on a trampoline of this
 * object, inside its executable segment; sorted, each address once (a
 * compiler may merge two markers into one).
 */
static long read_markers(struct us_object *o, const struct site_entry *b,
			 const struct site_entry *e, struct marker **out)
{
	struct marker *m = malloc(((size_t)(e - b) + 1) * sizeof(*m));
	size_t n = 0, k = 0;

	if (!m)
		return -ENOMEM;
	for (; b < e; b++) {
		uint8_t *at = rel(&b->marker), *tr = rel(&b->tramp);

		if (!us_object_tramp_at(o, tr) || (uintptr_t)at < o->text_start ||
		    (uintptr_t)at >= o->text_end) {
			US_COUNT(call_markers, 1);
			continue;
		}
		m[n++] = (struct marker){ tr, at };
	}
	qsort(m, n, sizeof(*m), cmp_marker);
	for (size_t i = 0; i < n; i++)
		if (!k || cmp_marker(&m[k - 1], &m[i]))
			m[k++] = m[i];
	*out = m;
	return (long)k;
}

/* Sites grouped by the trampoline they call, so a key finds its own. */
static int attach_sites(struct us_object *o, struct found_site *v, size_t n)
{
	size_t pos = 0;

	o->sites = malloc((n + 1) * sizeof(*o->sites));
	if (!o->sites)
		return -ENOMEM;
	o->nsites = n;
	for (size_t i = 0; i < n; i++)
		us_object_tramp_at(o, v[i].tramp)->nsites++;
	for (size_t t = 0; t < o->ntramps; t++) {
		o->tramps[t].sites = o->sites + pos;
		pos += o->tramps[t].nsites;
		o->tramps[t].nsites = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct us_tramp *tr = us_object_tramp_at(o, v[i].tramp);

		tr->sites[tr->nsites++] = v[i].site;
	}
	return 0;
}

int us_sites_discover(struct us_object *o, const void *sites_start,
		      const void *sites_stop)
{
	const struct site_entry *b = sites_start, *e = sites_stop;
	struct found_sites f = { 0 };
	struct marker *m;
	long n;
	int err = 0;

	if (!US_ARCH_PATCHES_CODE || !b || b == e)
		return 0;
	n = read_markers(o, b, e, &m);
	if (n < 0)
		return (int)n;
	/* Every stretch of code is decoded once per trampoline: from each
	 * marker to the next one of the same trampoline. */
	for (long i = 0; i < n && !err; i++) {
		uint8_t *stop = i + 1 < n && m[i + 1].tramp == m[i].tramp ?
				m[i + 1].at : NULL;
		long got = scan_marker(m[i].at, stop, o, m[i].tramp, &f);

		if (got < 0)
			err = -ENOMEM;
		else if (got == 0)
			US_COUNT(call_markers, 1);
	}
	free(m);
	if (!err)
		err = attach_sites(o, f.v, f.n);
	free(f.v);
	if (!err)
		US_COUNT(call_sites, f.n);
	return err;
}

