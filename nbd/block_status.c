/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * block_status.c: NBD_CMD_BLOCK_STATUS for the one metadata context served,
 * base:allocation (doc/proto.md, "Metadata querying"), answered with one
 * NBD_REPLY_TYPE_BLOCK_STATUS chunk.
 *
 * A LUN that reports logical block provisioning (READ CAPACITY(16) LBPME,
 * lun.c) is asked GET LBA STATUS (SERVICE ACTION IN(16) 0x12) from the
 * request's first block: its descriptors become extents, clipped to the
 * request, adjacent ones of the same kind merged, at most
 * GLS_DESCRIPTORS of them (the client asks again for the rest).
 * Deallocated blocks are NBD_STATE_HOLE, and also NBD_STATE_ZERO when the
 * LUN says unmapped blocks read as zeroes (LBPRZ); anchored blocks are
 * ZERO under LBPRZ. A LUN without provisioning, or one whose answer is
 * refused or makes no sense, is reported allocated data over the whole
 * request (always true, never a hole that is not one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

#define GLS_DESCRIPTORS 128
#define GLS_HEADER 8
#define GLS_DESC_SIZE 16
#define GLS_ALLOC (GLS_HEADER + GLS_DESCRIPTORS * GLS_DESC_SIZE)

typedef struct extents {
  uint8_t *d;                        /* 8 bytes each: length, flags */
  uint32_t n, cap;
  uint64_t next;                     /* the byte the next extent starts at */
  uint64_t end;
  int one;                           /* NBD_CMD_FLAG_REQ_ONE */
} extents;

/* Adds [next, next + len) of kind flags; merges with the last one. */
static void extent_add(extents *x, uint64_t len, uint32_t flags)
{
  if (len > x->end - x->next) len = x->end - x->next;
  if (!len) return;
  if (x->n && nbd_get32(x->d + 8 * (x->n - 1) + 4) == flags &&
      (uint64_t)nbd_get32(x->d + 8 * (x->n - 1)) + len <= UINT32_MAX) {
    nbd_put32(x->d + 8 * (x->n - 1), nbd_get32(x->d + 8 * (x->n - 1)) + (uint32_t)len);
  } else {
    if (x->n == x->cap || (x->one && x->n)) {
      x->end = x->next;                      /* full: the client asks again from here */
      return;
    }
    if (len > UINT32_MAX - (UINT32_MAX % 4096)) len = UINT32_MAX - (UINT32_MAX % 4096);
    nbd_put32(x->d + 8 * x->n, (uint32_t)len);
    nbd_put32(x->d + 8 * x->n + 4, flags);
    x->n++;
  }
  x->next += len;
}

static uint32_t state_flags(const nbd_lun_geometry *g, uint8_t status)
{
  switch (status & 0x0f) {
  case 1: return NBD_STATE_HOLE | (g->lbprz ? NBD_STATE_ZERO : 0);   /* deallocated */
  case 2: return g->lbprz ? NBD_STATE_ZERO : 0;                      /* anchored */
  default: return 0;                                                  /* mapped */
  }
}

/* GET LBA STATUS's parameter data into extents from r->offset; 0 when it
 * described nothing usable (the caller reports data). */
static int from_lba_status(nbd_req *r, const nbd_lun_geometry *g, const uint8_t *p, size_t have, extents *x)
{
  uint64_t bs = r->block_size;
  if (have < GLS_HEADER) return 0;
  uint64_t plen = nbd_get32(p);
  size_t n = have - GLS_HEADER;
  if (plen >= 4 && plen - 4 < n) n = (size_t)(plen - 4);
  n /= GLS_DESC_SIZE;
  for (size_t i = 0; i < n && x->next < x->end; i++) {
    const uint8_t *d = p + GLS_HEADER + i * GLS_DESC_SIZE;
    uint64_t lba = nbd_get64(d), count = nbd_get32(d + 8);
    if (lba > g->blocks || count > g->blocks - lba) break;          /* beyond the LUN: stop trusting it */
    uint64_t from = lba * bs, to = (lba + count) * bs;
    if (from > x->next || to <= x->next) break;                     /* must run on from where we are */
    extent_add(x, to - x->next, state_flags(g, d[12]));
  }
  return x->n > 0;
}

static void send_extents(nbd_req *r, extents *x)
{
  nbd_client *c = r->client;
  uint8_t h[NBD_CHUNK_HDR_SIZE + 4];
  nbd_put32(h, NBD_STRUCTURED_REPLY_MAGIC);
  nbd_put16(h + 4, NBD_REPLY_FLAG_DONE);
  nbd_put16(h + 6, NBD_REPLY_TYPE_BLOCK_STATUS);
  nbd_put64(h + 8, r->cookie);
  nbd_put32(h + 16, 4 + 8 * x->n);
  nbd_put32(h + 20, NBD_META_ALLOC_ID);
  c->exp->stats.requests++;
  c->exp->stats.block_status++;
  nbd_client_send(c, h, sizeof h, x->d, 8u * x->n, x->d, r);
}

static void answer(nbd_req *r, const uint8_t *p, size_t have)
{
  const nbd_lun_geometry *g = &r->client->exp->geo;
  extents x = { .cap = GLS_DESCRIPTORS + 1, .next = r->offset, .end = r->offset + r->length,
                .one = !!(r->flags & NBD_CMD_FLAG_REQ_ONE) };
  if (!(x.d = malloc(8u * x.cap))) {
    nbd_reply_error(r, NBD_ENOMEM);
    return;
  }
  if (!p || !from_lba_status(r, g, p, have, &x)) {
    x.n = 0;
    x.next = r->offset;
    extent_add(&x, r->length, 0);
  }
  send_extents(r, &x);
}

static void on_lba_status(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  nbd_req *r = arg;
  const mcsi_scsi_result *res = result;
  (void)ini;
  r->pieces_inflight = 0;
  nbd_client *c = r->client;
  if (!c) {
    nbd_req_free(r);
    return;
  }
  c->exp->stats.scsi_commands++;
  if (st) snprintf(c->exp->stats.last_error, sizeof c->exp->stats.last_error, "GET LBA STATUS: %s: %s",
                   mcsi_status_name(st) ? mcsi_status_name(st) : "?", message ? message : "");
  c->busy++;
  answer(r, st ? NULL : r->buf, st || !res ? 0 : res->data_in);
  c->busy--;
  nbd_client_settle(c);
}

void nbd_block_status(nbd_req *r)
{
  const mcsi_nbd_export *e = r->client->exp;
  uint8_t cdb[16] = { 0x9E, 0x12 };
  if (!e->geo.lbpme) {
    answer(r, NULL, 0);
    return;
  }
  if (!(r->buf = calloc(1, GLS_ALLOC))) {
    nbd_reply_error(r, NBD_ENOMEM);
    return;
  }
  nbd_put64(cdb + 2, r->offset / r->block_size);
  nbd_put32(cdb + 10, GLS_ALLOC);
  mcsi_completion done = { .done = on_lba_status, .arg = r };
  if (mcsi_scsi_submit(r->ini, r->sid, r->lun, cdb, sizeof cdb, MCSI_DIR_READ, r->buf, GLS_ALLOC, done)) {
    answer(r, NULL, 0);
    return;
  }
  r->pieces_inflight = 1;
}
