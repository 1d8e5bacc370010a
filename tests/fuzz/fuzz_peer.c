/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz_peer.c: the scripted loopback target of fuzz_conn (see fuzz_peer.h).
 *
 * One thread, one poll() loop over the listening socket and the accepted
 * connections, every socket non-blocking, output queued per connection.
 * Requests are framed without digests (the harness offers none). */
#include "fuzz_peer.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pdu.h"
#include "text.h"

#define FP_MAX_CONNS 16
#define FP_MAX_SESS 8
#define FP_MAX_WRITES 32
#define FP_POLL_MS 5
#define FP_MAX_SEGMENT (1u << 20)     /* larger requests: the peer gives up on the connection */
#define FP_READ_CAP 65536u            /* default read data at most this long */
#define FP_WINDOW 16u                 /* MaxCmdSN = ExpCmdSN + FP_WINDOW - 1 */
#define FP_TTT_BASE 0x1000u

typedef struct fp_buf { uint8_t *p; size_t off, len, cap; } fp_buf;

typedef struct fp_conn {
  int fd;
  int shut;                 /* FIN sent: read and discard until the initiator closes */
  int close_after;          /* FIN once the queue is flushed (after a Logout Response) */
  uint8_t hdr[MCSI_BHS_LEN];
  size_t hgot;
  uint8_t *seg;             /* AHS + padded data segment of the request being read */
  size_t need, got;
  uint32_t statsn;
  int sess;                 /* index in fuzz_peer.sess, -1 before a login response */
  fp_buf out;
} fp_conn;

typedef struct fp_sess { uint16_t tsih; uint32_t expcmdsn; } fp_sess;

typedef struct fp_write { int used; uint32_t itt, edtl, got; } fp_write;

/* One answer being built. */
typedef struct fp_reply {
  mcsi_pdu_hdr h;
  uint8_t *data;            /* owned */
  uint32_t dlen;
  int carries_status;       /* advances StatSN */
} fp_reply;

struct fuzz_peer {
  pthread_t thread;
  int started;
  atomic_int stop;
  atomic_uint requests;
  int lfd;
  uint16_t port;
  char portal[32];
  uint8_t *script;
  size_t len, pos;
  int exhausted;
  int64_t deadline;
  fp_conn conns[FP_MAX_CONNS];
  fp_sess sess[FP_MAX_SESS];
  int nsess;
  uint16_t next_tsih;
  uint32_t prev_itt, cur_itt;
  fp_write writes[FP_MAX_WRITES];
};

/* ---- small helpers ----------------------------------------------------------- */

static int64_t fp_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fp_buf_put(fp_buf *b, const void *p, size_t n)
{
  if (!n) return 0;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q) return -1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

static void fp_flush(fp_conn *c)
{
  while (c->fd >= 0 && c->out.off < c->out.len) {
    ssize_t w = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w <= 0) {
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      c->out.off = c->out.len;      /* the initiator is gone: drop the rest */
      break;
    }
    c->out.off += (size_t)w;
  }
  if (c->out.off == c->out.len) c->out.off = c->out.len = 0;
}

static void fp_shut(fp_conn *c)
{
  if (c->fd < 0 || c->shut) return;
  fp_flush(c);
  shutdown(c->fd, SHUT_WR);
  c->shut = 1;
}

static void fp_conn_close(fp_conn *c)
{
  if (c->fd >= 0) close(c->fd);
  free(c->seg);
  free(c->out.p);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static void fp_reset(fp_conn *c)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };
  setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  fp_conn_close(c);
}

/* Script used up, or the deadline passed: FIN on everything from now on. */
static void fp_exhaust(fuzz_peer *p)
{
  p->exhausted = 1;
  for (int i = 0; i < FP_MAX_CONNS; i++) fp_shut(&p->conns[i]);
}

static const uint8_t *fp_take(fuzz_peer *p, size_t n)
{
  if (p->len - p->pos < n) { p->pos = p->len; return NULL; }
  const uint8_t *q = p->script + p->pos;
  p->pos += n;
  return q;
}

/* ---- sessions and SNs ---------------------------------------------------------- */

static int fp_session(fuzz_peer *p, uint16_t tsih, uint32_t cmdsn)
{
  for (int i = 0; i < p->nsess; i++)
    if (p->sess[i].tsih == tsih) return i;
  int i = p->nsess < FP_MAX_SESS ? p->nsess++ : FP_MAX_SESS - 1;
  p->sess[i].tsih = tsih;
  p->sess[i].expcmdsn = cmdsn;
  return i;
}

