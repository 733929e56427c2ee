/* SPDX-License-Identifier: MIT */
/*
 * A client of the control socket for the tests (control_*.c): connects,
 * sends a request, reads one reply and checks that it is well formed:
 * data lines "* TEXT", then one terminator, "OK N" or "ERR -ERRNO MSG"
 * with a negative errno and a message, every byte printable.
 */
#ifndef USTATIC_TEST_CONTROL_CLIENT_H
#define USTATIC_TEST_CONTROL_CLIENT_H

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

/* This process's socket (the server's choice of directory, redone). */
static inline void cc_path(char *out, size_t size, pid_t pid)
{
	char dir[108];

	CHECK(us_ctl_dir(dir, sizeof(dir)) == 0);
	CHECK(snprintf(out, size, "%s/%d.sock", dir, (int)pid) < (int)size);
}

/* A connected socket, or -errno. */
static inline int cc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Sends what it can; false if the server closed the connection. */
static inline bool cc_send_try(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static inline void cc_send(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		CHECK(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

struct cc_reply {
	int ok;			/* 1 OK, 0 ERR, -1 closed before a terminator */
	long value;		/* OK's N, or ERR's -errno */
	int lines;		/* data lines */
	char msg[512];		/* ERR's message */
	char first[512];	/* the first data line */
};

/* Reads one reply (at most ms milliseconds). Fails the test if a line is
 * malformed; *r->ok == -1 if the connection closed first. */
static inline void cc_read(int fd, struct cc_reply *r, int ms)
{
	char line[1 << 14];
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char c;
		ssize_t got;

		CHECK(poll(&p, 1, ms) == 1);
		got = recv(fd, &c, 1, 0);
		if (got <= 0) {
			r->ok = -1;
			return;
		}
		if (c != '\n') {
			if (!isprint((unsigned char)c)) {
				fprintf(stderr, "unprintable byte %#x in a reply\n", c);
				exit(T_EXIT_FAIL);
			}
			CHECK(n < sizeof(line) - 1);
			line[n++] = c;
			continue;
		}
		line[n] = 0;
		n = 0;
		if (!strncmp(line, "* ", 2)) {
			if (!r->lines++)
				snprintf(r->first, sizeof(r->first), "%.500s", line + 2);
			continue;
		}
		if (!strncmp(line, "OK ", 3)) {
			char *end;

			r->value = strtol(line + 3, &end, 10);
			CHECK(end != line + 3 && !*end);
			r->ok = 1;
			return;
		}
		if (!strncmp(line, "ERR -", 5)) {
			char *end;

			r->value = strtol(line + 4, &end, 10);
			CHECK(r->value < 0 && *end == ' ' && end[1]);
			snprintf(r->msg, sizeof(r->msg), "%.500s", end + 1);
			r->ok = 0;
			return;
		}
		fprintf(stderr, "malformed reply line: %s\n", line);
		exit(T_EXIT_FAIL);
	}
}

/* Sends line (a newline added) and reads the reply. */
static inline void cc_ask(int fd, const char *line, struct cc_reply *r)
{
	cc_send(fd, line, strlen(line));
	cc_send(fd, "\n", 1);
	cc_read(fd, r, 10000);
}

/* Whether fd has reached end of file (the server closed it) within ms. */
static inline bool cc_closed(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char buf[256];

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			return true;
	}
	return false;
}

#endif
