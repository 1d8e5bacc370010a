/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_mcs.c: several connections in one session against the real tgtd and
 * istgt: adds across 127.0.0.1 and 127.0.0.2 seen by the targets as ONE
 * session, every Status of add/remove created for real, round-robin spread,
 * load balance policies, failover under verified writes while the targets
 * drop connections, all connections dropped at once, silent path loss. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;
static char tgt1[64], tgt2[64], istgt1[64], istgt2[64];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tgtadm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tgtadm(const char *fmt, ...)
{
  char args[256], cmd[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi %s >/dev/null 2>&1", t_env("MCSI_TGT_IPC"), args);
  return system(cmd);
}

static int count_lines(const char *text, const char *needle)
{
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static mcsi_id login(const char *portal, const char *iqn, uint32_t maxc, int recovery_ms)
{
  mcsi_login_opts *o = t_login_opts(portal, iqn, MCSI_OPT_MAX_CONNECTIONS, maxc, MCSI_OPT_RECOVERY_TIMEOUT_MS, recovery_ms, MCSI_OPT_NOP_INTERVAL_MS, 1000, MCSI_OPT_NOP_TIMEOUT_MS, 1000, 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "login to %s via %s (%s)", iqn, portal, mcsi_last_message(ini));
  return st ? 0 : sid;
}

static mcsi_status add(mcsi_id sid, const char *portal, mcsi_id *cid)
{
  mcsi_conn_opts *o = t_conn_opts(portal, 0);
  return mcsi_add_connection_to_session(ini, sid, o, cid);
}

static mcsi_session_info *info(mcsi_id sid)
{
  mcsi_session_info *si = NULL;
  memset(&si, 0, sizeof si);
  t_get_info(ini, sid, &si);
  return si;
}

static uint16_t tgt_sid(uint16_t tsih) { return (uint16_t)(tsih >> 8 | tsih << 8); }

/* ---- one session, four connections, both portals ------------------------------------ */

static void four_connections_tgt(void)
{
  mcsi_id sid = login(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), 4, 0), cid[3];
  if (!sid) return;
  const char *portals[3] = { tgt2, tgt1, tgt2 };
  for (int i = 0; i < 3; i++) {
    mcsi_status st = add(sid, portals[i], &cid[i]);
    T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "tgt: add connection %d via %s (%s)", i + 2, portals[i], mcsi_last_message(ini));
  }
  mcsi_session_info *si = info(sid);
  T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 4, "tgt: the session lists 4 connections");
  char cmd[256];
  snprintf(cmd, sizeof cmd, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op show --mode conn --tid 1", t_env("MCSI_TGT_IPC"));
  const char *out = t_run(cmd);
  int sessions = 0;
  char seen[16][16];
  for (const char *q = out; (q = strstr(q, "Session: ")); q += 9) {
    char num[16];
    sscanf(q + 9, "%15s", num);
    int dup = 0;
    for (int k = 0; k < sessions; k++) dup |= !strcmp(seen[k], num);
    if (!dup && sessions < 16) snprintf(seen[sessions++], sizeof seen[0], "%s", num);
  }
  T_EQ_INT(sessions, 1, "tgtadm shows ONE session");
  T_EQ_INT(count_lines(out, "Connection:"), 4, "tgtadm shows 4 connections in it");
  int cids_distinct = 1;
  for (size_t i = 0; i < 4; i++)
    for (size_t j = 0; j < i; j++) cids_distinct &= mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_CID) != mcsi_conn_info_get(mcsi_session_info_connection(si, j), MCSI_CI_CID);
  T_OK(cids_distinct, "every connection has its own CID");
  int on2 = 0;
  for (size_t i = 0; i < 4; i++) on2 += strncmp(mcsi_conn_info_get_string(mcsi_session_info_connection(si, i), MCSI_CI_REMOTE_ADDR), "127.0.0.2", 9) == 0;
  T_EQ_INT(on2, 2, "two connections reach the target through 127.0.0.2");

  /* round robin: a fair share each */
  uint64_t before[4];
  for (int i = 0; i < 4; i++) before[i] = mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_COMMANDS);
  uint8_t buf[4096];
  for (int i = 0; i < 400; i++) mcsi_read(ini, sid, 1, (uint64_t)i * 8, buf, sizeof buf);
  si = info(sid);
  int fair = 1;
  for (int i = 0; i < 4; i++) {
    uint64_t n = mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_COMMANDS) - before[i];
    fair &= n >= 95 && n <= 105;
    printf("# connection CID %u carried %llu of 400 commands\n", (unsigned)mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_CID), (unsigned long long)n);
  }
  T_OK(fair, "round robin: each of 4 connections carried 100 +- 5 of 400 commands");

  T_EQ_STR(mcsi_status_name(add(sid, tgt1, NULL)), "ISDSC_TOO_MANY_CONNECTIONS", "a 5th connection is refused without asking the target");
  out = t_run(cmd);
  T_EQ_INT(count_lines(out, "Connection:"), 4, "tgt still sees 4 connections");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout of the 4-connection session (%s)", mcsi_last_message(ini));
  usleep(200000);
  out = t_run(cmd);
  T_EQ_INT(count_lines(out, "Connection:"), 0, "tgt has no connection left after logout");
}

