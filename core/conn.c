/* conn.c: one TCP connection of a session: connect, PDU framing in both
 * directions, digests, keep-alive timer, failure. */
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
#include "internal.h"

#define RXBUF_SIZE (64 * 1024)
#define DIRECT_READ_MIN (16 * 1024)   /* data segments this large skip the rx buffer */
#define LOGIN_DSL 8192                /* MaxRecvDataSegmentLength during login */
enum { RX_HDR, RX_DATA, RX_TAIL };

static void conn_ready(mcsi_watch *w, uint32_t events);

/* MCSI_TRACE=1 in the environment: one line per PDU on stderr. */
static int trace_on(void)
{
  static int on = -1;
  if (on < 0) on = getenv("MCSI_TRACE") != NULL;
  return on;
}

static void trace(const mcsi_conn *c, const char *dir, const mcsi_pdu_hdr *h)
{
  fprintf(stderr, "mcsi %llu.%03llu cid %u %s %-22s I=%d itt 0x%08x cmdsn/statsn %u exp %u max %u dlen %u\n",
          (unsigned long long)(mcsi_now_ms() / 1000), (unsigned long long)(mcsi_now_ms() % 1000), c->cid, dir,
          mcsi_opcode_name(h->opcode), h->immediate, h->itt, dir[0] == '>' ? h->cmdsn : h->statsn,
          dir[0] == '>' ? h->expstatsn : h->expcmdsn, h->maxcmdsn, h->dlen);
}

const char *mcsi_conn_state_name(enum mcsi_conn_state s)
{
  static const char *const names[] = { "connecting", "logging-in", "active", "logging-out",
                                       "failed", "closed" };
  return names[s];
}

mcsi_conn *mcsi_conn_new(mcsi_session *s, const mcsi_login_opts *o)
{
  mcsi_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (mcsi_opts_copy(&c->opts, o)) {
    mcsi_opts_free(&c->opts);
    free(c);
    return NULL;
  }
  c->rxcap = RXBUF_SIZE;
  c->rxbuf = malloc(c->rxcap);
  c->params = s->params;
  c->scratch_cap = c->params.max_recv_dsl > LOGIN_DSL ? c->params.max_recv_dsl : LOGIN_DSL;
  c->scratch = malloc(c->scratch_cap);
  if (!c->rxbuf || !c->scratch) {
    mcsi_opts_free(&c->opts);
    free(c->rxbuf);
    free(c->scratch);
    free(c);
    return NULL;
  }
  c->sess = s;
  c->id = mcsi_new_id();
  c->cid = s->next_cid++;
  c->fd = -1;
  c->watch.fd = -1;
  c->watch.ready = conn_ready;
  mcsi_timer_init(&c->nop_timer, NULL);   /* session.c arms it after login */
  c->state = MCSI_CONN_CONNECTING;
  snprintf(c->portal, sizeof c->portal, "%s", o->portal);
  c->weight = 1;
  c->active = 1;
  mcsi_timer_init(&c->drain_timer, NULL);
  mcsi_list_init(&c->link);
  mcsi_list_init(&c->dirty);
  mcsi_list_init(&c->tasks);
  return c;
}

/* Our own memory an item holds: what MCSI_TX_QUEUE_MAX counts. */
static size_t item_mem(const mcsi_txitem *it) { return sizeof *it + (it->owned ? it->dlen : 0); }

static void free_item(mcsi_conn *c, mcsi_txitem *it)
{
  c->txmem -= item_mem(it);
  if (it->task) it->task->tx_refs--;
  free(it->owned);
  free(it);
}

static void free_tx(mcsi_conn *c)
{
  while (c->txhead) {
    mcsi_txitem *it = c->txhead;
    c->txhead = it->next;
    free_item(c, it);
  }
  c->txtail = NULL;
  c->txbytes = 0;
}

void mcsi_conn_close_socket(mcsi_conn *c)
{
  mcsi_initiator *ini = c->sess->ini;
  mcsi_timer_stop(&ini->loop, &c->nop_timer);
  if (c->fd >= 0) {
    mcsi_watch_del(&ini->loop, &c->watch);
    close(c->fd);
    c->fd = -1;
  }
  free_tx(c);
  mcsi_list_del(&c->dirty);
}

