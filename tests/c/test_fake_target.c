/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_fake_target.c: the initiator against a scripted fake target
 * (tests/c/fake_target.h), one test per misbehaviour, plus a positive
 * control where everything works.  Needs no real target. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "fake_target.h"
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

#include "fake_fixture.h"

/* ---- Positive control ------------------------------------------------------ */

static void check_info(fx *f)
{
  mcsi_session_info *info = NULL;

  memset(&info, 0, sizeof info);
  if (!t_status(t_get_info(f->ini, f->sid, &info), ISDSC_SUCCESS, "session info", f))
    return;
  T_OK((unsigned)mcsi_session_info_get(info, MCSI_SI_TSIH) != 0, "session has the target's TSIH (0x%04x)", (unsigned)mcsi_session_info_get(info, MCSI_SI_TSIH));
  T_EQ_STR(mcsi_session_info_get_string(info, MCSI_SI_TARGET), fake_target_iqn(f->ft), "session target name");
  T_EQ_STR(mcsi_session_info_get_string(info, MCSI_SI_STATE), "active", "session state");
  T_EQ_INT((unsigned)mcsi_session_info_get(info, MCSI_SI_CONNECTION_COUNT), 1, "one connection");
  T_EQ_INT(mcsi_conn_info_get(mcsi_session_info_connection(info, 0), MCSI_CI_HEADER_DIGEST), MCSI_DIGEST_NONE, "header digest refused");
  T_EQ_INT(mcsi_conn_info_get(mcsi_session_info_connection(info, 0), MCSI_CI_MAX_SEND_DSL), 65536, "target's MaxRecvDataSegmentLength learned");
  T_EQ_INT(mcsi_session_info_get(info, MCSI_SI_ERROR_RECOVERY_LEVEL), 0, "ErrorRecoveryLevel 0");
  T_EQ_INT(fake_target_sessions(f->ft), 1, "fake target reached Full Feature once");
}

static void check_scsi_basics(fx *f)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  mcsi_capacity cap = { .struct_size = sizeof cap };
  uint64_t luns[4] = { 99, 99, 99, 99 };
  size_t count = 0;

  inq = (mcsi_inquiry){ .struct_size = sizeof inq };
  if (t_status(mcsi_scsi_inquiry(f->ini, f->sid, 0, -1, &inq), ISDSC_SUCCESS, "INQUIRY", f)) {
    T_EQ_INT(inq.peripheral_type, 0, "INQUIRY: direct-access device");
    T_OK(strncmp(inq.vendor, "MCSI", 4) == 0, "INQUIRY vendor \"%s\"", inq.vendor);
    T_OK(strncmp(inq.product, "FAKE TARGET", 11) == 0, "INQUIRY product \"%s\"", inq.product);
  }
  cap = (mcsi_capacity){ .struct_size = sizeof cap };
  if (t_status(mcsi_scsi_read_capacity(f->ini, f->sid, 0, &cap), ISDSC_SUCCESS, "READ CAPACITY", f)) {
    T_EQ_U64(cap.blocks, DISK_BLOCKS, "READ CAPACITY: block count");
    T_EQ_INT(cap.block_size, BLOCK, "READ CAPACITY: block size");
  }
  t_status(mcsi_scsi_test_unit_ready(f->ini, f->sid, 0), ISDSC_SUCCESS, "TEST UNIT READY", f);
  if (t_status(mcsi_scsi_report_luns(f->ini, f->sid, luns, 4, &count), ISDSC_SUCCESS,
               "REPORT LUNS", f)) {
    T_EQ_INT(count, 1, "REPORT LUNS: one LUN");
    T_EQ_U64(luns[0], 0, "REPORT LUNS: LUN 0");
  }
}

/* Writes len bytes at lba, reads them back, compares. */
static void write_read_back(fx *f, uint64_t lba, size_t len, unsigned seed, const char *what)
{
  uint8_t *w = malloc(len), *r = calloc(1, len);

  if (!T_OK(w && r, "%s: buffers", what)) {
    free(w);
    free(r);
    return;
  }
  pattern(w, len, seed);
  if (t_status(mcsi_write(f->ini, f->sid, 0, lba, w, len), ISDSC_SUCCESS, what, f) &&
      t_status(mcsi_read(f->ini, f->sid, 0, lba, r, len), ISDSC_SUCCESS, what, f))
    T_EQ_MEM(r, w, len, "%s: data read back equals data written", what);
  free(w);
  free(r);
}