static void four_connections_istgt(void)
{
  mcsi_id sid = login(istgt1, t_env("MCSI_ISTGT_IQN"), 4, 0), cid;
  if (!sid) return;
  for (int i = 0; i < 3; i++) {
    mcsi_status st = add(sid, i % 2 ? istgt1 : istgt2, &cid);
    T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "istgt: add connection %d (%s)", i + 2, mcsi_last_message(ini));
  }
  char cmd[256];
  snprintf(cmd, sizeof cmd, "istgtcontrol -c %s/istgtcontrol.conf info 2>&1", t_env("MCSI_HARNESS_DIR"));
  const char *out = t_run(cmd);
  mcsi_session_info *si = info(sid);
  char tsih[32];
  snprintf(tsih, sizeof tsih, "TSIH=%u", (unsigned)mcsi_session_info_get(si, MCSI_SI_TSIH));
  T_EQ_INT(count_lines(out, tsih), 4, "istgtcontrol info: 4 connections with %s", tsih);
  T_EQ_INT(count_lines(out, "TSIH="), 4, "and no other connection");
  uint8_t w[65536], r[65536];
  for (size_t i = 0; i < sizeof w; i++) w[i] = (uint8_t)(i * 13);
  int ok = 1;
  for (int i = 0; i < 64; i++) {
    ok &= mcsi_write(ini, sid, 0, (uint64_t)i * 128, w, sizeof w) == ISDSC_SUCCESS;
    ok &= mcsi_read(ini, sid, 0, (uint64_t)i * 128, r, sizeof r) == ISDSC_SUCCESS && !memcmp(w, r, sizeof w);
  }
  T_OK(ok, "istgt: 64 writes read back over 4 connections");

  /* istgt frees a closed connection's slot about 1 s later: an immediate
   * re-add is refused (0x0208) and must not harm the session */
  si = info(sid);
  mcsi_id victim = mcsi_conn_info_get(mcsi_session_info_connection(si, 1), MCSI_CI_ID);
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, victim), ISDSC_SUCCESS, "istgt: remove one connection");
  mcsi_status st = add(sid, istgt1, &cid);
  T_OK(st == ISDSC_CANT_INCLUDE_IN_SESSION || st == ISDSC_SUCCESS, "istgt: immediate re-add: %s (%s)", mcsi_status_name(st),
       mcsi_last_message(ini));
  if (st == ISDSC_CANT_INCLUDE_IN_SESSION)
    T_OK(strstr(mcsi_last_message(ini), "0x0208") != NULL, "the target's own detail kept: %s", mcsi_last_message(ini));
  T_EQ_INT(mcsi_read(ini, sid, 0, 0, r, 512), ISDSC_SUCCESS, "session works after the refused add");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "istgt logout");
}

/* ---- every Status of add and remove ---------------------------------------------------- */

static int async_calls;
static mcsi_status async_st;
static void on_event(mcsi_initiator *i, const mcsi_event *ev, void *arg)
{
  (void)i; (void)arg;
  if (getenv("MCSI_TEST_EVENTS"))
    printf("# event %s sid %llu cid %llu %s: %s\n", mcsi_event_name(ev->kind), (unsigned long long)ev->session_id,
           (unsigned long long)ev->connection_id, mcsi_status_name(ev->status), ev->reason);
}

