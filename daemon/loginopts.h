/* loginopts.h: the engine's login options from a request's parameters.
 *
 * Parameters (all optional but the portal): TargetName, TargetPortal,
 * HeaderDigest / DataDigest ("None" or "CRC32C"), MaximumConnections
 * (offered, default 4), LoginTimeoutMs (default: config login_timeout_ms),
 * and the CHAP rows of secrets.h. */
#ifndef MCSID_LOGINOPTS_H
#define MCSID_LOGINOPTS_H

#include "methods.h"
#include "secrets.h"

#define MCSID_LOGIN_PARAMS                                                                            \
  { "HeaderDigest", P_STRING, 0 }, { "DataDigest", P_STRING, 0 }, { "MaximumConnections", P_UINT, 0 }, \
  { "LoginTimeoutMs", P_UINT, 0 }, MCSID_CHAP_PARAMS

typedef struct mcsid_login {
  mcsi_login_opts opts;   /* points into the fields below */
  char portal[128];
  char target[224];
  mcsid_chap chap;
} mcsid_login;

/* ISDSC_SUCCESS, or a failing Status with msg. Wipe with mcsid_login_wipe. */
mcsi_status mcsid_login_from_call(const mcsid_call *call, mcsid_login *l, char *msg, size_t len);
/* The digest name as the engine's number; -1 if it is none. */
int mcsid_digest_number(const char *name);
void mcsid_login_wipe(mcsid_login *l);

#endif
