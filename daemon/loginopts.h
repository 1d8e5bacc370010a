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
