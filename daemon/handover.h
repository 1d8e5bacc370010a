/* handover.h: mcsid hands its live state to its successor (an upgrade, a
 * restart) without a logout or a login at the target.
 *
 * On SIGUSR2 the daemon stops accepting control clients, exports every
 * iSCSI session (core: mcsi_session_handover_export: commands in flight
 * finish first), writes a JSON document (format "mcsid-handover", a
 * version, the control socket's fd, each session's target, portal, blob and
 * socket fds) into a memfd and starts the binary it was started from, read
 * from disk again (the upgraded one), with the same arguments, those fds
 * inherited and MCSID_HANDOVER="state=FD,ready=FD" in its environment. The
 * successor checks the document (a version it does not read: it refuses),
 * imports every session, listens on the control socket, and writes "ready"
 * on the ready pipe; the old process then lets its sessions go without a
 * word to the target, leaves the export sockets to the successor and exits
 * 0. A successor that refuses, dies or is silent for
 * MCSID_HANDOVER_TIMEOUT_MS: the old process takes everything back and
 * goes on serving. NBD clients connected to the old process are closed at
 * the handover (they reconnect to the successor). */
#ifndef MCSID_HANDOVER_H
#define MCSID_HANDOVER_H
#include "mcsid.h"

#define MCSID_HANDOVER_ENV "MCSID_HANDOVER"
#define MCSID_HANDOVER_FORMAT "mcsid-handover"
#define MCSID_HANDOVER_VERSION 1
#define MCSID_HANDOVER_TIMEOUT_MS 15000   /* for the successor's "ready" */
#define MCSID_HANDOVER_WAIT_MS 100        /* for a session's commands in flight */
#define MCSID_HANDOVER_MAX_SESSIONS 4096
#define MCSID_HANDOVER_MAX_CONNS 16       /* sockets of one session (the core carries at most 16) */

/* Remembers how this process was started (argv[0] resolved now, argv): the
 * successor is that path, read again at the handover. */
void mcsid_handover_init(int argc, char **argv);
/* SIGUSR2: starts a handover (one at a time; not while stopping). */
void mcsid_handover_start(mcsid *d);
/* At start: 1 if MCSID_HANDOVER names a state to take over; then
 * mcsid_handover_take takes it (sessions imported, control socket
 * adopted): 0, or -1 (refused: the caller exits non-zero, the old process
 * goes on). mcsid_handover_ready tells the old process we serve. */
int mcsid_handover_pending(void);
int mcsid_handover_take(mcsid *d);
void mcsid_handover_ready(mcsid *d);
#endif
