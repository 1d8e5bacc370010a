/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* secretfile.h: secret files read with a client's credentials, off the loop.
 *
 * The daemon never reads a file on a client's behalf that the client could
 * not read itself. A request naming SecretFile / TargetSecretFile has them
 * read by a short-lived child (fork): for a client that is not root it drops
 * to the client's uid, gid and supplementary groups (SO_PEERCRED and
 * SO_PEERGROUPS of the client's socket, as the kernel recorded them at
 * connect) before it opens anything, and is not dumpable. Each file is
 * opened with O_NOFOLLOW (a symbolic link is refused, whatever it points to)
 * and O_NONBLOCK, must be a regular file not on /proc (/proc/self would be
 * the child, a copy of the daemon), and is read for at most 258 bytes
 * (the secret: 1..255 bytes, a trailing "\n" or "\r\n" excluded, no zero
 * byte). For root the rules are those of before: the file must also be
 * owned by root. The child writes what it read into a pipe the loop
 * watches; the loop never waits for it: at MCSID_SECRET_FILE_TIMEOUT_MS the
 * child is killed and the request fails, and it is reaped without blocking.
 * At most MCSID_SECRET_FILES_PER_UID children per uid and
 * MCSID_SECRET_FILES_MAX in all are at work at once; a request beyond that
 * fails at once (ISDSC_INVALID_PARAMETER, "try again"). Once answered, a
 * child is killed (it has nothing left to do) and reaped within ~10 ms.
 *
 * Error texts for a client that is not root are the same for a file that
 * does not exist, one it cannot read, a link, or anything not a regular
 * file: they tell it nothing about files it cannot see. */
#ifndef MCSID_SECRETFILE_H
#define MCSID_SECRETFILE_H

#include <sys/types.h>
#include "mcsi.h"
#include "mcsid.h"

#define MCSID_SECRET_FILE_TIMEOUT_MS 3000
#define MCSID_SECRET_FILES_PER_UID 4   /* children at work at once for one uid */
#define MCSID_SECRET_FILES_MAX 32      /* and in all */
#define MCSID_SECRET_MAX 255
#define MCSID_CREDS_GROUPS_MAX 256

typedef struct mcsid_creds {
  uid_t uid;
  gid_t gid;
  size_t ngroups;
  gid_t groups[MCSID_CREDS_GROUPS_MAX];
} mcsid_creds;

/* What was read: secrets[i] for paths[i] (NUL-terminated, wiped by the
 * reader after the callback returns). On failure st and msg (no secret in
 * it, for a client that is not root no detail either) and secrets empty. */
typedef void (*mcsid_secret_files_cb)(void *arg, mcsi_status st, const char *msg, char secrets[2][256]);

/* Reads paths[0] (and paths[1] unless NULL; params[] name them in
 * messages) as cr; cb runs later, from the loop, exactly once. 0, or -1
 * when no child could be started (cb does not run; msg set). */
int mcsid_secret_files_read(mcsid *d, const mcsid_creds *cr, const char *const paths[2], const char *const params[2],
                            mcsid_secret_files_cb cb, void *arg, char *msg, size_t len);

#endif
