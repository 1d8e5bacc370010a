/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* upgrade_running.h: `mcsid --upgrade-running --socket PATH`, the client
 * side of an upgrade, for the unit's ExecReload (systemctl reload mcsid)
 * and the package's postinst: systemd considers the reload done when
 * ExecReload exits, so this waits for the end of the handover.
 *
 * It connects to the running mcsid's control socket, calls Upgrade with
 * {"Wait": true} and waits (MCSID_UPGRADE_RUNNING_TIMEOUT_MS at most) for
 * the answer, which comes when the handover ends: exit 0 when the
 * successor (the binary on disk, which reads the configuration again)
 * serves, printing its pid; exit 1 with the Status and its message when the
 * running mcsid goes on serving (the successor refused, a session stayed
 * busy, ...); exit 3 when nothing answers on the socket. A running mcsid
 * older than the Wait parameter (it answers "invalid params") gets a plain
 * Upgrade, then, once this binary answers on the socket, Upgrade with Wait
 * again (the older one started its successor as its own child; this one
 * starts it as the service manager's): exit 0 when that one serves, 1 when
 * the older one goes on (nothing new answers within the time). */
#ifndef MCSID_UPGRADE_RUNNING_H
#define MCSID_UPGRADE_RUNNING_H

#define MCSID_UPGRADE_RUNNING_TIMEOUT_MS 60000   /* > 20 attempts and the 15 s for the successor */

int mcsid_upgrade_running(const char *socket_path);
#endif