/* An abandoned connection ends with a RST: nothing still queued in the
 * socket reaches the target after the session moved on. */
void mcsi_conn_abort_socket(mcsi_conn *c)
{
  if (c->fd >= 0) {
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  mcsi_conn_close_socket(c);
}

/* Best effort, outside the queue: a courtesy PDU on a connection about to
 * be abandoned. Errors are ignored, the connection fails anyway. */
void mcsi_conn_send_now(mcsi_conn *c, const uint8_t *p, size_t n)
{
  if (c->fd >= 0 && send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) > 0) c->stats.pdus_sent++;
}

void mcsi_conn_free(mcsi_conn *c)
{
  if (!c) return;
  mcsi_conn_abort_socket(c);
  mcsi_login_free(c->login);
  mcsi_opts_free(&c->opts);
  free(c->rxbuf);
  free(c->scratch);
  free(c);
}

/* ---- connect ----------------------------------------------------------------- */

/* Splits "host", "host:port", "[v6]:port" (and "host:port,tpgt"). */
static mcsi_status split_portal(mcsi_initiator *ini, const char *portal, char *host, size_t hostsz,
                                char *port, size_t portsz)
{
  const char *p = portal, *colon;
  size_t hl;
  if (*p == '[') {
    const char *end = strchr(p, ']');
    if (!end) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal '%s': missing ']'", portal);
    p++;
    hl = (size_t)(end - p);
    colon = end[1] == ':' ? end + 1 : NULL;
  } else {
    colon = strrchr(p, ':');
    if (colon && strchr(p, ':') != colon) colon = NULL;  /* bare IPv6 */
    hl = colon ? (size_t)(colon - p) : strcspn(p, ",");
  }
  if (hl == 0 || hl >= hostsz) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal '%s': bad host", portal);
  memcpy(host, p, hl);
  host[hl] = 0;
  size_t pl = colon ? strcspn(colon + 1, ",") : 0;
  if (!colon) snprintf(port, portsz, "3260");
  else if (pl == 0 || pl >= portsz || strspn(colon + 1, "0123456789") != pl)
    return mcsi_fail(ini, ISDSC_INVALID_PORT_NUMBER, "portal '%s': bad port", portal);
  else {
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
  }
  long n = strtol(port, NULL, 10);
  if (n < 1 || n > 65535) return mcsi_fail(ini, ISDSC_INVALID_PORT_NUMBER, "portal '%s': port out of range", portal);
  return ISDSC_SUCCESS;
}

static mcsi_status resolve(mcsi_conn *c, const char *portal)
{
  mcsi_initiator *ini = c->sess->ini;
  char host[256], port[8];
  mcsi_status st = split_portal(ini, portal, host, sizeof host, port, sizeof port);
  if (st) return st;
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc) return mcsi_fail(ini, ISDSC_INVALID_HOST, "portal '%s': %s", portal, gai_strerror(rc));
  memcpy(&c->remote, res->ai_addr, res->ai_addrlen);
  c->remote_len = res->ai_addrlen;
  freeaddrinfo(res);
  return ISDSC_SUCCESS;
}

static void set_sockopts(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

/* Starts a non-blocking connect; conn_ready continues when it completes. */
mcsi_status mcsi_conn_connect(mcsi_conn *c, const char *portal)
{
  mcsi_initiator *ini = c->sess->ini;
  mcsi_conn_close_socket(c);
  snprintf(c->portal, sizeof c->portal, "%s", portal);
  mcsi_status st = resolve(c, portal);
  if (st) return st;
  c->fd = socket(c->remote.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "socket: %s", strerror(errno));
  set_sockopts(c->fd);
  c->state = MCSI_CONN_CONNECTING;
  c->rxstart = c->rxend = 0;
  c->rxstate = RX_HDR;
  c->rxgot = 0;
  c->exp_statsn = 0;
  if (connect(c->fd, (struct sockaddr *)&c->remote, c->remote_len) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(c->fd);
    c->fd = -1;
    return mcsi_fail(ini, ISDSC_CONNECTION_FAILED, "connect to %s: %s", portal, strerror(e));
  }
  if (mcsi_watch_add(&ini->loop, &c->watch, c->fd, EPOLLOUT)) {
    close(c->fd);
    c->fd = -1;
    return mcsi_fail(ini, ISDSC_OUT_OF_RESOURCES, "epoll: %s", strerror(errno));
  }
  return ISDSC_SUCCESS;
}

static void connect_done(mcsi_conn *c)
{
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "connect to %s: %s", c->portal, strerror(err));
    return;
  }
  c->state = MCSI_CONN_LOGIN;
  mcsi_watch_set(&c->sess->ini->loop, &c->watch, EPOLLIN);
  mcsi_login_connected(c);
}