static void on_removed(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)message; (void)result;
  (void)ini_; (void)arg; async_calls++; async_st = st;
}

static void statuses(void)
{
  char portal[64];
  mcsi_id cid, cid2;
  T_EQ_INT(add(0x7777, tgt1, &cid), ISDSC_INVALID_SESSION_ID, "add to an unknown session");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, 0x7777, 1), ISDSC_INVALID_SESSION_ID, "remove from an unknown session");
  mcsi_id sid = login(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), 2, 0);
  if (!sid) return;
  mcsi_session_info *si = info(sid);
  mcsi_id lead = mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ID);
  T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_MAX_CONNECTIONS), 2, "MaxConnections=2 offered and negotiated");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, lead), ISDSC_CANT_REMOVE_LAST_CONNECTION, "the only connection");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, 0x9999), ISDSC_INVALID_CONNECTION_ID, "unknown connection id");

  snprintf(portal, sizeof portal, "127.0.0.1:%s", t_env("MCSI_FREE_PORT"));
  mcsi_status st = add(sid, portal, &cid);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_CONNECTION_FAILED", "add via an unreachable portal (%s)", mcsi_last_message(ini));
  T_EQ_INT(mcsi_session_info_get(info(sid), MCSI_SI_CONNECTION_COUNT), 1, "session untouched by the failed add");
  T_EQ_INT(add(sid, NULL, &cid), ISDSC_NO_PORTAL_SPECIFIED, "add without a portal");

  T_EQ_INT(add(sid, tgt2, &cid), ISDSC_SUCCESS, "second connection (%s)", mcsi_last_message(ini));
  T_EQ_INT(add(sid, tgt2, &cid2), ISDSC_TOO_MANY_CONNECTIONS, "third connection beyond MaxConnections=2");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, lead), ISDSC_CANNOT_REMOVE_LEADING_CONNECTION, "the leading connection");

  T_EQ_INT(mcsi_remove_connection_async(ini, sid, cid, MCSI_COMPLETION(on_removed, NULL)), ISDSC_SUCCESS, "async removal started");
  T_EQ_INT(mcsi_remove_connection_async(ini, sid, cid, MCSI_COMPLETION(on_removed, NULL)), ISDSC_REMOVE_CONNECTION_IN_PROGRESS, "second removal of the same connection");
  while (!async_calls) mcsi_process(ini, 100);
  T_EQ_INT(async_st, ISDSC_SUCCESS, "async removal finished with the Logout Response checked");
  T_EQ_INT(async_calls, 1, "its callback ran once");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, cid), ISDSC_INVALID_CONNECTION_ID, "an already removed connection");
  T_EQ_INT(mcsi_session_info_get(info(sid), MCSI_SI_CONNECTION_COUNT), 1, "one connection left");
  uint8_t b[512];
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, sizeof b), ISDSC_SUCCESS, "I/O on the remaining connection");

  /* load balance policy arguments */
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, 9, NULL, 0), ISDSC_INVALID_LOAD_BALANCE_POLICY, "policy 9");
  T_EQ_INT(mcsi_set_load_balance_policy(ini, 0x7777, 2, NULL, 0), ISDSC_INVALID_SESSION_ID, "policy on unknown session");
  mcsi_lb_path p[2] = { { .connection_id = lead, .primary = 1 }, { .connection_id = lead, .primary = 1 } };
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, 1, p, 2), ISDSC_DUPLICATE_PATH_SPECIFIED, "same path twice");
  p[1].connection_id = 0x5555;
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, 1, p, 2), ISDSC_INVALID_CONNECTION_ID, "unknown path");
  p[0].primary = 0;
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, 1, p, 1), ISDSC_NO_PRIMARY_PATH_SPECIFIED, "fail over only without primary");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout");
}

/* ---- policies ---------------------------------------------------------------------------- */

static void policies(void)
{
  mcsi_id sid = login(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), 4, 0), c[3];
  if (!sid) return;
  for (int i = 0; i < 3; i++) add(sid, i % 2 ? tgt1 : tgt2, &c[i]);
  mcsi_session_info *si = info(sid);
  uint8_t b[4096];
  uint64_t base[4];

