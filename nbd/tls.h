/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tls.h: TLS for NBD clients (NBD_OPT_STARTTLS), the only file of the layer
 * that knows GnuTLS. An export loads its credentials once (X.509 server
 * certificate and key, optionally a CA its clients' certificates must be
 * signed by; and/or a PSK file of "username:hexkey" lines as psktool writes
 * them); each client that asks for TLS gets a session on its non-blocking
 * socket. Every call returns at once: "again" means wait for what
 * nbd_tls_wants says, then call again.
 */
#ifndef MCSI_NBD_TLS_H
#define MCSI_NBD_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include "mcsi_nbd.h"

typedef struct nbd_tls_creds nbd_tls_creds;
typedef struct nbd_tls nbd_tls;

#define NBD_TLS_RECORD 16384         /* the largest TLS record's payload */

/* The TLS options agree with each other (tls off and files given, a
 * certificate without its key, ...): 0, or -1 with err filled. */
int nbd_tls_opts_check(const mcsi_nbd_opts *o, char *err, size_t errlen);
/* The credentials the options name: 0 with *out NULL when they name none,
 * 0 with *out set, or -1 with err filled (no file's path in it: the
 * message says which option, so an unprivileged caller of a privileged host
 * learns nothing about files it cannot see). */
int nbd_tls_creds_load(const mcsi_nbd_opts *o, nbd_tls_creds **out, char *err, size_t errlen);
void nbd_tls_creds_free(nbd_tls_creds *cr);
int nbd_tls_creds_x509(const nbd_tls_creds *cr);
int nbd_tls_creds_psk(const nbd_tls_creds *cr);
int nbd_tls_creds_client_certs(const nbd_tls_creds *cr);

/* A server session on fd (not taken: the caller closes it); NULL when out of memory. */
nbd_tls *nbd_tls_new(const nbd_tls_creds *cr, int fd);
void nbd_tls_free(nbd_tls *t);
/* The handshake, a step: 1 done, 0 again, -1 failed (the client goes). */
int nbd_tls_handshake(nbd_tls *t);
/* What the last "again" waits for: MCSI_FD_READABLE or MCSI_FD_WRITABLE. */
int nbd_tls_wants(const nbd_tls *t);
/* recv(2)'s contract: bytes, 0 at the peer's close, or -1 with errno EAGAIN
 * (again), EINTR (call again now) or EIO (the session failed). */
ssize_t nbd_tls_recv(nbd_tls *t, void *buf, size_t len);
/* One record of at most len bytes: bytes taken, or -1 with errno EAGAIN
 * (the record is taken but not all sent: call again with NULL, 0, which
 * returns the first call's count once it is out) or EIO. */
ssize_t nbd_tls_send(nbd_tls *t, const void *buf, size_t len);
/* Decrypted bytes GnuTLS holds that no read event will announce. */
size_t nbd_tls_pending(nbd_tls *t);
/* Tells the peer the session ends (close_notify), without waiting. */
void nbd_tls_bye(nbd_tls *t);

#endif
