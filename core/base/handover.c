/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.c: the binary form of a handed session (handover.h). Big-endian
 * fields in a fixed order after an 8-byte magic and a version; strings as
 * a 16-bit length and their bytes; a CRC32C of everything before it last.
 * The reader checks every length, count, index and number it takes. */
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "digest.h"
#include "handover.h"
#include "pdu.h"

#define NPARAMS (sizeof(mcsi_params) / sizeof(uint32_t))

/* ---- writing ------------------------------------------------------------------------ */

typedef struct wbuf { uint8_t *p; size_t len, cap; int oom; } wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
  if (w->oom) return;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + n) cap *= 2;
    uint8_t *np = realloc(w->p, cap);
    if (!np) {
      w->oom = 1;
      return;
    }
    w->p = np;
    w->cap = cap;
  }
  memcpy(w->p + w->len, src, n);
  w->len += n;
}

static void put_u8(wbuf *w, uint8_t v) { put(w, &v, 1); }
static void put_u16(wbuf *w, uint16_t v) { uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v }; put(w, b, 2); }
static void put_u32(wbuf *w, uint32_t v)
{
  uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
  put(w, b, 4);
}
static void put_u64(wbuf *w, uint64_t v)
{
  put_u32(w, (uint32_t)(v >> 32));
  put_u32(w, (uint32_t)v);
}
static void put_str(wbuf *w, const char *s)
{
  size_t n = strlen(s);
  put_u16(w, (uint16_t)n);
  put(w, s, n);
}
static void put_params(wbuf *w, const mcsi_params *p)
{
  const uint32_t *v = (const uint32_t *)p;
  put_u32(w, (uint32_t)NPARAMS);
  for (size_t i = 0; i < NPARAMS; i++) put_u32(w, v[i]);
}

static void put_u64s(wbuf *w, const uint64_t *v, size_t n)
{
  put_u32(w, (uint32_t)n);
  for (size_t i = 0; i < n; i++) put_u64(w, v[i]);
}

/* A connection's counters: the transport's, its own, the latency histogram (counted, then each). */
static void put_counters(wbuf *w, const mcsi_handover_conn *c)
{
  const mcsi_conn_stats *t = &c->stats;
  const uint64_t v[] = { t->bytes_sent, t->bytes_received, t->pdus_sent, t->pdus_received, t->commands,
                         t->digest_errors, t->timeout_errors, t->format_errors, c->commands, c->format_errors,
                         c->timeout_errors, c->latency.sum_us };
  put_u64s(w, v, sizeof v / sizeof v[0]);
  put_u64s(w, c->latency.bucket, MCSI_LATENCY_BUCKETS);
}

static void put_conn(wbuf *w, const mcsi_handover_conn *c)
{
  put_u64(w, c->id);
  put_u16(w, c->cid);
  put_u8(w, c->leading);
  put_u8(w, c->active);
  put_u8(w, c->primary);
  put_u32(w, c->weight);
  put_u32(w, c->exp_statsn);
  put_u32(w, c->fd_index);
  put_params(w, &c->params);
  put_str(w, c->portal);
  put_counters(w, c);
  put_u32(w, c->rx_len);
  put(w, c->rx, c->rx_len);
}

