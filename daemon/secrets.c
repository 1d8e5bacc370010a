/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* secrets.c: CHAP inline, from secret files and from stored accounts (see secrets.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clients.h"
#include "secretfile.h"
#include "secrets.h"

#define NO_ACCOUNT "ChapAccount: no CHAP account of that name is stored for the caller"

void mcsid_chap_wipe(mcsid_chap *c) { explicit_bzero(c, sizeof *c); }

/* Root and the daemon's own uid name every account as it is stored. */
static int privileged(uid_t uid) { return uid == 0 || uid == geteuid(); }

static int copy_name(char *dst, size_t size, const char *src)
{
  if (!src) return 0;
  if (strlen(src) >= size) return -1;
  memcpy(dst, src, strlen(src) + 1);
  return 0;
}

/* The key in secrets.json of the account a caller names: as given for a
 * privileged caller, else NAME@UID (given with or without the suffix). */
static int account_key(uid_t uid, const char *name, char *out, size_t size)
{
  if (privileged(uid)) return copy_name(out, size, name);
  char suffix[24];
  snprintf(suffix, sizeof suffix, "@%lu", (unsigned long)uid);
  size_t n = strlen(name), s = strlen(suffix);
  int has = n > s && !strcmp(name + n - s, suffix);
  int w = snprintf(out, size, "%s%s", name, has ? "" : suffix);
  return w < 0 || (size_t)w >= size ? -1 : 0;
}

static uid_t owner_of(json_t *account)
{
  json_t *o = json_object_get(account, "Owner");
  return json_is_integer(o) && json_integer_value(o) >= 0 ? (uid_t)json_integer_value(o) : 0;
}

/* ---- secret files --------------------------------------------------------------------------------------- */

typedef struct pending_files {
  mcsid_call *call;
  void (*next)(mcsid_call *call);
} pending_files;

/* The file's secret becomes the call's inline one. */
static void files_read(void *arg, mcsi_status st, const char *msg, char secrets[2][256])
{
  pending_files *p = arg;
  mcsid_call *call = p->call;
  void (*next)(mcsid_call *) = p->next;
  free(p);
  if (st) {
    mcsid_call_finish(call, st, msg, NULL);
    return;
  }
  const char *file_param[2] = { "SecretFile", "TargetSecretFile" }, *secret_param[2] = { "Secret", "TargetSecret" };
  for (int i = 0, k = 0; i < 2; i++) {
    if (!mcsid_param(call, file_param[i])) continue;
    json_object_set_new(call->params, secret_param[i], json_stringn_nocheck(secrets[k], strlen(secrets[k])));
    k++;
    json_object_del(call->params, file_param[i]);
  }
  next(call);
}

static int caller_creds(const mcsid_call *call, mcsid_creds *cr)
{
  size_t n = MCSID_CREDS_GROUPS_MAX;
  if (mcsid_client_creds(call->client, &cr->uid, &cr->gid, cr->groups, &n) < 0) return -1;
  cr->ngroups = n;
  return 0;
}

void mcsid_chap_files_then(mcsid_call *call, void (*next)(mcsid_call *call))
{
  const char *file = mcsid_param_string(call, "SecretFile"), *tfile = mcsid_param_string(call, "TargetSecretFile");
  if ((!file && !tfile) || (file && mcsid_param(call, "Secret")) || (tfile && mcsid_param(call, "TargetSecret"))) {
    next(call);   /* nothing to read, or a misuse mcsid_chap_from_call names */
    return;
  }
  char msg[256];
  mcsid_creds *cr = malloc(sizeof *cr);
  pending_files *p = malloc(sizeof *p);
  if (!cr || !p || caller_creds(call, cr) < 0) {
    free(cr);
    free(p);
    mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, file ? "SecretFile: could not be read" :
                                                            "TargetSecretFile: could not be read", NULL);
    return;
  }
  *p = (pending_files){ .call = call, .next = next };
  const char *paths[2] = { file ? file : tfile, file ? tfile : NULL };
  const char *params[2] = { file ? "SecretFile" : "TargetSecretFile", "TargetSecretFile" };
  int rc = mcsid_secret_files_read(call->d, cr, paths, params, files_read, p, msg, sizeof msg);
  free(cr);
  if (rc < 0) {   /* the answer says why; no log line a client could flood */
    free(p);
    mcsid_call_finish(call, ISDSC_INVALID_PARAMETER, msg, NULL);
  }
}

/* ---- the call's CHAP ---------------------------------------------------------------------------------- */

/* Copies the inline secret name into out (size 256) and wipes it from the
 * parameters. 1 if there was one, 0 if none, -1 if it is not 1..255 bytes. */
static int take_secret(const mcsid_call *call, const char *name, char *out)
{
  json_t *v = mcsid_param(call, name);
  if (!v) return 0;
  size_t n = json_string_length(v);
  char *text = (char *)json_string_value(v);
  int ok = n >= 1 && n <= MCSID_SECRET_MAX && strlen(text) == n;
  if (ok) memcpy(out, text, n + 1);
  explicit_bzero(text, n);
  json_object_del(call->params, name);
  return ok ? 1 : -1;
}

static mcsi_status from_account_as(mcsid_state *s, uid_t uid, const char *name, mcsid_chap *out, char *msg,
                                   size_t len)
{
  char key[sizeof out->account];
  json_t *a = account_key(uid, name, key, sizeof key) < 0 ? NULL : mcsid_state_account(s, key);
  if (!json_is_object(a) || (!privileged(uid) && owner_of(a) != uid)) {
    memset(out, 0, sizeof *out);
    snprintf(msg, len, NO_ACCOUNT);
    return ISDSC_INVALID_PARAMETER;
  }
  return mcsid_chap_from_account(s, key, out, msg, len);
}

