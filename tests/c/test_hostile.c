/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_hostile.c: the initiator against hostile fake targets, one test per
 * defect class of issue 7 (memory safety, bounds, time, reserved fields).
 * Each test fails without its fix: by a wrong Status, by memory a target
 * could grow without bound, by bytes written where they must not be, or by
 * a crash (under make asan: a sanitizer report). Needs no real target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"

#define LOOP_MS 20

/* Serial number arithmetic (RFC 1982, 32 bits): a <= b. */
static int mcsi_sn_le_test(uint32_t a, uint32_t b) { return (int32_t)(b - a) >= 0; }

/* Runs the loop until *flag is set or ms pass; 1 when it was set. */
static int run_until(mcsi_initiator *ini, const int *flag, int64_t ms)
{
  int64_t end = now_ms() + ms;

  while (!*flag && now_ms() < end)
    mcsi_process(ini, LOOP_MS);
  return *flag != 0;
}

static void run_for(mcsi_initiator *ini, int64_t ms)
{
  int never = 0;

  run_until(ini, &never, ms);
}

static fake_target_opts scenario_opts(fake_scenario sc, int variant)
{
  fake_target_opts to;

  memset(&to, 0, sizeof to);
  to.scenario = sc;
  to.variant = variant;
  return to;
}

static void check_session_works(fx *f, const char *what)
{
  mcsi_session_info *si = NULL;

  t_status(mcsi_scsi_test_unit_ready(f->ini, f->sid, 0), ISDSC_SUCCESS, what, f);
  t_get_info(f->ini, f->sid, &si);
  T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "%s: session still active", what);
}

/* ---- 1. Removal path: a Data-In for an unknown ITT while logging out ---------- */

static void test_logout_stray_data_in(void)
{
  fake_target_opts to = scenario_opts(FAKE_LOGOUT_STRAY_DATA_IN, 0);
  fx f;

  to.mcs = 1;
  if (fx_start(&f, &to)) {
    mcsi_id cid = fx_add_conn(&f, "logout stray Data-In: second connection");
    if (cid) {
      t_status(mcsi_remove_connection_from_session(f.ini, f.sid, cid), ISDSC_SUCCESS,
               "logout stray Data-In: removal answered, the foreign Data-In dropped", &f);
      check_session_works(&f, "logout stray Data-In: afterwards");
    }
    fx_logout_any(&f, "logout stray Data-In");
  }
  fx_end(&f);
}

/* A Logout answered by a Reject: the removal still ends, with a Status. */
static int rejected_removed;
static mcsi_status rejected_st;

static void rejected_removal_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)message; (void)result;
  (void)ini_;
  (void)arg;
  rejected_st = st;
  rejected_removed++;
}

static void test_logout_rejected(void)
{
  fake_target_opts to = scenario_opts(FAKE_LOGOUT_REJECTED, 0);
  fx f;

  to.mcs = 1;
  if (fx_start(&f, &to)) {
    mcsi_id cid = fx_add_conn(&f, "rejected Logout: second connection");
    if (cid) {
      t_status(mcsi_remove_connection_async(f.ini, f.sid, cid, MCSI_COMPLETION(rejected_removal_done, NULL)), ISDSC_SUCCESS,
               "rejected Logout: removal started", &f);
      run_until(f.ini, &rejected_removed, 10000);
      T_EQ_INT(rejected_removed, 1, "rejected Logout: the removal ended, once");
      t_status(rejected_st, ISDSC_TARGET_ERROR, "rejected Logout: with the target's refusal", &f);
      mcsi_session_info *si = NULL;
      t_get_info(f.ini, f.sid, &si);
      T_EQ_U64(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "rejected Logout: the connection is gone from the session");
      check_session_works(&f, "rejected Logout: afterwards");
    }
    fx_logout_any(&f, "rejected Logout");
  }
  fx_end(&f);
}

/* A joining login's ExpCmdSN is the CmdSN of that login (tgt does this),
 * not the session's: it must not tell the session the target has reached
 * commands it never answered (soak finding: lost commands were then
 * renumbered instead of plugging their CmdSN hole, and tgt stalled). */
