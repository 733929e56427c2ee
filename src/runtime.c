/* SPDX-License-Identifier: MIT */
/*
 * Finding the process's runtime. See runtime.h.
 *
 * Every copy's object carries a note, owner "ustatic", whose descriptor
 * holds the ABI and the offset from the descriptor to that copy's
 * us_runtime_slot, the pointer to the runtime it uses. A starting copy
 * walks the loaded objects (dl_iterate_phdr: no /proc, no symbol lookup),
 * reads every other copy's slot, and adopts the first runtime it finds; if none, it creates
 * one. Then it publishes the runtime in its own slot, so the runtime stays
 * findable as long as any copy is loaded (copies stay resident: init.c).
 *
 * Copies start in constructors, which the dynamic loader runs one at a
 * time under its lock, so two copies never create runtimes side by side.
 * The runtime is plain private memory: a forked child gets its own copy.
 */
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "runtime.h"

#define NOTE_TYPE 0x55530001u
#define STR(x) #x
#define XSTR(x) STR(x)

struct us_runtime *us_rt;
/* This copy's published pointer; only ever the runtime in use. Named in
 * the note below, so neither static (a compiler may rename those) nor
 * exported. */
US_HIDDEN struct us_runtime *us_runtime_slot __attribute__((used));
static bool foreign;
/* The runtime, if this copy creates it: in this copy's data, which stays
 * mapped (copies stay resident: init.c) and which leak checkers scan for
 * the pointers the runtime holds. */
static struct us_runtime own;

/* The note: namesz 8, descsz 16, type; "ustatic\0"; then the descriptor
 * { uint32 abi; uint32 zero; int64 slot - &descriptor.offset }. The
 * offset is resolved by the static linker (both are in this object), so
 * the note needs no dynamic relocation. "R": kept by --gc-sections. */
__asm__(".pushsection .note.ustatic,\"aR\",@note\n"
	".balign 4\n"
	".long 8, 16, 0x55530001\n"
	".asciz \"ustatic\"\n"
	".long " XSTR(US_RUNTIME_ABI) ", 0\n"
	"1: .quad us_runtime_slot - 1b\n"
	".popsection\n");

struct desc {
	uint32_t abi, zero;
	int64_t offset;
};

struct found {
	struct us_runtime *rt;
	uint32_t abi;			/* of a runtime we cannot use */
};

/* Whether the notes at p hold ours. */
static bool has_note(const char *p, size_t len)
{
	while (len >= 12) {
		uint32_t h[3];
		size_t step;

		memcpy(h, p, sizeof(h));
		step = 12 + ((h[0] + 3) & ~3u) + ((h[1] + 3) & ~3u);
		if (step > len)
			return false;
		if (h[2] == NOTE_TYPE && h[0] == 8 && !memcmp(p + 12, "ustatic", 8))
			return true;
		p += step;
		len -= step;
	}
	return false;
}

static struct us_runtime *slot_of(const char *desc)
{
	struct desc d;
	struct us_runtime **p;

	memcpy(&d, desc, sizeof(d));
	p = (struct us_runtime **)(uintptr_t)(desc + 8 + d.offset);
	if (p == &us_runtime_slot)
		return NULL;		/* our own copy */
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void scan_notes(const char *p, size_t len, struct found *f)
{
	while (len >= 12 && !f->rt) {
		uint32_t h[3];
		size_t name, desc, step;
		struct us_runtime *rt;

		memcpy(h, p, sizeof(h));
		name = (h[0] + 3) & ~3u;
		desc = (h[1] + 3) & ~3u;
		step = 12 + name + desc;
		if (step > len)
			return;
		if (h[2] == NOTE_TYPE && h[0] == 8 && h[1] == sizeof(struct desc) &&
		    !memcmp(p + 12, "ustatic", 8) &&
		    (rt = slot_of(p + 12 + name)) && rt->magic == US_RUNTIME_MAGIC) {
			if (rt->abi == US_RUNTIME_ABI)
				f->rt = rt;
			else
				f->abi = rt->abi;
		}
		p += step;
		len -= step;
	}
}

static int each_object(struct dl_phdr_info *info, size_t size US_UNUSED,
		       void *arg)
{
	struct found *f = arg;

	for (int i = 0; i < info->dlpi_phnum && !f->rt; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_NOTE)
			scan_notes((const char *)(info->dlpi_addr + ph->p_vaddr),
				   ph->p_memsz, f);
	}
	return f->rt != NULL;
}

static struct us_runtime *create(void)
{
	struct us_runtime *rt = &own;

	pthread_mutex_init(&rt->engine_lock.mutex, NULL);
	rt->engine_lock.name = "engine";
	pthread_mutex_init(&rt->masks.lock.mutex, NULL);
	rt->masks.lock.name = "masks";
	rt->inside_key_ok = !pthread_key_create(&rt->inside_key, NULL);
	rt->creator_pid = getpid();
	rt->abi = US_RUNTIME_ABI;
	/* Last: a copy that finds the magic finds the rest set. */
	__atomic_store_n(&rt->magic, US_RUNTIME_MAGIC, __ATOMIC_RELEASE);
	return rt;
}

int us_runtime_init(void)
{
	struct found f = { NULL, 0 };
	int err = 1;

	dl_iterate_phdr(each_object, &f);
	if (f.rt) {
		us_log("runtime: joined the runtime of another ustatic copy");
		err = 0;
	} else {
		if (f.abi) {
			us_log("runtime: another ustatic copy uses runtime ABI %u, "
			       "this one %u: this copy will not patch code",
			       f.abi, US_RUNTIME_ABI);
			foreign = true;
			err = -EPROTO;
		}
		f.rt = create();
	}
	us_rt = f.rt;
	/* A copy of another ABI must not find ours and think it its own
	 * kind: it checks `abi`, which we never change. */
	__atomic_store_n(&us_runtime_slot, f.rt, __ATOMIC_RELEASE);
	return err;
}

struct lookup {
	uintptr_t addr;
	bool hit;
};

static int object_of(struct dl_phdr_info *info, size_t size US_UNUSED,
		     void *arg)
{
	struct lookup *l = arg;
	bool inside = false, noted = false;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && l->addr >= s && l->addr < s + ph->p_memsz)
			inside = true;
		if (ph->p_type == PT_NOTE && has_note((const char *)s, ph->p_memsz))
			noted = true;
	}
	l->hit = inside && noted;
	return inside;
}

bool us_runtime_in_copy(const void *addr)
{
	struct lookup l = { (uintptr_t)addr, false };

	if (addr)
		dl_iterate_phdr(object_of, &l);
	return l.hit;
}

bool us_runtime_foreign(void)
{
	return foreign;
}
