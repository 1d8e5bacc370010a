/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbd_internal.h: what the files of the NBD export layer share.
 *
 *   export.c     an export: the LUN's geometry, listening sockets, accept,
 *                stop, info; the public entry points
 *   lun.c        learning the LUN: READ CAPACITY(16), Block Limits and
 *                Logical Block Provisioning VPD pages
 *   client.c     one client connection: non-blocking reads, the reply
 *                queue, flow control, closing (requests outlive it)
 *   handshake.c  the fixed newstyle option haggling (NBD_OPT_STARTTLS included)
 *   tls.c        TLS sessions over GnuTLS (tls.h; no other file knows GnuTLS)
 *   requests.c   the transmission phase: requests become SCSI commands,
 *                split, and replies
 */
#ifndef MCSI_NBD_INTERNAL_H
#define MCSI_NBD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "mcsi_nbd.h"
#include "wire.h"
#include "tls.h"

typedef struct nbd_client nbd_client;
typedef struct nbd_req nbd_req;

/* What the LUN said about itself. */
typedef struct nbd_lun_geometry {
  uint64_t blocks;
  uint32_t block_size;
  uint32_t max_transfer_blocks;      /* Block Limits: 0 none */
  uint32_t opt_transfer_blocks;
  int unmap;                         /* LBPU and a nonzero MAXIMUM UNMAP LBA COUNT */
  uint32_t max_unmap_blocks;
  uint32_t max_unmap_descriptors;
} nbd_lun_geometry;

struct mcsi_nbd_export {
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  nbd_lun_geometry geo;
  mcsi_nbd_opts opts;                /* with defaults filled in; strings below */
  char *name, *description;
  char socket_path[108];
  char tcp_host[64];
  uint16_t tcp_port;
  int unix_fd, tcp_fd;
  int unix_given;                    /* unix_fd is a duplicate of opts.unix_listen_fd: no file to remove */
  uint64_t unix_watch, tcp_watch;
  uint64_t size;
  uint32_t scsi_max;                 /* bytes per SCSI command */
  uint32_t preferred;
  uint16_t tflags;                   /* transmission flags */
  nbd_tls_creds *tls;                /* NULL: no TLS offered */
  nbd_client *clients;               /* doubly linked */
  uint32_t nclients;
  mcsi_nbd_info stats;               /* counters only */
};

/* A request: owns its buffer; outlives its client if SCSI commands are in
 * flight when the client goes (client becomes NULL, the last command frees it). */
struct nbd_req {
  nbd_client *client;                /* NULL once orphaned */
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  uint16_t flags, type;
  uint64_t cookie, offset;
  uint32_t length;
  uint8_t *buf;                      /* READ/WRITE payload, TRIM's UNMAP lists */
  size_t accounted;                  /* bytes counted against the client */
  uint32_t block_size;
  uint32_t pieces_inflight;          /* 1 while the engine's request runs */
  uint32_t error;                    /* NBD errno, 0 so far */
  nbd_req *prev_in, *next_in;        /* the client's requests in flight */
  /* reply, once the request is done */
  uint8_t reply[NBD_SIMPLE_REPLY_SIZE];
};

/* An item of a client's output queue: hdr then data. */
typedef struct nbd_out {
  struct nbd_out *next;
  uint8_t *hdr;                      /* points into the item or at req->reply */
  size_t hdr_len;
  const uint8_t *data;
  size_t data_len;
  size_t off;                        /* bytes of hdr+data already sent */
  nbd_req *req;                      /* freed with the item, if any */
  uint8_t *owned;                    /* malloc'd data freed with the item */
  uint8_t inline_hdr[32];
} nbd_out;

enum nbd_client_phase { NBD_PH_CLIENT_FLAGS, NBD_PH_OPT_HDR, NBD_PH_OPT_DATA,
                        NBD_PH_REQ_HDR, NBD_PH_PAYLOAD,
                        NBD_PH_TLS_HANDSHAKE };   /* after STARTTLS's ACK went out */

