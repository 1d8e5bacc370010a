/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_info_many.c: session and connection information has no cap. A
 * session of 40 connections (the fake target, real MC/S) shows all 40 in
 * mcsi_session_get_info's snapshot (the fixed-size struct it replaces
 * stopped at 32), each by index and by id; keys by name; a NULL snapshot
 * reads as empty. */
#include <string.h>
#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"

#define WANT 40

static void test_keys(void)
{
  int n = 0, back = 0;
  for (int k = 1; k < MCSI_SI_COUNT; k++) {
    n += mcsi_session_info_key_name(k) != NULL;
    back += mcsi_session_info_key(mcsi_session_info_key_name(k)) == k;
  }
  T_EQ_INT(n, MCSI_SI_COUNT - 1, "every session key has a name");
  T_EQ_INT(back, n, "session keys by name and back");
  n = back = 0;
  for (int k = 1; k < MCSI_CI_COUNT; k++) {
    n += mcsi_conn_info_key_name(k) != NULL;
    back += mcsi_conn_info_key(mcsi_conn_info_key_name(k)) == k;
  }
  T_EQ_INT(n, MCSI_CI_COUNT - 1, "every connection key has a name");
  T_EQ_INT(back, n, "connection keys by name and back");
  T_EQ_INT(mcsi_session_info_key_kind(MCSI_SI_STATE), MCSI_INFO_STRING, "state is a string");
  T_EQ_INT(mcsi_conn_info_key_kind(MCSI_CI_BYTES_SENT), MCSI_INFO_UINT, "bytes_sent is a number");
  T_EQ_STR(mcsi_session_info_get_string(NULL, MCSI_SI_STATE), "", "a NULL snapshot reads as empty: \"\"");
  T_EQ_U64(mcsi_session_info_get(NULL, MCSI_SI_TSIH), 0, "... and 0");
  T_OK(mcsi_session_info_connection(NULL, 0) == NULL && mcsi_session_info_connection_count(NULL) == 0,
       "... with no connection");
}

static void test_many(void)
{
  fake_target_opts to = { .scenario = FAKE_NORMAL, .mcs = 1, .max_connections = 64 };
  fx f;
  if (!fx_init(&f, &to)) return;
  t_login_set(f.lo, MCSI_OPT_MAX_CONNECTIONS, 64);
  if (!t_status(fx_login(&f), ISDSC_SUCCESS, "login (MaxConnections 64)", &f)) {
    fx_end(&f);
    return;
  }
  mcsi_conn_opts *co = t_conn_opts(fake_target_portal(f.ft), 0);
  mcsi_id ids[WANT] = { f.cid };
  int added = 1;
  for (int i = 1; i < WANT; i++) added += mcsi_add_connection_to_session(f.ini, f.sid, co, &ids[i]) == ISDSC_SUCCESS;
  T_EQ_INT(added, WANT, "%d connections in the session (%s)", WANT, last_msg(&f));
  mcsi_session_info *si = t_info(f.ini, f.sid);
  T_EQ_U64(mcsi_session_info_connection_count(si), WANT, "the snapshot has all %d", WANT);
  T_EQ_U64(mcsi_session_info_get(si, MCSI_SI_CONNECTION_COUNT), WANT, "connection_count says so too");
  int found = 0, active = 0;
  for (int i = 0; i < WANT; i++) {
    const mcsi_conn_info *ci = mcsi_session_info_find_connection(si, ids[i]);
    found += ci != NULL && mcsi_conn_info_get(ci, MCSI_CI_ID) == ids[i];
    active += !strcmp(mcsi_conn_info_get_string(mcsi_session_info_connection(si, (size_t)i), MCSI_CI_STATE), "active");
  }
  T_EQ_INT(found, WANT, "each connection found by its id, the 33rd to the 40th too");
  T_EQ_INT(active, WANT, "each one by index, active");
  T_OK(mcsi_session_info_connection(si, WANT) == NULL, "none beyond the last");
  T_OK(mcsi_session_info_find_connection(si, 0) == NULL, "no connection 0");
  fx_logout_ok(&f, "40 connections");
  fx_end(&f);
}

int main(void)
{
  test_keys();
  test_many();
  return t_done();
}
