/* SPDX-License-Identifier: MIT */
/*
 * Control from outside (ustatic_control_start()): a thread serves a Unix
 * stream socket, one text command per line (see control_proto.c for the
 * protocol, control_path.c for where the socket lives, control.c for the
 * thread, its clients, fork and exit).
 */
#ifndef USTATIC_CONTROL_H
#define USTATIC_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A request line is at most this long, its newline excluded. */
#define US_CTL_REQUEST_MAX	4096
/* A reply is built whole before it is sent (no client is waited for while
 * the library's locks are held): at most this long, or an error. */
#define US_CTL_REPLY_MAX	(8u << 20)

/* A reply being built, then sent. Owned by one client of the server thread. */
struct us_ctl_buf {
	char *p;
	size_t len, cap;
	unsigned long lines;	/* data lines so far */
	bool full;		/* US_CTL_REPLY_MAX reached */
};

/* Runs one request line (no newline; NUL-terminated, len bytes before the
 * NUL, which may hold other NULs: refused) and appends its whole reply,
 * data lines and the terminator, to out. Returns true when the connection
 * should close once the reply is sent. */
bool us_ctl_execute(const char *line, size_t len, struct us_ctl_buf *out);
/* Appends "ERR -<err> <msg>\n". */
void us_ctl_error(struct us_ctl_buf *out, int err, const char *msg);
void us_ctl_buf_free(struct us_ctl_buf *b);

/* The private directory for this process's socket, created and checked
 * (ours, a directory not a symlink, no access for group or others):
 * $XDG_RUNTIME_DIR/ustatic when XDG_RUNTIME_DIR is usable, else
 * /tmp/ustatic-EUID. 0 or -errno (logged under USTATIC_DEBUG). */
int us_ctl_dir(char *out, size_t size);
/* mkdir (0700) if missing, then the checks above; base is the directory
 * that holds it, for messages. 0 or -errno. */
int us_ctl_private_dir(const char *path, uid_t uid);

/* USTATIC_CONTROL=1 in the environment: start serving (from the
 * library's constructor). */
void us_control_from_env(void);

/* How long a client may take to send a whole request, or to take a whole
 * reply, before it is dropped (ms). Tests lower it. */
extern int us_ctl_timeout_ms;

#endif
