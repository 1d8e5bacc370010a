/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* exports.h: the daemon's NBD exports (nbd/mcsi_nbd.h), one record each.
 *
 * An export serves one LUN of one session on a Unix socket and/or a TCP
 * address. Its "spec", the same object whether given to ExportLun or stored:
 *   {"Lun": n, "Socket": "name", "Tcp": "host:port", "ExportName": s,
 *    "ReadOnly": b, "MaxClients": n}          (Lun and Socket or Tcp required)
 * Socket names a socket in export_dir (exportdir.h: the daemon binds it
 * there, through its descriptor of the directory, and nowhere else); a
 * given "export_dir/name" is stored as "name". Clients of a Unix socket are
 * checked as the control socket's are (peers.h): others are closed before
 * a byte is sent.
 * A persistent export is a spec in the "Exports" array of its persistent
 * target's entry in state.json (persist.h): it is started each time the
 * target's keeper has a session (at start, after kill -9, after SIGHUP), and
 * an export already running is moved to the keeper's new session
 * (mcsi_nbd_export_rebind) when a session that failed for good is replaced:
 * its clients stay connected. Any export made on the keeper's session
 * follows it the same way. An export whose session is logged out, or fails
 * with no persistent target to bring it back, stops; a persistent one waits
 * (State "waiting") for the next session of its target.
 *
 * States: "starting" (probing the LUN), "up", "waiting" (persistent, no
 * session), "failed" (persistent, its last start failed: Error says why; it
 * is tried again with the target's next session). */
#ifndef MCSID_EXPORTS_H
#define MCSID_EXPORTS_H

#include "exportdir.h"
#include "mcsi_nbd.h"
#include "methods.h"

/* 0 if spec is a valid spec object, -1 with msg (names keys, never values). */
int mcsid_export_spec_check(const json_t *spec, char *msg, size_t len);
/* Its Socket (if any) made a name in export_dir: 0, or -1 with msg. */
int mcsid_export_spec_socket(mcsid *d, json_t *spec, char *msg, size_t len);

/* At start, once the state is loaded: names the sockets of stored exports
 * given as export_dir/name (saved); those elsewhere are logged and never
 * start. (export_dir itself is opened, made if missing, by the first Unix
 * export: a daemon that exports nothing leaves the file system alone.) */
void mcsid_exports_migrate(mcsid *d);

/* ExportLun: starts an export of spec on sid; call is finished when it is up
 * or has failed. store: add the spec to the session's persistent target once
 * up (the caller has checked the session is a keeper's). spec is stolen. */
void mcsid_export_begin_call(mcsid_call *call, mcsi_id sid, json_t *spec, int store);

/* The ExportId of a running export (0: none of ours). */
uint64_t mcsid_export_id_of(mcsid *d, const mcsi_nbd_export *exp);
/* A handover's successor: ExportIds up to id are the old process's (new
 * records get larger ones; a keeper's export handed over gets its own back). */
void mcsid_exports_reserve_id(uint64_t id);
/* The record of that id, or the one of that socket name (NULL). */
mcsid_export *mcsid_export_find(mcsid *d, uint64_t id, const char *socket_name);
/* UnexportLun: stops it (its clients closed), forgets it, and removes its
 * spec from its persistent target: 0, or -1 if the state file could not be
 * written (then nothing changed: the export stays, state.h). */
int mcsid_export_remove(mcsid *d, mcsid_export *x);
/* The record as ListExports shows it. */
json_t *mcsid_export_json(mcsid *d, const mcsid_export *x);
/* Every record (oldest first) as ListExports shows them; sid 0: all. */
json_t *mcsid_exports_json(mcsid *d, mcsi_id sid);

/* The target name of a keeper's session, or NULL (buf holds it). */
const char *mcsid_export_keeper_target(mcsid *d, mcsi_id sid, char *buf, size_t len);

/* Hooks. */
/* A keeper's session is up (persist.c): starts the entry's exports that do
 * not run, moves those of the target onto sid. */
void mcsid_exports_session_up(mcsid *d, json_t *entry, mcsi_id sid);
/* LogoutFromTarget, before the logout: stops the session's exports. */
void mcsid_exports_stop_session(mcsid *d, mcsi_id sid);
/* SIGTERM, before the logouts: stops every export. */
void mcsid_exports_stop_all(mcsid *d);
/* A handover done: every export stops here, clients closed, their socket
 * files left to the successor (handover.h). */
void mcsid_exports_hand_over(mcsid *d);
/* Every running export's NBD export, with its keeper's target ("" none) and its spec. */
typedef void (*mcsid_export_visit)(const char *target, const json_t *spec, mcsi_nbd_export *exp,
                                   const mcsid_export_socket *sock, void *arg);
void mcsid_exports_visit(mcsid *d, mcsid_export_visit fn, void *arg);
/* An engine event (methods_events.c). */
void mcsid_exports_event(mcsid *d, const mcsi_event *ev);
/* RemovePersistentTarget, once the entry is gone from the state: stops and
 * forgets the exports of its "Exports" (their clients closed, their sockets
 * removed); others made on its session stay, as that session's. */
void mcsid_exports_entry_removed(mcsid *d, json_t *entry);
/* PersistentLoginTarget: puts the call's Exports (checked) in entry, or,
 * without one, those of the target's entry stored before: 0, or -1 with
 * msg. */
int mcsid_exports_entry_from_call(mcsid_call *call, json_t *entry, char *msg, size_t len);

#endif