static void fp_note_cmdsn(fuzz_peer *p, fp_conn *c, const mcsi_pdu_hdr *req)
{
  if (c->sess < 0 || req->immediate) return;
  if (req->opcode == MCSI_OP_DATA_OUT || req->opcode == MCSI_OP_SNACK) return;
  fp_sess *s = &p->sess[c->sess];
  if (mcsi_sn_le(s->expcmdsn, req->cmdsn)) s->expcmdsn = req->cmdsn + 1;
}

static void fp_fill_sn(fuzz_peer *p, fp_conn *c, fp_reply *r)
{
  uint32_t exp = c->sess >= 0 ? p->sess[c->sess].expcmdsn : 1;
  r->h.statsn = c->statsn;
  r->h.expcmdsn = exp;
  r->h.maxcmdsn = exp + FP_WINDOW - 1;
  if (r->carries_status) c->statsn++;
}

/* ---- default data ---------------------------------------------------------------- */

static uint32_t fp_min(uint32_t a, uint32_t b) { return a < b ? a : b; }

static void fp_set_data(fp_reply *r, const void *src, uint32_t n)
{
  free(r->data);
  r->data = n ? malloc(n) : NULL;
  r->dlen = r->data ? n : 0;
  if (r->data) memcpy(r->data, src, n);
}

/* What a disk of 2048 blocks of 512 bytes, one LUN, returns for the CDB. */
static void fp_read_data(const mcsi_pdu_hdr *req, fp_reply *r)
{
  uint8_t small[36] = { 0 };
  uint32_t n;
  switch (req->cdb[0]) {
  case 0x12:                                    /* INQUIRY */
    if (req->cdb[1] & 1) { small[1] = req->cdb[2]; n = 4; break; }
    small[2] = 5; small[3] = 2; small[4] = 31;
    memcpy(small + 8, "MCSIFUZZFUZZ PEER DISK  0001", 28);
    n = 36;
    break;
  case 0x25:                                    /* READ CAPACITY(10) */
    mcsi_put32(small, 2047); mcsi_put32(small + 4, 512); n = 8;
    break;
  case 0x9e:                                    /* READ CAPACITY(16) */
    mcsi_put32(small + 4, 2047); mcsi_put32(small + 8, 512); n = 32;
    break;
  case 0xa0:                                    /* REPORT LUNS: LUN 0 */
    mcsi_put32(small, 8); n = 16;
    break;
  default: {                                    /* READ: a pattern */
    n = fp_min(req->edtl, FP_READ_CAP);
    uint8_t *d = malloc(n ? n : 1);
    if (!d) return;
    for (uint32_t i = 0; i < n; i++) d[i] = (uint8_t)(i * 7 + req->cdb[5]);
    free(r->data);
    r->data = d;
    r->dlen = n;
    return;
  }
  }
  fp_set_data(r, small, fp_min(n, req->edtl));
}

/* ---- builders, one per answer opcode ------------------------------------------------ */

static void fp_base(fp_reply *r, uint8_t opcode, const mcsi_pdu_hdr *req, int status)
{
  memset(&r->h, 0, sizeof r->h);
  r->h.opcode = opcode;
  r->h.flags = MCSI_F_FINAL;
  r->h.itt = req->itt;
  r->h.ttt = MCSI_RSVD_TAG;
  r->h.lun = req->lun;
  r->carries_status = status;
}

static void fp_login_rsp(fuzz_peer *p, fp_conn *c, const mcsi_pdu_hdr *req, const uint8_t *data,
                         uint32_t dlen, fp_reply *r)
{
  fp_base(r, MCSI_OP_LOGIN_RSP, req, 1);
  r->h.flags = req->flags & (MCSI_F_TRANSIT | 0x0f);
  r->h.lun = 0;
  memcpy(r->h.isid, req->isid, 6);
  if (c->sess < 0) {
    c->sess = fp_session(p, req->tsih ? req->tsih : ++p->next_tsih, req->cmdsn);
    c->statsn = 0x100u * (uint32_t)(c - p->conns + 1);
  }
  r->h.tsih = req->tsih ? req->tsih : p->sess[c->sess].tsih;
  fp_set_data(r, data, req->opcode == MCSI_OP_LOGIN_REQ ? dlen : 0);
}

static void fp_scsi_rsp(const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_SCSI_RSP, req, 1);
  r->h.lun = 0;
}