int mcsi_handover_encode(const mcsi_handover_session *s, uint8_t **out, size_t *len)
{
  wbuf w = { 0 };
  put(&w, MCSI_HANDOVER_MAGIC, 8);
  put_u32(&w, MCSI_HANDOVER_VERSION);
  put_u64(&w, s->id);
  put(&w, s->isid, 6);
  put_u16(&w, s->tsih);
  put_u16(&w, s->tpgt);
  put_u8(&w, s->tpgt_known);
  put_str(&w, s->target);
  put_str(&w, s->target_alias);
  put_params(&w, &s->params);
  put_u32(&w, s->cmdsn);
  put_u32(&w, s->exp_cmdsn);
  put_u32(&w, s->max_cmdsn);
  put_u32(&w, s->next_itt);
  put_u16(&w, s->next_cid);
  put_u32(&w, s->policy);
  put_u64(&w, s->commands_retried);
  put_u32(&w, s->recoveries);
  put_u32(&w, s->nconns);
  for (uint32_t i = 0; i < s->nconns && i < MCSI_HANDOVER_MAX_CONNS; i++) put_conn(&w, &s->conns[i]);
  if (!w.oom) put_u32(&w, mcsi_crc32c(w.p, w.len));
  if (w.oom) {
    free(w.p);
    return -1;
  }
  *out = w.p;
  *len = w.len;
  return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

typedef struct rbuf { const uint8_t *p; size_t len, pos; char *msg; const char *bad; uint32_t version; } rbuf;

/* n bytes, or NULL (the first shortfall names what was cut). */
static const uint8_t *take(rbuf *r, size_t n, const char *what)
{
  if (r->bad) return NULL;
  if (r->len - r->pos < n) {
    r->bad = what;
    return NULL;
  }
  const uint8_t *at = r->p + r->pos;
  r->pos += n;
  return at;
}
static uint8_t get_u8(rbuf *r, const char *what) { const uint8_t *b = take(r, 1, what); return b ? b[0] : 0; }
static uint16_t get_u16(rbuf *r, const char *what)
{
  const uint8_t *b = take(r, 2, what);
  return b ? (uint16_t)(b[0] << 8 | b[1]) : 0;
}
static uint32_t get_u32(rbuf *r, const char *what)
{
  const uint8_t *b = take(r, 4, what);
  return b ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : 0;
}
static uint64_t get_u64(rbuf *r, const char *what)
{
  uint64_t hi = get_u32(r, what);
  return hi << 32 | get_u32(r, what);
}
/* A string of at most cap - 1 bytes, without NULs. */
static mcsi_status get_str(rbuf *r, char *dst, size_t cap, const char *what)
{
  uint16_t n = get_u16(r, what);
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  if (n >= cap) return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s of %u bytes (at most %zu)",
                                what, n, cap - 1);
  const uint8_t *b = take(r, n, what);
  if (!b) return ISDSC_INVALID_PARAMETER;
  if (memchr(b, 0, n)) return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s holds a NUL", what);
  memcpy(dst, b, n);
  dst[n] = 0;
  return ISDSC_SUCCESS;
}

static mcsi_status bad(rbuf *r, const char *what)
{
  return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s", what);
}

/* Negotiated values as RFC 7143 bounds them (13.x): a blob that says
 * otherwise was not made by a sane exporter. */
static mcsi_status check_params(rbuf *r, const mcsi_params *p, const char *whose)
{
  if (p->header_digest > 1 || p->data_digest > 1)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s digests %u/%u", whose, p->header_digest,
                    p->data_digest);
  if (p->max_recv_dsl < 512 || p->max_recv_dsl > 16777215 || p->max_send_dsl < 512 || p->max_send_dsl > 16777215)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s data segment lengths %u/%u out of range",
                    whose, p->max_recv_dsl, p->max_send_dsl);
  if (p->max_connections < 1 || p->max_connections > 65535 || p->max_burst < 512 || p->first_burst < 512 ||
      p->first_burst > p->max_burst || p->max_outstanding_r2t < 1 || p->erl > 2 || p->initial_r2t > 1 ||
      p->immediate_data > 1 || p->data_pdu_in_order > 1 || p->data_seq_in_order > 1 || p->time2wait > 3600 ||
      p->time2retain > 3600)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s parameters out of range", whose);
  return ISDSC_SUCCESS;
}

static mcsi_status get_params(rbuf *r, mcsi_params *p, const char *whose)
{
  uint32_t n = get_u32(r, "parameter count");
  if (!r->bad && n != NPARAMS)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %s has %u parameters, not %zu", whose, n,
                    (size_t)NPARAMS);
  uint32_t *v = (uint32_t *)p;
  for (size_t i = 0; i < NPARAMS; i++) v[i] = get_u32(r, "parameters");
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  return check_params(r, p, whose);
}

/* n 64-bit values, after their count (which must be n). */
static mcsi_status get_u64s(rbuf *r, uint64_t *v, size_t n, const char *what)
{
  uint32_t count = get_u32(r, what);
  if (!r->bad && count != n)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %u %s, not %zu", count, what, n);
  for (size_t i = 0; i < n; i++) v[i] = get_u64(r, what);
  return r->bad ? ISDSC_INVALID_PARAMETER : ISDSC_SUCCESS;
}

