/* SPDX-License-Identifier: MIT */
/*
 * Object registration. Each object's constructor hands us the bounds of
 * its ustatic_tramps, ustatic_sites and ustatic_jumps sections; we turn
 * them into trampolines, call sites and jump entries, then patch the
 * object's code to match the current value of every key it uses.
 */
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "init.h"
#include "registry.h"

/* Section entry formats, as the public header's asm emits them. */
struct tramp_entry {
	void *tramp;
	struct static_call_key *key;
};
struct site_entry {
	int32_t marker;			/* self-relative */
	int32_t tramp;			/* self-relative */
};
struct jump_entry {
	int32_t code, target, keyref;	/* self-relative */
	uint32_t likely;
};

/* How far past a marker the call it announces may be. */
#define MARKER_WINDOW_BYTES 256
#define MARKER_WINDOW_INSNS 48

struct us_object *us_objects;
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;

void us_registry_lock(void)
{
	pthread_mutex_lock(&registry_mutex);
}

void us_registry_unlock(void)
{
	pthread_mutex_unlock(&registry_mutex);
}

int us_patch_vec_push(struct us_patch_vec *pv, const struct us_patch *p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 64;
		struct us_patch *v = realloc(pv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = *p;
	return 0;
}

void us_patch_vec_free(struct us_patch_vec *pv)
{
	free(pv->v);
	*pv = (struct us_patch_vec){ 0 };
}

static void *rel(const int32_t *field)
{
	return (uint8_t *)field + *field;
}

/* The executable segment holding `at`: where decoding must stop. */
struct segment_query {
	uintptr_t at, start, end;
};

static int find_segment(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct segment_query *q = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    q->at >= s && q->at < s + ph->p_memsz) {
			q->start = s;
			q->end = s + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

static int cmp_tramp(const void *a, const void *b)
{
	const struct us_tramp *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static struct us_tramp *tramp_at(struct us_object *o, uint8_t *addr)
{
	struct us_tramp k = { .addr = addr };

	return bsearch(&k, o->tramps, o->ntramps, sizeof(k), cmp_tramp);
}

static int read_tramps(struct us_object *o, const struct ustatic_object_tables *t)
{
	const struct tramp_entry *b = t->tramps_start, *e = t->tramps_stop;

	o->ntramps = b ? (size_t)(e - b) : 0;
	o->tramps = calloc(o->ntramps + 1, sizeof(*o->tramps));
	if (!o->tramps)
		return -ENOMEM;
	for (size_t i = 0; i < o->ntramps; i++)
		o->tramps[i] = (struct us_tramp){ .addr = b[i].tramp,
						  .key = b[i].key, .obj = o };
	qsort(o->tramps, o->ntramps, sizeof(*o->tramps), cmp_tramp);
	US_COUNT(trampolines, o->ntramps);
	return 0;
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
	if (f->n == f->cap) {
		size_t c = f->cap ? f->cap * 2 : 64;
		struct found_site *nv = realloc(f->v, c * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		f->v = nv;
		f->cap = c;
	}
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
static long scan_marker(uint8_t *p, uint8_t *stop, const struct segment_query *seg,
			uint8_t *tramp, struct found_sites *f)
{
	uint8_t *end = p + MARKER_WINDOW_BYTES;
	long found = 0;

	if ((uintptr_t)end > seg->end)
		end = (uint8_t *)seg->end;
	if (stop && stop < end)
		end = stop;
	for (int i = 0; i < MARKER_WINDOW_INSNS && p < end; i++) {
		struct us_site s;
		bool hit;
		int len = us_arch_decode_site(p, (size_t)(end - p), tramp, &s, &hit);

		if (len <= 0)
			break;
		if (hit) {
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
static long read_markers(struct us_object *o, const struct ustatic_object_tables *t,
			 const struct segment_query *seg, struct marker **out)
{
	const struct site_entry *b = t->sites_start, *e = t->sites_stop;
	struct marker *m = malloc(((size_t)(e - b) + 1) * sizeof(*m));
	size_t n = 0, k = 0;

	if (!m)
		return -ENOMEM;
	for (; b < e; b++) {
		uint8_t *at = rel(&b->marker), *tr = rel(&b->tramp);

		if (!tramp_at(o, tr) || (uintptr_t)at < seg->start ||
		    (uintptr_t)at >= seg->end) {
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
		tramp_at(o, v[i].tramp)->nsites++;
	for (size_t t = 0; t < o->ntramps; t++) {
		o->tramps[t].sites = o->sites + pos;
		pos += o->tramps[t].nsites;
		o->tramps[t].nsites = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct us_tramp *tr = tramp_at(o, v[i].tramp);

		tr->sites[tr->nsites++] = v[i].site;
	}
	return 0;
}

static int read_sites(struct us_object *o, const struct ustatic_object_tables *t)
{
	struct segment_query seg = { .at = (uintptr_t)t->id };
	struct found_sites f = { 0 };
	struct marker *m;
	long n;
	int err = 0;

	if (!US_ARCH_PATCHES_CODE || !t->sites_start || t->sites_start == t->sites_stop)
		return 0;
	dl_iterate_phdr(find_segment, &seg);
	n = read_markers(o, t, &seg, &m);
	if (n < 0)
		return (int)n;
	/* Every stretch of code is decoded once per trampoline: from each
	 * marker to the next one of the same trampoline. */
	for (long i = 0; i < n && !err; i++) {
		uint8_t *stop = i + 1 < n && m[i + 1].tramp == m[i].tramp ?
				m[i + 1].at : NULL;
		long got = scan_marker(m[i].at, stop, &seg, m[i].tramp, &f);

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

static int read_jumps(struct us_object *o, const struct ustatic_object_tables *t)
{
	const struct jump_entry *b = t->jumps_start, *e = t->jumps_stop;

	o->njumps = b ? (size_t)(e - b) : 0;
	o->jumps = calloc(o->njumps + 1, sizeof(*o->jumps));
	if (!o->jumps)
		return -ENOMEM;
	for (size_t i = 0; i < o->njumps; i++) {
		struct static_key **ref = rel(&b[i].keyref);

		o->jumps[i] = (struct us_jump){ rel(&b[i].code), rel(&b[i].target),
						*ref, b[i].likely != 0 };
	}
	US_COUNT(jump_entries, o->njumps);
	return 0;
}

static void free_object(struct us_object *o)
{
	free(o->tramps);
	free(o->sites);
	free(o->jumps);
	free(o);
}

static struct us_object *find_object(const void *id, struct us_object ***link)
{
	struct us_object **l = &us_objects;

	for (; *l; l = &(*l)->next)
		if ((*l)->id == id)
			break;
	if (link)
		*link = l;
	return *l;
}

static int try_align(struct us_object *o, bool sites)
{
	struct us_patch_vec pv = { 0 };
	int err = us_static_call_plan_object(o, sites, &pv);

	if (!err)
		err = us_static_key_plan_object(o, &pv);
	if (!err)
		err = us_engine_apply(pv.v, pv.n);
	if (!err)
		us_static_call_commit_object(o, sites);
	us_patch_vec_free(&pv);
	return err;
}

/*
 * Brings the new object's code in line with every key's current value.
 * When int3 cannot be used (a thread blocks SIGTRAP, USTATIC_TRAPFREE=1),
 * inline call sites stay on their trampolines, which switch trap-free.
 */
static void align_object(struct us_object *o)
{
	int err = try_align(o, true);

	if (err == -EDEADLK)
		err = try_align(o, false);
	if (err)
		us_log("registry: object %p could not be brought in line with "
		       "its keys (%d): its static calls run through their "
		       "trampolines' indirect form, its static branches keep "
		       "their initial values", o->id, err);
}

void __ustatic_register_object(const struct ustatic_object_tables *t)
{
	struct us_object *o;

	us_init();
	us_registry_lock();
	if (find_object(t->id, NULL))
		goto out;
	o = calloc(1, sizeof(*o));
	if (!o)
		goto fail;
	o->id = t->id;
	o->ret_stub = (uint8_t *)t->ret_stub;
	o->ret0_stub = (uint8_t *)t->ret0_stub;
	if (read_tramps(o, t) || read_sites(o, t) || read_jumps(o, t)) {
		free_object(o);
		goto fail;
	}
	align_object(o);
	o->next = us_objects;
	us_objects = o;
	US_COUNT(objects, 1);
	goto out;
fail:
	us_log("registry: out of memory registering object %p", t->id);
out:
	us_registry_unlock();
}

void __ustatic_unregister_object(const struct ustatic_object_tables *t)
{
	struct us_object **link, *o;

	us_registry_lock();
	o = find_object(t->id, &link);
	if (o) {
		*link = o->next;
		US_COUNT(objects, -1UL);
		free_object(o);
	}
	us_registry_unlock();
}
