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
 *   requests.c   the transmission phase: requests become the engine's
 *                block I/O (read-modify-write of partial blocks), replies
 *   overlap.c    the export's overlap wait list: an RMW and any request
 *                touching its blocks never run at the same time
 *   block_status.c  NBD_CMD_BLOCK_STATUS (base:allocation) from GET LBA STATUS
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
  int lbpme, lbprz;                  /* READ CAPACITY(16): thin provisioned; unmapped blocks read zero */
} nbd_lun_geometry;

/* The export's requests on LUN blocks, for ordering (overlap.c). */
typedef struct nbd_overlap {
  nbd_req *active_head;              /* admitted and running */
  nbd_req *wait_head, *wait_tail;    /* waiting, in arrival order */
  uint32_t rmw;                      /* RMWs among both lists */
  uint32_t waiting;
  uint64_t kick;                     /* timer: admits waiters after a release */
} nbd_overlap;

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
  nbd_overlap ov;
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
  int in_req;                        /* the item is req->out: freeing req frees it */
  uint8_t inline_hdr[32];
} nbd_out;

/* A request: owns its buffer; outlives its client if SCSI commands are in
 * flight when the client goes (client becomes NULL, the last command frees it).
 * A finished request of a live client goes back to the client's spares
 * (bounded), its buffer kept (bounded too): no malloc per request, small or
 * large (nbdcopy's 256 KiB), in a steady state. */
struct nbd_req {
  nbd_client *client;                /* NULL once orphaned */
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  uint16_t flags, type;
  uint64_t cookie, offset;
  uint32_t length;
  uint8_t *buf;                      /* READ data (the covering blocks), WRITE payload */
  mcsi_nbd_export *exp;              /* for the overlap list; NULL once the export went */
  uint64_t first_blk, end_blk;       /* the LUN blocks it touches: [first, end) */
  int rmw;                           /* writes part of a block: reads it first */
  int ov_state;                      /* 0 outside, 1 waiting, 2 active (overlap.c) */
  nbd_req *ov_prev, *ov_next;
  int stage;                         /* requests.c */
  uint8_t *edge;                     /* RMW: the partial head/tail blocks */
  uint64_t edge_blk[2];
  int edges;
  uint32_t bs_ctx;                   /* BLOCK_STATUS: the context id */
  size_t accounted;                  /* bytes counted against the client */
  uint32_t block_size;
  uint32_t pieces_inflight;          /* 1 while the engine's request runs */
  uint32_t error;                    /* NBD errno, 0 so far */
  nbd_req *prev_in, *next_in;        /* the client's requests in flight */
  size_t buf_cap;                    /* bytes of buf when requests.c allocated it, else 0 */
  uint8_t *spare;                    /* a kept buffer of spare_cap bytes for the next use */
  size_t spare_cap;
  nbd_out out;                       /* its reply in the client's output queue */
};

#define NBD_SPARE_REQS     32        /* finished requests a client keeps for reuse */
#define NBD_SPARE_BUF_MAX  (1u << 20) /* the largest buffer kept with one */
#define NBD_SPARE_BYTES    (4u << 20) /* the kept buffers of a client's requests together, at most */

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
  int structured;                    /* NBD_OPT_STRUCTURED_REPLY acknowledged */
  int meta_alloc;                    /* base:allocation selected (NBD_OPT_SET_META_CONTEXT) */
  int frozen;                        /* being handed over: no new request is read (handover.c) */
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
  uint64_t tx_kick;                  /* timer: writes the queue once at the end of this loop turn */
  /* requests */
  nbd_req *inflight;
  uint32_t n_inflight;
  uint64_t inflight_bytes;
  nbd_req *spares;                   /* finished requests kept for reuse (via next_in) */
  uint32_t n_spares;
  size_t spare_bytes;                /* bytes of the kept buffers (spare) of its requests, listed or not */
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
/* A client handed over by another process, in the transmission phase,
 * unread bytes of it already read there: 0, or -1 (fd not taken). */
int nbd_client_adopt(mcsi_nbd_export *exp, int fd, const uint8_t *unread, size_t len, unsigned negotiated);
/* After STARTTLS's ACK is queued: the TLS handshake follows once it is out. -1: out of memory. */
int nbd_client_start_tls(nbd_client *c);
void nbd_client_close(nbd_client *c);
/* Queues hdr (copied, <= 32 bytes) and data; owned data is freed after sending,
 * req is freed after sending. The queue is written once at the end of the
 * loop turn (a zero timer): the replies of one turn go in one sendmsg.
 * Returns 0, or -1 (client marked broken). */
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
/* The client closes: its spare requests are freed. */
void nbd_requests_drop_spares(nbd_client *c);
/* The client is going: its requests in flight become orphans. */
void nbd_requests_orphan(nbd_client *c);
/* A request admitted by the overlap list: runs it. */
void nbd_request_start(nbd_req *r);
/* Replies (structured when negotiated). */
void nbd_reply_error(nbd_req *r, uint32_t err);
void nbd_reply_done(nbd_req *r);

/* overlap.c */
#define NBD_META_ALLOC_ID 1u
/* 1: admitted now (the caller runs it); 0: waiting (nbd_request_start later). */
int nbd_overlap_enter(mcsi_nbd_export *e, nbd_req *r);
/* It finished: its blocks are free; waiters are admitted from a zero timer. */
void nbd_overlap_release(nbd_req *r);
/* Taken out without waking anyone (freeing, export stop). */
void nbd_overlap_drop(nbd_req *r);
/* The export stops: every request forgets it. */
void nbd_overlap_detach_all(mcsi_nbd_export *e);

/* block_status.c */
/* Starts GET LBA STATUS (or answers at once); the reply is sent from it. */
void nbd_block_status(nbd_req *r);

#endif
