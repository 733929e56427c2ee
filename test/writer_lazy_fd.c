/* SPDX-License-Identifier: MIT */
/*
 * Footprint: a process that registers objects but never changes code
 * holds no /proc/self/mem descriptor. This one only has static keys at
 * their build values (registering it writes nothing): none is open at
 * main(), nor after its branches ran; the first key flip opens one; a
 * fork child does not keep the parent's copy (which writes the parent)
 * and opens its own with its own first flip.
 * Convinced it can fail: against main (c69296a), which opened the
 * descriptor in the library constructor, the first check fails. Black box.
 */
#include <dirent.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_KEY_FALSE(lz_off);
DEFINE_STATIC_KEY_TRUE(lz_on);

static __attribute__((noinline)) int branches(void)
{
	return (static_branch_unlikely(&lz_off) ? 1 : 0) +
	       (static_branch_likely(&lz_on) ? 2 : 0);
}

/* How many descriptors name /proc/PID/mem of process pid. */
static int mem_fds(pid_t pid)
{
	char want[64], link[256], path[300];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = 0;

	CHECK(d != NULL);
	snprintf(want, sizeof(want), "/proc/%d/mem", (int)pid);
	while ((de = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		found += !strcmp(link, want);
	}
	closedir(d);
	return found;
}

static int child(void *arg)
{
	pid_t parent = *(pid_t *)arg;

	CHECK_EQ(mem_fds(parent), 0);		/* the parent's copy: closed */
	CHECK_EQ(mem_fds(getpid()), 0);		/* none of its own yet */
	CHECK_EQ(static_branch_disable(&lz_off), 0);
	CHECK_EQ(branches(), 2);
	CHECK_EQ(mem_fds(getpid()), 1);
	return 0;
}

int main(void)
{
	struct ustatic_stats st;
	pid_t self = getpid();

	t_skip_without_procmem();
	if (getenv("USTATIC_WRITE") && strcmp(getenv("USTATIC_WRITE"), "auto"))
		SKIP("USTATIC_WRITE chooses another writer");
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK(st.objects >= 1 && st.jump_entries >= 2);	/* registered */
	CHECK_EQ(st.patches, 0);			/* nothing written */
	CHECK_EQ(mem_fds(self), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(branches(), 2);
	CHECK_EQ(mem_fds(self), 0);
	printf("registered, no code written: no /proc/self/mem descriptor\n");

	CHECK_EQ(static_branch_enable(&lz_off), 0);
	CHECK_EQ(branches(), 3);
	CHECK_EQ(ustatic_get_stats(&st), 0);
	CHECK_EQ(st.write_method, USTATIC_WRITE_PROCMEM);
	CHECK_EQ(mem_fds(self), 1);
	printf("first key flip: one descriptor\n");

	CHECK_EQ(t_fork_run(child, &self, 30), 0);
	CHECK_EQ(mem_fds(self), 1);
	CHECK_EQ(static_branch_disable(&lz_off), 0);
	CHECK_EQ(mem_fds(self), 1);
	printf("fork child: opened its own at its first flip\n");
	return T_EXIT_PASS;
}
