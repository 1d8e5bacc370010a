/*
 * requests.c: the transmission phase. A request header is checked (magic,
 * command, flags, range, alignment, size), a write's payload is read into
 * the request's own buffer, then the request becomes SCSI commands on the
 * session: READ(16), WRITE(16) with the FUA bit, SYNCHRONIZE CACHE(16) over
 * the whole LUN, UNMAP, and zeroed WRITE(16)s for WRITE_ZEROES; at most
 * piece_max bytes per command, at most PIECE_WINDOW commands of a request in
 * flight. A command ending in UNIT ATTENTION (a reinstated session's first
 * commands meet one), BUSY, TASK SET FULL or ABORTED COMMAND is sent again,
 * a few times. The simple reply goes out when the
 * last command ends, in completion order, with the request's cookie; any
 * SCSI failure answers EIO. A request whose client went finishes its
 * commands into its own buffer and frees itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

#define PIECE_WINDOW   32
#define UA_TRIES       5
#define ZEROES_MAX     (1u << 20)

static uint8_t zeroes[ZEROES_MAX];           /* the data of WRITE_ZEROES (never written) */

typedef struct nbd_piece {
  nbd_req *r;
  uint64_t off;                              /* relative to the request */
  uint32_t len;
  int tries;
  int dir;
  uint8_t cdb[16];
  uint8_t param[24];                         /* UNMAP parameter list */
} nbd_piece;

/* ---- requests in flight ---- */

static nbd_req *req_new(nbd_client *c)
{
  nbd_req *r = calloc(1, sizeof *r);
  mcsi_nbd_export *e = c->exp;
  if (!r) return NULL;
  r->client = c;
  r->ini = e->ini;
  r->sid = e->sid;
  r->lun = e->lun;
  r->flags = nbd_get16(c->hdr + 4);
  r->type = nbd_get16(c->hdr + 6);
  r->cookie = nbd_get64(c->hdr + 8);
  r->offset = nbd_get64(c->hdr + 16);
  r->length = nbd_get32(c->hdr + 24);
  r->block_size = e->geo.block_size;
  r->next_in = c->inflight;
  if (c->inflight) c->inflight->prev_in = r;
  c->inflight = r;
  c->n_inflight++;
  e->stats.inflight++;
  return r;
}

static void req_account(nbd_req *r, size_t bytes)
{
  r->accounted += bytes;
  if (r->client) r->client->inflight_bytes += bytes;
}

static void req_unlink(nbd_req *r)
{
  nbd_client *c = r->client;
  if (!c) return;
  if (r->prev_in) r->prev_in->next_in = r->next_in;
  else c->inflight = r->next_in;
  if (r->next_in) r->next_in->prev_in = r->prev_in;
  r->prev_in = r->next_in = NULL;
  c->n_inflight--;
  c->inflight_bytes -= r->accounted;
  c->exp->stats.inflight--;
  if (c->cur == r) c->cur = NULL;
  r->client = NULL;
}

void nbd_req_free(nbd_req *r)
{
  req_unlink(r);
  free(r->buf);
  free(r);
}

void nbd_requests_orphan(nbd_client *c)
{
  while (c->inflight) {
    nbd_req *r = c->inflight;
    if (r->pieces_inflight) req_unlink(r);   /* its commands free it */
    else nbd_req_free(r);
  }
}

/* ---- replies ---- */

static void finish(nbd_req *r)
{
  nbd_client *c = r->client;
  mcsi_nbd_export *e = c->exp;
  uint8_t h[NBD_SIMPLE_REPLY_SIZE];
  nbd_put32(h, NBD_SIMPLE_REPLY_MAGIC);
  nbd_put32(h + 4, r->error);
  nbd_put64(h + 8, r->cookie);
  e->stats.requests++;
  if (r->error) e->stats.errors++;
  else if (r->type == NBD_CMD_READ) e->stats.bytes_read += r->length;
  else if (r->type == NBD_CMD_WRITE) e->stats.bytes_written += r->length;
  int with_data = r->type == NBD_CMD_READ && !r->error && r->length;
  nbd_client_send(c, h, sizeof h, with_data ? r->buf : NULL, with_data ? r->length : 0, NULL, r);
}

static void fail(nbd_req *r, uint32_t err)
{
  r->error = err;
  finish(r);
}

/* ---- checks ---- */

static int beyond(const mcsi_nbd_export *e, const nbd_req *r)
{
  return r->offset > e->size || r->length > e->size - r->offset;
}

static int misaligned(const nbd_req *r)
{
  return r->offset % r->block_size || r->length % r->block_size;
}

