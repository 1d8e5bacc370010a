/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * requests.c: the transmission phase. A request header is checked (magic,
 * command, flags, range, size), a write's payload is read into the
 * request's own buffer, then the request becomes calls of the engine's
 * block I/O (mcsi_io_read/write/flush/unmap/write_zeroes, with
 * NBD_CMD_FLAG_FUA as MCSI_IO_FUA; FLUSH is the whole LUN), which splits,
 * retries and builds the CDBs (core/initiator/blockio.c, core/scsi/retry.c).
 *
 * Any byte offset and length are served (the export's minimum block size
 * is 1):
 *  - READ reads the LUN blocks covering the range and answers from inside them.
 *  - WRITE and WRITE_ZEROES that cover only part of their first or last
 *    block read that block (the "edges"), merge the new bytes, and write it
 *    back; the whole blocks between go straight from the payload (or as
 *    write zeroes). Such a request is an RMW and is ordered by the export's
 *    overlap list (overlap.c) against every request touching its blocks.
 *  - TRIM unmaps the whole blocks inside the range; partial blocks are left
 *    as they are (TRIM is advisory).
 *  - FUA: READ/WRITE carry the CDB's FUA bit; TRIM (UNMAP) and WRITE_ZEROES
 *    (WRITE SAME), whose CDBs have none, are followed by a SYNCHRONIZE
 *    CACHE of their blocks before the reply.
 * A request runs in stages (edges read, main, flush); each stage is one or
 * more engine calls, the next stage starts once all answered. The reply
 * goes out when the last stage ends, in completion order, with the
 * request's cookie, simple or structured (NBD_OPT_STRUCTURED_REPLY); any
 * failure answers EIO. A request whose client went stops at the end of its
 * current stage (unanswered, so nothing more is owed) and frees itself.
 *
 * No malloc per request in a steady state: a finished request goes back to
 * its client's spares (at most NBD_SPARE_REQS, never more than the client's
 * max_inflight_requests), keeping a buffer of up to NBD_SPARE_BUF_MAX bytes
 * for the next READ or WRITE, while the kept buffers of the client's
 * requests stay within NBD_SPARE_BYTES (c->spare_bytes); its reply is
 * queued in its own nbd_out item. Orphans are freed whole; a client's
 * spares go when it closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

/* ---- requests in flight ---- */

/* A spare of the client (its kept buffer stays as r->spare), or a new one. */
static nbd_req *req_take(nbd_client *c)
{
  nbd_req *r = c->spares;
  if (!r) {
    c->exp->stats.request_allocs++;
    return calloc(1, sizeof *r);
  }
  c->spares = r->next_in;
  c->n_spares--;
  uint8_t *spare = r->spare;
  size_t cap = r->spare_cap;
  memset(r, 0, sizeof *r);
  r->spare = spare;
  r->spare_cap = cap;
  return r;
}