#define SNAP() do { si = info(sid); for (int i_ = 0; i_ < 4; i_++) base[i_] = mcsi_conn_info_get(mcsi_session_info_connection(si, i_), MCSI_CI_COMMANDS); } while (0)
#define DELTA(i) (mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_COMMANDS) - base[i])
  mcsi_lb_path fo[1] = { { .connection_id = c[1], .primary = 1 } };
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, MCSI_LB_FAILOVER_ONLY, fo, 1), ISDSC_SUCCESS, "fail over only, primary = third connection");
  SNAP();
  for (int i = 0; i < 100; i++) mcsi_read(ini, sid, 1, 0, b, sizeof b);
  si = info(sid);
  T_OK(DELTA(2) >= 100 && DELTA(0) + DELTA(1) + DELTA(3) == 0 && mcsi_conn_info_get(mcsi_session_info_connection(si, 2), MCSI_CI_PRIMARY) && !mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ACTIVE),
       "fail over only: all 100 commands on the primary (%llu %llu %llu %llu; primary %d, first active %d)",
       (unsigned long long)DELTA(0), (unsigned long long)DELTA(1), (unsigned long long)DELTA(2), (unsigned long long)DELTA(3),
       (int)mcsi_conn_info_get(mcsi_session_info_connection(si, 2), MCSI_CI_PRIMARY), (int)mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ACTIVE));

  mcsi_lb_path w[4] = { { mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ID), 1, 1, 0 }, { c[0], 1, 1, 0 }, { c[1], 2, 1, 0 }, { c[2], 4, 1, 0 } };
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, MCSI_LB_WEIGHTED_PATHS, w, 4), ISDSC_SUCCESS, "weighted paths 1:1:2:4");
  SNAP();
  for (int i = 0; i < 800; i++) mcsi_read(ini, sid, 1, 0, b, sizeof b);
  si = info(sid);
  T_OK(DELTA(0) == 100 && DELTA(1) == 100 && DELTA(2) == 200 && DELTA(3) == 400, "weighted: 100/100/200/400 of 800 (%llu %llu %llu %llu)",
       (unsigned long long)DELTA(0), (unsigned long long)DELTA(1), (unsigned long long)DELTA(2), (unsigned long long)DELTA(3));

  mcsi_lb_path sub[4] = { { mcsi_conn_info_get(mcsi_session_info_connection(si, 0), MCSI_CI_ID), 0, 1, 0 }, { c[0], 0, 1, 0 }, { c[1], 0, 0, 0 }, { c[2], 0, 0, 0 } };
  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, MCSI_LB_ROUND_ROBIN_SUBSET, sub, 4), ISDSC_SUCCESS, "round robin with subset {1,2}");
  SNAP();
  for (int i = 0; i < 100; i++) mcsi_read(ini, sid, 1, 0, b, sizeof b);
  si = info(sid);
  T_OK(DELTA(0) == 50 && DELTA(1) == 50 && DELTA(2) == 0 && DELTA(3) == 0, "subset: 50/50/0/0");

  T_EQ_INT(mcsi_set_load_balance_policy(ini, sid, MCSI_LB_LEAST_QUEUE_DEPTH, NULL, 0), ISDSC_SUCCESS, "least queue depth");
  T_EQ_INT(mcsi_session_info_get(info(sid), MCSI_SI_LOAD_BALANCE_POLICY), MCSI_LB_LEAST_QUEUE_DEPTH, "policy shown in the session info");
  T_EQ_INT(mcsi_read(ini, sid, 1, 0, b, sizeof b), ISDSC_SUCCESS, "I/O under least queue depth");
  mcsi_logout_from_target(ini, sid);
#undef SNAP
#undef DELTA
}

/* ---- failover under verified writes -------------------------------------------------------- */

#define BLOCKS 2048                    /* 4 KiB blocks: an 8 MiB region */
#define QD 32

typedef struct block_hdr { uint32_t magic, block, seq, sum; } block_hdr;

typedef struct load {
  mcsi_id sid;
  uint64_t lun;
  uint32_t next_seq, acked[BLOCKS], written[BLOCKS];
  uint8_t busy[BLOCKS];
  uint8_t buf[QD][4096];
  int slot_block[QD];
  int inflight, failed, stop, completed;
  mcsi_status first_fail;
} load;

static load L;