static void fp_data_in(const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_DATA_IN, req, 1);
  r->h.flags = MCSI_F_FINAL | MCSI_F_STATUS;
  fp_read_data(req, r);
  if (r->dlen < req->edtl) {
    r->h.flags |= MCSI_F_UNDERFLOW;
    r->h.residual = req->edtl - r->dlen;
  }
}

static void fp_r2t(fuzz_peer *p, const mcsi_pdu_hdr *req, uint32_t offset, uint32_t want, fp_reply *r)
{
  fp_base(r, MCSI_OP_R2T, req, 0);
  r->h.ttt = FP_TTT_BASE + (p->cur_itt & 0xff);
  r->h.offset = offset;
  r->h.residual = want;
}

/* The answer to a NOP-Out ping; after anything else, a ping of our own
 * (ITT 0xffffffff, a TTT the initiator must echo, StatSN not advanced). */
static void fp_nop_in(const mcsi_pdu_hdr *req, const uint8_t *data, uint32_t dlen, fp_reply *r)
{
  int answer = req->opcode == MCSI_OP_NOP_OUT && req->itt != MCSI_RSVD_TAG;
  fp_base(r, MCSI_OP_NOP_IN, req, answer);
  if (answer) { fp_set_data(r, data, dlen); return; }
  r->h.itt = MCSI_RSVD_TAG;
  r->h.ttt = FP_TTT_BASE + 0x800;
}

static const char fp_send_targets[] = "TargetName=" FP_TARGET "\0TargetAddress=127.0.0.1:3260,1";

static void fp_text_rsp(const mcsi_pdu_hdr *req, const uint8_t *data, uint32_t dlen, fp_reply *r)
{
  fp_base(r, MCSI_OP_TEXT_RSP, req, 1);
  r->h.lun = 0;
  if (dlen >= 11 && memmem(data, dlen, "SendTargets", 11)) fp_set_data(r, fp_send_targets, sizeof fp_send_targets);
}

static fp_write *fp_write_find(fuzz_peer *p, uint32_t itt, int create)
{
  fp_write *free_slot = NULL;
  for (int i = 0; i < FP_MAX_WRITES; i++) {
    if (p->writes[i].used && p->writes[i].itt == itt) return &p->writes[i];
    if (!p->writes[i].used && !free_slot) free_slot = &p->writes[i];
  }
  if (!create) return NULL;
  if (!free_slot) free_slot = &p->writes[itt % FP_MAX_WRITES];
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = 1;
  free_slot->itt = itt;
  return free_slot;
}

/* WRITE: status when every byte is in, else an R2T for the rest when the
 * initiator sends no more unsolicited data; nothing while it still does. */
static int fp_write_step(fuzz_peer *p, const mcsi_pdu_hdr *req, fp_write *w, int final, fp_reply *r)
{
  if (w->got >= w->edtl) {
    mcsi_pdu_hdr q = *req;
    q.itt = w->itt;
    w->used = 0;
    fp_scsi_rsp(&q, r);
    return 1;
  }
  if (!final) return 0;
  mcsi_pdu_hdr q = *req;
  q.itt = w->itt;
  fp_r2t(p, &q, w->got, w->edtl - w->got, r);
  return 1;
}

static int fp_scsi_default(fuzz_peer *p, const mcsi_pdu_hdr *req, uint32_t dlen, fp_reply *r)
{
  if (req->flags & MCSI_F_READ) { fp_data_in(req, r); return 1; }
  if (!(req->flags & MCSI_F_WRITE) || req->edtl == 0) { fp_scsi_rsp(req, r); return 1; }
  fp_write *w = fp_write_find(p, req->itt, 1);
  w->edtl = req->edtl;
  w->got = dlen;
  return fp_write_step(p, req, w, (req->flags & MCSI_F_FINAL) != 0, r);
}

static int fp_data_out_default(fuzz_peer *p, const mcsi_pdu_hdr *req, uint32_t dlen, fp_reply *r)
{
  fp_write *w = fp_write_find(p, req->itt, 0);
  if (!w) return 0;
  w->got += dlen;
  return fp_write_step(p, req, w, (req->flags & MCSI_F_FINAL) != 0, r);
}

static void fp_logout_rsp(fp_conn *c, const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_LOGOUT_RSP, req, 1);
  r->h.lun = 0;
  if (req->opcode == MCSI_OP_LOGOUT_REQ) c->close_after = 1;
}

