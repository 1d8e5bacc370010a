/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * client.c: one NBD client connection on the initiator's loop. Reads are
 * non-blocking into whatever the current phase expects (a handshake word,
 * an option, a request header, a write payload), many requests per recv
 * through a 64 KiB read-ahead buffer; replies wait in an output queue that
 * a zero timer writes once at the end of the loop turn (the "cork": the
 * replies of a turn leave in one sendmsg, each reply's data straight from the
 * request's buffer, which the engine filled from Data-In; only when the
 * socket is full is it watched for writability). Flow control: while a client has
 * too many requests or bytes in flight (replies not yet written count), its
 * socket is not read. A client closes at the end of the callback that broke
 * it; its requests still in SCSI become orphans that free themselves.
 *
 * TLS: after NBD_OPT_STARTTLS's ACK is out, the handshake runs on the
 * socket's events (what GnuTLS waits for), then every byte goes through
 * records: reads of a record at a time into the same targets, and the
 * output queue in records (small replies gathered, large data straight
 * from its buffer). Bytes GnuTLS holds decrypted raise no event: a zero
 * timer reads them. Plain clients never touch any of it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "nbd_internal.h"

#define READ_BUDGET      (4u << 20)  /* bytes read per callback, for fairness */
#define HS_OUT_MAX       (64u << 10) /* handshake replies not yet taken before reading stops */
#define IOV_BATCH        128         /* pieces per sendmsg: the replies of a turn at QD 64 */
#define RXBUF_SIZE       (64u << 10) /* read-ahead: several request headers (and small payloads) per recv */

static void on_client_fd(mcsi_initiator *ini, int fd, int what, void *arg);

static void on_handshake_deadline(mcsi_initiator *ini, void *arg)
{
  nbd_client *c = arg;
  (void)ini;
  c->hs_timer = 0;
  c->broken = 1;
  nbd_client_settle(c);
}

/* A client of e on fd with its read buffer and its fd watch, not yet listed; NULL when short of memory. */
static nbd_client *client_alloc(mcsi_nbd_export *e, int fd)
{
  nbd_client *c = calloc(1, sizeof *c);
  if (!c || !(c->rxbuf = malloc(RXBUF_SIZE))) {
    free(c);
    return NULL;
  }
  c->exp = e;
  c->fd = fd;
  c->watching = MCSI_FD_READABLE;
  c->watch = mcsi_fd_watch(e->ini, fd, MCSI_FD_READABLE, on_client_fd, c);
  if (!c->watch) {
    free(c->rxbuf);
    free(c);
    return NULL;
  }
  return c;
}

static void client_free_unlisted(nbd_client *c)
{
  mcsi_fd_unwatch(c->exp->ini, c->watch);
  free(c->rxbuf);
  free(c);
}

static void client_list(mcsi_nbd_export *e, nbd_client *c)
{
  c->next = e->clients;
  if (e->clients) e->clients->prev = c;
  e->clients = c;
  e->nclients++;
  e->stats.clients_total++;
}

int nbd_client_new(mcsi_nbd_export *e, int fd, int is_tcp)
{
  nbd_client *c = client_alloc(e, fd);
  if (!c) return -1;
  c->tls_required = is_tcp && e->opts.tls != MCSI_NBD_TLS_OFF;
  c->hs_timer = mcsi_timer_add(e->ini, (uint64_t)e->opts.handshake_timeout_ms, on_handshake_deadline, c);
  if (!c->hs_timer) {
    client_free_unlisted(c);
    return -1;
  }
  client_list(e, c);
  c->busy++;
  nbd_handshake_start(c);
  c->busy--;
  nbd_client_settle(c);                          /* may close it already: c is not used after */
  return 0;
}

int nbd_client_adopt(mcsi_nbd_export *e, int fd, const uint8_t *unread, size_t len, unsigned negotiated)
{
  if (len > RXBUF_SIZE) return -1;
  nbd_client *c = client_alloc(e, fd);
  if (!c) return -1;
  c->structured = !!(negotiated & MCSI_NBD_NEGOTIATED_STRUCTURED);
  c->meta_alloc = !!(negotiated & MCSI_NBD_NEGOTIATED_META_ALLOC);
  memcpy(c->rxbuf, unread, len);
  c->rx_len = len;
  client_list(e, c);
  nbd_client_expect(c, NBD_PH_REQ_HDR, NBD_REQUEST_SIZE);
  nbd_client_settle(c);                          /* what was read ahead is taken now */
  return 0;
}

void nbd_client_expect(nbd_client *c, int phase, size_t need)
{
  c->phase = phase;
  c->hdr_have = 0;
  c->hdr_need = need;
}

