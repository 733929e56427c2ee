/* SPDX-License-Identifier: MIT */
/*
 * libustatic.so exports the ustatic_ symbols of the public header and,
 * with the base version, the signal-function wrappers of src/interpose.c
 * (glibc builds have all of them; musl has no BSD masks, epoll_pwait2 or
 * pthread_attr_setsigmask_np) (which must bind to a program's versioned references:
 * checked by test/server_sigwait.c). Nothing else: no internal symbol, no
 * kernel name. Reads `nm -D --defined-only`; skips without nm. musl's
 * crti.o exports _init and _fini from every shared object (glibc's hides
 * them): those are the C runtime's, not ours.
 */
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "test.h"

static const char *const wrappers[] = {
	"pthread_sigmask", "sigprocmask", "sigaction", "sigsuspend", "ppoll",
	"pselect", "epoll_pwait", "sighold", "sigset",
#ifdef __GLIBC__
	"sigblock", "sigsetmask", "epoll_pwait2", "pthread_attr_setsigmask_np",
#endif
};

/* One of the wrappers, with no version suffix: the base version. */
static bool wrapper(const char *name)
{
	for (size_t i = 0; i < sizeof(wrappers) / sizeof(*wrappers); i++)
		if (!strcmp(name, wrappers[i]))
			return true;
	return false;
}

/* What 0.3 added (dynamic debug, names, control from outside);
 * everything else is 0.2's. */
static const char *const v03[] = {
	"ustatic_object_register2", "ustatic_dyndbg_print",
	"ustatic_dyndbg_query", "ustatic_dyndbg_set_sink",
	"ustatic_control_start", "ustatic_control_stop",
};

static const char *version_of(const char *name)
{
	size_t n = strcspn(name, "@");

	for (size_t i = 0; i < sizeof(v03) / sizeof(*v03); i++)
		if (strlen(v03[i]) == n && !strncmp(name, v03[i], n))
			return "@@USTATIC_0.3";
	return "@@USTATIC_0.2";
}

static bool allowed(const char *name, const char *type)
{
	if (!strcmp(type, "A"))			/* the version nodes */
		return !strcmp(name, "USTATIC_0.2") ||
		       !strcmp(name, "USTATIC_0.3");
	if (!strncmp(name, "ustatic_", 8))
		return strstr(name, version_of(name)) != NULL;
	if (T_LIBC_MUSL && (!strcmp(name, "_init") || !strcmp(name, "_fini")))
		return true;
	return wrapper(name);
}

int main(void)
{
	char lib[PATH_MAX], cmd[PATH_MAX + 64], line[512];
	int n = 0, wrapped = 0, bad = 0;
	FILE *p;

	test_beside_self(lib, sizeof(lib), "../libustatic.so");
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>/dev/null", lib);
	p = popen(cmd, "r");
	CHECK(p);
	while (fgets(line, sizeof(line), p)) {
		char addr[64], type[8], name[400];

		if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
			continue;
		n++;
		wrapped += wrapper(name);
		if (!allowed(name, type)) {
			fprintf(stderr, "exported: %s", line);
			bad++;
		}
	}
	if (pclose(p) != 0 && !n)
		SKIP("nm is not available");
	printf("%d exported symbols, %d wrappers, %d unexpected\n", n, wrapped, bad);
	CHECK_EQ(bad, 0);
	CHECK_EQ(wrapped, (int)(sizeof(wrappers) / sizeof(*wrappers)));
	return 0;
}
