/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* transport.h: one TCP connection carrying iSCSI PDUs: connect, framing in
 * both directions, digests, a bounded send queue. It knows nothing of
 * logins, sessions or tasks: it hears from the layer above through
 * mcsi_transport_ops, and calls nothing above it. */
#ifndef MCSI_TRANSPORT_H
#define MCSI_TRANSPORT_H
#include <sys/socket.h>
#include "base.h"
#include "loop.h"
#include "pdu.h"
#include "info.h"
#include "resolve.h"

/* What queued PDUs point into (a command's buffer) counts them here: refs
 * while any is queued, marked while a marked one has not left the socket. */
typedef struct mcsi_tx_owner { uint32_t refs, marked; } mcsi_tx_owner;

typedef struct mcsi_txitem {
  struct mcsi_txitem *next;
  mcsi_tx_owner *owner;                 /* whose buffer data points into, or NULL */
  uint8_t hdr[MCSI_BHS_LEN + MCSI_DIGEST_LEN];
  uint8_t tail[3 + MCSI_DIGEST_LEN];    /* padding and data digest */
  uint8_t hlen, tlen;
  uint8_t marked;                       /* counted in owner->marked until sent */
  const uint8_t *data;
  uint32_t dlen;
  uint8_t *owned;                       /* freed after sending */
  size_t sent;
} mcsi_txitem;

/* RESOLVING: a name being resolved off the loop (resolve.h), no socket yet. */
enum mcsi_transport_state { MCSI_TP_IDLE, MCSI_TP_RESOLVING, MCSI_TP_CONNECTING, MCSI_TP_OPEN, MCSI_TP_CLOSED };

typedef struct mcsi_transport mcsi_transport;
typedef struct mcsi_transport_ops {
  /* The TCP connection is up. */
  void (*connected)(mcsi_transport *tp);
  /* A Data-In header arrived: where its data goes. 0: into *dst (NULL only
   * for no data), which belongs to *owner; 1: read it and drop it; -1 with
   * *err: the transport fails (TRANSPORT_ERROR). */
  int (*place_data)(mcsi_transport *tp, const mcsi_pdu_hdr *h, uint8_t **dst, mcsi_tx_owner **owner,
                    const char **err);
  /* A whole PDU; data is NULL when it went where place_data said. */
  void (*pdu)(mcsi_transport *tp, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen);
  /* The transport failed and closed (never called for mcsi_transport_close
   * or _abort); tp->message says why. clean_eof: the peer closed the
   * connection between two PDUs. */
  void (*failed)(mcsi_transport *tp, mcsi_status st, int clean_eof);
} mcsi_transport_ops;

struct mcsi_transport {
  const mcsi_transport_ops *ops;
  mcsi_loop *loop;
  enum mcsi_transport_state state;
  uint16_t cid;                         /* for traces only */
  int fd;
  mcsi_watch watch;
  mcsi_deferred flush;                  /* queued PDUs go out before the loop waits */
  char portal[80];
  char host[256];                       /* portal's host, as resolved or being resolved */
  mcsi_resolve_req resolve;             /* a name's resolution in flight (RESOLVING) */
  struct sockaddr_storage remote;
  socklen_t remote_len;
  int login_phase;                      /* no digests, LOGIN_DSL limit */
  int header_digest, data_digest;
  uint32_t max_recv_dsl;                /* what the target may send us, after login */
  /* tx */
  mcsi_txitem *txhead, *txtail;
  size_t txbytes;
  size_t txmem;                         /* our own memory in the queue (items, owned data) */
  int tx_overflow;                      /* txmem passed MCSI_TX_QUEUE_MAX: fail at the next flush */
  int tx_oom;                           /* a PDU could not be queued: fail at the next flush */
  /* rx */
  uint8_t *rxbuf;
  size_t rxcap, rxstart, rxend;
  int rxstate;                          /* 0 header, 1 data, 2 tail */
  uint8_t rxhdr[MCSI_BHS_LEN + MCSI_MAX_AHS_WORDS * 4 + MCSI_DIGEST_LEN];
  uint32_t rxhlen, rxgot;
  mcsi_pdu_hdr rh;
  uint8_t *rxdst;                       /* where the data segment goes */
  mcsi_tx_owner *rxowner;               /* what rxdst belongs to, or NULL */
  int rx_discard;                       /* the PDU being read belongs to nothing: drop it */
  uint8_t *scratch;                     /* data segments of other PDUs */
  uint32_t scratch_cap;
  uint8_t rxtail[3 + MCSI_DIGEST_LEN];
  int rx_drained;                       /* a short read emptied the socket: wait for epoll */
  int rx_bulk;                          /* large data segments: read headers alone, data in place */
  uint64_t last_rx;                     /* monotonic ms of the last whole PDU */
  mcsi_conn_stats stats;                /* bytes, PDUs, digest and framing errors */
  char message[MCSI_MSG_MAX];           /* why it failed */
};