static void test_normal(void)
{
  fx f;
  uint8_t buf[BLOCK];

  if (!fx_start_scenario(&f, FAKE_NORMAL, 0)) {
    fx_end(&f);
    return;
  }
  T_OK(f.sid != 0 && f.cid != 0, "normal: session and connection ids");
  check_info(&f);
  check_scsi_basics(&f);
  write_read_back(&f, 8, 64 * 1024, 1, "normal: 64 KiB write + read");
  write_read_back(&f, 300, 300 * 1024, 2, "normal: 300 KiB write + read (R2T)");
  write_read_back(&f, DISK_BLOCKS - 1, BLOCK, 3, "normal: last block");
  T_OK(fake_target_r2ts(f.ft) > 0, "normal: the target sent R2Ts (%u)", fake_target_r2ts(f.ft));
  t_status(mcsi_read(f.ini, f.sid, 0, DISK_BLOCKS, buf, sizeof buf), ISDSC_SCSI_REQUEST_FAILED,
           "normal: READ past the end is a CHECK CONDITION", &f);
  fx_logout_ok(&f, "normal: logout");
  T_EQ_INT(fake_target_logouts(f.ft), 1, "normal: the target saw one Logout");
  fx_end(&f);
}

/* Writes under other negotiations: R2T only, and unsolicited Data-Out. */
static void test_normal_r2t_paths(void)
{
  fake_target_opts to;
  mcsi_capacity cap = { .struct_size = sizeof cap };
  fx f;

  memset(&to, 0, sizeof to);
  to.initial_r2t = FAKE_FORCE_YES;
  to.immediate_data = FAKE_FORCE_NO;
  to.max_recv_dsl = 8192;
  if (fx_start(&f, &to) &&
      t_status(mcsi_scsi_read_capacity(f.ini, f.sid, 0, &cap), ISDSC_SUCCESS, "R2T only: READ CAPACITY", &f)) {
    write_read_back(&f, 16, 100 * 1024, 4, "R2T only: 100 KiB write + read");
    T_OK(fake_target_r2ts(f.ft) > 0, "R2T only: R2Ts sent (%u)", fake_target_r2ts(f.ft));
    fx_logout_ok(&f, "R2T only: logout");
  }
  fx_end(&f);

  memset(&to, 0, sizeof to);
  to.max_recv_dsl = 8192;                      /* immediate data of 8 KiB, then Data-Out */
  if (fx_start(&f, &to) &&
      t_status(mcsi_scsi_read_capacity(f.ini, f.sid, 0, &cap), ISDSC_SUCCESS, "unsolicited: READ CAPACITY", &f)) {
    write_read_back(&f, 500, 200 * 1024, 5, "unsolicited: 200 KiB write + read");
    T_OK(fake_target_data_outs(f.ft) > 0, "unsolicited: Data-Out PDUs (%u)", fake_target_data_outs(f.ft));
    fx_logout_ok(&f, "unsolicited: logout");
  }
  fx_end(&f);
}

/* ---- Login failures ------------------------------------------------------- */

static void test_login_never_answers(void)
{
  fake_target_opts to;
  int64_t t0, ms;
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_LOGIN_NEVER_ANSWERS;
  if (fx_init(&f, &to)) {
    t0 = now_ms();
    t_status(fx_login(&f), ISDSC_LOGIN_FAILED, "login never answered", &f);
    ms = now_ms() - t0;
    T_OK(ms <= TIMEOUT_MS + 500, "login timeout: gave up after %lld ms (<= %d)", (long long)ms,
         TIMEOUT_MS + 500);
    T_OK(ms >= TIMEOUT_MS - 100, "login timeout: waited the timeout (%lld ms)", (long long)ms);
    T_EQ_INT(fake_target_logins(f.ft), 1, "login timeout: the target got the Login Request");
  }
  fx_end(&f);
}

static void test_login_garbage_keys(void)
{
  static const char *const names[] = { "all kinds", "no '='", "200-byte key", "binary junk" };
  fake_target_opts to;
  char what[64];
  fx f;

  for (int v = FAKE_GARBAGE_ALL; v <= FAKE_GARBAGE_BINARY; v++) {
    memset(&to, 0, sizeof to);
    to.scenario = FAKE_LOGIN_GARBAGE_KEYS;
    to.variant = v;
    snprintf(what, sizeof what, "garbage login keys (%s)", names[v]);
    if (fx_init(&f, &to))
      t_status(fx_login(&f), ISDSC_INVALID_TEXT_KEY, what, &f);
    fx_end(&f);
  }
}

