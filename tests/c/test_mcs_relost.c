/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_mcs_relost.c: one command whose connection is lost again and again
 * while the session lives (tgt dropping a random connection every 60 ms
 * under nbdcopy, tests/nbd/test_nbd_clients.sh "failover"). MC/S recovery
 * re-issues it on a surviving connection each time, without a count: the
 * caller never sees a connection's failure while the session lives. Its
 * bound is the session's recovery timeout from its first loss. The fake
 * target (DROP_MID_IO, drop_after 1) closes every connection on its first
 * SCSI command, the first drop_count connections only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"

#define CONNS 7                 /* the leading one and six more */
#define DROPS (CONNS - 1)       /* more than MCSI_MAX_RETRIES (5) */

static int start(fx *f, unsigned drop_count, int recovery_ms, const char *what)
{
  fake_target_opts to;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_DROP_MID_IO;
  to.drop_after = 1;
  to.drop_count = drop_count;
  to.mcs = 1;
  to.max_connections = 8;
  if (!fx_init(f, &to)) return 0;
  t_login_set(f->lo, MCSI_OPT_MAX_CONNECTIONS, 8);
  t_login_set(f->lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, recovery_ms);
  t_login_set(f->lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 10000);
  if (!t_status(fx_login(f), ISDSC_SUCCESS, what, f)) return 0;
  for (int i = 1; i < CONNS; i++) {
    mcsi_conn_opts *co = t_conn_opts(fake_target_portal(f->ft), 0);
    if (!t_status(mcsi_add_connection_to_session(f->ini, f->sid, co, NULL), ISDSC_SUCCESS, what, f)) return 0;
  }
  return 1;
}

/* A WRITE that meets DROPS dead connections in a row completes, and its
 * data is there. Before: the sixth loss failed it with "closed the connection". */
static void test_write_survives_drops(void)
{
  static uint8_t out[8 * BLOCK], in[8 * BLOCK];
  uint8_t cdb[10];
  fx f;

  if (start(&f, DROPS, 10000, "relost: login and six more connections")) {
    pattern(out, sizeof out, 17);
    cdb_rw10(cdb, 0x2a, 64, 8);
    int64_t t0 = now_ms();
    t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_WRITE, out, sizeof out, NULL),
             ISDSC_SUCCESS, "relost: the WRITE completes across six lost connections", &f);
    printf("# relost: WRITE done in %lld ms, %u connections, %u SCSI commands at the target\n",
           (long long)(now_ms() - t0), fake_target_connections(f.ft), fake_target_commands(f.ft));
    T_EQ_INT(fake_target_commands(f.ft), DROPS + 1, "relost: sent %d times (each lost connection had it)", DROPS + 1);
    cdb_rw10(cdb, 0x28, 64, 8);
    t_status(mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, in, sizeof in, NULL),
             ISDSC_SUCCESS, "relost: read back", &f);
    T_OK(!memcmp(in, out, sizeof in), "relost: the data written is there");
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_EQ_STR(mcsi_session_info_get_string(si, MCSI_SI_STATE), "active", "relost: the session is active");
    fx_logout_any(&f, "relost: logout");
  }
  fx_end(&f);
}

/* Every connection ever made dies on its first command: the command still
 * ends, with the connection's failure, once the recovery timeout from its
 * first loss has passed (the bound that replaced the count). */
static void test_endless_drops_bounded(void)
{
  static uint8_t out[BLOCK];
  uint8_t cdb[10];
  fx f;

  if (start(&f, 0, 1500, "endless: login and six more connections")) {
    cdb_rw10(cdb, 0x2a, 0, 1);
    int64_t t0 = now_ms();
    mcsi_status st = mcsi_scsi_command(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_WRITE, out, sizeof out, NULL);
    int64_t dt = now_ms() - t0;
    printf("# endless: ended after %lld ms: %s (%s); %u connections, %u commands at the target\n", (long long)dt,
           st_name(st), last_msg(&f), fake_target_connections(f.ft), fake_target_commands(f.ft));
    T_OK(st != ISDSC_SUCCESS, "endless: the command fails (%s)", st_name(st));
    T_OK(strstr(last_msg(&f), "recovery timeout") != NULL, "endless: the message names the bound that ended it");
    T_OK(dt < 1500 + 3000, "endless: within the recovery timeout and a login (%lld ms)", (long long)dt);
    T_OK(fake_target_commands(f.ft) > DROPS, "endless: it went again past MCSI_MAX_RETRIES first (%u sends)",
         fake_target_commands(f.ft));
    T_OK(fake_target_connections(f.ft) < CONNS + 12, "endless: reinstatements back off (%u connections, not a login storm)",
         fake_target_connections(f.ft));
    fx_logout_any(&f, "endless: logout");
  }
  fx_end(&f);
}