static void fp_tmf_rsp(const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_TMF_RSP, req, 1);
  r->h.lun = 0;
}

static void fp_reject(const uint8_t *bhs, const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_REJECT, req, 1);
  r->h.itt = MCSI_RSVD_TAG;
  r->h.lun = 0;
  r->h.reason = 0x09;
  fp_set_data(r, bhs, MCSI_BHS_LEN);
}

static void fp_async(const mcsi_pdu_hdr *req, fp_reply *r)
{
  fp_base(r, MCSI_OP_ASYNC, req, 1);
  r->h.itt = MCSI_RSVD_TAG;
}

/* The well-formed answer to a request; 0 when there is none. */
static int fp_default(fuzz_peer *p, fp_conn *c, const uint8_t *bhs, const mcsi_pdu_hdr *req,
                      const uint8_t *data, uint32_t dlen, fp_reply *r)
{
  switch (req->opcode) {
  case MCSI_OP_LOGIN_REQ: fp_login_rsp(p, c, req, data, dlen, r); return 1;
  case MCSI_OP_SCSI_CMD: return fp_scsi_default(p, req, dlen, r);
  case MCSI_OP_DATA_OUT: return fp_data_out_default(p, req, dlen, r);
  case MCSI_OP_NOP_OUT:
    if (req->itt == MCSI_RSVD_TAG) return 0;
    fp_nop_in(req, data, dlen, r);
    return 1;
  case MCSI_OP_TEXT_REQ: fp_text_rsp(req, data, dlen, r); return 1;
  case MCSI_OP_LOGOUT_REQ: fp_logout_rsp(c, req, r); return 1;
  case MCSI_OP_TMF_REQ: fp_tmf_rsp(req, r); return 1;
  default: (void)bhs; return 0;
  }
}

/* A forced opcode: the same builders, whatever the request was. */
static int fp_forced(fuzz_peer *p, fp_conn *c, int kind, const uint8_t *bhs, const mcsi_pdu_hdr *req,
                     const uint8_t *data, uint32_t dlen, fp_reply *r)
{
  switch (kind) {
  case FP_K_NOP_IN: fp_nop_in(req, data, dlen, r); return 1;
  case FP_K_SCSI_RSP: fp_scsi_rsp(req, r); return 1;
  case FP_K_DATA_IN: fp_data_in(req, r); return 1;
  case FP_K_R2T: fp_r2t(p, req, 0, req->edtl, r); return 1;
  case FP_K_ASYNC: fp_async(req, r); return 1;
  case FP_K_REJECT: fp_reject(bhs, req, r); return 1;
  case FP_K_TEXT_RSP: fp_text_rsp(req, data, dlen, r); return 1;
  case FP_K_LOGOUT_RSP: fp_logout_rsp(c, req, r); return 1;
  case FP_K_LOGIN_RSP: fp_login_rsp(p, c, req, data, dlen, r); return 1;
  case FP_K_TMF_RSP: fp_tmf_rsp(req, r); return 1;
  default: return 0;
  }
}

/* ---- sending a reply -------------------------------------------------------------------- */

/* Redirects stay on loopback: every TargetAddress of a Login Response
 * becomes the peer's own portal (data that does not parse is left alone:
 * the initiator refuses it too). */
static void fp_own_address(fuzz_peer *p, fp_reply *r)
{
  mcsi_text t;
  size_t n;
  if (!r->dlen || !memmem(r->data, r->dlen, "TargetAddress", 13)) return;
  mcsi_text_init(&t);
  if (mcsi_text_parse_multi(&t, r->data, r->dlen, NULL) == 0) {
    char own[48];
    snprintf(own, sizeof own, "%s,1", p->portal);
    for (size_t i = 0; i < t.count; i++) {
      if (strcmp(t.items[i].key, "TargetAddress")) continue;
      char *v = strdup(own);
      if (!v) continue;
      free(t.items[i].value);
      t.items[i].value = v;
    }
    uint8_t *enc = mcsi_text_encode(&t, &n);
    if (enc) { free(r->data); r->data = enc; r->dlen = (uint32_t)n; }
  }
  mcsi_text_free(&t);
}

