/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_policy.c: the load-balance policy table (issue 8): names by
 * number, nothing outside 1..MCSI_LB_COUNT-1, and a policy number that is
 * not in the table refused with its Status. */
#include <string.h>

#include "fake_fixture.h"
#include "testlib.h"
#include "testopts.h"

int main(void)
{
  static const char *const want[] = { NULL, "failover-only", "round-robin", "round-robin-subset",
                                      "least-queue-depth", "weighted-paths" };
  T_EQ_INT(MCSI_LB_COUNT, 6, "five policies, numbered 1..5 as MSiSCSI does");
  for (int p = 1; p < MCSI_LB_COUNT; p++)
    T_EQ_STR(mcsi_lb_policy_name(p), want[p], "policy %d by name", p);
  T_OK(!mcsi_lb_policy_name(0) && !mcsi_lb_policy_name(MCSI_LB_COUNT) && !mcsi_lb_policy_name(-1),
       "no name outside the table");

  fake_target_opts to;
  fx f;
  memset(&to, 0, sizeof to);
  if (fx_start(&f, &to)) {
    t_status(mcsi_set_load_balance_policy(f.ini, f.sid, MCSI_LB_COUNT, NULL, 0), ISDSC_INVALID_LOAD_BALANCE_POLICY,
             "a number past the table", &f);
    t_status(mcsi_set_load_balance_policy(f.ini, f.sid, MCSI_LB_WEIGHTED_PATHS, NULL, 0), ISDSC_SUCCESS,
             "weighted paths", &f);
    mcsi_session_info *si = NULL;
    t_get_info(f.ini, f.sid, &si);
    T_EQ_INT(mcsi_session_info_get(si, MCSI_SI_LOAD_BALANCE_POLICY), MCSI_LB_WEIGHTED_PATHS, "the session has it");
    fx_logout_ok(&f, "logout");
  }
  fx_end(&f);
  return t_done();
}