/* 0, or the NBD error the request is answered with. */
static uint32_t check(const mcsi_nbd_export *e, const nbd_req *r)
{
  uint16_t known = NBD_CMD_FLAG_FUA | (r->type == NBD_CMD_WRITE_ZEROES ? NBD_CMD_FLAG_NO_HOLE : 0);
  int ro = e->opts.read_only;
  if (r->flags & ~known) return NBD_EINVAL;
  switch (r->type) {
  case NBD_CMD_READ:
    if (r->length > e->opts.max_request || beyond(e, r) || misaligned(r)) return NBD_EINVAL;
    return 0;
  case NBD_CMD_WRITE:
    if (ro) return NBD_EPERM;
    if (beyond(e, r)) return NBD_ENOSPC;
    return misaligned(r) ? NBD_EINVAL : 0;
  case NBD_CMD_WRITE_ZEROES:
    if (ro) return NBD_EPERM;
    if (beyond(e, r)) return NBD_ENOSPC;
    return misaligned(r) ? NBD_EINVAL : 0;
  case NBD_CMD_TRIM:
    if (ro) return NBD_EPERM;
    if (!e->geo.unmap || beyond(e, r) || misaligned(r)) return NBD_EINVAL;
    return 0;
  case NBD_CMD_FLUSH:
    return 0;
  default:
    return NBD_EINVAL;
  }
}

/* ---- SCSI ---- */

static void put_lba_blocks(uint8_t *cdb, uint64_t lba, uint32_t blocks)
{
  nbd_put64(cdb + 2, lba);
  nbd_put32(cdb + 10, blocks);
}

/* Bytes the request still needs commands for (FLUSH: one command, "1"). */
static uint64_t total_of(const nbd_req *r)
{
  return r->type == NBD_CMD_FLUSH ? 1 : r->length;
}

static void build_piece(nbd_req *r, nbd_piece *p)
{
  uint64_t lba = (r->offset + p->off) / r->block_size;
  uint32_t blocks = p->len / r->block_size;
  int fua = (r->flags & NBD_CMD_FLAG_FUA) != 0;
  memset(p->cdb, 0, sizeof p->cdb);
  switch (r->type) {
  case NBD_CMD_READ:
    p->cdb[0] = 0x88;
    put_lba_blocks(p->cdb, lba, blocks);
    p->dir = MCSI_DIR_READ;
    break;
  case NBD_CMD_WRITE:
  case NBD_CMD_WRITE_ZEROES:
    p->cdb[0] = 0x8A;
    p->cdb[1] = fua ? 0x08 : 0;
    put_lba_blocks(p->cdb, lba, blocks);
    p->dir = MCSI_DIR_WRITE;
    break;
  case NBD_CMD_FLUSH:
    p->cdb[0] = 0x91;                        /* SYNCHRONIZE CACHE(16), LBA 0, 0 blocks: the whole LUN */
    p->dir = MCSI_DIR_NONE;
    break;
  case NBD_CMD_TRIM:
    p->cdb[0] = 0x42;                        /* UNMAP, one block descriptor */
    nbd_put16(p->cdb + 7, sizeof p->param);
    memset(p->param, 0, sizeof p->param);
    nbd_put16(p->param, sizeof p->param - 2);
    nbd_put16(p->param + 2, 16);
    nbd_put64(p->param + 8, lba);
    nbd_put32(p->param + 16, blocks);
    p->dir = MCSI_DIR_WRITE;
    break;
  }
}

static void *piece_data(nbd_req *r, nbd_piece *p, size_t *len)
{
  *len = p->len;
  switch (r->type) {
  case NBD_CMD_READ:
  case NBD_CMD_WRITE: return r->buf + p->off;
  case NBD_CMD_WRITE_ZEROES: return zeroes;
  case NBD_CMD_TRIM: *len = sizeof p->param; return p->param;
  default: *len = 0; return NULL;
  }
}

static void piece_done(mcsi_status st, const mcsi_scsi_result *res, void *arg);

static mcsi_status piece_submit(nbd_piece *p)
{
  nbd_req *r = p->r;
  size_t len;
  void *buf = piece_data(r, p, &len);
  return mcsi_scsi_submit(r->ini, r->sid, r->lun, p->cdb, 16, p->dir, buf, len, piece_done, p);
}

static uint32_t piece_limit(const nbd_req *r)
{
  uint64_t m = r->piece_max;
  if (r->type == NBD_CMD_WRITE_ZEROES && m > ZEROES_MAX) m = ZEROES_MAX;
  m -= m % r->block_size;
  return (uint32_t)m;
}

/* Sends the request's next commands, up to the window. */
static void issue_more(nbd_req *r)
{
  uint64_t total = total_of(r);
  while (r->next < total && r->pieces_inflight < PIECE_WINDOW && !r->error) {
    nbd_piece *p = calloc(1, sizeof *p);
    if (!p) {
      r->error = NBD_ENOMEM;
      break;
    }
    p->r = r;
    p->off = r->next;
    uint64_t left = total - r->next, lim = piece_limit(r);
    p->len = r->type == NBD_CMD_FLUSH ? 0 : (uint32_t)(left < lim ? left : lim);
    build_piece(r, p);
    if (piece_submit(p) != ISDSC_SUCCESS) {
      free(p);
      r->error = NBD_EIO;
      break;
    }
    r->next += r->type == NBD_CMD_FLUSH ? 1 : p->len;
    r->pieces_inflight++;
    if (r->client) r->client->exp->stats.scsi_commands++;
  }
}

