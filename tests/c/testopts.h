/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* testopts.h: the opaque login and connection options of mcsi.h made in one
 * call for the tests:
 *   t_login_opts(portal, target, KEY, value, ..., 0)
 *   t_conn_opts(portal, KEY, value, ..., 0)
 * KEY an MCSI_OPT_* integer key, value an int (use t_opts_set_string for
 * string keys). A refused key is a "not ok" line. The handles are the
 * tests': freed at exit. */
#ifndef MCSI_TESTOPTS_H
#define MCSI_TESTOPTS_H
#include "mcsi.h"

mcsi_login_opts *t_login_opts(const char *portal, const char *target, ...);
mcsi_conn_opts *t_conn_opts(const char *portal, ...);
/* Sets one more key (int or string) and returns o. */
mcsi_login_opts *t_login_set(mcsi_login_opts *o, int key, long long v);
mcsi_login_opts *t_login_set_string(mcsi_login_opts *o, int key, const char *v);
mcsi_conn_opts *t_conn_set_string(mcsi_conn_opts *o, int key, const char *v);

/* mcsi_session_get_info, whose snapshot (*si, NULL on failure) the tests
 * keep: freed at exit, so a test reads it as long as it likes. */
mcsi_status t_get_info(mcsi_initiator *ini, mcsi_id sid, mcsi_session_info **si);
/* The snapshot, or NULL (a "not ok" line says why). */
mcsi_session_info *t_info(mcsi_initiator *ini, mcsi_id sid);
/* Shorthands: a session key, connection i's key. */
#define T_SI(si, K) mcsi_session_info_get((si), MCSI_SI_##K)
#define T_SIS(si, K) mcsi_session_info_get_string((si), MCSI_SI_##K)
#define T_CI(si, i, K) mcsi_conn_info_get(mcsi_session_info_connection((si), (i)), MCSI_CI_##K)
#define T_CIS(si, i, K) mcsi_conn_info_get_string(mcsi_session_info_connection((si), (i)), MCSI_CI_##K)
#endif
