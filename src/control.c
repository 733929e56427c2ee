/* SPDX-License-Identifier: MIT */
/*
 * The control server: ustatic_control_start() makes a listening Unix
 * stream socket DIR/PID.sock (control_path.c chooses DIR), mode 0600, and
 * a thread that serves it with poll(): up to MAX_CLIENTS connections at
 * once (more wait in the listen backlog), each a line-based conversation
 * (control_proto.c). The thread is the one owner of the clients; the
 * descriptors it holds are also listed under fd_lock, for fork.
 *
 * Peers: SO_PEERCRED, taken when they connected; the process's effective
 * uid or root may talk, anyone else is told so and disconnected. Same-uid
 * peers are trusted to change debug flags and keys (they could ptrace us
 * anyway): the socket adds no power they do not have.
 *
 * Robustness: every descriptor is close-on-exec and non-blocking; replies
 * go out with MSG_NOSIGNAL (a client gone is EPIPE here, never SIGPIPE);
 * a client has us_ctl_timeout_ms to send a whole request and as long to
 * take a whole reply, or it is dropped; a reply is built whole before it
 * is sent, so no client is waited for while the library's locks are held.
 * The thread blocks every signal but the synchronous ones (SIGTRAP first:
 * the library's int3 guards, src/interpose.c) and the library's sync
 * signal (src/sync.c): no handler of the program ever runs on it.
 *
 * Descriptors are the program's: a program may close ours (a daemon closing
 * everything) and reuse the numbers, so each is checked (fstat: same device
 * and inode as when we made it) before the thread reads, writes, accepts or
 * polls through it again; a number that fails is forgotten, never closed.
 *
 * Fork: the child has no server thread. The atfork child handler closes the
 * child's copies of every descriptor of ours (the listening socket, the
 * wake-up eventfd, each client) and forgets the server; the socket file is
 * the parent's and stays. fd_lock, held by the thread only while it adds
 * or removes a descriptor and by fork around the fork, makes that list
 * exact. A fork that skips atfork handlers (_Fork, a raw clone) keeps the
 * copies until exec (close-on-exec) and must not use them.
 *
 * Exit: a destructor unlinks the socket file and tells the thread to stop;
 * it does not wait (a thread of the program may exit from anywhere, a
 * signal handler included): a client connected then sees the connection
 * close, before or after a whole reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "debug.h"
#include "init.h"
#include "lock.h"
#include "sync.h"

#define MAX_CLIENTS	16
#define BACKLOG		64

int us_ctl_timeout_ms = 10000;

struct fd_id {
	int fd;
	dev_t dev;
	ino_t ino;
};

struct client {
	struct fd_id fd;		/* fd.fd < 0: slot free */
	char in[US_CTL_REQUEST_MAX + 2];
	size_t in_len;
	struct us_ctl_buf out;
	size_t out_off;
	int64_t deadline;		/* ms, CLOCK_MONOTONIC */
	bool close_after;		/* close once out is sent */
};

/*
 * The server. start/stop run under ctl_lock, one at a time; between them
 * the thread owns clients[] and reads `stopping`. fd_lock guards the
 * descriptor numbers (lfd, wfd, clients[].fd) against fork.
 */
static struct server {
	bool running;
	pid_t pid;			/* the process that started it */
	pthread_t thread;
	struct fd_id lfd, wfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client clients[MAX_CLIENTS];
	int stopping;			/* atomic: stop() and the destructor set it */
} S = { .lfd = { -1, 0, 0 }, .wfd = { -1, 0, 0 } };

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fd_id_take(struct fd_id *id, int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	*id = (struct fd_id){ fd, st.st_dev, st.st_ino };
	return 0;
}

/* Whether id's number still holds the file we made. */
static bool fd_ours(const struct fd_id *id)
{
	struct stat st;

	return id->fd >= 0 && !fstat(id->fd, &st) && st.st_dev == id->dev &&
	       st.st_ino == id->ino;
}

/* ---- fork ---- */

static void fork_prepare(void)
{
	pthread_mutex_lock(&ctl_lock);
	pthread_mutex_lock(&fd_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&fd_lock);
	pthread_mutex_unlock(&ctl_lock);
}

/*
 * Async-signal-safe only: the child of a threaded process. Descriptors
 * are closed; the clients' buffers stay with their slots (the thread that
 * was changing them is not here: grow() keeps each pointing at a live
 * block at every instant) and are reused by a server the child starts.
 */
