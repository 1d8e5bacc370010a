/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_wanted.c: the session's wanted number of connections through the C
 * API against the real tgtd: 1 at login, an add raises it (its completion's
 * own message says so), a removal lowers it, mcsi_set_wanted_connections and
 * its asynchronous form set it (the callback never inside the call), bounds
 * and unknown sessions refused; and ISDSC_TOO_MANY_CONNECTIONS explaining
 * tgt's MaxConnections=1 with the tgtadm command that raises it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mcsi.h"
#include "testlib.h"
#include "testopts.h"

static mcsi_initiator *ini;
static char tgt1[64], tgt2[64];

static uint64_t wanted(mcsi_id sid)
{
  mcsi_session_info *si = NULL;
  t_get_info(ini, sid, &si);
  uint64_t n = mcsi_session_info_get(si, MCSI_SI_WANTED_CONNECTIONS);
  return n;
}

typedef struct seen {
  int calls;
  mcsi_status st;
  char message[512];
} seen;

static void on_done(mcsi_initiator *i, mcsi_status st, const char *message, const void *result, void *arg)
{
  seen *s = arg;
  (void)i;
  (void)result;
  s->calls++;
  s->st = st;
  snprintf(s->message, sizeof s->message, "%s", message ? message : "");
}

static void wait_seen(seen *s)
{
  for (int i = 0; i < 100 && !s->calls; i++) mcsi_process(ini, 50);
}

static mcsi_id login(void)
{
  mcsi_login_opts *o = t_login_opts(tgt1, t_env("MCSI_TGT_IQN_PLAIN"), 0);
  mcsi_id sid = 0;
  mcsi_status st = mcsi_login_to_target(ini, o, &sid, NULL);
  T_EQ_INT(st, ISDSC_SUCCESS, "login (%s)", mcsi_last_message(ini));
  return sid;
}

static void counts(void)
{
  mcsi_id sid = login();
  T_EQ_INT(wanted(sid), 1, "a new session wants 1 connection");
  T_OK(mcsi_session_info_key("wanted_connections") == MCSI_SI_WANTED_CONNECTIONS,
       "the key is named \"wanted_connections\"");
  seen a = { 0 };
  mcsi_conn_opts *co = t_conn_opts(tgt2, 0);
  T_EQ_INT(mcsi_add_connection_async(ini, sid, co, MCSI_COMPLETION(on_done, &a)), ISDSC_SUCCESS, "add started");
  wait_seen(&a);
  T_EQ_INT(a.st, ISDSC_SUCCESS, "added");
  T_OK(strstr(a.message, "wanted connections: 2 (was 1)") != NULL, "its message says the wanted count: '%s'", a.message);
  T_EQ_INT(wanted(sid), 2, "wanted 2");
  mcsi_id cid = 0;
  co = t_conn_opts(tgt1, 0);
  T_EQ_INT(mcsi_add_connection_to_session(ini, sid, co, &cid), ISDSC_SUCCESS, "a third connection");
  T_EQ_INT(wanted(sid), 3, "wanted 3");
  T_EQ_INT(mcsi_remove_connection_from_session(ini, sid, cid), ISDSC_SUCCESS, "removed");
  char said[512];
  snprintf(said, sizeof said, "%s", mcsi_last_message(ini));
  T_OK(strstr(said, "wanted connections: 2 (was 3)") != NULL, "the blocking removal says it: '%s'", said);
  T_EQ_INT(wanted(sid), 2, "a removal: wanted 2");
  seen s = { 0 };
  T_EQ_INT(mcsi_set_wanted_connections_async(ini, sid, 5, MCSI_COMPLETION(on_done, &s)), ISDSC_SUCCESS,
           "mcsi_set_wanted_connections_async started");
  T_EQ_INT(s.calls, 0, "its callback runs later, not inside the call");
  wait_seen(&s);
  T_OK(s.calls == 1 && s.st == ISDSC_SUCCESS && strstr(s.message, "wanted connections: 5 (was 2)"), "answered: '%s'",
       s.message);
  T_EQ_INT(wanted(sid), 5, "wanted 5");
  T_EQ_INT(mcsi_set_wanted_connections(ini, sid, 2), ISDSC_SUCCESS, "mcsi_set_wanted_connections 2");
  T_EQ_INT(wanted(sid), 2, "wanted 2 again");
  T_EQ_INT(mcsi_set_wanted_connections(ini, sid, 0), ISDSC_INVALID_PARAMETER, "0 refused");
  T_EQ_INT(mcsi_set_wanted_connections(ini, sid, 65536), ISDSC_INVALID_PARAMETER, "65536 refused");
  T_EQ_INT(mcsi_set_wanted_connections(ini, 0x7777777, 2), ISDSC_INVALID_SESSION_ID, "an unknown session");
  T_EQ_INT(mcsi_set_wanted_connections_async(ini, 0x7777777, 2, MCSI_COMPLETION(on_done, &s)), ISDSC_INVALID_SESSION_ID,
           "an unknown session, asynchronously: refused at once");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout");
}

static void max_connections_one(void)
{
  char one[600], four[600];
  snprintf(one, sizeof one, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op update --mode target --tid 1 "
           "--name MaxConnections --value 1 >/dev/null 2>&1", t_env("MCSI_TGT_IPC"));
  snprintf(four, sizeof four, "TGT_IPC_SOCKET=%s tgtadm -C 0 --lld iscsi --op update --mode target --tid 1 "
           "--name MaxConnections --value 4 >/dev/null 2>&1", t_env("MCSI_TGT_IPC"));
  T_EQ_INT(system(one), 0, "tgt: MaxConnections 1 on target 1");
  mcsi_id sid = login();
  T_EQ_INT(system(four), 0, "tgt: MaxConnections 4 again (for the next sessions)");
  mcsi_conn_opts *co = t_conn_opts(tgt2, 0);
  mcsi_id cid = 0;
  T_EQ_INT(mcsi_add_connection_to_session(ini, sid, co, &cid), ISDSC_TOO_MANY_CONNECTIONS, "a second connection");
  const char *m = mcsi_last_message(ini);
  T_OK(strstr(m, "one connection per session") && strstr(m, "--name MaxConnections --value"),
       "the message explains and gives the tgtadm command: '%s'", m);
  T_EQ_INT(wanted(sid), 1, "the wanted count is unchanged by a refused add");
  T_EQ_INT(mcsi_logout_from_target(ini, sid), ISDSC_SUCCESS, "logout");
}

int main(void)
{
  t_tgt_portal(tgt1, sizeof tgt1, 1);
  t_tgt_portal(tgt2, sizeof tgt2, 2);
  ini = mcsi_initiator_new("iqn.2026-11.org.mcsi.test:wanted");
  counts();
  max_connections_one();
  mcsi_initiator_free(ini);
  return t_done();
}
