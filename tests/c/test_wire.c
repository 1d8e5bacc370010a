/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_wire.c: what a target announces is obeyed (issue 14, "the wire"):
 * the Asynchronous Messages of RFC 7143 11.9 (AsyncEvent 1 to 4, their
 * parameters checked and their times kept), the portal group of a joining
 * connection, and the session-wide CmdSN window under MC/S, with and without
 * a connection drop. Against the scripted fake target; needs no real one.
 * Each test fails without its fix (a wrong connection dropped, a reconnect
 * before Time2Wait, no Logout, no Text Request, a join accepted, a command
 * beyond MaxCmdSN). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"

#define LOOP_MS 10
#define EPSILON_MS 50           /* timer granularity the waits may lose */

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

static fake_target_opts mcs_opts(void)
{
  fake_target_opts to;

  memset(&to, 0, sizeof to);
  to.mcs = 1;
  return to;
}

/* Starts a session with recovery on; 1 when logged in. */
static int start_recovering(fx *f, const fake_target_opts *to, const char *what)
{
  if (!fx_init(f, to))
    return 0;
  t_login_set(f->lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, 15000);
  t_login_set(f->lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 10000);
  return t_status(fx_login(f), ISDSC_SUCCESS, what, f);
}

/* ---- reads kept in flight ------------------------------------------------------------ */

#define LOAD_SLOTS 16
typedef struct load {
  fx *f;
  int left, inflight, failed;
  mcsi_status last;
  uint8_t buf[LOAD_SLOTS][BLOCK];
} load;

static void load_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  load *L = arg;

  (void)res;
  L->inflight--;
  if (st) {
    L->failed++;
    L->last = st;
  }
}

/* READs land in any slot: their data is not checked here. */
static void load_submit(load *L, int slot)
{
  uint8_t cdb[10];

  cdb_rw10(cdb, 0x28, (uint32_t)(L->left % 1024), 1);
  if (mcsi_scsi_submit(L->f->ini, L->f->sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, L->buf[slot % LOAD_SLOTS], BLOCK, MCSI_COMPLETION(load_done, L)) == ISDSC_SUCCESS)
    L->inflight++;
  else
    L->failed++;
  L->left--;
}

/* n READs, up to LOAD_SLOTS in flight, within ms; 1 when all ended. */
static int load_run(load *L, fx *f, int n, int64_t ms)
{
  int64_t end = now_ms() + ms;

  memset(L, 0, sizeof *L);
  L->f = f;
  L->left = n;
  while ((L->left > 0 || L->inflight > 0) && now_ms() < end) {
    while (L->left > 0 && L->inflight < LOAD_SLOTS)
      load_submit(L, L->inflight);
    mcsi_process(f->ini, LOOP_MS);
  }
  return L->left == 0 && L->inflight == 0;
}

/* ---- 1. The CmdSN window is session-wide ------------------------------------------------ */