static void fork_child(void)
{
	if (S.running) {
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &S.clients[i];

			if (c->fd.fd >= 0)
				close(c->fd.fd);
			c->fd.fd = -1;
		}
		if (S.lfd.fd >= 0)
			close(S.lfd.fd);
		if (S.wfd.fd >= 0)
			close(S.wfd.fd);
		S.lfd.fd = S.wfd.fd = -1;
		S.running = false;
		S.pid = 0;
	}
	pthread_mutex_unlock(&fd_lock);
	pthread_mutex_unlock(&ctl_lock);
}

static void atfork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- clients ---- */

static void client_drop(struct client *c, bool close_it)
{
	pthread_mutex_lock(&fd_lock);
	if (close_it)
		close(c->fd.fd);
	c->fd.fd = -1;
	pthread_mutex_unlock(&fd_lock);
	us_ctl_buf_free(&c->out);
	c->in_len = c->out_off = 0;
	c->close_after = false;
}

static bool peer_allowed(int fd, char *why, size_t size)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len)) {
		snprintf(why, size, "ERR %d cannot read the peer's credentials\n",
			 -errno);
		return false;
	}
	if (cr.uid == me || cr.uid == 0)
		return true;
	snprintf(why, size, "ERR %d permission denied: uid %u may not control "
		 "this process (uid %u or root only)\n", -EACCES,
		 (unsigned)cr.uid, (unsigned)me);
	us_log("control: refused a peer of uid %u (pid %d)", (unsigned)cr.uid,
	       (int)cr.pid);
	return false;
}

/*
 * Out of descriptors (or memory) for a waiting client: the listening socket
 * stays readable, so poll() would return at once for ever. It is left out
 * of poll() for ACCEPT_PAUSE_MS instead, and tried again then. The server
 * thread's alone.
 */
#define ACCEPT_PAUSE_MS	100
static int64_t accept_paused_until;