static void fp_send(fuzz_peer *p, fp_conn *c, const uint8_t *rec, fp_reply *r)
{
  uint8_t bhs[MCSI_BHS_LEN];
  static const uint8_t pad[4];
  if (rec[0] & FP_F_STALE) r->h.itt = p->prev_itt;
  if (r->h.opcode == MCSI_OP_LOGIN_RSP) fp_own_address(p, r);
  fp_fill_sn(p, c, r);
  r->h.dlen = r->dlen;
  mcsi_pdu_encode(&r->h, bhs);
  if (rec[0] & FP_F_NOSN) memset(bhs + 24, 0, 12);
  bhs[1] ^= rec[1];
  for (unsigned i = 0; i < (rec[2] & 7u); i++) bhs[rec[3 + 2 * i] % MCSI_BHS_LEN] ^= rec[4 + 2 * i];
  fp_buf_put(&c->out, bhs, sizeof bhs);
  if (r->dlen) {
    fp_buf_put(&c->out, r->data, r->dlen);
    fp_buf_put(&c->out, pad, mcsi_pad4(r->dlen) - r->dlen);
  }
}

/* One record: parses it and acts. Returns 0, or -1 when the script is used up. */
static int fp_record(fuzz_peer *p, fp_conn *c, const uint8_t *bhs, const mcsi_pdu_hdr *req,
                     const uint8_t *data, uint32_t dlen, int *more)
{
  const uint8_t *rec = fp_take(p, 3);
  if (!rec) return -1;
  if (!fp_take(p, 2u * (rec[2] & 7u))) return -1;
  const uint8_t *rdata = NULL;
  uint32_t rlen = 0;
  if (rec[0] & FP_F_DATA) {
    const uint8_t *l = fp_take(p, 1);
    if (!l || !(rdata = fp_take(p, *l))) return -1;
    rlen = *l;
  }
  *more = (rec[0] & FP_F_MORE) != 0;
  int kind = rec[0] & 15;
  fp_reply r = { .data = NULL };
  int have = 0;
  switch (kind) {
  case FP_K_NONE: break;
  case FP_K_RAW: fp_buf_put(&c->out, rdata, rlen); break;
  case FP_K_CLOSE: fp_shut(c); break;
  case FP_K_RESET: fp_reset(c); *more = 0; break;
  case FP_K_DEFAULT:
  case FP_K_TWICE: have = fp_default(p, c, bhs, req, data, dlen, &r); break;
  default: have = fp_forced(p, c, kind, bhs, req, data, dlen, &r); break;
  }
  if (have) {
    if (rec[0] & FP_F_DATA) fp_set_data(&r, rdata, rlen);
    fp_reply copy = r;
    copy.data = NULL;
    if (kind == FP_K_TWICE) fp_set_data(&copy, r.data, r.dlen);
    fp_send(p, c, rec, &r);
    if (kind == FP_K_TWICE) fp_send(p, c, rec, &copy);
    free(copy.data);
  }
  free(r.data);
  return 0;
}

/* ---- requests ------------------------------------------------------------------------------- */

static void fp_request(fuzz_peer *p, fp_conn *c)
{
  mcsi_pdu_hdr req;
  memset(&req, 0, sizeof req);
  if (mcsi_pdu_decode(c->hdr, &req)) {   /* not a valid request: decode what we can */
    req.opcode = c->hdr[0] & 0x3f;
    req.itt = mcsi_be32(c->hdr + 16);
    req.flags = c->hdr[1];
  }
  p->prev_itt = p->cur_itt;
  p->cur_itt = req.itt;
  atomic_fetch_add(&p->requests, 1);
  if (p->exhausted || c->shut) return;
  fp_note_cmdsn(p, c, &req);
  const uint8_t *data = c->seg ? c->seg + req.ahs_words * 4u : NULL;
  uint32_t dlen = c->seg ? req.dlen : 0;
  int more = 1;
  while (more && c->fd >= 0 && !c->shut) {
    if (fp_record(p, c, c->hdr, &req, data, dlen, &more)) { fp_exhaust(p); return; }
  }
  if (c->fd >= 0 && c->close_after) fp_shut(c);
}