static void window_run(int window, int drop, const char *what)
{
  fake_target_opts to = mcs_opts();
  load L;
  fx f;

  to.cmd_window = window;
  if (drop) {
    to.scenario = FAKE_DROP_MID_IO;
    to.variant = drop == 2 ? FAKE_DROP_UNSEEN : FAKE_DROP_SEEN;
    to.drop_after = 7;
    to.drop_once = 1;
  }
  if (start_recovering(&f, &to, what) && fx_add_conn(&f, what) && fx_add_conn(&f, what)) {
    mcsi_session_info *si = NULL;
    int64_t t0 = now_ms();
    int all = load_run(&L, &f, 400, 30000);
    int64_t ms = now_ms() - t0;
    t_get_info(f.ini, f.sid, &si);
    printf("# %s: %lld ms, %u reinstatements, %llu commands re-issued\n", what, (long long)ms, (unsigned)mcsi_session_info_get(si, MCSI_SI_RECOVERIES),
           (unsigned long long)(unsigned)mcsi_session_info_get(si, MCSI_SI_COMMANDS_RETRIED));
    T_OK(all && L.failed == 0, "%s: 400 READs over 3 connections (%d left, %d in flight, %d failed, last %s)",
         what, L.left, L.inflight, L.failed, st_name(L.last));
    T_OK(fake_target_mcs_commands(f.ft) >= 400, "%s: %u commands reached the MC/S session", what,
         fake_target_mcs_commands(f.ft));
    T_EQ_INT(fake_target_window_violations(f.ft), 0, "%s: no command beyond the session's MaxCmdSN", what);
    /* A command lost with its connection is sent again with its CmdSN, which
     * plugs the hole holding the target's window, even though that window
     * is closed: the session neither stalls for a command timeout nor is
     * reinstated. */
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_RECOVERIES), 0, "%s: no reinstatement", what);
    T_OK(ms < 5000, "%s: no stall (%lld ms, command timeout 10 s)", what, (long long)ms);
    fx_logout_any(&f, what);
  }
  fx_end(&f);
}

static void test_mcs_window(void)
{
  window_run(2, 0, "MC/S, window of 2");
  window_run(1, 0, "MC/S, window of 1");
}

static void test_mcs_window_drop(void)
{
  window_run(2, 1, "MC/S, window of 2, a connection dropped");
  window_run(1, 1, "MC/S, window of 1, a connection dropped");
  window_run(2, 2, "MC/S, window of 2, a connection dropped with its command lost");
  window_run(1, 2, "MC/S, window of 1, a connection dropped with its command lost");
}

/* A Text Response that continues (C=1) while the window is closed: the
 * continuation would be a command beyond MaxCmdSN; the request ends instead. */
static void test_text_continuation_window(void)
{
  fake_target_opts to;
  mcsi_target_list *list = NULL;
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_TEXT_FOREVER;
  to.variant = FAKE_TEXT_WINDOW_CLOSES;
  to.cmd_window = 1;                           /* the one Text Request fills it */
  if (fx_init(&f, &to)) {
    t_login_set_string(f.lo, MCSI_OPT_TARGET, NULL);
    int64_t t0 = now_ms();
    mcsi_status st = mcsi_send_targets(f.ini, f.lo, &list);
    T_OK(st != ISDSC_SUCCESS, "text continuation: SendTargets fails (%s: %s)", st_name(st), last_msg(&f));
    T_OK(now_ms() - t0 < 3000, "text continuation: at once (%lld ms)", (long long)(now_ms() - t0));
    T_EQ_INT(fake_target_window_violations(f.ft), 0, "text continuation: no Text Request beyond MaxCmdSN");
    mcsi_target_list_free(list);
  }
  fx_end(&f);
}

/* With the window closed, an immediate command (a LUN reset) still goes at
 * once: it does not wait behind the commands the window holds. */
static void test_immediate_passes_window(void)
{
  fake_target_opts to;
  async_done d = { 0, 0 };
  static uint8_t buf[BLOCK];
  uint8_t cdb[10];
  fx f;

  memset(&to, 0, sizeof to);
  to.cmd_window = -1;
  if (fx_start(&f, &to)) {
    cdb_rw10(cdb, 0x28, 0, 1);
    t_status(mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(on_done, &d)),
             ISDSC_SUCCESS, "closed window: a READ waits", &f);
    int64_t t0 = now_ms();
    t_status(mcsi_lun_reset(f.ini, f.sid, 0), ISDSC_SUCCESS, "closed window: LUN RESET (immediate) answered", &f);
    T_OK(now_ms() - t0 < TIMEOUT_MS / 2, "closed window: the LUN RESET did not wait for the window (%lld ms)",
         (long long)(now_ms() - t0));
    T_EQ_INT(fake_target_commands(f.ft), 0, "closed window: the READ did not go");
    T_EQ_INT(fake_target_window_violations(f.ft), 0, "closed window: nothing beyond MaxCmdSN");
    run_until(f.ini, &d.done, 3000);
    fx_logout_any(&f, "closed window");
  }
  fx_end(&f);
}

