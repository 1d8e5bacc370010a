/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mcsi_nbd.h: NBD exports of a LUN of an mcsi session (the layer above
 * core/mcsi.h; it uses nothing else of mcsi).
 *
 * An export listens on a Unix socket and/or a TCP address and serves any
 * NBD client (fixed newstyle handshake, simple replies) from the LUN of one
 * session. TCP clients must start TLS (NBD_OPT_STARTTLS, GnuTLS: X.509
 * and/or PSK) before anything else unless the options turn TLS off
 * explicitly; Unix socket clients may start TLS when the export has
 * credentials and are served plain otherwise. Everything runs on the initiator's loop (mcsi_fd_watch,
 * mcsi_timer_add, mcsi_scsi_submit): no thread, and the export lives as long
 * as its owner keeps it (mcsi_nbd_export_stop). Client requests become SCSI
 * commands on the session, so every connection of the session carries them
 * and a failover is invisible to the client (its requests wait, bounded by
 * the session's recovery timeout, then fail with EIO).
 *
 * Not safe to call from another thread than the one running the loop.
 */
#ifndef MCSI_NBD_H
#define MCSI_NBD_H

#include <stddef.h>
#include <stdint.h>
#include "mcsi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mcsi_nbd_export mcsi_nbd_export;

/* mcsi_nbd_opts.tls */
enum { MCSI_NBD_TLS_REQUIRE = 0,     /* the default: TCP clients must start TLS (the NBD
                                        protocol's FORCEDTLS); a TCP export needs credentials */
       MCSI_NBD_TLS_OFF = 1 };       /* plain TCP, said explicitly; no credentials allowed */

/* All zero means the defaults. At least one of socket_path and tcp. */
typedef struct mcsi_nbd_opts {
  const char *socket_path;           /* Unix socket to create (an existing socket file is replaced) */
  const char *tcp;                   /* "host:port", "[v6]:port" or ":port"/"port" (host 127.0.0.1);
                                        the host a numeric address or localhost (no name is
                                        resolved); port 0: any free port (see mcsi_nbd_info.tcp_port) */
  const char *name;                  /* export name; default "" (the default export, which every
                                        export also answers to) */
  const char *description;           /* NBD_INFO_DESCRIPTION; default none */
  int read_only;
  uint32_t max_clients;              /* default 16; more are closed at once */
  uint32_t max_request;              /* largest READ/WRITE payload; default 32 MiB */
  uint32_t max_scsi_transfer;        /* largest SCSI command; default 1 MiB (or less if the LUN says so) */
  uint32_t max_inflight_requests;    /* per client before reading stops; default 64 */
  uint64_t max_inflight_bytes;       /* per client before reading stops; default 64 MiB */
  int handshake_timeout_ms;          /* default 10000 (the TLS handshake included) */
  /* A host that makes its Unix socket itself (mcsid binds it under a
   * directory it holds open): > 0, a bound Unix stream socket; the export
   * listens on a duplicate of it, removes no file when it stops, and
   * socket_path only names it in mcsi_nbd_info. The caller keeps its own
   * descriptor open until the start has ended (the callback ran, or the
   * start failed at once), then closes it. */
  int unix_listen_fd;
  /* Each client accepted on the Unix socket, before a byte is sent: nonzero
   * serves it, 0 closes it (counted in clients_refused). NULL: everyone the
   * socket file's mode lets in. */
  int (*unix_peer_allowed)(int fd, void *arg);
  void *unix_peer_arg;
  int tls;                           /* MCSI_NBD_TLS_REQUIRE (default) or MCSI_NBD_TLS_OFF */
  const char *tls_cert, *tls_key;    /* X.509: PEM server certificate (chain) and its key */
  const char *tls_ca;                /* X.509: PEM CA certificate(s); set: every client must present a
                                        certificate they signed; NULL: clients are not asked for one */
  const char *tls_psk_file;          /* PSK: "username:hexkey" lines (psktool), read at each handshake */
  /* > 0: a listening TCP socket of the caller's for tcp (handed over by a
   * predecessor): a duplicate of it listens, nothing is bound; tcp still
   * names it. The caller closes its own once the start has ended. */
  int tcp_listen_fd;
} mcsi_nbd_opts;

typedef struct mcsi_nbd_info {
  mcsi_id session_id;
  uint64_t lun;
  char name[256];
  char socket_path[108];             /* "" when none */
  char tcp_host[64];                 /* "" when none */
  uint16_t tcp_port;                 /* the bound port */
  int read_only;
  uint64_t size;                     /* bytes */
  uint32_t block_size;               /* the LUN's logical block */
  uint32_t preferred_block, max_request, max_scsi_transfer;
  uint16_t transmission_flags;       /* NBD_FLAG_* as sent to clients */
  int trim;                          /* UNMAP supported (the LUN's VPD pages say so) */
  uint32_t clients;                  /* connected now (handshake or transmission) */
  uint64_t clients_total;            /* accepted since start */
  uint64_t clients_refused;          /* over max_clients */
  uint64_t requests;                 /* NBD requests answered */
  uint64_t errors;                   /* answered with an error */
  char last_error[256];              /* why the last one failed: "ISDSC_...: message" ("" when none) */
  uint64_t bytes_read, bytes_written;
  uint64_t scsi_commands;            /* SCSI commands issued */
  uint64_t inflight;                 /* NBD requests in flight now (all clients) */
  int tls;                           /* the options' tls */
  int tls_x509, tls_psk;             /* the credentials it offers */
  int tls_client_certs;              /* X.509 clients must present a certificate (tls_ca) */
  uint64_t tls_sessions;             /* TLS handshakes completed */
  uint64_t tls_failed;               /* TLS handshakes failed (bad key, untrusted peer, garbage) */
  uint64_t tls_refused;              /* options refused (or NBD_OPT_EXPORT_NAME closed) for want of TLS */
  uint64_t rmw;                      /* requests served by read-modify-write of partial blocks */
  uint64_t overlap_waits;            /* requests that waited for an overlapping RMW (or an RMW for them) */
  uint64_t block_status;             /* NBD_CMD_BLOCK_STATUS answered */
  uint64_t reply_writes;             /* writes to clients' sockets (sendmsg calls, TLS records):
                                        the replies of one loop turn share one */
  uint64_t request_allocs;           /* request structures allocated (finished ones are reused) */
  uint64_t buffer_allocs;            /* READ/WRITE data buffers allocated (finished requests keep theirs) */
  int thin;                          /* the LUN reports logical block provisioning (LBPME): holes are mapped */
} mcsi_nbd_info;

/* Starts an export: READ CAPACITY(16) and the Block Limits / Logical Block
 * Provisioning VPD pages of the LUN, then listens. cb(ini, export or NULL,
 * status, message, arg) runs once from inside mcsi_process (message: why it
 * failed, "" on success). Returns ISDSC_SUCCESS when the start began; any
 * other Status means cb never runs (err says why). */
typedef void (*mcsi_nbd_start_cb)(mcsi_initiator *ini, mcsi_nbd_export *exp, mcsi_status st,
                                  const char *message, void *arg);
mcsi_status mcsi_nbd_export_start_async(mcsi_initiator *ini, mcsi_id session, uint64_t lun,
                                        const mcsi_nbd_opts *opts, mcsi_nbd_start_cb cb, void *arg,
                                        char *err, size_t errlen);
/* Blocking form (runs the loop; refused inside a callback of the loop):
 * the export, or NULL with err filled. */
mcsi_nbd_export *mcsi_nbd_export_start(mcsi_initiator *ini, mcsi_id session, uint64_t lun,
                                       const mcsi_nbd_opts *opts, char *err, size_t errlen);
/* Stops listening, closes every client (their SCSI commands still in flight
 * finish into buffers of their own, then are freed), removes the Unix
 * socket and frees the export. Safe inside callbacks. NULL: nothing. */
void mcsi_nbd_export_stop(mcsi_nbd_export *exp);
void mcsi_nbd_export_info(const mcsi_nbd_export *exp, mcsi_nbd_info *out);
/* Serves the export from another session from now on (a daemon's persistent
 * login came back as a new session): requests arriving from now on go to
 * session's LUN lun of the same initiator, which the caller vouches is the
 * same LUN (same size); requests in flight finish on the old session.
 * Clients stay connected. Safe inside callbacks. */
void mcsi_nbd_export_rebind(mcsi_nbd_export *exp, mcsi_id session, uint64_t lun);
mcsi_initiator *mcsi_nbd_export_initiator(const mcsi_nbd_export *exp);

/* ---- Handing clients to another process (a daemon's upgrade) ----
 * Plain clients in the transmission phase go on in the successor on the
 * same socket: no new handshake, no error. mcsi_nbd_export_freeze(exp, 1):
 * clients read no new request (one whose header or payload began is read
 * whole), those in flight finish and their replies go out; 0: they read on.
 * mcsi_nbd_export_quiet: 1 once every client that can be handed stands at
 * a request boundary with nothing in flight or unsent (clients still in
 * the handshake, or under TLS, cannot be handed: they are closed with the
 * export); frozen, the export accepts no new client either. mcsi_nbd_export_clients lists up to max of those clients: a
 * duplicate of each socket (the caller's) and the bytes read ahead of it
 * (malloc'd, the caller's); it returns how many. mcsi_nbd_export_adopt_client
 * takes such a client into an export of the same LUN and name (the
 * predecessor's handshake holds: the same size and flags): 0, or -1 (fd
 * still the caller's). */
typedef struct mcsi_nbd_client_state {
  int fd;
  uint8_t *unread;
  size_t unread_len;                 /* at most 64 KiB */
  unsigned negotiated;               /* MCSI_NBD_NEGOTIATED_*: what its handshake settled */
} mcsi_nbd_client_state;
enum { MCSI_NBD_NEGOTIATED_STRUCTURED = 1,   /* NBD_OPT_STRUCTURED_REPLY */
       MCSI_NBD_NEGOTIATED_META_ALLOC = 2 }; /* base:allocation selected (needs STRUCTURED) */
void mcsi_nbd_export_freeze(mcsi_nbd_export *exp, int frozen);
/* A duplicate of the export's listening Unix / TCP socket (the caller's), -1 when it has none. */
int mcsi_nbd_export_unix_socket(const mcsi_nbd_export *exp);
int mcsi_nbd_export_tcp_socket(const mcsi_nbd_export *exp);
int mcsi_nbd_export_quiet(const mcsi_nbd_export *exp);
size_t mcsi_nbd_export_clients(const mcsi_nbd_export *exp, mcsi_nbd_client_state *out, size_t max);
int mcsi_nbd_export_adopt_client(mcsi_nbd_export *exp, int fd, const uint8_t *unread, size_t len, unsigned negotiated);

#ifdef __cplusplus
}
#endif
#endif