static mcsi_status get_counters(rbuf *r, mcsi_handover_conn *c)
{
  uint64_t v[12];
  mcsi_status st = get_u64s(r, v, 12, "counters");
  if (!st) st = get_u64s(r, c->latency.bucket, MCSI_LATENCY_BUCKETS, "latency buckets");
  if (st) return st;
  c->stats = (mcsi_conn_stats){ .bytes_sent = v[0], .bytes_received = v[1], .pdus_sent = v[2],
                                .pdus_received = v[3], .commands = v[4], .digest_errors = v[5],
                                .timeout_errors = v[6], .format_errors = v[7] };
  c->commands = v[8];
  c->format_errors = v[9];
  c->timeout_errors = v[10];
  c->latency.sum_us = v[11];
  return ISDSC_SUCCESS;
}

static mcsi_status get_conn(rbuf *r, mcsi_handover_conn *c, size_t nfds)
{
  mcsi_status st;
  c->id = r->version >= 2 ? get_u64(r, "connection id") : 0;
  c->cid = get_u16(r, "CID");
  c->leading = get_u8(r, "leading");
  c->active = get_u8(r, "active");
  c->primary = get_u8(r, "primary");
  c->weight = get_u32(r, "weight");
  c->exp_statsn = get_u32(r, "ExpStatSN");
  c->fd_index = get_u32(r, "fd index");
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  if (r->version >= 2 && (!c->id || c->id > MCSI_HANDOVER_ID_MAX))
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: connection %u has id 0x%016llx (1..2^53-1)",
                    c->cid, (unsigned long long)c->id);
  if (c->leading > 1 || c->active > 1 || c->primary > 1) return bad(r, "a connection flag is not 0 or 1");
  if (c->fd_index >= nfds)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: connection %u names fd %u of %zu given",
                    c->cid, c->fd_index, nfds);
  if ((st = get_params(r, &c->params, "a connection")) || (st = get_str(r, c->portal, sizeof c->portal, "portal")) ||
      (r->version >= 2 && (st = get_counters(r, c))))
    return st;
  c->rx_len = get_u32(r, "unread length");
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  if (c->rx_len > MCSI_HANDOVER_RX_MAX)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %u bytes read ahead (at most %u)", c->rx_len,
                    MCSI_HANDOVER_RX_MAX);
  const uint8_t *b = take(r, c->rx_len, "unread bytes");
  if (!b) return ISDSC_INVALID_PARAMETER;
  memcpy(c->rx, b, c->rx_len);
  return ISDSC_SUCCESS;
}

/* Across connections: distinct CIDs, fds and ids (none the session's), at most one leading. */
static mcsi_status check_conns(rbuf *r, const mcsi_handover_session *s)
{
  unsigned leading = 0;
  for (uint32_t i = 0; i < s->nconns; i++) {
    leading += s->conns[i].leading;
    if (s->id && s->conns[i].id == s->id)
      return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: connection %u has the session's id 0x%016llx",
                      s->conns[i].cid, (unsigned long long)s->id);
    for (uint32_t j = 0; j < i; j++) {
      if (s->conns[i].cid == s->conns[j].cid) return bad(r, "two connections with one CID");
      if (s->conns[i].id && s->conns[i].id == s->conns[j].id)
        return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: two connections with id 0x%016llx",
                        (unsigned long long)s->conns[i].id);
      if (s->conns[i].fd_index == s->conns[j].fd_index) return bad(r, "two connections on one fd");
    }
  }
  if (leading > 1) return bad(r, "more than one leading connection");
  if (s->nconns > s->params.max_connections) return bad(r, "more connections than MaxConnections");
  return ISDSC_SUCCESS;
}

static mcsi_status check_numbers(rbuf *r, const mcsi_handover_session *s)
{
  if (!s->tsih) return bad(r, "TSIH 0");
  if (!s->target[0]) return bad(r, "no target name");
  if (mcsi_sn_lt(s->max_cmdsn, s->exp_cmdsn - 1)) return bad(r, "MaxCmdSN below ExpCmdSN - 1");
  if (mcsi_sn_lt(s->cmdsn, s->exp_cmdsn) || mcsi_sn_lt(s->max_cmdsn + 1, s->cmdsn))
    return bad(r, "CmdSN outside the window");
  if (s->next_itt == 0xffffffffu) return bad(r, "the reserved ITT");
  if (s->policy < 1 || s->policy >= MCSI_LB_COUNT) return bad(r, "no such load balance policy");
  return ISDSC_SUCCESS;
}