static void test_join_expcmdsn(void)
{
  fake_target_opts to = scenario_opts(FAKE_JOINED_SWALLOWS, 0);
  static uint8_t buf[512];
  async_done d = { 0, 0 };
  uint8_t cdb[10];
  fx f;

  to.mcs = 1;
  if (!fx_start(&f, &to)) {
    fx_end(&f);
    return;
  }
  mcsi_id b = fx_add_conn(&f, "join ExpCmdSN: second connection");
  mcsi_lb_path primary = { .connection_id = b, .primary = 1, .active = 1 };
  if (b && t_status(mcsi_set_load_balance_policy(f.ini, f.sid, MCSI_LB_FAILOVER_ONLY, &primary, 1), ISDSC_SUCCESS,
                    "join ExpCmdSN: commands go to the second connection", &f)) {
    cdb_rw10(cdb, 0x28, 0, 1);
    t_status(mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(on_done, &d)),
             ISDSC_SUCCESS, "join ExpCmdSN: a READ the target takes and never answers", &f);
    run_for(f.ini, 200);
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    uint32_t unanswered = mcsi_session_info_get(si, MCSI_SI_CMDSN) - 1;
    fx_add_conn(&f, "join ExpCmdSN: a third connection joins");
    t_get_info(f.ini, f.sid, &si);
    T_OK(mcsi_sn_le_test(mcsi_session_info_get(si, MCSI_SI_EXP_CMDSN), unanswered),
         "join ExpCmdSN: the session still expects CmdSN %u to be unreached (ExpCmdSN %u)", unanswered, (unsigned)mcsi_session_info_get(si, MCSI_SI_EXP_CMDSN));
  }
  fx_logout_any(&f, "join ExpCmdSN");
  fx_end(&f);
}

/* ---- 2. Drain path: the rest of a moved command's Data-In ---------------------- */

static uint8_t split_buf[8 * 512];
static int split_done, removed;
static mcsi_status split_st, removed_st;

static void split_read_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  split_st = st;
  split_done = 1;
  memset(split_buf, 0x5a, sizeof split_buf);   /* the caller reuses its buffer at once */
}

static void removal_done(mcsi_initiator *ini_, mcsi_status st, const char *message, const void *result, void *arg)
{
  (void)message; (void)result;
  (void)ini_;
  (void)arg;
  removed_st = st;
  removed = 1;
}

static size_t count_not(const uint8_t *p, size_t n, uint8_t v)
{
  size_t bad = 0;

  for (size_t i = 0; i < n; i++)
    bad += p[i] != v;
  return bad;
}

static void test_split_data_in(void)
{
  fake_target_opts to = scenario_opts(FAKE_SPLIT_DATA_IN, 0);
  uint8_t cdb[10];
  fx f;

  to.mcs = 1;
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 15000);             /* longer than the 5 s drain: the READ moves, not times out */
  t_login_set(f.lo, MCSI_OPT_NOP_INTERVAL_MS, -1);                   /* a NOP would find the connection stuck mid-PDU */
  if (!t_status(fx_login(&f), ISDSC_SUCCESS, "split Data-In: login", &f)) {
    fx_end(&f);
    return;
  }
  mcsi_id cid = fx_add_conn(&f, "split Data-In: second connection");
  mcsi_lb_path primary = { .connection_id = cid, .primary = 1, .active = 1 };
  if (cid && t_status(mcsi_set_load_balance_policy(f.ini, f.sid, MCSI_LB_FAILOVER_ONLY, &primary, 1),
                      ISDSC_SUCCESS, "split Data-In: the READ goes to the second connection", &f)) {
    cdb_rw10(cdb, 0x28, 0, 8);
    t_status(mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, split_buf, sizeof split_buf, MCSI_COMPLETION(split_read_done, NULL)), ISDSC_SUCCESS, "split Data-In: READ submitted", &f);
    run_for(f.ini, 300);                       /* the header and half the data arrive */
    T_EQ_INT(split_done, 0, "split Data-In: the READ waits for the rest of its data");
    t_status(mcsi_remove_connection_async(f.ini, f.sid, cid, MCSI_COMPLETION(removal_done, NULL)), ISDSC_SUCCESS,
             "split Data-In: removal started", &f);
    run_until(f.ini, &removed, 15000);         /* drain deadline, READ moves, Logout, the rest arrives */
    run_until(f.ini, &split_done, 5000);
    T_OK(split_done && split_st == ISDSC_SUCCESS, "split Data-In: the READ completed on the other connection (%s)",
         st_name(split_st));
    T_OK(removed && removed_st == ISDSC_SUCCESS, "split Data-In: removal finished (%s)", st_name(removed_st));
    T_EQ_U64(count_not(split_buf, sizeof split_buf, 0x5a), 0,
             "split Data-In: nothing that arrived later on the old connection touched the buffer");
    check_session_works(&f, "split Data-In: afterwards");
  }
  fx_logout_any(&f, "split Data-In");
  fx_end(&f);
}

