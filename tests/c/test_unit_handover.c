/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_handover.c: the ids of a handed session (issue 17). The blob
 * (version 2) carries the session's and each connection's id (and their
 * counters) and round trips them; the reader refuses an id 0 or above 2^53 - 1, two
 * connections with one id, a connection with the session's id, and a blob
 * of another version (ISDSC_UNSUPPORTED_VERSION); it reads a blob mcsi
 * 0.3.0 wrote (version 1: no ids, no counters);
 * mcsi_handover_blob_session_id reads the id; mcsi_id_reserve moves the id
 * allocator past an id (never back). No target: see test_handover.c for
 * sessions handed for real. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "handover.h"
#include "testlib.h"
#include "handover_v1.h"

/* The blob mcsi 0.3.0's own writer made (format version 1, no ids), kept in
 * the fuzz corpus: its first byte is the harness's socket count. Read from
 * the tree's root (make check runs there). */
#define SEED_0_3_0 "tests/fuzz/corpus/handover/version-1"

static size_t read_seed(uint8_t *buf, size_t cap)
{
  FILE *f = fopen(SEED_0_3_0, "rb");
  size_t n = f ? fread(buf, 1, cap, f) : 0;
  if (f) fclose(f);
  return n;
}

/* A successor reads what 0.3.0 handed: no ids (the importer makes them), no counters. */
static void reads_0_3_0(void)
{
  static uint8_t seed[4096];
  static mcsi_handover_session s;
  static v1_buf again;
  char msg[MCSI_MSG_MAX] = "";
  size_t n = read_seed(seed, sizeof seed);
  T_OK(n > 13 && seed[12] == 1, "0.3.0: the seed %s is a version 1 blob (%zu bytes)", SEED_0_3_0, n);
  if (n <= 13) return;
  mcsi_status st = mcsi_handover_decode(seed + 1, n - 1, seed[0], &s, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "0.3.0: its blob is read (%s)", msg);
  T_OK(s.nconns == 1 && s.tsih != 0 && !strcmp(s.target, "iqn.2026-11.org.mcsi.test:plain"),
       "0.3.0: its session's numbers are there (TSIH %u, %u connection, %s)", s.tsih, s.nconns, s.target);
  T_OK(s.id == 0 && s.conns[0].id == 0, "0.3.0: it names no ids (0: the importer makes new ones)");
  T_OK(s.commands_retried == 0 && s.recoveries == 0 && s.conns[0].commands == 0 && s.conns[0].latency.sum_us == 0,
       "0.3.0: its counters start at 0");
  T_EQ_U64(mcsi_handover_blob_session_id(seed + 1, n - 1), 0, "0.3.0: mcsi_handover_blob_session_id gives 0");
  handover_encode_v1(&s, &again);
  T_OK(again.len == n - 1 && !memcmp(again.p, seed + 1, again.len),
       "0.3.0: tests/c/handover_v1.h writes that blob again byte for byte (the tests' 0.3.0 writer is 0.3.0's)");
}

static mcsi_handover_session *good(void)
{
  static mcsi_handover_session s;
  const mcsi_params p = { .max_connections = 4, .initial_r2t = 1, .immediate_data = 1, .max_recv_dsl = 262144,
                          .max_send_dsl = 8192, .max_burst = 262144, .first_burst = 65536, .time2wait = 2,
                          .time2retain = 20, .max_outstanding_r2t = 1, .data_pdu_in_order = 1, .data_seq_in_order = 1 };
  memset(&s, 0, sizeof s);
  s.id = MCSI_HANDOVER_ID_MAX;          /* the largest: all its 53 bits travel */
  s.tsih = 7;
  strcpy(s.target, "iqn.2026-11.org.mcsi.test:plain");
  s.params = p;
  s.cmdsn = s.exp_cmdsn = 10;
  s.max_cmdsn = 40;
  s.next_itt = 5;
  s.next_cid = 2;
  s.policy = 2;
  s.nconns = 2;
  for (uint32_t i = 0; i < 2; i++) {
    s.conns[i].id = 0x43 + i;
    s.conns[i].cid = (uint16_t)i;
    s.conns[i].leading = i == 0;
    s.conns[i].active = 1;
    s.conns[i].weight = 1;
    s.conns[i].fd_index = i;
    s.conns[i].params = p;
    strcpy(s.conns[i].portal, "127.0.0.1:3260");
    s.conns[i].stats.bytes_sent = 1000 + i;
    s.conns[i].stats.format_errors = 3;
    s.conns[i].commands = 77 + i;
    s.conns[i].timeout_errors = 2;
    s.conns[i].latency.sum_us = 123456;
    s.conns[i].latency.bucket[MCSI_LATENCY_BUCKETS - 1] = 9;
  }
  s.commands_retried = 5;
  s.recoveries = 1;
  return &s;
}