static mcsi_status get_session(rbuf *r, mcsi_handover_session *s, size_t nfds)
{
  mcsi_status st;
  s->id = r->version >= 2 ? get_u64(r, "session id") : 0;
  const uint8_t *isid = take(r, 6, "ISID");
  if (isid) memcpy(s->isid, isid, 6);
  s->tsih = get_u16(r, "TSIH");
  s->tpgt = get_u16(r, "TPGT");
  s->tpgt_known = get_u8(r, "TPGT known");
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  if (r->version >= 2 && (!s->id || s->id > MCSI_HANDOVER_ID_MAX))
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: session id 0x%016llx (1..2^53-1)",
                    (unsigned long long)s->id);
  if (s->tpgt_known > 1) return bad(r, "TPGT known is not 0 or 1");
  if ((st = get_str(r, s->target, sizeof s->target, "target name")) ||
      (st = get_str(r, s->target_alias, sizeof s->target_alias, "target alias")) ||
      (st = get_params(r, &s->params, "the session")))
    return st;
  s->cmdsn = get_u32(r, "CmdSN");
  s->exp_cmdsn = get_u32(r, "ExpCmdSN");
  s->max_cmdsn = get_u32(r, "MaxCmdSN");
  s->next_itt = get_u32(r, "next ITT");
  s->next_cid = get_u16(r, "next CID");
  s->policy = get_u32(r, "policy");
  if (r->version >= 2) {
    s->commands_retried = get_u64(r, "commands retried");
    s->recoveries = get_u32(r, "recoveries");
  }
  s->nconns = get_u32(r, "connection count");
  if (r->bad) return ISDSC_INVALID_PARAMETER;
  if (s->nconns < 1 || s->nconns > MCSI_HANDOVER_MAX_CONNS || s->nconns > nfds)
    return mcsi_msg(r->msg, ISDSC_INVALID_PARAMETER, "handover blob: %u connections (1..%u, %zu fds given)",
                    s->nconns, MCSI_HANDOVER_MAX_CONNS, nfds);
  if ((st = check_numbers(r, s))) return st;
  for (uint32_t i = 0; i < s->nconns; i++)
    if ((st = get_conn(r, &s->conns[i], nfds))) return st;
  return check_conns(r, s);
}

mcsi_status mcsi_handover_decode(const uint8_t *p, size_t len, size_t nfds, mcsi_handover_session *s, char *msg)
{
  rbuf r = { .p = p, .len = len, .msg = msg };
  memset(s, 0, sizeof *s);
  if (!p || len < 16 || memcmp(p, MCSI_HANDOVER_MAGIC, 8))
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "not a session handover blob (%zu bytes)", len);
  if (len > MCSI_HANDOVER_BLOB_MAX)
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "handover blob of %zu bytes (at most %u)", len,
                    MCSI_HANDOVER_BLOB_MAX);
  r.pos = 8;
  r.version = get_u32(&r, "version");
  if (r.version < MCSI_HANDOVER_VERSION_OLDEST || r.version > MCSI_HANDOVER_VERSION)
    return mcsi_msg(msg, ISDSC_UNSUPPORTED_VERSION, "handover blob version %u, this library reads versions %u to %u",
                    r.version, MCSI_HANDOVER_VERSION_OLDEST, MCSI_HANDOVER_VERSION);
  const uint8_t *tail = p + len - 4;
  uint32_t crc = (uint32_t)tail[0] << 24 | (uint32_t)tail[1] << 16 | (uint32_t)tail[2] << 8 | tail[3];
  if (mcsi_crc32c(p, len - 4) != crc)
    return mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "handover blob: checksum mismatch");
  r.len = len - 4;
  mcsi_status st = get_session(&r, s, nfds);
  if (!st && r.bad) st = bad(&r, "cut short");
  if (st && r.bad) mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "handover blob cut short in its %s", r.bad);
  if (!st && r.pos != r.len)
    st = mcsi_msg(msg, ISDSC_INVALID_PARAMETER, "handover blob: %zu bytes after its end", r.len - r.pos);
  return st;
}