/* ---- output ---- */

static void out_free(nbd_out *o)
{
  free(o->owned);
  if (o->in_req) {                           /* the request's own item: goes with it */
    nbd_req_free(o->req);
    return;
  }
  if (o->req) nbd_req_free(o->req);
  free(o);
}

/* n bytes of the queue went out: frees what is done. */
static void out_consume(nbd_client *c, size_t n)
{
  size_t left = n;
  while (left && c->out_head) {
    nbd_out *o = c->out_head;
    size_t rest = o->hdr_len + o->data_len - o->off;
    size_t take = left < rest ? left : rest;
    o->off += take;
    left -= take;
    c->out_bytes -= take;
    if (o->off == o->hdr_len + o->data_len) {
      c->out_head = o->next;
      if (!c->out_head) c->out_tail = NULL;
      out_free(o);
    }
  }
}

/* The next record's bytes: a large piece straight from its item, or small
 * ones gathered from the head of the queue into tls_stage. */
static size_t tls_chunk(nbd_client *c, const uint8_t **p)
{
  size_t n = 0;
  for (nbd_out *o = c->out_head; o && n < NBD_TLS_RECORD; o = o->next) {
    size_t off = o->off;
    while (off < o->hdr_len + o->data_len && n < NBD_TLS_RECORD) {
      const uint8_t *seg = off < o->hdr_len ? o->hdr + off : o->data + (off - o->hdr_len);
      size_t len = off < o->hdr_len ? o->hdr_len - off : o->data_len - (off - o->hdr_len);
      if (n == 0 && len >= NBD_TLS_RECORD) {
        *p = seg;
        return NBD_TLS_RECORD;
      }
      if (len > NBD_TLS_RECORD - n) len = NBD_TLS_RECORD - n;
      memcpy(c->tls_stage + n, seg, len);
      n += len;
      off += len;
    }
  }
  *p = c->tls_stage;
  return n;
}

static void flush_tls(nbd_client *c)
{
  while (c->out_head && !c->broken) {
    const uint8_t *p = NULL;
    size_t n = c->tls_again ? 0 : tls_chunk(c, &p);
    if (!c->tls_again && !n) return;
    ssize_t w = nbd_tls_send(c->tls, p, n);       /* NULL, 0: the record taken before */
    if (w < 0) {
      if (errno == EAGAIN) c->tls_again = 1;
      else c->broken = 1;
      return;
    }
    c->tls_again = 0;
    c->exp->stats.reply_writes++;
    out_consume(c, (size_t)w);
  }
}

/* Writes what the socket takes (up to IOV_BATCH pieces per sendmsg); frees
 * what went out. 0, or -1 on a socket error. */
static int flush_plain(nbd_client *c)
{
  while (c->out_head) {
    struct iovec iov[IOV_BATCH];
    int n = 0;
    for (nbd_out *o = c->out_head; o && n + 2 <= IOV_BATCH; o = o->next) {
      size_t off = o->off;
      if (off < o->hdr_len) iov[n++] = (struct iovec){ o->hdr + off, o->hdr_len - off }, off = o->hdr_len;
      if (o->data_len > off - o->hdr_len)
        iov[n++] = (struct iovec){ (void *)(o->data + (off - o->hdr_len)), o->data_len - (off - o->hdr_len) };
    }
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
    ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    c->exp->stats.reply_writes++;
    out_consume(c, (size_t)w);
  }
  return 0;
}

static void flush_out(nbd_client *c)
{
  if (c->broken) return;
  if (c->tls_up) flush_tls(c);
  else if (flush_plain(c) < 0) c->broken = 1;
}

/* The end of the loop turn: the replies queued during it go out together. */
static void on_tx_kick(mcsi_initiator *ini, void *arg)
{
  nbd_client *c = arg;
  (void)ini;
  c->tx_kick = 0;
  c->busy++;
  flush_out(c);
  c->busy--;
  nbd_client_settle(c);
}

