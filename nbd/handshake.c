/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * handshake.c: the fixed newstyle handshake (doc/proto.md, "Newstyle
 * negotiation"): the greeting, the client's flags, then options until
 * NBD_OPT_GO or NBD_OPT_EXPORT_NAME moves the client to transmission.
 * Options are bounded (NBD_OPT_MAX_LEN); a bad magic, an unknown client flag
 * or an oversized option closes the client; the handshake's deadline is the
 * client's timer (client.c).
 *
 * TLS (doc/proto.md, "TLS support"): a client that must use TLS (TCP, an
 * export that requires it) is served FORCEDTLS: every option but
 * NBD_OPT_STARTTLS and NBD_OPT_ABORT is answered NBD_REP_ERR_TLS_REQD
 * until TLS is up, and NBD_OPT_EXPORT_NAME, which cannot be answered with
 * an error, closes it. Other clients may start TLS when the export has
 * credentials; without them NBD_OPT_STARTTLS is refused (NBD_REP_ERR_POLICY)
 * and the export is NOTLS. Bytes a client sent after STARTTLS before its
 * ACK would be plaintext taken as if inside TLS: the client is closed.
 */
#include <stdlib.h>
#include <string.h>
#include "nbd_internal.h"

#define OPT_HDR_SIZE  16
#define REP_HDR_SIZE  20

void nbd_handshake_start(nbd_client *c)
{
  uint8_t g[18];
  nbd_put64(g, NBD_MAGIC);
  nbd_put64(g + 8, NBD_IHAVEOPT);
  nbd_put16(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  nbd_client_expect(c, NBD_PH_CLIENT_FLAGS, 4);
  nbd_client_send(c, g, sizeof g, NULL, 0, NULL, NULL);
}

/* One option reply; data is copied. */
static void reply(nbd_client *c, uint32_t type, const void *data, uint32_t len)
{
  uint8_t h[REP_HDR_SIZE];
  uint8_t *copy = NULL;
  nbd_put64(h, NBD_REP_MAGIC);
  nbd_put32(h + 8, c->opt);
  nbd_put32(h + 12, type);
  nbd_put32(h + 16, len);
  if (len) {
    if (!(copy = malloc(len))) {
      c->broken = 1;
      return;
    }
    memcpy(copy, data, len);
  }
  nbd_client_send(c, h, sizeof h, copy, len, copy, NULL);
}

static void reply_error(nbd_client *c, uint32_t type, const char *why)
{
  reply(c, type, why, (uint32_t)strlen(why));
}

static int name_matches(const mcsi_nbd_export *e, const uint8_t *name, uint32_t len)
{
  return len == 0 || (strlen(e->name) == len && memcmp(e->name, name, len) == 0);
}

static void enter_transmission(nbd_client *c)
{
  if (c->hs_timer) mcsi_timer_cancel(c->exp->ini, c->hs_timer);
  c->hs_timer = 0;
  nbd_client_expect(c, NBD_PH_REQ_HDR, NBD_REQUEST_SIZE);
}

/* ---- the options ---- */

static void opt_export_name(nbd_client *c, const uint8_t *d, uint32_t len)
{
  const mcsi_nbd_export *e = c->exp;
  uint8_t r[8 + 2 + 124] = { 0 };
  if (!name_matches(e, d, len)) {           /* no way to say why: close (doc/proto.md) */
    c->broken = 1;
    return;
  }
  nbd_put64(r, e->size);
  nbd_put16(r + 8, e->tflags);
  enter_transmission(c);
  size_t n = c->no_zeroes ? 10 : sizeof r;
  uint8_t *copy = malloc(n);
  if (!copy) {
    c->broken = 1;
    return;
  }
  memcpy(copy, r, n);
  nbd_client_send(c, NULL, 0, copy, n, copy, NULL);
}

static void opt_list(nbd_client *c, uint32_t len)
{
  const char *name = c->exp->name;
  uint32_t n = (uint32_t)strlen(name);
  if (len) {
    reply_error(c, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
    return;
  }
  uint8_t *d = malloc(4 + n);
  if (!d) {
    c->broken = 1;
    return;
  }
  nbd_put32(d, n);
  memcpy(d + 4, name, n);
  reply(c, NBD_REP_SERVER, d, 4 + n);
  free(d);
  reply(c, NBD_REP_ACK, NULL, 0);
}

static void info_export(nbd_client *c)
{
  uint8_t d[12];
  nbd_put16(d, NBD_INFO_EXPORT);
  nbd_put64(d + 2, c->exp->size);
  nbd_put16(d + 10, c->exp->tflags);
  reply(c, NBD_REP_INFO, d, sizeof d);
}

/* Always sent (as qemu-nbd does): minimum = the LUN's block, preferred,
 * maximum = the largest READ/WRITE payload accepted. */
static void info_block_size(nbd_client *c)
{
  const mcsi_nbd_export *e = c->exp;
  uint8_t d[14];
  nbd_put16(d, NBD_INFO_BLOCK_SIZE);
  nbd_put32(d + 2, e->geo.block_size);
  nbd_put32(d + 6, e->preferred);
  nbd_put32(d + 10, e->opts.max_request);
  reply(c, NBD_REP_INFO, d, sizeof d);
}

static void info_text(nbd_client *c, uint16_t type, const char *text)
{
  size_t n = strlen(text);
  uint8_t *d = malloc(2 + n);
  if (!d) {
    c->broken = 1;
    return;
  }
  nbd_put16(d, type);
  memcpy(d + 2, text, n);
  reply(c, NBD_REP_INFO, d, (uint32_t)(2 + n));
  free(d);
}

/* NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count u16 info types. */
static void opt_info_go(nbd_client *c, const uint8_t *d, uint32_t len, int go)
{
  const mcsi_nbd_export *e = c->exp;
  if (len < 6 || nbd_get32(d) > len - 6) {
    reply_error(c, NBD_REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO");
    return;
  }
  uint32_t namelen = nbd_get32(d);
  uint16_t nreq = nbd_get16(d + 4 + namelen);
  if ((uint64_t)4 + namelen + 2 + 2u * nreq != len) {
    reply_error(c, NBD_REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO information requests");
    return;
  }
  if (!name_matches(e, d + 4, namelen)) {
    reply_error(c, NBD_REP_ERR_UNKNOWN, "no such export");
    return;
  }
  info_export(c);
  for (uint16_t i = 0; i < nreq; i++) {
    uint16_t t = nbd_get16(d + 4 + namelen + 2 + 2u * i);
    if (t == NBD_INFO_NAME) info_text(c, NBD_INFO_NAME, e->name);
    else if (t == NBD_INFO_DESCRIPTION && e->description) info_text(c, NBD_INFO_DESCRIPTION, e->description);
  }
  info_block_size(c);
  reply(c, NBD_REP_ACK, NULL, 0);
  if (go && !c->broken) enter_transmission(c);
}

static void opt_starttls(nbd_client *c, uint32_t len)
{
  if (c->tls) {
    reply_error(c, NBD_REP_ERR_INVALID, "TLS is already on");
    return;
  }
  if (!c->exp->tls) {
    reply_error(c, NBD_REP_ERR_POLICY, "this export has no TLS");
    return;
  }
  if (len) {
    reply_error(c, NBD_REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data");
    return;
  }
  if (c->rx_off < c->rx_len) {               /* sent before the ACK: never read as if inside TLS */
    c->broken = 1;
    return;
  }
  reply(c, NBD_REP_ACK, NULL, 0);
  if (!c->broken && nbd_client_start_tls(c) < 0) c->broken = 1;
}

/* Before TLS on a client that must use it: 1 when the option was dealt with. */
static int tls_gate(nbd_client *c, uint32_t len)
{
  if (!c->tls_required || c->tls_up) return 0;
  switch (c->opt) {
  case NBD_OPT_STARTTLS: opt_starttls(c, len); break;
  case NBD_OPT_ABORT: return 0;
  case NBD_OPT_EXPORT_NAME:                  /* cannot be refused with an error: close */
    c->exp->stats.tls_refused++;
    c->broken = 1;
    break;
  default:
    c->exp->stats.tls_refused++;
    reply_error(c, NBD_REP_ERR_TLS_REQD, "TLS is required: send NBD_OPT_STARTTLS first");
    break;
  }
  return 1;
}

void nbd_handshake_tls_up(nbd_client *c)
{
  nbd_client_expect(c, NBD_PH_OPT_HDR, OPT_HDR_SIZE);
}

static void handle_option(nbd_client *c, const uint8_t *d, uint32_t len)
{
  nbd_client_expect(c, NBD_PH_OPT_HDR, OPT_HDR_SIZE);
  if (tls_gate(c, len)) return;
  switch (c->opt) {
  case NBD_OPT_STARTTLS: opt_starttls(c, len); break;
  case NBD_OPT_EXPORT_NAME: opt_export_name(c, d, len); break;
  case NBD_OPT_ABORT:
    reply(c, NBD_REP_ACK, NULL, 0);
    c->disconnecting = 1;                    /* closes once the ACK is out */
    break;
  case NBD_OPT_LIST: opt_list(c, len); break;
  case NBD_OPT_INFO: opt_info_go(c, d, len, 0); break;
  case NBD_OPT_GO: opt_info_go(c, d, len, 1); break;
  default: reply_error(c, NBD_REP_ERR_UNSUP, "option not supported"); break;
  }
}

static void option_header(nbd_client *c)
{
  if (nbd_get64(c->hdr) != NBD_IHAVEOPT) {
    c->broken = 1;
    return;
  }
  c->opt = nbd_get32(c->hdr + 8);
  c->opt_len = nbd_get32(c->hdr + 12);
  if (c->opt_len > NBD_OPT_MAX_LEN) {        /* not worth reading: the client goes */
    c->broken = 1;
    return;
  }
  if (!c->opt_len) {
    handle_option(c, NULL, 0);
    return;
  }
  free(c->opt_data);
  if (!(c->opt_data = malloc(c->opt_len))) {
    c->broken = 1;
    return;
  }
  nbd_client_expect(c, NBD_PH_OPT_DATA, c->opt_len);
}

void nbd_handshake_input(nbd_client *c)
{
  switch (c->phase) {
  case NBD_PH_CLIENT_FLAGS: {
    uint32_t f = nbd_get32(c->hdr);
    if (f & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
      c->broken = 1;                          /* unknown flags: MUST close */
      return;
    }
    c->no_zeroes = !!(f & NBD_FLAG_C_NO_ZEROES);
    nbd_client_expect(c, NBD_PH_OPT_HDR, OPT_HDR_SIZE);
    break;
  }
  case NBD_PH_OPT_HDR: option_header(c); break;
  case NBD_PH_OPT_DATA: {
    uint8_t *d = c->opt_data;
    c->opt_data = NULL;
    handle_option(c, d, c->opt_len);
    free(d);
    break;
  }
  default: c->broken = 1; break;
  }
}
