/* SPDX-License-Identifier: MIT */
/*
 * A thread waits in posix_spawn() (glibc blocks every signal, its own
 * included, and sleeps until the child execs: here the child's file
 * action opens a FIFO nobody writes yet) while another thread calls a
 * static call and the main thread updates it and a key: every change
 * succeeds, quickly (such a thread runs no program code before its mask
 * is restored). Found by the adversarial review of issue 13: every update
 * failed with -EDEADLK after up to 500 ms. glibc only (musl's passing
 * masks look like an application's). Black-box.
 */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ustatic.h>

#include "helpers.h"
#include "test.h"

DEFINE_STATIC_CALL(sc_spawn, t_fa);
DEFINE_STATIC_KEY_FALSE(key_spawn);
T_CALLER(call_it, sc_spawn)

extern char **environ;
static char fifo[64];
static int stop;

static void *spawner(void *arg)
{
	posix_spawn_file_actions_t fa;
	char *av[] = { "true", NULL };
	pid_t p;

	(void)arg;
	CHECK(!posix_spawn_file_actions_init(&fa));
	CHECK(!posix_spawn_file_actions_addopen(&fa, 0, fifo, O_RDONLY, 0));
	if (!posix_spawnp(&p, "true", &fa, NULL, av, environ))
		waitpid(p, NULL, 0);
	return NULL;
}

static void *caller(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int r = call_it(10);

		CHECK(r == 11 || r == 12);
	}
	return NULL;
}

int main(void)
{
	pthread_t c, s;
	double t0, worst = 0;
	int fails = 0, w;

#ifndef __GLIBC__
	SKIP("glibc's posix_spawn mask only");
#endif
	if (!T_USES_GUARDS)
		SKIP("no int3 guards in this build");
	snprintf(fifo, sizeof(fifo), "/tmp/ustatic-spawn.%d", getpid());
	CHECK(!mkfifo(fifo, 0600));
	CHECK(!pthread_create(&c, NULL, caller, NULL));
	CHECK(!pthread_create(&s, NULL, spawner, NULL));
	usleep(200 * 1000);		/* the spawner sleeps in posix_spawn */
	t0 = t_now();
	for (int i = 0; i < 20; i++) {
		double a = t_now();

		fails += static_call_update(sc_spawn, i & 1 ? t_fa : t_fb) != 0;
		fails += T_BRANCH_SET(&key_spawn, !(i & 1)) != 0;
		if (t_now() - a > worst)
			worst = t_now() - a;
	}
	printf("40 changes while a thread waits in posix_spawn: %d failed, "
	       "%.1f ms in all, worst pair %.1f ms\n", fails,
	       (t_now() - t0) * 1e3, worst * 1e3);
	w = open(fifo, O_WRONLY);
	CHECK(w >= 0);
	close(w);
	CHECK(!pthread_join(s, NULL));
	unlink(fifo);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	CHECK(!pthread_join(c, NULL));
	CHECK_EQ(fails, 0);
	CHECK(worst < 0.1);	/* no wait for the sleeping thread */
	return 0;
}
