/*
 * lun.c: what an export learns of its LUN before it listens: READ
 * CAPACITY(16) (size, block size), the Block Limits VPD page (0xB0: the
 * largest transfer, the UNMAP limits) and the Logical Block Provisioning VPD
 * page (0xB2: LBPU, whether UNMAP is supported). A LUN without the VPD pages
 * has no limits we know of and no UNMAP.
 */
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

#define VPD_BLOCK_LIMITS 0xB0
#define VPD_LBP          0xB2

static uint32_t be32(const uint8_t *p) { return nbd_get32(p); }

static void parse_block_limits(nbd_lun_geometry *g, const mcsi_inquiry *inq)
{
  if (!inq || inq->len < 28 || inq->data[1] != VPD_BLOCK_LIMITS) return;
  g->max_transfer_blocks = be32(inq->data + 8);
  g->opt_transfer_blocks = be32(inq->data + 12);
  g->max_unmap_blocks = be32(inq->data + 20);
  g->max_unmap_descriptors = be32(inq->data + 24);
}

/* UNMAP only when provisioning says LBPU and the limits allow at least one block. */
static void parse_lbp(nbd_lun_geometry *g, const mcsi_inquiry *inq)
{
  int lbpu = inq && inq->len > 5 && inq->data[1] == VPD_LBP && (inq->data[5] & 0x80);
  g->unmap = lbpu && g->max_unmap_blocks > 0 && g->max_unmap_descriptors > 0;
}

static int geometry_ok(const nbd_lun_geometry *g, char *err, size_t errlen)
{
  if (g->block_size < 512 || g->block_size > 65536 || (g->block_size & (g->block_size - 1))) {
    nbd_set_err(err, errlen, "unsupported block size %u", g->block_size);
    return 0;
  }
  if (!g->blocks) {
    nbd_set_err(err, errlen, "the LUN has no blocks");
    return 0;
  }
  return 1;
}

/* ---- blocking ---- */

mcsi_status nbd_lun_probe(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_lun_geometry *geo,
                          char *err, size_t errlen)
{
  mcsi_capacity cap;
  memset(geo, 0, sizeof *geo);
  mcsi_status st = mcsi_scsi_read_capacity(ini, sid, lun, &cap);
  if (st) {
    nbd_set_err(err, errlen, "READ CAPACITY: %s", mcsi_last_message(ini));
    return st;
  }
  geo->blocks = cap.blocks;
  geo->block_size = cap.block_size;
  mcsi_inquiry inq;
  if (mcsi_scsi_inquiry(ini, sid, lun, VPD_BLOCK_LIMITS, &inq) == ISDSC_SUCCESS) parse_block_limits(geo, &inq);
  parse_lbp(geo, mcsi_scsi_inquiry(ini, sid, lun, VPD_LBP, &inq) == ISDSC_SUCCESS ? &inq : NULL);
  return geometry_ok(geo, err, errlen) ? ISDSC_SUCCESS : ISDSC_INVALID_PARAMETER;
}

/* ---- asynchronous: capacity, then 0xB0, then 0xB2 ---- */

typedef struct probe {
  mcsi_initiator *ini;
  mcsi_id sid;
  uint64_t lun;
  nbd_lun_geometry geo;
  nbd_geometry_cb cb;
  void *arg;
} probe;

static void probe_end(probe *p, mcsi_status st, const char *msg)
{
  char err[160] = "";
  if (!st && !geometry_ok(&p->geo, err, sizeof err)) {
    st = ISDSC_INVALID_PARAMETER;
    msg = err;
  }
  p->cb(p->ini, st, st ? NULL : &p->geo, msg, p->arg);
  free(p);
}

static void on_lbp(mcsi_status st, const char *message, const mcsi_inquiry *inq, void *arg)
{
  (void)message;
  probe *p = arg;
  parse_lbp(&p->geo, st ? NULL : inq);
  probe_end(p, ISDSC_SUCCESS, "");
}

static void on_block_limits(mcsi_status st, const char *message, const mcsi_inquiry *inq, void *arg)
{
  (void)message;
  probe *p = arg;
  if (!st) parse_block_limits(&p->geo, inq);
  if (mcsi_scsi_inquiry_async(p->ini, p->sid, p->lun, VPD_LBP, on_lbp, p)) probe_end(p, ISDSC_SUCCESS, "");
}

static void on_capacity(mcsi_status st, const char *message, const mcsi_capacity *cap, void *arg)
{
  probe *p = arg;
  if (st || !cap) {
    probe_end(p, st ? st : ISDSC_SCSI_REQUEST_FAILED, message && *message ? message : "READ CAPACITY failed");
    return;
  }
  p->geo.blocks = cap->blocks;
  p->geo.block_size = cap->block_size;
  if (mcsi_scsi_inquiry_async(p->ini, p->sid, p->lun, VPD_BLOCK_LIMITS, on_block_limits, p))
    probe_end(p, ISDSC_SUCCESS, "");
}

mcsi_status nbd_lun_probe_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_geometry_cb cb, void *arg)
{
  probe *p = calloc(1, sizeof *p);
  if (!p) return ISDSC_OUT_OF_RESOURCES;
  *p = (probe){ .ini = ini, .sid = sid, .lun = lun, .cb = cb, .arg = arg };
  mcsi_status st = mcsi_scsi_read_capacity_async(ini, sid, lun, on_capacity, p);
  if (st) free(p);
  return st;
}
