/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover.h: mcsid hands its live state to its successor (an upgrade, a
 * restart) without a logout or a login at the target.
 *
 * On SIGUSR2 the daemon stops accepting control clients, exports every
 * iSCSI session (core: mcsi_session_handover_export: commands in flight
 * finish first), writes a JSON document (format "mcsid-handover", a
 * version, the control socket's fd, each session's target, portal, blob and
 * socket fds) into a memfd and starts the binary it was started from, read
 * from disk again (the upgraded one), with the same arguments, those fds
 * inherited and MCSID_HANDOVER="state=FD,ready=FD" in its environment
 * (under a service manager, as the manager's child: CLONE_PARENT). The
 * successor checks the document (a version it does not read: it refuses),
 * imports every session, listens on the control socket, and writes "ready"
 * on the ready pipe; the old process then lets its sessions go without a
 * word to the target, leaves the export sockets to the successor and exits
 * 0. A successor that refuses, dies or is silent for
 * MCSID_HANDOVER_TIMEOUT_MS: the old process takes everything back and
 * goes on serving. Sessions or NBD clients that are not quiet in time (a
 * connection being recovered, commands in flight past the deadline): every
 * one goes on, and the handover is tried again MCSID_HANDOVER_RETRY_MS later,
 * MCSID_HANDOVER_ATTEMPTS times in all.
 *
 * NBD exports: before the sessions, every export is frozen (clients read
 * no new request; those in flight finish, replies go out) until quiet. The
 * wait goes on while requests keep finishing (none for
 * MCSID_HANDOVER_WAIT_MS: stuck, tried again later), at most
 * MCSID_HANDOVER_DRAIN_MAX_MS: what clients had in flight (up to 64 MiB
 * each) takes longer to finish on a slow or loaded host, and a fixed short
 * bound failed every attempt there alike, as the clients refill their
 * queues between two. Each plain client in the transmission phase is
 * handed (its socket and the bytes read ahead of it, under its export's
 * target and spec) and joins the successor's export of that target and
 * spec when it is up, without a new handshake (that export keeps its
 * ExportId). Clients under TLS or in the handshake are closed (they
 * reconnect). Exports of no persistent target
 * are not restarted by the successor: their clients are closed after
 * MCSID_HANDOVER_ADOPT_MS.
 *
 * Control clients: those at a request boundary (nothing in flight, every
 * answer written) go with their socket, the bytes they sent of their next
 * request and their event subscription (document: Clients); from then on
 * the old process neither reads nor writes them. Others (a call in flight)
 * are closed as before and reconnect. */
#ifndef MCSID_HANDOVER_H
#define MCSID_HANDOVER_H
#include "exportdir.h"
#include "mcsi_nbd.h"
#include "mcsid.h"

#define MCSID_HANDOVER_ENV "MCSID_HANDOVER"
#define MCSID_HANDOVER_FORMAT "mcsid-handover"
#define MCSID_HANDOVER_VERSION 1
#define MCSID_HANDOVER_TIMEOUT_MS 15000   /* for the successor's "ready" */
#define MCSID_HANDOVER_WAIT_MS 100        /* for a session's commands; for the next NBD request to finish */
#define MCSID_HANDOVER_DRAIN_MAX_MS 5000  /* NBD requests finishing all along: the longest wait for the last */
#define MCSID_HANDOVER_ATTEMPTS 20         /* a handover that found sessions busy is tried again */
#define MCSID_HANDOVER_RETRY_MS 250       /* ... after this */
#define MCSID_HANDOVER_ADOPT_MS 30000     /* handed NBD clients wait this long for their export */
#define MCSID_HANDOVER_MAX_NBD 1024       /* NBD clients handed at most */
#define MCSID_HANDOVER_MAX_SESSIONS 4096
#define MCSID_HANDOVER_MAX_CONNS 16       /* sockets of one session (the core carries at most 16) */
#define MCSID_HANDOVER_MAX_CLIENTS 4096   /* control clients handed at most */
#define MCSID_HANDOVER_MAX_UNREAD (1u << 20)   /* bytes a control client sent of its next request */
#define MCSID_HANDOVER_MAX_WAITERS 16     /* Upgrade {"Wait": true} calls told how a handover ends */

/* Remembers how this process was started (argv[0] resolved now, argv): the
 * successor is that path, read again at the handover. */
void mcsid_handover_init(int argc, char **argv);
/* SIGUSR2 and Upgrade: starts a handover (one at a time; not while stopping). */
void mcsid_handover_start(mcsid *d);
/* Upgrade {"Wait": true} (mcsid --upgrade-running, the unit's ExecReload):
 * done(arg, ...) is called once when the handover about to start (or under
 * way) ends: ISDSC_SUCCESS with the successor's pid once it serves (this
 * process exits right after; 0 through the fd store), else the Status and
 * why this process goes on serving (given up after the attempts, the
 * successor refused or did not answer, ...). 0, or -1 when
 * MCSID_HANDOVER_MAX_WAITERS wait already. */
typedef void mcsid_handover_done_fn(void *arg, mcsi_status st, const char *message, long pid);
int mcsid_handover_wait(mcsid_handover_done_fn *done, void *arg);
/* SIGTERM of a restart job (service_job.h) or armed by Upgrade{ViaFdStore}
 * (handover_store.h): the same handover, through the service manager's fd
 * store; when it cannot be done, fallback (the ordinary stop: every session
 * logged out). */
void mcsid_handover_start_store(mcsid *d, void (*fallback)(mcsid *d));
/* At the very start, before anything is opened: the state and sockets a
 * predecessor left in the service manager's fd store, if any (then
 * mcsid_handover_pending says 1). */
void mcsid_handover_receive_store(void);
/* 1 while one is under way. */
int mcsid_handover_active(void);
/* At start: 1 if MCSID_HANDOVER names a state to take over; then
 * mcsid_handover_take takes it (sessions imported, control socket
 * adopted): 0, or -1 (refused: the caller exits non-zero, the old process
 * goes on). mcsid_handover_ready tells the old process we serve;
 * mcsid_handover_refuse tells it why not (the last error logged), just
 * before the refusing successor exits. */
int mcsid_handover_pending(void);
/* An export of the successor is up: the NBD clients the old process handed
 * for the same target and spec join it (exports.c). */
/* The listening socket the old process handed for that target and spec
 * export: 0 with *sock filled (its fd ours), or -1 (none: bind one). */
int mcsid_handover_export_socket(mcsid *d, const char *target, const json_t *spec, mcsid_export_socket *sock);
/* The listening TCP socket handed for that export (ours), or -1. */
int mcsid_handover_export_tcp(mcsid *d, const char *target, const json_t *spec);
void mcsid_handover_export_up(mcsid *d, const char *target, const json_t *spec, mcsi_nbd_export *exp);
/* The ExportId the old process gave the export of that target and spec
 * (once: forgotten when asked), or 0. */
uint64_t mcsid_handover_export_id(const char *target, const json_t *spec);
int mcsid_handover_take(mcsid *d);
void mcsid_handover_ready(mcsid *d);
void mcsid_handover_refuse(void);
/* One datagram to $NOTIFY_SOCKET (sd_notify's protocol; nothing without
 * it): "READY=1" at start; a successor sends "MAINPID=<its pid>\nREADY=1"
 * before the old process exits, so that a unit with Type=notify and
 * NotifyAccess=all follows the handover instead of stopping the service. */
void mcsid_notify_service_manager(const char *what);
#endif