/* What the layers two or more levels up read of it: they own none of its
 * fields (core/LAYERS). */
static inline const char *mcsi_transport_portal(const mcsi_transport *tp) { return tp->portal; }
static inline const char *mcsi_transport_message(const mcsi_transport *tp) { return tp->message; }
static inline int mcsi_transport_fd(const mcsi_transport *tp) { return tp->fd; }
static inline uint64_t mcsi_transport_last_rx(const mcsi_transport *tp) { return tp->last_rx; }
static inline const struct sockaddr_storage *mcsi_transport_remote(const mcsi_transport *tp) { return &tp->remote; }
static inline const mcsi_conn_stats *mcsi_transport_stats(const mcsi_transport *tp) { return &tp->stats; }
/* A connection handed from another process goes on counting from its counters there. */
static inline void mcsi_transport_restore_stats(mcsi_transport *tp, const mcsi_conn_stats *st) { tp->stats = *st; }
static inline uint32_t mcsi_tx_owner_marked(const mcsi_tx_owner *o) { return o->marked; }

/* max_recv_dsl: the largest data segment we will ever accept on it. */
int mcsi_transport_init(mcsi_transport *tp, mcsi_loop *loop, const mcsi_transport_ops *ops,
                        uint32_t max_recv_dsl);
void mcsi_transport_destroy(mcsi_transport *tp);
/* Names it (for traces and listings) before it connects. */
void mcsi_transport_label(mcsi_transport *tp, uint16_t cid, const char *portal);
/* Starts a non-blocking connect to "host", "host:port" or "[v6]:port";
 * ops->connected follows. A numeric host connects at once; a name is
 * resolved off the loop first (state RESOLVING), and a name that does not
 * resolve fails the transport later (ops->failed, ISDSC_INVALID_HOST).
 * Closing it cancels the resolution. A failing Status has its detail in
 * tp->message. */
mcsi_status mcsi_transport_connect(mcsi_transport *tp, const char *portal);
/* Login done: digests as negotiated, data segments up to max_recv_dsl. */
void mcsi_transport_full_feature(mcsi_transport *tp, int header_digest, int data_digest, uint32_t max_recv_dsl);
/* Queues one PDU (data may point into owner's buffer; owned is freed after
 * it is sent). Never fails here: a full queue fails the transport at the
 * next flush. */
void mcsi_transport_queue(mcsi_transport *tp, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                          mcsi_tx_owner *owner, uint8_t *owned);
/* Marks the last queued PDU if it is owner's: owner->marked counts it until
 * it leaves the socket. 1 if marked. */
int mcsi_transport_mark_last(mcsi_transport *tp, mcsi_tx_owner *owner);
/* Nothing queued may point into owner's buffer afterwards, and nothing
 * still arriving may be written into it. */
void mcsi_transport_detach(mcsi_transport *tp, mcsi_tx_owner *owner);
/* Best effort, outside the queue, at once. */
void mcsi_transport_send_now(mcsi_transport *tp, const uint8_t *p, size_t n);
/* ---- handing the connection to another process (core/base/handover.h) ---- */
/* 1 when nothing is queued to send and reading stands at a PDU boundary. */
int mcsi_transport_quiet(const mcsi_transport *tp);
/* Bytes read from the socket but not yet parsed (*p: where they are). */
size_t mcsi_transport_unread(const mcsi_transport *tp, const uint8_t **p);
/* Stops (on 1) or resumes (0) watching the socket; nothing is read meanwhile. */
mcsi_status mcsi_transport_pause(mcsi_transport *tp, int paused);
/* Forgets the socket without a word to the peer (its successor holds it):
 * no FIN, no RST, no callback. */
void mcsi_transport_release(mcsi_transport *tp);
/* Forgets the socket without closing it: it stays whoever gave it (an
 * import that failed). */
void mcsi_transport_disown(mcsi_transport *tp);
/* Takes fd, a connection in full feature phase with these digests and
 * limit, rx_len bytes of it already read (at most its buffer), paused:
 * mcsi_transport_pause(tp, 0) starts reading. Ours on success; a failing
 * Status (msg) leaves fd the caller's. A stream socket that is no longer
 * connected (reset on the way) is taken: it fails at its first read. */
mcsi_status mcsi_transport_adopt(mcsi_transport *tp, int fd, int header_digest, int data_digest,
                                 uint32_t max_recv_dsl, const uint8_t *rx, size_t rx_len, char *msg);
/* Fails it: message, RST, ops->failed. Idempotent. */
void mcsi_transport_fail(mcsi_transport *tp, mcsi_status st, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* Closes it quietly: FIN (close) or RST (abort); no callback. */
void mcsi_transport_close(mcsi_transport *tp);
void mcsi_transport_abort(mcsi_transport *tp);
#endif
