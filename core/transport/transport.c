/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* transport.c: one TCP connection carrying PDUs: connect, framing in both
 * directions, digests, the bounded send queue, failure. The layer above
 * hears of it through mcsi_transport_ops only. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "digest.h"
#include "transport.h"

#define RXBUF_SIZE (64 * 1024)
#define DIRECT_READ_MIN (16 * 1024)   /* data segments this large skip the rx buffer */
#define LOGIN_DSL 8192                /* MaxRecvDataSegmentLength during login */
enum { RX_HDR, RX_DATA, RX_TAIL };

static void transport_ready(mcsi_watch *w, uint32_t events);
static void flush_deferred(mcsi_deferred *d);
static void fail_eof(mcsi_transport *c);
static void resolved(mcsi_resolve_req *r, int err, const struct sockaddr_storage *addr, socklen_t len);

/* MCSI_TRACE=1 in the environment: one line per PDU on stderr. */
static int trace_on(void)
{
  static int on = -1;
  if (on < 0) on = getenv("MCSI_TRACE") != NULL;
  return on;
}

static void trace(const mcsi_transport *c, const char *dir, const mcsi_pdu_hdr *h)
{
  fprintf(stderr, "mcsi %llu.%03llu cid %u %s %-22s I=%d itt 0x%08x cmdsn/statsn %u exp %u max %u dlen %u\n",
          (unsigned long long)(mcsi_now_ms() / 1000), (unsigned long long)(mcsi_now_ms() % 1000), c->cid, dir,
          mcsi_opcode_name(h->opcode), h->immediate, h->itt, dir[0] == '>' ? h->cmdsn : h->statsn,
          dir[0] == '>' ? h->expstatsn : h->expcmdsn, h->maxcmdsn, h->dlen);
}

int mcsi_transport_init(mcsi_transport *c, mcsi_loop *loop, const mcsi_transport_ops *ops, uint32_t max_recv_dsl)
{
  memset(c, 0, sizeof *c);
  c->ops = ops;
  c->loop = loop;
  c->rxcap = RXBUF_SIZE;
  c->rxbuf = malloc(c->rxcap);
  c->scratch_cap = max_recv_dsl > LOGIN_DSL ? max_recv_dsl : LOGIN_DSL;
  c->scratch = malloc(c->scratch_cap);
  c->fd = -1;
  c->watch.fd = -1;
  c->watch.ready = transport_ready;
  c->state = MCSI_TP_IDLE;
  c->login_phase = 1;
  mcsi_resolve_init(&c->resolve, resolved);
  mcsi_deferred_init(&c->flush, flush_deferred);
  if (!c->rxbuf || !c->scratch) {
    mcsi_transport_destroy(c);
    return -1;
  }
  return 0;
}

/* Our own memory an item holds: what MCSI_TX_QUEUE_MAX counts. */
static size_t item_mem(const mcsi_txitem *it) { return sizeof *it + (it->owned ? it->dlen : 0); }

static void unmark(mcsi_txitem *it)
{
  if (it->marked && it->owner && it->owner->marked) it->owner->marked--;
  it->marked = 0;
}

static void free_item(mcsi_transport *c, mcsi_txitem *it)
{
  c->txmem -= item_mem(it);
  if (it->owner) {
    unmark(it);
    it->owner->refs--;
  }
  free(it->owned);
  free(it);
}

static void free_tx(mcsi_transport *c)
{
  while (c->txhead) {
    mcsi_txitem *it = c->txhead;
    c->txhead = it->next;
    free_item(c, it);
  }
  c->txtail = NULL;
  c->txbytes = 0;
}

void mcsi_transport_close(mcsi_transport *c)
{
  mcsi_resolve_cancel(&c->resolve);
  if (c->fd >= 0) {
    mcsi_watch_del(c->loop, &c->watch);
    close(c->fd);
    c->fd = -1;
  }
  free_tx(c);
  mcsi_deferred_cancel(&c->flush);
  c->state = MCSI_TP_CLOSED;
}

/* An abandoned connection ends with a RST: nothing still queued in the
 * socket reaches the target after the session moved on. */
void mcsi_transport_abort(mcsi_transport *c)
{
  if (c->fd >= 0) {
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  mcsi_transport_close(c);
}

void mcsi_transport_send_now(mcsi_transport *c, const uint8_t *p, size_t n)
{
  if (c->fd >= 0 && send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) > 0) c->stats.pdus_sent++;
}