static uint32_t sum32(const uint8_t *p, size_t n)
{
  uint32_t s = 2166136261u;
  for (size_t i = 0; i < n; i++) s = (s ^ p[i]) * 16777619u;
  return s;
}

static void make_block(uint8_t *b, uint32_t block, uint32_t seq)
{
  for (size_t i = sizeof(block_hdr); i < 4096; i++) b[i] = (uint8_t)(block * 31 + seq * 7 + i);
  block_hdr h = { 0x6d637369, block, seq, sum32(b + sizeof h, 4096 - sizeof h) };
  memcpy(b, &h, sizeof h);
}

static void load_submit(int slot);

static void load_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  int slot = (int)(intptr_t)arg, blk = L.slot_block[slot];
  L.inflight--;
  L.busy[blk] = 0;
  L.completed++;
  if (st) {
    if (!L.failed++) L.first_fail = st;
    if (getenv("MCSI_TEST_EVENTS"))
      printf("# write failed: %s sense %x/%x/%x: %s\n", mcsi_status_name(st), res->sense_key, res->asc, res->ascq,
             mcsi_last_message(ini));
  } else {
    L.acked[blk] = L.written[blk];
  }
  if (!L.stop) load_submit(slot);
}

static void load_submit(int slot)
{
  int blk;
  do blk = rand() % BLOCKS; while (L.busy[blk]);
  L.busy[blk] = 1;
  L.slot_block[slot] = blk;
  L.written[blk] = ++L.next_seq;
  make_block(L.buf[slot], (uint32_t)blk, L.written[blk]);
  mcsi_status st = mcsi_write_async(ini, L.sid, L.lun, (uint64_t)blk * 8, 512, L.buf[slot], 4096, MCSI_COMPLETION(load_done, (void *)(intptr_t)slot));
  if (st) { L.busy[blk] = 0; if (!L.failed++) L.first_fail = st; return; }
  L.inflight++;
}

static void pump(double seconds)
{
  double end = now_s() + seconds;
  while (now_s() < end) mcsi_process(ini, 10);
}

static void load_start(mcsi_id sid, uint64_t lun)
{
  memset(&L, 0, sizeof L);
  L.sid = sid;
  L.lun = lun;
  for (int i = 0; i < QD; i++) load_submit(i);
}

static void load_stop(void)
{
  L.stop = 1;
  double end = now_s() + 60;
  while (L.inflight && now_s() < end) mcsi_process(ini, 50);
}

/* Reads the region back: every block holds its last acknowledged write. */
static void verify(const char *what)
{
  static uint8_t r[BLOCKS * 4096];
  int bad = 0, lost = 0;
  mcsi_status st = ISDSC_SUCCESS;
  for (int i = 0; i < BLOCKS && !st; i += 256) st = mcsi_read(ini, L.sid, L.lun, (uint64_t)i * 8, r + (size_t)i * 4096, 256 * 4096);
  T_EQ_STR(mcsi_status_name(st), "ISDSC_SUCCESS", "%s: read back (%s)", what, mcsi_last_message(ini));
  for (int i = 0; i < BLOCKS; i++) {
    if (!L.acked[i]) continue;
    block_hdr h;
    memcpy(&h, r + (size_t)i * 4096, sizeof h);
    if (h.magic != 0x6d637369 || h.block != (uint32_t)i || h.sum != sum32(r + (size_t)i * 4096 + sizeof h, 4096 - sizeof h)) bad++;
    else if (h.seq != L.acked[i]) lost++;
  }
  T_EQ_INT(bad, 0, "%s: no corrupt block", what);
  T_EQ_INT(lost, 0, "%s: no acknowledged write lost (every block holds its last acknowledged version)", what);
}

static mcsi_id any_non_leading(mcsi_id sid, uint16_t *cid_out, uint16_t *port_out)
{
  mcsi_session_info *si = info(sid);
  int n = 0;
  size_t pick[8];
  for (size_t i = 0; i < mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT) && i < 8; i++)
    if (!strcmp(mcsi_conn_info_get_string(mcsi_session_info_connection(si, i), MCSI_CI_STATE), "active")) pick[n++] = i;
  if (!n) return 0;
  size_t i = pick[rand() % n];
  *cid_out = mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_CID);
  *port_out = mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_LOCAL_PORT);
  return mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_ID);
}