/* ---- 4. A connection fails exactly once ------------------------------------------ */

static unsigned conn_failed_events;
static mcsi_id last_failed;
static int failed_twice;

static void count_failures(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  (void)ini; (void)arg;
  if (ev->kind != MCSI_EV_CONN_FAILED)
    return;
  failed_twice |= ev->connection_id == last_failed;
  last_failed = ev->connection_id;
  conn_failed_events++;
}

static void test_join_reset(void)
{
  fake_target_opts to = scenario_opts(FAKE_JOIN_RESET, 0);
  mcsi_conn_opts *co;
  fx f;

  to.max_connections = 4;                      /* claims MC/S, makes a new session of each join */
  if (fx_start(&f, &to)) {
    mcsi_set_event_callback(f.ini, count_failures, NULL);
    co = t_conn_opts(fake_target_portal(f.ft), 0);
    for (int i = 0; i < 5; i++) {
      mcsi_status st = mcsi_add_connection_to_session(f.ini, f.sid, co, NULL);
      T_OK(st == ISDSC_CANT_INCLUDE_IN_SESSION || st == ISDSC_CONNECTION_FAILED,
           "join + reset #%d: refused with %s (%s)", i + 1, st_name(st), last_msg(&f));
    }
    T_EQ_INT(conn_failed_events, 5, "join + reset: one conn-failed event per refused connection");
    T_EQ_INT(failed_twice, 0, "join + reset: no connection reported failed twice");
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_EQ_U64(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "join + reset: the session has its one connection");
    mcsi_set_event_callback(f.ini, NULL, NULL);
    check_session_works(&f, "join + reset: afterwards");
    fx_logout_any(&f, "join + reset");
  }
  fx_end(&f);
}

/* ---- 5. A malformed SendTargets reply: a clear Status, nothing leaked -------------- */

static void test_bad_sendtargets(void)
{
  fake_target_opts to = scenario_opts(FAKE_BAD_SENDTARGETS, 0);
  mcsi_target_list *list = NULL;
  mcsi_status st = 0;
  size_t before = 0;
  fx f;

  if (fx_init(&f, &to)) {
    t_login_set_string(f.lo, MCSI_OPT_TARGET, NULL);
    for (int i = 0; i < 300; i++) {            /* a leak of the parsed list shows in the heap */
      if (i == 20)
        before = heap_in_use();
      st = mcsi_send_targets(f.ini, f.lo, &list);
      if (st != ISDSC_INVALID_SENDTARGETS_TEXT)
        break;
    }
    t_status(st, ISDSC_INVALID_SENDTARGETS_TEXT, "malformed SendTargets reply", &f);
    T_OK(list == NULL, "malformed SendTargets reply: no list returned");
    size_t after = heap_in_use();
    T_OK(after < before + 16384, "malformed SendTargets reply: 280 more replies leave the heap where it was"
         " (%zu -> %zu bytes)", before, after);
  }
  fx_end(&f);
}

/* ---- 6. Bounds: a target that floods, never reads, or never stops -------------------- */

static mcsi_status flood_status;
static int flood_failed;

static void on_conn_failed(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  (void)ini; (void)arg;
  if (ev->kind == MCSI_EV_CONN_FAILED && !flood_failed) {
    flood_failed = 1;
    flood_status = ev->status;
  }
}