/* Reads what is there; calls fp_request for each whole PDU. 0, or -1 at EOF/error. */
static int fp_input(fuzz_peer *p, fp_conn *c)
{
  for (;;) {
    uint8_t *dst;
    size_t want;
    if (c->hgot < MCSI_BHS_LEN) { dst = c->hdr + c->hgot; want = MCSI_BHS_LEN - c->hgot; }
    else { dst = c->seg + c->got; want = c->need - c->got; }
    ssize_t n = recv(c->fd, dst, want, MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    if (c->hgot < MCSI_BHS_LEN) {
      c->hgot += (size_t)n;
      if (c->hgot < MCSI_BHS_LEN) continue;
      size_t need = (size_t)c->hdr[4] * 4 + mcsi_pad4(mcsi_be32(c->hdr + 4) & 0xffffff);
      if (need > FP_MAX_SEGMENT) return -1;
      if (need) {
        c->seg = malloc(need);
        if (!c->seg) return -1;
        c->need = need;
        c->got = 0;
        continue;
      }
    } else {
      c->got += (size_t)n;
      if (c->got < c->need) continue;
    }
    fp_request(p, c);
    if (c->fd < 0) return 0;             /* the record reset it */
    free(c->seg);
    c->seg = NULL;
    c->hgot = c->need = c->got = 0;
  }
}

/* ---- the thread ------------------------------------------------------------------------------- */

static void fp_accept(fuzz_peer *p)
{
  int fd = accept(p->lfd, NULL, NULL);
  if (fd < 0) return;
  for (int i = 0; i < FP_MAX_CONNS; i++) {
    fp_conn *c = &p->conns[i];
    if (c->fd >= 0) continue;
    c->fd = fd;
    c->sess = -1;
    if (p->exhausted) fp_shut(c);
    return;
  }
  close(fd);
}

static void fp_events(fuzz_peer *p, fp_conn *c, short rev)
{
  if (rev & (POLLIN | POLLHUP | POLLERR)) {
    if (fp_input(p, c)) { fp_conn_close(c); return; }
  }
  if (c->fd >= 0) fp_flush(c);
}

static void *fp_thread(void *arg)
{
  fuzz_peer *p = arg;
  struct pollfd pfd[FP_MAX_CONNS + 1];
  int idx[FP_MAX_CONNS + 1];
  while (!atomic_load(&p->stop)) {
    if (!p->exhausted && fp_now_ms() >= p->deadline) fp_exhaust(p);
    int n = 0;
    pfd[n] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
    idx[n++] = -1;
    for (int i = 0; i < FP_MAX_CONNS; i++) {
      fp_conn *c = &p->conns[i];
      if (c->fd < 0) continue;
      pfd[n] = (struct pollfd){ .fd = c->fd, .events = (short)(POLLIN | (c->out.len ? POLLOUT : 0)) };
      idx[n++] = i;
    }
    if (poll(pfd, (nfds_t)n, FP_POLL_MS) <= 0) continue;
    for (int k = 0; k < n; k++) {
      if (!pfd[k].revents) continue;
      if (idx[k] < 0) fp_accept(p);
      else if (p->conns[idx[k]].fd == pfd[k].fd) fp_events(p, &p->conns[idx[k]], pfd[k].revents);
    }
  }
  return NULL;
}

static int fp_listen(fuzz_peer *p)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->lfd < 0) return -1;
  if (bind(p->lfd, (struct sockaddr *)&a, sizeof a) || listen(p->lfd, 16) ||
      getsockname(p->lfd, (struct sockaddr *)&a, &al))
    return -1;
  p->port = ntohs(a.sin_port);
  snprintf(p->portal, sizeof p->portal, "127.0.0.1:%u", p->port);
  return 0;
}

fuzz_peer *fuzz_peer_start(const uint8_t *script, size_t len)
{
  fuzz_peer *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->lfd = -1;
  for (int i = 0; i < FP_MAX_CONNS; i++) p->conns[i].fd = -1;
  p->script = malloc(len ? len : 1);
  if (!p->script || fp_listen(p)) { fuzz_peer_stop(p); return NULL; }
  memcpy(p->script, script, len);
  p->len = len;
  p->deadline = fp_now_ms() + FP_DEADLINE_MS;
  p->prev_itt = p->cur_itt = MCSI_RSVD_TAG;
  if (pthread_create(&p->thread, NULL, fp_thread, p)) { fuzz_peer_stop(p); return NULL; }
  p->started = 1;
  return p;
}

void fuzz_peer_stop(fuzz_peer *p)
{
  if (!p) return;
  if (p->started) {
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
  }
  for (int i = 0; i < FP_MAX_CONNS; i++) fp_conn_close(&p->conns[i]);
  if (p->lfd >= 0) close(p->lfd);
  free(p->script);
  free(p);
}

const char *fuzz_peer_portal(const fuzz_peer *p) { return p->portal; }
unsigned fuzz_peer_requests(const fuzz_peer *p) { return atomic_load(&p->requests); }