void mcsi_transport_destroy(mcsi_transport *c)
{
  if (!c) return;
  mcsi_transport_abort(c);
  free(c->rxbuf);
  free(c->scratch);
  c->rxbuf = c->scratch = NULL;
}

/* ---- connect ----------------------------------------------------------------- */

/* Splits "host", "host:port", "[v6]:port" (and "host:port,tpgt"). */
static mcsi_status split_portal(char *msg, const char *portal, char *host, size_t hostsz, char *port, size_t portsz)
{
  const char *p = portal, *colon;
  size_t hl;
  if (*p == '[') {
    const char *end = strchr(p, ']');
    if (!end) return mcsi_msg(msg, ISDSC_INVALID_HOST, "portal '%s': missing ']'", portal);
    p++;
    hl = (size_t)(end - p);
    colon = end[1] == ':' ? end + 1 : NULL;
  } else {
    colon = strrchr(p, ':');
    if (colon && strchr(p, ':') != colon) colon = NULL;  /* bare IPv6 */
    hl = colon ? (size_t)(colon - p) : strcspn(p, ",");
  }
  if (hl == 0 || hl >= hostsz) return mcsi_msg(msg, ISDSC_INVALID_HOST, "portal '%s': bad host", portal);
  memcpy(host, p, hl);
  host[hl] = 0;
  size_t pl = colon ? strcspn(colon + 1, ",") : 0;
  if (!colon) snprintf(port, portsz, "3260");
  else if (pl == 0 || pl >= portsz || strspn(colon + 1, "0123456789") != pl)
    return mcsi_msg(msg, ISDSC_INVALID_PORT_NUMBER, "portal '%s': bad port", portal);
  else {
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
  }
  long n = strtol(port, NULL, 10);
  if (n < 1 || n > 65535) return mcsi_msg(msg, ISDSC_INVALID_PORT_NUMBER, "portal '%s': port out of range", portal);
  return ISDSC_SUCCESS;
}

static void set_sockopts(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

/* The socket and the non-blocking connect to c->remote; transport_ready
 * continues when it completes. On failure the state is CLOSED. */
static mcsi_status start_connect(mcsi_transport *c)
{
  c->fd = socket(c->remote.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->state = MCSI_TP_CLOSED;
    return mcsi_msg(c->message, ISDSC_OUT_OF_RESOURCES, "socket: %s", strerror(errno));
  }
  set_sockopts(c->fd);
  c->state = MCSI_TP_CONNECTING;
  if (connect(c->fd, (struct sockaddr *)&c->remote, c->remote_len) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(c->fd);
    c->fd = -1;
    c->state = MCSI_TP_CLOSED;
    return mcsi_msg(c->message, ISDSC_CONNECTION_FAILED, "connect to %s: %s", c->portal, strerror(e));
  }
  if (mcsi_watch_add(c->loop, &c->watch, c->fd, EPOLLOUT)) {
    close(c->fd);
    c->fd = -1;
    c->state = MCSI_TP_CLOSED;
    return mcsi_msg(c->message, ISDSC_OUT_OF_RESOURCES, "epoll: %s", strerror(errno));
  }
  return ISDSC_SUCCESS;
}

/* The resolver's answer for a name, on the loop: connect, or fail. */
static void resolved(mcsi_resolve_req *r, int err, const struct sockaddr_storage *addr, socklen_t len)
{
  mcsi_transport *c = MCSI_CONTAINER(r, mcsi_transport, resolve);
  mcsi_status st;
  if (err)
    st = mcsi_msg(c->message, ISDSC_INVALID_HOST, "portal '%s': %s", c->portal, gai_strerror(err));
  else {
    memcpy(&c->remote, addr, len);
    c->remote_len = len;
    st = start_connect(c);
  }
  if (!st) return;
  mcsi_transport_abort(c);
  c->ops->failed(c, st, 0);
}

mcsi_status mcsi_transport_connect(mcsi_transport *c, const char *portal)
{
  char port[8];
  mcsi_transport_close(c);
  snprintf(c->portal, sizeof c->portal, "%s", portal);
  mcsi_status st = split_portal(c->message, portal, c->host, sizeof c->host, port, sizeof port);
  if (st) return st;
  c->login_phase = 1;
  c->header_digest = c->data_digest = 0;
  c->rxstart = c->rxend = 0;
  c->rxstate = RX_HDR;
  c->rxgot = 0;
  c->tx_overflow = c->tx_oom = 0;
  int rc = mcsi_resolve_numeric(c->host, port, &c->remote, &c->remote_len);
  if (!rc) return start_connect(c);
  if (rc != EAI_NONAME)
    return mcsi_msg(c->message, ISDSC_INVALID_HOST, "portal '%s': %s", portal, gai_strerror(rc));
  if (mcsi_resolve_start(c->loop, &c->resolve, c->host, port))
    return mcsi_msg(c->message, ISDSC_OUT_OF_RESOURCES, "portal '%s': cannot resolve its name now (%s)", portal,
                    errno == EAGAIN ? "too many names being resolved" : strerror(errno));
  c->state = MCSI_TP_RESOLVING;
  return ISDSC_SUCCESS;
}

static void connect_done(mcsi_transport *c)
{
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    mcsi_transport_fail(c, ISDSC_CONNECTION_FAILED, "connect to %s: %s", c->portal, strerror(err));
    return;
  }
  c->state = MCSI_TP_OPEN;
  mcsi_watch_set(c->loop, &c->watch, EPOLLIN);
  c->ops->connected(c);
}

