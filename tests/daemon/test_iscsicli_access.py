#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""test_iscsicli_access.py: mcsi-iscsicli never falls back silently when the
daemon's socket refuses its user (issue 16).

A root mcsid whose socket is open to socket_group (mcsi-test) only; the
program build/mcsi-iscsicli run as a non-root user outside that group
(nobody) meets EACCES on the socket: an error on stderr naming the socket
and the reason, exit 1, and never "Total of 0 sessions" nor "The operation
completed successfully." (given as --socket, or as MCSI_SOCKET, for a
listing and for a command that would store a portal). Its --help still
answers (it contacts nothing). A member of the group (mcsi-test-a) gets the
daemon's answer through the same program: the refusal is the permission."""
import grp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcsid_test  # noqa: E402
from mcsid_test import tgt_portal, BUILD  # noqa: E402

CLI = os.path.join(BUILD, "mcsi-iscsicli")
if os.geteuid() != 0:
    print("1..0 # SKIP needs root (a root mcsid, test users) (13 checks)")
    sys.exit(0)
member = mcsid_test.test_user(0, member=True)
outsider = mcsid_test.TestUser("nobody", member=False)
if grp.getgrnam(mcsid_test.TEST_GROUP).gr_gid in outsider.groups:
    print("1..0 # SKIP nobody is in %s (13 checks)" % mcsid_test.TEST_GROUP)
    sys.exit(0)


class TestIscsicliAccess(mcsid_test.DaemonCase):
    daemon_name = "cli-access"
    daemon_config = {"socket_group": mcsid_test.TEST_GROUP}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d.open_to_test_users()

    def run_as(self, user, args, env=None):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
        e.update(env or {})
        return user.run([CLI] + args, capture_output=True, text=True, timeout=60, env=e, cwd="/")

    def test_refused_user_gets_an_error(self):
        t, sock = self.t, self.d.socket
        for how, args, env in (("--socket", ["SessionList", "--socket", sock], None),
                               ("MCSI_SOCKET", ["SessionList"], {"MCSI_SOCKET": sock}),
                               ("MCSI_SOCKET", ["QAddTargetPortal", tgt_portal()], {"MCSI_SOCKET": sock})):
            r = self.run_as(outsider, args, env)
            what = "%s (%s)" % (args[0], how)
            t.is_(r.returncode, 1, "%s: a user the socket refuses: exit 1" % what)
            t.ok("Permission denied" in r.stderr and sock in r.stderr,
                 "%s: stderr names the socket and EACCES" % what, r.stderr)
            t.ok("Total of 0 sessions" not in r.stdout and "completed successfully" not in r.stdout,
                 "%s: no pretended success" % what, r.stdout)
        r = self.run_as(outsider, ["SessionList", "--help"], {"MCSI_SOCKET": sock})
        t.ok(r.returncode == 0 and r.stdout.startswith("usage: mcsi-iscsicli SessionList"),
             "--help answers without contacting the daemon", r.stdout + r.stderr)
        r = self.run_as(member, ["SessionList", "--socket", sock])
        t.ok(r.returncode == 0 and "Total of 0 sessions" in r.stdout and r.stderr == "",
             "a member of socket_group gets the daemon's answer", r.stdout + r.stderr)
        r = self.run_as(member, ["VersionInfo"], {"MCSI_SOCKET": sock})
        t.ok(r.returncode == 0 and ("at " + sock) in r.stdout, "... through MCSI_SOCKET too", r.stdout + r.stderr)


if __name__ == "__main__":
    mcsid_test.main()
