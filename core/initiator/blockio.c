/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* blockio.c: block I/O with byte offsets and flags (mcsi_io_*), the
 * engine's I/O policy in one place for every face:
 *  - a request waits for its LUN's geometry (lun_geometry.c: learned on
 *    first use, kept per session AND LUN) and is checked against it;
 *  - splitting: a request becomes pieces of at most the LUN's maximum
 *    transfer length (and MCSI_IO_MAX_PIECE, or the caller's lower limit),
 *    at most MCSI_IO_WINDOW of them in flight at once, sent in order and
 *    finishing in any; the request is answered once, with the first
 *    failure's Status and message;
 *  - the CDBs of block I/O: READ(16)/WRITE(16) with FUA/DPO, SYNCHRONIZE
 *    CACHE(16), UNMAP, WRITE SAME(16) (WRITE(16) of zeroes on a LUN that
 *    refuses it), built here and nowhere else.
 * Retries are not here: every command meets the one rule of core/scsi/retry.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

#define ZEROES_MAX (1u << 20)                 /* the WRITE(16)-of-zeroes fallback's buffer */
#define MAX_BLOCKS_PER_CDB 0xFFFFFFFFu

static const uint8_t zeroes[ZEROES_MAX];

enum io_kind { IO_READ, IO_WRITE, IO_FLUSH, IO_UNMAP, IO_ZEROES, IO_GEOMETRY };
static const char *const kind_names[] = { "read", "write", "flush", "unmap", "write zeroes", "geometry" };
typedef struct io_req {
  mcsi_link link;                             /* in a geometry's waiters while it waits */
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  enum io_kind kind;
  uint64_t offset, len;
  uint8_t *buf;
  uint32_t flags;
  mcsi_completion c;
  struct mcsi_lun_geo *geo;                   /* lives as long as the entry: after its commands */
  uint64_t next;                              /* bytes given to pieces so far */
  uint64_t piece_max;                         /* bytes per command (0: one command, a flush of all) */
  unsigned inflight;
  int started;                                /* a piece went out (count one even for len 0) */
  mcsi_status st;                             /* the first failure */
  char message[MCSI_MSG_MAX];
  mcsi_io_result res;
} io_req;

typedef struct io_piece {
  io_req *r;
  uint64_t off;                               /* relative to the request */
  uint64_t len;
  int fallback;                               /* zeroes as WRITE(16) */
  uint8_t cdb[16];
  uint8_t param[24];                          /* UNMAP parameter list */
} io_piece;

/* ---- CDBs ------------------------------------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* READ(16) 0x88, WRITE(16) 0x8A, SYNCHRONIZE CACHE(16) 0x91, WRITE SAME(16) 0x93:
 * LBA in bytes 2..9, blocks in 10..13; byte 1: DPO 0x10, FUA 0x08. */
static void cdb16(uint8_t *cdb, uint8_t op, uint32_t flags, uint64_t lba, uint32_t blocks)
{
  memset(cdb, 0, 16);
  cdb[0] = op;
  if (op == 0x88 || op == 0x8A)
    cdb[1] = (uint8_t)((flags & MCSI_IO_DPO ? 0x10 : 0) | (flags & MCSI_IO_FUA ? 0x08 : 0));
  put_be(cdb + 2, lba, 8);
  put_be(cdb + 10, blocks, 4);
}

/* UNMAP(10) 0x42 with one block descriptor (none for 0 blocks). */
static size_t unmap_cdb(uint8_t *cdb, uint8_t *param, uint64_t lba, uint32_t blocks)
{
  size_t len = blocks ? 24 : 8;
  memset(cdb, 0, 16);
  memset(param, 0, 24);
  cdb[0] = 0x42;
  put_be(cdb + 7, len, 2);
  put_be(param, len - 2, 2);                  /* UNMAP data length */
  put_be(param + 2, len - 8, 2);              /* block descriptor data length */
  if (blocks) {
    put_be(param + 8, lba, 8);
    put_be(param + 16, blocks, 4);
  }
  return len;
}

/* ---- answering a request once --------------------------------------------------------------- */

static void req_free(io_req *r)
{
  if (r->c.free) r->c.free(r->c.arg);
  free(r);
}

static void req_answer(io_req *r)
{
  const char *msg = r->st ? r->message : "Success";
  if (r->kind == IO_GEOMETRY) r->c.done(r->ini, r->st, msg, r->st ? NULL : &r->geo->g, r->c.arg);
  else r->c.done(r->ini, r->st, msg, &r->res, r->c.arg);
  req_free(r);
}

/* The first failure stays; st's message was formatted into m. */
static void req_failed(io_req *r, mcsi_status st, const char *m)
{
  if (r->st) return;
  r->st = st;
  snprintf(r->message, sizeof r->message, "%s", m && *m ? m : mcsi_status_message(st));
}

/* ---- pieces -------------------------------------------------------------------------------- */

static mcsi_status piece_send(io_piece *p);
static void issue_more(io_req *r);

static uint64_t lba_of(const io_req *r, const io_piece *p) { return (r->offset + p->off) / r->geo->g.block_size; }

static int refused_write_same(const mcsi_scsi_result *res)
{
  return res && res->scsi_status == 2 && (res->sense_key & 0x0f) == 5 && (res->asc == 0x20 || res->asc == 0x24);
}

static void piece_done(mcsi_status st, const mcsi_scsi_result *res, void *arg)
{
  io_piece *p = arg;
  io_req *r = p->r;
  if (res) r->res.retries += res->retries;
  if (st && r->kind == IO_ZEROES && !p->fallback && refused_write_same(res)) {
    r->geo->no_write_same = 1;               /* this LUN: WRITE(16)s of zeroes from now on */
    p->fallback = 1;
    if (piece_send(p) == ISDSC_SUCCESS) return;
    st = ISDSC_SCSI_REQUEST_FAILED;
  }
  if (!st && r->kind == IO_READ && res && res->data_in < p->len) {
    char m[MCSI_MSG_MAX];
    snprintf(m, sizeof m, "short read: %zu of %llu bytes at offset %llu", res->data_in,
             (unsigned long long)p->len, (unsigned long long)(r->offset + p->off));
    req_failed(r, ISDSC_SCSI_REQUEST_FAILED, m);
  } else if (st) {
    if (!r->st && res) {
      r->res.scsi_status = res->scsi_status;
      r->res.sense_key = res->sense_key;
      r->res.asc = res->asc;
      r->res.ascq = res->ascq;
    }
    req_failed(r, st, res ? res->message : NULL);
  } else {
    r->res.bytes += p->len;
  }
  free(p);
  r->inflight--;
  issue_more(r);
  if (!r->inflight) req_answer(r);
}

/* The piece's command, as its request's kind says. */
static mcsi_status piece_send(io_piece *p)
{
  io_req *r = p->r;
  uint32_t bs = r->geo->g.block_size, blocks = (uint32_t)(p->len / bs);
  uint64_t lba = lba_of(r, p);
  int dir = MCSI_DIR_NONE;
  void *buf = NULL;
  size_t len = 0;
  switch (r->kind) {
  case IO_READ: cdb16(p->cdb, 0x88, r->flags, lba, blocks); dir = MCSI_DIR_READ; buf = p->len ? r->buf + p->off : NULL; len = p->len; break;
  case IO_WRITE: cdb16(p->cdb, 0x8A, r->flags, lba, blocks); dir = MCSI_DIR_WRITE; buf = p->len ? r->buf + p->off : NULL; len = p->len; break;
  case IO_FLUSH: cdb16(p->cdb, 0x91, 0, lba, blocks); break;
  case IO_UNMAP: len = unmap_cdb(p->cdb, p->param, lba, blocks); dir = MCSI_DIR_WRITE; buf = p->param; break;
  case IO_ZEROES:
    dir = MCSI_DIR_WRITE;
    buf = (void *)(uintptr_t)zeroes;
    if (p->fallback || !blocks) {             /* WRITE SAME of 0 blocks would mean "to the end" */
      cdb16(p->cdb, 0x8A, r->flags, lba, blocks);
      len = p->len;
    } else {
      cdb16(p->cdb, 0x93, 0, lba, blocks);
      len = bs;
    }
    break;
  default: return ISDSC_INVALID_PARAMETER;
  }
  r->res.commands++;
  return mcsi_scsi_submit_cb(r->ini, r->sid, r->lun, p->cdb, 16, dir, buf, len, piece_done, p, NULL);
}

/* Bytes of the next piece: the whole rest for a flush of the whole LUN. */
static uint64_t next_len(const io_req *r)
{
  uint64_t left = r->len - r->next;
  return left < r->piece_max ? left : r->piece_max;
}

/* Sends the request's next pieces, up to the window; stops at the first failure. */
static void issue_more(io_req *r)
{
  while ((r->next < r->len || !r->started) && r->inflight < MCSI_IO_WINDOW && !r->st) {
    io_piece *p = calloc(1, sizeof *p);
    if (!p) {
      req_failed(r, ISDSC_OUT_OF_RESOURCES, "out of memory");
      break;
    }
    p->r = r;
    p->off = r->next;
    p->len = next_len(r);
    p->fallback = r->kind == IO_ZEROES && r->geo->no_write_same;
    r->started = 1;
    if (piece_send(p) != ISDSC_SUCCESS) {
      req_failed(r, ISDSC_SCSI_REQUEST_FAILED, mcsi_last_message(r->ini));
      free(p);
      break;
    }
    r->next += p->len;
    r->inflight++;
  }
}

/* Bytes per command for a request of this kind on this LUN. */
static uint64_t piece_max(const io_req *r)
{
  const struct mcsi_lun_geo *g = r->geo;
  uint64_t bs = g->g.block_size, m = g->limit ? g->limit : MCSI_IO_MAX_PIECE;
  if (r->kind == IO_FLUSH) return MAX_BLOCKS_PER_CDB * bs;
  if (r->kind == IO_UNMAP) return (uint64_t)g->g.max_unmap_blocks * bs;
  if (g->g.max_transfer_blocks && g->g.max_transfer_blocks * bs < m) m = g->g.max_transfer_blocks * bs;
  if (r->kind == IO_ZEROES && m > ZEROES_MAX) m = ZEROES_MAX;
  m -= m % bs;
  return m ? m : bs;
}

/* Checks the request against the LUN's geometry: 0, or a Status with r->message.
 * The range is the target's to check (a LUN may grow): its sense comes back. */
static mcsi_status req_check(io_req *r)
{
  const mcsi_lun_geometry *g = &r->geo->g;
  if (r->offset % g->block_size || r->len % g->block_size)
    return mcsi_msg(r->message, ISDSC_INVALID_PARAMETER, "%s of %llu bytes at offset %llu: not whole %u-byte blocks"
                    " of LUN %llu", kind_names[r->kind], (unsigned long long)r->len,
                    (unsigned long long)r->offset, g->block_size, (unsigned long long)r->lun);
  if (r->kind == IO_UNMAP && !(g->unmap && g->max_unmap_blocks && g->max_unmap_descriptors))
    return mcsi_msg(r->message, ISDSC_REQUEST_NOT_SUPPORTED, "LUN %llu offers no UNMAP (Block Limits and Logical"
                    " Block Provisioning VPD pages)", (unsigned long long)r->lun);
  return ISDSC_SUCCESS;
}

/* The geometry is known: the request's commands go out. 0, or a Status
 * with r->message (nothing sent). */
static mcsi_status req_start(io_req *r)
{
  if (r->kind == IO_GEOMETRY) return ISDSC_SUCCESS;
  mcsi_status st = req_check(r);
  if (st) return st;
  r->piece_max = piece_max(r);
  if (r->kind == IO_FLUSH && r->len == 0 && r->offset == 0) r->piece_max = 0;   /* LBA 0, 0 blocks: all */
  issue_more(r);
  if (r->inflight) return ISDSC_SUCCESS;
  return r->st ? r->st : ISDSC_SCSI_REQUEST_FAILED;
}

/* ---- waiting for the geometry (lun_geometry.c) ---------------------------------------------- */

static void geometry_ready(mcsi_link *waiter, mcsi_status st, const char *message)
{
  io_req *r = MCSI_CONTAINER(waiter, io_req, link);
  mcsi_status rst = st;
  if (st) snprintf(r->message, sizeof r->message, "learning the geometry of LUN %llu: %s",
                   (unsigned long long)r->lun, message && *message ? message : mcsi_status_message(st));
  else rst = req_start(r);
  if (rst || r->kind == IO_GEOMETRY) {
    r->st = rst;
    req_answer(r);
  }
}

static mcsi_status wait_geometry(io_req *r)
{
  mcsi_status st = mcsi_lun_geo_wait(r->geo, &r->link, geometry_ready);
  if (st) snprintf(r->message, sizeof r->message, "%s", mcsi_last_message(r->ini));
  return st;
}

/* ---- the calls ------------------------------------------------------------------------------- */

/* A geometry already known is answered from the loop, never from inside the call. */
static void answer_op(mcsi_initiator *ini, const mcsi_result *res, void *arg)
{
  (void)ini;
  (void)res;
  req_answer(arg);
}

static void forget_op(void *arg) { req_free(arg); }

static mcsi_status answer_later(io_req *r)
{
  mcsi_op *op = mcsi_op_new(r->ini, answer_op, r);
  if (!op) return mcsi_msg(r->message, ISDSC_OUT_OF_RESOURCES, "out of memory");
  op->forget = forget_op;
  mcsi_op_finish_later(op, ISDSC_SUCCESS, "Success");
  return ISDSC_SUCCESS;
}

/* free runs once whatever happens: here when the call fails. */
static mcsi_status refuse(mcsi_initiator *ini, mcsi_completion c, mcsi_status st, const char *msg)
{
  if (c.free) c.free(c.arg);
  return ini ? mcsi_fail_msg(ini, st, msg) : st;
}

static mcsi_status io_start(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, enum io_kind kind, uint64_t offset,
                            void *buf, uint64_t len, uint32_t flags, mcsi_completion c)
{
  char m[MCSI_MSG_MAX];
  mcsi_entry *e = NULL;
  if (!ini) return refuse(NULL, c, ISDSC_INVALID_PARAMETER, NULL);
  if (!c.done) return refuse(ini, c, ISDSC_INVALID_PARAMETER, "no completion callback");
  if (flags & ~(uint32_t)(MCSI_IO_FUA | MCSI_IO_DPO))
    return refuse(ini, c, ISDSC_INVALID_PARAMETER, "unknown I/O flags (MCSI_IO_FUA, MCSI_IO_DPO only)");
  if ((kind == IO_READ || kind == IO_WRITE) && len && !buf) return refuse(ini, c, ISDSC_INVALID_PARAMETER, "no buffer");
  if (lun > 16383) return refuse(ini, c, ISDSC_INVALID_PARAMETER, "LUN out of range (0..16383)");
  if (offset + len < offset) return refuse(ini, c, ISDSC_INVALID_PARAMETER, "offset + length overflows");
  mcsi_status st = mcsi_entry_ready(ini, sid, 1, &e);
  if (st) {
    snprintf(m, sizeof m, "%s", mcsi_last_message(ini));
    return refuse(ini, c, st, m);
  }
  io_req *r = calloc(1, sizeof *r);
  struct mcsi_lun_geo *g = r ? mcsi_lun_geo_get(e, sid, lun) : NULL;
  if (!g) {
    free(r);
    return refuse(ini, c, ISDSC_OUT_OF_RESOURCES, "out of memory");
  }
  *r = (io_req){ .ini = ini, .sid = sid, .lun = lun, .kind = kind, .offset = offset, .len = len, .buf = buf,
                 .flags = flags, .c = c, .geo = g, .res = { .struct_size = sizeof(mcsi_io_result) } };
  mcsi_list_init(&r->link);
  if (kind == IO_GEOMETRY && g->state == GEO_KNOWN) st = answer_later(r);
  else st = g->state == GEO_KNOWN ? req_start(r) : wait_geometry(r);
  if (!st) return mcsi_ok(ini);
  snprintf(m, sizeof m, "%s", r->message);
  free(r);
  return refuse(ini, c, st, m);
}

mcsi_status mcsi_io_read(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf, size_t len,
                         uint32_t flags, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_READ, offset, buf, len, flags, c);
}