static void test_login_bad_status(uint16_t code, mcsi_status want)
{
  fake_target_opts to;
  char what[64], hex[8];
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_LOGIN_BAD_STATUS;
  to.login_status = code;
  snprintf(what, sizeof what, "login status 0x%04x", code);
  snprintf(hex, sizeof hex, "0x%04x", code);
  if (fx_init(&f, &to)) {
    t_status(fx_login(&f), want, what, &f);
    T_OK(strstr(last_msg(&f), hex) != NULL, "%s: message \"%s\" names %s", what, last_msg(&f), hex);
  }
  fx_end(&f);
}

static void test_login_redirect_loop(void)
{
  fake_target_opts to;
  int64_t t0;
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_LOGIN_REDIRECT_LOOP;
  if (fx_init(&f, &to)) {
    t_login_set(f.lo, MCSI_OPT_MAX_REDIRECTS, 3);
    t0 = now_ms();
    t_status(fx_login(&f), ISDSC_TARGET_MOVED_TEMPORARILY, "redirect loop", &f);
    T_OK(now_ms() - t0 < 5000, "redirect loop: bounded (%lld ms)", (long long)(now_ms() - t0));
    T_EQ_INT(fake_target_connections(f.ft), 1 + 3, "redirect loop: first login + max_redirects hops");
  }
  fx_end(&f);
}

/* ---- Full Feature failures ------------------------------------------------ */

/* After a connection-fatal error: further commands find no connection, and
 * logout still answers. */
static void check_session_dead(fx *f, const char *what)
{
  char w[96];

  snprintf(w, sizeof w, "%s: next command", what);
  t_status(mcsi_scsi_test_unit_ready(f->ini, f->sid, 0), ISDSC_NO_CONNECTION_AVAILABLE, w, f);
  fx_logout_any(f, what);
}

/* The first SCSI command after login meets a protocol violation. */
static void test_failure(fake_scenario sc, int variant, const char *what, mcsi_status want)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  int64_t t0, ms;
  fx f;

  if (fx_start_scenario(&f, sc, variant)) {
    t0 = now_ms();
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), want, what, &f);
    ms = now_ms() - t0;
    T_OK(ms < TIMEOUT_MS, "%s: detected, not timed out (%lld ms)", what, (long long)ms);
    check_session_dead(&f, what);
  }
  fx_end(&f);
}

static void test_transport_error(fake_scenario sc, int variant, const char *what)
{
  test_failure(sc, variant, what, ISDSC_TRANSPORT_ERROR);
}



/* OVERSIZED_DSL: the command is run asynchronously so the heap can be
 * sampled while the 16 MiB of junk trickles in. */
static void test_oversized_dsl(void)
{
  static const char what[] = "Data-In with DataSegmentLength 16 MiB - 1";
  uint8_t cdb[6] = { 0x12, 0, 0, 0, 255, 0 }, buf[255];
  async_done d = { 0, 0 };
  size_t base, peak;
  int64_t t0;
  fx f;

  if (!fx_start_scenario(&f, FAKE_OVERSIZED_DSL, 0)) {
    fx_end(&f);
    return;
  }
  base = peak = heap_in_use();
  t0 = now_ms();
  if (t_status(mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(on_done, &d)), ISDSC_SUCCESS, "oversized: submit INQUIRY", &f)) {
    while (!d.done && now_ms() - t0 < 3 * TIMEOUT_MS) {
      size_t h;
      mcsi_process(f.ini, 5);
      h = heap_in_use();
      peak = h > peak ? h : peak;
    }
    T_OK(d.done, "%s: the command completed (%lld ms)", what, (long long)(now_ms() - t0));
    t_status(d.st, ISDSC_TRANSPORT_ERROR, what, &f);
    T_OK(peak - base < 4u << 20, "%s: no huge buffer allocated (heap grew by %zu bytes)", what,
         peak - base);
    check_session_dead(&f, what);
  }
  fx_end(&f);
}