void mcsi_transport_label(mcsi_transport *c, uint16_t cid, const char *portal)
{
  c->cid = cid;
  snprintf(c->portal, sizeof c->portal, "%s", portal);
}

/* Full feature phase: keep-alive counts silence from here. */
void mcsi_transport_full_feature(mcsi_transport *c, int header_digest, int data_digest, uint32_t max_recv_dsl)
{
  c->last_rx = mcsi_now_ms();
  c->login_phase = 0;
  c->header_digest = header_digest;
  c->data_digest = data_digest;
  c->max_recv_dsl = max_recv_dsl < c->scratch_cap ? max_recv_dsl : c->scratch_cap;
}

/* ---- transmit ----------------------------------------------------------------- */

void mcsi_transport_queue(mcsi_transport *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                          mcsi_tx_owner *owner, uint8_t *owned)
{
  /* Failing here would pull tasks from under the caller: the connection
   * fails at the next flush instead. A target that does not read while it
   * makes us answer (NOP-Ins) hits the bound, not the memory. */
  int over = c->txmem + sizeof(mcsi_txitem) + (owned ? dlen : 0) > MCSI_TX_QUEUE_MAX;
  mcsi_txitem *it = over ? NULL : malloc(sizeof *it);
  if (!it) {
    free(owned);
    if (over) c->tx_overflow = 1;
    else c->tx_oom = 1;
    mcsi_loop_defer(c->loop, &c->flush);
    return;
  }
  mcsi_pdu_hdr hh = *h;
  hh.dlen = dlen;
  if (trace_on()) trace(c, ">", &hh);
  mcsi_pdu_encode(&hh, it->hdr);
  it->hlen = MCSI_BHS_LEN;
  if (c->header_digest && !c->login_phase) {
    mcsi_digest_put(it->hdr + MCSI_BHS_LEN, mcsi_crc32c(it->hdr, MCSI_BHS_LEN));
    it->hlen += MCSI_DIGEST_LEN;
  }
  uint32_t pad = mcsi_pad4(dlen) - dlen;
  memset(it->tail, 0, sizeof it->tail);
  it->tlen = (uint8_t)pad;
  if (dlen && c->data_digest && !c->login_phase) {
    uint32_t crc = mcsi_crc32c_update(MCSI_CRC32C_INIT, data, dlen);
    crc = mcsi_crc32c_update(crc, it->tail, pad);
    mcsi_digest_put(it->tail + pad, mcsi_crc32c_final(crc));
    it->tlen += MCSI_DIGEST_LEN;
  }
  it->data = data;
  it->dlen = dlen;
  it->owned = owned;
  it->owner = owner;
  it->sent = 0;
  it->marked = 0;
  it->next = NULL;
  c->txmem += item_mem(it);
  if (owner) owner->refs++;
  if (c->txtail) c->txtail->next = it;
  else c->txhead = it;
  c->txtail = it;
  c->txbytes += it->hlen + dlen + it->tlen;
  c->stats.pdus_sent++;
  mcsi_loop_defer(c->loop, &c->flush);   /* flushed by the loop, never from inside a send path */
}

