/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testsock.h: a test's own client socket to something the engine serves
 * (an NBD export): blocking-style sends and reads that pump the engine's
 * loop while they wait, each with a deadline.
 *
 *   t_sock_send(ini, fd, buf, len)          0 when all of it went, -1 if the socket broke
 *                                           or stayed full for 30 s
 *   t_sock_recv(ini, fd, buf, len, ms)      len bytes read; fewer at EOF (or a reset);
 *                                           -1 on an error or when ms ran out first
 *   t_silent_listener(portal, len, backlog) a loopback portal that completes the TCP handshake
 *                                           (the kernel's backlog) and never says a word:
 *                                           its fd (portal "127.0.0.1:PORT" written), or -1 */
#ifndef MCSI_TESTSOCK_H
#define MCSI_TESTSOCK_H
#include <stddef.h>
#include <sys/types.h>

struct mcsi_initiator;

int t_sock_send(struct mcsi_initiator *ini, int fd, const void *buf, size_t len);
ssize_t t_sock_recv(struct mcsi_initiator *ini, int fd, void *buf, size_t len, int timeout_ms);
int t_silent_listener(char *portal, size_t len, int backlog);

#endif
