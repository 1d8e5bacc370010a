/* loginopts.c: login options from request parameters (see loginopts.h). */
#include <stdio.h>
#include <string.h>
#include "loginopts.h"

int mcsid_digest_number(const char *name)
{
  if (!name || !strcmp(name, "None")) return MCSI_DIGEST_NONE;
  if (!strcmp(name, "CRC32C")) return MCSI_DIGEST_CRC32C;
  return -1;
}

void mcsid_login_wipe(mcsid_login *l) { explicit_bzero(l, sizeof *l); }

static mcsi_status options_from_call(const mcsid_call *call, mcsid_login *l, char *msg, size_t len)
{
  const char *target = mcsid_param_string(call, "TargetName");
  if (target && strlen(target) >= sizeof l->target) {
    snprintf(msg, len, "TargetName is too long");
    return ISDSC_INVALID_ISCSI_NAME;
  }
  if (target) strcpy(l->target, target);
  json_t *portal = mcsid_param(call, "TargetPortal");
  if (portal) mcsid_portal_text(portal, l->portal, sizeof l->portal);
  int hd = mcsid_digest_number(mcsid_param_string(call, "HeaderDigest"));
  int dd = mcsid_digest_number(mcsid_param_string(call, "DataDigest"));
  if (hd < 0 || dd < 0) {
    snprintf(msg, len, "HeaderDigest and DataDigest are \"None\" or \"CRC32C\"");
    return ISDSC_INVALID_PARAMETER;
  }
  long long maxc = mcsid_param_uint(call, "MaximumConnections", 0);
  long long timeout = mcsid_param_uint(call, "LoginTimeoutMs", call->d->config.login_timeout_ms);
  if (maxc > 65535 || timeout > 3600000) {
    snprintf(msg, len, "MaximumConnections or LoginTimeoutMs is out of range");
    return ISDSC_INVALID_PARAMETER;
  }
  l->opts.portal = l->portal[0] ? l->portal : NULL;
  l->opts.target = l->target[0] ? l->target : NULL;
  l->opts.header_digest = hd;
  l->opts.data_digest = dd;
  l->opts.max_connections = (uint32_t)maxc;
  l->opts.login_timeout_ms = (int)timeout;
  l->opts.nop_interval_ms = (int)call->d->config.nop_interval_ms;
  l->opts.nop_timeout_ms = (int)call->d->config.nop_timeout_ms;
  mcsid_chap_to_engine(&l->chap, &l->opts.chap);
  return ISDSC_SUCCESS;
}

mcsi_status mcsid_login_from_call(const mcsid_call *call, mcsid_login *l, char *msg, size_t len)
{
  memset(l, 0, sizeof *l);
  mcsi_status st = mcsid_chap_from_call(call, &l->chap, msg, len);   /* first: an inline secret is wiped at once */
  if (!st) st = options_from_call(call, l, msg, len);
  if (st) mcsid_login_wipe(l);
  return st;
}
