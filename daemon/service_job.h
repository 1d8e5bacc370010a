/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service_job.h: which job the service manager is running on mcsid's own
 * unit, asked over D-Bus (libsystemd's sd-bus) when a SIGTERM comes: a
 * `systemctl restart` (job "restart") hands over through the fd store
 * (handover_store.h), a `systemctl stop` (job "stop"), a SIGTERM with no job
 * (kill, another manager) or any failure to ask logs out, as it always did.
 *
 * Asked only under systemd ($NOTIFY_SOCKET and $INVOCATION_ID set): first
 * systemd's private bus (unix:path=/run/systemd/private, root only, what
 * systemctl uses), then the system bus. Three calls on
 * org.freedesktop.systemd1: Manager.GetUnitByPID(getpid()) -> the unit's
 * object path; its Unit.Job property (u id, o path; id 0: no job); the
 * job's Job.JobType. The whole question, the connection and its
 * authentication included, has MCSID_SERVICE_JOB_DEADLINE_MS: the loop
 * stops for no longer (a manager that does not answer in time: a stop). */
#ifndef MCSID_SERVICE_JOB_H
#define MCSID_SERVICE_JOB_H

#define MCSID_SERVICE_JOB_DEADLINE_MS 500

/* 1 if the service manager's job on this process's unit is a restart
 * (restart, try-restart, reload-or-restart, try-reload-or-restart); 0 for
 * anything else, not under systemd, or no answer within the deadline. Logs
 * what it found (or why it could not ask) and how long it took. */
int mcsid_service_job_is_restart(void);
#endif
