/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* make_seeds.c: writes the seed corpora of tests/fuzz/ (make fuzz-seeds).
 *
 *   make-seeds DIR     writes the files of DIR/bhs, DIR/text, DIR/conn and DIR/handover
 *
 * bhs: one well-formed header per opcode; text: typical Login Response
 * and SendTargets data segments; conn: peer scripts (fuzz_peer.h) that log
 * in and reach the full feature phase with each workload of fuzz_conn.c,
 * plus a few hostile-but-handled variants (redirect, CHAP, target NOP
 * ping, async message, reject, text continuation, R2T writes); handover:
 * a byte saying how many sockets, then a blob of the current version (one
 * connection; two with bytes read ahead; DIR/handover/version-1 is kept
 * by hand: a blob mcsi 0.3.0 wrote (format version 1, no ids), which the
 * reader still reads; test_unit_handover.c reads it too).
 * `FUZZ_CONN_TRACE=1 build/fuzz-replay/replay-conn FILE` shows how far a
 * conn seed gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_peer.h"
#include "handover.h"
#include "pdu.h"

/* Must match fuzz_conn.c. */
enum { DO_SCSI_SYNC = 0x01, DO_ASYNC = 0x02, DO_MCS_DRAIN = 0x04, DO_ABORT = 0x08, DO_DISCOVERY = 0x10,
       DO_RW_SYNC = 0x20, DO_LOGOUT = 0x40, DO_MCS_SYNC = 0x80, DO_ALL = 0xff };
enum { OPT_NOP = 0x01, OPT_RECOVERY = 0x02, OPT_SMALL_BURST = 0x04, OPT_INITIAL_R2T = 0x08,
       OPT_NO_IMMEDIATE = 0x10, OPT_TWO_CONNS = 0x20, OPT_CHAP = 0x40 };

typedef struct seed { uint8_t b[4096]; size_t n; } seed;

static const char *outdir;

static void put(seed *s, const void *p, size_t n)
{
  if (s->n + n > sizeof s->b) { fprintf(stderr, "make-seeds: seed too long\n"); exit(1); }
  memcpy(s->b + s->n, p, n);
  s->n += n;
}

static void byte(seed *s, uint8_t v) { put(s, &v, 1); }

static void start(seed *s, uint8_t what, uint8_t opt)
{
  s->n = 0;
  byte(s, what);
  byte(s, opt);
}

/* n default records */
static void defaults(seed *s, int n)
{
  for (int i = 0; i < n; i++) { byte(s, FP_K_DEFAULT); byte(s, 0); byte(s, 0); }
}

/* One record with edits (offset, xor) pairs and optional data. */
static void rec(seed *s, uint8_t action, uint8_t xflags, int nedits, const uint8_t *edits,
                const void *data, size_t dlen)
{
  byte(s, (uint8_t)(action | (data ? FP_F_DATA : 0)));
  byte(s, xflags);
  byte(s, (uint8_t)nedits);
  if (nedits) put(s, edits, 2u * (size_t)nedits);
  if (data) { byte(s, (uint8_t)dlen); put(s, data, dlen); }
}

static void write_seed(const char *sub, const char *name, const void *p, size_t n)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s/%s", outdir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f)) { perror(path); exit(1); }
}

static void conn_seed(const char *name, const seed *s) { write_seed("conn", name, s->b, s->n); }

/* ---- conn ------------------------------------------------------------------------ */