/* Peak resident memory of the process (VmHWM), in KiB. The queue grows
 * inside one mcsi_process call, so only the high water mark sees it. */
static long peak_rss_kib(void)
{
  char line[128];
  long kib = -1;
  FILE *f = fopen("/proc/self/status", "r");

  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib;
}

#ifdef __SANITIZE_ADDRESS__
#define FLOOD_RSS_MAX_KIB (512L << 10)   /* ASan's quarantine keeps freed queue items */
#else
#define FLOOD_RSS_MAX_KIB (64L << 10)
#endif

static void test_nop_flood(void)
{
  fake_target_opts to = scenario_opts(FAKE_NOP_FLOOD, 0);
  fx f;

  if (fx_start(&f, &to)) {
    long base = peak_rss_kib();
    int64_t end = now_ms() + 20000;
    mcsi_set_event_callback(f.ini, on_conn_failed, NULL);
    while (!flood_failed && now_ms() < end)
      mcsi_process(f.ini, LOOP_MS);
    long grew = peak_rss_kib() - base;
    T_OK(flood_failed, "NOP-In flood, target not reading: the connection failed");
    t_status(flood_status, ISDSC_OUT_OF_RESOURCES, "NOP-In flood: failed on the send queue bound", &f);
    T_OK(base > 0 && grew < FLOOD_RSS_MAX_KIB, "NOP-In flood: peak RSS grew by %ld KiB (< %ld; the bound is 16 MiB)",
         grew, FLOOD_RSS_MAX_KIB);
    mcsi_set_event_callback(f.ini, NULL, NULL);
    fx_logout_any(&f, "NOP-In flood");
  }
  fx_end(&f);
}

static void test_r2t_flood(void)
{
  fake_target_opts to = scenario_opts(FAKE_R2T_FLOOD, 0);
  static uint8_t buf[1 << 20];
  fx f;

  if (fx_start(&f, &to)) {
    t_status(mcsi_write(f.ini, f.sid, 0, 0, buf, sizeof buf), ISDSC_TRANSPORT_ERROR,
             "1000 R2Ts for one 1 MiB WRITE (MaxOutstandingR2T=1): a protocol error", &f);
    T_OK(fake_target_data_outs(f.ft) <= 64, "R2T flood: at most one burst of Data-Out went out (%u PDUs)",
         fake_target_data_outs(f.ft));
    fx_logout_any(&f, "R2T flood");
  }
  fx_end(&f);
}

static void test_text_forever(void)
{
  fake_target_opts to = scenario_opts(FAKE_TEXT_FOREVER, 0);
  mcsi_target_list *list = NULL;
  fx f;

  if (fx_init(&f, &to)) {
    t_login_set_string(f.lo, MCSI_OPT_TARGET, NULL);
    t_login_set(f.lo, MCSI_OPT_LOGIN_TIMEOUT_MS, 20000);             /* the bound, not the clock, must end it */
    int64_t t0 = now_ms();
    t_status(mcsi_send_targets(f.ini, f.lo, &list), ISDSC_OUT_OF_RESOURCES,
             "Text Response with C=1 forever: stopped at the 1 MiB bound", &f);
    T_OK(now_ms() - t0 < 15000, "Text Response forever: answered in %lld ms", (long long)(now_ms() - t0));
    T_OK(list == NULL, "Text Response forever: no list");
  }
  fx_end(&f);
}

/* ---- 7. The command timeout counts from submission ------------------------------------ */

