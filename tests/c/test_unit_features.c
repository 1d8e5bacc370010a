/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test_unit_features.c: mcsi.h's version and feature macros say what the
 * library has (a program tests them with #if; they never go away). */
#include <stdio.h>
#include <string.h>
#include "mcsi.h"
#include "testlib.h"

#if !defined(MCSI_VERSION_MAJOR) || !defined(MCSI_VERSION_MINOR) || !defined(MCSI_VERSION_PATCH)
#error "mcsi.h states its version"
#endif
#if !MCSI_HAS_OPTS_BY_KEY || !MCSI_HAS_BLOCK_IO || !MCSI_HAS_COMPLETION
#error "the features of issue 15 are announced"
#endif

int main(void)
{
  T_EQ_INT(MCSI_VERSION_NUMBER, MCSI_VERSION_MAJOR * 10000 + MCSI_VERSION_MINOR * 100 + MCSI_VERSION_PATCH,
           "MCSI_VERSION_NUMBER is MAJOR*10000 + MINOR*100 + PATCH");
  T_OK(MCSI_VERSION_NUMBER >= 200, "version 0.2.0 or later (options by key)");
  /* each feature macro names something that links */
  T_OK(mcsi_login_opts_new != NULL && mcsi_opt_key != NULL, "MCSI_HAS_OPTS_BY_KEY: mcsi_login_opts_new, mcsi_opt_key");
  T_OK(mcsi_io_read != NULL && mcsi_pread != NULL, "MCSI_HAS_BLOCK_IO: mcsi_io_read, mcsi_pread");
  mcsi_completion c = { NULL, NULL, NULL };
  T_OK(c.done == NULL, "MCSI_HAS_COMPLETION: mcsi_completion { done, free, arg }");
  T_OK(mcsi_timer_add != NULL && mcsi_fd_watch != NULL && mcsi_subscribe != NULL && mcsi_abort_task != NULL,
       "MCSI_HAS_TIMERS, _FD_WATCH, _SUBSCRIBE, _ABORT_TASK");
  T_EQ_INT(MCSI_HAVE_IO, 1, "MCSI_HAVE_IO, the first name of MCSI_HAS_BLOCK_IO, is kept");
  T_OK(MCSI_VERSION_NUMBER >= 300, "version 0.3.0 or later (wanted connections, latency, handover)");
  T_OK(mcsi_set_wanted_connections != NULL && mcsi_set_wanted_connections_async != NULL && MCSI_SI_WANTED_CONNECTIONS == 27,
       "MCSI_HAS_WANTED_CONNECTIONS: mcsi_set_wanted_connections[_async], MCSI_SI_WANTED_CONNECTIONS");
  T_OK(MCSI_CI_LATENCY_SUM_US == 26 && MCSI_CI_LATENCY_BUCKET_23 == 50 && MCSI_LATENCY_BUCKETS == 24,
       "MCSI_HAS_LATENCY_HISTOGRAM: MCSI_CI_LATENCY_SUM_US, MCSI_CI_LATENCY_BUCKET_0..23");
  T_OK(mcsi_session_handover_export != NULL && mcsi_session_handover_import != NULL &&
       mcsi_session_handover_commit != NULL && mcsi_session_handover_abort != NULL,
       "MCSI_HAS_HANDOVER: mcsi_session_handover_export/_import/_commit/_abort");
#if MCSI_HAS_HANDOVER_IDS
  T_OK(mcsi_handover_blob_session_id != NULL && mcsi_handover_blob_session_id((const uint8_t *)"x", 1) == 0,
       "MCSI_HAS_HANDOVER_IDS: mcsi_handover_blob_session_id (0 for no blob)");
#else
  T_OK(0, "MCSI_HAS_HANDOVER_IDS is announced");
#endif
  return t_done();
}
