/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exportdir.h: the one directory NBD exports' Unix sockets live in
 * (export_dir, default /run/mcsi/exports).
 *
 * A client names an export's socket ("disk1"), never gives a path: a name
 * is 1..64 bytes of [A-Za-z0-9._-], not starting with '.', and export_dir
 * "/" name must fit a sockaddr_un. "export_dir/name" is taken as that name
 * (what ListExports shows and what older clients and state files give);
 * any other path is refused, from root as from anyone: the daemon binds
 * nothing outside export_dir, whoever asks (a client, a policy, a stored
 * export).
 *
 * The directory: opened by the first Unix export (then kept open) with
 * O_DIRECTORY|O_NOFOLLOW component by
 * component from "/" (no symlink anywhere on the path), created when
 * missing (parents 0755), then made 0750 root:socket_group (again at each
 * export: socket_group may change on SIGHUP). Every directory
 * on the path must belong to root (or the daemon's uid) and be writable by
 * no one else (a parent may be sticky, like /tmp, since its child must be
 * root's too). Everything after is done through that descriptor: the
 * socket is bound to /proc/self/fd/<dirfd>/<name> (bind never follows a
 * final symlink and never replaces an existing name), with umask 0177, then
 * opened O_PATH|O_NOFOLLOW to learn its inode, chowned to socket_group and
 * chmodded 0660 through that descriptor (no name is looked up again). An
 * existing name is replaced only when it is a socket of the daemon's uid
 * that no socket of any type is bound to (connect as datagram and as stream
 * both refused); anything else (a live socket of any type, a file, a
 * symlink) is refused. A socket file is removed (unlinkat) only while its
 * name still holds the inode the daemon bound. Once open, the directory
 * stays for the daemon's life (a changed export_dir: the next start). */
#ifndef MCSID_EXPORTDIR_H
#define MCSID_EXPORTDIR_H

#include <stddef.h>
#include <sys/types.h>
#include "mcsid.h"

#define MCSID_EXPORT_NAME_MAX 64

/* A socket bound under the directory. */
typedef struct mcsid_export_socket {
  int fd;                               /* bound, not listening; -1 once closed */
  int created;                          /* the file is there and ours: remove it */
  dev_t dev;
  ino_t ino;
  char name[MCSID_EXPORT_NAME_MAX + 1];
} mcsid_export_socket;

/* Opens (creating) export_dir: 0, or -1 with a log line (a Unix export then
 * fails saying why, and the directory is tried again at the next one).
 * The first Unix export calls it. */
int mcsid_export_dir_open(mcsid *d);

/* The name given (a name, or export_dir/name) into name: 0, or -1 with msg. */
int mcsid_export_socket_name(mcsid *d, const char *given, char *name, size_t len, char *msg, size_t msglen);
/* export_dir/name (what clients connect to). */
void mcsid_export_socket_path(mcsid *d, const char *name, char *path, size_t len);

/* A new socket bound as name: 0 with *out filled, or -1 with msg. */
int mcsid_export_socket_bind(mcsid *d, const char *name, mcsid_export_socket *out, char *msg, size_t len);
/* Closes out->fd if still open. */
void mcsid_export_socket_close(mcsid_export_socket *s);
/* Closes it and removes its file if the name still holds the inode bound. */
void mcsid_export_socket_remove(mcsid_export_socket *s);

#endif