static nbd_req *req_new(nbd_client *c)
{
  nbd_req *r = req_take(c);
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

/* n bytes for r->buf (r has its client): the kept buffer when it is large enough. */
static uint8_t *req_buffer(nbd_req *r, size_t n)
{
  if (r->spare && r->spare_cap >= n) {
    r->client->spare_bytes -= r->spare_cap;
    r->buf = r->spare;
    r->buf_cap = r->spare_cap;
    r->spare = NULL;
    r->spare_cap = 0;
    return r->buf;
  }
  r->client->exp->stats.buffer_allocs++;
  if ((r->buf = malloc(n))) r->buf_cap = n;
  return r->buf;
}

/* Whether r's buffer replaces its kept one: larger, not too large, and
 * within the client's budget for kept buffers. */
static int keeps_buffer(const nbd_client *c, const nbd_req *r)
{
  return r->buf && r->buf_cap && r->buf_cap <= NBD_SPARE_BUF_MAX && r->buf_cap > r->spare_cap &&
         c->spare_bytes - r->spare_cap + r->buf_cap <= NBD_SPARE_BYTES;
}

/* Back to the client's spares if there is room: 1, else 0. */
static int req_keep(nbd_client *c, nbd_req *r)
{
  if (c->n_spares >= NBD_SPARE_REQS || c->n_spares >= c->exp->opts.max_inflight_requests) return 0;
  if (keeps_buffer(c, r)) {
    c->spare_bytes = c->spare_bytes - r->spare_cap + r->buf_cap;
    free(r->spare);
    r->spare = r->buf;
    r->spare_cap = r->buf_cap;
  } else {
    free(r->buf);
  }
  r->buf = NULL;
  r->buf_cap = 0;
  r->next_in = c->spares;
  c->spares = r;
  c->n_spares++;
  return 1;
}

void nbd_req_free(nbd_req *r)
{
  nbd_client *c = r->client;
  req_unlink(r);
  nbd_overlap_drop(r);
  free(r->edge);
  r->edge = NULL;
  if (c && req_keep(c, r)) return;
  if (c) c->spare_bytes -= r->spare_cap;
  free(r->buf);
  free(r->spare);
  free(r);
}

void nbd_requests_drop_spares(nbd_client *c)
{
  while (c->spares) {
    nbd_req *r = c->spares;
    c->spares = r->next_in;
    c->spare_bytes -= r->spare_cap;
    free(r->spare);
    free(r);
  }
  c->n_spares = 0;
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

static void count_reply(nbd_req *r)
{
  mcsi_nbd_export *e = r->client->exp;
  e->stats.requests++;
  if (r->error) e->stats.errors++;
  else if (r->type == NBD_CMD_READ) e->stats.bytes_read += r->length;
  else if (r->type == NBD_CMD_WRITE) e->stats.bytes_written += r->length;
}

static void chunk_header(uint8_t *h, uint16_t flags, uint16_t type, uint64_t cookie, uint32_t len)
{
  nbd_put32(h, NBD_STRUCTURED_REPLY_MAGIC);
  nbd_put16(h + 4, flags);
  nbd_put16(h + 6, type);
  nbd_put64(h + 8, cookie);
  nbd_put32(h + 16, len);
}

/* Structured replies are used for READ and BLOCK_STATUS once negotiated;
 * the other commands keep simple replies (doc/proto.md allows both). */
static int wants_structured(const nbd_req *r)
{
  return r->client->structured && (r->type == NBD_CMD_READ || r->type == NBD_CMD_BLOCK_STATUS);
}

static void send_reply(nbd_req *r)
{
  nbd_client *c = r->client;
  uint8_t h[32];
  count_reply(r);
  if (!wants_structured(r)) {
    nbd_put32(h, NBD_SIMPLE_REPLY_MAGIC);
    nbd_put32(h + 4, r->error);
    nbd_put64(h + 8, r->cookie);
    int with_data = r->type == NBD_CMD_READ && !r->error && r->length;
    const uint8_t *data = with_data ? r->buf + (r->offset - r->first_blk * r->block_size) : NULL;
    nbd_client_send(c, h, NBD_SIMPLE_REPLY_SIZE, data, with_data ? r->length : 0, NULL, r);
    return;
  }
  if (r->error) {                              /* an error chunk: error, no message */
    chunk_header(h, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, r->cookie, 6);
    nbd_put32(h + 20, r->error);
    nbd_put16(h + 24, 0);
    nbd_client_send(c, h, NBD_CHUNK_HDR_SIZE + 6, NULL, 0, NULL, r);
    return;
  }
  if (!r->length) {
    chunk_header(h, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r->cookie, 0);
    nbd_client_send(c, h, NBD_CHUNK_HDR_SIZE, NULL, 0, NULL, r);
    return;
  }
  chunk_header(h, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, r->cookie, 8 + r->length);
  nbd_put64(h + 20, r->offset);
  nbd_client_send(c, h, NBD_CHUNK_HDR_SIZE + 8, r->buf + (r->offset - r->first_blk * r->block_size), r->length,
                  NULL, r);
}

/* The request is over: its blocks are released, the reply queued. */
void nbd_reply_done(nbd_req *r)
{
  nbd_overlap_release(r);
  send_reply(r);
}

void nbd_reply_error(nbd_req *r, uint32_t err)
{
  r->error = err;
  nbd_reply_done(r);
}

static void finish(nbd_req *r)
{
  nbd_reply_done(r);
}

static void fail(nbd_req *r, uint32_t err)
{
  nbd_reply_error(r, err);
}

/* ---- checks ---- */

static int beyond(const mcsi_nbd_export *e, const nbd_req *r)
{
  return r->offset > e->size || r->length > e->size - r->offset;
}

/* 0, or the NBD error the request is answered with. */
static uint32_t check(const nbd_client *c, const nbd_req *r)
{
  const mcsi_nbd_export *e = c->exp;
  uint16_t known = NBD_CMD_FLAG_FUA | (r->type == NBD_CMD_WRITE_ZEROES ? NBD_CMD_FLAG_NO_HOLE : 0) |
                   (r->type == NBD_CMD_BLOCK_STATUS ? NBD_CMD_FLAG_REQ_ONE : 0);
  int ro = e->opts.read_only;
  if (r->flags & ~known) return NBD_EINVAL;
  switch (r->type) {
  case NBD_CMD_READ:
    if (r->length > e->opts.max_request || beyond(e, r)) return NBD_EINVAL;
    return 0;
  case NBD_CMD_WRITE:
    if (ro) return NBD_EPERM;
    return beyond(e, r) ? NBD_ENOSPC : 0;
  case NBD_CMD_WRITE_ZEROES:
    if (ro) return NBD_EPERM;
    return beyond(e, r) ? NBD_ENOSPC : 0;
  case NBD_CMD_TRIM:
    if (ro) return NBD_EPERM;
    if (!e->geo.unmap || beyond(e, r)) return NBD_EINVAL;
    return 0;
  case NBD_CMD_BLOCK_STATUS:                 /* only with base:allocation chosen, never empty */
    if (!c->structured || !c->meta_alloc || !r->length || beyond(e, r)) return NBD_EINVAL;
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

static uint32_t nbd_error_of(mcsi_status st)
{
  return st == ISDSC_OUT_OF_RESOURCES ? NBD_ENOMEM : NBD_EIO;
}

enum { STAGE_EDGES = 1, STAGE_MAIN, STAGE_FLUSH };

static void run_stage(nbd_req *r, int stage);

/* One engine call of the current stage answered. */
static void piece_done(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  nbd_req *r = arg;
  const mcsi_io_result *res = result;
  (void)ini;
  if (res && r->client) r->client->exp->stats.scsi_commands += res->commands;
  if (st && !r->error) {
    note_failure(r, st, message);
    r->error = nbd_error_of(st);
  }
  if (--r->pieces_inflight) return;
  nbd_client *c = r->client;
  if (!c) {                                  /* orphan: stop here, quietly */
    nbd_overlap_release(r);
    nbd_req_free(r);
    return;
  }
  c->busy++;
  if (r->error) finish(r);
  else run_stage(r, r->stage + 1);
  c->busy--;
  nbd_client_settle(c);
}

/* Counts one engine call of the stage; a refusal at submit is its failure. */
static void piece(nbd_req *r, mcsi_status st)
{
  if (!st) {
    r->pieces_inflight++;
    return;
  }
  note_failure(r, st, mcsi_last_message(r->ini));
  if (!r->error) r->error = nbd_error_of(st);
}

#define DONE_CB(r) ((mcsi_completion){ .done = piece_done, .arg = (r) })

static uint32_t io_flags(const nbd_req *r)
{
  return r->flags & NBD_CMD_FLAG_FUA ? MCSI_IO_FUA : 0;
}

/* The byte range of blocks [first, end) not in the edges: the middle. For
 * TRIM: the whole blocks inside the range. */
static void middle(const nbd_req *r, uint64_t *off, uint64_t *len)
{
  uint64_t bs = r->block_size, first = r->first_blk, end = r->end_blk;
  if (r->type == NBD_CMD_TRIM) {
    first = (r->offset + bs - 1) / bs;
    end = (r->offset + r->length) / bs;
    if (end < first) end = first;
  }
  for (int i = 0; i < r->edges; i++) {
    if (r->edge_blk[i] == first && first < end) first++;
    else if (r->edge_blk[i] == end - 1 && first < end) end--;
  }
  *off = first * bs;
  *len = (end - first) * bs;
}

static void stage_edges(nbd_req *r)
{
  for (int i = 0; i < r->edges; i++)
    piece(r, mcsi_io_read(r->ini, r->sid, r->lun, r->edge_blk[i] * r->block_size, r->edge + (size_t)i * r->block_size,
                          r->block_size, 0, DONE_CB(r)));
}

/* The edge blocks with the request's bytes merged in (zeroes for WRITE_ZEROES). */
static void merge_edges(nbd_req *r)
{
  uint64_t bs = r->block_size, end = r->offset + r->length;
  for (int i = 0; i < r->edges; i++) {
    uint64_t b0 = r->edge_blk[i] * bs, from = r->offset > b0 ? r->offset : b0;
    uint64_t to = end < b0 + bs ? end : b0 + bs;
    uint8_t *dst = r->edge + (size_t)i * bs + (from - b0);
    if (r->type == NBD_CMD_WRITE) memcpy(dst, r->buf + (from - r->offset), to - from);
    else memset(dst, 0, to - from);
  }
}

static void stage_main(nbd_req *r)
{
  uint64_t moff, mlen;
  uint32_t fl = io_flags(r);
  switch (r->type) {
  case NBD_CMD_READ: {
    uint64_t a = r->first_blk * r->block_size;
    piece(r, mcsi_io_read(r->ini, r->sid, r->lun, a, r->buf, (r->end_blk - r->first_blk) * r->block_size, fl, DONE_CB(r)));
    return;
  }
  case NBD_CMD_FLUSH: piece(r, mcsi_io_flush(r->ini, r->sid, r->lun, 0, 0, fl, DONE_CB(r))); return;
  default: break;
  }
  merge_edges(r);
  for (int i = 0; i < r->edges; i++)
    piece(r, mcsi_io_write(r->ini, r->sid, r->lun, r->edge_blk[i] * r->block_size, r->edge + (size_t)i * r->block_size,
                           r->block_size, fl, DONE_CB(r)));
  middle(r, &moff, &mlen);
  if (!mlen) return;
  if (r->type == NBD_CMD_WRITE)
    piece(r, mcsi_io_write(r->ini, r->sid, r->lun, moff, r->buf + (moff - r->offset), mlen, fl, DONE_CB(r)));
  else if (r->type == NBD_CMD_WRITE_ZEROES)
    piece(r, mcsi_io_write_zeroes(r->ini, r->sid, r->lun, moff, mlen, fl, DONE_CB(r)));
  else
    piece(r, mcsi_io_unmap(r->ini, r->sid, r->lun, moff, mlen, fl, DONE_CB(r)));
}

/* FUA on commands whose CDB has no FUA bit: SYNCHRONIZE CACHE of their blocks. */
static void stage_flush(nbd_req *r)
{
  uint64_t moff, mlen;
  if (!(r->flags & NBD_CMD_FLAG_FUA) || (r->type != NBD_CMD_TRIM && r->type != NBD_CMD_WRITE_ZEROES)) return;
  if (r->type == NBD_CMD_TRIM) middle(r, &moff, &mlen);
  else moff = r->first_blk * r->block_size, mlen = (r->end_blk - r->first_blk) * r->block_size;
  if (mlen) piece(r, mcsi_io_flush(r->ini, r->sid, r->lun, moff, mlen, 0, DONE_CB(r)));
}

/* Runs stages from this one on until one has engine calls in flight, or
 * the request is over (then its reply goes). */
static void run_stage(nbd_req *r, int stage)
{
  for (; stage <= STAGE_FLUSH && !r->error; stage++) {
    r->stage = stage;
    r->pieces_inflight = 1;                  /* a guard while the stage submits */
    if (stage == STAGE_EDGES) stage_edges(r);
    else if (stage == STAGE_MAIN) stage_main(r);
    else stage_flush(r);
    if (--r->pieces_inflight) return;        /* the last answer moves it on */
  }
  finish(r);
}

void nbd_request_start(nbd_req *r)
{
  nbd_client *c = r->client;
  if (!c) return;
  c->busy++;
  run_stage(r, STAGE_EDGES);
  c->busy--;
  nbd_client_settle(c);
}

/* ---- geometry of a request: the blocks it touches, the partial ones ---- */

static void plan(nbd_req *r)
{
  uint64_t bs = r->block_size, end = r->offset + r->length;
  r->first_blk = r->offset / bs;
  r->end_blk = (end + bs - 1) / bs;
  r->edges = 0;
  if (r->type != NBD_CMD_WRITE && r->type != NBD_CMD_WRITE_ZEROES) return;
  uint64_t last = r->end_blk - 1;
  int head = r->offset % bs != 0 || (r->first_blk == last && end % bs != 0);
  int tail = end % bs != 0 && last != r->first_blk;
  if (head) r->edge_blk[r->edges++] = r->first_blk;
  if (tail) r->edge_blk[r->edges++] = last;
  r->rmw = r->edges > 0;
}

static int prepare(nbd_req *r)
{
  size_t bs = r->block_size;
  if (r->type == NBD_CMD_READ) {
    size_t n = (size_t)(r->end_blk - r->first_blk) * bs;
    if (!req_buffer(r, n)) return -1;
    req_account(r, n);
  }
  if (r->edges) {
    if (!(r->edge = malloc((size_t)r->edges * bs))) return -1;
    req_account(r, (size_t)r->edges * bs);
    r->client->exp->stats.rmw++;
  }
  return 0;
}

static void dispatch(nbd_client *c, nbd_req *r)
{
  mcsi_nbd_export *e = c->exp;
  uint32_t err = check(c, r);
  if (err) {
    fail(r, err);
    return;
  }
  if (r->type == NBD_CMD_FLUSH) {
    r->stage = STAGE_EDGES;
    run_stage(r, STAGE_MAIN);
    return;
  }
  if (!r->length) {
    finish(r);
    return;
  }
  if (r->type == NBD_CMD_BLOCK_STATUS) {
    nbd_block_status(r);
    return;
  }
  plan(r);
  if (prepare(r) < 0) {
    fail(r, NBD_ENOMEM);
    return;
  }
  if (nbd_overlap_enter(e, r)) run_stage(r, STAGE_EDGES);
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
  if (!req_buffer(r, length)) {
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