mcsi_status mcsi_io_write(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf,
                          size_t len, uint32_t flags, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_WRITE, offset, (void *)(uintptr_t)buf, len, flags, c);
}

mcsi_status mcsi_io_flush(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len,
                          uint32_t flags, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_FLUSH, offset, NULL, len, flags, c);
}

mcsi_status mcsi_io_unmap(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len,
                          uint32_t flags, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_UNMAP, offset, NULL, len, flags, c);
}

mcsi_status mcsi_io_write_zeroes(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, uint64_t len,
                                 uint32_t flags, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_ZEROES, offset, NULL, len, flags, c);
}

mcsi_status mcsi_io_geometry_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_completion c)
{
  return io_start(ini, sid, lun, IO_GEOMETRY, 0, NULL, 0, 0, c);
}

mcsi_status mcsi_io_limit_transfer(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint32_t max_bytes)
{
  mcsi_entry *e = ini ? mcsi_entry_find(ini, sid) : NULL;
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (!e) return mcsi_fail(ini, ISDSC_INVALID_SESSION_ID, "no session 0x%016llx", (unsigned long long)sid);
  struct mcsi_lun_geo *g = lun <= 16383 ? mcsi_lun_geo_get(e, sid, lun) : NULL;
  if (!g) return mcsi_fail(ini, lun > 16383 ? ISDSC_INVALID_PARAMETER : ISDSC_OUT_OF_RESOURCES, "bad LUN or out of memory");
  g->limit = max_bytes;
  return mcsi_ok(ini);
}

