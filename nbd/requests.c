/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requests.c: the transmission phase. A request header is checked (magic,
 * command, flags, range, alignment, size), a write's payload is read into
 * the request's own buffer, then the request becomes ONE call of the
 * engine's block I/O (mcsi_io_read/write/flush/unmap/write_zeroes, with
 * NBD_CMD_FLAG_FUA as MCSI_IO_FUA; FLUSH is the whole LUN), which splits it,
 * retries and builds the CDBs (core/initiator/blockio.c, core/scsi/retry.c).
 * The simple reply goes out when the engine answers, in completion order,
 * with the request's cookie; any failure answers EIO. A request whose
 * client went finishes into its own buffer and frees itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

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

/* ---- the engine's block I/O ---- */

/* The export keeps why its last request failed, for info and its logs. */
static void note_failure(nbd_req *r, mcsi_status st, const char *message)
{
  if (!r->client) return;
  const char *name = mcsi_status_name(st);
  snprintf(r->client->exp->stats.last_error, sizeof r->client->exp->stats.last_error, "%s: %s",
           name ? name : "?", message ? message : "");
}

static void request_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  nbd_req *r = arg;
  const mcsi_io_result *res = result;
  (void)ini;
  r->pieces_inflight = 0;
  nbd_client *c = r->client;
  if (!c) {                                  /* orphan: finish quietly */
    nbd_req_free(r);
    return;
  }
  if (res) c->exp->stats.scsi_commands += res->commands;
  if (st) {
    note_failure(r, st, message);
    r->error = st == ISDSC_OUT_OF_RESOURCES ? NBD_ENOMEM : NBD_EIO;
  }
  finish(r);
  nbd_client_settle(c);
}

/* One call of the engine per request: it splits, retries and builds the CDBs. */
static mcsi_status submit(nbd_req *r)
{
  mcsi_completion done = { .done = request_done, .arg = r };
  uint32_t flags = r->flags & NBD_CMD_FLAG_FUA ? MCSI_IO_FUA : 0;
  switch (r->type) {
  case NBD_CMD_READ: return mcsi_io_read(r->ini, r->sid, r->lun, r->offset, r->buf, r->length, flags, done);
  case NBD_CMD_WRITE: return mcsi_io_write(r->ini, r->sid, r->lun, r->offset, r->buf, r->length, flags, done);
  case NBD_CMD_WRITE_ZEROES:
    return mcsi_io_write_zeroes(r->ini, r->sid, r->lun, r->offset, r->length, flags, done);
  case NBD_CMD_TRIM: return mcsi_io_unmap(r->ini, r->sid, r->lun, r->offset, r->length, flags, done);
  default: return mcsi_io_flush(r->ini, r->sid, r->lun, 0, 0, flags, done);   /* the whole LUN */
  }
}

static void dispatch(nbd_client *c, nbd_req *r)
{
  mcsi_nbd_export *e = c->exp;
  uint32_t err = check(e, r);
  if (err) {
    fail(r, err);
    return;
  }
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
  mcsi_status st = submit(r);
  if (st) {
    note_failure(r, st, mcsi_last_message(r->ini));
    fail(r, st == ISDSC_OUT_OF_RESOURCES ? NBD_ENOMEM : NBD_EIO);
    return;
  }
  r->pieces_inflight = 1;                    /* the engine's request: it frees r if the client goes */
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