static void refill(mcsi_id sid, const char *p1, const char *p2, size_t want)
{
  for (int tries = 0; mcsi_session_info_get(info(sid), MCSI_SI_CONNECTION_COUNT) < want && tries < 20; tries++) {
    mcsi_id cid;
    if (add(sid, tries % 2 ? p1 : p2, &cid) != ISDSC_SUCCESS) pump(0.2);
  }
}

static void failover_tgt(int drops)
{
  mcsi_id sid = login(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), 4, 30000);
  if (!sid) return;
  refill(sid, tgt1, tgt2, 4);
  load_start(sid, 1);
  int done = 0;
  double longest = 0;
  for (int d = 0; d < drops; d++) {
    pump(0.02);
    uint16_t cid, port;
    mcsi_session_info *si = info(sid);
    if (!any_non_leading(sid, &cid, &port)) break;
    if (tgtadm("--op delete --mode conn --tid 1 --sid %u --cid %u", tgt_sid(mcsi_session_info_get(si, MCSI_SI_TSIH)), cid) == 0) done++;
    int before = L.completed;
    double t0 = now_s();
    pump(0.05);
    if (L.completed == before) longest = now_s() - t0 > longest ? now_s() - t0 : longest;
    refill(sid, tgt1, tgt2, 4);
  }
  load_stop();
  mcsi_session_info *si = info(sid);
  printf("# tgt: %d drops, %d writes completed, %llu commands re-issued, %u recoveries\n", done, L.completed,
         (unsigned long long)(unsigned)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED), (unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES));
  T_OK(done >= drops * 9 / 10, "tgt: %d of %d connection drops done from the target side", done, drops);
  T_EQ_INT(L.failed, 0, "tgt: no failed command under %d drops (first: %s)", done, mcsi_status_name(L.first_fail));
  T_OK(mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED) > 0, "tgt: commands were re-issued on surviving connections (%llu)", (unsigned long long)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED));
  verify("tgt failover");

  /* every connection at once: the session reinstates itself */
  load_start(sid, 1);
  pump(0.1);
  si = info(sid);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "bash tests/harness/tgt-drop-conn 1 %u >/dev/null 2>&1", tgt_sid(mcsi_session_info_get(si, MCSI_SI_TSIH)));
  T_EQ_INT(system(cmd), 0, "tgt: all connections dropped at once");
  pump(1.0);
  load_stop();
  si = info(sid);
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "tgt: session active again");
  T_OK((unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES) >= 1, "tgt: reinstated (%u recoveries)", (unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES));
  T_EQ_INT(L.failed, 0, "tgt: no command failed across the reinstatement (first: %s)", mcsi_status_name(L.first_fail));
  verify("tgt reinstatement");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "tgt: logout");
}

/* istgt's own connection count (istgtcontrol info), old sessions included. */
static int istgt_connections(void)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "istgtcontrol -c %s/istgtcontrol.conf info 2>&1", t_env("MCSI_HARNESS_DIR"));
  return count_lines(t_run(cmd), "TSIH=");
}

/* istgt drops the whole session when a connection dies with commands in
 * flight (it stalls at the CmdSN hole): every drop here ends in a
 * reinstatement. istgt tears the old session down in the background, and a
 * login that joins the new session while that is going on can hang istgt for
 * good (seen under load). So after each drop the test waits until istgt's
 * own list holds only the live connections before adding any. */