/* ---- transmit ----------------------------------------------------------------- */

void mcsi_conn_queue(mcsi_conn *c, const mcsi_pdu_hdr *h, const uint8_t *data, uint32_t dlen,
                     mcsi_task *task, uint8_t *owned)
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
    mcsi_mark_dirty(c);
    return;
  }
  mcsi_pdu_hdr hh = *h;
  hh.dlen = dlen;
  if (trace_on()) trace(c, ">", &hh);
  mcsi_pdu_encode(&hh, it->hdr);
  it->hlen = MCSI_BHS_LEN;
  if (c->params.header_digest && c->state != MCSI_CONN_LOGIN) {
    mcsi_digest_put(it->hdr + MCSI_BHS_LEN, mcsi_crc32c(it->hdr, MCSI_BHS_LEN));
    it->hlen += MCSI_DIGEST_LEN;
  }
  uint32_t pad = mcsi_pad4(dlen) - dlen;
  memset(it->tail, 0, sizeof it->tail);
  it->tlen = (uint8_t)pad;
  if (dlen && c->params.data_digest && c->state != MCSI_CONN_LOGIN) {
    uint32_t crc = mcsi_crc32c_update(MCSI_CRC32C_INIT, data, dlen);
    crc = mcsi_crc32c_update(crc, it->tail, pad);
    mcsi_digest_put(it->tail + pad, mcsi_crc32c_final(crc));
    it->tlen += MCSI_DIGEST_LEN;
  }
  it->data = data;
  it->dlen = dlen;
  it->owned = owned;
  it->task = task;
  it->sent = 0;
  it->r2t_end = 0;
  it->next = NULL;
  c->txmem += item_mem(it);
  if (task) task->tx_refs++;
  if (c->txtail) c->txtail->next = it;
  else c->txhead = it;
  c->txtail = it;
  c->txbytes += it->hlen + dlen + it->tlen;
  c->stats.pdus_sent++;
  mcsi_mark_dirty(c);                 /* flushed by the loop, never from inside a send path */
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

static void consume_tx(mcsi_conn *c, size_t n)
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
    if (it->r2t_end && it->task && it->task->r2t_outstanding) it->task->r2t_outstanding--;
    free_item(c, it);
  }
}

/* Writes what the socket takes. Returns 0, or -1 when the connection failed. */
int mcsi_conn_flush(mcsi_conn *c)
{
  mcsi_list_del(&c->dirty);
  if (c->fd < 0 || c->state == MCSI_CONN_CONNECTING) return 0;
  if (c->tx_oom) {
    mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "%s: out of memory queueing a PDU", c->portal);
    return -1;
  }
  if (c->tx_overflow) {
    mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "%s: more than %u bytes of PDUs waiting to be sent"
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
      mcsi_conn_fail(c, e == EPIPE || e == ECONNRESET ? ISDSC_CONNECTION_FAILED : ISDSC_SEND_FAILED,
                     "send to %s: %s", c->portal, strerror(e));
      return -1;
    }
    consume_tx(c, (size_t)w);
  }
  uint32_t want = EPOLLIN | (c->txhead ? EPOLLOUT : 0);
  mcsi_watch_set(&c->sess->ini->loop, &c->watch, want);
  return 0;
}

/* The rest of the PDU being read goes nowhere: its task left this connection. */
static void rx_discard_rest(mcsi_conn *c)
{
  c->rxtask = NULL;
  c->rxdst = c->scratch;
  c->rx_discard = 1;
}