static void test_closed_window(void)
{
  fake_target_opts to = scenario_opts(FAKE_NORMAL, 0);
  async_done d = { 0, 0 };
  uint8_t cdb[10];
  static uint8_t buf[512];
  fx f;

  to.cmd_window = -1;                          /* MaxCmdSN = ExpCmdSN - 1, always */
  if (fx_start(&f, &to)) {
    cdb_rw10(cdb, 0x28, 0, 1);
    int64_t t0 = now_ms();
    t_status(mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(on_done, &d)),
             ISDSC_SUCCESS, "closed window: READ submitted", &f);
    run_until(f.ini, &d.done, 10000);
    int64_t ms = now_ms() - t0;
    T_OK(d.done, "closed window: the READ ended (after %lld ms)", (long long)ms);
    t_status(d.st, ISDSC_SERVICE_DID_NOT_RESPOND, "closed window: it timed out", &f);
    T_OK(ms >= TIMEOUT_MS - 50 && ms < TIMEOUT_MS + 4000, "closed window: after its %d ms command timeout (%lld ms)",
         TIMEOUT_MS, (long long)ms);
    T_EQ_INT(fake_target_commands(f.ft), 0, "closed window: nothing went out beyond MaxCmdSN");
    fx_logout_any(&f, "closed window");
  }
  fx_end(&f);
}

/* ---- 8. A reinstated session's window is its own -------------------------------------- */

typedef struct many { int left, failed; } many;

static void many_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  many *m = arg;
  (void)res;
  m->left--;
  m->failed += st != ISDSC_SUCCESS;
}

static void test_reinstated_window(void)
{
  fake_target_opts to = scenario_opts(FAKE_DROP_MID_IO, 0);
  static uint8_t bufs[32][512];
  many m = { 32, 0 };
  int all = 0;
  uint8_t cdb[10];
  fx f;

  to.drop_after = 5;
  to.drop_once = 1;
  to.later_window = 1;                         /* the new session takes one command at a time */
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, 15000);
  t_login_set(f.lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 10000);
  if (t_status(fx_login(&f), ISDSC_SUCCESS, "reinstated window: login", &f)) {
    for (int i = 0; i < 32; i++) {
      cdb_rw10(cdb, 0x28, (uint32_t)i, 1);
      mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, bufs[i], 512, MCSI_COMPLETION(many_done, &m));
    }
    int64_t end = now_ms() + 20000;
    while (m.left > 0 && now_ms() < end)
      mcsi_process(f.ini, LOOP_MS);
    all = m.left == 0;
    T_OK(all && m.failed == 0, "reinstated window: 32 READs across the drop, %d left, %d failed", m.left, m.failed);
    T_OK(fake_target_sessions(f.ft) >= 2, "reinstated window: the session was reinstated (%u logins to FFP)",
         fake_target_sessions(f.ft));
    T_EQ_INT(fake_target_window_violations(f.ft), 0,
             "reinstated window: no command beyond the new session's MaxCmdSN");
    fx_logout_any(&f, "reinstated window");
  }
  fx_end(&f);
}

/* ---- 9. An abandoned connection ends with a RST ------------------------------------------ */

static void test_rst_on_abandon(void)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  fx f;

  if (fx_start_scenario(&f, FAKE_NEVER_ANSWERS_COMMAND, 0)) {
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SERVICE_DID_NOT_RESPOND,
             "abandon: the command timed out", &f);
    int64_t end = now_ms() + 2000;
    while (!fake_target_resets(f.ft) && !fake_target_eofs(f.ft) && now_ms() < end)
      mcsi_process(f.ini, LOOP_MS);
    T_EQ_INT(fake_target_resets(f.ft), 1, "abandon: the target saw a reset");
    T_EQ_INT(fake_target_eofs(f.ft), 0, "abandon: not an orderly close that delivers what is queued");
    fx_logout_any(&f, "abandon");
  }
  fx_end(&f);
  if (fx_start_scenario(&f, FAKE_NORMAL, 0)) {
    fx_logout_ok(&f, "orderly: logout");
    run_for(f.ini, 200);
    T_EQ_INT(fake_target_resets(f.ft), 0, "orderly: a logged-out connection is not reset");
  }
  fx_end(&f);
}

/* ---- 10 and 3. Reserved fields, lengths and residuals -------------------------------------- */

