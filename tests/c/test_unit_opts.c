/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_opts.c: the opaque login and connection options of mcsi.h
 * (MCSI_OPT_LIST): keys by name, kinds, ranges, where each key applies,
 * copies that own their strings. No target needed. */
#include <stdint.h>
#include <string.h>
#include "mcsi.h"
#include "testlib.h"

static void test_names(void)
{
  int n = 0, round_trips = 0;
  for (int k = 1; k < MCSI_OPT_COUNT; k++) {
    if (!mcsi_opt_name(k)) continue;
    n++;
    round_trips += mcsi_opt_key(mcsi_opt_name(k)) == k;
  }
  T_EQ_INT(n, MCSI_OPT_COUNT - 1, "every key 1..MCSI_OPT_COUNT-1 has a name");
  T_EQ_INT(round_trips, n, "mcsi_opt_key(mcsi_opt_name(k)) == k for every key");
  T_EQ_STR(mcsi_opt_name(MCSI_OPT_MAX_CONNECTIONS), "max_connections", "names are the description's canonical names");
  T_EQ_INT(mcsi_opt_key("no_such_option"), 0, "an unknown name has no key");
  T_EQ_INT(mcsi_opt_key(NULL), 0, "NULL has no key");
  T_OK(mcsi_opt_name(0) == NULL && mcsi_opt_name(MCSI_OPT_COUNT) == NULL, "no name outside the keys");
  T_EQ_INT(mcsi_opt_kind(MCSI_OPT_PORTAL), MCSI_OPT_STRING, "portal is a string");
  T_EQ_INT(mcsi_opt_kind(MCSI_OPT_NOP_INTERVAL_MS), MCSI_OPT_INT, "nop_interval_ms is an integer");
  T_EQ_INT(mcsi_opt_kind(999), 0, "no kind for no key");
}

static void test_login_opts(void)
{
  mcsi_login_opts *o = mcsi_login_opts_new();
  if (!T_OK(o != NULL, "mcsi_login_opts_new")) return;
  T_OK(mcsi_login_opts_get_string(o, MCSI_OPT_PORTAL) == NULL, "a new handle has no portal");
  T_EQ_INT(mcsi_login_opts_get_int(o, MCSI_OPT_MAX_CONNECTIONS), 0, "a new handle's integers are 0 (default)");
  char portal[32] = "127.0.0.1:3260";
  T_EQ_INT(mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, portal), ISDSC_SUCCESS, "portal set");
  strcpy(portal, "changed");
  T_EQ_STR(mcsi_login_opts_get_string(o, MCSI_OPT_PORTAL), "127.0.0.1:3260", "the handle keeps its own copy");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, 8), ISDSC_SUCCESS, "max_connections set");
  T_EQ_INT(mcsi_login_opts_get_int(o, MCSI_OPT_MAX_CONNECTIONS), 8, "max_connections read back");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, 65536), ISDSC_INVALID_PARAMETER,
           "max_connections above 65535 refused");
  T_EQ_INT(mcsi_login_opts_get_int(o, MCSI_OPT_MAX_CONNECTIONS), 8, "a refused value leaves the key as it was");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_NOP_INTERVAL_MS, -1), ISDSC_SUCCESS, "nop_interval_ms -1 (none)");
  T_EQ_INT(mcsi_login_opts_get_int(o, MCSI_OPT_NOP_INTERVAL_MS), -1, "a negative int key read back");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_MAX_REDIRECTS, -1), ISDSC_INVALID_PARAMETER, "max_redirects -1 refused");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_MAX_BURST_LENGTH, 4294967295LL), ISDSC_SUCCESS, "a 32-bit maximum");
  T_EQ_INT(mcsi_login_opts_get_int(o, MCSI_OPT_MAX_BURST_LENGTH), 4294967295LL, "read back unsigned");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_PORTAL, 1), ISDSC_INVALID_PARAMETER, "an int for a string key refused");
  T_EQ_INT(mcsi_login_opts_set_string(o, MCSI_OPT_LOGIN_TIMEOUT_MS, "1"), ISDSC_INVALID_PARAMETER,
           "a string for an int key refused");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_WEIGHT, 2), ISDSC_INVALID_PARAMETER, "weight is a connection key only");
  T_EQ_INT(mcsi_login_opts_set_int(o, 0, 1), ISDSC_INVALID_PARAMETER, "key 0 refused");
  T_EQ_INT(mcsi_login_opts_set_int(o, MCSI_OPT_COUNT + 7, 1), ISDSC_INVALID_PARAMETER, "an unknown key refused");
  T_EQ_INT(mcsi_login_opts_set_string(o, MCSI_OPT_SECRET, "s3cret-s3cret"), ISDSC_SUCCESS, "a secret set");
  mcsi_login_opts *d = mcsi_login_opts_dup(o);
  if (T_OK(d != NULL, "mcsi_login_opts_dup")) {
    T_EQ_INT(mcsi_login_opts_set_string(d, MCSI_OPT_PORTAL, NULL), ISDSC_SUCCESS, "NULL unsets a string");
    T_OK(mcsi_login_opts_get_string(d, MCSI_OPT_PORTAL) == NULL, "unset in the copy");
    T_EQ_STR(mcsi_login_opts_get_string(o, MCSI_OPT_PORTAL), "127.0.0.1:3260", "the original keeps its portal");
    T_EQ_STR(mcsi_login_opts_get_string(d, MCSI_OPT_SECRET), "s3cret-s3cret", "the copy has the secret");
    T_EQ_INT(mcsi_login_opts_get_int(d, MCSI_OPT_MAX_CONNECTIONS), 8, "the copy has the integers");
    mcsi_login_opts_free(d);
  }
  mcsi_login_opts_free(o);
  mcsi_login_opts_free(NULL);
  T_OK(1, "mcsi_login_opts_free(NULL) is fine");
}