static void failover_istgt(int drops)
{
  mcsi_login_opts *o = t_login_opts(istgt1, t_env("MCSI_ISTGT_IQN"), MCSI_OPT_MAX_CONNECTIONS, 4, MCSI_OPT_NOP_INTERVAL_MS, 500, MCSI_OPT_NOP_TIMEOUT_MS, 1000, 0);
  mcsi_id sid = 0;
  if (mcsi_login_to_target(ini, o, &sid, NULL)) { T_OK(0, "istgt login (%s)", mcsi_last_message(ini)); return; }
  refill(sid, istgt1, istgt2, 2);
  load_start(sid, 0);
  int done = 0;
  for (int d = 0; d < drops; d++) {
    pump(0.1);
    uint16_t cid, port;
    if (!any_non_leading(sid, &cid, &port)) break;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ss -K -tn 'sport = :%s and dport = :%u' >/dev/null 2>&1", t_env("MCSI_ISTGT_PORT"), port);
    if (system(cmd) == 0) done++;
    double end = now_s() + 20;
    pump(0.3);
    while (strcmp(mcsi_session_info_get_string(info(sid), MCSI_SI_STATE), "active") && now_s() < end) pump(0.1);
    while (istgt_connections() > (int)mcsi_session_info_get(info(sid), MCSI_SI_CONNECTION_COUNT) && now_s() < end) pump(0.2);
    pump(0.5);
    refill(sid, istgt1, istgt2, 2);
  }
  pump(0.5);
  load_stop();
  mcsi_session_info *si = info(sid);
  printf("# istgt: %d drops, %d writes completed, %llu re-issued, %u recoveries\n", done, L.completed,
         (unsigned long long)(unsigned)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED), (unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES));
  T_EQ_INT(done, drops, "istgt: %d connections reset with ss -K", drops);
  T_EQ_INT(L.failed, 0, "istgt: no failed command (first: %s)", mcsi_status_name(L.first_fail));
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "istgt: session active at the end");
  verify("istgt failover");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "istgt: logout");
}

/* ---- silent loss of one path -------------------------------------------------------------- */

static void silent_path(void)
{
  mcsi_login_opts *o = t_login_opts(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), MCSI_OPT_NOP_INTERVAL_MS, 200, MCSI_OPT_NOP_TIMEOUT_MS, 300, 0);
  mcsi_id sid = 0, cid;
  if (mcsi_login_to_target(ini, o, &sid, NULL)) { T_OK(0, "login for the silent path test"); return; }
  add(sid, tgt2, &cid);
  mcsi_session_info *si = info(sid);
  uint16_t port = mcsi_conn_info_get(mcsi_session_info_connection(si, 1), MCSI_CI_LOCAL_PORT);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "nft -f - >/dev/null 2>&1 <<'EOF'\ntable inet mcsi_mcs_%d {\n chain in { type filter hook input priority -10;"
           " tcp sport %u drop; tcp dport %u drop; }\n}\nEOF", (int)getpid(), port, port);
  T_EQ_INT(system(cmd), 0, "nftables drops the second connection's packets");
  load_start(sid, 1);
  double t0 = now_s(), dt = 0;
  while (now_s() - t0 < 5) {
    mcsi_process(ini, 10);
    if (mcsi_session_info_get(info(sid), MCSI_SI_CONNECTION_COUNT) == 1) { dt = now_s() - t0; break; }
  }
  pump(0.3);
  load_stop();
  snprintf(cmd, sizeof cmd, "nft delete table inet mcsi_mcs_%d", (int)getpid());
  T_EQ_INT(system(cmd), 0, "nftables rules removed");
  T_OK(dt > 0 && dt <= 0.2 + 0.3 + 0.3, "silent path dropped within interval + timeout (%.3f s)", dt);
  T_EQ_INT(L.failed, 0, "I/O continued on the other connection without a failed command");
  T_OK(L.completed > 100, "%d writes completed meanwhile", L.completed);
  verify("silent path");
  mcsi_logout_from_target(ini, sid);
}

int main(void)
{
  const char *quick = getenv("MCSI_TEST_QUICK");
  t_tgt_portal(tgt1, sizeof tgt1, 1);
  t_tgt_portal(tgt2, sizeof tgt2, 2);
  snprintf(istgt1, sizeof istgt1, "127.0.0.1:%s", t_env("MCSI_ISTGT_PORT"));
  snprintf(istgt2, sizeof istgt2, "127.0.0.2:%s", t_env("MCSI_ISTGT_PORT"));
  srand(7);
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:mcs");
  mcsi_set_event_callback(ini, on_event, NULL);
  const char *only = getenv("MCSI_TEST_ONLY");   /* e.g. "istgt" while debugging */
#define PART(name, call) if (!only || strstr(name, only)) call
  PART("four_connections_tgt", four_connections_tgt());
  PART("four_connections_istgt", four_connections_istgt());
  PART("statuses", statuses());
  PART("policies", policies());
  PART("failover_tgt", failover_tgt(quick ? 10 : 100));
  PART("failover_istgt", failover_istgt(quick ? 2 : 6));
  PART("silent_path", silent_path());
#undef PART
  mcsi_initiator_free(ini);
  return t_done();
}
