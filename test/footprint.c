/* SPDX-License-Identifier: MIT */
/*
 * What a process pays for loading ustatic and never updating anything:
 * no SIGTRAP handler (its disposition stays the program's), no signal
 * handler of ours at all when membarrier works (writer_lazy_fd checks the
 * descriptor). The handler arrives with the first batch that places an
 * int3, and only then. Black-box.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(sc_fp, t_ret0);
DEFINE_STATIC_KEY_FALSE(key_fp);
T_CALL_SITE_VOID(site, sc_fp)
T_BRANCH(branch, static_branch_unlikely, &key_fp)

static bool stop;

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;			/* the directory's own */
}

static bool handled(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa))
		return false;		/* libc's own (32, 33) */
	return (sa.sa_flags & SA_SIGINFO) ||
	       (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
}

static void *caller(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
		(void)site();
	return NULL;
}

int main(void)
{
	struct ustatic_stats st;
	int fds = open_fds();
	pthread_t th;

	if (!T_PATCHES_CODE)
		SKIP("nothing is patched in this build");
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK(st.trampolines >= 1 && st.jump_entries >= 1);
	CHECK_EQ(site(), 0);
	CHECK_EQ(branch(), 0);
	for (int sig = 1; sig < SIGRTMAX; sig++)
		if (handled(sig) && st.sync_method != USTATIC_SYNC_SIGNAL) {
			fprintf(stderr, "signal %d has a handler\n", sig);
			CHECK(!"a handler of ours before any update");
		}
	printf("registered: %lu trampolines, %lu call sites, %lu jump entries; "
	       "%d descriptors open\n", st.trampolines, st.call_sites,
	       st.jump_entries, fds);
	if (!T_USES_GUARDS)
		return 0;
	/* A call-to-call retarget with another thread running needs int3. */
	CHECK(!pthread_create(&th, NULL, caller, NULL));
	CHECK_EQ(static_call_update(sc_fp, t_ret1), 0);
	CHECK(handled(SIGTRAP));
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	CHECK(!pthread_join(th, NULL));
	CHECK_EQ(site(), 1);
	return 0;
}