int nbd_client_send(nbd_client *c, const void *hdr, size_t hdr_len, const uint8_t *data, size_t data_len,
                    uint8_t *owned, nbd_req *req)
{
  nbd_out *o = req && !req->out.req ? &req->out : calloc(1, sizeof *o);
  if (!o || hdr_len > sizeof o->inline_hdr) {
    if (o && o != &req->out) free(o);
    free(owned);
    if (req) nbd_req_free(req);
    c->broken = 1;
    return -1;
  }
  if (hdr_len) memcpy(o->inline_hdr, hdr, hdr_len);
  o->hdr = o->inline_hdr;
  o->hdr_len = hdr_len;
  o->data = data;
  o->data_len = data_len;
  o->owned = owned;
  o->req = req;
  o->in_req = req && o == &req->out;
  o->off = 0;
  o->next = NULL;
  if (c->out_tail) c->out_tail->next = o;
  else c->out_head = o;
  c->out_tail = o;
  c->out_bytes += hdr_len + data_len;
  if (c->out_head == o && !c->tx_kick) {     /* the queue was empty: write it at the turn's end */
    c->tx_kick = mcsi_timer_add(c->exp->ini, 0, on_tx_kick, c);
    if (!c->tx_kick) flush_out(c);
  }
  return c->broken ? -1 : 0;
}

/* ---- input ---- */

int nbd_client_can_read(const nbd_client *c)
{
  const mcsi_nbd_export *e = c->exp;
  if (c->broken || c->disconnecting) return 0;
  if (c->phase == NBD_PH_TLS_HANDSHAKE) return 0;        /* GnuTLS reads during the handshake */
  if (c->phase == NBD_PH_PAYLOAD || (c->phase == NBD_PH_REQ_HDR && c->hdr_have)) return 1;
  if (c->frozen && c->phase == NBD_PH_REQ_HDR) return 0;   /* handed over at this request boundary */
  if (c->phase != NBD_PH_REQ_HDR) return c->out_bytes < HS_OUT_MAX;
  return c->n_inflight < e->opts.max_inflight_requests && c->inflight_bytes < e->opts.max_inflight_bytes;
}

static uint8_t *rx_target(nbd_client *c)
{
  switch (c->phase) {
  case NBD_PH_OPT_DATA: return c->opt_data + c->hdr_have;
  case NBD_PH_PAYLOAD: return c->cur->buf + c->hdr_have;
  default: return c->hdr + c->hdr_have;
  }
}

static void input_complete(nbd_client *c)
{
  switch (c->phase) {
  case NBD_PH_REQ_HDR: nbd_request_header(c); break;
  case NBD_PH_PAYLOAD: nbd_request_payload_done(c); break;
  default: nbd_handshake_input(c); break;
  }
}

/* Takes what the read-ahead buffer holds for the current phase. */
static void take_buffered(nbd_client *c)
{
  while (c->rx_off < c->rx_len && nbd_client_can_read(c)) {
    if (c->hdr_have == c->hdr_need) {
      input_complete(c);
      continue;
    }
    size_t n = c->hdr_need - c->hdr_have, avail = c->rx_len - c->rx_off;
    if (n > avail) n = avail;
    memcpy(rx_target(c), c->rxbuf + c->rx_off, n);
    c->rx_off += n;
    c->hdr_have += n;
    if (c->hdr_have == c->hdr_need) input_complete(c);
  }
}

static ssize_t rx_read(nbd_client *c, void *dst, size_t n)
{
  if (c->tls_up) return nbd_tls_recv(c->tls, dst, n);
  return recv(c->fd, dst, n, MSG_DONTWAIT);
}

/* Reads: large payloads straight into their buffer, the rest through the
 * read-ahead buffer (many headers per recv). A plain recv that took less
 * than it asked emptied the socket: no recv follows to hear EAGAIN (the
 * level-triggered watch reports the next bytes, or the EOF, next turn). */
static void read_some(nbd_client *c)
{
  size_t budget = READ_BUDGET;
  int drained = 0;
  while (budget && nbd_client_can_read(c)) {
    take_buffered(c);
    if (!nbd_client_can_read(c)) return;
    if (c->hdr_have == c->hdr_need) {      /* nothing to read in this phase (empty option) */
      input_complete(c);
      continue;
    }
    if (drained) return;
    size_t want = c->hdr_need - c->hdr_have;
    int direct = want >= RXBUF_SIZE / 2;
    uint8_t *dst = direct ? rx_target(c) : c->rxbuf;
    if (!direct) want = RXBUF_SIZE;
    if (want > budget) want = budget;
    ssize_t r = rx_read(c, dst, want);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      c->broken = 1;                        /* EOF or error: the client went */
      return;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    budget -= (size_t)r;
    drained = !c->tls_up && (size_t)r < want;
    if (!direct) {
      c->rx_off = 0;
      c->rx_len = (size_t)r;
      continue;
    }
    c->hdr_have += (size_t)r;
    if (c->hdr_have == c->hdr_need) input_complete(c);
  }
}

/* Reading is paused but the loop says readable, which it does only for a
 * hang-up: the client goes now (a peer that shut its sending side down with
 * unread requests left counts as gone; otherwise the hang-up would be
 * reported again and again until the requests in flight end). */