int mcsi_transport_mark_last(mcsi_transport *c, mcsi_tx_owner *owner)
{
  mcsi_txitem *it = c->txtail;
  if (!it || it->owner != owner || !owner || c->tx_overflow || c->tx_oom || it->marked) return 0;
  it->marked = 1;
  owner->marked++;
  return 1;
}

static size_t item_len(const mcsi_txitem *it) { return (size_t)it->hlen + it->dlen + it->tlen; }

/* Adds the unsent parts of one item to iov; returns the new count. */
static int item_iov(const mcsi_txitem *it, struct iovec *iov, int n)
{
  const struct { const uint8_t *p; size_t len; } part[3] = {
    { it->hdr, it->hlen }, { it->data, it->dlen }, { it->tail, it->tlen } };
  size_t skip = it->sent;
  for (int i = 0; i < 3; i++) {
    if (skip >= part[i].len) { skip -= part[i].len; continue; }
    iov[n].iov_base = (void *)(uintptr_t)(part[i].p + skip);
    iov[n].iov_len = part[i].len - skip;
    skip = 0;
    n++;
  }
  return n;
}

static void consume_tx(mcsi_transport *c, size_t n)
{
  c->stats.bytes_sent += n;
  c->txbytes -= n;
  while (n && c->txhead) {
    mcsi_txitem *it = c->txhead;
    size_t left = item_len(it) - it->sent;
    if (n < left) { it->sent += n; return; }
    n -= left;
    c->txhead = it->next;
    if (!c->txhead) c->txtail = NULL;
    free_item(c, it);
  }
}

/* Writes what the socket takes. Returns 0, or -1 when the transport failed. */
static int flush(mcsi_transport *c)
{
  mcsi_deferred_cancel(&c->flush);
  if (c->fd < 0 || c->state != MCSI_TP_OPEN) return 0;
  if (c->tx_oom) {
    mcsi_transport_fail(c, ISDSC_OUT_OF_RESOURCES, "%s: out of memory queueing a PDU", c->portal);
    return -1;
  }
  if (c->tx_overflow) {
    mcsi_transport_fail(c, ISDSC_OUT_OF_RESOURCES, "%s: more than %u bytes of PDUs waiting to be sent"
                        " (the target does not read)", c->portal, MCSI_TX_QUEUE_MAX);
    return -1;
  }
  while (c->txhead) {
    struct iovec iov[64];
    int n = 0;
    for (mcsi_txitem *it = c->txhead; it && n <= 61; it = it->next) n = item_iov(it, iov, n);
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
    ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      int e = errno;   /* a peer that went away is a failed connection, like EOF on receive */
      mcsi_transport_fail(c, e == EPIPE || e == ECONNRESET ? ISDSC_CONNECTION_FAILED : ISDSC_SEND_FAILED,
                          "send to %s: %s", c->portal, strerror(e));
      return -1;
    }
    consume_tx(c, (size_t)w);
  }
  uint32_t want = EPOLLIN | (c->txhead ? EPOLLOUT : 0);
  mcsi_watch_set(c->loop, &c->watch, want);
  return 0;
}

static void flush_deferred(mcsi_deferred *d) { flush(MCSI_CONTAINER(d, mcsi_transport, flush)); }

/* The rest of the PDU being read goes nowhere: its owner left. */
static void rx_discard_rest(mcsi_transport *c)
{
  c->rxowner = NULL;
  c->rxdst = c->scratch;
  c->rx_discard = 1;
}

/* Walks the queue only while items of owner are left in it (refs): a
 * command whose PDUs all left, the usual case at its completion, costs no
 * walk of the other commands' queued Data-Out. */