static bool accept_starved(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void accept_clients(void)
{
	for (;;) {
		struct client *c = NULL;
		char why[160];
		int fd, err;

		for (int i = 0; i < MAX_CLIENTS && !c; i++)
			if (S.clients[i].fd.fd < 0)
				c = &S.clients[i];
		if (!c || !fd_ours(&S.lfd))
			return;
		pthread_mutex_lock(&fd_lock);
		fd = accept4(S.lfd.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		err = fd < 0 ? errno : 0;
		if (fd >= 0 && fd_id_take(&c->fd, fd)) {
			err = errno;
			close(fd);
			fd = -1;
		}
		pthread_mutex_unlock(&fd_lock);
		if (fd < 0 && accept_starved(err)) {
			us_log("control: cannot accept a client (%s): trying "
			       "again every %d ms", strerror(err),
			       ACCEPT_PAUSE_MS);
			accept_paused_until = now_ms() + ACCEPT_PAUSE_MS;
		}
		if (fd < 0)
			return;		/* EAGAIN, or a peer gone already */
		if (!peer_allowed(fd, why, sizeof(why))) {
			send(fd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT);
			client_drop(c, true);
			continue;
		}
		c->deadline = now_ms() + us_ctl_timeout_ms;
	}
}

/* Runs the first complete request in c->in, if there is one. */
static void client_run(struct client *c)
{
	char *nl = memchr(c->in, '\n', c->in_len);
	size_t n;

	if (!nl) {
		if (c->in_len > US_CTL_REQUEST_MAX) {
			us_ctl_error(&c->out, -E2BIG, "request longer than 4096 "
				     "bytes: closing");
			c->close_after = true;
			c->deadline = now_ms() + us_ctl_timeout_ms;
		}
		return;
	}
	n = (size_t)(nl - c->in);
	*nl = 0;
	if (n && c->in[n - 1] == '\r')
		c->in[--n] = 0;
	c->close_after = us_ctl_execute(c->in, n, &c->out);
	if (c->out.full)	/* not even the terminator fitted */
		c->close_after = true;
	c->in_len -= (size_t)(nl + 1 - c->in);
	memmove(c->in, nl + 1, c->in_len);
	c->out_off = 0;
	c->deadline = now_ms() + us_ctl_timeout_ms;
}

static void client_read(struct client *c)
{
	ssize_t n = recv(c->fd.fd, c->in + c->in_len,
			 sizeof(c->in) - 1 - c->in_len, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_drop(c, true);
		return;
	}
	if (n > 0)
		c->in_len += (size_t)n;
	client_run(c);
}

static void client_write(struct client *c)
{
	ssize_t n = send(c->fd.fd, c->out.p + c->out_off,
			 c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_drop(c, true);	/* EPIPE, ECONNRESET: it left */
		return;
	}
	if (n > 0)
		c->out_off += (size_t)n;
	if (c->out_off < c->out.len)
		return;
	if (c->close_after) {
		client_drop(c, true);
		return;
	}
	c->out.len = c->out_off = 0;
	c->deadline = now_ms() + us_ctl_timeout_ms;
	client_run(c);		/* a request sent right behind the last */
}

/* ---- the thread ---- */

static void *serve(void *arg)
{
	struct pollfd p[2 + MAX_CLIENTS];
	int who[2 + MAX_CLIENTS];

	(void)arg;
	while (!__atomic_load_n(&S.stopping, __ATOMIC_ACQUIRE)) {
		int64_t now = now_ms(), next = now + 60000;
		int n = 0, timeout;

		if (!fd_ours(&S.wfd) || !fd_ours(&S.lfd)) {
			us_log("control: the program closed or reused the "
			       "control socket's descriptors: serving stops");
			break;
		}
		p[n] = (struct pollfd){ S.wfd.fd, POLLIN, 0 };
		who[n++] = -1;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &S.clients[i];

			if (c->fd.fd < 0)
				continue;
			if (!fd_ours(&c->fd)) {
				client_drop(c, false);	/* not ours any more */
				continue;
			}
			if (c->deadline <= now) {
				client_drop(c, true);	/* too slow */
				continue;
			}
			if (c->deadline < next)
				next = c->deadline;
			p[n] = (struct pollfd){ c->fd.fd,
				c->out.len ? POLLOUT : POLLIN, 0 };
			who[n++] = i;
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (S.clients[i].fd.fd < 0 && accept_paused_until > now) {
				next = accept_paused_until < next ?
				       accept_paused_until : next;
				break;
			} else if (S.clients[i].fd.fd < 0) {
				p[n] = (struct pollfd){ S.lfd.fd, POLLIN, 0 };
				who[n++] = -2;
				break;
			}
		timeout = (int)(next - now);
		if (poll(p, (nfds_t)n, timeout < 0 ? 0 : timeout) < 0) {
			if (errno == EINTR || errno == ENOMEM)
				continue;
			us_fail(-errno, "control: poll");
			break;
		}
		for (int k = 0; k < n; k++) {
			struct client *c;

			if (!p[k].revents || who[k] == -1)
				continue;
			if (who[k] == -2) {
				accept_clients();
				continue;
			}
			c = &S.clients[who[k]];
			if (c->fd.fd < 0 || !fd_ours(&c->fd))
				continue;
			if (p[k].revents & POLLNVAL)
				client_drop(c, false);
			else if (c->out.len)
				client_write(c);
			else
				client_read(c);
		}
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (S.clients[i].fd.fd >= 0)
			client_drop(&S.clients[i], fd_ours(&S.clients[i].fd));
	return NULL;
}

/*
 * The mask the thread starts with: every signal blocked but the
 * synchronous ones (a fault must reach its handler; SIGTRAP is the int3
 * guards') and the library's sync signal, whose handler is ours.
 */
static void server_mask(sigset_t *s)
{
	static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE,
					    SIGTRAP, SIGSYS };

	sigfillset(s);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(int); i++)
		sigdelset(s, sync_signals[i]);
	for (int sig = 1; sig < NSIG; sig++)
		if (us_sync_owns_signal(sig))
			sigdelset(s, sig);
}

/* ---- start and stop ---- */

static void close_fds(void)
{
	pthread_mutex_lock(&fd_lock);
	if (S.lfd.fd >= 0 && fd_ours(&S.lfd))
		close(S.lfd.fd);
	if (S.wfd.fd >= 0 && fd_ours(&S.wfd))
		close(S.wfd.fd);
	S.lfd.fd = S.wfd.fd = -1;
	pthread_mutex_unlock(&fd_lock);
}

/* A socket file left at path: a live server (another copy of the library
 * in this process, another process of this PID in another PID namespace)
 * is -EADDRINUSE; a dead one's file is removed. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err = 0;

	if (lstat(sa->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		us_log("control: %s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa))) {
		us_log("control: %s is served already", sa->sun_path);
		err = -EADDRINUSE;
	} else if (unlink(sa->sun_path) && errno != ENOENT) {
		err = -errno;
	}
	close(fd);
	return err;
}

static int listen_at(struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return us_fail(-errno, "control: socket");
	/* Linux gives the socket file the socket inode's mode (less the
	 * umask): 0600 from the start, not after a chmod. */
	fchmod(fd, 0600);
	err = clear_stale(sa);
	if (!err && bind(fd, (struct sockaddr *)sa, sizeof(*sa)))
		err = us_fail(-errno, "control: bind");
	if (!err && (chmod(sa->sun_path, 0600) || lstat(sa->sun_path, &st)))
		err = us_fail(-errno, "control: chmod of the socket");
	if (!err && (st.st_mode & 0777) != 0600)
		err = us_fail(-EPERM, "control: the socket's mode is not 0600");
	if (!err && listen(fd, BACKLOG))
		err = us_fail(-errno, "control: listen");
	if (!err)
		err = fd_id_take(&S.lfd, fd);
	if (err) {
		close(fd);
		unlink(sa->sun_path);	/* ours if bind succeeded; else gone */
		return err;
	}
	return 0;
}

