/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peers.h: who may use the daemon's Unix sockets (the control socket,
 * clients.c, and the Unix sockets of NBD exports, exports.c): root, the
 * daemon's own uid and members of socket_group (primary group, or a
 * supplementary one as SO_PEERGROUPS tells). */
#ifndef MCSID_PEERS_H
#define MCSID_PEERS_H

#include <sys/socket.h>
#include "mcsid.h"

/* 1 if the peer of the connected socket fd, whose SO_PEERCRED is cr, may be
 * served; 0 if not. */
int mcsid_peer_allowed(mcsid *d, int fd, const struct ucred *cr);

/* SO_PEERCRED of fd into cr, then mcsid_peer_allowed: 1 or 0 (0 too when
 * the credentials cannot be read; cr is then zeroed). */
int mcsid_peer_fd_allowed(mcsid *d, int fd, struct ucred *cr);

#endif
