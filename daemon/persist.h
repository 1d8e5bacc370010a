/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* persist.h: persistent logins, kept up by one keeper per entry.
 *
 * An entry of state.json's "PersistentTargets":
 *   {"TargetName", "Portals": [{"Address","Port"}...], "Connections": n,
 *    "LoadBalancePolicy": 1..5 or absent, "PolicyScript": name or absent
 *    (attached to the session by the keeper: policy.h), "ChapAccount": name or absent,
 *    "HeaderDigest", "DataDigest", "RecoveryTimeoutMs": ms or absent (the
 *    session's reinstatement window), "Exports": [export specs] or absent
 *    (exports.h)}
 * A keeper logs in through the first portal (then the next ones in turn on
 * failure), adds connections up to Connections through the portals in turn,
 * sets the policy; a failed step retries after a back-off that starts at
 * retry_initial_ms and doubles up to retry_max_ms. A session of a keeper that
 * fails for good (session-failed) is logged in again the same way; one logged
 * out by LogoutFromTarget stays out until SIGHUP or a restart. */
#ifndef MCSID_PERSIST_H
#define MCSID_PERSIST_H

#include "methods.h"

/* Starts a keeper for every entry that has none, and wakes every idle one
 * (no session, no retry pending): at start and on SIGHUP. */
void mcsid_persist_start_all(mcsid *d);
/* Shutdown: no more logins or retries. */
void mcsid_persist_stop_all(mcsid *d);
/* Stores the entry (replacing one of the same TargetName), starts its keeper;
 * call (may be NULL) is finished when the first attempt ends. entry is stolen.
 * -1 when it was not stored (refused, or the state file could not be
 * written: then nothing changed and call is finished already), else 0. */
int mcsid_persist_add(mcsid *d, json_t *entry, mcsid_call *call);
/* PersistentLoginTarget, and LoginToTarget with IsPersistent (methods_persist.c):
 * completes entry (TargetName, Portals, Connections) with the call's
 * LoadBalancePolicy, PolicyScript, digests and CHAP (stored as an account),
 * then mcsid_persist_add. entry is stolen. */
void mcsid_persist_add_from_call(mcsid_call *call, json_t *entry);
/* 1 if an entry of that name was removed (its session stays). */
int mcsid_persist_remove(mcsid *d, const char *target);
/* An event of the engine (from the daemon's subscriber). */
void mcsid_persist_event(mcsid *d, const mcsi_event *ev);
/* LogoutFromTarget on sid: its keeper (if any) stays idle. */
void mcsid_persist_logged_out(mcsid *d, mcsi_id sid);
/* The session id a keeper holds for that target (0: none). */
mcsi_id mcsid_persist_session(mcsid *d, const char *target);

#endif
