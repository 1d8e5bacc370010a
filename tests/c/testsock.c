/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testsock.c: see testsock.h. */
#include "testsock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "mcsi.h"

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int t_sock_send(struct mcsi_initiator *ini, int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;
  uint64_t end = mono_ms() + 30000;
  while (len) {
    ssize_t w = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) { p += w; len -= (size_t)w; continue; }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    if (mono_ms() > end) return -1;
    mcsi_process(ini, 5);
  }
  return 0;
}

ssize_t t_sock_recv(struct mcsi_initiator *ini, int fd, void *buf, size_t len, int timeout_ms)
{
  uint8_t *p = buf;
  size_t have = 0;
  uint64_t end = mono_ms() + (uint64_t)timeout_ms;
  while (have < len) {
    ssize_t r = recv(fd, p + have, len - have, MSG_DONTWAIT);
    if (r > 0) { have += (size_t)r; continue; }
    if (r == 0 || errno == ECONNRESET) return (ssize_t)have;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    if (mono_ms() > end) return -1;
    mcsi_process(ini, 5);
  }
  return (ssize_t)have;
}

int t_silent_listener(char *portal, size_t len, int backlog)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t sl = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  snprintf(portal, len, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
  return fd;
}