static void test_drop_mid_io(void)
{
  fake_target_opts to;
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  uint8_t cdb[10], buf[8 * BLOCK];
  int64_t t0, ms;
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_DROP_MID_IO;
  to.drop_after = 2;
  if (fx_start(&f, &to)) {
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SUCCESS, "drop mid-I/O: command 1", &f);
    cdb_rw10(cdb, 0x28, 0, 8);
    t0 = now_ms();
    t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, NULL),
             ISDSC_CONNECTION_FAILED, "drop mid-I/O: command 2", &f);
    ms = now_ms() - t0;
    T_OK(ms < TIMEOUT_MS, "drop mid-I/O: detected, not timed out (%lld ms)", (long long)ms);
    fx_logout_any(&f, "drop mid-I/O");
  }
  fx_end(&f);
}

static void test_never_answers_command(void)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  int64_t t0, ms;
  fx f;

  if (fx_start_scenario(&f, FAKE_NEVER_ANSWERS_COMMAND, 0)) {
    t0 = now_ms();
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SERVICE_DID_NOT_RESPOND,
             "command never answered", &f);
    ms = now_ms() - t0;
    T_OK(ms <= TIMEOUT_MS + 1000, "command timeout: gave up after %lld ms (<= %d)", (long long)ms,
         TIMEOUT_MS + 1000);
    T_OK(ms >= TIMEOUT_MS - 100, "command timeout: waited the timeout (%lld ms)", (long long)ms);
    T_EQ_INT(fake_target_commands(f.ft), 1, "command timeout: the target got the command");
    fx_logout_any(&f, "command never answered");
  }
  fx_end(&f);
}

static void test_reject(void)
{
  mcsi_inquiry inq = { .struct_size = sizeof inq };
  fx f;

  if (fx_start_scenario(&f, FAKE_REJECT_COMMAND, 0)) {
    t_status(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_TARGET_ERROR,
             "command answered by Reject 0x04", &f);
    printf("# after the Reject: TEST UNIT READY -> %s\n",
           st_name(mcsi_scsi_test_unit_ready(f.ini, f.sid, 0)));
    fx_logout_any(&f, "reject");
  }
  fx_end(&f);
}

static void test_check_condition(void)
{
  mcsi_capacity cap = { .struct_size = sizeof cap };
  mcsi_scsi_result res = { .struct_size = sizeof res };
  uint8_t cdb[10], buf[8 * BLOCK];
  const char *m;
  fx f;

  if (!fx_start_scenario(&f, FAKE_CHECK_CONDITION, 0)) {
    fx_end(&f);
    return;
  }
  t_status(mcsi_scsi_read_capacity(f.ini, f.sid, 0, &cap), ISDSC_SUCCESS, "medium error: READ CAPACITY", &f);
  t_status(mcsi_read(f.ini, f.sid, 0, 0, buf, sizeof buf), ISDSC_SCSI_REQUEST_FAILED,
           "medium error: mcsi_read", &f);
  m = last_msg(&f);
  T_OK(strstr(m, "MEDIUM_ERROR") || strstr(m, "MEDIUM ERROR"), "medium error: message \"%s\"", m);
  res = (mcsi_scsi_result){ .struct_size = sizeof res };
  cdb_rw10(cdb, 0x28, 0, 8);
  t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, &res),
           ISDSC_SCSI_REQUEST_FAILED, "medium error: mcsi_scsi_command", &f);
  T_EQ_INT(res.scsi_status, 2, "medium error: CHECK CONDITION");
  T_EQ_INT(res.sense_key, 3, "medium error: sense key MEDIUM ERROR");
  T_EQ_INT(res.asc, 0x11, "medium error: ASC");
  T_EQ_INT(res.ascq, 0x00, "medium error: ASCQ");
  fx_logout_ok(&f, "medium error: logout");
  fx_end(&f);
}

static void test_short_data_in(void)
{
  mcsi_scsi_result res = { .struct_size = sizeof res };
  uint8_t cdb[10], buf[8 * BLOCK];
  fx f;

  if (fx_start_scenario(&f, FAKE_SHORT_DATA_IN, 0)) {
    res = (mcsi_scsi_result){ .struct_size = sizeof res };
    cdb_rw10(cdb, 0x28, 0, 8);
    t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, &res),
             ISDSC_SUCCESS, "short Data-In", &f);
    T_EQ_INT(res.residual_kind, 1, "short Data-In: underflow");
    T_EQ_INT(res.residual, 1024, "short Data-In: residual is the shortfall");
    T_EQ_INT(res.data_in, sizeof buf - 1024, "short Data-In: bytes received");
    T_EQ_INT(res.scsi_status, 0, "short Data-In: GOOD");
    fx_logout_ok(&f, "short Data-In: logout");
  }
  fx_end(&f);
}