static void test_conn_opts(void)
{
  mcsi_conn_opts *o = mcsi_conn_opts_new();
  if (!T_OK(o != NULL, "mcsi_conn_opts_new")) return;
  T_EQ_INT(mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, "127.0.0.2"), ISDSC_SUCCESS, "connection portal set");
  T_EQ_INT(mcsi_conn_opts_set_int(o, MCSI_OPT_WEIGHT, 3), ISDSC_SUCCESS, "weight set");
  T_EQ_INT(mcsi_conn_opts_get_int(o, MCSI_OPT_WEIGHT), 3, "weight read back");
  T_EQ_INT(mcsi_conn_opts_set_string(o, MCSI_OPT_TARGET, "iqn.x"), ISDSC_INVALID_PARAMETER,
           "target is a session key only");
  T_EQ_INT(mcsi_conn_opts_set_int(o, MCSI_OPT_MAX_CONNECTIONS, 2), ISDSC_INVALID_PARAMETER,
           "max_connections is a session key only");
  T_EQ_INT(mcsi_conn_opts_get_int(o, MCSI_OPT_MAX_CONNECTIONS), 0, "a key that is not there reads 0");
  T_EQ_INT(mcsi_conn_opts_set_string(o, MCSI_OPT_USERNAME, "u"), ISDSC_SUCCESS, "CHAP on a connection");
  mcsi_conn_opts *d = mcsi_conn_opts_dup(o);
  if (T_OK(d != NULL, "mcsi_conn_opts_dup")) {
    T_EQ_STR(mcsi_conn_opts_get_string(d, MCSI_OPT_PORTAL), "127.0.0.2", "the copy has the portal");
    mcsi_conn_opts_free(d);
  }
  mcsi_conn_opts_free(o);
}

/* A login with options refused before any I/O: the engine reads the handle. */
static void test_engine_reads_handle(void)
{
  mcsi_initiator *ini = mcsi_initiator_new("iqn.2026-11.org.mcsi:test-opts");
  mcsi_login_opts *o = mcsi_login_opts_new();
  if (!T_OK(ini && o, "initiator and options")) return;
  T_EQ_INT(mcsi_login_to_target(ini, o, NULL, NULL), ISDSC_NO_PORTAL_SPECIFIED, "no portal: refused at once");
  mcsi_login_opts_set_string(o, MCSI_OPT_PORTAL, "127.0.0.1:1");
  mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, "not an iqn");
  T_EQ_INT(mcsi_login_to_target(ini, o, NULL, NULL), ISDSC_INVALID_ISCSI_NAME, "the target key is read");
  mcsi_login_opts_set_string(o, MCSI_OPT_TARGET, "iqn.2026-11.org.mcsi.test:x");
  mcsi_login_opts_set_int(o, MCSI_OPT_NOP_INTERVAL_MS, 50);
  T_EQ_INT(mcsi_login_to_target(ini, o, NULL, NULL), ISDSC_INVALID_PARAMETER, "nop_interval_ms below 100 refused");
  mcsi_login_opts_free(o);
  mcsi_initiator_free(ini);
}

int main(void)
{
  test_names();
  test_login_opts();
  test_conn_opts();
  test_engine_reads_handle();
  return t_done();
}
