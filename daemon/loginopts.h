/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* loginopts.h: the engine's login options from a request's parameters.
 *
 * Parameters (all optional but the portal): TargetName, TargetPortal,
 * HeaderDigest / DataDigest ("None" or "CRC32C"), MaximumConnections
 * (offered, default 4), LoginTimeoutMs (default: config login_timeout_ms),
 * and the CHAP parameters of secrets.h (the schema: the option set "login"
 * of api/operations.lua). */
#ifndef MCSID_LOGINOPTS_H
#define MCSID_LOGINOPTS_H

#include "methods.h"
#include "secrets.h"

typedef struct mcsid_login {
  char portal[128];
  char target[224];
  mcsid_chap chap;
  int header_digest, data_digest;           /* MCSI_DIGEST_* */
  uint32_t max_connections;                 /* 0: the engine's default */
  int login_timeout_ms, nop_interval_ms, nop_timeout_ms;
  int recovery_timeout_ms;                  /* 0: the engine's default */
} mcsid_login;

/* ISDSC_SUCCESS, or a failing Status with msg. Wipe with mcsid_login_wipe. */
mcsi_status mcsid_login_from_call(const mcsid_call *call, mcsid_login *l, char *msg, size_t len);
/* The digest name as the engine's number; -1 if it is none. */
int mcsid_digest_number(const char *name);
void mcsid_login_wipe(mcsid_login *l);
/* The engine's options for l (its own copy: free it with
 * mcsi_login_opts_free / mcsi_conn_opts_free, which wipes the secrets);
 * NULL out of memory. A connection's weight 0 is 1. */
mcsi_login_opts *mcsid_login_opts(const mcsid_login *l);
mcsi_conn_opts *mcsid_conn_opts(const mcsid_login *l, uint32_t weight);

#endif