/* ---- 2. Asynchronous Messages ------------------------------------------------------------ */

/* Events of the session under test, as they came. */
typedef struct seen {
  mcsi_id failed[8];
  int nfailed;
  char async_reason[8][512];
  int nasync;
} seen;

static void on_event(mcsi_initiator *ini, const mcsi_event *ev, void *arg)
{
  seen *w = arg;

  (void)ini;
  if (ev->kind == MCSI_EV_CONN_FAILED && w->nfailed < 8)
    w->failed[w->nfailed++] = ev->connection_id;
  if (ev->kind == MCSI_EV_ASYNC_MESSAGE && w->nasync < 8)
    snprintf(w->async_reason[w->nasync++], sizeof w->async_reason[0], "%s", ev->reason);
}

static int any_async_contains(const seen *w, const char *text)
{
  for (int i = 0; i < w->nasync; i++)
    if (strstr(w->async_reason[i], text))
      return 1;
  return 0;
}

/* Runs the loop until the fake target logged what *field says, or ms pass. */
static fake_async_log wait_log(fx *f, size_t offset, int64_t ms)
{
  fake_async_log lg;
  int64_t end = now_ms() + ms;

  for (;;) {
    fake_target_async_log(f->ft, &lg);
    if (*(int64_t *)((char *)&lg + offset) || now_ms() >= end)
      return lg;
    mcsi_process(f->ini, LOOP_MS);
  }
}

#define WAIT_LOG(f, field, ms) wait_log((f), offsetof(fake_async_log, field), (ms))

/* A few READs, so that the fake target's message goes out. */
static void nudge(fx *f, int n)
{
  load L;

  load_run(&L, f, n, 5000);
}

static const mcsi_conn_info *conn_by_cid(const mcsi_session_info *si, uint16_t cid)
{
  for (size_t i = 0; i < mcsi_session_info_connection_count(si); i++)
    if (mcsi_conn_info_get(mcsi_session_info_connection(si, i), MCSI_CI_CID) == cid)
      return mcsi_session_info_connection(si, i);
  return NULL;
}

static void check_io(fx *f, const char *what)
{
  static uint8_t buf[BLOCK];

  t_status(mcsi_read(f->ini, f->sid, 0, 3, buf, sizeof buf), ISDSC_SUCCESS, what, f);
}

/* AsyncEvent 1 on one of two connections (the joined one, or the leading
 * one): a Logout "close the connection" on it within Parameter3 s; the
 * session goes on with the other one. */
static void logout_conn_run(int on_joined, const char *what)
{
  fake_target_opts to = mcs_opts();
  mcsi_session_info *si = NULL;
  fake_async_log lg;
  fx f;

  to.async_event = 1;
  to.async_on_joined = on_joined;
  to.async_param[2] = 3;
  if (start_recovering(&f, &to, what) && fx_add_conn(&f, what)) {
    nudge(&f, 40);
    lg = WAIT_LOG(&f, logout_ms, 6000);
    T_OK(lg.sent_ms != 0, "%s: the target's message went out", what);
    T_OK(on_joined ? lg.cid != 0 : lg.cid == 0, "%s: it came on CID %u", what, lg.cid);
    T_OK(lg.logout_ms != 0 && lg.logout_ms - lg.sent_ms < 3000,
         "%s: a Logout within Parameter3 = 3 s (%lld ms)", what, (long long)(lg.logout_ms - lg.sent_ms));
    T_EQ_INT(lg.logout_reason, 1, "%s: reason \"close the connection\" (another one carries the session)", what);
    T_OK(lg.logout_on_same, "%s: on the connection the message came on", what);
    T_EQ_INT(lg.cmds_after, 0, "%s: no new command on it once the message was read", what);
    run_for(f.ini, 300);
    t_get_info(f.ini, f.sid, &si);
    T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "%s: the session goes on", what);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "%s: with one connection", what);
    T_OK(!conn_by_cid(si, lg.cid), "%s: not the one logged out", what);
    check_io(&f, what);
    fx_logout_any(&f, what);
  }
  fx_end(&f);
}