void mcsi_transport_detach(mcsi_transport *c, mcsi_tx_owner *owner)
{
  mcsi_txitem **pp = &c->txhead, *prev = NULL;
  if (c->rxowner == owner) rx_discard_rest(c);
  while (*pp && owner->refs) {
    mcsi_txitem *it = *pp;
    if (it->owner != owner) { prev = it; pp = &it->next; continue; }
    unmark(it);
    owner->refs--;
    it->owner = NULL;
    if (it->sent == 0) {               /* never started: drop it */
      *pp = it->next;
      if (c->txtail == it) c->txtail = prev;
      c->txbytes -= item_len(it);
      c->stats.pdus_sent--;
      free_item(c, it);
      continue;
    }
    uint8_t *copy = malloc(it->dlen ? it->dlen : 1);   /* half sent: keep a private copy */
    if (!copy) {
      mcsi_transport_fail(c, ISDSC_OUT_OF_RESOURCES, "out of memory detaching a task");
      return;
    }
    memcpy(copy, it->data, it->dlen);
    c->txmem -= item_mem(it);
    free(it->owned);
    it->owned = copy;
    c->txmem += item_mem(it);
    it->data = copy;
    prev = it;
    pp = &it->next;
  }
}

/* ---- receive ------------------------------------------------------------------- */

/* Moves bytes into dst[*got..want) from the rx buffer, then from the socket.
 * Returns 1 when the piece is complete, 0 when the socket has no more for
 * now, -1 when the transport failed (EOF or error). */
static int rx_fill(mcsi_transport *c, uint8_t *dst, uint32_t want, uint32_t *got)
{
  while (*got < want) {
    size_t avail = c->rxend - c->rxstart;
    if (avail) {
      size_t n = want - *got < avail ? want - *got : avail;
      memcpy(dst + *got, c->rxbuf + c->rxstart, n);
      c->rxstart += n;
      *got += (uint32_t)n;
      continue;
    }
    c->rxstart = c->rxend = 0;
    if (c->rx_drained) return 0;      /* saves the read that would say EAGAIN */
    size_t need = want - *got, ask = need >= DIRECT_READ_MIN ? need : c->rx_bulk ? need : c->rxcap;
    ssize_t r = read(c->fd, need >= DIRECT_READ_MIN ? dst + *got : c->rxbuf, ask);
    if (r > 0) {
      c->rx_drained = (size_t)r < ask;
      c->stats.bytes_received += (uint64_t)r;
      if (need >= DIRECT_READ_MIN) *got += (uint32_t)r;
      else c->rxend = (size_t)r;
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && c->rxstate == RX_HDR && !c->rxgot) fail_eof(c);
    else if (r == 0)
      mcsi_transport_fail(c, ISDSC_CONNECTION_FAILED, "%s closed the connection in the middle of a PDU", c->portal);
    else mcsi_transport_fail(c, ISDSC_CONNECTION_FAILED, "receive from %s: %s", c->portal, strerror(errno));
    return -1;
  }
  return 1;
}

static uint32_t rx_limit(const mcsi_transport *c) { return c->login_phase ? LOGIN_DSL : c->max_recv_dsl; }

static int hdigest_on(const mcsi_transport *c) { return c->header_digest && !c->login_phase; }
static int ddigest_on(const mcsi_transport *c) { return c->data_digest && !c->login_phase; }

/* The header is complete: check it and choose where its data goes. */
static int rx_header_done(mcsi_transport *c)
{
  mcsi_pdu_hdr *h = &c->rh;
  if (hdigest_on(c)) {
    uint32_t len = c->rxhlen - MCSI_DIGEST_LEN;
    if (mcsi_crc32c(c->rxhdr, len) != mcsi_digest_get(c->rxhdr + len)) {
      c->stats.digest_errors++;
      mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "header digest error from %s", c->portal);
      return -1;
    }
  }
  if (h->dlen > rx_limit(c)) {
    c->stats.format_errors++;
    mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s with %u data bytes, more than the %u allowed",
                        c->portal, mcsi_opcode_name(h->opcode), h->dlen, rx_limit(c));
    return -1;
  }
  c->rxowner = NULL;
  c->rxdst = c->scratch;
  c->rx_discard = 0;
  if (h->dlen > c->scratch_cap) {       /* cannot happen while scratch_cap >= rx_limit: belt and braces */
    mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "%s: data segment of %u bytes", c->portal, h->dlen);
    return -1;
  }
  if (h->opcode == MCSI_OP_DATA_IN && !c->login_phase) {
    const char *err = NULL;
    uint8_t *dst = NULL;
    mcsi_tx_owner *owner = NULL;
    int where = c->ops->place_data(c, h, &dst, &owner, &err);
    if (where < 0) {
      c->stats.format_errors++;
      mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "%s: bad Data-In (ITT 0x%08x): %s", c->portal, h->itt, err);
      return -1;
    }
    if (where > 0) {
      rx_discard_rest(c);
    } else {
      c->rxowner = owner;
      c->rxdst = h->dlen ? dst : c->scratch;   /* a READ of nothing may have no buffer */
    }
  }
  c->rxstate = RX_DATA;
  c->rxgot = 0;
  return 0;
}