/* Encodes s and decodes it back (2 sockets): its Status, out and msg filled. */
static mcsi_status round_trip(const mcsi_handover_session *s, mcsi_handover_session *out, char *msg)
{
  uint8_t *blob = NULL;
  size_t len = 0;
  if (mcsi_handover_encode(s, &blob, &len)) return ISDSC_OUT_OF_RESOURCES;
  mcsi_status st = mcsi_handover_decode(blob, len, 2, out, msg);
  free(blob);
  return st;
}

static void refused(mcsi_handover_session *s, const char *what, const char *says)
{
  static mcsi_handover_session out;
  char msg[MCSI_MSG_MAX] = "";
  mcsi_status st = round_trip(s, &out, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "%s is refused (%s)", what, msg);
  T_OK(strstr(msg, says) != NULL, "... and the reason says so (%s)", msg);
}

int main(void)
{
  static mcsi_handover_session out;
  char msg[MCSI_MSG_MAX] = "";
  mcsi_handover_session *s = good();
  mcsi_status st = round_trip(s, &out, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "a blob with ids decodes (%s)", msg);
  T_EQ_U64(out.id, s->id, "the session id round trips, the largest allowed (2^53 - 1)");
  T_OK(out.conns[0].id == 0x43 && out.conns[1].id == 0x44, "each connection's id round trips");
  const mcsi_handover_conn *got = &out.conns[1], *gave = &s->conns[1];
  T_OK(!memcmp(&got->stats, &gave->stats, sizeof got->stats) && got->commands == 78 && got->timeout_errors == 2 &&
       !memcmp(&got->latency, &gave->latency, sizeof got->latency),
       "each connection's counters and latency histogram round trip");
  T_OK(out.commands_retried == 5 && out.recoveries == 1, "the session's counters round trip");

  uint8_t *blob = NULL;
  size_t len = 0;
  T_OK(mcsi_handover_encode(s, &blob, &len) == 0 && blob[11] == 2, "the blob says version 2");
  T_EQ_U64(mcsi_handover_blob_session_id(blob, len), s->id, "mcsi_handover_blob_session_id reads it");
  T_EQ_U64(mcsi_handover_blob_session_id(blob, len - 1), 0, "... 0 for a cut blob");
  blob[11] = 3;
  st = mcsi_handover_decode(blob, len, 2, &out, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_UNSUPPORTED_VERSION", "version 3 is refused (%s)", msg);
  T_OK(strstr(msg, "version 3, this library reads versions 1 to 2") != NULL, "... naming what it reads (%s)", msg);
  T_EQ_U64(mcsi_handover_blob_session_id(blob, len), 0, "... and names no session");
  blob[11] = 0;
  st = mcsi_handover_decode(blob, len, 2, &out, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_UNSUPPORTED_VERSION", "version 0 is refused (%s)", msg);
  blob[11] = 1;
  st = mcsi_handover_decode(blob, len, 2, &out, msg);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_INVALID_PARAMETER", "a version 2 blob labelled 1 is refused (%s)", msg);
  free(blob);
  reads_0_3_0();

  s = good();
  s->id = 0;
  refused(s, "session id 0", "session id 0x0000000000000000");
  s = good();
  s->id = MCSI_HANDOVER_ID_MAX + 1;
  refused(s, "a session id above 2^53 - 1 (the allocator could wrap; JSON clients lose bits)", "(1..2^53-1)");
  s = good();
  s->conns[1].id = 0;
  refused(s, "a connection id 0", "has id 0x0000000000000000");
  s = good();
  s->conns[1].id = UINT64_MAX;
  refused(s, "a connection id of 2^64 - 1", "has id 0xffffffffffffffff");
  s = good();
  s->conns[1].id = s->conns[0].id;
  refused(s, "two connections with one id", "two connections with id 0x0000000000000043");
  s = good();
  s->conns[0].id = s->id;
  refused(s, "a connection with the session's id", "the session's id");

  mcsi_id a = mcsi_new_id();
  mcsi_id_reserve(a + 1000);
  mcsi_id b = mcsi_new_id();
  T_EQ_U64(b, a + 1001, "after mcsi_id_reserve(n) the next id is n + 1");
  mcsi_id_reserve(a);
  T_EQ_U64(mcsi_new_id(), b + 1, "a reserve below the last id changes nothing (never back)");
  return t_done();
}
