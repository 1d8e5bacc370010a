/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lun_geometry.c: what the engine knows of each LUN of a session (its
 * block size, size, transfer and UNMAP limits), kept per session AND LUN in
 * a list on the session's entry, learned on first use: READ CAPACITY(16),
 * then the Block Limits VPD page (0xB0; absent: no limit stated, no UNMAP),
 * then the Logical Block Provisioning page (0xB2: LBPU). Requests that come
 * while it is learned wait for it; all hear once it is known or failed.
 * A LUN RESET makes it learned again. blockio.c is its user. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "initiator.h"

#define VPD_BLOCK_LIMITS 0xB0
#define VPD_LBP 0xB2

/* ---- geometry: per session and LUN ------------------------------------------------------- */

struct mcsi_lun_geo *mcsi_lun_geo_find(mcsi_entry *e, uint64_t lun)
{
  for (mcsi_link *l = e->luns.next; l != &e->luns; l = l->next) {
    struct mcsi_lun_geo *g = MCSI_CONTAINER(l, struct mcsi_lun_geo, link);
    if (g->lun == lun) return g;
  }
  return NULL;
}

struct mcsi_lun_geo *mcsi_lun_geo_get(mcsi_entry *e, mcsi_id sid, uint64_t lun)
{
  struct mcsi_lun_geo *g = mcsi_lun_geo_find(e, lun);
  if (g || !(g = calloc(1, sizeof *g))) return g;
  g->g.struct_size = sizeof g->g;
  g->ini = e->ini;
  g->sid = sid;
  g->lun = lun;
  mcsi_list_init(&g->waiters);
  mcsi_list_push(&e->luns, &g->link);
  return g;
}

void mcsi_lun_geo_capacity(mcsi_entry *e, mcsi_id sid, uint64_t lun, uint64_t blocks, uint32_t block_size)
{
  struct mcsi_lun_geo *g = e && block_size ? mcsi_lun_geo_get(e, sid, lun) : NULL;
  if (!g) return;
  g->g.blocks = blocks;
  g->g.block_size = block_size;
  g->bs_known = 1;
}

int mcsi_lun_geo_block_size(mcsi_entry *e, uint64_t lun, uint32_t *bs)
{
  struct mcsi_lun_geo *g = mcsi_lun_geo_find(e, lun);
  if (!g || !g->bs_known) return -1;
  *bs = g->g.block_size;
  return 0;
}

void mcsi_lun_geo_forget(mcsi_entry *e, uint64_t lun)
{
  struct mcsi_lun_geo *g = mcsi_lun_geo_find(e, lun);
  if (g && g->state == GEO_KNOWN) g->state = GEO_UNKNOWN, g->bs_known = 0;
}

/* After the session's commands all ended (their callbacks ran). */
void mcsi_lun_geo_free_all(mcsi_entry *e)
{
  while (!mcsi_list_empty(&e->luns)) {
    struct mcsi_lun_geo *g = MCSI_CONTAINER(e->luns.next, struct mcsi_lun_geo, link);
    mcsi_list_del(&g->link);
    free(g);
  }
}

/* ---- learning the geometry: capacity, then 0xB0, then 0xB2 ------------------------------ */

static void learned(struct mcsi_lun_geo *g, mcsi_status st, const char *message)
{
  g->state = st ? GEO_UNKNOWN : GEO_KNOWN;
  mcsi_link waiting;
  mcsi_list_init(&waiting);
  while (!mcsi_list_empty(&g->waiters)) {     /* taken first: a callback may queue more */
    mcsi_link *l = g->waiters.next;
    mcsi_list_del(l);
    mcsi_list_push(&waiting, l);
  }
  while (!mcsi_list_empty(&waiting)) {
    mcsi_link *l = waiting.next;
    mcsi_list_del(l);
    g->ready(l, st, message);
  }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void on_lbp(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  struct mcsi_lun_geo *g = arg;
  const mcsi_inquiry *inq = result;
  (void)ini; (void)message;
  g->g.unmap = !st && inq && inq->len > 5 && inq->data[1] == VPD_LBP && (inq->data[5] & 0x80);
  learned(g, ISDSC_SUCCESS, NULL);
}

static void on_block_limits(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  struct mcsi_lun_geo *g = arg;
  const mcsi_inquiry *inq = result;
  (void)ini; (void)message;
  if (!st && inq && inq->len >= 28 && inq->data[1] == VPD_BLOCK_LIMITS) {
    g->g.max_transfer_blocks = be32(inq->data + 8);
    g->g.opt_transfer_blocks = be32(inq->data + 12);
    g->g.max_unmap_blocks = be32(inq->data + 20);
    g->g.max_unmap_descriptors = be32(inq->data + 24);
  }                                            /* no page: no limit stated, no UNMAP */
  if (mcsi_scsi_inquiry_async(g->ini, g->sid, g->lun, VPD_LBP, MCSI_COMPLETION(on_lbp, g))) on_lbp(g->ini, 1, NULL, NULL, g);
}

static void on_capacity(mcsi_initiator *ini, mcsi_status st, const char *message, const void *result, void *arg)
{
  struct mcsi_lun_geo *g = arg;
  const mcsi_capacity *cap = result;
  (void)ini;
  uint32_t bs = cap ? cap->block_size : 0;
  if (!st && (bs < 512 || bs > 65536 || (bs & (bs - 1))))
    st = ISDSC_SCSI_REQUEST_FAILED, message = "READ CAPACITY(16) gave a block size outside 512..65536 or not a power of 2";
  if (!st && !cap->blocks) st = ISDSC_SCSI_REQUEST_FAILED, message = "the LUN has no blocks";
  if (st) {
    learned(g, st, message);
    return;
  }
  memset(&g->g, 0, sizeof g->g);
  g->g.struct_size = sizeof g->g;
  g->g.blocks = cap->blocks;
  g->g.block_size = bs;
  g->bs_known = 1;
  if (mcsi_scsi_inquiry_async(g->ini, g->sid, g->lun, VPD_BLOCK_LIMITS, MCSI_COMPLETION(on_block_limits, g)))
    on_block_limits(g->ini, 1, NULL, NULL, g);
}

mcsi_status mcsi_lun_geo_wait(struct mcsi_lun_geo *g, mcsi_link *waiter, mcsi_geo_ready_fn ready)
{
  g->ready = ready;
  mcsi_list_push(&g->waiters, waiter);
  if (g->state == GEO_LEARNING) return ISDSC_SUCCESS;
  g->state = GEO_LEARNING;
  mcsi_status st = mcsi_scsi_read_capacity_async(g->ini, g->sid, g->lun, MCSI_COMPLETION(on_capacity, g));
  if (st) {
    g->state = GEO_UNKNOWN;
    mcsi_list_del(waiter);
  }
  return st;
}
