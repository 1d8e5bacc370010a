/* secrets.h: CHAP settings of a request, from secret files or a stored account.
 *
 * A request names CHAP in one of two ways (never a secret in the request):
 *   "Username" + "SecretFile" (and for mutual CHAP "TargetUsername" +
 *   "TargetSecretFile"): the daemon reads the secret from the file; the file
 *   must be a regular file (not a symbolic link) of 1..255 bytes (a trailing
 *   newline is not part of the secret), owned by the requesting peer's uid or
 *   by root. "ChapAccount" beside them names the account they are stored
 *   under when the request persists something (default: the Username).
 *   "ChapAccount" alone: an account stored before (secrets.json, 0600).
 * Secrets live in mcsid_chap only as long as a call needs them and are wiped. */
#ifndef MCSID_SECRETS_H
#define MCSID_SECRETS_H

#include <jansson.h>
#include "mcsi.h"
#include "methods.h"

/* The CHAP rows of a method's schema. */
#define MCSID_CHAP_PARAMS                                                                             \
  { "ChapAccount", P_STRING, 0 }, { "Username", P_STRING, 0 }, { "SecretFile", P_STRING, 0 },         \
  { "TargetUsername", P_STRING, 0 }, { "TargetSecretFile", P_STRING, 0 }

typedef struct mcsid_chap {
  int set;                                  /* any CHAP at all */
  char account[128];                        /* the account name ("" if none) */
  char username[256], secret[256];
  char target_username[256], target_secret[256];
} mcsid_chap;

/* ISDSC_SUCCESS (out->set 0 when the call names no CHAP), or a failing
 * Status with msg (which never holds a secret). */
mcsi_status mcsid_chap_from_call(const mcsid_call *call, mcsid_chap *out, char *msg, size_t len);
mcsi_status mcsid_chap_from_account(mcsid_state *s, const char *name, mcsid_chap *out, char *msg, size_t len);
/* The account as stored in secrets.json (new reference). */
json_t *mcsid_chap_account_json(const mcsid_chap *c);
/* Points the engine's CHAP settings at c (valid while c is). */
void mcsid_chap_to_engine(const mcsid_chap *c, mcsi_chap *o);
void mcsid_chap_wipe(mcsid_chap *c);

#endif
