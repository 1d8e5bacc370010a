/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fake_fixture.c: see fake_fixture.h. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fake_fixture.h"
#include "testopts.h"
#include "testlib.h"


int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *st_name(mcsi_status st)
{
  const char *n = mcsi_status_name(st);
  return n ? n : "?";
}

const char *last_msg(const fx *f)
{
  const char *m = mcsi_last_message(f->ini);
  return m ? m : "";
}

/* Asserts a status by name, so a failure prints both names. */
int t_status(mcsi_status got, mcsi_status want, const char *what, const fx *f)
{
  int ok = T_EQ_STR(st_name(got), st_name(want), "%s", what);

  if (!ok)
    printf("#   last message: %s\n", last_msg(f));
  return ok;
}

/* Starts the target and an initiator; login_opts are the defaults plus
 * the short timeouts.  Does not log in. */
int fx_init(fx *f, const fake_target_opts *to)
{
  memset(f, 0, sizeof *f);
  f->ft = fake_target_start_opts(to);
  f->ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-fake-target");
  if (!T_OK(f->ft && f->ini, "%s: fake target and initiator created",
            fake_scenario_name(to->scenario)))
    return 0;
  f->lo = t_login_opts(fake_target_portal(f->ft), fake_target_iqn(f->ft), 0);
  t_login_set(f->lo, MCSI_OPT_LOGIN_TIMEOUT_MS, TIMEOUT_MS);
  t_login_set(f->lo, MCSI_OPT_COMMAND_TIMEOUT_MS, TIMEOUT_MS);
  /* these scenarios test how a failure is reported, not session recovery */
  t_login_set(f->lo, MCSI_OPT_RECOVERY_TIMEOUT_MS, -1);
  return 1;
}

mcsi_status fx_login(fx *f)
{
  f->login = mcsi_login_to_target(f->ini, f->lo, &f->sid, &f->cid);
  return f->login;
}

mcsi_id fx_add_conn(fx *f, const char *what)
{
  mcsi_id cid = 0;
  if (!t_status(mcsi_add_connection_to_session(f->ini, f->sid, t_conn_opts(fake_target_portal(f->ft), 0), &cid),
                ISDSC_SUCCESS, what, f))
    return 0;
  return cid;
}

/* Starts, logs in and asserts the login succeeded. */
int fx_start(fx *f, const fake_target_opts *to)
{
  if (!fx_init(f, to))
    return 0;
  return t_status(fx_login(f), ISDSC_SUCCESS, "login", f);
}

int fx_start_scenario(fx *f, fake_scenario sc, int variant)
{
  fake_target_opts to;

  memset(&to, 0, sizeof to);
  to.scenario = sc;
  to.variant = variant;
  return fx_start(f, &to);
}

void fx_end(fx *f)
{
  if (f->ini)
    mcsi_initiator_free(f->ini);
  fake_target_stop(f->ft);
  memset(f, 0, sizeof *f);
}

/* Logs out of a session the test expects to be healthy. */
void fx_logout_ok(fx *f, const char *what)
{
  t_status(mcsi_logout_from_target(f->ini, f->sid), ISDSC_SUCCESS, what, f);
}

/* What a logout of a session that may be broken can answer: success (a
 * Logout exchanged, or no working connection left to send it on), or why the
 * Logout exchange did not complete. Not INVALID_SESSION_ID (the session was
 * lost before its logout), SESSION_BUSY, nor anything else. */
static int logout_status_allowed(mcsi_status st)
{
  static const mcsi_status allowed[] = {
    ISDSC_SUCCESS,
    ISDSC_SERVICE_DID_NOT_RESPOND,   /* no Logout Response in time */
    ISDSC_TARGET_ERROR,              /* a Logout Response other than 0 */
    ISDSC_CONNECTION_FAILED,         /* the connection died during the Logout */
    ISDSC_TRANSPORT_ERROR,
    ISDSC_SEND_FAILED,
    ISDSC_NO_CONNECTION_AVAILABLE,
  };

  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (st == allowed[i])
      return 1;
  return 0;
}

/* Logs out of a session that may be broken: success or a failed Logout
 * exchange, and either way the session is gone afterwards. */
void fx_logout_any(fx *f, const char *what)
{
  mcsi_status st = mcsi_logout_from_target(f->ini, f->sid);
  mcsi_session_info *info = NULL;

  T_OK(logout_status_allowed(st), "%s: logout answers success or why the Logout failed (%s: %s)",
       what, st_name(st), last_msg(f));
  T_EQ_STR(st_name(t_get_info(f->ini, f->sid, &info)), "ISDSC_INVALID_SESSION_ID",
           "%s: the session is gone after its logout", what);
}

void cdb_rw10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t blocks)
{
  memset(cdb, 0, 10);
  cdb[0] = op;
  cdb[2] = (uint8_t)(lba >> 24);
  cdb[3] = (uint8_t)(lba >> 16);
  cdb[4] = (uint8_t)(lba >> 8);
  cdb[5] = (uint8_t)lba;
  cdb[7] = (uint8_t)(blocks >> 8);
  cdb[8] = (uint8_t)blocks;
}

void pattern(uint8_t *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(i * 31u + seed + (i >> 9));
}

size_t heap_in_use(void)
{
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}


void on_done(mcsi_initiator *ini_, mcsi_status st, const char *message_, const void *result_, void *arg)
{
  const mcsi_scsi_result *res = result_;
  (void)ini_; (void)message_;
  async_done *d = arg;

  (void)res;
  d->done = 1;
  d->st = st;
}
