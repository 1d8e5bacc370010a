/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lun.c: what an export learns of its LUN before it listens, from the
 * engine, which learns and keeps it per session and LUN (mcsi_io_geometry:
 * READ CAPACITY(16), the Block Limits and Logical Block Provisioning VPD
 * pages). A LUN without the VPD pages has no limits we know of and no UNMAP.
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
  return geometry_ok(geo, err, errlen) ? ISDSC_SUCCESS : ISDSC_INVALID_PARAMETER;
}

/* ---- asynchronous ---- */

typedef struct probe {
  nbd_geometry_cb cb;
  void *arg;
} probe;

static void on_geometry(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  probe *p = arg;
  nbd_lun_geometry geo;
  char err[160] = "";
  memset(&geo, 0, sizeof geo);
  if (!st && result) from_engine(&geo, result);
  if (!st && !geometry_ok(&geo, err, sizeof err)) {
    st = ISDSC_INVALID_PARAMETER;
    message = err;
  }
  p->cb(ini, st, st ? NULL : &geo, message && *message ? message : "READ CAPACITY failed", p->arg);
}

mcsi_status nbd_lun_probe_async(mcsi_initiator *ini, mcsi_id sid, uint64_t lun, nbd_geometry_cb cb, void *arg)
{
  probe *p = calloc(1, sizeof *p);
  if (!p) return ISDSC_OUT_OF_RESOURCES;
  *p = (probe){ .cb = cb, .arg = arg };
  mcsi_completion c = { .done = on_geometry, .free = free, .arg = p };
  return mcsi_io_geometry_async(ini, sid, lun, c);
}
