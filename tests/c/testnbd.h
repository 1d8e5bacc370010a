/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testnbd.h: a test's own raw NBD client of an export the engine serves in
 * process (nbd/): plain newstyle handshake and simple replies, built on
 * testsock's sends and reads, so every wait pumps the given initiator's loop
 * and has a deadline (10 s for a handshake step, 30 s for a reply).
 *
 *   t_nbd_connect_unix(path)                   a non-blocking socket connecting to path, or -1
 *   t_nbd_connect_tcp(port, nonblock)          one to 127.0.0.1:port (blocking if !nonblock), or -1
 *   t_nbd_greet(ini, fd, flags)                reads the greeting, sends the client flags: 1 when the
 *                                              greeting was NBDMAGIC, IHAVEOPT and fixed newstyle
 *   t_nbd_send_option(ini, fd, opt, data, len) 0, or -1 if the socket broke
 *   t_nbd_option_reply(ini, fd, d, cap, len)   one option reply: its type (0 when none came whole or
 *                                              its data was longer than cap); its data in d, its
 *                                              length in *len; d NULL: the data is read and dropped
 *   t_nbd_reply_type(ini, fd)                  the same, data of up to 512 bytes dropped
 *   t_nbd_option(ini, fd, opt, data, len)      an option sent and its reply read: the reply's type
 *                                              (its data dropped), 0 when it could not be sent
 *   t_nbd_go(ini, fd, size)                    NBD_OPT_GO on the default export: the transmission
 *                                              flags (export size in *size), or -1
 *   t_nbd_go_reply(ini, fd)                    the same: the type of its last reply (NBD_REP_ACK
 *                                              when it went on, 0 when none came)
 *   t_nbd_open(ini, path, port)                connect (Unix path, or TCP port when path is NULL),
 *                                              greet with T_NBD_CLIENT_FLAGS and GO: the fd, or -1
 *   t_nbd_send_request(ini, fd, type, flags, cookie, off, len, payload, plen)   0, or -1
 *   t_nbd_read_reply(ini, fd, cookie)          a simple reply: its error (cookie in *cookie), or -1
 *   t_nbd_roundtrip(ini, fd, type, flags, off, len, payload, plen, rbuf)
 *                                              a request with a fresh cookie and its reply (len bytes
 *                                              of data read into rbuf when given and no error): the
 *                                              error, or -1 (no reply, another cookie, data short)
 *   t_nbd_fill(b, n, seed)                     a test pattern of n bytes */
#ifndef MCSI_TESTNBD_H
#define MCSI_TESTNBD_H
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define T_NBD_CLIENT_FLAGS (NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)

struct mcsi_initiator;

int t_nbd_connect_unix(const char *path);
int t_nbd_connect_tcp(uint16_t port, int nonblock);
int t_nbd_greet(struct mcsi_initiator *ini, int fd, uint32_t flags);
int t_nbd_send_option(struct mcsi_initiator *ini, int fd, uint32_t opt, const void *data, uint32_t len);
uint32_t t_nbd_option_reply(struct mcsi_initiator *ini, int fd, uint8_t *d, size_t cap, uint32_t *len);
uint32_t t_nbd_reply_type(struct mcsi_initiator *ini, int fd);
uint32_t t_nbd_option(struct mcsi_initiator *ini, int fd, uint32_t opt, const void *data, uint32_t len);
int t_nbd_go(struct mcsi_initiator *ini, int fd, uint64_t *size);
uint32_t t_nbd_go_reply(struct mcsi_initiator *ini, int fd);
int t_nbd_open(struct mcsi_initiator *ini, const char *path, uint16_t port);
int t_nbd_send_request(struct mcsi_initiator *ini, int fd, uint16_t type, uint16_t flags, uint64_t cookie,
                       uint64_t off, uint32_t len, const void *payload, size_t plen);
long t_nbd_read_reply(struct mcsi_initiator *ini, int fd, uint64_t *cookie);
long t_nbd_roundtrip(struct mcsi_initiator *ini, int fd, uint16_t type, uint16_t flags, uint64_t off, uint32_t len,
                     const void *payload, size_t plen, void *rbuf);
void t_nbd_fill(uint8_t *b, size_t n, unsigned seed);

#endif
