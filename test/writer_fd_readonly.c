/* SPDX-License-Identifier: MIT */
/*
 * The program closes the library's /proc/self/mem descriptor and opens
 * /proc/self/mem read-only for itself: it gets the same number and the
 * same file. The library must see that this descriptor is not its own
 * (not open for writing) and open a new one, not fall back to mprotect
 * windows (which make the page writable and executable): after updates,
 * a read-write /proc/self/mem descriptor exists beside the program's, and
 * the program's is untouched. Found by the adversarial review of issue 13.
 * Black-box.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(sc_ro, t_fa);
T_CALLER(call_it, sc_ro)

/* The descriptors naming /proc/self/mem, and how many are read-write. */
static int mem_fds(int *rw, int *any_fd)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d);
	*rw = 0;
	while ((de = readdir(d))) {
		char path[300], to[64];
		int fd = atoi(de->d_name);
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		k = readlink(path, to, sizeof(to) - 1);
		if (k <= 0)
			continue;
		to[k] = 0;
		if (!strstr(to, "/mem"))
			continue;
		n++;
		*any_fd = fd;
		*rw += (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR;
	}
	closedir(d);
	return n;
}

int main(void)
{
	int rw, fd = -1, ro;
	struct ustatic_stats st;

	t_skip_without_procmem();
	CHECK_EQ(ustatic_get_stats(&st), 0);
	if (st.write_method != USTATIC_WRITE_PROCMEM)
		SKIP("the writer here is not /proc/self/mem");
	CHECK_EQ(static_call_update(sc_ro, t_fb), 0);	/* opens it */
	CHECK_EQ(mem_fds(&rw, &fd), 1);
	CHECK_EQ(rw, 1);
	CHECK(!close(fd));
	ro = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	CHECK_EQ(ro, fd);				/* the same number */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(static_call_update(sc_ro, i & 1 ? t_fa : t_fb), 0);
		CHECK_EQ(call_it(10), i & 1 ? 11 : 12);
	}
	CHECK_EQ(mem_fds(&rw, &fd), 2);
	CHECK_EQ(rw, 1);				/* the library's new one */
	CHECK_EQ(fcntl(ro, F_GETFL) & O_ACCMODE, O_RDONLY);
	t_check_no_wx("after the updates");
	printf("the library opened its own descriptor beside the program's\n");
	return 0;
}