static void rx_pdu_counted(mcsi_transport *c, const mcsi_pdu_hdr *h)
{
  c->stats.pdus_received++;
  c->last_rx = mcsi_now_ms();
  if (trace_on()) trace(c, "<", h);
  c->rxstate = RX_HDR;
  c->rxgot = 0;
}

static int rx_tail_done(mcsi_transport *c)
{
  mcsi_pdu_hdr *h = &c->rh;
  uint32_t pad = mcsi_pad4(h->dlen) - h->dlen;
  if (c->rx_discard) {                  /* its data went to scratch, in part or whole: not checked, not used */
    c->rx_discard = 0;
    rx_pdu_counted(c, h);
    return 0;
  }
  if (ddigest_on(c) && h->dlen) {
    uint32_t crc = mcsi_crc32c_update(MCSI_CRC32C_INIT, c->rxdst, h->dlen);
    crc = mcsi_crc32c_final(mcsi_crc32c_update(crc, c->rxtail, pad));
    if (crc != mcsi_digest_get(c->rxtail + pad)) {
      c->stats.digest_errors++;
      mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "data digest error from %s", c->portal);
      return -1;
    }
  }
  /* after a large Data-In, the next header is read on its own so that the
   * next data segment lands in the caller's buffer, not in the rx buffer */
  c->rx_bulk = h->dlen >= DIRECT_READ_MIN;
  rx_pdu_counted(c, h);
  const uint8_t *data = c->rxowner ? NULL : c->scratch;
  c->rxowner = NULL;
  c->ops->pdu(c, h, data, h->dlen);
  return c->fd < 0 ? -1 : 0;
}

static int rx_step(mcsi_transport *c)
{
  int r;
  switch (c->rxstate) {
  case RX_HDR: {
    uint32_t want = c->rxgot < MCSI_BHS_LEN ? MCSI_BHS_LEN : c->rxhlen;
    if ((r = rx_fill(c, c->rxhdr, want, &c->rxgot)) <= 0) return r;
    if (want == MCSI_BHS_LEN) {
      const char *bad = mcsi_pdu_decode(c->rxhdr, &c->rh);
      if (bad || !mcsi_opcode_is_target(c->rh.opcode)) {
        c->stats.format_errors++;
        mcsi_transport_fail(c, ISDSC_TRANSPORT_ERROR, "malformed PDU from %s (opcode 0x%02x): %s",
                            c->portal, c->rxhdr[0], bad ? bad : "not a target opcode");
        return -1;
      }
      c->rxhlen = MCSI_BHS_LEN + c->rh.ahs_words * 4u + (hdigest_on(c) ? MCSI_DIGEST_LEN : 0);
      if (c->rxhlen > MCSI_BHS_LEN) return 1;
    }
    return rx_header_done(c) ? -1 : 1;
  }
  case RX_DATA:
    if ((r = rx_fill(c, c->rxdst, c->rh.dlen, &c->rxgot)) <= 0) return r;
    c->rxstate = RX_TAIL;
    c->rxgot = 0;
    return 1;
  default: {
    uint32_t pad = mcsi_pad4(c->rh.dlen) - c->rh.dlen;
    uint32_t want = pad + (ddigest_on(c) && c->rh.dlen ? MCSI_DIGEST_LEN : 0);
    if ((r = rx_fill(c, c->rxtail, want, &c->rxgot)) <= 0) return r;
    return rx_tail_done(c) ? -1 : 1;
  }
  }
}

static void transport_ready(mcsi_watch *w, uint32_t events)
{
  mcsi_transport *c = MCSI_CONTAINER(w, mcsi_transport, watch);
  if (c->state == MCSI_TP_CONNECTING) {
    connect_done(c);
    return;
  }
  if (events & EPOLLOUT && flush(c) < 0) return;
  c->rx_drained = 0;
  /* a full send queue stops reading: the flush that follows fails the transport */
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    while (c->fd >= 0 && c->state == MCSI_TP_OPEN && !c->tx_overflow && !c->tx_oom && rx_step(c) > 0) {}
}

