/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.c: an export's plain clients handed to another process at a
 * request boundary (mcsi_nbd.h, "Handing clients"): frozen, quiet, listed
 * with what was read ahead of them, adopted in the transmission phase. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nbd_internal.h"

/* Plain and past the handshake: its socket alone carries it. */
static int handable(const nbd_client *c)
{
  return !c->tls && !c->broken && !c->disconnecting && (c->phase == NBD_PH_REQ_HDR || c->phase == NBD_PH_PAYLOAD);
}

void mcsi_nbd_export_freeze(mcsi_nbd_export *exp, int frozen)
{
  int accept = frozen ? 0 : MCSI_FD_READABLE;
  if (exp->unix_watch) mcsi_fd_watch_set(exp->ini, exp->unix_watch, accept);
  if (exp->tcp_watch) mcsi_fd_watch_set(exp->ini, exp->tcp_watch, accept);
  for (nbd_client *c = exp->clients, *next; c; c = next) {
    next = c->next;
    c->frozen = frozen;
    nbd_client_settle(c);                       /* reading stops, or takes what it read ahead */
  }
}

int mcsi_nbd_export_unix_socket(const mcsi_nbd_export *exp)
{
  return exp->unix_fd >= 0 ? fcntl(exp->unix_fd, F_DUPFD_CLOEXEC, 3) : -1;
}

int mcsi_nbd_export_tcp_socket(const mcsi_nbd_export *exp)
{
  return exp->tcp_fd >= 0 ? fcntl(exp->tcp_fd, F_DUPFD_CLOEXEC, 3) : -1;
}

int mcsi_nbd_export_quiet(const mcsi_nbd_export *exp)
{
  for (const nbd_client *c = exp->clients; c; c = c->next) {
    if (!handable(c)) continue;
    if (c->phase != NBD_PH_REQ_HDR || c->hdr_have || c->n_inflight || c->out_head) return 0;
  }
  return 1;
}

size_t mcsi_nbd_export_clients(const mcsi_nbd_export *exp, mcsi_nbd_client_state *out, size_t max)
{
  size_t n = 0;
  for (const nbd_client *c = exp->clients; c && n < max; c = c->next) {
    if (!handable(c) || c->phase != NBD_PH_REQ_HDR || c->hdr_have) continue;
    size_t len = c->rx_len - c->rx_off;
    int fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
    uint8_t *unread = malloc(len ? len : 1);
    if (fd < 0 || !unread) {
      if (fd >= 0) close(fd);
      free(unread);
      continue;
    }
    memcpy(unread, c->rxbuf + c->rx_off, len);
    unsigned negotiated = (c->structured ? MCSI_NBD_NEGOTIATED_STRUCTURED : 0u) |
                          (c->meta_alloc ? MCSI_NBD_NEGOTIATED_META_ALLOC : 0u);
    out[n++] = (mcsi_nbd_client_state){ .fd = fd, .unread = unread, .unread_len = len, .negotiated = negotiated };
  }
  return n;
}

int mcsi_nbd_export_adopt_client(mcsi_nbd_export *exp, int fd, const uint8_t *unread, size_t len, unsigned negotiated)
{
  if (negotiated & ~(unsigned)(MCSI_NBD_NEGOTIATED_STRUCTURED | MCSI_NBD_NEGOTIATED_META_ALLOC) ||
      ((negotiated & MCSI_NBD_NEGOTIATED_META_ALLOC) && !(negotiated & MCSI_NBD_NEGOTIATED_STRUCTURED)))
    return -1;                                   /* a state no handshake of ours settles */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -1;
  if (exp->opts.max_clients && exp->nclients >= exp->opts.max_clients) return -1;
  return nbd_client_adopt(exp, fd, unread, len, negotiated);
}