static void test_async_logout_conn(void)
{
  logout_conn_run(1, "async 1 on the joined connection");
  logout_conn_run(0, "async 1 on the leading connection");
}

/* AsyncEvent 1 on the only connection: "close the session" in time, then
 * (recovery on) the session is reinstated after DefaultTime2Wait (2 s). */
static void test_async_logout_session(void)
{
  fake_target_opts to;
  mcsi_session_info *si = NULL;
  fake_async_log lg;
  fx f;

  memset(&to, 0, sizeof to);
  to.async_event = 1;
  to.async_param[2] = 2;
  if (fx_init(&f, &to)) {
    t_login_set(f.lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, 15000);
    t_login_set(f.lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 10000);
    t_login_set(f.lo, MCSI_OPT_DEFAULT_TIME2WAIT, 2);                /* the fake target takes our offer */
  }
  if (f.ini && t_status(fx_login(&f), ISDSC_SUCCESS, "async 1, one connection", &f)) {
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_DEFAULT_TIME2WAIT), 2, "async 1 alone: DefaultTime2Wait = 2 negotiated");
    nudge(&f, 4);
    lg = WAIT_LOG(&f, login_ms, 8000);
    T_OK(lg.logout_ms != 0 && lg.logout_ms - lg.sent_ms < 2000,
         "async 1 alone: a Logout within Parameter3 = 2 s (%lld ms)", (long long)(lg.logout_ms - lg.sent_ms));
    T_EQ_INT(lg.logout_reason, 0, "async 1 alone: reason \"close the session\" (its only connection)");
    T_OK(lg.login_ms != 0 && lg.login_ms - lg.logout_ms >= 2000 - EPSILON_MS,
         "async 1 alone: reinstated after DefaultTime2Wait = 2 s (%lld ms after the Logout)",
         (long long)(lg.login_ms - lg.logout_ms));
    check_io(&f, "async 1 alone: I/O on the reinstated session");
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_RECOVERIES), 1, "async 1 alone: one reinstatement");
    fx_logout_any(&f, "async 1 alone");
  }
  fx_end(&f);
}

/* AsyncEvent 2 names another connection: that one goes, not the one the
 * message came on. */
static void test_async_drop_named(void)
{
  fake_target_opts to = mcs_opts();
  mcsi_session_info *before = NULL, *after = NULL;
  fake_async_log lg;
  seen w;
  fx f;

  memset(&w, 0, sizeof w);
  to.async_event = 2;
  to.async_names_other = 1;
  to.async_param[1] = 1;
  to.async_param[2] = 5;
  if (start_recovering(&f, &to, "async 2, two connections") && fx_add_conn(&f, "async 2: second connection")) {
    t_get_info(f.ini, f.sid, &before);
    mcsi_subscribe(f.ini, on_event, &w);
    nudge(&f, 10);
    lg = WAIT_LOG(&f, sent_ms, 3000);
    run_for(f.ini, 1500);
    t_get_info(f.ini, f.sid, &after);
    const mcsi_conn_info *came_on = conn_by_cid(before, lg.cid);
    T_OK(came_on != NULL, "async 2: it came on CID %u", lg.cid);
    T_OK(conn_by_cid(after, lg.cid) != NULL, "async 2: the connection it came on (CID %u) is still there", lg.cid);
    T_EQ_INT(mcsi_session_info_get(after, MCSI_SI_CONNECTION_COUNT), 1, "async 2: the named one is gone");
    T_OK(w.nfailed >= 1 && came_on && w.failed[0] != mcsi_conn_info_get(came_on, MCSI_CI_ID), "async 2: the first to fail was the named one");
    T_EQ_STR(mcsi_session_info_get_string(after, MCSI_SI_STATE), "active", "async 2: the session goes on");
    check_io(&f, "async 2: I/O on the remaining connection");
    fx_logout_any(&f, "async 2");
  }
  fx_end(&f);
}