/* ---- The fake target itself -------------------------------------------------- */

/* Stops cleanly with a half-sent Login Request and an idle connection. */
static void test_stop_any_time(void)
{
  for (int sc = 0; sc < FAKE_SCENARIO_COUNT; sc++) {
    fake_target *ft = fake_target_start((fake_scenario)sc);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
    int64_t t0;

    if (!ft) {
      T_OK(0, "stop any time: %s started", fake_scenario_name((fake_scenario)sc));
      continue;
    }
    sa.sin_port = htons(fake_target_port(ft));
    if (a >= 0 && connect(a, (struct sockaddr *)&sa, sizeof sa) == 0)
      (void)!write(a, "\x43\x81\x00\x00", 4);  /* 4 bytes of a Login Request */
    if (b >= 0)
      (void)!connect(b, (struct sockaddr *)&sa, sizeof sa);
    usleep(20000);
    t0 = now_ms();
    fake_target_stop(ft);
    T_OK(now_ms() - t0 < 500, "stop any time: %s stopped in %lld ms",
         fake_scenario_name((fake_scenario)sc), (long long)(now_ms() - t0));
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  fake_target_stop(NULL);
}

/* ABORT TASK: a command the target swallows is aborted; its callback runs
 * once with ISDSC_SCSI_REQUEST_FAILED and the session stays healthy. */
static int abort_cb_calls;
static mcsi_status abort_cb_st;
static void abort_cb(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  (void)res; (void)arg;
  abort_cb_calls++;
  abort_cb_st = st;
}

static void test_abort_task(void)
{
  fx f;
  if (fx_start_scenario(&f, FAKE_NEVER_ANSWERS_COMMAND, 0)) {
    static uint8_t buf[4096];
    uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0 };   /* READ(10) of 8 blocks */
    uint64_t tag = 0;
    mcsi_status st = mcsi_scsi_submit_tagged(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, buf, sizeof buf, MCSI_COMPLETION(abort_cb, NULL), &tag);
    T_OK(st == ISDSC_SUCCESS && tag != 0, "abort: command submitted with tag %llu", (unsigned long long)tag);
    for (int i = 0; i < 5; i++) mcsi_process(f.ini, 20);
    T_EQ_INT(abort_cb_calls, 0, "abort: the target has not answered it");
    int64_t t0 = now_ms();
    t_status(mcsi_abort_task(f.ini, f.sid, tag), ISDSC_SUCCESS, "abort: ABORT TASK confirmed", &f);
    T_OK(now_ms() - t0 < TIMEOUT_MS, "abort: answered at once (%lld ms)", (long long)(now_ms() - t0));
    T_EQ_INT(abort_cb_calls, 1, "abort: the callback ran once");
    T_EQ_STR(mcsi_status_name(abort_cb_st), "ISDSC_SCSI_REQUEST_FAILED", "abort: with the aborted status");
    T_EQ_INT(mcsi_abort_task(f.ini, f.sid, tag), ISDSC_NOT_FOUND, "abort: the same tag again");
    T_EQ_INT(mcsi_abort_task(f.ini, f.sid, 987654321), ISDSC_NOT_FOUND, "abort: an unknown tag");
    T_EQ_INT(mcsi_abort_task(f.ini, 0x7777, tag), ISDSC_INVALID_SESSION_ID, "abort: an unknown session");
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "abort: the session is still active");
  }
  fx_end(&f);
}

/* A target that refuses added connections: each refusal gets its Status,
 * with the target's detail, and the session is untouched. */
