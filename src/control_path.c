/* SPDX-License-Identifier: MIT */
/*
 * Where the control socket lives: a directory only this user can enter,
 * so that the socket's own mode (0600) is not the only guard and nobody
 * else can put a file or a symlink where we bind.
 *
 * $XDG_RUNTIME_DIR/ustatic when XDG_RUNTIME_DIR is an absolute path to a
 * directory of ours that no one else may enter (what the XDG Base
 * Directory specification promises: /run/user/UID, made by logind);
 * otherwise /tmp/ustatic-EUID. Both are made with mode 0700 and then
 * checked with lstat(): a directory (not a symlink to one), owned by the
 * effective uid, no permission for group or others. Anything else is
 * refused, never repaired: a /tmp/ustatic-EUID that someone else made
 * first (or made a symlink) is an attack or a mistake, and the user must
 * look. Nobody else can rename or replace the directory once checked:
 * XDG_RUNTIME_DIR is ours and 0700, /tmp is sticky.
 *
 * Read with secure_getenv(): a set-user-ID program does not take a
 * directory from the environment of the user who ran it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "debug.h"

#define SOCK_NAME_MAX	sizeof("/4294967295.sock")

/* 0 when st is a directory of uid's that only uid may enter. */
static int check_private(const char *path, const struct stat *st, uid_t uid)
{
	if (S_ISLNK(st->st_mode)) {
		us_log("control: %s is a symbolic link: refused", path);
		return -ELOOP;
	}
	if (!S_ISDIR(st->st_mode)) {
		us_log("control: %s is not a directory: refused", path);
		return -ENOTDIR;
	}
	if (st->st_uid != uid) {
		us_log("control: %s belongs to uid %u, not %u: refused", path,
		       (unsigned)st->st_uid, (unsigned)uid);
		return -EPERM;
	}
	if (st->st_mode & 077) {
		us_log("control: %s has mode %03o (group or others may enter): "
		       "refused", path, (unsigned)(st->st_mode & 0777));
		return -EPERM;
	}
	return 0;
}

int us_ctl_private_dir(const char *path, uid_t uid)
{
	struct stat st;

	if (mkdir(path, 0700) && errno != EEXIST) {
		int err = -errno;

		us_log("control: cannot make %s: %s", path, strerror(-err));
		return err;
	}
	if (lstat(path, &st))
		return us_fail(-errno, "control: lstat of the socket directory");
	return check_private(path, &st, uid);
}

/* XDG_RUNTIME_DIR itself may be a symlink (stat, not lstat): it is the
 * user's own setting; what it leads to must be ours and private. */
static bool xdg_usable(const char *xdg, uid_t uid)
{
	struct stat st;

	if (!xdg || xdg[0] != '/')
		return false;
	if (stat(xdg, &st)) {
		us_log("control: XDG_RUNTIME_DIR=%s: %s", xdg, strerror(errno));
		return false;
	}
	return check_private(xdg, &st, uid) == 0;
}

int us_ctl_dir(char *out, size_t size)
{
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
	uid_t uid = geteuid();
	int n;

	/* Room for "/PID.sock" after it (a pid has at most 10 digits), or
	 * the socket could not be bound there: then /tmp. */
	if (xdg_usable(xdg, uid)) {
		n = snprintf(out, size, "%s/ustatic", xdg);
		if (n > 0 && (size_t)n + SOCK_NAME_MAX < size &&
		    !us_ctl_private_dir(out, uid))
			return 0;
		if (n > 0 && (size_t)n + SOCK_NAME_MAX >= size)
			us_log("control: XDG_RUNTIME_DIR=%s is too long for a "
			       "socket path", xdg);
	}
	n = snprintf(out, size, "/tmp/ustatic-%u", (unsigned)uid);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return us_ctl_private_dir(out, uid);
}