/* AsyncEvent 2 for a CID the session does not have: nothing is dropped. */
static void test_async_bad_cid(void)
{
  fake_target_opts to = mcs_opts();
  mcsi_session_info *si = NULL;
  seen w;
  fx f;

  memset(&w, 0, sizeof w);
  to.async_event = 2;
  to.async_cid = 77;
  to.async_param[1] = 1;
  if (start_recovering(&f, &to, "async 2, unknown CID") && fx_add_conn(&f, "async 2, unknown CID: second")) {
    mcsi_subscribe(f.ini, on_event, &w);
    nudge(&f, 10);
    WAIT_LOG(&f, sent_ms, 3000);
    run_for(f.ini, 500);
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 2, "async 2, unknown CID: both connections stay");
    T_EQ_INT(w.nfailed, 0, "async 2, unknown CID: none failed");
    T_OK(any_async_contains(&w, "no such connection"), "async 2, unknown CID: the event says it was ignored (%s)",
         w.nasync ? w.async_reason[0] : "no event");
    fx_logout_any(&f, "async 2, unknown CID");
  }
  fx_end(&f);
}

/* AsyncEvent 2 (its own CID) or 3 on the only connection: the session is
 * reinstated, but not before Time2Wait (Parameter2) = 2 s. */
static void time2wait_run(int event, const char *what)
{
  fake_target_opts to;
  fake_async_log lg;
  fx f;

  memset(&to, 0, sizeof to);
  to.async_event = event;
  to.async_param[1] = 2;
  to.async_param[2] = 20;
  if (start_recovering(&f, &to, what)) {
    nudge(&f, 4);
    lg = WAIT_LOG(&f, login_ms, 8000);
    T_OK(lg.login_ms != 0 && lg.login_ms - lg.sent_ms >= 2000 - EPSILON_MS && lg.login_ms - lg.sent_ms < 6000,
         "%s: reconnected after Time2Wait = 2 s (%lld ms)", what, (long long)(lg.login_ms - lg.sent_ms));
    check_io(&f, what);
    fx_logout_any(&f, what);
  }
  fx_end(&f);
}

static void test_async_time2wait(void)
{
  time2wait_run(2, "async 2 on the only connection");
  time2wait_run(3, "async 3");
}

/* AsyncEvent 3 on a two-connection session: both go, one reinstatement
 * after Time2Wait; a Time2Wait beyond 3600 s is clamped, and said so. */
static void test_async_drop_all(void)
{
  fake_target_opts to = mcs_opts();
  fake_async_log lg;
  seen w;
  fx f;

  memset(&w, 0, sizeof w);
  to.async_event = 3;
  to.async_param[1] = 1;
  if (start_recovering(&f, &to, "async 3, two connections") && fx_add_conn(&f, "async 3: second connection")) {
    mcsi_subscribe(f.ini, on_event, &w);
    nudge(&f, 10);
    lg = WAIT_LOG(&f, login_ms, 8000);
    T_EQ_INT(w.nfailed, 2, "async 3: both connections dropped");
    T_OK(lg.login_ms - lg.sent_ms >= 1000 - EPSILON_MS, "async 3: reinstated after Time2Wait = 1 s (%lld ms)",
         (long long)(lg.login_ms - lg.sent_ms));
    check_io(&f, "async 3: I/O on the reinstated session");
    fx_logout_any(&f, "async 3");
  }
  fx_end(&f);
  memset(&to, 0, sizeof to);
  memset(&w, 0, sizeof w);
  to.async_event = 3;
  to.async_param[1] = 5000;
  to.async_param[2] = 65535;
  if (start_recovering(&f, &to, "async 3, Time2Wait 5000 s")) {
    mcsi_subscribe(f.ini, on_event, &w);
    nudge(&f, 2);
    WAIT_LOG(&f, sent_ms, 3000);
    run_for(f.ini, 300);
    T_OK(any_async_contains(&w, "Time2Wait 5000 s clamped to 3600 s") &&
         any_async_contains(&w, "Time2Retain 65535 s clamped to 3600 s"),
         "async 3: out-of-range times clamped and logged (%s)", w.nasync ? w.async_reason[0] : "no event");
    fx_logout_any(&f, "async 3, Time2Wait 5000 s");
  }
  fx_end(&f);
}

