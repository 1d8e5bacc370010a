/* SPDX-License-Identifier: LGPL-2.1-or-later */
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
  l->header_digest = hd;
  l->data_digest = dd;
  l->max_connections = (uint32_t)maxc;
  l->login_timeout_ms = (int)timeout;
  l->nop_interval_ms = (int)call->d->config.nop_interval_ms;
  l->nop_timeout_ms = (int)call->d->config.nop_timeout_ms;
  return ISDSC_SUCCESS;
}

mcsi_login_opts *mcsid_login_opts(const mcsid_login *l)
{
  mcsi_login_opts *o = mcsi_login_opts_new();
  if (!o) return NULL;
  const char *chap[4];
  mcsid_chap_to_engine(&l->chap, chap);
  const struct { int key; const char *v; } strs[] = {
    { MCSI_OPT_PORTAL, l->portal[0] ? l->portal : NULL }, { MCSI_OPT_TARGET, l->target[0] ? l->target : NULL },
    { MCSI_OPT_USERNAME, chap[0] }, { MCSI_OPT_SECRET, chap[1] },
    { MCSI_OPT_TARGET_USERNAME, chap[2] }, { MCSI_OPT_TARGET_SECRET, chap[3] },
  };
  const struct { int key; int64_t v; } ints[] = {
    { MCSI_OPT_HEADER_DIGEST, l->header_digest }, { MCSI_OPT_DATA_DIGEST, l->data_digest },
    { MCSI_OPT_MAX_CONNECTIONS, l->max_connections }, { MCSI_OPT_LOGIN_TIMEOUT_MS, l->login_timeout_ms },
    { MCSI_OPT_NOP_INTERVAL_MS, l->nop_interval_ms }, { MCSI_OPT_NOP_TIMEOUT_MS, l->nop_timeout_ms },
    { MCSI_OPT_RECOVERY_TIMEOUT_MS, l->recovery_timeout_ms },
  };
  mcsi_status st = ISDSC_SUCCESS;
  for (size_t i = 0; i < sizeof strs / sizeof strs[0] && !st; i++) st = mcsi_login_opts_set_string(o, strs[i].key, strs[i].v);
  for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !st; i++) st = mcsi_login_opts_set_int(o, ints[i].key, ints[i].v);
  if (!st) return o;
  mcsi_login_opts_free(o);
  return NULL;
}

mcsi_conn_opts *mcsid_conn_opts(const mcsid_login *l, uint32_t weight)
{
  mcsi_conn_opts *o = mcsi_conn_opts_new();
  if (!o) return NULL;
  const char *chap[4];
  mcsid_chap_to_engine(&l->chap, chap);
  mcsi_status st = mcsi_conn_opts_set_string(o, MCSI_OPT_PORTAL, l->portal);
  const int keys[4] = { MCSI_OPT_USERNAME, MCSI_OPT_SECRET, MCSI_OPT_TARGET_USERNAME, MCSI_OPT_TARGET_SECRET };
  for (size_t i = 0; i < 4 && !st; i++) st = mcsi_conn_opts_set_string(o, keys[i], chap[i]);
  if (!st) st = mcsi_conn_opts_set_int(o, MCSI_OPT_LOGIN_TIMEOUT_MS, l->login_timeout_ms);
  if (!st) st = mcsi_conn_opts_set_int(o, MCSI_OPT_WEIGHT, weight);
  if (!st) return o;
  mcsi_conn_opts_free(o);
  return NULL;
}

mcsi_status mcsid_login_from_call(const mcsid_call *call, mcsid_login *l, char *msg, size_t len)
{
  memset(l, 0, sizeof *l);
  mcsi_status st = mcsid_chap_from_call(call, &l->chap, msg, len);   /* first: an inline secret is wiped at once */
  if (!st) st = options_from_call(call, l, msg, len);
  if (st) mcsid_login_wipe(l);
  return st;
}