/* ---- a slow probe does not open a CmdSN hole --------------------------------------------- */

typedef struct batch { int left, failed; } batch;

static void batch_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  batch *b = arg;
  (void)ini_; (void)message_; (void)result_;
  b->left--;
  b->failed += st != ISDSC_SUCCESS;
}

/* Three connections; the second loses a command on the way (its CmdSN a
 * hole at the target, which holds ExpCmdSN and a 4-command window there),
 * the third never answers a NOP-Out (a slow path). The probe on the first
 * is answered, the one on the third is not: after PROBE_WAIT_MS the lost
 * command must still go again with its CmdSN, as the target has not
 * reached it. Before: it went as a new command, the hole stayed and every
 * command waited for the window until the command timeout failed the
 * connections. */
static void test_slow_probe_keeps_cmdsn(void)
{
  static uint8_t bufs[24][BLOCK];
  batch b = { 24, 0 };
  uint8_t cdb[10];
  fake_target_opts to;
  fx f;

  memset(&to, 0, sizeof to);
  to.scenario = FAKE_DROP_MID_IO;
  to.variant = FAKE_DROP_UNSEEN;
  to.drop_after = 1;
  to.drop_conn = 2;
  to.mute_nops_conn = 3;
  to.cmd_window = 4;
  to.mcs = 1;
  to.max_connections = 8;
  if (!fx_init(&f, &to)) {
    fx_end(&f);
    return;
  }
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 8);
  t_login_set(f.lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, 10000);
  t_login_set(f.lo, MCSI_OPT_COMMAND_TIMEOUT_MS, 3000);
  t_login_set(f.lo, MCSI_OPT_NOP_INTERVAL_MS, 60000);     /* no keep-alive on the mute connection */
  int ok = t_status(fx_login(&f), ISDSC_SUCCESS, "slow probe: login", &f);
  for (int i = 0; ok && i < 2; i++) {
    mcsi_conn_opts *co = t_conn_opts(fake_target_portal(f.ft), 0);
    ok = t_status(mcsi_add_connection_to_session(f.ini, f.sid, co, NULL), ISDSC_SUCCESS, "slow probe: add", &f);
  }
  if (ok) {
    int64_t t0 = now_ms();
    for (int i = 0; i < 24; i++) {
      cdb_rw10(cdb, 0x28, (uint32_t)i, 1);
      mcsi_scsi_submit(f.ini, f.sid, 0, cdb, sizeof cdb, MCSI_DIR_READ, bufs[i], BLOCK, MCSI_COMPLETION(batch_done, &b));
    }
    while (b.left > 0 && now_ms() - t0 < 8000)
      mcsi_process(f.ini, 20);
    int64_t dt = now_ms() - t0;
    printf("# slow probe: 24 READs in %lld ms, %d failed, %u connections\n", (long long)dt, b.failed,
           fake_target_connections(f.ft));
    T_OK(b.left == 0 && b.failed == 0, "slow probe: 24 READs across the lost one, %d left, %d failed", b.left, b.failed);
    T_OK(dt < 2000, "slow probe: done well before the 3 s command timeout (%lld ms): no hole stalled the window",
         (long long)dt);
    T_EQ_INT(fake_target_connections(f.ft), 3, "slow probe: no connection failed for a stalled window, no reinstatement");
    T_EQ_INT(fake_target_window_violations(f.ft), 0, "slow probe: nothing beyond the target's window");
    fx_logout_any(&f, "slow probe: logout");
  }
  fx_end(&f);
}

int main(void)
{
  test_slow_probe_keeps_cmdsn();
  test_write_survives_drops();
  test_endless_drops_bounded();
  return t_done();
}