/* AsyncEvent 4: a Text Request on that connection, soon. */
static void test_async_renegotiate(void)
{
  fake_target_opts to;
  mcsi_session_info *si = NULL;
  fake_async_log lg;
  fx f;

  memset(&to, 0, sizeof to);
  to.async_event = 4;
  if (start_recovering(&f, &to, "async 4")) {
    nudge(&f, 4);
    lg = WAIT_LOG(&f, text_ms, 3000);
    T_OK(lg.text_ms != 0 && lg.text_ms - lg.sent_ms < 1000, "async 4: a Text Request within 1 s (%lld ms)",
         (long long)(lg.text_ms - lg.sent_ms));
    T_OK(lg.text_on_same, "async 4: on the connection the message came on");
    run_for(f.ini, 300);
    fake_target_async_log(f.ft, &lg);
    T_EQ_INT(lg.logout_ms, 0, "async 4: an empty answer needs no Logout");
    t_get_info(f.ini, f.sid, &si);
    T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "async 4: the session goes on");
    check_io(&f, "async 4: I/O after the renegotiation");
    fx_logout_any(&f, "async 4");
  }
  fx_end(&f);
}

/* ---- 3. A session spans one portal group ------------------------------------------------- */

static void test_tpgt_join(void)
{
  fake_target_opts to = mcs_opts();
  mcsi_conn_opts *co;
  mcsi_session_info *si = NULL;
  mcsi_id cid = 0;
  fx f;

  to.join_tpgt = 2;
  if (start_recovering(&f, &to, "TPGT")) {
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_TPGT), 1, "TPGT: the session's portal group tag is the one the target declared");
    co = t_conn_opts(fake_target_portal(f.ft), 0);
    t_status(mcsi_add_connection_to_session(f.ini, f.sid, co, &cid), ISDSC_CANT_INCLUDE_IN_SESSION,
             "TPGT: a join through portal group 2 is refused", &f);
    T_OK(strstr(last_msg(&f), "TargetPortalGroupTag=2") != NULL, "TPGT: the message says why (%s)", last_msg(&f));
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "TPGT: the session keeps its one connection");
    T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "TPGT: and stays active");
    check_io(&f, "TPGT: I/O after the refused join");
    fx_logout_any(&f, "TPGT");
  }
  fx_end(&f);
}

/* Every test, in order; "test_wire NAME..." runs only those named. */
static const struct { const char *name; void (*run)(void); } tests[] = {
  { "mcs_window", test_mcs_window },
  { "mcs_window_drop", test_mcs_window_drop },
  { "text_continuation_window", test_text_continuation_window },
  { "immediate_passes_window", test_immediate_passes_window },
  { "async_logout_conn", test_async_logout_conn },
  { "async_logout_session", test_async_logout_session },
  { "async_drop_named", test_async_drop_named },
  { "async_bad_cid", test_async_bad_cid },
  { "async_time2wait", test_async_time2wait },
  { "async_drop_all", test_async_drop_all },
  { "async_renegotiate", test_async_renegotiate },
  { "tpgt_join", test_tpgt_join },
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