static void test_reserved_fields(void)
{
  fake_target_opts to = scenario_opts(FAKE_NORMAL, 0);
  static uint8_t buf[128 * 1024];
  fx f;

  to.immediate_data = FAKE_FORCE_NO;           /* the first burst goes as unsolicited Data-Out */
  if (fx_start(&f, &to)) {
    uint8_t cdb[10];
    cdb_rw10(cdb, 0x2a, 0, (uint16_t)(sizeof buf / 512));
    mcsi_status st = mcsi_scsi_command(f.ini, f.sid, 1, cdb, sizeof cdb, MCSI_DIR_WRITE, buf, sizeof buf, NULL);
    printf("# WRITE to LUN 1 (no such LU): %s\n", st_name(st));
    T_OK(fake_target_data_outs(f.ft) > 0, "reserved: unsolicited Data-Out was sent (%u)", fake_target_data_outs(f.ft));
    t_status(mcsi_lun_reset(f.ini, f.sid, 0), ISDSC_SUCCESS, "reserved: LOGICAL UNIT RESET", &f);
    T_EQ_INT(fake_target_reserved_violations(f.ft), 0,
             "reserved: LUN 0 in Data-Out with TTT 0xffffffff, RefCmdSN 0 in LOGICAL UNIT RESET");
    fx_logout_any(&f, "reserved");
  }
  fx_end(&f);

  to = scenario_opts(FAKE_LOGIN_TSIH_ZERO, 0);
  if (fx_init(&f, &to))
    t_status(fx_login(&f), ISDSC_TRANSPORT_ERROR, "final Login Response with TSIH 0: a protocol error", &f);
  fx_end(&f);
}

static void test_residuals(void)
{
  static const struct { int variant; const char *what; } bad[] = {
    { FAKE_RESID_HUGE, "INQUIRY: underflow residual 0xFFFFFFFF" },
    { FAKE_RESID_BEYOND, "INQUIRY: underflow residual of EDTL + 1" },
  };
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  mcsi_capacity cap = { .struct_size = sizeof cap };
  fx f;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (fx_start_scenario(&f, FAKE_BAD_RESIDUAL, bad[i].variant)) {
      t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_TRANSPORT_ERROR, bad[i].what, &f);
      check_session_works(&f, bad[i].what);
      fx_logout_any(&f, bad[i].what);
    }
    fx_end(&f);
  }
  if (fx_start_scenario(&f, FAKE_BAD_RESIDUAL, FAKE_RESID_UNFLAGGED)) {
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SUCCESS, "INQUIRY: 36 bytes, no residual", &f);
    T_EQ_U64(inq.len, 36, "INQUIRY: the bytes the target sent, not the 255 allocated");
    T_EQ_STR(inq.vendor, "MCSI    ", "INQUIRY: vendor");
    fx_logout_any(&f, "INQUIRY unflagged");
  }
  fx_end(&f);
  if (fx_start_scenario(&f, FAKE_BAD_RESIDUAL, FAKE_RESID_NO_CAPACITY)) {
    cap = (mcsi_capacity){ .struct_size = sizeof cap };
    t_status(mcsi_scsi_read_capacity(f.ini, f.sid, 0, &cap), ISDSC_SCSI_REQUEST_FAILED,
             "READ CAPACITY answered GOOD without data: an error", &f);
    T_EQ_INT(cap.block_size, 0, "READ CAPACITY without data: no block size made up");
    fx_logout_any(&f, "READ CAPACITY without data");
  }
  fx_end(&f);
}

/* Every test, in order; "test_hostile NAME..." runs only those named. */
static const struct { const char *name; void (*run)(void); } tests[] = {
  { "logout_stray_data_in", test_logout_stray_data_in },
  { "logout_rejected", test_logout_rejected },
  { "join_expcmdsn", test_join_expcmdsn },
  { "split_data_in", test_split_data_in },
  { "join_reset", test_join_reset },
  { "bad_sendtargets", test_bad_sendtargets },
  { "nop_flood", test_nop_flood },
  { "r2t_flood", test_r2t_flood },
  { "text_forever", test_text_forever },
  { "closed_window", test_closed_window },
  { "reinstated_window", test_reinstated_window },
  { "rst_on_abandon", test_rst_on_abandon },
  { "reserved_fields", test_reserved_fields },
  { "residuals", test_residuals },
};

static int wanted(const char *name, int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return 1;
  return argc < 2;
}

int main(int argc, char **argv)
{
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (wanted(tests[i].name, argc, argv))
      tests[i].run();
  return t_done();
}