static void test_add_refused(uint16_t status, mcsi_status want)
{
  fx f;
  fake_target_opts to;
  char what[64];
  memset(&to, 0, sizeof to);
  to.scenario = FAKE_LOGIN_BAD_STATUS;
  to.variant = FAKE_BAD_STATUS_JOINS_ONLY;
  to.login_status = status;
  to.max_connections = 4;
  snprintf(what, sizeof what, "add refused with 0x%04x", status);
  if (fx_init(&f, &to) && T_EQ_INT(fx_login(&f), ISDSC_SUCCESS, "%s: login", what)) {
    mcsi_conn_opts *co = t_conn_opts(mcsi_login_opts_get_string(f.lo, MCSI_OPT_PORTAL), 0);
    mcsi_id cid = 0;
    mcsi_status st = mcsi_add_connection_to_session(f.ini, f.sid, co, &cid);
    T_EQ_STR(mcsi_status_name(st), mcsi_status_name(want), "%s: Status (%s)", what, mcsi_last_message(f.ini));
    char hex[8];
    snprintf(hex, sizeof hex, "0x%04x", status);
    T_OK(strstr(mcsi_last_message(f.ini), hex) != NULL, "%s: the target's detail in the message", what);
    mcsi_inquiry inq = { .struct_size = sizeof inq };
    T_EQ_INT(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SUCCESS, "%s: the session still works", what);
  }
  fx_end(&f);
}

/* The fake target never joins sessions: every login gets a new TSIH. So an
 * added connection becomes a stray session, which must be logged out, and
 * the caller gets ISDSC_CANT_INCLUDE_IN_SESSION with the session intact. */
static void test_stray_session(void)
{
  fx f;
  fake_target_opts to;
  memset(&to, 0, sizeof to);
  to.scenario = FAKE_NORMAL;
  to.max_connections = 4;
  if (fx_init(&f, &to) && T_EQ_INT(fx_login(&f), ISDSC_SUCCESS, "stray session: login")) {
    mcsi_conn_opts *co = t_conn_opts(mcsi_login_opts_get_string(f.lo, MCSI_OPT_PORTAL), 0);
    mcsi_id cid = 0;
    unsigned logouts = fake_target_logouts(f.ft);
    mcsi_status st = mcsi_add_connection_to_session(f.ini, f.sid, co, &cid);
    T_EQ_STR(mcsi_status_name(st), "ISDSC_CANT_INCLUDE_IN_SESSION", "stray session: add answers (%s)", mcsi_last_message(f.ini));
    for (int i = 0; i < 100 && fake_target_logouts(f.ft) == logouts; i++) usleep(10000);
    T_EQ_INT(fake_target_logouts(f.ft), logouts + 1, "stray session: the new session was logged out");
    mcsi_inquiry inq = { .struct_size = sizeof inq };
    T_EQ_INT(mcsi_scsi_inquiry(f.ini, f.sid, 0, -1, &inq), ISDSC_SUCCESS, "stray session: the session still works");
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), 1, "stray session: still one connection");
  }
  fx_end(&f);
}

int main(void)
{
  alarm(300);                                  /* never hang the suite */
  signal(SIGPIPE, SIG_IGN);
  test_stop_any_time();
  test_normal();
  test_normal_r2t_paths();
  test_stray_session();
  test_add_refused(0x0206, ISDSC_TOO_MANY_CONNECTIONS);
  test_add_refused(0x0208, ISDSC_CANT_INCLUDE_IN_SESSION);
  test_add_refused(0x020a, ISDSC_REQUEST_NOT_SUPPORTED);
  test_abort_task();
  test_login_never_answers();
  test_login_garbage_keys();
  test_login_bad_status(0x0201, ISDSC_AUTHENTICATION_FAILURE);
  test_login_bad_status(0x0301, ISDSC_SERVICE_UNAVAILABLE);
  test_login_redirect_loop();
  test_transport_error(FAKE_MALFORMED_BHS, FAKE_BHS_UNKNOWN_OPCODE, "BHS with an unknown opcode");
  test_transport_error(FAKE_MALFORMED_BHS, FAKE_BHS_RESERVED_BIT, "BHS with a reserved bit set");
  test_oversized_dsl();
  test_transport_error(FAKE_UNKNOWN_ITT, FAKE_ITT_SCSI_RSP, "SCSI Response for an unknown ITT");
  test_transport_error(FAKE_UNKNOWN_ITT, FAKE_ITT_DATA_IN, "Data-In for an unknown ITT");
  /* a peer that closes mid-PDU has closed the connection: no protocol error of ours */
  test_failure(FAKE_TRUNCATED_PDU, 0, "half a BHS, then close", ISDSC_CONNECTION_FAILED);
  test_drop_mid_io();
  test_never_answers_command();
  test_reject();
  test_check_condition();
  test_short_data_in();
  return t_done();
}