/* A task is leaving this connection (completed, moved, aborted, timed out):
 * nothing queued may point into its buffer afterwards, and nothing still
 * arriving here may be written into it. */
void mcsi_conn_detach_task(mcsi_conn *c, mcsi_task *t)
{
  mcsi_txitem **pp = &c->txhead, *prev = NULL;
  if (c->rxtask == t) rx_discard_rest(c);
  while (*pp) {
    mcsi_txitem *it = *pp;
    if (it->task != t) { prev = it; pp = &it->next; continue; }
    t->tx_refs--;
    it->task = NULL;
    if (it->sent == 0) {               /* never started: drop it */
      *pp = it->next;
      if (c->txtail == it) c->txtail = prev;
      c->txbytes -= item_len(it);
      c->stats.pdus_sent--;
      it->task = NULL;
      free_item(c, it);
      continue;
    }
    uint8_t *copy = malloc(it->dlen ? it->dlen : 1);   /* half sent: keep a private copy */
    if (!copy) {
      mcsi_conn_fail(c, ISDSC_OUT_OF_RESOURCES, "out of memory detaching a task");
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
 * now, -1 when the connection failed (EOF or error). */
static int rx_fill(mcsi_conn *c, uint8_t *dst, uint32_t want, uint32_t *got)
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
    if (r == 0 && c->logout_sent && c->rxstate == RX_HDR && !c->rxgot) mcsi_mcs_logout_closed(c);
    else if (r == 0 && (c->rxstate != RX_HDR || c->rxgot))
      mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s closed the connection in the middle of a PDU", c->portal);
    else if (r == 0) mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "%s closed the connection", c->portal);
    else mcsi_conn_fail(c, ISDSC_CONNECTION_FAILED, "receive from %s: %s", c->portal, strerror(errno));
    return -1;
  }
  return 1;
}

static uint32_t rx_limit(const mcsi_conn *c)
{
  return c->state == MCSI_CONN_LOGIN ? LOGIN_DSL : c->params.max_recv_dsl;
}

static int digests_on(const mcsi_conn *c) { return c->state != MCSI_CONN_LOGIN; }

/* The header is complete: check it and choose where its data goes. */
static int rx_header_done(mcsi_conn *c)
{
  mcsi_pdu_hdr *h = &c->rh;
  if (c->params.header_digest && digests_on(c)) {
    uint32_t len = c->rxhlen - MCSI_DIGEST_LEN;
    if (mcsi_crc32c(c->rxhdr, len) != mcsi_digest_get(c->rxhdr + len)) {
      c->stats.digest_errors++;
      mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "header digest error from %s", c->portal);
      return -1;
    }
  }
  if (h->dlen > rx_limit(c)) {
    c->stats.format_errors++;
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s sent a %s with %u data bytes, more than the %u allowed",
                   c->portal, mcsi_opcode_name(h->opcode), h->dlen, rx_limit(c));
    return -1;
  }
  c->rxtask = NULL;
  c->rxdst = c->scratch;
  c->rx_discard = 0;
  if (h->dlen > c->scratch_cap) {       /* cannot happen while scratch_cap >= rx_limit: belt and braces */
    mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s: data segment of %u bytes", c->portal, h->dlen);
    return -1;
  }
  if (h->opcode == MCSI_OP_DATA_IN && (c->state == MCSI_CONN_ACTIVE || c->state == MCSI_CONN_LOGOUT)) {
    const char *err = NULL;
    mcsi_task *t = mcsi_task_lookup(c->sess, h->itt);
    if (c->state == MCSI_CONN_LOGOUT && (!t || t->conn != c)) {  /* a command moved off this draining connection */
      rx_discard_rest(c);
      c->rxstate = RX_DATA;
      c->rxgot = 0;
      return 0;
    }
    if (mcsi_scsi_check_data_in(c, t, h, &err)) {
      c->stats.format_errors++;
      mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "%s: bad Data-In (ITT 0x%08x): %s", c->portal, h->itt, err);
      return -1;
    }
    c->rxtask = t;
    c->rxdst = h->dlen ? t->buf + h->offset : c->scratch;   /* a READ of nothing may have no buffer */
  }
  c->rxstate = RX_DATA;
  c->rxgot = 0;
  return 0;
}

