/* SPDX-License-Identifier: MIT */
/*
 * Unloading the library. A host that does not use ustatic dlopens a plugin
 * that does (and links libustatic.so), which installs the SIGTRAP handler
 * and leaves a thread with a transaction open, then dlcloses it. The
 * library must stay loaded (it pins itself): afterwards a SIGTRAP still
 * reaches the host's own handler through ours, and the thread's exit runs
 * the transaction destructor. Before, both jumped into unmapped code
 * (SIGSEGV). The host is compiled at run time without ustatic (cc must be
 * there: skipped under qemu-user, where it would not be the target's; for
 * a musl build, a compiler for musl: t_cc()). Where dlclose() never
 * unloads (musl) the library stays loaded anyway; the rest holds alike.
 * The host exits 4 when the plugin cannot open its transaction (it
 * returns 0 or -1; 1 is "not yet"), rather than wait for it forever.
 */
#include <limits.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "test.h"

static const char host_src[] =
	"#include <dlfcn.h>\n"
	"#include <pthread.h>\n"
	"#include <sched.h>\n"
	"#include <signal.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"static volatile int traps, go, opened = 1;\n"
	"static void on_trap(int sig) { (void)sig; traps++; }\n"
	"static void *worker(void *txn) {\n"
	"  opened = ((int (*)(void))txn)();\n"
	"  while (!go) sched_yield();\n"
	"  return NULL; }\n"
	"static int mapped(void) {\n"
	"  char l[4096]; int n = 0; FILE *f = fopen(\"/proc/self/maps\", \"r\");\n"
	"  while (f && fgets(l, sizeof(l), f)) n += !!strstr(l, \"libustatic\");\n"
	"  if (f) fclose(f); return n; }\n"
	"int main(int argc, char **argv) {\n"
	"  pthread_t th; (void)argc;\n"
	"  signal(SIGTRAP, on_trap);\n"
	"  void *h = dlopen(argv[1], RTLD_NOW);\n"
	"  if (!h) { fprintf(stderr, \"%s\\n\", dlerror()); return 2; }\n"
	"  int (*start)(void) = (int (*)(void))dlsym(h, \"unload_plugin_start\");\n"
	"  void *txn = dlsym(h, \"unload_plugin_txn\");\n"
	"  if (!start || !txn || start()) return 3;\n"
	"  if (pthread_create(&th, NULL, worker, txn)) return 3;\n"
	"  while (opened == 1) sched_yield();\n"
	"  if (opened || dlclose(h)) return 4;\n"
	"  if (!mapped()) return 5;\n"
	"  raise(SIGTRAP);\n"
	"  go = 1;\n"
	"  pthread_join(th, NULL);\n"
	"  return traps == 1 ? 0 : 6;\n"
	"}\n";

int main(void)
{
	char dir[PATH_MAX], src[PATH_MAX + 16], host[PATH_MAX + 16];
	char plugin[PATH_MAX], cmd[3 * PATH_MAX], cc[64];
	const char *why;
	FILE *f;
	int st;

	if (getenv("USTATIC_TEST_QEMU"))
		SKIP("needs a native C compiler at run time");
	if ((why = t_cc("cc", cc, sizeof(cc))))
		SKIP("needs a C compiler for this build's C library: cc %s", why);
	test_beside_self(plugin, sizeof(plugin), "libunload_plugin.so");
	snprintf(dir, sizeof(dir), "/tmp/ustatic-unload-%d", (int)getpid());
	snprintf(src, sizeof(src), "%s.c", dir);
	snprintf(host, sizeof(host), "%s.bin", dir);
	f = fopen(src, "w");
	CHECK(f && fputs(host_src, f) >= 0 && fclose(f) == 0);
	snprintf(cmd, sizeof(cmd), "%s -O1 -o %s %s -ldl -lpthread", cc, host, src);
	CHECK_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s %s", host, plugin);
	st = system(cmd);
	unlink(src);
	unlink(host);
	if (WIFSIGNALED(st))
		fprintf(stderr, "host died of signal %d\n", WTERMSIG(st));
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	return 0;
}
