/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testnbd.c: see testnbd.h. */
#include "testnbd.h"

#include <errno.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testsock.h"

enum { HANDSHAKE_MS = 10000, REPLY_MS = 30000, SKIPPED_MAX = 512 };

static int connect_or_close(int fd, const struct sockaddr *sa, socklen_t len)
{
  if (fd >= 0 && connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

int t_nbd_connect_unix(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  return connect_or_close(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0), (struct sockaddr *)&sa, sizeof sa);
}

int t_nbd_connect_tcp(uint16_t port, int nonblock)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
  sa.sin_addr.s_addr = htonl(0x7f000001);
  return connect_or_close(socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0), (struct sockaddr *)&sa,
                          sizeof sa);
}

int t_nbd_greet(struct mcsi_initiator *ini, int fd, uint32_t flags)
{
  uint8_t g[18], f[4];
  if (t_sock_recv(ini, fd, g, sizeof g, HANDSHAKE_MS) != (ssize_t)sizeof g) return 0;
  nbd_put32(f, flags);
  if (t_sock_send(ini, fd, f, sizeof f)) return 0;
  return nbd_get64(g) == NBD_MAGIC && nbd_get64(g + 8) == NBD_IHAVEOPT &&
         (nbd_get16(g + 16) & NBD_FLAG_FIXED_NEWSTYLE);
}

int t_nbd_send_option(struct mcsi_initiator *ini, int fd, uint32_t opt, const void *data, uint32_t len)
{
  uint8_t h[16];
  nbd_put64(h, NBD_IHAVEOPT);
  nbd_put32(h + 8, opt);
  nbd_put32(h + 12, len);
  return t_sock_send(ini, fd, h, sizeof h) || (len && t_sock_send(ini, fd, data, len)) ? -1 : 0;
}

uint32_t t_nbd_option_reply(struct mcsi_initiator *ini, int fd, uint8_t *d, size_t cap, uint32_t *len)
{
  uint8_t h[20], skipped[SKIPPED_MAX];
  if (!d) {
    d = skipped;
    cap = cap < sizeof skipped ? cap : sizeof skipped;
  }
  if (t_sock_recv(ini, fd, h, sizeof h, HANDSHAKE_MS) != (ssize_t)sizeof h || nbd_get64(h) != NBD_REP_MAGIC) return 0;
  uint32_t n = nbd_get32(h + 16);
  if (len) *len = n;
  if (n > cap) return 0;
  if (n && t_sock_recv(ini, fd, d, n, HANDSHAKE_MS) != (ssize_t)n) return 0;
  return nbd_get32(h + 12);
}

uint32_t t_nbd_reply_type(struct mcsi_initiator *ini, int fd)
{
  return t_nbd_option_reply(ini, fd, NULL, SKIPPED_MAX, NULL);
}

uint32_t t_nbd_option(struct mcsi_initiator *ini, int fd, uint32_t opt, const void *data, uint32_t len)
{
  return t_nbd_send_option(ini, fd, opt, data, len) ? 0 : t_nbd_reply_type(ini, fd);
}

/* NBD_OPT_GO; the transmission flags (or -1) in *flags: the type of the last reply. */
static uint32_t go(struct mcsi_initiator *ini, int fd, uint64_t *size, int *flags)
{
  uint8_t d[6] = { 0 }, r[64];
  uint32_t len, type;
  *flags = -1;
  if (t_nbd_send_option(ini, fd, NBD_OPT_GO, d, sizeof d)) return 0;
  while ((type = t_nbd_option_reply(ini, fd, r, sizeof r, &len)) == NBD_REP_INFO)
    if (len >= 12 && nbd_get16(r) == NBD_INFO_EXPORT) {
      if (size) *size = nbd_get64(r + 2);
      *flags = nbd_get16(r + 10);
    }
  return type;
}

int t_nbd_go(struct mcsi_initiator *ini, int fd, uint64_t *size)
{
  int flags;
  return go(ini, fd, size, &flags) == NBD_REP_ACK ? flags : -1;
}

uint32_t t_nbd_go_reply(struct mcsi_initiator *ini, int fd)
{
  int flags;
  return go(ini, fd, NULL, &flags);
}

int t_nbd_open(struct mcsi_initiator *ini, const char *path, uint16_t port)
{
  int fd = path ? t_nbd_connect_unix(path) : t_nbd_connect_tcp(port, 1);
  if (fd < 0 || !t_nbd_greet(ini, fd, T_NBD_CLIENT_FLAGS) || t_nbd_go(ini, fd, NULL) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

int t_nbd_send_request(struct mcsi_initiator *ini, int fd, uint16_t type, uint16_t flags, uint64_t cookie,
                       uint64_t off, uint32_t len, const void *payload, size_t plen)
{
  uint8_t h[NBD_REQUEST_SIZE];
  nbd_put32(h, NBD_REQUEST_MAGIC);
  nbd_put16(h + 4, flags);
  nbd_put16(h + 6, type);
  nbd_put64(h + 8, cookie);
  nbd_put64(h + 16, off);
  nbd_put32(h + 24, len);
  return t_sock_send(ini, fd, h, sizeof h) || (plen && t_sock_send(ini, fd, payload, plen)) ? -1 : 0;
}

long t_nbd_read_reply(struct mcsi_initiator *ini, int fd, uint64_t *cookie)
{
  uint8_t r[NBD_SIMPLE_REPLY_SIZE];
  if (t_sock_recv(ini, fd, r, sizeof r, REPLY_MS) != (ssize_t)sizeof r || nbd_get32(r) != NBD_SIMPLE_REPLY_MAGIC)
    return -1;
  if (cookie) *cookie = nbd_get64(r + 8);
  return (long)nbd_get32(r + 4);
}

long t_nbd_roundtrip(struct mcsi_initiator *ini, int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
                     const void *payload, size_t plen, void *rbuf)
{
  static uint64_t next_cookie = 0x1000;
  uint64_t cookie = ++next_cookie, got = 0;
  if (t_nbd_send_request(ini, fd, type, flags, cookie, off, len, payload, plen)) return -1;
  long err = t_nbd_read_reply(ini, fd, &got);
  if (err < 0 || got != cookie) return -1;
  if (!err && rbuf && t_sock_recv(ini, fd, rbuf, len, REPLY_MS) != (ssize_t)len) return -1;
  return err;
}

void t_nbd_fill(uint8_t *b, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}
