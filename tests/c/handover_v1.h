/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover_v1.h: a handed session written in the blob format mcsi 0.3.0
 * wrote (version 1: no ids, no counters), for the tests that check a
 * successor still reads it (an upgrade from 0.3.0 hands over too).
 * test_unit_handover.c checks that this writer gives, byte for byte, the
 * blob 0.3.0's own writer made (tests/fuzz/corpus/handover/version-1). */
#ifndef MCSI_TEST_HANDOVER_V1_H
#define MCSI_TEST_HANDOVER_V1_H
#include <stdlib.h>
#include <string.h>
#include "digest.h"
#include "handover.h"

typedef struct v1_buf { uint8_t p[MCSI_HANDOVER_BLOB_MAX]; size_t len; } v1_buf;

static void v1_put(v1_buf *w, const void *src, size_t n)
{
  if (w->len + n > sizeof w->p) abort();
  memcpy(w->p + w->len, src, n);
  w->len += n;
}
static void v1_u8(v1_buf *w, uint8_t v) { v1_put(w, &v, 1); }
static void v1_u16(v1_buf *w, uint16_t v) { v1_u8(w, (uint8_t)(v >> 8)), v1_u8(w, (uint8_t)v); }
static void v1_u32(v1_buf *w, uint32_t v) { v1_u16(w, (uint16_t)(v >> 16)), v1_u16(w, (uint16_t)v); }
static void v1_str(v1_buf *w, const char *s) { v1_u16(w, (uint16_t)strlen(s)), v1_put(w, s, strlen(s)); }
static void v1_params(v1_buf *w, const mcsi_params *p)
{
  const uint32_t *v = (const uint32_t *)p;
  size_t n = sizeof *p / sizeof(uint32_t);
  v1_u32(w, (uint32_t)n);
  for (size_t i = 0; i < n; i++) v1_u32(w, v[i]);
}
static void v1_conn(v1_buf *w, const mcsi_handover_conn *c)
{
  v1_u16(w, c->cid);
  v1_u8(w, c->leading), v1_u8(w, c->active), v1_u8(w, c->primary);
  v1_u32(w, c->weight), v1_u32(w, c->exp_statsn), v1_u32(w, c->fd_index);
  v1_params(w, &c->params);
  v1_str(w, c->portal);
  v1_u32(w, c->rx_len);
  v1_put(w, c->rx, c->rx_len);
}

/* s as version 1 into *w (a large buffer: allocate it). */
static void handover_encode_v1(const mcsi_handover_session *s, v1_buf *w)
{
  w->len = 0;
  v1_put(w, MCSI_HANDOVER_MAGIC, 8);
  v1_u32(w, 1);
  v1_put(w, s->isid, 6);
  v1_u16(w, s->tsih), v1_u16(w, s->tpgt), v1_u8(w, s->tpgt_known);
  v1_str(w, s->target), v1_str(w, s->target_alias);
  v1_params(w, &s->params);
  v1_u32(w, s->cmdsn), v1_u32(w, s->exp_cmdsn), v1_u32(w, s->max_cmdsn), v1_u32(w, s->next_itt);
  v1_u16(w, s->next_cid);
  v1_u32(w, s->policy), v1_u32(w, s->nconns);
  for (uint32_t i = 0; i < s->nconns; i++) v1_conn(w, &s->conns[i]);
  v1_u32(w, mcsi_crc32c(w->p, w->len));
}
#endif
