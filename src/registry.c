/* SPDX-License-Identifier: MIT */
/*
 * Objects and their tables. Each object's constructor hands us the bounds
 * of its ustatic_tramps and ustatic_jumps sections (and ustatic_sites, for
 * sites.c); we turn them into trampolines and jump entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grow.h"
#include "registry.h"
#include "writer.h"

/* Section entry formats, as the public header's asm emits them. */
struct tramp_entry {
	void *tramp;
	struct static_call_key *key;
};
struct jump_entry {
	int32_t code, target, keyref;	/* self-relative */
	uint32_t likely;
};

struct us_object *us_objects;

static void read_segments(const struct us_object *leaving);	/* is it code? */

static void *rel(const int32_t *field)
{
	return (uint8_t *)field + *field;
}

/*
 * The module name of an object, as the kernel's dynamic debug names a
 * module: its file's basename. The executable (which the loader lists
 * first, with an empty name) is named by /proc/self/exe, or by what it
 * was invoked as when /proc cannot be read.
 */
static char *object_name(const char *path, bool main_program)
{
	char exe[4096];
	const char *slash;

	if (main_program || !path || !*path) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n > 0) {
			exe[n] = 0;
			path = exe;
		} else {
			path = program_invocation_name;
		}
	}
	slash = strrchr(path, '/');
	return strdup(slash ? slash + 1 : path);
}

/* The executable segment holding o's id (its ret stub), and its name. */
static int find_text(struct dl_phdr_info *info, size_t size US_UNUSED,
		     void *arg)
{
	struct us_object *o = arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    (uintptr_t)o->id >= s && (uintptr_t)o->id < s + ph->p_memsz) {
			o->text_start = s;
			o->text_end = s + ph->p_memsz;
			o->name = object_name(info->dlpi_name,
					      !info->dlpi_name ||
					      !*info->dlpi_name);
			return 1;
		}
	}
	return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The name records, in the object's own data; the debug sites, from the
 * pointers the header emits (repeated where the compiler copied a site's
 * code): sorted, each once, with their module name (ours, freed with the
 * object, whose sites go with it).
 */
static int read_names_and_sites(struct us_object *o,
				const struct ustatic_object_tables2 *t)
{
	const struct ustatic_name *nb = t->names_start, *ne = t->names_stop;
	struct ustatic_dbg_site *const *db = t->dbg_start, *const *de = t->dbg_stop;
	size_t n = db ? (size_t)(de - db) : 0, k = 0;

	o->names = nb;
	o->nnames = nb ? (size_t)(ne - nb) : 0;
	o->dbg = calloc(n + 1, sizeof(*o->dbg));
	if (!o->dbg)
		return -ENOMEM;
	if (n)
		memcpy(o->dbg, db, n * sizeof(*o->dbg));
	qsort(o->dbg, n, sizeof(*o->dbg), cmp_ptr);
	for (size_t i = 0; i < n; i++)
		if (o->dbg[i] && (!k || o->dbg[i] != o->dbg[k - 1]))
			o->dbg[k++] = o->dbg[i];
	o->ndbg = k;
	/* A C++ inline function's site is one unique symbol that other
	 * objects list too: the first to register names it (relaxed: read
	 * by printing threads). */
	for (size_t i = 0; i < o->ndbg; i++)
		if (!__atomic_load_n(&o->dbg[i]->module, __ATOMIC_RELAXED))
			__atomic_store_n(&o->dbg[i]->module, o->name,
					 __ATOMIC_RELAXED);
	return 0;
}

static int cmp_tramp(const void *a, const void *b)
{
	const struct us_tramp *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct us_tramp *us_object_tramp_at(struct us_object *o, uint8_t *addr)
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
	return 0;
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
	return 0;
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

void us_registry_discard(struct us_object *o)
{
	free(o->name);
	free(o->dbg);
	free(o->tramps);
	free(o->sites);
	free(o->jumps);
	free(o);
}

struct us_object *us_registry_read(const struct ustatic_object_tables2 *t2,
				   int *err)
{
	const struct ustatic_object_tables *t = &t2->base;
	struct us_object *o;

	us_assert_held(&us_registry_lock);
	*err = 0;
	if (find_object(t->id, NULL))
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o) {
		*err = -ENOMEM;
		return NULL;
	}
	o->id = t->id;
	o->ret_stub = (uint8_t *)t->ret_stub;
	o->ret0_stub = (uint8_t *)t->ret0_stub;
	dl_iterate_phdr(find_text, o);
	if (!o->name)
		o->name = strdup("?");
	if (!o->name || read_tramps(o, t) || read_jumps(o, t)) {
		us_registry_discard(o);
		*err = -ENOMEM;
		return NULL;
	}
	if (read_names_and_sites(o, t2)) {
		us_registry_discard(o);
		*err = -ENOMEM;
		return NULL;
	}
	return o;
}

