/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lun.c: what an export learns of its LUN before it listens, from the
 * engine, which learns and keeps it per session and LUN (mcsi_io_geometry:
 * READ CAPACITY(16), the Block Limits and Logical Block Provisioning VPD
 * pages). A LUN without the VPD pages has no limits we know of and no UNMAP.
 * Then READ CAPACITY(16) once more for what the engine does not keep: LBPME
 * (thin provisioned: GET LBA STATUS tells holes, block_status.c) and LBPRZ
 * (unmapped blocks read as zeroes). A LUN that refuses it is not thin.
 */
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

/* The engine's geometry as the export keeps it: UNMAP only when provisioning
 * says LBPU and the limits allow at least one block. */
static void from_engine(nbd_lun_geometry *g, const mcsi_lun_geometry *m)
{
  memset(g, 0, sizeof *g);
  g->blocks = m->blocks;
  g->block_size = m->block_size;
  g->max_transfer_blocks = m->max_transfer_blocks;
  g->opt_transfer_blocks = m->opt_transfer_blocks;
  g->max_unmap_blocks = m->max_unmap_blocks;
  g->max_unmap_descriptors = m->max_unmap_descriptors;
  g->unmap = m->unmap && m->max_unmap_blocks > 0 && m->max_unmap_descriptors > 0;
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

static void read_capacity16_cdb(uint8_t *cdb)
{
  memset(cdb, 0, 16);
  cdb[0] = 0x9E;                               /* SERVICE ACTION IN(16) */
  cdb[1] = 0x10;                               /* READ CAPACITY(16) */
  cdb[13] = 32;                                /* allocation length */
}

static void provisioning_from(nbd_lun_geometry *g, const uint8_t *d, size_t have)
{
  g->lbpme = have >= 15 && (d[14] & 0x80);
  g->lbprz = g->lbpme && (d[14] & 0x40);
}

/* ---- blocking ---- */

mcsi_status nbd_lun_probe(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_lun_geometry *geo,
                          char *err, size_t errlen)
{
  mcsi_lun_geometry m = { .struct_size = sizeof m };
  memset(geo, 0, sizeof *geo);
  mcsi_status st = mcsi_io_geometry(ini, sid, lun, &m);
  if (st) {
    nbd_set_err(err, errlen, "READ CAPACITY: %s", mcsi_last_message(ini));
    return st;
  }
  from_engine(geo, &m);
  uint8_t cdb[16], d[32] = { 0 };
  mcsi_scsi_result res = { .struct_size = sizeof res };
  read_capacity16_cdb(cdb);
  if (!mcsi_scsi_command(ini, sid, lun, cdb, sizeof cdb, MCSI_DIR_READ, d, sizeof d, &res))
    provisioning_from(geo, d, res.data_in);
  return geometry_ok(geo, err, errlen) ? ISDSC_SUCCESS : ISDSC_INVALID_PARAMETER;
}

/* ---- asynchronous ---- */

typedef struct probe {
  nbd_geometry_cb cb;
  void *arg;
  mcsi_id sid;
  uint64_t lun;
  nbd_lun_geometry geo;
  uint8_t cap[32];
} probe;

static void on_capacity16(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  probe *p = arg;
  const mcsi_scsi_result *res = result;
  (void)message;
  if (!st && res) provisioning_from(&p->geo, p->cap, res->data_in);
  p->cb(ini, ISDSC_SUCCESS, &p->geo, "", p->arg);
  free(p);
}

static void on_geometry(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  probe *p = arg;
  char err[160] = "";
  memset(&p->geo, 0, sizeof p->geo);
  if (!st && result) from_engine(&p->geo, result);
  if (!st && !geometry_ok(&p->geo, err, sizeof err)) {
    st = ISDSC_INVALID_PARAMETER;
    message = err;
  }
  if (!st) {
    uint8_t cdb[16];
    read_capacity16_cdb(cdb);
    if (!mcsi_scsi_submit(ini, p->sid, p->lun, cdb, sizeof cdb, MCSI_DIR_READ, p->cap, sizeof p->cap,
                          MCSI_COMPLETION(on_capacity16, p)))
      return;                                  /* on_capacity16 answers */
  }
  p->cb(ini, st, st ? NULL : &p->geo, message && *message ? message : "READ CAPACITY failed", p->arg);
  free(p);
}

mcsi_status nbd_lun_probe_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_geometry_cb cb, void *arg)
{
  probe *p = calloc(1, sizeof *p);
  if (!p) return ISDSC_OUT_OF_RESOURCES;
  p->cb = cb;
  p->arg = arg;
  p->sid = sid;
  p->lun = lun;
  mcsi_status st = mcsi_io_geometry_async(ini, sid, lun, MCSI_COMPLETION(on_geometry, p));
  if (st) free(p);
  return st;
}
