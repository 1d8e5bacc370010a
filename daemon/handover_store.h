/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* handover_store.h: a handover through the service manager's file
 * descriptor store (systemd's FileDescriptorStoreMax=, sd_notify FDSTORE=1),
 * for `systemctl restart`: there is no old process to wait for the
 * successor, the service manager keeps the sockets between the two.
 *
 * Trigger: a SIGTERM whose service manager job is a restart (asked over
 * D-Bus, service_job.h), or any SIGTERM within MCSID_HANDOVER_STORE_ARM_MS
 * of the Upgrade method with {"ViaFdStore": true}; any other SIGTERM (a
 * `systemctl stop`, a kill) still logs every session out. Then SIGTERM
 * quiesces exactly as for a handover (handover.c), then sends every socket
 * (FDSTORE=1, FDNAME=mcsid-fd-<its number here>) and a memfd with the state
 * document (FDNAME=mcsid-state) to $NOTIFY_SOCKET, and exits 0 without a
 * logout. At start, LISTEN_FDS/LISTEN_FDNAMES naming mcsid-state: every
 * socket is put back at the number the document names (before the new
 * process opens anything), and handover_take.c takes over as for SIGUSR2;
 * the names are then removed from the store (FDSTOREREMOVE=1). A successor
 * that refuses also empties the store: the next start begins afresh (the
 * persistent logins come back, as after a crash). */
#ifndef MCSID_HANDOVER_STORE_H
#define MCSID_HANDOVER_STORE_H
#include <stddef.h>

#define MCSID_HANDOVER_STORE_ARM_MS 60000   /* Upgrade{ViaFdStore} arms the next SIGTERM this long */
#define MCSID_HANDOVER_STORE_STATE "mcsid-state"
#define MCSID_HANDOVER_STORE_FD "mcsid-fd-"

/* Upgrade{ViaFdStore}: 0, or -1 with *why (no $NOTIFY_SOCKET: no service manager to keep them). */
int mcsid_handover_store_arm(const char **why);
/* 1 if armed and not expired (a SIGTERM then hands over through the store); disarms. */
int mcsid_handover_store_take_arm(void);
/* Sends the state memfd and the sockets (fds[n]) to the store: 0, or -1 (logged). */
int mcsid_handover_store_send(int memfd, const int *fds, size_t n);
/* At the very start (nothing else opened yet): with LISTEN_FDS naming mcsid-state,
 * every mcsid-fd-N is moved to N; returns the state memfd, or -1 (none; logged if broken). */
int mcsid_handover_store_receive(void);
/* The names taken from the store are removed from it (after taking over, or refusing). */
void mcsid_handover_store_release(void);
#endif