/* ---- blocking forms: the one wait helper ------------------------------------------------------ */

typedef struct io_wait {
  mcsi_wait w;
  mcsi_io_result *res;
  mcsi_lun_geometry *geo;
} io_wait;

static void io_wake(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  io_wait *w = arg;
  mcsi_result r = { .status = st, .message = message };
  (void)ini;
  if (result && w->res) *w->res = *(const mcsi_io_result *)result;
  if (result && w->geo) *w->geo = *(const mcsi_lun_geometry *)result;
  mcsi_wait_wake(NULL, &r, &w->w);
}

static mcsi_status io_wait_for(mcsi_initiator *ini, io_wait *w, mcsi_status st)
{
  return st ? st : mcsi_wait_for(ini, &w->w);
}

mcsi_status mcsi_io_geometry(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, mcsi_lun_geometry *out)
{
  mcsi_lun_geometry g = { .struct_size = sizeof g };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_sized_check(ini, out, MCSI_SIZED_FIRST(mcsi_lun_geometry, unmap), "mcsi_lun_geometry");
  if (st) return st;
  io_wait w = { .geo = &g };
  mcsi_completion c = { .done = io_wake, .arg = &w };
  st = io_wait_for(ini, &w, mcsi_io_geometry_async(ini, sid, lun, c));
  if (out) mcsi_sized_copy(out, &g, sizeof g);
  return st;
}