mcsi_status mcsid_chap_from_call(const mcsid_call *call, mcsid_chap *out, char *msg, size_t len)
{
  const char *account = mcsid_param_string(call, "ChapAccount");
  const char *user = mcsid_param_string(call, "Username"), *file = mcsid_param_string(call, "SecretFile");
  const char *tuser = mcsid_param_string(call, "TargetUsername");
  const char *tfile = mcsid_param_string(call, "TargetSecretFile");
  uid_t uid = mcsid_client_uid(call->client);
  memset(out, 0, sizeof *out);
  int secret = take_secret(call, "Secret", out->secret);
  int tsecret = take_secret(call, "TargetSecret", out->target_secret);
  mcsi_status st = ISDSC_SUCCESS;
  if (!user && !file && !tuser && !tfile && !secret && !tsecret)
    return account ? from_account_as(&call->d->state, uid, account, out, msg, len) : ISDSC_SUCCESS;
  if (!user || (!secret == !file) || !tuser != (!tsecret && !tfile) || (tsecret && tfile)) {
    snprintf(msg, len, "CHAP needs Username with Secret or SecretFile (and TargetUsername with TargetSecret or "
                       "TargetSecretFile), one of each");
    st = ISDSC_INVALID_PARAMETER;
  } else if (secret < 0 || tsecret < 0) {
    snprintf(msg, len, "%s: the secret must be 1..255 bytes, no zero byte", secret < 0 ? "Secret" : "TargetSecret");
    st = ISDSC_INVALID_CHAP_SECRET;
  } else if (file || tfile) {   /* mcsid_chap_files_then made them Secret / TargetSecret */
    snprintf(msg, len, "%s: not read", file ? "SecretFile" : "TargetSecretFile");
    st = ISDSC_INVALID_PARAMETER;
  } else if (account_key(uid, account ? account : user, out->account, sizeof out->account) < 0 ||
             copy_name(out->username, sizeof out->username, user) < 0 ||
             copy_name(out->target_username, sizeof out->target_username, tuser) < 0) {
    snprintf(msg, len, "CHAP account or user name too long");
    st = ISDSC_INVALID_CHAP_USER_NAME;
  }
  if (st) {
    mcsid_chap_wipe(out);
    return st;
  }
  out->set = out->from_request = 1;
  out->owner = uid;
  return ISDSC_SUCCESS;
}

/* ---- accounts ---------------------------------------------------------------------------------------- */

mcsi_status mcsid_chap_from_account(mcsid_state *s, const char *key, mcsid_chap *out, char *msg, size_t len)
{
  json_t *a = mcsid_state_account(s, key);
  memset(out, 0, sizeof *out);
  if (!json_is_object(a)) {
    snprintf(msg, len, NO_ACCOUNT);
    return ISDSC_INVALID_PARAMETER;
  }
  if (copy_name(out->account, sizeof out->account, key) < 0 ||
      copy_name(out->username, sizeof out->username, json_string_value(json_object_get(a, "Username"))) < 0 ||
      copy_name(out->secret, sizeof out->secret, json_string_value(json_object_get(a, "Secret"))) < 0 ||
      copy_name(out->target_username, sizeof out->target_username,
                json_string_value(json_object_get(a, "TargetUsername"))) < 0 ||
      copy_name(out->target_secret, sizeof out->target_secret,
                json_string_value(json_object_get(a, "TargetSecret"))) < 0 ||
      !out->secret[0]) {
    mcsid_chap_wipe(out);
    snprintf(msg, len, "the stored CHAP account is unusable");
    return ISDSC_INVALID_CHAP_SECRET;
  }
  out->owner = owner_of(a);
  out->set = 1;
  return ISDSC_SUCCESS;
}

mcsi_status mcsid_chap_store(mcsid_state *s, const mcsid_chap *c, char *msg, size_t len)
{
  json_t *old = mcsid_state_account(s, c->account);
  if (old && !privileged(c->owner) && owner_of(old) != c->owner) {   /* a name root gave in a user's space */
    snprintf(msg, len, "ChapAccount: the caller cannot store an account of that name");
    return ISDSC_INVALID_PARAMETER;
  }
  json_t *a = json_pack("{s:s, s:s, s:I}", "Username", c->username, "Secret", c->secret, "Owner",
                        (json_int_t)c->owner);
  if (!a) {
    snprintf(msg, len, "out of memory");
    return ISDSC_OUT_OF_RESOURCES;
  }
  if (c->target_secret[0]) {
    json_object_set_new(a, "TargetUsername", json_string(c->target_username));
    json_object_set_new(a, "TargetSecret", json_string(c->target_secret));
  }
  mcsid_state_set_account(s, c->account, a);
  if (mcsid_secrets_save(s) < 0) {   /* the store went back to what is on disk (state.c) */
    snprintf(msg, len, "the secret store could not be written: nothing was changed");
    return ISDSC_COULD_NOT_SAVE_PERSISTENT_LOGIN_DATA;
  }
  return ISDSC_SUCCESS;
}

void mcsid_chap_to_engine(const mcsid_chap *c, const char *out[4])
{
  out[0] = out[1] = out[2] = out[3] = NULL;
  if (!c->set) return;
  out[0] = c->username;
  out[1] = c->secret;
  if (c->target_secret[0]) {
    out[2] = c->target_username;
    out[3] = c->target_secret;
  }
}