static int rx_tail_done(mcsi_conn *c)
{
  mcsi_pdu_hdr *h = &c->rh;
  uint32_t pad = mcsi_pad4(h->dlen) - h->dlen;
  if (c->rx_discard) {                  /* its data went to scratch, in part or whole: not checked, not used */
    c->rx_discard = 0;
    c->stats.pdus_received++;
    c->last_rx = mcsi_now_ms();
    if (trace_on()) trace(c, "<", h);
    c->rxstate = RX_HDR;
    c->rxgot = 0;
    return 0;
  }
  if (c->params.data_digest && digests_on(c) && h->dlen) {
    uint32_t crc = mcsi_crc32c_update(MCSI_CRC32C_INIT, c->rxdst, h->dlen);
    crc = mcsi_crc32c_final(mcsi_crc32c_update(crc, c->rxtail, pad));
    if (crc != mcsi_digest_get(c->rxtail + pad)) {
      c->stats.digest_errors++;
      mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "data digest error from %s", c->portal);
      return -1;
    }
  }
  c->stats.pdus_received++;
  c->last_rx = mcsi_now_ms();
  /* after a large Data-In, the next header is read on its own so that the
   * next data segment lands in the caller's buffer, not in the rx buffer */
  c->rx_bulk = h->dlen >= DIRECT_READ_MIN;
  if (trace_on()) trace(c, "<", h);
  c->rxstate = RX_HDR;
  c->rxgot = 0;
  const uint8_t *data = c->rxtask ? NULL : c->scratch;
  if (c->state == MCSI_CONN_LOGIN) mcsi_login_rx(c, h, data, h->dlen);
  else mcsi_session_rx(c, h, data, h->dlen);
  return c->fd < 0 ? -1 : 0;
}

static int rx_step(mcsi_conn *c)
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
        mcsi_conn_fail(c, ISDSC_TRANSPORT_ERROR, "malformed PDU from %s (opcode 0x%02x): %s",
                       c->portal, c->rxhdr[0], bad ? bad : "not a target opcode");
        return -1;
      }
      c->rxhlen = MCSI_BHS_LEN + c->rh.ahs_words * 4u +
                  (c->params.header_digest && digests_on(c) ? MCSI_DIGEST_LEN : 0);
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
    uint32_t want = pad + (c->params.data_digest && digests_on(c) && c->rh.dlen ? MCSI_DIGEST_LEN : 0);
    if ((r = rx_fill(c, c->rxtail, want, &c->rxgot)) <= 0) return r;
    return rx_tail_done(c) ? -1 : 1;
  }
  }
}

static void conn_ready(mcsi_watch *w, uint32_t events)
{
  mcsi_conn *c = MCSI_CONTAINER(w, mcsi_conn, watch);
  if (c->state == MCSI_CONN_CONNECTING) {
    connect_done(c);
    return;
  }
  if (events & EPOLLOUT && mcsi_conn_flush(c) < 0) return;
  c->rx_drained = 0;
  /* a full send queue stops reading: the flush that follows fails the connection */
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    while (c->fd >= 0 && c->state != MCSI_CONN_CONNECTING && !c->tx_overflow && !c->tx_oom && rx_step(c) > 0) {}
}

/* ---- failure ------------------------------------------------------------------- */

void mcsi_conn_fail(mcsi_conn *c, mcsi_status st, const char *fmt, ...)
{
  if (c->state == MCSI_CONN_FAILED || c->state == MCSI_CONN_CLOSED) return;
  va_list ap;
  va_start(ap, fmt);
  mcsi_failv(c->sess->ini, st, fmt, ap);
  va_end(ap);
  int was_login = c->state == MCSI_CONN_LOGIN || c->state == MCSI_CONN_CONNECTING;
  c->state = MCSI_CONN_FAILED;
  c->fail_status = st;
  if (st == ISDSC_SERVICE_DID_NOT_RESPOND) c->stats.timeout_errors++;
  mcsi_conn_abort_socket(c);
  if (was_login) mcsi_session_login_finished(c, st);
  else mcsi_session_conn_failed(c);
}
