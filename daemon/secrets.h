/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* secrets.h: CHAP settings of a request: inline, from secret files, or a
 * stored account.
 *
 * A request names CHAP in one of three ways:
 *   "Username" + "Secret" (the secret itself, 1..255 bytes: the socket is
 *   private and no request text is ever logged), or "Username" +
 *   "SecretFile" (a file the daemon reads with the caller's credentials:
 *   secretfile.h); for mutual CHAP "TargetUsername" + "TargetSecret" or
 *   "TargetSecretFile". "ChapAccount" beside them names the account they
 *   are stored under when the request persists something (default: the
 *   Username).
 *   "ChapAccount" alone: an account stored before (secrets.json, 0600).
 *
 * Accounts belong to the uid that stored them ("Owner" in secrets.json).
 * Root (and the daemon's own uid) names any account as it is stored; any
 * other uid names only its own, which are stored as "NAME@UID" (the caller
 * gives NAME, with or without that suffix): a user's names never meet
 * another's, and an account of another uid answers exactly what a missing
 * one does. An account stored without an Owner (before owners were kept)
 * is root's.
 *
 * Secrets live in mcsid_chap only as long as a call needs them and are
 * wiped; an inline secret is wiped from the request's parameters once read. */
#ifndef MCSID_SECRETS_H
#define MCSID_SECRETS_H

#include <sys/types.h>
#include <jansson.h>
#include "mcsi.h"
#include "methods.h"

/* The CHAP rows of a method's schema: the option set "chap" of
 * api/operations.lua. */

typedef struct mcsid_chap {
  int set;                                  /* any CHAP at all */
  int from_request;                         /* the secrets came with the request (not from an account) */
  uid_t owner;                              /* who gave them: the account's owner when stored */
  char account[128];                        /* the account's key in secrets.json ("" if none; 1..127 bytes) */
  char username[256], secret[256];
  char target_username[256], target_secret[256];
} mcsid_chap;

/* Runs next(call) once the call's SecretFile / TargetSecretFile (if it
 * names any) have been read with the caller's credentials, off the loop;
 * what they hold is then the call's Secret / TargetSecret. When they cannot
 * be read the call ends with that Status instead, and next does not run. */
void mcsid_chap_files_then(mcsid_call *call, void (*next)(mcsid_call *call));

/* ISDSC_SUCCESS (out->set 0 when the call names no CHAP), or a failing
 * Status with msg (which never holds a secret). Reads the inline secrets
 * (after mcsid_chap_files_then: the files' too) and wipes them from the
 * call's parameters: call it once per call. */
mcsi_status mcsid_chap_from_call(const mcsid_call *call, mcsid_chap *out, char *msg, size_t len);
/* The account stored under key, as the daemon itself uses it (persistent
 * logins: their owner was checked when they were stored). */
mcsi_status mcsid_chap_from_account(mcsid_state *s, const char *key, mcsid_chap *out, char *msg, size_t len);
/* Stores c as its account (replacing the owner's earlier one) and saves
 * secrets.json: ISDSC_SUCCESS, or a failing Status with msg. */
mcsi_status mcsid_chap_store(mcsid_state *s, const mcsid_chap *c, char *msg, size_t len);
/* Points the engine's CHAP settings at c (valid while c is). */
void mcsid_chap_to_engine(const mcsid_chap *c, const char *out[4]);
void mcsid_chap_wipe(mcsid_chap *c);

#endif
