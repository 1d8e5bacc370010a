/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state.h: what mcsid keeps across restarts, in --state-dir.
 *
 *   state.json    (0644)  {"Version":1, "TargetPortals":[...], "Targets":[...],
 *                          "PersistentTargets":[...]}: no secret in it
 *   secrets.json  (0600)  {"Version":1, "ChapAccounts":{name:{"Username",
 *                          "Secret", "TargetUsername", "TargetSecret"}}}
 *
 * Both written atomically: a temporary file in the same directory
 * (NAME.tmp-<pid>), fsync, rename over the old one, fsync of the directory.
 * Temporary files an interrupted save left are removed at start (logged).
 * A file that cannot be read or parsed, or has the wrong shape, is renamed
 * NAME.corrupt-<unix time> with an error log line, and the daemon goes on
 * with an empty one.
 *
 * Entries are checked one by one at start (state_check.h): a bad one is set
 * aside, with an error log line, into the file's own "Rejected" array
 * ({"Kind", "Index" or "Name", "Reason", "Entry"}; never read back, kept
 * for the administrator), and the file is written again without it.
 *
 * Memory is what is on disk: a save that fails puts the document back as it
 * was last written (the change is undone), so nothing refused is applied
 * and nothing refused reaches disk later. Callers change the document, save,
 * and only when the save succeeded act on it (keepers, exports); pointers
 * into the document are not valid after a failed save. */
#ifndef MCSID_STATE_H
#define MCSID_STATE_H

#include <jansson.h>

typedef struct mcsid_state {
  char dir[4096];
  json_t *doc;        /* state.json */
  json_t *secrets;    /* secrets.json */
  json_t *doc_on_disk, *secrets_on_disk;   /* as last written: a failed save goes back to them */
} mcsid_state;

/* Creates the directory (0700) if missing. -1 only when it cannot be made. */
int mcsid_state_open(mcsid_state *s, const char *dir);
void mcsid_state_close(mcsid_state *s);
/* Atomic writes; 0, or -1 with a log line and the document back as it is
 * on disk (see above). */
int mcsid_state_save(mcsid_state *s);
int mcsid_secrets_save(mcsid_state *s);

/* The arrays of the document (borrowed). */
json_t *mcsid_state_portals(mcsid_state *s);
json_t *mcsid_state_targets(mcsid_state *s);
json_t *mcsid_state_persistent(mcsid_state *s);
/* The account object of that name (borrowed), NULL if none. */
json_t *mcsid_state_account(mcsid_state *s, const char *name);
/* Stores (replaces) an account; the object is stolen. */
void mcsid_state_set_account(mcsid_state *s, const char *name, json_t *account);
/* A copy of the secret store, and the store put back as that copy was (and
 * written; nothing is written when nothing changed): a call that stored an
 * account and then could not store what uses it takes the account back.
 * 0, or -1 (then memory is what is on disk, as after any failed save). */
json_t *mcsid_secrets_snapshot(mcsid_state *s);
int mcsid_secrets_restore(mcsid_state *s, const json_t *snapshot);

#endif