void us_registry_publish(struct us_object *o)
{
	us_assert_held(&us_registry_lock);
	o->next = us_objects;
	us_objects = o;
	us_writer_text_changed();
	read_segments(NULL);
	US_COUNT(objects, 1);
	US_COUNT(trampolines, o->ntramps);
	US_COUNT(jump_entries, o->njumps);
}

void us_registry_remove(const struct ustatic_object_tables *t)
{
	struct us_object **link, *o;

	us_assert_held(&us_registry_lock);
	o = find_object(t->id, &link);
	if (o) {
		/* Sites that outlive it (another object's, listed here too)
		 * must not keep its name, which goes with it. */
		for (size_t i = 0; i < o->ndbg; i++)
			__atomic_compare_exchange_n(&o->dbg[i]->module,
				&(const char *){ o->name }, NULL, false,
				__ATOMIC_RELAXED, __ATOMIC_RELAXED);
		*link = o->next;
		us_writer_text_changed();
		read_segments(o);
		US_COUNT(objects, -1UL);
		us_registry_discard(o);
	}
}

/* ---- is it code? ---- */

/*
 * The executable segments of every loaded object, read when an object
 * registers or unregisters (registry lock held, inside dlopen(), dlclose()
 * or the start-up constructors, where the loader's lock may be taken), so
 * that checking a target takes no lock and reads no file. Not when the
 * target is checked: a fork child of a threaded process must not take the
 * loader's lock, which another thread of the parent may have held
 * (test/fuzz.c's fork children hung there). An object loaded since that
 * does not use ustatic is found in /proc/self/maps instead; one unloaded
 * since stays listed until the next registration (its functions are
 * dangling pointers to the program as much as to us).
 */
struct segment {
	uintptr_t start, end;
};
static struct segment *segments;
static size_t nsegments;

struct segment_list {
	struct segment *v;
	size_t n, cap;
	const struct us_object *leaving;	/* its text is left out */
	int err;
};

static int add_segments(struct dl_phdr_info *info, size_t size US_UNUSED,
			void *arg)
{
	struct segment_list *l = arg;

	for (int i = 0; !l->err && i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) ||
		    (l->leaving && s == l->leaving->text_start))
			continue;
		if (us_grow(&l->v, &l->cap, l->n, sizeof(*l->v)))
			l->err = -ENOMEM;
		else
			l->v[l->n++] = (struct segment){ s, s + ph->p_memsz };
	}
	return l->err;
}

/* Reads the list anew, without the text of `leaving` (being unloaded);
 * out of memory, the old list stays (the maps answer what it lacks). */
static void read_segments(const struct us_object *leaving)
{
	struct segment_list l = { .leaving = leaving };

	us_assert_held(&us_registry_lock);
	dl_iterate_phdr(add_segments, &l);
	if (l.err) {
		free(l.v);
		return;
	}
	free(segments);
	segments = l.v;
	nsegments = l.n;
}

static bool in_segments(uintptr_t at)
{
	for (size_t i = 0; i < nsegments; i++)
		if (at >= segments[i].start && at < segments[i].end)
			return true;
	return false;
}

/* An executable segment of any loaded object holds arg (a uintptr_t). */
static int in_exec_segment(struct dl_phdr_info *info, size_t size US_UNUSED,
			   void *arg)
{
	uintptr_t at = *(uintptr_t *)arg;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    at >= s && at < s + ph->p_memsz)
			return 1;
	}
	return 0;
}

/* The maps line holding `at` says x. Without /proc (a sandbox), the
 * loaded objects' program headers say it for their code; code made at
 * run time cannot be proven then, and is refused. */
static bool in_exec_mapping(uintptr_t at)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool x = false;

	if (!f)
		return dl_iterate_phdr(in_exec_segment, &at) != 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perm[5];

		if (sscanf(line, "%lx-%lx %4s", &s, &e, perm) == 3 &&
		    at >= s && at < e) {
			x = perm[2] == 'x';
			break;
		}
		if (!strchr(line, '\n'))	/* a long path: skip its rest */
			while (fgets(line, sizeof(line), f) && !strchr(line, '\n'))
				;
	}
	fclose(f);
	return x;
}

/*
 * Whether `at` is in executable memory. In turn: the text of a registered
 * object, or an executable segment of an object loaded when the registry
 * last changed (no system call, no lock but ours: as many steps as loaded
 * objects, not as mappings); else an executable mapping per
 * /proc/self/maps (code made at run time, an object loaded since without
 * ustatic: read for that update only). What cannot be read counts as not
 * code.
 */
bool us_is_code(const void *at)
{
	uintptr_t a = (uintptr_t)at;

	us_assert_held(&us_registry_lock);
	us_for_each_object(o)
		if (a >= o->text_start && a < o->text_end)
			return true;
	return in_segments(a) || in_exec_mapping(a);
}