static int start_thread(void)
{
	sigset_t s, old;
	int err;

	server_mask(&s);
	pthread_sigmask(SIG_SETMASK, &s, &old);
	err = -pthread_create(&S.thread, NULL, serve, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return us_fail(err, "control: pthread_create");
#ifdef __GLIBC__
	pthread_setname_np(S.thread, "ustatic-ctl");
#endif
	return 0;
}

static int start_locked(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	int n, err, fd;

	if (S.running)
		return us_fail(-EALREADY, "ustatic_control_start: already serving");
	err = us_ctl_dir(dir, sizeof(dir));
	if (err)
		return us_fail(err, "ustatic_control_start: no private directory "
			       "for the socket");
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d.sock", dir,
		     (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return us_fail(-ENAMETOOLONG, "ustatic_control_start: socket path");
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &S.clients[i];

		c->fd.fd = -1;	/* a fork child's old buffers are kept */
		c->in_len = c->out.len = c->out_off = 0;
		c->out.full = c->close_after = false;
	}
	err = listen_at(&sa);
	if (err)
		return err;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0 || (err = fd_id_take(&S.wfd, fd))) {
		err = fd < 0 ? -errno : err;
		if (fd >= 0)
			close(fd);
		S.wfd.fd = -1;
		goto fail;
	}
	memcpy(S.path, sa.sun_path, sizeof(S.path));
	S.stopping = 0;
	S.pid = getpid();
	err = start_thread();
	if (err)
		goto fail;
	S.running = true;
	us_log("control: serving %s", S.path);
	return 0;
fail:
	unlink(sa.sun_path);
	close_fds();
	return us_fail(err, "ustatic_control_start");
}

/* Both entry points hold cancellation off (us_enter()): pthread_join()
 * and the logging inside are cancellation points, and ctl_lock must not
 * be left held. */
int ustatic_control_start(void)
{
	int err = us_enter("ustatic_control_start");

	if (err)
		return err;
	us_init();
	pthread_once(&atfork_once, atfork_init);
	pthread_mutex_lock(&ctl_lock);
	err = start_locked();
	pthread_mutex_unlock(&ctl_lock);
	return us_leave_cancelable(err);
}

static void wake(void)
{
	uint64_t one = 1;

	__atomic_store_n(&S.stopping, 1, __ATOMIC_RELEASE);
	if (fd_ours(&S.wfd) && write(S.wfd.fd, &one, sizeof(one)) < 0)
		us_log("control: cannot wake the server thread: %s",
		       strerror(errno));
}

int ustatic_control_stop(void)
{
	int err = us_enter("ustatic_control_stop");

	if (err)
		return err;
	pthread_mutex_lock(&ctl_lock);
	if (!S.running)
		err = us_fail(-ESRCH, "ustatic_control_stop: not serving");
	else if (pthread_equal(pthread_self(), S.thread))
		err = us_fail(-EDEADLK, "ustatic_control_stop: called from the "
			      "server thread");
	if (!err) {
		unlink(S.path);		/* no new client from now on */
		wake();
		pthread_join(S.thread, NULL);
		close_fds();
		S.running = false;
	}
	pthread_mutex_unlock(&ctl_lock);
	return us_leave_cancelable(err);
}

/*
 * USTATIC_CONTROL=1: called by the library's constructor (init.c), after
 * its start-up and before main(), so that the static archive pulls this
 * file in too. See docs/DESIGN.md for why then and not later. Not in a
 * set-user-ID program (secure_getenv).
 */
void us_control_from_env(void)
{
	const char *e = secure_getenv("USTATIC_CONTROL");

	if (e && atoi(e) > 0 && ustatic_control_start() == 0)
		return;
	if (e && atoi(e) > 0)
		us_log("control: USTATIC_CONTROL=%s: not serving", e);
}

/* Exit: the socket file goes; the thread is told to stop, not waited for. */
__attribute__((destructor)) static void control_at_exit(void)
{
	if (pthread_mutex_trylock(&ctl_lock))
		return;		/* a start or stop under way: leave it */
	if (S.running && S.pid == getpid()) {
		unlink(S.path);
		wake();
	}
	pthread_mutex_unlock(&ctl_lock);
}