static void peek_for_eof(nbd_client *c)
{
  char b;
  ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    c->broken = 1;
    return;
  }
  struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };
  if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) c->broken = 1;
}

/* ---- TLS ---- */

int nbd_client_start_tls(nbd_client *c)
{
  if (!(c->tls_stage = malloc(NBD_TLS_RECORD)) || !(c->tls = nbd_tls_new(c->exp->tls, c->fd))) return -1;
  nbd_client_expect(c, NBD_PH_TLS_HANDSHAKE, 0);
  return 0;
}

/* The handshake goes on once the ACK is out (in plain); then the options. */
static void tls_handshake_step(nbd_client *c)
{
  if (c->out_head) flush_out(c);
  if (c->out_head || c->broken) return;
  int r = nbd_tls_handshake(c->tls);
  if (r < 0) {
    c->exp->stats.tls_failed++;
    c->broken = 1;
    return;
  }
  if (r == 0) return;
  c->tls_up = 1;
  c->exp->stats.tls_sessions++;
  nbd_handshake_tls_up(c);
}

static void on_tls_kick(mcsi_initiator *ini, void *arg)
{
  nbd_client *c = arg;
  (void)ini;
  c->tls_kick = 0;
  c->busy++;
  if (nbd_client_can_read(c)) read_some(c);
  c->busy--;
  nbd_client_settle(c);
}

static void on_client_fd(mcsi_initiator *ini, int fd, int what, void *arg)
{
  nbd_client *c = arg;
  (void)ini; (void)fd;
  c->busy++;
  if (c->phase == NBD_PH_TLS_HANDSHAKE) {
    tls_handshake_step(c);
    if (c->tls_up && nbd_client_can_read(c)) read_some(c);
    c->busy--;
    nbd_client_settle(c);
    return;
  }
  if (what & MCSI_FD_WRITABLE) flush_out(c);
  if (what & MCSI_FD_READABLE) {
    if (nbd_client_can_read(c)) read_some(c);
    else peek_for_eof(c);
  }
  c->busy--;
  nbd_client_settle(c);
}

/* ---- watching, closing ---- */

void nbd_client_update_watch(nbd_client *c)
{
  int want = (nbd_client_can_read(c) ? MCSI_FD_READABLE : 0) | (c->out_head && !c->tx_kick ? MCSI_FD_WRITABLE : 0);
  if (c->phase == NBD_PH_TLS_HANDSHAKE) want = c->out_head ? MCSI_FD_WRITABLE : nbd_tls_wants(c->tls);
  if (want != c->watching && mcsi_fd_watch_set(c->exp->ini, c->watch, want) == 0) c->watching = want;
}

void nbd_client_settle(nbd_client *c)
{
  if (c->busy) return;
  if (c->rx_off < c->rx_len && nbd_client_can_read(c)) {   /* read ahead while paused: no event will come */
    c->busy++;
    take_buffered(c);
    c->busy--;
  }
  int drained = !c->out_head && !c->n_inflight;
  if (c->broken || (c->disconnecting && drained)) {
    nbd_client_close(c);
    return;
  }
  if (c->tls_up && !c->tls_kick && nbd_client_can_read(c) && nbd_tls_pending(c->tls))
    c->tls_kick = mcsi_timer_add(c->exp->ini, 0, on_tls_kick, c);
  nbd_client_update_watch(c);
}

void nbd_client_close(nbd_client *c)
{
  mcsi_nbd_export *e = c->exp;
  if (!c->tls_up && c->out_head) (void)flush_plain(c);   /* replies of the turn it broke in: best effort */
  while (c->out_head) {
    nbd_out *o = c->out_head;
    c->out_head = o->next;
    out_free(o);
  }
  c->out_tail = NULL;
  c->cur = NULL;                             /* it is among the requests in flight */
  nbd_requests_orphan(c);
  nbd_requests_drop_spares(c);
  if (c->tx_kick) mcsi_timer_cancel(e->ini, c->tx_kick);
  if (c->hs_timer) mcsi_timer_cancel(e->ini, c->hs_timer);
  if (c->tls_kick) mcsi_timer_cancel(e->ini, c->tls_kick);
  if (c->tls_up && !c->broken) nbd_tls_bye(c->tls);
  nbd_tls_free(c->tls);
  free(c->tls_stage);
  mcsi_fd_unwatch(e->ini, c->watch);
  close(c->fd);
  free(c->opt_data);
  free(c->rxbuf);
  nbd_export_client_gone(e, c);
  free(c);
}
