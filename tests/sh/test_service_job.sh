#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/sh/test_service_job.sh BUILD_DIR: at SIGTERM under systemd mcsid asks
# the service manager which job runs on its unit (daemon/service_job.c) and
# hands over through the fd store only for a restart. Against a fake manager
# (tests/sh/service_job_live.py: $NOTIFY_SOCKET and systemd's private bus,
# /run/systemd/private, speaking D-Bus), in a mount namespace whose /run is
# a tmpfs of its own (the host's /run is never touched):
#   * restart: GetUnitByPID(its pid), the unit's Job, the job's JobType; the
#     state and sockets go to the fd store, no logout; the log names the job;
#   * stop, and no job (id 0): every session logs out, nothing stored;
#   * a bus that accepts and never answers: a stop after the 500 ms deadline;
#   * without $INVOCATION_ID (not a systemd unit): the bus is not asked.
# The real systemd 252 is tests/sh/test_systemd.sh's (step (b)). Root only
# (a mount namespace).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/sh/tap.sh
. "$HERE/tap.sh"
BUILD=${1:?usage: test_service_job.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
tap_checks 8
[ "$(id -u)" -eq 0 ] || tap_skip_all "not root: /run/systemd/private is faked in a mount namespace"
[ -x "$BUILD/mcsid" ] || tap_skip_all "no $BUILD/mcsid"
if [ -z "${MCSI_SERVICE_JOB_NS:-}" ]; then
    exec unshare -m --propagation private env MCSI_SERVICE_JOB_NS=1 bash "$0" "$@"
fi
# shellcheck disable=SC2015  # (either failing: skipped)
mount -t tmpfs -o mode=0755 mcsi-test-run /run && mkdir -p /run/systemd ||
    tap_skip_all "cannot mount a tmpfs on /run in a mount namespace"
while IFS= read -r line; do
    case $line in
        "# "*) tap_note "${line#\# }" ;;
        *) tap_ok "${line%% *}" "${line#* }" ;;
    esac
done < <(python3 "$HERE/service_job_live.py" "$BUILD" 2>&1)
tap_done