static void conn_seeds(void)
{
  seed s;
  static const char chap[] = "CHAP_A=5\0CHAP_I=7\0CHAP_C=0x0123456789abcdef0123456789abcdef";
  static const char redirect[] = "TargetAddress=127.0.0.1:1,1";
  static const char more_text[] = "TargetName=iqn.2026-11.org.mcsi:other";
  static const uint8_t class1[] = { 36, 0x01, 37, 0x02 }; /* status class 1 detail 2: redirect */
  static const uint8_t async_drop[] = { 36, 0x02 };       /* async event 2: connection dropped */

  start(&s, DO_ALL, 0); defaults(&s, 120); conn_seed("all-defaults", &s);
  start(&s, DO_LOGOUT, 0); defaults(&s, 4); conn_seed("login-logout", &s);
  start(&s, DO_SCSI_SYNC | DO_LOGOUT, 0); defaults(&s, 12); conn_seed("scsi-sync", &s);
  start(&s, DO_ASYNC | DO_RW_SYNC | DO_LOGOUT, OPT_SMALL_BURST | OPT_INITIAL_R2T); defaults(&s, 40);
  conn_seed("r2t-writes", &s);
  start(&s, DO_ASYNC | DO_RW_SYNC | DO_LOGOUT, OPT_NO_IMMEDIATE); defaults(&s, 40);
  conn_seed("no-immediate-data", &s);
  start(&s, DO_MCS_DRAIN | DO_LOGOUT, OPT_TWO_CONNS); defaults(&s, 40); conn_seed("mcs-drain", &s);
  start(&s, DO_MCS_SYNC | DO_MCS_DRAIN | DO_LOGOUT, 0); defaults(&s, 60); conn_seed("mcs-add-remove", &s);
  start(&s, DO_ABORT | DO_LOGOUT, 0); defaults(&s, 12); conn_seed("abort-reset", &s);
  start(&s, DO_DISCOVERY, 0); defaults(&s, 12); conn_seed("discovery", &s);
  start(&s, DO_ASYNC | DO_LOGOUT, OPT_NOP | OPT_RECOVERY); defaults(&s, 40); conn_seed("nop-recovery", &s);

  /* CHAP: AuthMethod=CHAP echoed, then the target's challenge, then defaults. */
  start(&s, DO_SCSI_SYNC | DO_LOGOUT, OPT_CHAP);
  defaults(&s, 1);
  rec(&s, FP_K_DEFAULT, 0, 0, NULL, chap, sizeof chap);
  defaults(&s, 20);
  conn_seed("chap", &s);

  /* Redirect (to the peer itself: the peer rewrites TargetAddress), then login. */
  start(&s, DO_SCSI_SYNC | DO_LOGOUT, 0);
  rec(&s, FP_K_DEFAULT, 0, 2, class1, redirect, sizeof redirect - 1);
  defaults(&s, 20);
  conn_seed("redirect", &s);

  /* The target pings (NOP-In with a TTT) after the first answers. */
  start(&s, DO_ASYNC | DO_LOGOUT, 0);
  defaults(&s, 3);
  rec(&s, FP_K_DEFAULT | FP_F_MORE, 0, 0, NULL, NULL, 0);
  rec(&s, FP_K_NOP_IN, 0, 0, NULL, NULL, 0);
  defaults(&s, 20);
  conn_seed("target-ping", &s);

  /* Async message "connection dropped" in the middle of I/O, with recovery. */
  start(&s, DO_ASYNC | DO_LOGOUT, OPT_RECOVERY);
  defaults(&s, 4);
  rec(&s, FP_K_DEFAULT | FP_F_MORE, 0, 0, NULL, NULL, 0);
  rec(&s, FP_K_ASYNC, 0, 1, async_drop, NULL, 0);
  defaults(&s, 30);
  conn_seed("async-drop", &s);

  /* The other Asynchronous Messages (RFC 7143 11.9.1), mid-I/O: a Logout
   * requested within 1 s; every connection dropped; a renegotiation; on a
   * session of two connections, a drop of the other one (CID 1). */
  static const uint8_t async_logout[] = { 36, 0x01, 43, 0x01 };
  static const uint8_t async_all[] = { 36, 0x03 };
  static const uint8_t async_renegotiate[] = { 36, 0x04 };
  static const uint8_t async_other[] = { 36, 0x02, 39, 0x01 };
  static const struct { const char *name; const uint8_t *edits; int n, opts; } asyncs[] = {
    { "async-logout", async_logout, 2, OPT_RECOVERY }, { "async-drop-all", async_all, 1, OPT_RECOVERY },
    { "async-renegotiate", async_renegotiate, 1, 0 }, { "async-drop-other", async_other, 2, OPT_TWO_CONNS },
  };
  for (size_t i = 0; i < sizeof asyncs / sizeof asyncs[0]; i++) {
    start(&s, DO_ASYNC | DO_LOGOUT, asyncs[i].opts);
    defaults(&s, 4);
    rec(&s, FP_K_DEFAULT | FP_F_MORE, 0, 0, NULL, NULL, 0);
    rec(&s, FP_K_ASYNC, 0, (uint8_t)asyncs[i].n, asyncs[i].edits, NULL, 0);
    defaults(&s, 30);
    conn_seed(asyncs[i].name, &s);
  }

  /* A Reject of the first command, then defaults. */
  start(&s, DO_ASYNC | DO_LOGOUT, 0);
  defaults(&s, 2);
  rec(&s, FP_K_REJECT, 0, 0, NULL, NULL, 0);
  defaults(&s, 20);
  conn_seed("reject", &s);

  /* SendTargets answered in two Text Responses (F clear, then the rest). */
  start(&s, DO_DISCOVERY, 0);
  defaults(&s, 2);
  rec(&s, FP_K_DEFAULT, 0x80, 0, NULL, more_text, sizeof more_text);
  defaults(&s, 10);
  conn_seed("text-continue", &s);

  /* A connection reset in the middle of async I/O, with recovery. */
  start(&s, DO_ASYNC | DO_LOGOUT, OPT_RECOVERY);
  defaults(&s, 4);
  rec(&s, FP_K_RESET, 0, 0, NULL, NULL, 0);
  defaults(&s, 30);
  conn_seed("reset-recovery", &s);
}

