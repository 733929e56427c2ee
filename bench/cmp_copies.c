/* SPDX-License-Identifier: MIT */
/*
 * Several copies of the library in one process: plugins that each link
 * libustatic.a (with or without -Wl,--exclude-libs,ALL), a host with a
 * static copy beside a plugin using libustatic.so, and so on.
 *
 *   cmp_copies ID UPDATES PLUGIN.so...
 *
 * The copies are the host's own static call when built with HOST_SITES
 * (cmp_plugin.c with PLUG=0, against libustatic.a or .so) and one per
 * plugin, loaded with dlopen(RTLD_NOW | RTLD_LOCAL) as plugins are. One
 * thread runs every copy's 50 sites and checks them; main updates each
 * copy UPDATES times in turn and checks that its sites reach the new
 * target. It all runs in a forked child, so a death is counted too.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmp.h"
#include "cmp_plugin.h"

#define MAXC	4

#if HOST_SITES
extern const struct plug_ops plug0_ops;
#endif

struct counts {
	int ncopies, loaded, stage;
	unsigned long wrong_calls, calls;
	struct {
		unsigned long ok, fail, wrong_target;
		int err;
	} c[MAXC];
	char load_error[256];
};

struct plan {
	unsigned long updates;
	int nplugins;
	char **plugins;
};

static struct counts *k;		/* shared with the parent */
static const struct plug_ops *ops[MAXC];
static int stop;			/* main -> the busy thread */

static void *busy(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < k->ncopies; i++)
			if (ops[i]->run() != ops[i]->nsites)
				k->wrong_calls++;
		k->calls++;
	}
	return NULL;
}

static int load(const char *path)
{
	static const char *const names[] = { "plug1_ops", "plug2_ops" };
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	for (size_t i = 0; h && i < ARRAY_SIZE(names); i++) {
		const struct plug_ops *o = dlsym(h, names[i]);

		if (o) {
			ops[k->ncopies++] = o;
			return 0;
		}
	}
	snprintf(k->load_error, sizeof(k->load_error), "%s: %s", path,
		 h ? "no plugN_ops" : dlerror());
	return -1;
}

static void update(int i, unsigned long u)
{
	int to_b = !(u & 1), r = ops[i]->update(to_b);

	if (r) {
		k->c[i].fail++;
		if (!k->c[i].err)
			k->c[i].err = r;
	} else {
		k->c[i].ok++;
		if (ops[i]->probe() != (to_b ? 2 : 1))
			k->c[i].wrong_target++;
	}
}

static void process(void *arg)
{
	const struct plan *p = arg;
	pthread_t t;

#if HOST_SITES
	ops[k->ncopies++] = &plug0_ops;
#endif
	for (int i = 0; i < p->nplugins; i++)
		if (load(p->plugins[i]))
			return;
	k->loaded = 1;
	if (pthread_create(&t, NULL, busy, NULL))
		_exit(3);
	sleep_ns(10 * 1000 * 1000);
	k->stage = 1;
	for (unsigned long u = 0; u < p->updates; u++)
		for (int i = 0; i < k->ncopies; i++)
			update(i, u);
	for (int i = 0; i < k->ncopies; i++)
		if (p->updates & 1)
			update(i, 1);
	k->stage = 2;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	k->stage = 3;
}

int main(int argc, char **argv)
{
	struct plan p;
	unsigned long ok = 0, fail = 0, wrong;
	char per[512] = "";
	size_t len = 0;
	int fate, err = 0;

	if (argc < 4 || argc - 3 + HOST_SITES > MAXC) {
		fprintf(stderr, "usage: cmp_copies ID UPDATES PLUGIN.so...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	p = (struct plan){ strtoul(argv[2], NULL, 0), argc - 3, argv + 3 };
	k = shared_alloc(sizeof(*k));
	fate = run_child(process, &p, 120);
	if (!k->loaded)
		fprintf(stderr, "cmp_copies: %s\n", k->load_error);
	wrong = k->wrong_calls;
	for (int i = 0; i < k->ncopies; i++) {
		ok += k->c[i].ok;
		fail += k->c[i].fail;
		wrong += k->c[i].wrong_target;
		if (!err)
			err = k->c[i].err;
		len += (size_t)snprintf(per + len, sizeof(per) - len,
					" ok%d=%lu fail%d=%lu err%d=%d", i,
					k->c[i].ok, i, k->c[i].fail, i, k->c[i].err);
	}
	result("id=copies.%s copies=%d loaded=%d ok=%lu fail=%lu err=%d "
	       "wrong=%lu died=%d fate=%d stage=%d calls=%lu%s", argv[1],
	       k->ncopies, k->loaded, ok, fail, err, wrong, fate != 0, fate,
	       k->stage, k->calls, per);
	return 0;
}