/* ---- failure ------------------------------------------------------------------- */

static void fail_with(mcsi_transport *c, mcsi_status st, int clean_eof)
{
  if (c->state == MCSI_TP_CLOSED || c->state == MCSI_TP_IDLE) return;
  mcsi_transport_abort(c);
  c->ops->failed(c, st, clean_eof);
}

static void fail_eof(mcsi_transport *c)
{
  if (c->state == MCSI_TP_CLOSED) return;
  mcsi_msg(c->message, ISDSC_CONNECTION_FAILED, "%s closed the connection", c->portal);
  fail_with(c, ISDSC_CONNECTION_FAILED, 1);
}

void mcsi_transport_fail(mcsi_transport *c, mcsi_status st, const char *fmt, ...)
{
  if (c->state == MCSI_TP_CLOSED || c->state == MCSI_TP_IDLE) return;
  va_list ap;
  va_start(ap, fmt);
  mcsi_msgv(c->message, st, fmt, ap);
  va_end(ap);
  fail_with(c, st, 0);
}

/* ---- handover ------------------------------------------------------------------ */

int mcsi_transport_quiet(const mcsi_transport *c)
{
  return c->state == MCSI_TP_OPEN && !c->txhead && c->rxstate == RX_HDR && !c->rxgot;
}

size_t mcsi_transport_unread(const mcsi_transport *c, const uint8_t **p)
{
  *p = c->rxbuf + c->rxstart;
  return c->rxend - c->rxstart;
}

mcsi_status mcsi_transport_pause(mcsi_transport *c, int paused)
{
  if (c->fd < 0) return mcsi_msg(c->message, ISDSC_CONNECTION_FAILED, "%s: no socket", c->portal);
  if (paused) {
    mcsi_watch_del(c->loop, &c->watch);
    return ISDSC_SUCCESS;
  }
  if (c->watch.fd >= 0) return ISDSC_SUCCESS;
  if (mcsi_watch_add(c->loop, &c->watch, c->fd, EPOLLIN))
    return mcsi_msg(c->message, ISDSC_OUT_OF_RESOURCES, "epoll: %s", strerror(errno));
  c->rx_drained = 0;
  if (c->rxend > c->rxstart) transport_ready(&c->watch, EPOLLIN);   /* what was read before the pause */
  return ISDSC_SUCCESS;
}

void mcsi_transport_release(mcsi_transport *c)
{
  if (c->fd >= 0) {
    mcsi_watch_del(c->loop, &c->watch);
    close(c->fd);                       /* another descriptor of the socket lives on: nothing is sent */
    c->fd = -1;
  }
  mcsi_transport_close(c);
}

void mcsi_transport_disown(mcsi_transport *c)
{
  mcsi_watch_del(c->loop, &c->watch);
  c->fd = -1;
  mcsi_transport_close(c);
}

mcsi_status mcsi_transport_adopt(mcsi_transport *c, int fd, int header_digest, int data_digest,
                                 uint32_t max_recv_dsl, const uint8_t *rx, size_t rx_len, char *msg)
{
  if (rx_len > c->rxcap)
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "%zu bytes read ahead, more than the %zu of a buffer", rx_len,
                    c->rxcap);
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "fd %d is not a stream socket", fd);
  c->remote_len = sizeof c->remote;
  if (getpeername(fd, (struct sockaddr *)&c->remote, &c->remote_len) < 0) {
    if (errno != ENOTCONN) return mcsi_msg(msg, ISDSC_CONNECTION_FAILED, "fd %d: %s", fd, strerror(errno));
    c->remote_len = 0;   /* reset since it was handed: taken all the same, it fails at its first read like any
                            connection the target drops, and the session goes on with the others */
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "fd %d: %s", fd, strerror(errno));
  c->fd = fd;
  c->state = MCSI_TP_OPEN;
  c->rxstate = RX_HDR;
  c->rxgot = 0;
  memcpy(c->rxbuf, rx, rx_len);
  c->rxstart = 0;
  c->rxend = rx_len;
  mcsi_transport_full_feature(c, header_digest, data_digest, max_recv_dsl);
  return ISDSC_SUCCESS;
}
