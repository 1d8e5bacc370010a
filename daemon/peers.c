/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peers.c: who may use the daemon's Unix sockets (see peers.h). */
#include <string.h>
#include <unistd.h>
#include "peers.h"

static int peer_in_group(int fd, gid_t gid)
{
#ifdef SO_PEERGROUPS
  gid_t groups[256];
  socklen_t len = sizeof groups;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
    for (size_t i = 0; i < len / sizeof groups[0]; i++)
      if (groups[i] == gid) return 1;
#else
  (void)fd;
  (void)gid;
#endif
  return 0;
}

int mcsid_peer_allowed(mcsid *d, int fd, const struct ucred *cr)
{
  if (cr->uid == 0 || cr->uid == geteuid()) return 1;
  int found;
  gid_t gid = mcsid_config_group(&d->config, &found);
  return found && (cr->gid == gid || peer_in_group(fd, gid));
}

int mcsid_peer_fd_allowed(mcsid *d, int fd, struct ucred *cr)
{
  socklen_t len = sizeof *cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0 || len != sizeof *cr) {
    memset(cr, 0, sizeof *cr);
    return 0;
  }
  return mcsid_peer_allowed(d, fd, cr);
}