/* Worth sending again, as a SCSI midlayer would: a UNIT ATTENTION (reported
 * once), BUSY and TASK SET FULL (the target's queue, for now), ABORTED COMMAND
 * (the target gave up on it, not on the data). */
static int transient(mcsi_status st, const mcsi_scsi_result *res)
{
  if (mcsi_status_ok(st) || !res || res->response) return 0;
  if (res->scsi_status == 0x08 || res->scsi_status == 0x28 || mcsi_scsi_unit_attention(st, res)) return 1;
  return res->scsi_status == 2 && (res->sense_key & 0x0f) == 0x0b;
}

/* The export keeps why its last request failed, for info and its logs. */
static void note_failure(nbd_req *r, mcsi_status st, const mcsi_scsi_result *res)
{
  if (!r->client) return;
  const char *name = mcsi_status_name(st);
  snprintf(r->client->exp->stats.last_error, sizeof r->client->exp->stats.last_error, "%s: %s",
           name ? name : "?", res && res->message ? res->message : mcsi_status_message(st) ? mcsi_status_message(st) : "");
}

static int piece_ok(const nbd_piece *p, mcsi_status st, const mcsi_scsi_result *res)
{
  if (!mcsi_status_ok(st) || !res || res->scsi_status != 0) return 0;
  return p->dir != MCSI_DIR_READ || res->data_in >= p->len;
}

static void piece_done(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  nbd_piece *p = arg;
  nbd_req *r = p->r;
  if (transient(st, res) && ++p->tries < UA_TRIES && piece_submit(p) == ISDSC_SUCCESS) return;
  int ok = piece_ok(p, st, res);
  if (!ok) note_failure(r, mcsi_status_ok(st) ? ISDSC_SCSI_REQUEST_FAILED : st, res);
  free(p);
  r->pieces_inflight--;
  if (!ok && !r->error) r->error = NBD_EIO;
  nbd_client *c = r->client;
  if (!c) {                                  /* orphan: finish quietly */
    if (!r->pieces_inflight) nbd_req_free(r);
    return;
  }
  issue_more(r);
  if (r->pieces_inflight) return;
  finish(r);
  nbd_client_settle(c);
}

/* UNMAP: at most the LUN's MAXIMUM UNMAP LBA COUNT per command, and 2 GiB. */
static uint32_t trim_piece_max(const mcsi_nbd_export *e)
{
  uint64_t m = (uint64_t)e->geo.max_unmap_blocks * e->geo.block_size;
  return m > (1ull << 31) ? (1u << 31) : (uint32_t)m;
}

static void dispatch(nbd_client *c, nbd_req *r)
{
  mcsi_nbd_export *e = c->exp;
  uint32_t err = check(e, r);
  if (err) {
    fail(r, err);
    return;
  }
  r->piece_max = r->type == NBD_CMD_TRIM ? trim_piece_max(e) : e->scsi_max;
  if (r->type == NBD_CMD_READ && r->length) {
    if (!(r->buf = malloc(r->length))) {
      fail(r, NBD_ENOMEM);
      return;
    }
    req_account(r, r->length);
  }
  if (r->type != NBD_CMD_FLUSH && !r->length) {
    finish(r);
    return;
  }
  issue_more(r);
  if (!r->pieces_inflight) finish(r);        /* nothing could be sent: r->error says why */
}

/* ---- input from client.c ---- */

void nbd_request_header(nbd_client *c)
{
  mcsi_nbd_export *e = c->exp;
  if (nbd_get32(c->hdr) != NBD_REQUEST_MAGIC) {
    c->broken = 1;                           /* cannot find the next request: close */
    return;
  }
  uint16_t type = nbd_get16(c->hdr + 6);
  uint32_t length = nbd_get32(c->hdr + 24);
  nbd_client_expect(c, NBD_PH_REQ_HDR, NBD_REQUEST_SIZE);
  if (type == NBD_CMD_DISC) {
    c->disconnecting = 1;                    /* no reply; close once the others are answered */
    return;
  }
  if (type == NBD_CMD_WRITE && length > e->opts.max_request) {
    c->broken = 1;                           /* a payload too large to take: close */
    return;
  }
  nbd_req *r = req_new(c);
  if (!r) {
    c->broken = 1;
    return;
  }
  if (type != NBD_CMD_WRITE || !length) {
    dispatch(c, r);
    return;
  }
  if (!(r->buf = malloc(length))) {
    nbd_req_free(r);
    c->broken = 1;
    return;
  }
  req_account(r, length);
  c->cur = r;
  nbd_client_expect(c, NBD_PH_PAYLOAD, length);
}

void nbd_request_payload_done(nbd_client *c)
{
  nbd_req *r = c->cur;
  c->cur = NULL;
  nbd_client_expect(c, NBD_PH_REQ_HDR, NBD_REQUEST_SIZE);
  dispatch(c, r);
}