struct nbd_client {
  mcsi_nbd_export *exp;
  nbd_client *prev, *next;
  int fd;
  uint64_t watch;
  int watching;                      /* MCSI_FD_* now asked for */
  uint64_t hs_timer;                 /* handshake deadline; 0 once in transmission */
  int phase;
  int no_zeroes;
  int disconnecting;                 /* NBD_CMD_DISC seen: close once drained */
  int broken;                        /* close at the end of the current callback */
  int busy;                          /* > 0 while a callback of ours runs on it */
  /* TLS */
  int tls_required;                  /* a TCP client of an export that requires TLS */
  nbd_tls *tls;                      /* from NBD_OPT_STARTTLS on; NULL: plain */
  int tls_up;                        /* handshake done: every byte goes through records */
  int tls_again;                     /* a record is taken but not all sent: resend with NULL, 0 */
  uint8_t *tls_stage;                /* small replies gathered into one record */
  uint64_t tls_kick;                 /* timer: reads what GnuTLS holds decrypted (no fd event comes) */
  /* input */
  uint8_t hdr[NBD_REQUEST_SIZE];
  size_t hdr_have, hdr_need;
  uint32_t opt, opt_len;
  uint8_t *opt_data;
  nbd_req *cur;                      /* request whose payload is being read */
  uint8_t *rxbuf;                    /* bytes read ahead of the current phase */
  size_t rx_off, rx_len;
  /* output */
  nbd_out *out_head, *out_tail;
  size_t out_bytes;
  /* requests */
  nbd_req *inflight;
  uint32_t n_inflight;
  uint64_t inflight_bytes;
};

#define NBD_OPT_MAX_LEN 8192         /* an option's data we accept */

/* export.c */
void nbd_export_client_gone(mcsi_nbd_export *exp, nbd_client *c);
int nbd_export_create(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, const mcsi_nbd_opts *opts,
                      const nbd_lun_geometry *geo, mcsi_nbd_export **out, char *err, size_t errlen);
void nbd_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* lun.c */
typedef void (*nbd_geometry_cb)(mcsi_initiator *ini, mcsi_status st, const nbd_lun_geometry *geo,
                                const char *message, void *arg);
mcsi_status nbd_lun_probe_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_geometry_cb cb, void *arg);
mcsi_status nbd_lun_probe(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_lun_geometry *geo,
                          char *err, size_t errlen);

/* client.c */
/* 0, or -1 (fd not taken: the caller closes it). */
int nbd_client_new(mcsi_nbd_export *exp, int fd, int is_tcp);
/* After STARTTLS's ACK is queued: the TLS handshake follows once it is out. -1: out of memory. */
int nbd_client_start_tls(nbd_client *c);
void nbd_client_close(nbd_client *c);
/* Queues hdr (copied, <= 32 bytes) and data; owned data is freed after sending,
 * req is freed after sending. Returns 0, or -1 (client marked broken). */
int nbd_client_send(nbd_client *c, const void *hdr, size_t hdr_len, const uint8_t *data, size_t data_len,
                    uint8_t *owned, nbd_req *req);
void nbd_client_update_watch(nbd_client *c);
/* Called when a callback of ours on c ends: closes it if it broke or finished. */
void nbd_client_settle(nbd_client *c);
int nbd_client_can_read(const nbd_client *c);
void nbd_client_expect(nbd_client *c, int phase, size_t need);

/* handshake.c */
void nbd_handshake_start(nbd_client *c);
/* A whole client-flags word, option header or option data arrived. */
void nbd_handshake_input(nbd_client *c);
/* The TLS handshake is done: options again, now inside TLS. */
void nbd_handshake_tls_up(nbd_client *c);

/* requests.c */
/* A request header arrived (in c->hdr); may set c->cur for a payload to read. */
void nbd_request_header(nbd_client *c);
/* c->cur's payload is complete. */
void nbd_request_payload_done(nbd_client *c);
void nbd_req_free(nbd_req *r);
/* The client is going: its requests in flight become orphans. */
void nbd_requests_orphan(nbd_client *c);

#endif