/* pread / pwrite: the request's result lands in r, then as much as fits in res. */
static mcsi_status io_blocking(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf,
                               size_t len, uint32_t flags, mcsi_io_result *res, int write)
{
  mcsi_io_result r = { .struct_size = sizeof r };
  if (!ini) return ISDSC_INVALID_PARAMETER;
  if (mcsi_in_callback(ini)) return mcsi_blocking_refused(ini);
  mcsi_status st = mcsi_sized_check(ini, res, MCSI_SIZED_FIRST(mcsi_io_result, ascq), "mcsi_io_result");
  if (st) return st;
  io_wait w = { .res = &r };
  mcsi_completion c = { .done = io_wake, .arg = &w };
  st = io_wait_for(ini, &w, write ? mcsi_io_write(ini, sid, lun, offset, buf, len, flags, c)
                                  : mcsi_io_read(ini, sid, lun, offset, buf, len, flags, c));
  if (res) mcsi_sized_copy(res, &r, sizeof r);
  return st;
}

mcsi_status mcsi_pread(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, void *buf, size_t len,
                       uint32_t flags, mcsi_io_result *res)
{
  return io_blocking(ini, sid, lun, offset, buf, len, flags, res, 0);
}

mcsi_status mcsi_pwrite(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, uint64_t offset, const void *buf,
                        size_t len, uint32_t flags, mcsi_io_result *res)
{
  return io_blocking(ini, sid, lun, offset, (void *)(uintptr_t)buf, len, flags, res, 1);
}