/* ---- bhs and text ------------------------------------------------------------------- */

static void bhs_seeds(void)
{
  static const uint8_t ops[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10,
                                 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f };
  for (size_t i = 0; i < sizeof ops; i++) {
    mcsi_pdu_hdr h = { .opcode = ops[i], .flags = MCSI_F_FINAL, .itt = 0x10 + (uint32_t)i, .ttt = MCSI_RSVD_TAG,
                       .cmdsn = 5, .statsn = 7, .expcmdsn = 8, .maxcmdsn = 40 };
    if (ops[i] == MCSI_OP_LOGIN_REQ || ops[i] == MCSI_OP_LOGIN_RSP) h.flags = MCSI_F_TRANSIT | 1;
    if (ops[i] == MCSI_OP_DATA_IN) { h.flags |= MCSI_F_STATUS; h.dlen = 512; }
    if (ops[i] == MCSI_OP_SCSI_CMD) { h.flags |= MCSI_F_READ | MCSI_ATTR_SIMPLE; h.edtl = 4096; h.cdb[0] = 0x28; }
    uint8_t bhs[MCSI_BHS_LEN];
    mcsi_pdu_encode(&h, bhs);
    char name[32];
    snprintf(name, sizeof name, "op-%02x", ops[i]);
    write_seed("bhs", name, bhs, sizeof bhs);
  }
}

static void text_seed(const char *name, uint8_t sel, const char *t, size_t n)
{
  uint8_t b[1024];
  b[0] = sel;
  memcpy(b + 1, t, n);
  write_seed("text", name, b, n + 1);
}

#define TEXT(name, sel, lit) text_seed(name, sel, lit, sizeof lit - 1)

static void text_seeds(void)
{
  TEXT("operational-answers", 0xa0,
       "HeaderDigest=None\0DataDigest=None\0MaxConnections=1\0InitialR2T=Yes\0ImmediateData=Yes\0"
       "MaxRecvDataSegmentLength=262144\0MaxBurstLength=262144\0FirstBurstLength=65536\0"
       "DefaultTime2Wait=2\0DefaultTime2Retain=0\0MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
       "DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0");
  TEXT("target-offers", 0x21,
       "HeaderDigest=CRC32C,None\0DataDigest=None\0MaxBurstLength=0x10000\0X-com.example.Key=1\0"
       "TargetPortalGroupTag=1\0TargetAlias=fuzz\0");
  TEXT("security", 0x20, "AuthMethod=None\0TargetPortalGroupTag=1\0");
  TEXT("chap", 0x20, "CHAP_A=5\0CHAP_I=7\0CHAP_C=0x0123456789abcdef0123456789abcdef\0");
  TEXT("send-targets", 0x40,
       "TargetName=iqn.2026-11.org.mcsi:a\0TargetAddress=127.0.0.1:3260,1\0"
       "TargetAddress=[::1]:3260,1\0TargetName=iqn.2026-11.org.mcsi:b\0TargetAddress=127.0.0.2:3260,2\0");
  TEXT("rejects", 0x80, "MaxConnections=Reject\0ErrorRecoveryLevel=NotUnderstood\0DataDigest=Irrelevant\0");
}

/* ---- handover: byte 0 the socket count, then the blob ---- */

static void handover_conn(mcsi_handover_conn *c, mcsi_id id, uint16_t cid, int leading, uint32_t exp_statsn,
                          const char *portal)
{
  c->id = id;
  c->cid = cid;
  c->leading = (uint8_t)leading;
  c->active = 1;
  c->weight = 1;
  c->exp_statsn = exp_statsn;
  c->fd_index = cid;
  snprintf(c->portal, sizeof c->portal, "%s", portal);
}

static void handover_seed(const char *name, const mcsi_handover_session *s, uint8_t nfds)
{
  uint8_t *blob = NULL, *b;
  size_t len = 0;
  if (mcsi_handover_encode(s, &blob, &len) || !(b = malloc(len + 1))) { fprintf(stderr, "make-seeds: out of memory\n"); exit(1); }
  b[0] = nfds;
  memcpy(b + 1, blob, len);
  write_seed("handover", name, b, len + 1);
  free(b);
  free(blob);
}

static void handover_seeds(void)
{
  static mcsi_handover_session s;
  static const uint8_t isid[6] = { 0x80, 0x01, 0x02, 0x03, 0x04, 0x05 };
  const mcsi_params p = { .max_connections = 4, .initial_r2t = 1, .immediate_data = 1, .max_recv_dsl = 262144,
                          .max_send_dsl = 8192, .max_burst = 262144, .first_burst = 65536, .time2wait = 2,
                          .time2retain = 20, .max_outstanding_r2t = 1, .data_pdu_in_order = 1, .data_seq_in_order = 1 };
  memset(&s, 0, sizeof s);
  s.id = 0x10;
  memcpy(s.isid, isid, sizeof isid);
  s.tsih = 0x900;
  s.tpgt = 1;
  s.tpgt_known = 1;
  snprintf(s.target, sizeof s.target, "iqn.2026-11.org.mcsi.test:plain");
  s.params = p;
  s.cmdsn = s.exp_cmdsn = 100;
  s.max_cmdsn = 131;
  s.next_itt = 77;
  s.next_cid = 2;
  s.policy = 2;
  s.nconns = 1;
  handover_conn(&s.conns[0], 0x11, 0, 1, 5, "127.0.0.1:3260");
  s.conns[0].params = p;
  handover_seed("one-connection", &s, 1);
  s.nconns = 2;
  handover_conn(&s.conns[1], 0x12, 1, 0, 6, "127.0.0.2:3260");
  s.conns[1].params = p;
  s.conns[1].rx_len = 48;                     /* half a BHS read ahead */
  memset(s.conns[1].rx, 0x21, 48);
  handover_seed("two-connections-read-ahead", &s, 2);
}

int main(int argc, char **argv)
{
  if (argc != 2) { fprintf(stderr, "usage: make-seeds DIR\n"); return 2; }
  outdir = argv[1];
  conn_seeds();
  bhs_seeds();
  text_seeds();
  handover_seeds();
  return 0;
}
